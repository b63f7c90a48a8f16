"""Reconciliation: for a period (the month so far by default; editable from/to dates), per
return the refunds we made vs what commerce shows vs the ERP's credit notes vs stock
movements, using sync.reconcile (which reads the external systems, so it runs in a thread
worker with progress). Mismatches come first; `m` shows only them; `e` exports what is shown
to CSV; enter opens the return's timeline. Looking changes nothing: the `recon:` exceptions
for finance are opened by the nightly job and `returnline reconcile`, not by this view."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Label, Static

from console.format import clock, middle
from console.screens.base import ReturnRowsScreen
from console.widgets import NARROW, Col, ColumnTable
from sync.reconcile import ReconReport, ReconRow, period

MAX_ROWS = 2000  # more than this is for the CSV export, not a table

COLUMNS = [
    Col("return_id", "Return", 36, narrow_width=22),
    Col("order", "Order", 6, wide_only=True),
    Col("expected", "Refunded", 9, narrow_width=8),
    Col("commerce", "Commerce", 9, narrow_width=8),
    Col("erp", "ERP credit", 10),
    Col("stock", "Stock", 5),
    Col("status", "Status", 9),
    Col("problem", "Problem", 16, wide_only=True),  # the kinds; the line below says it all
]


def sort_rows(rows: list[ReconRow]) -> list[ReconRow]:
    """Mismatches first, then by return id (stable, so the CSV and the table agree)."""
    return sorted(rows, key=lambda r: (not r.problems, r.ok, r.return_id))


def row_cells(row: ReconRow, narrow: bool) -> dict[str, object]:
    style = {"ok": "green", "MISMATCH": "bold red", "UNCHECKED": "yellow"}[row.status]
    status = Text(row.status if row.status != "UNCHECKED" else "unchecked", style=style)
    return {"return_id": middle(row.return_id, 22) if narrow else row.return_id,
            "order": row.order_ref, "currency": row.currency,
            "expected": row.refund_expected, "commerce": row.refund_in_commerce,
            "erp": row.credit_note_in_erp, "stock": f"{row.stock_found}/{row.stock_expected}",
            "status": status,
            "problem": ", ".join(sorted({p.partition(":")[0] for p in row.problems}))}


class ReconScreen(ReturnRowsScreen):
    SCOPE = "recon"

    def __init__(self) -> None:
        super().__init__()
        self.report: ReconReport | None = None
        self.mismatches_only = False
        self.running = False
        self.last_run: str = ""
        self.shown: list[ReconRow] = []

    # --- layout -----------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        # The month so far: what finance closes at month end (the nightly job does each day).
        today = self.ctx.now().date()
        with Horizontal(id="recon-period"):
            yield Label("From", classes="field-label")
            yield Input(today.replace(day=1).isoformat(), id="recon-from", restrict=r"[0-9-]*",
                        max_length=10)
            yield Label("to", classes="field-label")
            yield Input(today.isoformat(), id="recon-to", restrict=r"[0-9-]*", max_length=10)
            yield Label("not run yet", id="recon-status", markup=False)
        yield Label("", id="recon-info", classes="info", markup=False)
        yield ColumnTable(COLUMNS, id="recon-rows")
        yield Static("", id="recon-problem", markup=False)

    def on_mount(self) -> None:
        for box in self.query(Input):
            box.cursor_blink = not self.rl.steady
        self.query_one(ColumnTable).focus()
        self.run_recon()  # the default period (the month so far) at once

    # --- the period -------------------------------------------------------------------------
    def dates(self) -> tuple[date, date] | None:
        try:
            day_from = date.fromisoformat(self.query_one("#recon-from", Input).value.strip())
            day_to = date.fromisoformat(self.query_one("#recon-to", Input).value.strip())
        except ValueError:
            self.notify("Dates are YYYY-MM-DD.", severity="error", title="Reconciliation")
            return None
        if day_to < day_from:
            self.notify("The period ends before it starts.", severity="error",
                        title="Reconciliation")
            return None
        return day_from, day_to

    def set_period(self, day_from: date, day_to: date) -> None:
        self.query_one("#recon-from", Input).value = day_from.isoformat()
        self.query_one("#recon-to", Input).value = day_to.isoformat()

    @on(Input.Submitted)
    def _dates_submitted(self, event: Input.Submitted) -> None:
        self.query_one(ColumnTable).focus()
        self.run_recon()

    # --- running ----------------------------------------------------------------------------
    def run_recon(self) -> None:
        if self.ctx.reconciler is None:
            self.query_one("#recon-status", Label).update(
                "unavailable: commerce and ERP are not configured")
            return
        days = self.dates()
        if days is None:
            return
        if self.running:
            self.notify("Already running; wait for it to finish.", title="Reconciliation",
                        timeout=3)
            return
        self.running = True
        self.query_one("#recon-status", Label).update(
            f"running {days[0]}..{days[1]}: reading commerce and the ERP…")
        self._recon_worker(*days)

    @work(thread=True, exclusive=True, group="recon", exit_on_error=False)
    def _recon_worker(self, day_from: date, day_to: date) -> None:
        since, until = period(day_from, day_to)

        def progress(done: int, total: int) -> None:
            self.app.call_from_thread(self._progress, done, total)
        try:
            report = self.ctx.reconciler(since, until, progress, False)
        except Exception as exc:  # noqa: BLE001 - shown; the screen stays usable
            self.app.call_from_thread(self._recon_failed, exc)
            return
        self.app.call_from_thread(self._recon_done, report)

    def _progress(self, done: int, total: int) -> None:
        if self.is_attached:
            self.query_one("#recon-status", Label).update(f"running: {done}/{total} returns")

    def _recon_failed(self, exc: Exception) -> None:
        self.running = False
        self.notify(f"{type(exc).__name__}: {exc}", title="Reconciliation failed",
                    severity="error", timeout=10)
        if self.is_attached:
            self.query_one("#recon-status", Label).update("last run failed")

    def _recon_done(self, report: ReconReport) -> None:
        self.running = False
        self.report = report
        self.last_run = clock(self.ctx.now())
        if self.is_attached:
            self.render_report()

    # --- showing ----------------------------------------------------------------------------
    def render_report(self) -> None:
        report = self.report
        if report is None:
            return
        rows = sort_rows(report.mismatches if self.mismatches_only else report.rows)
        self.shown = rows
        narrow = self.app.size.width < NARROW
        self.query_one(ColumnTable).set_rows([(r.return_id, row_cells(r, narrow))
                                              for r in rows[:MAX_ROWS]])
        last_day = (report.until - timedelta(days=1)).date()
        first = report.since.date()
        # The period the rows are for (the boxes may have been edited since); short at 80 cols.
        self.query_one("#recon-status", Label).update(
            f"ran {self.last_run[:5]} for {first:%m-%d}..{last_day:%m-%d}" if narrow else
            f"last run {self.last_run}: {first}..{last_day}")
        n_bad = len(report.mismatches)
        parts = [f"{len(report.rows)} returns", f"{n_bad} mismatch{'es' if n_bad != 1 else ''}"]
        if report.unchecked:
            parts.append(f"{len(report.unchecked)} unchecked")
        if report.errors:  # one entry per failed read: name the systems, the rows say more
            systems = sorted({e.split(" ", 1)[0].rstrip(":") for e in report.errors})
            parts.append(("unread: " if narrow else "could not read: ") + ", ".join(systems))
        # At 80 columns the footer already says "m Mismatches": no hint, so the counts fit.
        parts.append("mismatches only" if self.mismatches_only else
                     "all" if narrow else "all (m: mismatches only)")
        if len(rows) > MAX_ROWS:
            parts.append(f"first {MAX_ROWS} shown, e: export all")
        self.query_one("#recon-info", Label).update(" · ".join(parts))
        self._show_problem()

    def _show_problem(self) -> None:
        key = self.query_one(ColumnTable).current_key()
        row = next((r for r in self.shown if r.return_id == key), None)
        text = ""
        if row is not None:
            text = (f"{row.return_id} · order {row.order_ref} · {row.currency} · "
                    + ("; ".join(row.problems + row.unchecked) or "all three agree"))
        self.query_one("#recon-problem", Static).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_problem()

    # --- actions ----------------------------------------------------------------------------
    def action_run(self) -> None:
        self.run_recon()

    def action_toggle_mismatches(self) -> None:
        self.mismatches_only = not self.mismatches_only
        self.render_report()

    def action_edit_dates(self) -> None:
        # At once, not after the queue (Widget.focus): the date typed right after "d" goes
        # into the box, whose text is then selected, so typing replaces it.
        self.set_focus(self.query_one("#recon-from", Input))

    def action_shift(self, step: int) -> None:
        days = self.dates()
        if days is None:
            return
        length = (days[1] - days[0]).days + 1
        delta = timedelta(days=length * step)
        self.set_period(days[0] + delta, days[1] + delta)
        self.run_recon()

    def action_export(self) -> None:
        if self.report is None:
            self.notify("Run the reconciliation first (R).", severity="warning",
                        title="Export")
            return
        report = self.report
        shown = ReconReport(report.since, report.until, list(self.shown), report.errors)
        last_day = (report.until - timedelta(days=1)).date()
        name = (f"reconciliation_{report.since.date()}_{last_day}"
                f"{'_mismatches' if self.mismatches_only else ''}.csv")
        folder = self.ctx.export_dir or Path.cwd()
        self._export_worker(shown, folder / name)

    @work(thread=True, group="export", exit_on_error=False)
    def _export_worker(self, report: ReconReport, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            report.write_csv(path)
        except OSError as exc:
            self.app.call_from_thread(self.notify, f"{path}: {exc}", title="Export failed",
                                      severity="error", timeout=10)
            return
        self.app.call_from_thread(self.notify, f"{len(report.rows)} rows written to {path}",
                                  title="Exported CSV", timeout=8)

