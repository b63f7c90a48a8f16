"""The reconciliation screen against a replayed database and the real sandboxes: the rows shown
are the report sync.reconcile builds from commerce and the ERP (mismatches first), the
mismatch filter, the CSV file written, and opening a return's timeline from a row."""

from __future__ import annotations

import asyncio
import csv
from datetime import timedelta

from helpers import make_app, messages, settle
from sqlalchemy import func, select

from console.screens.detail import DetailScreen
from console.screens.recon import ReconScreen
from console.widgets import ColumnTable
from storage.tables import ExceptionRow
from sync.reconcile import period, reconcile

SIZE = (120, 36)


def recon_exceptions(replay) -> int:
    with replay.db.session() as s:
        return s.execute(select(func.count()).select_from(ExceptionRow).where(
            ExceptionRow.key.like("recon:%"))).scalar_one()


def test_reconciliation_lists_the_report_mismatches_first_filters_exports_and_opens(
        replay, tmp_path):
    today = replay.clock.now().date()
    day_from = today - timedelta(days=2)
    expected = reconcile(replay.world.engine, *period(day_from, today), open_exceptions=False)
    assert len(expected.rows) == 12 and len(expected.mismatches) == 1
    [bad] = expected.mismatches
    exports = tmp_path / "exports"

    async def scenario():
        app = make_app(replay, export_dir=exports)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("9")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, ReconScreen)
            # the default period is the month so far, run at once
            month = today.replace(day=1)
            assert screen.query_one("#recon-from").value == month.isoformat()
            assert screen.query_one("#recon-to").value == today.isoformat()
            so_far = reconcile(replay.world.engine, *period(month, today),
                               open_exceptions=False)
            assert screen.report is not None
            assert sorted(r.return_id for r in screen.report.rows) == sorted(
                r.return_id for r in so_far.rows)
            # edit the dates by keyboard; enter runs
            await pilot.press("d", *day_from.isoformat(), "tab", *today.isoformat(), "enter")
            await settle(pilot)
            table = screen.query_one(ColumnTable)
            ok_ids = sorted(r.return_id for r in expected.rows if r.ok)
            assert table.keys() == [bad.return_id, *ok_ids]
            shown = {r.return_id: r for r in screen.shown}
            for row in expected.rows:
                mine = shown[row.return_id]
                assert (mine.refund_expected, mine.refund_in_commerce, mine.credit_note_in_erp,
                        mine.stock_expected, mine.stock_found, mine.problems) == (
                    row.refund_expected, row.refund_in_commerce, row.credit_note_in_erp,
                    row.stock_expected, row.stock_found, row.problems)
            assert "12 returns · 1 mismatch" in str(screen.query_one("#recon-info").render())
            # mismatches only, then export what is shown
            await pilot.press("m")
            assert table.keys() == [bad.return_id]
            await pilot.press("e")
            await settle(pilot)
            path = exports / f"reconciliation_{day_from}_{today}_mismatches.csv"
            assert any(str(path) in m for m in messages(app))
            # and the timeline of the mismatching return
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, DetailScreen)
            assert app.screen.return_id == bad.return_id
        return path

    path = asyncio.run(scenario())
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["return"], r["order"], r["refund_expected"], r["refund_in_commerce"],
             r["credit_note_in_erp"], r["status"]) for r in rows] == [
        (bad.return_id, bad.order_ref, "35.00", "35.00", "0.00", "MISMATCH")]
    assert rows[0]["problems"] == "amount_mismatch: credit notes GBP 0.00 vs refunds GBP 35.00"
    assert recon_exceptions(replay) == 0  # looking opens nothing: the nightly job does that


def test_reconciliation_shows_an_unreadable_erp_and_bad_dates(replay, tmp_path):
    replay.world.erp_sandbox.arm_fault("suiteql", "http_503", count=10)

    async def scenario():
        app = make_app(replay, start="recon", export_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = app.screen
            screen.set_period(replay.clock.now().date() - timedelta(days=2),
                              replay.clock.now().date())
            await pilot.press("R")
            await settle(pilot)
            info = str(screen.query_one("#recon-info").render())
            assert screen.report.errors and "could not read: erp" in info
            # credit notes unreadable: every refund looks uncredited, and says so
            assert {r.return_id for r in screen.report.mismatches} >= {
                r.return_id for r in screen.report.rows if r.refund_expected != "0.00"}
            screen.query_one("#recon-from").value = "2026-13-01"
            await pilot.press("R")
            await settle(pilot)
            assert any("YYYY-MM-DD" in m for m in messages(app))
    asyncio.run(scenario())


def test_dates_typed_in_one_burst_land_in_their_boxes(replay, tmp_path):
    """Keys arriving together (a paste, a fast typist over SSH): "d", a date, Tab, a date.
    Each key must go where the one before it moved the focus; before, the first date was
    lost or the digits reached the table, where they switch screens."""
    from textual import events

    async def scenario():
        app = make_app(replay, start="recon", export_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = app.screen
            burst = ["d", *"2026-11-03", "tab", *"2026-11-10"]
            for key in burst:  # posted at once, none waits for the one before
                app.post_message(events.Key(key, key if len(key) == 1 else None))
            await settle(pilot)
            assert app.screen is screen
            assert screen.query_one("#recon-from").value == "2026-11-03"
            assert screen.query_one("#recon-to").value == "2026-11-10"
    asyncio.run(scenario())
