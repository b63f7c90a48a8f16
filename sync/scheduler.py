"""Jobs on a schedule: APScheduler 3 in real time, or a simulated clock for replay.

Both run the same job functions. A job never overlaps itself (max_instances=1, coalesced),
and each keeps its last run, last error and next run for the connector-health screen.
With PostgreSQL several processes may run; only the one holding the advisory lock runs the
polling jobs (the leader), while every process may drain the outbox (claims are row-safe).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from storage.db import Database

log = logging.getLogger("returnline.scheduler")

LEADER_LOCK_ID = 0x52544C4E  # "RTLN": pg advisory lock key for the scheduler leader


@dataclass
class Job:
    name: str
    interval: timedelta
    run: Callable[[], Any]
    leader_only: bool = True  # polls and sweeps: one process; outbox drains: every process
    # When the job can next have work (None: not until something else changes). Only the
    # simulated scheduler uses it, to skip runs that would find nothing to do.
    idle_until: Callable[[], datetime | None] | None = None
    paused: bool = False
    next_run: datetime | None = None
    last_run: datetime | None = None
    last_error: str | None = None
    last_result: Any = None  # what the last run returned (a poll: how many it recorded)
    runs: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def execute(self, now: datetime) -> bool:
        """Run once unless already running (never overlaps itself). True if it ran."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self.last_result = self.run()
            self.last_error = None
        except Exception as exc:  # noqa: BLE001 - a job's failure is recorded, never fatal
            log.exception("job %s failed", self.name)
            self.last_error = f"{type(exc).__name__}: {exc}"
        finally:
            self.last_run = now
            self.runs += 1
            self._lock.release()
        return True

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "interval_s": self.interval.total_seconds(),
                "paused": self.paused, "next_run": self.next_run, "last_run": self.last_run,
                "last_error": self.last_error, "runs": self.runs}


class SimScheduler:
    """Runs jobs on a simulated clock: `advance` runs every job due in the span, in time order."""

    def __init__(self, clock, jobs: list[Job]) -> None:
        self.clock = clock
        self.jobs = {j.name: j for j in jobs}
        start = clock.now()
        for job in jobs:
            job.next_run = start + job.interval

    def run_now(self, name: str) -> None:
        self.jobs[name].execute(self.clock.now())

    def pause(self, name: str) -> None:
        self.jobs[name].paused = True

    def resume(self, name: str) -> None:
        self.jobs[name].paused = False

    def _effective(self, job: Job, target: datetime) -> datetime | None:
        """The job's next run that can find work: on its own grid, not before its hint."""
        if job.paused:
            return None
        if job.idle_until is None:
            return job.next_run
        hint = job.idle_until()
        if hint is None:
            return None
        if hint <= job.next_run:
            return job.next_run
        steps = -(-(hint - job.next_run) // job.interval)  # ceil: the first grid point >= hint
        when = job.next_run + steps * job.interval
        return when if when <= target else None

    def advance(self, delta: timedelta) -> None:
        target = self.clock.now() + delta
        while True:
            due = [(when, i, j) for i, j in enumerate(self.jobs.values())
                   if (when := self._effective(j, target)) is not None and when <= target]
            if not due:
                break
            # Earliest first; ties in registration order, so runs are deterministic.
            when, _, job = min(due, key=lambda d: (d[0], d[1]))
            if when > self.clock.now():
                self.clock.set(when)
            job.execute(self.clock.now())
            job.next_run = when + job.interval
        for job in self.jobs.values():  # keep every job on its grid past the skipped runs
            if job.next_run <= target:
                steps = (target - job.next_run) // job.interval + 1
                job.next_run = job.next_run + steps * job.interval
        self.clock.set(target)

    def status(self) -> list[dict[str, Any]]:
        return [j.status() for j in self.jobs.values()]


class RealScheduler:
    """APScheduler 3 BackgroundScheduler around the same jobs."""

    def __init__(self, db: Database, jobs: list[Job], *, now: Callable[[], datetime]) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        self.db = db
        self.now = now
        self.jobs = {j.name: j for j in jobs}
        self._scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": 30})
        self._leader_conn = None
        for job in jobs:
            self._scheduler.add_job(self._runner(job), "interval",
                                    seconds=job.interval.total_seconds(), id=job.name,
                                    name=job.name, next_run_time=None)

    def _runner(self, job: Job) -> Callable[[], None]:
        def run() -> None:
            if job.paused or (job.leader_only and not self.is_leader()):
                return
            job.execute(self.now())
        return run

    def is_leader(self) -> bool:
        """SQLite is one machine's store: always the leader. PostgreSQL: the advisory lock."""
        if self.db.dialect != "postgresql":
            return True
        if self._leader_conn is None:
            conn = self.db.engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                               {"k": LEADER_LOCK_ID}).scalar()
            if not got:
                conn.close()
                return False
            conn.commit()
            self._leader_conn = conn
        return True

    def start(self) -> None:
        now = self.now()
        for job in self.jobs.values():
            self._scheduler.modify_job(job.name, next_run_time=now + timedelta(seconds=1))
        self._scheduler.start()
        self._sync_next_runs()

    def _sync_next_runs(self) -> None:
        for job in self.jobs.values():
            ap = self._scheduler.get_job(job.name)
            job.next_run = ap.next_run_time if ap else None

    def pause(self, name: str) -> None:
        self.jobs[name].paused = True
        self._scheduler.pause_job(name)
        self._sync_next_runs()

    def resume(self, name: str) -> None:
        self.jobs[name].paused = False
        self._scheduler.resume_job(name)
        self._sync_next_runs()

    def run_now(self, name: str) -> None:
        self._scheduler.modify_job(name, next_run_time=self.now())
        self._sync_next_runs()

    def status(self) -> list[dict[str, Any]]:
        self._sync_next_runs()
        return [j.status() for j in self.jobs.values()]

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking new runs; with wait, let running jobs finish (clean SIGTERM)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
        if self._leader_conn is not None:
            self._leader_conn.close()
            self._leader_conn = None
