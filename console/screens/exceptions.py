"""Exceptions by owner team, one tab per team (and All), SLA breaches first, then the oldest.
Resolve with a note saying what was done."""

from __future__ import annotations

from functools import partial

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Label, Tab, Tabs

from console import data
from console.format import age, middle, short
from console.modals import NoteModal
from console.screens.base import ConsoleScreen
from console.widgets import Col, ColumnTable

COLUMNS = [
    Col("type", "Type", 22, narrow_width=20),
    Col("owner", "Team", 13, wide_only=True),
    Col("return_id", "Return", 36, narrow_width=20),
    Col("age", "Open for", 8),
    Col("due", "Due in", 8, wide_only=True),
    Col("message", "What", 40, narrow_width=22),
]


class ExceptionsScreen(ConsoleScreen):
    SCOPE = "exceptions"

    def __init__(self) -> None:
        super().__init__()
        self.owner: str | None = None
        self.items: dict[str, data.ExceptionItem] = {}

    def compose_body(self) -> ComposeResult:
        yield Tabs(Tab("All", id="tab-all"), id="owners")
        yield Label("", id="exceptions-info", classes="info", markup=False)
        yield ColumnTable(COLUMNS, id="exceptions")

    def on_mount(self) -> None:
        self.query_one(ColumnTable).focus()

    def load(self) -> data.ExceptionsData:
        return data.exceptions(self.ctx.db, self.owner)

    def show(self, d: data.ExceptionsData) -> None:
        tabs = self.query_one(Tabs)
        total = sum(d.owners.values())
        tabs.query_one("#tab-all", Tab).label = f"All ({total})"
        for owner in sorted(d.owners):
            tab_id = f"tab-{owner}"
            label = f"{owner} ({d.owners[owner]})"
            found = tabs.query(f"#{tab_id}")
            if found:
                found.first(Tab).label = label
            else:
                tabs.add_tab(Tab(label, id=tab_id))
        for tab in list(tabs.query(Tab)):
            owner = (tab.id or "").removeprefix("tab-")
            if owner != "all" and owner not in d.owners:
                tab.label = f"{owner} (0)"
        now = self.ctx.now()
        narrow = self.app.size.width < 100
        self.items = {x.key: x for x in d.items}
        rows = []
        for x in d.items:
            style = "bold red" if x.breach else ""
            rows.append((x.key, {
                "type": Text(x.type, style=style), "owner": x.owner,
                "return_id": middle(x.return_id, 20) if narrow else x.return_id,
                "age": age(now - x.opened_at),
                "due": (("late " + age(now - x.due_at)) if x.due_at < now else age(x.due_at - now)) if x.due_at else "-",
                "message": short(x.message, 22 if narrow else 40)}))
        self.query_one(ColumnTable).set_rows(rows)
        breaches = sum(1 for x in d.items if x.breach)
        self.query_one("#exceptions-info", Label).update(
            f"{len(d.items)} open for {self.owner or 'all teams'}"
            + (f" · {breaches} SLA breach(es) first" if breaches else "")
            + " · [ ]: team · v: resolve")

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        owner = (event.tab.id or "").removeprefix("tab-")
        new = None if owner == "all" else owner
        if new != self.owner:
            self.owner = new
            self.reload()

    def action_owner(self, step: int) -> None:
        tabs = self.query_one(Tabs)
        (tabs.action_next_tab if step > 0 else tabs.action_previous_tab)()

    def _current(self) -> data.ExceptionItem | None:
        key = self.query_one(ColumnTable).current_key()
        return self.items.get(key) if key else None

    def action_open(self) -> None:
        x = self._current()
        if x:
            self.rl.open_return(x.return_id)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_resolve(self) -> None:
        x = self._current()
        if x is None or self.refuse_if_read_only():
            return
        body = f"{x.type} on {x.return_id} ({x.owner})\n{x.message}\nSay what was done."
        self.app.push_screen(NoteModal("Resolve exception", body, required=True,
                                       steady=self.rl.steady), partial(self._resolve, x))

    def _resolve(self, x: data.ExceptionItem, note: str | None) -> None:
        if note is None:
            return
        op = self.ctx.operator
        self.run_op("Resolve", lambda: self.ctx.ops.resolve(op, x.key, note),
                    lambda _: f"{x.type} on {x.return_id} resolved")
