"""Held refunds: value, grade per line, reason and how long each has waited (longest first).
Approve (optional note), reject (note required), mark rows and bulk approve after a
confirmation that shows the count and the total."""

from __future__ import annotations

from collections import defaultdict
from functools import partial

from textual.app import ComposeResult
from textual.widgets import DataTable, Label

from console import data
from console.format import age, middle, money
from console.modals import ConfirmModal, NoteModal
from console.screens.base import ConsoleScreen
from console.widgets import Col, ColumnTable

COLUMNS = [
    Col("mark", "✓", 1),
    Col("return_id", "Return", 36, narrow_width=20),
    Col("order", "Order", 6),
    Col("amount", "Refund", 11),
    Col("waiting", "Waiting", 7),
    Col("grades", "Grade per line", 20, narrow_width=16),
    Col("reason", "Reason", 14, wide_only=True),
    Col("why", "Held because", 40, min_width=140),
]


class HoldsScreen(ConsoleScreen):
    SCOPE = "holds"

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, data.HoldItem] = {}
        self.marked: set[str] = set()

    def compose_body(self) -> ComposeResult:
        yield Label("", id="holds-info", classes="info", markup=False)
        yield ColumnTable(COLUMNS, id="holds")

    def on_mount(self) -> None:
        self.query_one(ColumnTable).focus()

    def load(self) -> list[data.HoldItem]:
        return data.held_refunds(self.ctx.db)

    def show(self, items: list[data.HoldItem]) -> None:
        now = self.ctx.now()
        self.items = {h.key: h for h in items}
        self.marked &= set(self.items)
        narrow = self.app.size.width < 100
        rows = []
        for h in items:
            rows.append((h.key, {
                "mark": "✓" if h.key in self.marked else "",
                "return_id": middle(h.return_id, 20) if narrow else h.return_id,
                "order": h.order, "amount": h.amount, "grades": h.grades(),
                "reason": h.reasons(), "why": h.reason.split(": ", 1)[-1], "waiting": age(now - h.opened_at)}))
        self.query_one(ColumnTable).set_rows(rows)
        self._info()

    def _info(self) -> None:
        totals = self._totals(list(self.items))
        text = f"{len(self.items)} refund(s) waiting for approval"
        if totals:
            text += f" · total {totals}"
        if self.marked:
            text += f" · {len(self.marked)} marked ({self._totals(sorted(self.marked))})"
        self.query_one("#holds-info", Label).update(text)

    def _totals(self, keys: list[str]) -> str:
        per: dict[str, int] = defaultdict(int)
        for key in keys:
            h = self.items[key]
            per[h.currency] += h.amount_minor
        return ", ".join(money(v, c) for c, v in sorted(per.items()))

    def _current(self) -> data.HoldItem | None:
        key = self.query_one(ColumnTable).current_key()
        return self.items.get(key) if key else None

    # --- actions ------------------------------------------------------------------------------
    def action_open(self) -> None:
        h = self._current()
        if h:
            self.rl.open_return(h.return_id)

    def action_mark(self) -> None:
        h = self._current()
        if h is None or self.refuse_if_read_only():
            return
        self.marked ^= {h.key}
        table = self.query_one(ColumnTable)
        table.update_cell(h.key, "mark", "✓" if h.key in self.marked else "")
        table.action_cursor_down()
        self._info()

    def action_approve(self) -> None:
        h = self._current()
        if h is None or self.refuse_if_read_only():
            return
        body = (f"Approve refund {h.amount} for return {h.return_id} (order {h.order})?\n"
                f"Grades: {h.grades()}")
        self.app.push_screen(NoteModal("Approve refund", body, required=False,
                                       steady=self.rl.steady), partial(self._approve, h))

    def _approve(self, h: data.HoldItem, note: str | None) -> None:
        if note is None:
            return
        op = self.ctx.operator
        self.run_op("Approve", lambda: self.ctx.ops.approve(op, h.key, note),
                    lambda _: f"Refund {h.amount} approved for {h.return_id}")

    def action_reject(self) -> None:
        h = self._current()
        if h is None or self.refuse_if_read_only():
            return
        body = f"Reject refund {h.amount} for return {h.return_id}? Say why."
        self.app.push_screen(NoteModal("Reject refund", body, required=True,
                                       steady=self.rl.steady), partial(self._reject, h))

    def _reject(self, h: data.HoldItem, note: str | None) -> None:
        if note is None:
            return
        op = self.ctx.operator
        self.run_op("Reject", lambda: self.ctx.ops.reject(op, h.key, note),
                    lambda _: f"Refund {h.amount} rejected for {h.return_id}")

    def action_bulk_approve(self) -> None:
        if self.refuse_if_read_only():
            return
        keys = sorted(self.marked) if self.marked else list(self.items)
        if not keys:
            self.notify("Nothing to approve.", timeout=3)
            return
        which = "marked" if self.marked else "listed"
        body = (f"Approve {len(keys)} {which} refund(s), total {self._totals(keys)}?\n"
                + "\n".join(f"  {self.items[k].return_id}  {self.items[k].amount}"
                            for k in keys[:8])
                + ("\n  …" if len(keys) > 8 else ""))
        self.app.push_screen(ConfirmModal(f"Bulk approve {len(keys)} refund(s)", body,
                                          yes=f"Approve {len(keys)}"),
                             partial(self._bulk, keys))

    def _bulk(self, keys: list[str], yes: bool | None) -> None:
        if not yes:
            return
        op = self.ctx.operator
        total = self._totals(keys)
        self.marked.clear()
        self.run_op("Bulk approve", lambda: self.ctx.ops.bulk_approve(op, keys),
                    lambda done: f"{len(done)} refund(s) approved, total {total}")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()
