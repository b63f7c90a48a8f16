"""A configured secret never reaches a table, a log line, a journal or the replay output."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

from sqlalchemy import inspect, text

from storage.credentials import CredentialStore
from sync.replay import Replay
from sync.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SECRET = "shpat_s3cr3t_0f_th3_sh0p_do_not_leak"


def test_secret_appears_in_no_table_log_or_journal(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("RETURNLINE_SHOPIFY_ACCESS_TOKEN", SECRET)
    caplog.set_level(logging.DEBUG)  # httpx, sqlalchemy, ours: everything
    scenario = load_scenario(ROOT / "scenarios" / "refund_retried_after_timeout_once.json")
    # Failures store the request and response of the last attempt: make some happen.
    scenario.steps.insert(3, {"do": "fault", "system": "shopify", "operation": "*",
                              "kind": "http_500", "count": 3})
    replay = Replay.build(scenario, f"sqlite:///{tmp_path / 'rl.db'}",
                          credentials=CredentialStore(backend="env"))
    replay.run()
    replay.scheduler.advance(timedelta(hours=1))
    result = replay.result()
    assert result["returns"]["R1"]["state"] == "closed"  # the token really was used
    replay.write_journal(tmp_path / "journal")

    with replay.db.engine.connect() as conn:
        dump = []
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                dump.append(json.dumps([str(v) for v in row]))
    db_text = "\n".join(dump)
    assert "shopify" in db_text and "500" in db_text  # the failed attempts were stored
    assert SECRET not in db_text
    assert SECRET not in caplog.text
    assert any("graphql.json" in r.getMessage() for r in caplog.records)  # httpx logged calls
    for path in (tmp_path / "journal").iterdir():
        assert SECRET not in path.read_text()
    assert SECRET not in json.dumps(result)
    assert SECRET not in (tmp_path / "rl.db").read_bytes().decode("latin-1")
