"""Shared fixtures. `database` runs a test on SQLite and on a real PostgreSQL server.

PostgreSQL comes from RETURNLINE_TEST_PG_URL (set by `make test`) or is started here with
scripts/test-postgres.sh. If it cannot be had, the PostgreSQL tests fail: never a silent skip.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from storage.db import Database, normalise_url

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Never touch the developer's real config, data or keyring."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("RETURNLINE_CONFIG", str(home / "returnline.toml"))
    monkeypatch.setenv("RETURNLINE_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("RETURNLINE_LOG_DIR", str(home / "log"))
    monkeypatch.delenv("RETURNLINE_DATABASE_URL", raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    url = os.environ.get("RETURNLINE_TEST_PG_URL")
    if not url:
        proc = subprocess.run([str(ROOT / "scripts" / "test-postgres.sh"), "start"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"could not start PostgreSQL for the tests:\n{proc.stderr}")
        url = proc.stdout.strip().splitlines()[-1]
    return url


@pytest.fixture(scope="session")
def pg_template(pg_server_url) -> str:
    """A migrated template database; each test clones it (fast) instead of migrating."""
    admin = create_engine(normalise_url(pg_server_url), isolation_level="AUTOCOMMIT")
    name = f"rl_tmpl_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(_with_db(pg_server_url, name))
    db.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _with_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
def pg_url(pg_server_url, pg_template):
    admin = create_engine(normalise_url(pg_server_url), isolation_level="AUTOCOMMIT")
    name = f"rl_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    yield _with_db(pg_server_url, name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'returnline.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, tmp_path) -> Database:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'returnline.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    db = Database(url)
    yield db
    db.dispose()
