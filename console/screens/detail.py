"""One return: who/what/where, its lines with grade and reason, its holds, exceptions and
actions, and its timeline across systems in plain words. Ids copy to the clipboard (OSC 52)."""

from __future__ import annotations

from rich.table import Table
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
            yield Static("", id="timeline")

    def on_mount(self) -> None:
        lines = self.query_one("#lines", DataTable)
        narrow = self.app.size.width < 100
        for key, label, width in (("sku", "SKU", 10), ("qty", "Qty", 3), ("grade", "Grade", 10),
                                  ("reason", "Reason", 24), ("code", "Code", 14),
                                  ("disp", "Disposition", 11)):
            if not (narrow and key == "disp"):
                lines.add_column(label, width=width, key=key)
        self.query_one("#detail").focus()

    def load(self) -> data.ReturnDetail | None:
        return data.return_detail(self.ctx.db, self.return_id)

    def show(self, d: data.ReturnDetail | None) -> None:
        self.detail = d
        if d is None:
            self.query_one("#summary", Static).update(Text(f"No return {self.return_id!r}."))
            return
        r = d.ret
        summary = Text()
        summary.append(f"{r.return_id}\n", style="bold")
        summary.append(f"state {r.state}   value {r.value}   order {r.order}\n")
        summary.append(f"RMA {r.rma}   platform {d.platform}   email {r.email or '-'}\n")
        summary.append(f"requested {when(r.requested_at)}   updated {when(r.updated_at)}")
        self.query_one("#summary", Static).update(summary)
        lines = self.query_one("#lines", DataTable)
        lines.clear()
        narrow = len(lines.columns) == 5
        for ln in d.lines:
            cells = [ln.sku, str(ln.qty), ln.condition or "not graded", ln.raw_reason,
                     ln.reason_code or "(unmapped)", ln.disposition or "-"]
            lines.add_row(*(cells[:5] if narrow else cells))
        status = Text()
        for _key, kind, amount, decision in d.holds:
            status.append(f"hold: {kind} {amount} — {decision}\n",
                          style="bold yellow" if decision == "open" else "")
        for _key, typ, owner, message, is_open in d.exceptions:
            status.append(f"exception: {typ} ({owner}) — {'OPEN' if is_open else 'resolved'}: "
                          f"{message}\n", style="bold red" if is_open else "dim")
        for key, kind, system, st, attempts in d.actions:
            if st in ("failed", "dead"):
                status.append(f"action: {kind} in {system} {st} after {attempts} attempt(s) "
                              f"[{key}]\n", style="red")
        status.rstrip()
        self.query_one("#status", Static).update(status)
        self.query_one("#timeline", Static).update(self._timeline(d, self.app.size.width < 100))

    @staticmethod
    def _timeline(d: data.ReturnDetail, narrow: bool) -> Table:
        table = Table(box=None, expand=True, show_header=True, header_style="bold",
                      pad_edge=False)
        table.add_column("When", no_wrap=True, width=12 if narrow else 16)
        if not narrow:
            table.add_column("System", no_wrap=True, width=10)
        table.add_column("What happened", ratio=1)
        for ev in d.timeline:
            what = Text(ev.summary, style=SYSTEM_STYLE.get(ev.system, ""))
            if narrow:
                table.add_row(ev.at.strftime("%d %b %H:%M"),
                              Text.assemble((f"{ev.system}: ", "dim"), what))
            else:
                table.add_row(when(ev.at), ev.system, what)
        return table

    def action_copy(self, what: str) -> None:
        if self.detail is None:
            return
        r = self.detail.ret
        value = {"return_id": r.return_id, "order": r.order, "rma": r.rma}[what]
        self.app.copy_to_clipboard(value)
        self.notify(f"Copied {value}", title="Clipboard", timeout=3)
