"""The base of every console screen: top bar, body, footer; loads its data in a thread worker
(exclusive per screen, so a stale load never lands after a newer one); runs operator actions
in a thread worker and shows their outcome (a refusal or any error) as a notification."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from console import data
from console.actions import SCREEN_TITLES, bindings_for, permission_of
from console.widgets import ColumnTable, TopBar
from sync.operations import Refused

if TYPE_CHECKING:
    from console.app import ReturnlineApp


class ConsoleScreen(Screen):
    SCOPE = "home"
    loads = 0  # how many loads have landed (tests wait for the first)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        cls.BINDINGS = bindings_for(cls.SCOPE)  # before Textual merges the class's bindings
        super().__init_subclass__(**kwargs)

    @property
    def rl(self) -> ReturnlineApp:
        return self.app  # type: ignore[return-value]

    @property
    def ctx(self):
        return self.rl.ctx

    @property
    def title_text(self) -> str:
        return SCREEN_TITLES.get(self.SCOPE, self.SCOPE)

    # --- layout -----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield TopBar()
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def update_bar(self) -> None:
        op = self.ctx.operator
        self.query_one(TopBar).show_state(self.title_text, op.name, op.role, op.read_only,
                                          self.rl.live, self.rl.refreshed_text)

    # --- loading ----------------------------------------------------------------------------
    def load(self) -> Any:
        """Runs in a worker thread: read what the screen shows, return plain data."""
        return None

    def show(self, data: Any) -> None:
        """Runs on the UI thread with what `load` returned."""

    def reload(self) -> None:
        self._load_worker()

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load_worker(self) -> None:
        try:
            data = self.load()
        except Exception as exc:  # noqa: BLE001 - shown, and the refresh loop keeps going
            self.app.call_from_thread(self._load_failed, exc)
            return
        self.app.call_from_thread(self._loaded, data)

    def _loaded(self, data: Any) -> None:
        if not self.is_attached:
            return
        self.show(data)
        self.loads += 1
        self.rl.mark_refreshed()
        self.update_bar()

    def load_later(self, group: str, compute: Callable[[], Any],
                   done: Callable[[Any], None]) -> None:
        """What is too slow for a first paint (a count over a million rows): computed in its
        own worker after the screen has shown, then handed to `done` on the UI thread."""
        def run() -> None:
            try:
                value = compute()
            except Exception as exc:  # noqa: BLE001 - shown; the screen keeps what it has
                self.app.call_from_thread(self._load_failed, exc)
                return
            self.app.call_from_thread(lambda: self.is_attached and done(value))
        self.run_worker(run, thread=True, group=group, exclusive=True, exit_on_error=False)

    def _load_failed(self, exc: Exception) -> None:
        self.notify(f"Could not load: {type(exc).__name__}: {exc}", severity="error",
                    title="Load failed", timeout=10)
        self.rl.arm_refresh()

    def on_screen_resume(self) -> None:
        self.update_bar()
        self.reload()

    # --- actions ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if permission_of(self.SCOPE, action) and self.ctx.read_only:
            return False
        return True

    def refuse_if_read_only(self) -> bool:
        if self.ctx.read_only:
            self.notify("Read-only mode: no actions.", severity="warning", title="Refused")
            return True
        return False

    def run_op(self, label: str, call: Callable[[], Any],
               done: Callable[[Any], str] | None = None) -> None:
        """Run an operation off the UI thread; notify its outcome; reload the screen."""
        self._op_worker(label, call, done)

    @work(thread=True, group="ops", exit_on_error=False)
    def _op_worker(self, label: str, call: Callable[[], Any],
                   done: Callable[[Any], str] | None) -> None:
        try:
            result = call()
        except Refused as exc:
            self.app.call_from_thread(self._op_failed, label, f"Refused: {exc}", "warning")
            return
        except Exception as exc:  # noqa: BLE001 - every failure is shown, never swallowed
            self.app.call_from_thread(self._op_failed, label, f"{type(exc).__name__}: {exc}",
                                      "error")
            return
        if self.ctx.after_action is not None:
            try:
                self.ctx.after_action()
            except Exception as exc:  # noqa: BLE001 - the action itself stands; say so
                self.app.call_from_thread(self._op_failed, label,
                                          f"done, but the follow-up failed: {exc}", "warning")
        message = done(result) if done else "done"
        self.app.call_from_thread(self._op_done, label, message)

    def _op_done(self, label: str, message: str) -> None:
        self.notify(message, title=label)
        data.forget(self.ctx.db)  # counts change with what the operator just did
        self.reload()

    def _op_failed(self, label: str, message: str, severity: str) -> None:
        self.notify(message, title=f"{label} failed", severity=severity, timeout=10)
        self.reload()


class ReturnRowsScreen(ConsoleScreen):
    """A screen whose table rows are returns (keyed by return id): Enter opens the return."""

    def action_open(self) -> None:
        key = self.query_one(ColumnTable).current_key()
        if key:
            self.rl.open_return(key)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.rl.open_return(event.row_key.value)
