"""Job control for the connector-health screen (status, pause, resume, run now) and the
scheduler the console runs in-process (local-first: no separate `returnline sync` needed).

The role check and the audit row live in `Operations.control_job`, like every other action.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime
from typing import Any

from sync.operations import Operations, Operator

log = logging.getLogger("returnline.console")


class JobControl:
    def __init__(self, scheduler: Any, ops: Operations) -> None:
        self.scheduler = scheduler
        self.ops = ops

    def status(self) -> list[dict[str, Any]]:
        return list(self.scheduler.status())

    def pause(self, op: Operator, name: str) -> None:
        self.ops.control_job(op, self.scheduler, name, "pause")

    def resume(self, op: Operator, name: str) -> None:
        self.ops.control_job(op, self.scheduler, name, "resume")

    def run_now(self, op: Operator, name: str) -> None:
        self.ops.control_job(op, self.scheduler, name, "run_job")


class InProcessSync:
    """The engine's jobs (sync.jobs.make_jobs) on APScheduler (sync.scheduler.RealScheduler),
    as `returnline sync` runs them, inside the console. `stop` lets running jobs finish
    (their leases end with them) and takes no new runs; calling it twice is harmless."""

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self._lock = threading.Lock()
        self.started = False
        self.stopped = False

    @classmethod
    def for_engine(cls, engine: Any, settings: dict[str, Any] | None = None, *,
                   webhooks: bool = True, reconcile_daily: bool = True,
                   now: Any = None) -> InProcessSync:
        from sync.executor import Executor
        from sync.jobs import make_jobs
        from sync.scheduler import RealScheduler

        executor = Executor(engine, worker=f"console:{socket.gethostname()}:{os.getpid()}")
        jobs = make_jobs(engine, executor, settings, webhooks=webhooks,
                         reconcile_daily=reconcile_daily)
        # APScheduler runs in real time, whatever clock the engine decides with.
        return cls(RealScheduler(engine.db, jobs, now=now or (lambda: datetime.now(UTC))))

    @property
    def running(self) -> bool:
        return self.started and not self.stopped

    def start(self) -> None:
        with self._lock:
            if self.started:
                return
            self.started = True
            self.scheduler.start()
        log.info("in-process sync started (%s jobs)", len(self.scheduler.jobs))

    def stop(self) -> None:
        with self._lock:
            if not self.started or self.stopped:
                self.stopped = True
                return
            self.stopped = True
        log.info("stopping in-process sync: letting running jobs finish")
        self.scheduler.shutdown(wait=True)
