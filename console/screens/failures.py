"""Failures: failed and dead actions grouped by system, operation and error; the actions of
the highlighted group; the request and response of the highlighted action's last attempt.
Retry one, or the whole group after a confirmation with the count."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Label, Static

from console import data
from console.format import middle, short, when
from console.modals import ConfirmModal
from console.screens.base import ConsoleScreen
from console.widgets import Col, ColumnTable

GROUP_COLUMNS = [
    Col("system", "System", 10),
    Col("kind", "Operation", 14),
    Col("code", "Error", 18, narrow_width=14),
    Col("count", "Count", 5),
    Col("sample", "Sample error", 60, wide_only=True),
]
ACTION_COLUMNS = [
    Col("key", "Action", 44, narrow_width=30),
    Col("status", "Status", 6),
    Col("attempts", "Tries", 5),
    Col("updated", "Last attempt", 16, wide_only=True),
]


@dataclass
class FailuresData:
    groups: list[data.q.FailureGroup]
    selected: str | None
    actions: list[data.FailedAction]


def group_key(g) -> str:
    return f"{g.system}|{g.kind}|{g.error_code}"


def render_call(action: data.FailedAction | None) -> str:
    if action is None:
        return "No action selected."
    head = f"{action.key}\nreturn {action.return_id}\nlast error: {action.last_error}\n"
    call = action.last_call
    if not call:
        return head + "\n(no request/response recorded for the last attempt)"
    body = [head, f"{call.get('method')} {call.get('url')}  →  status {call.get('status')}",
            "request:", json.dumps(call.get("request"), indent=2, default=str),
            "response:", json.dumps(call.get("response"), indent=2, default=str)]
    return "\n".join(body)


class FailuresScreen(ConsoleScreen):
    SCOPE = "failures"

    def __init__(self) -> None:
        super().__init__()
        self.selected: str | None = None
        self.groups: dict[str, data.q.FailureGroup] = {}
        self.actions: dict[str, data.FailedAction] = {}

    def compose_body(self) -> ComposeResult:
        yield Label("", id="failures-info", classes="info", markup=False)
        yield ColumnTable(GROUP_COLUMNS, id="groups")
        with Horizontal(id="failure-detail"):
            yield ColumnTable(ACTION_COLUMNS, id="actions")
            with VerticalScroll(id="call-box"):
                yield Static("", id="call", markup=False)

    def on_mount(self) -> None:
        self.query_one("#groups", ColumnTable).focus()

    def load(self) -> FailuresData:
        groups = data.failure_groups(self.ctx.db)
        keys = [group_key(g) for g in groups]
        selected = self.selected if self.selected in keys else (keys[0] if keys else None)
        actions: list[data.FailedAction] = []
        if selected:
            system, kind, code = selected.split("|", 2)
            actions = data.group_actions(self.ctx.db, system, kind, code)
        return FailuresData(groups, selected, actions)

    def show(self, d: FailuresData) -> None:
        self.groups = {group_key(g): g for g in d.groups}
        self.selected = d.selected
        self.actions = {a.key: a for a in d.actions}
        groups = self.query_one("#groups", ColumnTable)
        groups.set_rows([(group_key(g), {"system": g.system, "kind": g.kind,
                                         "code": g.error_code or "-", "count": str(g.count),
                                         "sample": short(g.sample_error, 60)})
                         for g in d.groups])
        if d.selected in groups.keys():
            groups.move_cursor(row=groups.keys().index(d.selected), animate=False)
        narrow = self.app.size.width < 100
        self.query_one("#actions", ColumnTable).set_rows([
            (a.key, {"key": middle(a.key, 30) if narrow else a.key, "status": a.status,
                     "attempts": str(a.attempts), "updated": when(a.updated_at)})
            for a in d.actions])
        total = sum(g.count for g in d.groups)
        self.query_one("#failures-info", Label).update(
            f"{total} failed action(s) in {len(d.groups)} group(s)"
            + (" · tab: switch pane · t: retry one · T: retry group" if d.groups else ""))
        self._show_call()

    def _current_action(self) -> data.FailedAction | None:
        key = self.query_one("#actions", ColumnTable).current_key()
        return self.actions.get(key) if key else None

    def _show_call(self) -> None:
        self.query_one("#call", Static).update(render_call(self._current_action()))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row != event.data_table.cursor_row:
            return  # a stale event from a refill; the cursor has moved on
        if event.data_table.id == "groups":
            key = event.row_key.value if event.row_key else None
            if key and key != self.selected:
                self.selected = key
                self.reload()
        else:
            self._show_call()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "groups":
            self.query_one("#actions", ColumnTable).focus()
        else:
            a = self._current_action()
            if a:
                self.rl.open_return(a.return_id)

    def action_switch_pane(self) -> None:
        groups = self.query_one("#groups", ColumnTable)
        (self.query_one("#actions", ColumnTable) if groups.has_focus else groups).focus()

    def action_retry(self) -> None:
        a = self._current_action()
        if a is None or self.refuse_if_read_only():
            return
        op = self.ctx.operator
        self.run_op("Retry", lambda: self.ctx.ops.retry(op, [a.key]),
                    lambda n: f"{n} action requeued: {a.key}")

    def action_retry_group(self) -> None:
        g = self.groups.get(self.selected or "")
        if g is None or self.refuse_if_read_only():
            return
        body = (f"Retry {g.count} failed action(s): {g.kind} in {g.system}, "
                f"error {g.error_code or '-'}?\n{short(g.sample_error, 200)}")
        self.app.push_screen(ConfirmModal(f"Retry {g.count} action(s)", body,
                                          yes=f"Retry {g.count}"), partial(self._retry_group, g))

    def _retry_group(self, g, yes: bool | None) -> None:
        if not yes:
            return
        op = self.ctx.operator
        self.run_op("Retry group", lambda: self.ctx.ops.retry_group(
            op, kind=g.kind, system=g.system, error_code=g.error_code or None),
            lambda n: f"{n} action(s) requeued ({g.kind} in {g.system})")
