"""Everything the console needs from outside, in one object the CLI (or a test) builds.

The console reads through storage queries on `db`, acts only through `ops` as `operator`,
and asks `jobs` about the scheduler. `now` is injected so the demo and tests can run on a
simulated clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from console.jobs import JobControl
from storage.db import Database
from sync.operations import Operations, Operator

THEMES = ("textual-dark", "textual-light", "ansi-dark", "ansi-light", "nord", "gruvbox")


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class ConsoleContext:
    db: Database
    ops: Operations
    operator: Operator
    now: Callable[[], datetime] = wall_clock
    jobs: JobControl | None = None
    refresh_seconds: float = 5.0
    keymap: dict[str, str] = field(default_factory=dict)  # binding id -> keys ([console.keys])
    theme: str = "textual-dark"
    title: str = "Returnline"
    # Called (in a worker thread) after every successful operator action; the demo uses it to
    # drain the outbox at once so the effect shows on the next refresh.
    after_action: Callable[[], Any] | None = None

    @property
    def read_only(self) -> bool:
        return self.operator.read_only

    # --- builders -----------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: Any, *, db: Database, ops: Operations, operator: Operator,
                    scheduler: Any = None, now: Callable[[], datetime] = wall_clock,
                    **overrides: Any) -> ConsoleContext:
        """[console] refresh_seconds / theme / read_only and [console.keys] from the config."""
        if config.get("console.read_only", False) and not operator.read_only:
            operator = Operator(operator.name, operator.role, True)
        values: dict[str, Any] = {
            "refresh_seconds": float(config.get("console.refresh_seconds", 5) or 5),
            "theme": config.get("console.theme", "textual-dark") or "textual-dark",
            "keymap": {str(k): str(v) for k, v in config.section("console.keys").items()},
        }
        values.update(overrides)
        jobs = JobControl(scheduler, ops) if scheduler is not None else None
        return cls(db=db, ops=ops, operator=operator, now=now, jobs=jobs, **values)

    @classmethod
    def from_replay(cls, replay: Any, operator: Operator, **overrides: Any) -> ConsoleContext:
        """Over a sync.replay.Replay (tests, screenshots, the demo): its database, operations,
        simulated clock and scheduler."""
        return cls(db=replay.db, ops=replay.ops, operator=operator, now=replay.clock.now,
                   jobs=JobControl(replay.scheduler, replay.ops), **overrides)
