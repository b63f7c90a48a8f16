"""Everything the console needs from outside, in one object the CLI (or a test) builds.

The console reads through storage queries on `db`, acts only through `ops` as `operator`,
and asks `jobs` about the scheduler. `now` is injected so the demo and tests can run on a
simulated clock. `reconciler` runs sync.reconcile against the external systems (None when
they are not configured); `sync` is the in-process scheduler the app starts and stops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.jobs import InProcessSync, JobControl
from storage.db import Database
from sync.operations import Operations, Operator
from sync.reconcile import ReconReport, reconcile

# (since, until, progress(done, total), open_exceptions) -> the report
Reconciler = Callable[[datetime, datetime, Callable[[int, int], Any] | None, bool], ReconReport]

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
    reconciler: Reconciler | None = None
    export_dir: Path | None = None  # where CSV exports go (None: the working directory)
    sync: InProcessSync | None = None  # started on mount, stopped (jobs finished) on exit
    notes: list[str] = field(default_factory=list)  # shown once when the console opens

    @property
    def read_only(self) -> bool:
        return self.operator.read_only

    # --- builders -----------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: Any, *, db: Database, ops: Operations, operator: Operator,
                    scheduler: Any = None, now: Callable[[], datetime] = wall_clock,
                    **overrides: Any) -> ConsoleContext:
        """[console] refresh_seconds / theme / read_only and [console.keys] from the config.
        `scheduler` may be an InProcessSync (the app runs it) or any scheduler to show."""
        if config.get("console.read_only", False) and not operator.read_only:
            operator = Operator(operator.name, operator.role, True)
        values: dict[str, Any] = {
            "refresh_seconds": float(config.get("console.refresh_seconds", 5) or 5),
            "theme": config.get("console.theme", "textual-dark") or "textual-dark",
            "keymap": {str(k): str(v) for k, v in config.section("console.keys").items()},
        }
        values.update(overrides)
        if isinstance(scheduler, InProcessSync):
            values.setdefault("sync", scheduler)
            scheduler = scheduler.scheduler
        jobs = JobControl(scheduler, ops) if scheduler is not None else None
        return cls(db=db, ops=ops, operator=operator, now=now, jobs=jobs, **values)

    @classmethod
    def from_replay(cls, replay: Any, operator: Operator, **overrides: Any) -> ConsoleContext:
        """Over a sync.replay.Replay (tests, screenshots, the demo): its database, operations,
        simulated clock and scheduler."""
        overrides.setdefault("reconciler", engine_reconciler(replay.world.engine))
        return cls(db=replay.db, ops=replay.ops, operator=operator, now=replay.clock.now,
                   jobs=JobControl(replay.scheduler, replay.ops), **overrides)


def engine_reconciler(engine: Any, lock: Any = None) -> Reconciler:
    """Reconciliation over an engine's systems; `lock` (the demo's) keeps the simulated
    world still while it is read."""
    def run(since: datetime, until: datetime, progress: Callable[[int, int], Any] | None,
            open_exceptions: bool) -> ReconReport:
        if lock is None:
            return reconcile(engine, since, until, open_exceptions=open_exceptions,
                             progress=progress)
        with lock:
            return reconcile(engine, since, until, open_exceptions=open_exceptions,
                             progress=progress)
    return run


def console_from_config(config: Any, paths: Any, *, db_url: str | None = None,
                        as_user: str | None = None, read_only: bool = False,
                        sync: bool | None = None, systems: Any = None,
                        clock: Any = None) -> ConsoleContext:
    """What `returnline console` opens: the configured database, the operator, and, unless
    sync is off (`--no-sync` or [console] sync = false), the engine's jobs in-process.

    The connectors come from config and the credential store (`systems` replaces them, e.g.
    the sandboxes in tests). When they cannot be built the console still opens, for views
    and operations, and says on screen why sync and reconciliation are off."""
    from storage.config import ConfigError
    from storage.credentials import CredentialError, store_from_config
    from sync.clock import WallClock
    from sync.engine import Engine
    from sync.operations import operator_from_config
    from sync.runtime import build_systems, policy_from_config, runtime_from_config

    runtime = runtime_from_config(config, paths, db_url=db_url)
    operator = operator_from_config(config, as_user, read_only)
    if sync is None:
        sync = bool(config.get("console.sync", True))
    clock = clock or WallClock()
    notes: list[str] = []
    in_process: InProcessSync | None = None
    reconciler: Reconciler | None = None
    try:
        if systems is None:
            systems = build_systems(config, store_from_config(config.section("credentials")),
                                    clock, runtime.db)
    except (ConfigError, CredentialError) as exc:
        notes.append(f"Sync and reconciliation are off: {exc}")
    else:
        engine = Engine(runtime.db, clock, systems, policy_from_config(config))
        reconciler = engine_reconciler(engine)
        if sync:
            settings = {k: v for k, v in config.section("scheduler").items()
                        if k.endswith("_seconds")}
            in_process = InProcessSync.for_engine(engine, settings)
            scheduler = in_process.scheduler
            # An operator's approval or retry runs the outbox now, not at its next tick.
            runtime.operations.wake = lambda: scheduler.run_now("outbox")
        else:
            notes.append("Sync is off (--no-sync or [console] sync = false): jobs run "
                         "elsewhere (`returnline sync`) or not at all.")
    return ConsoleContext.from_config(config, db=runtime.db, ops=runtime.operations,
                                      operator=operator, scheduler=in_process,
                                      reconciler=reconciler, notes=notes,
                                      export_dir=paths.data_dir / "exports")
