# Two commands on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint screenshots bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/returnline demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Lint, the import contract, then every test (PostgreSQL tests against a real server that
# scripts/test-postgres.sh installs/starts), with branch coverage of rules/ reported.
test: lint
	RETURNLINE_TEST_PG_URL="$$(scripts/test-postgres.sh start)" \
	  $(BIN)/pytest -n auto --cov=rules --cov-branch --cov-report=term-missing:skip-covered --cov-fail-under=95 $(PYTEST_ARGS)

screenshots: $(STAMP)
	$(PY) -m console.screenshots screenshots/

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .coverage
	scripts/test-postgres.sh stop
