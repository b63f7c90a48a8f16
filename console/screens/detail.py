"""One return: who/what/where, its lines with grade and reason, its holds, exceptions and
actions, and its timeline across systems in plain words. Ids copy to the clipboard (OSC 52)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Label, Static

from console import data
from console.format import when
from console.screens.base import ConsoleScreen

SYSTEM_STYLE = {"returnline": "bold", "operator": "bold magenta"}


class DetailScreen(ConsoleScreen):
    SCOPE = "detail"

    def __init__(self, return_id: str) -> None:
        super().__init__()
        self.return_id = return_id
        self.detail: data.ReturnDetail | None = None

    @property
    def title_text(self) -> str:
        return f"Return {self.return_id}"

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="detail"):
            yield Static("loading…", id="summary")
            yield Label("Lines", classes="section")
            yield DataTable(cursor_type="none", id="lines")
            yield Static("", id="status")
            yield Label("Timeline", classes="section")
            yield DataTable(cursor_type="row", id="timeline")

    def on_mount(self) -> None:
        lines = self.query_one("#lines", DataTable)
        for key, label, width in (("sku", "SKU", 10), ("qty", "Qty", 3), ("grade", "Grade", 10),
                                  ("reason", "Reason", 24), ("code", "Code", 14),
                                  ("disp", "Disposition", 11)):
            lines.add_column(label, width=width, key=key)
        timeline = self.query_one("#timeline", DataTable)
        narrow = self.app.size.width < 100
        timeline.add_column("When", width=11 if narrow else 16, key="at")
        if not narrow:
            timeline.add_column("System", width=10, key="system")
        used = (11 if narrow else 16) + (0 if narrow else 10) + 8
        timeline.add_column("What happened", width=max(30, self.app.size.width - used),
                            key="summary")
        timeline.focus()

    def load(self) -> data.ReturnDetail | None:
        return data.return_detail(self.ctx.db, self.return_id)

    def show(self, d: data.ReturnDetail | None) -> None:
        self.detail = d
        if d is None:
            self.query_one("#summary", Static).update(f"No return {self.return_id!r}.")
            return
        r = d.ret
        summary = Text()
        summary.append(f"{r.return_id}", style="bold")
        summary.append(f"   state {r.state}   value {r.value}\n")
        summary.append(f"order {r.order}   RMA {r.rma}   platform {d.platform}   "
                       f"email {r.email or '-'}\n")
        summary.append(f"requested {when(r.requested_at)}   updated {when(r.updated_at)}")
        self.query_one("#summary", Static).update(summary)
        lines = self.query_one("#lines", DataTable)
        lines.clear()
        for ln in d.lines:
            lines.add_row(ln.sku, str(ln.qty), ln.condition or "not graded", ln.raw_reason,
                          ln.reason_code or "(unmapped)", ln.disposition or "-")
        status = Text()
        for _key, kind, amount, decision in d.holds:
            status.append(f"hold: {kind} {amount} — {decision}\n",
                          style="bold yellow" if decision == "open" else "")
        for _key, typ, owner, message, is_open in d.exceptions:
            status.append(f"exception: {typ} ({owner}) — {'OPEN' if is_open else 'resolved'}: "
                          f"{message}\n", style="bold red" if is_open else "dim")
        failing = [a for a in d.actions if a[3] in ("failed", "dead")]
        for key, kind, system, st, attempts in failing:
            status.append(f"action: {kind} in {system} {st} after {attempts} attempt(s) [{key}]\n",
                          style="red")
        self.query_one("#status", Static).update(status.rstrip() if status.plain else "")
        timeline = self.query_one("#timeline", DataTable)
        keep = timeline.cursor_row
        timeline.clear()
        narrow = len(timeline.columns) == 2
        for ev in d.timeline:
            at = ev.at.strftime("%d %b %H:%M") if narrow else when(ev.at)
            what = Text(ev.summary, style=SYSTEM_STYLE.get(ev.system, ""))
            if narrow:
                timeline.add_row(at, Text.assemble((f"{ev.system}: ", "dim"), what), height=None)
            else:
                timeline.add_row(at, ev.system, what, height=None)
        if 0 <= keep < timeline.row_count:
            timeline.move_cursor(row=keep, animate=False)

    def action_copy(self, what: str) -> None:
        if self.detail is None:
            return
        r = self.detail.ret
        value = {"return_id": r.return_id, "order": r.order, "rma": r.rma}[what]
        self.app.copy_to_clipboard(value)
        self.notify(f"Copied {value}", title="Clipboard", timeout=3)
