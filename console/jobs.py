"""Job control for the connector-health screen: status, pause, resume, run now.

The operations layer has no job methods yet, so the role check and the audit row (refusals
too) are done here, the same way Operations does them. Works with SimScheduler (which has
no pause/resume of its own: the job's flag is what it reads) and RealScheduler.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from storage.console_queries import record_job_audit
from storage.db import Database
from sync.operations import Operator, Refused

JOB_OPERATIONS = {"pause": "pause", "resume": "resume", "run_now": "run_job"}


class JobControl:
    def __init__(self, scheduler: Any, db: Database, now: Callable[[], datetime]) -> None:
        self.scheduler = scheduler
        self.db = db
        self.now = now

    def status(self) -> list[dict[str, Any]]:
        return list(self.scheduler.status())

    def _check(self, op: Operator, verb: str, name: str) -> None:
        operation = JOB_OPERATIONS[verb]
        allowed = op.may(operation)
        why = None
        if not allowed:
            why = "read-only mode" if op.read_only else f"role {op.role!r} may not {operation}"
        with self.db.session() as s:
            record_job_audit(s, at=self.now(), actor=op.name, role=op.role, operation=operation,
                             job=name, allowed=allowed, note=f"refused: {why}" if why else None)
        if not allowed:
            raise Refused(f"{op.name}: {why}")
        if name not in self.scheduler.jobs:
            raise Refused(f"no job {name!r}")

    def pause(self, op: Operator, name: str) -> None:
        self._check(op, "pause", name)
        if hasattr(self.scheduler, "pause"):
            self.scheduler.pause(name)
        else:
            self.scheduler.jobs[name].paused = True

    def resume(self, op: Operator, name: str) -> None:
        self._check(op, "resume", name)
        if hasattr(self.scheduler, "resume"):
            self.scheduler.resume(name)
        else:
            self.scheduler.jobs[name].paused = False

    def run_now(self, op: Operator, name: str) -> None:
        self._check(op, "run_now", name)
        self.scheduler.run_now(name)
