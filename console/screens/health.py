"""Connector health: the scheduler's jobs (last run, next run, errors; pause/resume, run now),
each connector's last poll and errors, sync cursors, queue depths and rate-limit budgets."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Label, Static

from console import data
from console.format import clock, short, when
from console.screens.base import ConsoleScreen
from console.widgets import Col, ColumnTable

JOB_COLUMNS = [
    Col("name", "Job", 15),
    Col("every", "Every", 6),
    Col("state", "State", 7),
    Col("last", "Last run", 9),
    Col("next", "Next run", 9),
    Col("runs", "Runs", 6, wide_only=True),
    Col("error", "Last error", 50, narrow_width=22),
]
CONN_COLUMNS = [
    Col("system", "System", 10),
    Col("poll", "Last poll", 16, narrow_width=9),
    Col("ok", "Last ok", 16, wide_only=True),
    Col("fails", "Fails", 5),
    Col("error", "Last error", 50, narrow_width=30),
]


def every(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h" if s >= 3600 and s % 3600 == 0 else (
        f"{s // 60}m" if s >= 60 and s % 60 == 0 else f"{s}s")


class HealthScreen(ConsoleScreen):
    SCOPE = "health"

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, dict] = {}

    def compose_body(self) -> ComposeResult:
        yield Label("Jobs", classes="section")
        yield ColumnTable(JOB_COLUMNS, id="jobs")
        yield Label("Connectors", classes="section")
        yield ColumnTable(CONN_COLUMNS, id="connectors")
        with Horizontal(id="health-bottom"):
            yield Static("", id="cursors")
            yield Static("", id="depths")

    def on_mount(self) -> None:
        self.query_one("#jobs", ColumnTable).focus()

    def load(self) -> data.HealthData:
        return data.health(self.ctx.db, self.ctx.jobs)

    def show(self, d: data.HealthData) -> None:
        narrow = self.app.size.width < 100
        self.jobs = {j["name"]: j for j in d.jobs}
        self.query_one("#jobs", ColumnTable).set_rows([
            (j["name"], {"name": j["name"], "every": every(j["interval_s"]),
                         "state": "paused" if j["paused"] else "on",
                         "last": clock(j["last_run"]), "next": clock(j["next_run"]),
                         "runs": str(j["runs"]), "error": j["last_error"] or "-"})
            for j in d.jobs])
        self.query_one("#connectors", ColumnTable).set_rows([
            (system, {"system": system, "poll": clock(poll) if narrow else when(poll),
                      "ok": when(ok), "fails": str(fails),
                      "error": short(err, 30 if narrow else 50) or "-"})
            for system, ok, _err_at, err, fails, poll in d.connectors])
        cursors = Text("Sync cursors\n", style="bold")
        for src, cur, at in d.cursors:
            cursors.append(f"{src}: {short(cur, 28)} ({clock(at)})\n", style="")
        if not d.cursors:
            cursors.append("none yet\n", style="")
        depth = Text("Queue depth (actions waiting)\n", style="bold")
        for system, n in sorted(d.depths.items()):
            depth.append(f"{system}: {n}\n", style="")
        if not d.depths:
            depth.append("all clear\n", style="")
        if d.budgets:
            depth.append("Rate budgets\n", style="bold")
            for s, w, used, limit in d.budgets:
                depth.append(f"{s} {w}: {used}/{limit} used\n", style="")
        self.query_one("#cursors", Static).update(cursors)
        self.query_one("#depths", Static).update(depth)

    def _job(self) -> str | None:
        return self.query_one("#jobs", ColumnTable).current_key()

    def action_pause_job(self) -> None:
        name = self._job()
        if name is None or self.ctx.jobs is None or self.refuse_if_read_only():
            return
        op, jobs = self.ctx.operator, self.ctx.jobs
        if self.jobs.get(name, {}).get("paused"):
            self.run_op("Resume", lambda: jobs.resume(op, name), lambda _: f"{name} resumed")
        else:
            self.run_op("Pause", lambda: jobs.pause(op, name), lambda _: f"{name} paused")

    def action_run_job(self) -> None:
        name = self._job()
        if name is None or self.ctx.jobs is None or self.refuse_if_read_only():
            return
        op, jobs = self.ctx.operator, self.ctx.jobs
        self.run_op("Run now", lambda: jobs.run_now(op, name), lambda _: f"{name} ran")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        pass
