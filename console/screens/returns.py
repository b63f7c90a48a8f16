"""Returns list: one page at a time by keyset (never every row), newest first; older/newer
pages, jump to either end, filter by state. Enter opens the return."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Label

from console import data
from console.format import middle, when
from console.screens.base import ReturnRowsScreen
from console.widgets import Col, ColumnTable
from storage.queries import OPEN_STATES_ORDER

COLUMNS = [
    Col("return_id", "Return", 36, narrow_width=30),
    Col("rma", "RMA", 22, min_width=140),
    Col("order", "Order", 6),
    Col("email", "Email", 18, wide_only=True),
    Col("state", "State", 17),
    Col("value", "Value", 11),
    Col("updated", "Updated", 16, wide_only=True),
]


def return_cells(item: data.ReturnItem, narrow: bool = False) -> dict[str, str]:
    return {"return_id": middle(item.return_id, 30) if narrow else item.return_id, "rma": item.rma, "order": item.order,
            "email": item.email, "state": item.state, "value": item.value,
            "updated": when(item.updated_at)}


class ReturnsScreen(ReturnRowsScreen):
    SCOPE = "returns"

    def __init__(self) -> None:
        super().__init__()
        self.where = "first"
        self.anchor: tuple | None = None
        self.state: str | None = None
        self.page: data.ReturnsPage | None = None
        self._info = ""

    def compose_body(self) -> ComposeResult:
        yield Label("", id="page-info", classes="info", markup=False)
        yield ColumnTable(COLUMNS, id="list")

    def on_mount(self) -> None:
        self.query_one(ColumnTable).focus()

    def load(self) -> data.ReturnsPage:
        return data.returns_page(self.ctx.db, where=self.where, anchor=self.anchor,
                                 state=self.state)

    def show(self, page: data.ReturnsPage) -> None:
        self.page = page
        narrow = self.app.size.width < 100
        self.query_one(ColumnTable).set_rows([(i.return_id, return_cells(i, narrow))
                                              for i in page.items])
        where = {"first": "newest", "last": "oldest (end)", "older": "older", "newer": "newer"}
        pos = where.get(self.where, self.where)
        more = []
        if page.has_newer:
            more.append("p: newer")
        if page.has_older:
            more.append("n: older")
        filt = f"state = {self.state}" if self.state else "all states"
        self._info = (f"{len(page.items)} of {{total}} returns · {filt} · page: {pos}"
                      + (f" · {', '.join(more)}" if more else ""))
        self.show_total(page.total)
        if page.total is None:  # counting a million rows waits until the page is up
            state = self.state
            self.load_later("count", lambda: data.count_returns(self.ctx.db, state),
                            lambda n: self.state == state and self.show_total(n))

    def show_total(self, total: int | None) -> None:
        self.query_one("#page-info", Label).update(
            self._info.format(total="…" if total is None else f"{total:,}"))

    def _go(self, where: str, anchor: tuple | None = None) -> None:
        self.where, self.anchor = where, anchor
        self.reload()

    def action_older(self) -> None:
        if self.page and self.page.items and self.page.has_older:
            last = self.page.items[-1]
            self._go("older", (last.updated_at, last.return_id))

    def action_newer(self) -> None:
        if self.page and self.page.items and self.page.has_newer:
            first = self.page.items[0]
            self._go("newer", (first.updated_at, first.return_id))

    def action_first(self) -> None:
        self._go("first")

    def action_last(self) -> None:
        self._go("last")
        self.query_one(ColumnTable).move_cursor(row=data.PAGE_SIZE, animate=False)

    def action_filter_state(self) -> None:
        cycle = [None, *OPEN_STATES_ORDER]
        self.state = cycle[(cycle.index(self.state) + 1) % len(cycle)]
        self.notify(f"Showing {self.state or 'all states'}", timeout=2)
        self._go("first")

