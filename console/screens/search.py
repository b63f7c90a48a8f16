"""Search: one box for return id, platform RMA, order number, customer email or SKU.
Enter searches (in a worker); a single hit opens at once, several are listed."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.widgets import Input, Label

from console import data
from console.screens.base import ReturnRowsScreen
from console.screens.returns import COLUMNS, return_cells
from console.widgets import ColumnTable


class SearchScreen(ReturnRowsScreen):
    SCOPE = "search"

    def __init__(self) -> None:
        super().__init__()
        self.term = ""
        self.open_single = False

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="return id, RMA, order number, email or SKU — enter to search",
                    id="query")
        yield Label("Type and press enter.", id="search-info", classes="info", markup=False)
        yield ColumnTable(COLUMNS, id="results")

    def on_mount(self) -> None:
        box = self.query_one("#query", Input)
        box.cursor_blink = not self.rl.steady
        box.focus()

    def focus_box(self) -> None:
        for box in self.query("#query"):  # not there yet on the first visit: on_mount focuses
            box.focus()

    @on(Input.Submitted, "#query")
    def submitted(self, event: Input.Submitted) -> None:
        self.term = event.value.strip()
        self.open_single = True
        self.reload()

    def load(self) -> list[data.ReturnItem] | None:
        if not self.term:
            return None
        return data.search(self.ctx.db, self.term)

    def show(self, items: list[data.ReturnItem] | None) -> None:
        info = self.query_one("#search-info", Label)
        table = self.query_one(ColumnTable)
        if items is None:
            return
        narrow = self.app.size.width < 100
        table.set_rows([(i.return_id, return_cells(i, narrow)) for i in items])
        info.update(f"{len(items)} return(s) match {self.term!r}"
                    + (" (first 50)" if len(items) >= data.PAGE_SIZE else ""))
        single, self.open_single = self.open_single, False
        if single and len(items) == 1:
            self.rl.open_return(items[0].return_id)
        elif single and items:
            table.focus()

