"""Job control for the connector-health screen: status, pause, resume, run now.

The role check and the audit row live in `Operations.control_job`, like every other action.
"""

from __future__ import annotations

from typing import Any

from sync.operations import Operations, Operator


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
