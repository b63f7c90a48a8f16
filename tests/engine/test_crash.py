"""Crash safety, as an on-call engineer would meet it: `returnline sync` is killed with SIGKILL at
random points while it works through a backlog of returns against the sandboxes, served as
their own process (`returnline sandbox serve`), and is simply started again each time.

Afterwards the sandboxes' own state (the ground truth) must show every return refunded,
credited and restocked exactly once, and everything must equal an uninterrupted run of the
same scenario (the in-process replay).

Size: RETURNLINE_CRASH_RETURNS (default 200) returns, RETURNLINE_CRASH_KILLS (default 5) kills.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from sync.replay import Replay
from sync.scenario import parse_scenario
from sync.synthetic import bulk_scenario, expected_effects

ROOT = Path(__file__).resolve().parents[2]
RETURNS = int(os.environ.get("RETURNLINE_CRASH_RETURNS", "200"))
KILLS = int(os.environ.get("RETURNLINE_CRASH_KILLS", "5"))
DEADLINE_SECONDS = max(600, 3 * RETURNS)  # for the last run to finish the backlog

FAST_JOBS = """
[scheduler]
poll_returns_seconds = 1
warehouse_feed_seconds = 1
outbox_seconds = 1
stock_batch_seconds = 2
sla_sweep_seconds = 5
"""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "console.cli", *args]


class ServedSandboxes:
    """`returnline sandbox serve` in its own process, seeded with the scenario."""

    def __init__(self, state: Path, scenario_file: Path) -> None:
        self.state = state
        self.proc = subprocess.Popen(
            _cli("sandbox", "serve", "--state", str(state), "--no-limits",
                 "--scenario", str(scenario_file)),
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = []
        for line in self.proc.stdout:  # ready when it prints how to point the engine at it
            out.append(line)
            if line.startswith("engine config:"):
                break
        else:
            raise AssertionError("sandbox serve did not start:\n" + "".join(out))
        self.endpoints = json.loads((state / "endpoints.json").read_text())
        self.config = state / "returnline.toml"
        with open(self.config, "a", encoding="utf-8") as fh:
            fh.write(FAST_JOBS)

    def control(self, path: str):
        return httpx.get(f"{self.endpoints['control']}/__sandbox__/{path}", timeout=30).json()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


class SyncProcess:
    def __init__(self, served: ServedSandboxes, log: Path) -> None:
        env = {**os.environ, "RETURNLINE_CONFIG": str(served.config),
               "RETURNLINE_LOG_DIR": str(served.state / "log")}
        self.proc = subprocess.Popen(_cli("sync"), cwd=ROOT, env=env,
                                     stdout=open(log, "a"), stderr=subprocess.STDOUT)


def _progress(db: Path) -> tuple[int, int]:
    """(returns closed, actions not finished) as the database says now."""
    if not db.exists():
        return 0, -1
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        closed = conn.execute("SELECT count(*) FROM returns WHERE state = 'closed'").fetchone()[0]
        pending = conn.execute("SELECT count(*) FROM actions WHERE status IN "
                               "('ready', 'in_flight', 'failed')").fetchone()[0]
        return closed, pending
    except sqlite3.OperationalError:  # not migrated yet (killed during the first start)
        return 0, -1
    finally:
        conn.close()


def _work_done(db: Path) -> int:
    """Rows of work recorded so far (returns seen plus actions finished)."""
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute("SELECT (SELECT count(*) FROM returns) + (SELECT count(*) FROM "
                            "actions WHERE status = 'succeeded')").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def _wait_for(condition, sync: SyncProcess, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert sync.proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "sync made no progress:\n" + log.read_text()[-3000:]
        time.sleep(0.05)


def _labels(db: Path, state: Path) -> dict[str, str]:
    """Returnline's return id -> the scenario's label, through the platform's id."""
    world = json.loads((state / "world.json").read_text())["world"]
    by_platform_id = {pid: label for label, pid in world["seeded_rma"].items()}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT return_id, platform_id, state FROM returns").fetchall()
    finally:
        conn.close()
    return {rid: by_platform_id[pid] for rid, pid, _ in rows}


