"""Small widgets shared by the screens: the top status bar and a table whose columns collapse
on narrow terminals (80 columns keeps what is essential, wider shows everything)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import events
from textual.widgets import DataTable, Static

NARROW = 100  # terminals narrower than this get only the essential columns


@dataclass(frozen=True)
class Col:
    key: str
    label: str
    width: int
    wide_only: bool = False  # dropped below NARROW columns
    narrow_width: int | None = None  # width to use when narrow (None: same)
    min_width: int = 0  # dropped when the terminal is narrower than this


class TopBar(Static):
    """Screen title, operator and role, read-only flag, live/paused and last refresh."""

    DEFAULT_CSS = """
    TopBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def show_state(self, title: str, operator: str, role: str, read_only: bool, live: bool,
                   refreshed: str) -> None:
        text = Text()
        text.append("Returnline", style="bold")
        text.append(f" │ {title}")
        text.append(f" │ {operator} ({role})")
        if read_only:
            text.append(" │ ")
            text.append("READ-ONLY", style="bold reverse")
        text.append(" │ ")
        text.append("live" if live else "paused", style="" if live else "bold")
        text.append(f" │ refreshed {refreshed}")
        self.update(text)


class ColumnTable(DataTable):
    """A row-cursor DataTable fed whole pages of rows (never the full table) that rebuilds its
    columns when the terminal crosses the narrow/wide boundary."""

    DEFAULT_CSS = """
    ColumnTable { height: 1fr; }
    """

    def __init__(self, columns: list[Col], **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.spec = columns
        self._rows: list[tuple[str, dict[str, Any]]] = []
        self._shown: list[str] = []

    def _visible(self) -> list[Col]:
        width = self.app.size.width
        narrow = width < NARROW
        return [c for c in self.spec if not (narrow and c.wide_only) and width >= c.min_width]

    def _build_columns(self) -> None:
        self.clear(columns=True)
        narrow = self.app.size.width < NARROW
        for col in self._visible():
            width = col.narrow_width if narrow and col.narrow_width else col.width
            self.add_column(col.label, width=width, key=col.key)
        self._shown = [c.key for c in self._visible()]

    def on_mount(self) -> None:
        self._build_columns()

    def on_resize(self, event: events.Resize) -> None:
        if [c.key for c in self._visible()] != self._shown:
            self._build_columns()
            self._fill()

    def set_rows(self, rows: list[tuple[str, dict[str, Any]]]) -> None:
        """Replace the rows: (row key, {column key: cell}). The cursor stays on the same key."""
        self._rows = rows
        self._fill()

    def _fill(self) -> None:
        keep = self.current_key()
        self.clear()
        cols = self._visible()
        for key, cells in self._rows:
            self.add_row(*[cells.get(c.key, "") for c in cols], key=key)
        if keep is not None:
            for index, (key, _) in enumerate(self._rows):
                if key == keep:
                    self.move_cursor(row=index, animate=False)
                    break

    def current_key(self) -> str | None:
        if not self._rows or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        except Exception:  # noqa: BLE001 - an empty or rebuilding table has no current row
            return None

    def keys(self) -> list[str]:
        return [key for key, _ in self._rows]
