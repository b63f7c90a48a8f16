"""Running the console under Pilot against a cloned replay."""

from __future__ import annotations

from console.app import ReturnlineApp
from console.context import ConsoleContext
from sync.operations import Operator


def make_app(replay, role: str = "admin", *, read_only: bool = False, name: str = "sam",
             start: str = "home", **ctx_options) -> ReturnlineApp:
    ctx = ConsoleContext.from_replay(replay, Operator(name, role, read_only),
                                     refresh_seconds=3600, **ctx_options)
    return ReturnlineApp(ctx, steady=True, start=start)


async def settle(pilot, rounds: int = 3) -> None:
    """Let loads and operations (thread workers) finish and their results land; the current
    screen has loaded at least once."""
    quiet = 0
    for _ in range(200):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        busy = any(not w.is_finished for w in pilot.app.workers)
        loaded = getattr(pilot.app.screen, "loads", 1) > 0
        quiet = quiet + 1 if not busy and loaded else 0
        if quiet >= rounds:
            return


def messages(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]
