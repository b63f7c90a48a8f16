"""What people do: approve/reject a held refund, reclassify a reason, retry, resolve.

The console and the CLI both call these. Each one checks the operator's role first (whatever a
screen shows), writes the audit log with the operator's identity (refusals too), re-plans what
it touched in the same transaction, and wakes the executor.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from rules.mappings import normalise_reason
from storage.db import Database
from storage.outbox import requeue
from storage.tables import (
    ActionRow,
    AuditLogRow,
    ExceptionRow,
    HoldRow,
    ReasonCodeRow,
    ReasonMappingRow,
    ReturnLineRow,
)

# Which role may do what. The operations layer enforces this; screens only hide buttons.
PERMISSIONS: dict[str, frozenset[str]] = {
    "supervisor": frozenset({"approve", "reject"}),
    "engineer": frozenset({"retry", "pause", "resume", "run_job"}),
    "cx": frozenset({"reclassify", "resolve"}),
    "viewer": frozenset(),
    "admin": frozenset({"approve", "reject", "retry", "pause", "resume", "run_job",
                        "reclassify", "resolve"}),
}


class Refused(Exception):
    """The operator may not do this (role, read-only mode) or the target is not in that state."""


@dataclass(frozen=True)
class Operator:
    name: str
    role: str
    read_only: bool = False

    def may(self, operation: str) -> bool:
        return not self.read_only and operation in PERMISSIONS.get(self.role, frozenset())


def operator_from_config(config, as_user: str | None = None, read_only: bool = False) -> Operator:
    """The OS user, or `--as NAME` where [operator] allow_as permits it; role from [roles]."""
    name = getpass.getuser()
    if as_user and as_user != name:
        if not config.get("operator.allow_as", False):
            raise Refused("--as is not allowed by this config ([operator] allow_as = false)")
        name = as_user
    role = config.section("roles").get(name) or config.get("operator.default_role", "viewer")
    return Operator(name, role, read_only or bool(config.get("console.read_only", False)))


Replan = Callable[[Session, Iterable[str], datetime], Any]


class Operations:
    def __init__(self, db: Database, now: Callable[[], datetime], replan: Replan,
                 wake: Callable[[], None] | None = None,
                 mappings_changed: Callable[[], None] | None = None) -> None:
        self.db = db
        self.now = now
        self.replan = replan
        self.wake = wake or (lambda: None)
        self.mappings_changed = mappings_changed or (lambda: None)

    # --- the audit trail ------------------------------------------------------------------
    def _audit(self, s: Session, op: Operator, operation: str, target: str, *, allowed: bool,
               before: dict | None = None, after: dict | None = None, note: str | None = None):
        s.add(AuditLogRow(at=self.now(), actor=op.name, role=op.role, operation=operation,
                          target=target, allowed=allowed, before=before, after=after, note=note))

    def _check(self, op: Operator, operation: str, target: str) -> None:
        if op.may(operation):
            return
        why = "read-only mode" if op.read_only else f"role {op.role!r} may not {operation}"
        with self.db.session() as s:
            self._audit(s, op, operation, target, allowed=False, note=f"refused: {why}")
        raise Refused(f"{op.name}: {why}")

    # --- held refunds ---------------------------------------------------------------------
    def decide_hold(self, op: Operator, hold_key: str, decision: str, note: str = "") -> HoldRow:
        operation = "approve" if decision == "approved" else "reject"
        self._check(op, operation, hold_key)
        if decision == "rejected" and not note.strip():
            raise Refused("a rejection needs a note saying why")
        now = self.now()
        with self.db.session() as s:
            hold = s.get(HoldRow, hold_key)
            if hold is None:
                raise Refused(f"no hold {hold_key!r}")
            if hold.decision is not None:
                raise Refused(f"hold {hold_key} was already {hold.decision} by {hold.decided_by}")
            before = {"decision": None}
            hold.decision, hold.decided_at, hold.decided_by = decision, now, op.name
            hold.note = note or None
            self._audit(s, op, operation, hold_key, allowed=True, before=before,
                        after={"decision": decision, "return": hold.return_id}, note=note or None)
            s.flush()
            self.replan(s, [hold.return_id], now)
        self.wake()
        return hold

    def approve(self, op: Operator, hold_key: str, note: str = "") -> HoldRow:
        return self.decide_hold(op, hold_key, "approved", note)

    def reject(self, op: Operator, hold_key: str, note: str) -> HoldRow:
        return self.decide_hold(op, hold_key, "rejected", note)

    def bulk_approve(self, op: Operator, hold_keys: list[str], note: str = "") -> list[HoldRow]:
        return [self.approve(op, key, note) for key in hold_keys]

    # --- reason codes -----------------------------------------------------------------------
    def reclassify(self, op: Operator, raw: str, code: str, platform: str = "*") -> int:
        """Teach the mapping raw -> code; re-plan every return waiting on it. Returns how many
        returns had an open unknown_reason exception closed by it."""
        self._check(op, "reclassify", raw)
        now = self.now()
        norm = normalise_reason(raw)
        with self.db.session() as s:
            if s.get(ReasonCodeRow, code) is None:
                raise Refused(f"{code!r} is not a master reason code")
            existing = s.get(ReasonMappingRow, (platform, norm))
            before = {"code": existing.code} if existing else None
            if existing:
                existing.code, existing.created_by, existing.created_at = code, op.name, now
            else:
                s.add(ReasonMappingRow(platform=platform, raw=norm, code=code,
                                       created_by=op.name, created_at=now))
            s.flush()
            self.mappings_changed()
            waiting = self.returns_waiting_on_reason(s, norm)
            open_before = self._open_unknown_reason(s, waiting)
            self._audit(s, op, "reclassify", raw, allowed=True, before=before,
                        after={"code": code, "platform": platform, "returns": len(waiting)})
            s.flush()
            self.replan(s, waiting, now)
            released = open_before - self._open_unknown_reason(s, waiting)
        self.wake()
        return released

    @staticmethod
    def returns_waiting_on_reason(s: Session, norm: str) -> list[str]:
        rows = s.execute(select(ReturnLineRow.return_id, ReturnLineRow.raw_reason).where(
            ReturnLineRow.reason_code.is_(None))).all()
        return sorted({rid for rid, raw in rows if normalise_reason(raw) == norm})

    @staticmethod
    def _open_unknown_reason(s: Session, return_ids: list[str]) -> int:
        if not return_ids:
            return 0
        return s.execute(select(func.count()).select_from(ExceptionRow).where(
            ExceptionRow.return_id.in_(return_ids), ExceptionRow.type == "unknown_reason",
            ExceptionRow.resolved_at.is_(None))).scalar_one()

    # --- failed actions ---------------------------------------------------------------------
    def retry(self, op: Operator, action_keys: list[str]) -> int:
        target = ",".join(action_keys[:5]) + ("..." if len(action_keys) > 5 else "")
        self._check(op, "retry", target)
        now = self.now()
        with self.db.session() as s:
            count = requeue(s, action_keys, now)
            self._audit(s, op, "retry", target, allowed=True, after={"requeued": count})
        self.wake()
        return count

    def retry_group(self, op: Operator, *, kind: str | None = None, system: str | None = None,
                    error_code: str | None = None, return_id: str | None = None) -> int:
        with self.db.session() as s:
            query = select(ActionRow.key).where(ActionRow.status.in_(("failed", "dead")))
            if kind:
                query = query.where(ActionRow.kind == kind)
            if system:
                query = query.where(ActionRow.system == system)
            if error_code:
                query = query.where(ActionRow.last_error_code == error_code)
            if return_id:
                query = query.where(ActionRow.return_id == return_id)
            keys = list(s.execute(query).scalars())
        if not keys:
            self._check(op, "retry", f"group kind={kind} system={system}")
            return 0
        return self.retry(op, keys)

    # --- jobs (pause / resume / run now) --------------------------------------------------
    def control_job(self, op: Operator, scheduler: Any, job: str, what: str) -> None:
        """Pause, resume or run a scheduler job now (engineers), audited like the rest."""
        if what not in ("pause", "resume", "run_job"):
            raise Refused(f"unknown job control {what!r}")
        self._check(op, what, job)
        if job not in scheduler.jobs:
            raise Refused(f"no job named {job!r}")
        {"pause": scheduler.pause, "resume": scheduler.resume, "run_job": scheduler.run_now}[
            what](job)
        with self.db.session() as s:
            self._audit(s, op, what, job, allowed=True)

    # --- exceptions -------------------------------------------------------------------------
    def resolve(self, op: Operator, exception_key: str, note: str) -> ExceptionRow:
        self._check(op, "resolve", exception_key)
        if not note.strip():
            raise Refused("resolving needs a note saying what was done")
        now = self.now()
        with self.db.session() as s:
            exc = s.get(ExceptionRow, exception_key)
            if exc is None:
                raise Refused(f"no exception {exception_key!r}")
            if exc.resolved_at is not None:
                raise Refused(f"{exception_key} was already resolved by {exc.resolved_by}")
            exc.resolved_at, exc.resolved_by, exc.resolution = now, op.name, note
            self._audit(s, op, "resolve", exception_key, allowed=True,
                        before={"resolved": False}, after={"resolved": True, "type": exc.type},
                        note=note)
            s.flush()
            self.replan(s, [exc.return_id], now)
        self.wake()
        return exc
