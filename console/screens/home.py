"""Home: counts per queue (with the key that opens each), returns per day, top reasons,
returns by state and open exceptions by owner team."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import DataTable, Label, Sparkline, Static

from console import data
from console.screens.base import ConsoleScreen

CARDS = [  # count key, label, screen key
    ("held_refunds", "Held refunds", "3"),
    ("unknown_reasons", "Unknown reasons", "4"),
    ("failed_actions", "Failed actions", "5"),
    ("open_exceptions", "Exceptions", "6"),
    ("sla_breaches", "SLA breaches", "6"),
    ("pending_actions", "Actions queued", "7"),
]


class HomeScreen(ConsoleScreen):
    SCOPE = "home"

    def compose_body(self) -> ComposeResult:
        with Grid(id="cards"):
            for key, label, _ in CARDS:
                yield Static(label, id=f"card-{key}", classes="card")
        with Vertical(id="trend"):
            yield Label("Returns requested per day, last 14 days", id="trend-label")
            with Horizontal(id="trend-row"):
                yield Sparkline([], id="per-day")
                yield Label("", id="per-day-numbers")
        with Horizontal(id="tables"):
            yield DataTable(cursor_type="none", id="reasons")
            yield DataTable(cursor_type="none", id="states")
            yield DataTable(cursor_type="none", id="owners")

    def on_mount(self) -> None:
        for table_id, cols in (("reasons", ("Top reasons", "n")), ("states", ("State", "n")),
                               ("owners", ("Team", "open"))):
            table = self.query_one(f"#{table_id}", DataTable)
            table.add_column(cols[0], width=18, key="k")
            table.add_column(cols[1], width=5, key="n")

    def load(self) -> data.HomeData:
        return data.home(self.ctx.db, self.ctx.now())

    def show(self, d: data.HomeData) -> None:
        for key, label, screen_key in CARDS:
            n = d.counts.get(key, 0)
            extra = ""
            if key == "held_refunds" and d.held_totals:
                # Six cards across leave 14 columns: the total goes under the count there.
                sep = "  " if self.has_class("-narrow") else "\n"
                extra = sep + ", ".join(t.split(" × ")[1] for t in d.held_totals)
            card = self.query_one(f"#card-{key}", Static)
            card.border_subtitle = screen_key
            card.update(f"{label}\n[b]{n}[/b]{extra}")
            card.set_class(n > 0 and key in ("sla_breaches", "failed_actions"), "alert")
        self.query_one("#per-day", Sparkline).data = d.per_day
        total = sum(d.per_day)
        self.query_one("#trend-label", Label).update(
            f"Returns requested per day, last 14 days: {total} "
            f"(today {d.per_day[-1] if d.per_day else 0})")
        self.query_one("#per-day-numbers", Label).update(
            " ".join(str(n) for n in d.per_day) + "  (oldest → today)")
        self._fill("owners", sorted(d.owners.items()))
        if d.stats is not None:
            self.show_stats(d.stats)
        else:  # a million returns: counted after the first paint, then kept a minute
            self.load_later("home-stats", lambda: data.home_stats(self.ctx.db), self.show_stats)

    def show_stats(self, stats: data.HomeStats) -> None:
        self._fill("reasons", stats.top_reasons)
        self._fill("states", list(stats.states.items()))

    def _fill(self, table_id: str, rows: list[tuple[str, int]]) -> None:
        table = self.query_one(f"#{table_id}", DataTable)
        table.clear()
        for k, n in rows:
            table.add_row(k, str(n))
