"""Reconciliation reads commerce and the ERP themselves and reports what does not match."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from storage.tables import ExceptionRow
from sync.reconcile import reconcile
from sync.replay import Replay
from sync.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path, extra_steps=()):
    scenario = load_scenario(ROOT / "scenarios" / "premature_refund.json")
    scenario.steps[3:3] = list(extra_steps)
    replay = Replay.build(scenario, f"sqlite:///{tmp_path / 'rl.db'}")
    replay.run()
    return replay


def test_a_clean_day_matches(tmp_path):
    replay = run(tmp_path)
    start = replay.scenario.start
    report = reconcile(replay.world.engine, start, start + timedelta(days=1))
    [row] = report.rows
    assert (row.refund_expected, row.refund_in_commerce, row.credit_note_in_erp) == (
        "20.00", "20.00", "20.00")
    assert (row.stock_expected, row.stock_found) == (1, 1)
    assert report.mismatches == [] and report.errors == []


def test_a_missing_credit_note_is_an_amount_mismatch_for_finance(tmp_path):
    # The ERP refuses every credit note attempt: the refund stands without its credit note.
    replay = run(tmp_path, [{"do": "fault", "system": "erp", "operation": "credit_note",
                             "kind": "http_500", "count": 50}])
    replay.scheduler.advance(timedelta(hours=8))
    start = replay.scenario.start
    report = reconcile(replay.world.engine, start, start + timedelta(days=1))
    [row] = report.mismatches
    assert row.refund_in_commerce == "20.00" and row.credit_note_in_erp == "0.00"
    assert row.problems == ["amount_mismatch: credit notes GBP 0.00 vs refunds GBP 20.00"]
    with replay.db.session() as s:
        opened = s.execute(select(ExceptionRow).where(
            ExceptionRow.key.like("recon:%"))).scalars().all()
    assert [(x.type, x.owner) for x in opened] == [("amount_mismatch", "finance")]
    csv_path = tmp_path / "recon.csv"
    report.write_csv(csv_path)
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("return,order,currency,refund_expected")
    assert "MISMATCH" in lines[1] and "20.00" in lines[1]


def test_an_unreadable_commerce_leaves_rows_unchecked_not_mismatched(tmp_path):
    replay = run(tmp_path)
    start = replay.scenario.start
    replay.world.commerce_sandbox.arm_fault("get_order", "http_503", 1)
    report = reconcile(replay.world.engine, start, start + timedelta(days=1))
    [row] = report.rows
    assert row.status == "UNCHECKED" and not row.ok and row.problems == []
    assert report.mismatches == [] and report.unchecked == [row]
    assert "not read" in row.unchecked[0] and report.errors
    with replay.db.session() as s:  # a failed read is no finding: nothing for finance
        assert s.execute(select(ExceptionRow).where(
            ExceptionRow.key.like("recon:%"))).scalars().all() == []
    csv_path = tmp_path / "recon.csv"
    report.write_csv(csv_path)
    assert ",UNCHECKED," in csv_path.read_text().splitlines()[1]
    # once commerce answers again, the same period checks out
    again = reconcile(replay.world.engine, start, start + timedelta(days=1))
    assert [r.status for r in again.rows] == ["ok"]
