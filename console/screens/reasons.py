"""Unknown reasons: raw reason texts no mapping knows, grouped, with counts and example
returns. Reclassify teaches the mapping through a fuzzy picker of master codes; the picker
says how many returns it releases."""

from __future__ import annotations

from functools import partial

from textual.app import ComposeResult
from textual.widgets import DataTable, Label

from console import data
from console.format import short
from console.modals import PickerModal
from console.screens.base import ConsoleScreen
from console.widgets import Col, ColumnTable

COLUMNS = [
    Col("raw", "Raw reason (as the customer/platform wrote it)", 40, narrow_width=30),
    Col("count", "Returns", 7),
    Col("examples", "Examples", 70, narrow_width=36),
]


class ReasonsScreen(ConsoleScreen):
    SCOPE = "reasons"

    def __init__(self) -> None:
        super().__init__()
        self.groups: dict[str, data.ReasonGroup] = {}
        self.codes: list[tuple[str, str]] = []

    def compose_body(self) -> ComposeResult:
        yield Label("", id="reasons-info", classes="info", markup=False)
        yield ColumnTable(COLUMNS, id="groups")

    def on_mount(self) -> None:
        self.query_one(ColumnTable).focus()

    def load(self) -> data.ReasonsData:
        return data.unknown_reasons(self.ctx.db)

    def show(self, d: data.ReasonsData) -> None:
        self.groups = {g.raw: g for g in d.groups}
        self.codes = d.codes
        narrow = self.app.size.width < 100
        self.query_one(ColumnTable).set_rows([
            (g.raw, {"raw": g.raw, "count": str(g.count),
                     "examples": short(", ".join(g.examples), 36 if narrow else 70)})
            for g in d.groups])
        waiting = sum(g.count for g in d.groups)
        self.query_one("#reasons-info", Label).update(
            f"{len(d.groups)} unknown reason text(s) holding {waiting} return(s)")

    def _current(self) -> data.ReasonGroup | None:
        key = self.query_one(ColumnTable).current_key()
        return self.groups.get(key) if key else None

    def action_open(self) -> None:
        g = self._current()
        if g and g.examples:
            self.rl.open_return(g.examples[0])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_reclassify(self) -> None:
        g = self._current()
        if g is None or self.refuse_if_read_only():
            return
        options = [(code, f"{code}  {label}".rstrip()) for code, label in self.codes]
        body = (f"Map {g.raw!r} to a master reason code.\n"
                f"This releases {g.count} return(s) waiting on it.")
        self.app.push_screen(PickerModal("Reclassify reason", body, options,
                                         steady=self.rl.steady), partial(self._reclassify, g))

    def _reclassify(self, g: data.ReasonGroup, code: str | None) -> None:
        if not code:
            return
        op = self.ctx.operator
        self.run_op("Reclassify", lambda: self.ctx.ops.reclassify(op, g.raw, code),
                    lambda n: f"{g.raw!r} → {code}: {n} return(s) released")
