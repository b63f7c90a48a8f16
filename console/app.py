"""ReturnlineApp: the operations console. Built from a ConsoleContext (see console/context.py).

Screens are modes switched by number keys (1-9), `/` search, Esc back; one return's detail
is pushed on top. Each screen loads in a thread worker; the app's refresh timer is re-armed
after each load finishes, and skips (but re-arms) while a dialog is open or live refresh is
paused. With `ctx.sync` the engine's jobs run in-process: started on mount, stopped (running
jobs finished) when the app unmounts.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from textual.app import App
from textual.screen import ModalScreen
from textual.timer import Timer

from console import data
from console.actions import SCREEN_TITLES, bindings_for
from console.commands import ReturnlineCommands
from console.context import ConsoleContext
from console.format import clock
from console.modals import HelpModal
from console.screens.audit import AuditScreen
from console.screens.base import ConsoleScreen
from console.screens.detail import DetailScreen
from console.screens.exceptions import ExceptionsScreen
from console.screens.failures import FailuresScreen
from console.screens.health import HealthScreen
from console.screens.holds import HoldsScreen
from console.screens.home import HomeScreen
from console.screens.reasons import ReasonsScreen
from console.screens.recon import ReconScreen
from console.screens.returns import ReturnsScreen
from console.screens.search import SearchScreen
from sync.operations import PERMISSIONS

NAV_ACTIONS = {"go", "search", "refresh_now", "help", "toggle_live", "back"}


class ReturnlineApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "Returnline"
    MODES = {
        "home": HomeScreen,
        "returns": ReturnsScreen,
        "holds": HoldsScreen,
        "reasons": ReasonsScreen,
        "failures": FailuresScreen,
        "exceptions": ExceptionsScreen,
        "health": HealthScreen,
        "audit": AuditScreen,
        "recon": ReconScreen,
        "search": SearchScreen,
    }
    DEFAULT_MODE = "home"
    BINDINGS = bindings_for("app")
    COMMANDS = App.COMMANDS | {ReturnlineCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    def __init__(self, ctx: ConsoleContext, *, steady: bool = False, start: str = "home",
                 **kwargs: Any) -> None:
        """`steady`: no cursor blink (snapshots, screenshots). `start`: the first screen."""
        if start in self.MODES:  # built first, so no other screen loads before it
            self.DEFAULT_MODE = start  # type: ignore[misc]
        super().__init__(**kwargs)
        self.ctx = ctx
        self.steady = steady
        self.start = start
        self.live = True
        self.refreshed_text = "never"
        self._timer: Timer | None = None
        self.title = ctx.title

    # --- start and stop ---------------------------------------------------------------------
    def on_mount(self) -> None:
        if self.ctx.theme in self.available_themes:
            self.theme = self.ctx.theme
        else:
            self.notify(f"Unknown theme {self.ctx.theme!r}; using {self.theme}.",
                        severity="warning")
        if self.ctx.keymap:
            self.set_keymap(self.ctx.keymap)
        if self.start not in self.MODES:
            self.notify(f"No screen {self.start!r}.", severity="warning")
        for note in self.ctx.notes:
            self.notify(note, severity="warning", timeout=10)
        if self.ctx.sync is not None:
            try:
                self.ctx.sync.start()
            except Exception as exc:  # noqa: BLE001 - the console works without it; say so
                self.notify(f"Sync did not start: {type(exc).__name__}: {exc}",
                            severity="error", timeout=15)
        self.arm_refresh()
        if not self.is_headless and sys.stdin is not None and sys.stdin.isatty():
            self.set_interval(2.0, self._check_terminal)

    def on_unmount(self) -> None:
        """Leaving (q, a closed terminal or an error): the in-process jobs take no new runs
        and the running ones finish, so nothing is left half-done or claimed."""
        if self.ctx.sync is not None:
            self.ctx.sync.stop()

    def _check_terminal(self) -> None:
        """Exit cleanly when the terminal (an SSH session) goes away."""
        try:
            gone = not os.isatty(sys.stdin.fileno())
        except (OSError, ValueError):
            gone = True
        if gone:
            self.exit(return_code=1)

    # --- live refresh ------------------------------------------------------------------------
    def arm_refresh(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(max(0.5, self.ctx.refresh_seconds), self._tick)

    def _tick(self) -> None:
        self._timer = None
        screen = self.screen
        if not self.live or isinstance(screen, ModalScreen) or \
                not isinstance(screen, ConsoleScreen):
            self.arm_refresh()
            return
        screen.reload()  # its load calls mark_refreshed, which re-arms the timer

    def mark_refreshed(self) -> None:
        self.refreshed_text = clock(self.ctx.now())
        self.arm_refresh()

    # --- actions -------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in NAV_ACTIONS and isinstance(self.screen, ModalScreen):
            return False
        return True

    def action_go(self, mode: str) -> None:
        self.switch_mode(mode)

    def action_search(self) -> None:
        self.switch_mode("search")
        screen = self.screen
        if isinstance(screen, SearchScreen):
            screen.focus_box()

    def action_refresh_now(self) -> None:
        data.forget(self.ctx.db)  # a manual refresh recounts too
        if isinstance(self.screen, ConsoleScreen):
            self.screen.reload()

    def action_toggle_live(self) -> None:
        self.live = not self.live
        if isinstance(self.screen, ConsoleScreen):
            self.screen.update_bar()
        self.notify("Live refresh resumed." if self.live else "Live refresh paused (P).",
                    timeout=3)

    def action_help(self) -> None:
        screen = self.screen
        scope = getattr(screen, "SCOPE", "home")
        op = self.ctx.operator
        may = {perm: perm in PERMISSIONS.get(op.role, frozenset())
               for perms in PERMISSIONS.values() for perm in perms}
        self.push_screen(HelpModal(scope, SCREEN_TITLES.get(scope, scope), self.ctx.keymap,
                                   op.read_only, may))

    def action_back(self) -> None:
        if len(self.screen_stack) > 1:
            self.pop_screen()
        elif self.current_mode != "home":
            self.switch_mode("home")

    def open_return(self, return_id: str) -> None:
        self.push_screen(DetailScreen(return_id))