def _states(db: Path, labels: dict[str, str]) -> dict[str, tuple[str, tuple[str, ...]]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        states = dict(conn.execute("SELECT return_id, state FROM returns").fetchall())
        open_exc = Counter()
        for rid, typ in conn.execute("SELECT return_id, type FROM exceptions "
                                     "WHERE resolved_at IS NULL").fetchall():
            open_exc[(rid, typ)] += 1
    finally:
        conn.close()
    return {labels[rid]: (state, tuple(sorted(t for (r, t) in open_exc if r == rid)))
            for rid, state in states.items()}


def _effects(external: dict, labels: dict[str, str]) -> dict:
    def label(rid):
        return labels.get(rid, rid)
    return {
        "refunds": Counter((label(r["return"]), r["amount"], r["currency"])
                           for r in external["commerce"]["refunds"]),
        "credit_notes": Counter((label(c["return"]), c["amount"], c["currency"])
                                for c in external["erp"]["credit_notes"]),
        "stock": sorted((s["sku"], s["location"], s["delta"], s["sellable"])
                        for s in external["commerce"]["stock"]),
    }


def _uninterrupted(data: dict, tmp: Path) -> tuple[dict, dict]:
    replay = Replay.build(parse_scenario(data), f"sqlite:///{tmp / 'reference.db'}",
                          rate_limits=False)
    try:
        replay.run()
        replay.settle()
        result = replay.result()
    finally:
        replay.db.dispose()
    states = {label: (r["state"], tuple(sorted(x["type"] for x in r["exceptions"] if x["open"])))
              for label, r in result["returns"].items()}
    return states, result["external"]


def test_killed_engine_loses_nothing_and_doubles_nothing(tmp_path):
    data = bulk_scenario(RETURNS, seed=11)
    scenario_file = tmp_path / "crash.json"
    scenario_file.write_text(json.dumps(data))
    served = ServedSandboxes(tmp_path / "served", scenario_file)
    db = served.state / "returnline.db"
    log = tmp_path / "sync.out"
    rng = random.Random(2026)
    kills_in_work = 0
    try:
        for _ in range(KILLS):
            # Killed once it is doing something (its start-up is no interesting crash), at a
            # random moment after that: mid-poll, mid-call, mid-transaction.
            start = _work_done(db)
            sync = SyncProcess(served, log)
            _wait_for(lambda done=start: _work_done(db) > done, sync, log)
            time.sleep(rng.uniform(0.0, 1.5))
            sync.proc.send_signal(signal.SIGKILL)
            sync.proc.wait(timeout=30)
            kills_in_work += _progress(db)[0] < RETURNS
        sync = SyncProcess(served, log)
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline:
            closed, pending = _progress(db)
            if closed == RETURNS and pending == 0:
                break
            assert sync.proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.5)
        else:
            pytest.fail(f"not finished in {DEADLINE_SECONDS}s: {_progress(db)}\n"
                        + log.read_text()[-3000:])
        sync.proc.send_signal(signal.SIGTERM)
        assert sync.proc.wait(timeout=60) == 0
        served.control("flush")
        external = served.control("external")
        labels = _labels(db, served.state)
        crashed_states = _states(db, labels)
    finally:
        served.stop()
    assert kills_in_work >= 1, "no kill landed while work was in progress"

    # Zero lost: every return reached Returnline and closed, nothing left owned by anyone.
    assert len(crashed_states) == RETURNS
    assert {s for s, _ in crashed_states.values()} == {"closed"}
    assert all(not excs for _, excs in crashed_states.values())

    # Zero duplicates, from the sandboxes' own books: one refund and one credit note per
    # return for exactly the goods' value; units moved once each.
    effects = _effects(external, labels)
    expected = expected_effects(data)
    assert sorted((label, amount) for (label, amount, _), n in effects["refunds"].items()
                  for _ in range(n)) == sorted(expected["refunds"].items())
    assert sorted((label, amount) for (label, amount, _), n in effects["credit_notes"].items()
                  for _ in range(n)) == sorted(expected["refunds"].items())
    sellable = sum(d for (_, _, d, on_sale) in effects["stock"] if on_sale)
    held_back = sum(d for (_, _, d, on_sale) in effects["stock"] if not on_sale)
    assert (sellable, held_back) == (expected["sellable_units"], expected["quarantined_units"])
    total = sum(Decimal(a) for a in expected["refunds"].values())
    assert sum(Decimal(a) * n for (_, a, _), n in effects["refunds"].items()) == total

    # The same end as a run nobody interrupted.
    reference_states, reference_external = _uninterrupted(data, tmp_path)
    assert crashed_states == reference_states
    reference_labels = {label: label for label in reference_states}
    assert effects == _effects(reference_external, reference_labels)
