"""Operations as people run them (CLI with --json, as scripts and cron do): role checks, audit,
re-planning, and the effect in the external system once the executor runs."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.tables import ActionRow, AuditLogRow, ExceptionRow, HoldRow
from sync.operations import Operator, Refused
from sync.replay import Replay
from sync.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]


def held_replay(tmp_path) -> Replay:
    """The damaged-goods scenario up to the point where its refund waits for a supervisor."""
    scenario = load_scenario(ROOT / "scenarios" / "damaged_stock_not_resold.json")
    scenario.steps = [s for s in scenario.steps if s["do"] not in ("approve", "expect")][:-1]
    replay = Replay.build(scenario, f"sqlite:///{tmp_path / 'rl.db'}")
    replay.run()
    return replay


def cli(tmp_path, *args: str, role: str | None = None):
    cfg = tmp_path / "returnline.toml"
    roles = f'[roles]\n"{getpass.getuser()}" = "{role}"\n' if role else ""
    cfg.write_text(roles)
    env = {**os.environ, "RETURNLINE_CONFIG": str(cfg)}
    proc = subprocess.run([sys.executable, "-m", "console.cli", *args, "--json",
                           "--db", f"sqlite:///{tmp_path / 'rl.db'}"],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else None, proc.stderr


def test_a_viewer_is_refused_and_the_refusal_is_audited(tmp_path):
    replay = held_replay(tmp_path)
    code, out, err = cli(tmp_path, "approve", "1002")
    assert code == 1 and out == {"ok": False, "error": f"{getpass.getuser()}: role 'viewer' "
                                                       "may not approve"}
    with replay.db.session() as s:
        audit = s.execute(select(AuditLogRow)).scalars().one()
        hold = s.execute(select(HoldRow)).scalars().one()
    assert (audit.actor, audit.operation, audit.allowed) == (getpass.getuser(), "approve", False)
    assert hold.decision is None


def test_supervisor_approves_from_the_cli_and_the_refund_lands(tmp_path):
    replay = held_replay(tmp_path)
    code, holds, _ = cli(tmp_path, "queue", "holds", role="supervisor")
    assert code == 0 and [h["amount_minor"] for h in holds] == [8900]
    code, out, err = cli(tmp_path, "approve", holds[0]["key"], "--note", "photos ok",
                         role="supervisor")
    assert code == 0, err
    assert out == {"ok": True, "approved": [holds[0]["key"]]}
    with replay.db.session() as s:
        hold = s.get(HoldRow, holds[0]["key"])
        audit = s.execute(select(AuditLogRow)).scalars().one()
    assert (hold.decision, hold.decided_by, hold.note) == ("approved", getpass.getuser(),
                                                           "photos ok")
    assert audit.allowed and audit.after["decision"] == "approved"
    assert replay.world.commerce_sandbox.external_view()["refunds"] == []  # not before the run
    with replay.db.session() as s:  # the CLI re-planned: the refund now waits in the outbox
        refund = s.execute(select(ActionRow).where(ActionRow.kind == "refund")).scalars().one()
    assert refund.status == "ready" and refund.payload["amount"] == {"amount": "89.00",
                                                                      "currency": "GBP"}
    # The CLI ran on the wall clock; the worker's next outbox run comes after it.
    replay.clock.set(datetime.now(UTC) + timedelta(seconds=1))
    replay.executor.drain()
    assert replay.world.commerce_sandbox.external_view()["refunds"] == [
        {"order": "1002", "return": hold.return_id, "amount": "89.00", "currency": "GBP"}]


def test_reject_needs_a_note_and_then_refunds_nothing(tmp_path):
    replay = held_replay(tmp_path)
    with replay.db.session() as s:
        hold = s.execute(select(HoldRow)).scalars().one()
    op = Operator("sam", "supervisor")
    with pytest.raises(Refused, match="needs a note"):
        replay.ops.reject(op, hold.key, "  ")
    replay.ops.reject(op, hold.key, "customer damaged it")
    replay.scheduler.advance(timedelta(hours=1))
    assert replay.world.commerce_sandbox.external_view()["refunds"] == []
    assert replay.result()["returns"]["R1"]["holds"] == [
        {"kind": "refund_approval", "open": False, "decision": "rejected"}]


def test_read_only_refuses_everything(tmp_path):
    replay = held_replay(tmp_path)
    op = Operator("ann", "admin", read_only=True)
    with replay.db.session() as s:
        hold = s.execute(select(HoldRow)).scalars().one()
    for call in (lambda: replay.ops.approve(op, hold.key),
                 lambda: replay.ops.retry_group(op, kind="refund"),
                 lambda: replay.ops.reclassify(op, "x", "FAULTY")):
        with pytest.raises(Refused, match="read-only"):
            call()


def test_resolve_requires_note_and_keeps_it(tmp_path):
    replay = held_replay(tmp_path)
    replay.scheduler.advance(timedelta(hours=49))  # the held refund breaches its SLA
    with replay.db.session() as s:
        sla = s.execute(select(ExceptionRow).where(ExceptionRow.type == "sla_breach")).scalars().one()
    op = Operator("cy", "cx")
    with pytest.raises(Refused):
        replay.ops.resolve(op, sla.key, "")
    replay.ops.resolve(op, sla.key, "customer agreed to wait")
    with replay.db.session() as s:
        row = s.get(ExceptionRow, sla.key)
    assert (row.resolved_by, row.resolution) == ("cy", "customer agreed to wait")
