"""The foundation's commands as a person runs them: a real subprocess, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main
from storage.config import load_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "returnline.example.toml"


def run(*args: str, env: dict | None = None, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "console.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, input=stdin, cwd=ROOT)


def test_help_lists_the_commands():
    proc = run("--help")
    assert proc.returncode == 0
    for command in ("paths", "config", "credentials", "db"):
        assert command in proc.stdout


def test_paths_prints_config_data_log_and_database(tmp_path):
    proc = run("paths", "--json", env={"RETURNLINE_CONFIG": str(tmp_path / "c.toml"),
                                       "RETURNLINE_DATA_DIR": str(tmp_path / "d")})
    info = json.loads(proc.stdout)
    assert info["config"] == str(tmp_path / "c.toml")
    assert info["data"] == str(tmp_path / "d")
    assert info["database"] == f"sqlite:///{tmp_path / 'd' / 'returnline.db'}"
    assert info["log"]


def test_paths_never_prints_a_database_password(tmp_path):
    proc = run("paths", env={"RETURNLINE_DATABASE_URL": "postgresql://rl:hunter2@db/returnline"})
    assert "hunter2" not in proc.stdout and "db/returnline" in proc.stdout


def test_the_shipped_example_config_is_valid():
    proc = run("--config", str(EXAMPLE), "config", "check")
    assert proc.returncode == 0, proc.stderr
    config = load_config(EXAMPLE)
    assert config.get("policy.approval_threshold.GBP") == "150.00"


def test_broken_config_names_file_key_and_line(tmp_path):
    bad = tmp_path / "returnline.toml"
    bad.write_text('[console]\nrefresh_seconds = 0\n\n[policy.approval_threshold]\nGBP = 150.0\n'
                   '[scheduler]\npol_returns_seconds = 60\n[reasons]\nmaster = ["A"]\n'
                   '[reasons.map]\n"Too small" = "B"\n')
    proc = run("--config", str(bad), "config", "check")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert f"{bad}: line 2: console.refresh_seconds: must be a whole number above 0" in lines
    assert any(line.startswith(f"{bad}: line 5: policy.approval_threshold.GBP: must be a quoted")
               for line in lines)
    assert any(line.startswith(f"{bad}: line 7: scheduler.pol_returns_seconds: unknown key")
               for line in lines)
    assert any("line 11: reasons.map.Too small: maps to 'B'" in line for line in lines)


def test_unparseable_toml_is_reported_with_its_position(tmp_path):
    bad = tmp_path / "returnline.toml"
    bad.write_text("[console\nrefresh_seconds = 5\n")
    proc = run("--config", str(bad), "config", "check")
    assert proc.returncode == 1 and str(bad) in proc.stderr and "line 1" in proc.stderr


def test_missing_config_given_explicitly_is_an_error(tmp_path):
    proc = run("--config", str(tmp_path / "nope.toml"), "config", "check")
    assert proc.returncode == 1 and "no such file" in proc.stderr


def test_db_upgrade_creates_the_sqlite_database(tmp_path):
    proc = run("db", "upgrade", env={"RETURNLINE_DATA_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "returnline.db").exists()


def test_credentials_set_without_keyring_says_so_in_one_sentence(capsys, monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt: "s3cret-token")
    assert main(["credentials", "set", "shopify", "access_token"]) == 1
    err = capsys.readouterr().err
    assert "No OS keyring is available on this machine" in err
    assert "RETURNLINE_SHOPIFY_ACCESS_TOKEN" in err and "s3cret-token" not in err


def test_credentials_set_into_the_file_backend_and_read_back(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "returnline.toml"
    store = tmp_path / "creds.cfg"
    cfg.write_text(f'[credentials]\nbackend = "file"\nfile = "{store}"\n')
    prompts = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or "tok-123")
    assert main(["--config", str(cfg), "credentials", "set", "shopify", "access_token"]) == 0
    assert prompts == ["shopify access_token: "]  # prompted via getpass: never echoed
    out = capsys.readouterr().out
    assert "tok-123" not in out
    assert oct(store.stat().st_mode & 0o777) == "0o600"
    from storage.credentials import store_from_config
    secret = store_from_config(load_config(cfg).section("credentials")).get("shopify",
                                                                              "access_token")
    assert secret.reveal() == "tok-123" and "tok-123" not in repr(secret) + str(secret)


def test_credentials_set_refuses_unknown_fields(monkeypatch, capsys):
    monkeypatch.setattr("getpass.getpass", lambda prompt: "x")
    assert main(["credentials", "set", "shopify", "acess_token"]) == 1
    assert "unknown field 'acess_token' for shopify" in capsys.readouterr().err


def test_environment_credentials_are_used_on_headless_servers(monkeypatch):
    from storage.credentials import CredentialStore
    monkeypatch.setenv("RETURNLINE_RETURNGO_API_KEY", "rg-key")
    assert CredentialStore().require("returngo", "api_key").reveal() == "rg-key"


@pytest.mark.parametrize("backend", ["keyring", "env"])
def test_missing_credential_error_explains_what_to_do(backend):
    from storage.credentials import CredentialError, CredentialStore
    with pytest.raises(CredentialError) as exc:
        CredentialStore(backend=backend).require("shipbob", "token")
    assert "returnline credentials set shipbob token" in str(exc.value)
    assert "RETURNLINE_SHIPBOB_TOKEN" in str(exc.value)


def test_import_grading_by_hand_once(tmp_path):
    from sqlalchemy import create_engine, text

    grades = tmp_path / "grades.csv"
    grades.write_text("RMA,Order,SKU,Qty,Condition,Received,Location\n"
                      "RMA-1,1001,TEE-M,1,A,2026-11-02 09:00,\n"
                      "RMA-2,1002,TEE-M,x,A,2026-11-02 09:00,\n")
    env = {"RETURNLINE_DATA_DIR": str(tmp_path / "data")}
    first = run("import", "grading", str(grades), "--json", env=env)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert out["good_rows"] == 1
    assert out["rejected_rows"] == [{"row": 3, "reason": "malformed quantity 'x'"}]
    assert "malformed quantity" in (tmp_path / "grades.csv.rejects.csv").read_text()
    again = json.loads(run("import", "grading", str(grades), "--json", env=env).stdout)
    assert again == {"file": str(grades), "already_imported": True}
    db = create_engine(f"sqlite:///{tmp_path / 'data' / 'returnline.db'}")
    with db.connect() as conn:  # the good row waits for its return; the bad one is owned
        assert conn.execute(text("SELECT rma FROM pending_gradings")).scalars().all() == ["RMA-1"]
        assert conn.execute(text("SELECT type, owner FROM exceptions")).all() == [
            ("import_rejected", "warehouse")]
