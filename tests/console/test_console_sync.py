"""The console runs the engine's jobs in-process (local-first) and stops them on exit.

The config is a real file; the systems are the in-process sandboxes of sync.wiring (no
network, no credentials), so the polling job finds a return the platform sandbox holds."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from helpers import settle
from sqlalchemy import func, select

from console.app import ReturnlineApp
from console.context import console_from_config
from console.jobs import InProcessSync
from console.screens.health import HealthScreen
from console.widgets import ColumnTable
from storage.config import Paths, load_config
from storage.db import Database
from storage.tables import ReturnRow
from sync.replay import Replay
from sync.scenario import load_scenario
from sync.scheduler import Job, RealScheduler

ROOT = Path(__file__).resolve().parents[2]


def write_config(folder: Path, text: str) -> tuple[object, Paths]:
    path = folder / "returnline.toml"
    path.write_text(text)
    return load_config(path, required=True), Paths(path, folder / "data", folder / "log")


def returns_recorded(url: str) -> int:
    db = Database(url)
    try:
        with db.session() as s:
            return s.execute(select(func.count()).select_from(ReturnRow)).scalar_one()
    finally:
        db.dispose()


async def until(condition, pilot, rounds: int = 400) -> None:
    """Poll the app (not a timed assertion: the condition decides, the bound only stops a
    hang)."""
    for _ in range(rounds):
        if condition():
            return
        await pilot.pause(0.05)


def test_console_with_sync_on_polls_the_sandbox_shows_job_health_and_stops_on_exit(tmp_path):
    scenario = load_scenario(ROOT / "scenarios" / "premature_refund.json")
    url = f"sqlite:///{tmp_path / 'rl.db'}"
    replay = Replay.build(scenario, url)  # master data and seeded sandboxes
    replay.step(scenario.steps[0])  # R1 asked for on the platform; Returnline has not polled
    assert returns_recorded(url) == 0
    config, paths = write_config(tmp_path, "[console]\nsync = true\nrefresh_seconds = 3600\n"
                                           "[scheduler]\npoll_returns_seconds = 3600\n")
    ctx = console_from_config(config, paths, db_url=url, systems=replay.world.systems,
                              clock=replay.clock)
    assert ctx.sync is not None and ctx.reconciler is not None and not ctx.sync.started
    scheduler = ctx.sync.scheduler
    poll = scheduler.jobs["poll_returns"]

    async def scenario():
        app = ReturnlineApp(ctx, steady=True)
        async with app.run_test(size=(120, 36)) as pilot:
            await until(lambda: poll.runs >= 1, pilot)
            assert ctx.sync.running and poll.runs >= 1 and poll.last_error is None
            await pilot.press("7")
            await settle(pilot)
            assert isinstance(app.screen, HealthScreen)
            jobs = app.screen.query_one("#jobs", ColumnTable)
            assert "poll_returns" in jobs.keys() and "outbox" in jobs.keys()
            assert app.screen.jobs["poll_returns"]["runs"] >= 1
    asyncio.run(scenario())

    assert ctx.sync.stopped and not scheduler._scheduler.running
    assert returns_recorded(url) == 1  # the job really polled the platform sandbox
    ctx.db.dispose()
    replay.db.dispose()
    replay.world.close()


def test_sync_off_by_flag_or_without_configured_systems(tmp_path):
    url = f"sqlite:///{tmp_path / 'rl.db'}"
    replay = Replay.build(load_scenario(ROOT / "scenarios" / "premature_refund.json"), url)
    config, paths = write_config(tmp_path, "[console]\nsync = false\n")
    ctx = console_from_config(config, paths, db_url=url, systems=replay.world.systems)
    assert ctx.sync is None and ctx.reconciler is not None
    assert any("Sync is off" in n for n in ctx.notes)
    ctx.db.dispose()
    replay.db.dispose()
    replay.world.close()
    # sync on, but no commerce system enabled: the console opens, and says why
    config, paths = write_config(tmp_path, "[console]\nsync = true\n")
    ctx = console_from_config(config, paths, db_url=url)
    assert ctx.sync is None and ctx.reconciler is None
    assert any("no commerce system is enabled" in n for n in ctx.notes)
    ctx.db.dispose()


def test_stop_lets_a_running_job_finish_and_takes_no_new_runs(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'rl.db'}")
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        release.wait(30)
        finished.set()

    job = Job("slow", timedelta(hours=1), slow)
    sync = InProcessSync(RealScheduler(db, [job], now=lambda: datetime.now(UTC)))
    sync.start()
    assert started.wait(30)
    stopper = threading.Thread(target=sync.stop)
    stopper.start()
    stopper.join(0.2)
    assert stopper.is_alive() and not finished.is_set()  # stop waits for the running job
    release.set()
    stopper.join(30)
    assert not stopper.is_alive() and finished.is_set() and job.runs == 1
    assert sync.stopped and not sync.running
    sync.stop()  # twice is harmless
    db.dispose()
