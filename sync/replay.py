"""`returnline replay FILE.json`: the real engine and connectors against in-process sandboxes,
on a simulated clock, from a scenario file. Same file, same output.

The `external` part of the result is read from the sandboxes' own state: it is what really
happened to money and stock, not what Returnline believes.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from rules.policy import Policy
from storage.db import Database
from storage.master_data import seed_master_data, set_location_active
from storage.tables import ActionRow, ExceptionRow, HoldRow, ReturnRow, TimelineEventRow
from sync.executor import Executor
from sync.jobs import make_jobs
from sync.operations import Operations, Operator
from sync.sandbox.base import SimClock
from sync.scenario import Scenario
from sync.scheduler import SimScheduler
from sync.wiring import DRIVER_VERBS, World, build_world

SETTLE_LIMIT = timedelta(hours=48)  # `sync` never runs the clock further than this

ROLE_FOR = {"approve": "supervisor", "reject": "supervisor", "reclassify": "cx",
            "resolve": "cx", "retry": "engineer"}


class ReplayError(Exception):
    """A step could not be carried out; says which step and why."""


@dataclass
class Replay:
    scenario: Scenario
    db: Database
    clock: SimClock
    world: World
    executor: Executor
    ops: Operations
    scheduler: SimScheduler
    labels: dict[str, str] = field(default_factory=dict)  # scenario return name -> platform id

    # --- building -------------------------------------------------------------------------------
    @classmethod
    def build(cls, scenario: Scenario, db_url: str, *, credentials=None,
              rate_limits: bool = True) -> Replay:
        clock = SimClock(scenario.start)
        db = Database(db_url)
        policy = Policy.from_dict(scenario.policy)
        world = build_world(scenario, clock, db, credentials=credentials, rate_limits=rate_limits)
        engine = world.engine_for(db, policy)
        executor = Executor(engine, worker="replay")
        ops = Operations(db, clock.now, engine.replan, mappings_changed=engine.invalidate_mappings)
        # The replay delivers no webhooks (polling is the path it exercises) and runs no
        # nightly reconciliation unless a step asks for it.
        jobs = make_jobs(engine, executor, webhooks=False, reconcile_daily=False)
        replay = cls(scenario, db, clock, world, executor, ops, SimScheduler(clock, jobs))
        replay.seed()
        return replay

    def seed(self) -> None:
        sc = self.scenario
        with self.db.session() as s:
            seed_master_data(s, {"warehouses": sc.warehouses, "reasons": sc.reasons,
                                 "bundles": sc.bundles}, self.clock.now(), by="scenario")
        self.world.seed(sc)

    # --- steps ----------------------------------------------------------------------------------
    def run(self) -> None:
        for n, step in enumerate(self.scenario.steps, start=1):
            try:
                self.step(step)
            except ReplayError as exc:
                raise ReplayError(f"{self.scenario.path}: step {n} ({step['do']}): {exc}") from None

    def _operator(self, step: dict[str, Any]) -> Operator:
        return Operator(step.get("user", "replay"), ROLE_FOR[step["do"]])

    def return_id(self, label: str) -> str:
        platform_id = self.labels.get(label)
        if platform_id is None:
            raise ReplayError(f"return {label!r} was never requested")
        with self.db.session() as s:
            rid = s.execute(select(ReturnRow.return_id).where(
                ReturnRow.platform == self.world.platform_name,
                ReturnRow.platform_id == platform_id)).scalar()
        if rid is None:
            raise ReplayError(f"return {label!r} has not been seen by Returnline yet "
                              "(advance the clock so the platform is polled)")
        return rid

    def step(self, step: dict[str, Any]) -> None:
        verb = step["do"]
        w = self.world
        if verb in DRIVER_VERBS:
            w.drive(step, self.scenario)
            if verb == "request_return":
                self.labels[step["return"]] = w.platform_id_of(step["return"])
            elif verb == "set_location":
                with self.db.session() as s:
                    set_location_active(s, step["location"], step["active"])
                self.ops.mappings_changed()
        elif verb in ("approve", "reject"):
            rid = self.return_id(step["return"])
            with self.db.session() as s:
                keys = list(s.execute(select(HoldRow.key).where(
                    HoldRow.return_id == rid, HoldRow.kind == "refund_approval",
                    HoldRow.decision.is_(None))).scalars())
            if not keys:
                raise ReplayError(f"return {step['return']!r} has no refund waiting for approval")
            for key in keys:
                if verb == "approve":
                    self.ops.approve(self._operator(step), key, step.get("note", ""))
                else:
                    self.ops.reject(self._operator(step), key, step["note"])
        elif verb == "reclassify":
            self.ops.reclassify(self._operator(step), step["raw"], step["to"],
                                step.get("platform", "*"))
        elif verb == "retry":
            rid = self.return_id(step["return"]) if step.get("return") else None
            self.ops.retry_group(self._operator(step), kind=step.get("kind"), return_id=rid)
        elif verb == "resolve":
            rid = self.return_id(step["return"]) if step.get("return") else None
            with self.db.session() as s:
                q = select(ExceptionRow.key).where(ExceptionRow.resolved_at.is_(None))
                if rid:
                    q = q.where(ExceptionRow.return_id == rid)
                if step.get("type"):
                    q = q.where(ExceptionRow.type == step["type"])
                keys = list(s.execute(q).scalars())
            if not keys:
                raise ReplayError("no open exception matches")
            for key in keys:
                self.ops.resolve(self._operator(step), key, step.get("note") or "resolved in replay")
        elif verb == "expect":
            problems = match_expected({k: step[k] for k in ("returns", "external") if k in step},
                                      self.result())
            if problems:
                raise ReplayError("expectation not met: " + "; ".join(problems))
        elif verb == "advance":
            delta = timedelta(hours=step.get("hours", 0), minutes=step.get("minutes", 0),
                              seconds=step.get("seconds", 0))
            self.scheduler.advance(delta)
        elif verb == "sync":
            self.settle()
        else:  # pragma: no cover - the scenario parser refuses unknown verbs
            raise ReplayError(f"unknown step {verb!r}")

    def settle(self) -> None:
        """Run every job now, then follow pending retries forward until nothing is left to do
        (bounded by SETTLE_LIMIT of simulated time)."""
        deadline = self.clock.now() + SETTLE_LIMIT
        while True:
            for name in ("poll_returns", "poll_warehouse", "sweep", "outbox", "stock_batch",
                         "outbox"):
                self.scheduler.run_now(name)
            with self.db.session() as s:
                nxt = s.execute(select(ActionRow.next_attempt_at).where(
                    ActionRow.status.in_(("ready", "failed", "in_flight"))).order_by(
                    ActionRow.next_attempt_at).limit(1)).scalar()
            if self.scheduler.jobs["poll_returns"].last_result:
                # The platform still had returns to hand over (a read budget per second, a
                # page limit per round): poll again once its per-second budget is back.
                soon = self.clock.now() + timedelta(seconds=1)
                nxt = soon if nxt is None else min(nxt, soon)
            if nxt is None or nxt > deadline:
                return
            if nxt > self.clock.now():
                self.scheduler.advance(nxt - self.clock.now())

    # --- the result ------------------------------------------------------------------------------
    def result(self) -> dict[str, Any]:
        by_platform_id = {pid: label for label, pid in self.labels.items()}
        returns: dict[str, Any] = {}
        id_to_label: dict[str, str] = {}
        with self.db.session() as s:
            rows = s.execute(select(ReturnRow).where(
                ReturnRow.platform == self.world.platform_name)).scalars()
            for row in sorted(rows, key=lambda r: r.return_id):
                label = by_platform_id.get(row.platform_id, row.return_id)
                id_to_label[row.return_id] = label
                holds = s.execute(select(HoldRow).where(HoldRow.return_id == row.return_id)
                                  .order_by(HoldRow.opened_at, HoldRow.key)).scalars()
                excs = s.execute(select(ExceptionRow).where(
                    ExceptionRow.return_id == row.return_id).order_by(
                    ExceptionRow.opened_at, ExceptionRow.key)).scalars()
                events = s.execute(select(TimelineEventRow.id).where(
                    TimelineEventRow.return_id == row.return_id)).all()
                returns[label] = {
                    "state": row.state,
                    "holds": [{"kind": h.kind, "open": h.decision is None,
                               **({"decision": h.decision} if h.decision else {})} for h in holds],
                    "exceptions": [{"type": x.type, "owner": x.owner,
                                    "open": x.resolved_at is None, "message": x.message}
                                   for x in excs],
                    "timeline": len(events),
                }
        for label in self.labels:
            returns.setdefault(label, {"state": "not_seen", "holds": [], "exceptions": [],
                                       "timeline": 0})
        return {
            "name": self.scenario.name,
            "returns": dict(sorted(returns.items())),
            "external": self.world.external(id_to_label),
            "requests": self.world.request_counts(),
        }

    def write_journal(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, sandbox in self.world.sandboxes().items():
            with open(folder / f"{name}.jsonl", "w", encoding="utf-8") as fh:
                for entry in sandbox.journal:
                    fh.write(json.dumps({k: entry.get(k) for k in (
                        "at", "method", "path", "query", "headers", "body", "status")},
                        sort_keys=True) + "\n")


def replay_file(scenario: Scenario, journal: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="returnline-replay-") as tmp:
        replay = Replay.build(scenario, f"sqlite:///{Path(tmp) / 'replay.db'}")
        try:
            replay.run()
            if journal is not None:
                replay.write_journal(journal)
            return replay.result()
        finally:
            replay.db.dispose()


def match_expected(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Partial match: every key given must match; lists must match as multisets (order-free),
    each expected item matching a distinct actual item partially."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {json.dumps(actual)}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            else:
                problems += match_expected(value, actual[key], f"{path}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {json.dumps(actual)}"]
        if len(expected) != len(actual):
            return [f"{path}: expected {len(expected)} item(s), got {len(actual)}: "
                    f"{json.dumps(actual, sort_keys=True)}"]
        remaining = list(actual)
        for item in expected:
            hit = next((a for a in remaining if not match_expected(item, a)), None)
            if hit is None:
                return [f"{path}: no item matches {json.dumps(item, sort_keys=True)} in "
                        f"{json.dumps(actual, sort_keys=True)}"]
            remaining.remove(hit)
        return []
    return [] if expected == actual else [f"{path}: expected {json.dumps(expected)}, "
                                          f"got {json.dumps(actual)}"]
