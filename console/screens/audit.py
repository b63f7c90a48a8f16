"""Audit log: every operator action, refusals included, newest first; older pages by id."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Label

from console import data
from console.format import short, when
from console.screens.base import ConsoleScreen
from console.widgets import Col, ColumnTable

COLUMNS = [
    Col("at", "When", 16, narrow_width=11),
    Col("actor", "Who", 10),
    Col("role", "Role", 10, wide_only=True),
    Col("operation", "Did", 10),
    Col("allowed", "", 7),
    Col("target", "Target", 40, narrow_width=20),
    Col("note", "Note", 28, wide_only=True),
]


class AuditScreen(ConsoleScreen):
    SCOPE = "audit"

    def __init__(self) -> None:
        super().__init__()
        self.before_id: int | None = None
        self.items: list[data.AuditItem] = []

    def compose_body(self) -> ComposeResult:
        yield Label("", id="audit-info", classes="info", markup=False)
        yield ColumnTable(COLUMNS, id="audit")

    def on_mount(self) -> None:
        self.query_one(ColumnTable).focus()

    def load(self) -> list[data.AuditItem]:
        return data.audit(self.ctx.db, self.before_id)

    def show(self, items: list[data.AuditItem]) -> None:
        self.items = items
        narrow = self.app.size.width < 100
        self.query_one(ColumnTable).set_rows([
            (str(a.id), {"at": a.at.strftime("%d %b %H:%M") if narrow else when(a.at),
                         "actor": a.actor, "role": a.role, "operation": a.operation,
                         "allowed": Text("ok") if a.allowed else Text("REFUSED", style="bold red"),
                         "target": short(a.target, 20 if narrow else 40),
                         "note": short(a.note, 28)})
            for a in items])
        where = "newest" if self.before_id is None else f"before #{self.before_id}"
        self.query_one("#audit-info", Label).update(
            f"{len(items)} entries ({where}) · n: older · g: newest")

    def action_older(self) -> None:
        if self.items:
            self.before_id = self.items[-1].id
            self.reload()

    def action_first(self) -> None:
        self.before_id = None
        self.reload()
