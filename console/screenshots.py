"""`python -m console.screenshots DIR`: one SVG per console screen, at 120x36, from sample data.

The data is a replay of tests/console/data/console_queues.json through the real engine and
sandboxes (every queue has something in it), on a simulated clock, so the images are the same
on every run. Pass another replay to `write_screenshots` to shoot other data (the demo).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from console.app import ReturnlineApp
from console.context import ConsoleContext
from sync.operations import Operator, Refused

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "console" / "data" / \
    "console_queues.json"
SIZE = (120, 36)


async def _wait(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def _detail(order: str) -> Callable[[Any], Awaitable[None]]:
    async def run(pilot) -> None:
        await _wait(pilot)
        from console import data
        item = data.search(pilot.app.ctx.db, order)[0]
        pilot.app.open_return(item.return_id)
        await _wait(pilot)
    return run


def _search(term: str) -> Callable[[Any], Awaitable[None]]:
    async def run(pilot) -> None:
        await _wait(pilot)
        await pilot.press(*term, "enter")
        await _wait(pilot)
    return run


async def _recon(pilot) -> None:
    """The sample data's whole history (three days), run and shown mismatches first."""
    await _wait(pilot)
    today = pilot.app.ctx.now().date()
    pilot.app.screen.set_period(today - timedelta(days=2), today)
    await pilot.press("R")
    await _wait(pilot)


# name -> (start screen, what to do before the shot)
SHOTS: dict[str, tuple[str, Callable[[Any], Awaitable[None]] | None]] = {
    "home": ("home", None),
    "returns": ("returns", None),
    "search": ("search", _search("TEE-M")),
    "return-detail": ("home", _detail("1003")),
    "held-refunds": ("holds", None),
    "unknown-reasons": ("reasons", None),
    "failures": ("failures", None),
    "exceptions": ("exceptions", None),
    "connector-health": ("health", None),
    "audit-log": ("audit", None),
    "reconciliation": ("recon", _recon),
}


def sample_replay(folder: Path):
    from sync.replay import Replay
    from sync.scenario import load_scenario

    replay = Replay.build(load_scenario(SAMPLE), f"sqlite:///{folder / 'screenshots.db'}")
    replay.run()
    add_sample_audit(replay)
    return replay


def add_sample_audit(replay) -> None:
    """A few operator actions so the audit log has something to show (one refused)."""
    from sqlalchemy import select

    from storage.tables import ExceptionRow

    with replay.db.session() as s:
        key = s.execute(select(ExceptionRow.key).where(
            ExceptionRow.type == "order_not_returnable",
            ExceptionRow.resolved_at.is_(None))).scalar()
    if key:
        replay.ops.resolve(Operator("mo", "cx"), key, "customer told the order was cancelled")
    try:
        replay.ops.retry(Operator("viewer-vi", "viewer"), ["rl:none"])
    except Refused:
        pass


async def _shoot(ctx: ConsoleContext, name: str, start: str, before, folder: Path) -> Path:
    app = ReturnlineApp(ctx, steady=True, start=start)
    async with app.run_test(size=SIZE) as pilot:
        await _wait(pilot)
        if before is not None:
            await before(pilot)
        await _wait(pilot)
        return Path(app.save_screenshot(filename=f"{name}.svg", path=str(folder)))


def write_screenshots(replay, folder: Path, operator: Operator | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    ctx = ConsoleContext.from_replay(replay, operator or Operator("sam", "admin"),
                                     refresh_seconds=3600)
    return [asyncio.run(_shoot(ctx, name, start, before, folder))
            for name, (start, before) in SHOTS.items()]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0] if argv else "screenshots")
    with tempfile.TemporaryDirectory(prefix="returnline-shots-") as tmp:
        replay = sample_replay(Path(tmp))
        try:
            for path in write_screenshots(replay, folder):
                print(path)
        finally:
            replay.db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
