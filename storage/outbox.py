"""The outbox's storage side: claiming ready actions under a lease and recording outcomes.

A claim is a conditional UPDATE (only rows still claimable change), so of two workers that
race for the same action exactly one wins, on SQLite and PostgreSQL alike. On PostgreSQL the
candidates are read with FOR UPDATE SKIP LOCKED so concurrent workers take different rows
instead of queueing behind each other. A worker that dies leaves its lease to expire; the
next claimer takes the action again and, because the last attempt may have reached the
external system, marks it `outcome_unknown` so the executor looks it up before resending.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlmodel import Session

from storage.tables import ActionRow

CLAIMABLE = ("ready", "failed")


def claim_actions(
    session: Session,
    worker: str,
    now: datetime,
    *,
    limit: int = 20,
    lease: timedelta = timedelta(minutes=2),
    kinds: list[str] | None = None,
    systems: list[str] | None = None,
    exclude_kinds: list[str] | None = None,
    exclude_systems: list[str] | None = None,
) -> list[ActionRow]:
    """Take up to `limit` due actions for `worker`; returns the rows it now holds."""
    due = or_(ActionRow.next_attempt_at.is_(None), ActionRow.next_attempt_at <= now)
    claimable = or_(
        and_(ActionRow.status.in_(CLAIMABLE), due),
        and_(ActionRow.status == "in_flight", ActionRow.lease_expires_at < now),
    )
    query = select(ActionRow.key, ActionRow.status).where(claimable)
    if kinds:
        query = query.where(ActionRow.kind.in_(kinds))
    if systems:
        query = query.where(ActionRow.system.in_(systems))
    if exclude_kinds:
        query = query.where(ActionRow.kind.not_in(exclude_kinds))
    if exclude_systems:  # systems whose rate limit said "not yet" in this drain
        query = query.where(ActionRow.system.not_in(exclude_systems))
    query = query.order_by(ActionRow.next_attempt_at, ActionRow.key).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    candidates = session.execute(query).all()

    claimed: list[str] = []
    for key, status in candidates:
        values: dict[str, Any] = {
            "status": "in_flight", "lease_owner": worker,
            "lease_expires_at": now + lease, "updated_at": now,
        }
        if status == "in_flight":  # the previous holder died mid-call: its effect may exist
            values["outcome_unknown"] = True
        res = session.execute(
            update(ActionRow).where(ActionRow.key == key, claimable).values(**values))
        if res.rowcount == 1:
            claimed.append(key)
    if not claimed:
        return []
    rows = session.execute(select(ActionRow).where(ActionRow.key.in_(claimed))).scalars().all()
    return sorted(rows, key=lambda r: claimed.index(r.key))


def _held_by(key: str, worker: str):
    return and_(ActionRow.key == key, ActionRow.status == "in_flight",
                ActionRow.lease_owner == worker)


def mark_sent(session: Session, key: str, worker: str, now: datetime, *,
              batch: list[str] | None = None) -> bool:
    """Record that a request is about to leave: from here a crash means 'outcome unknown'.
    For a batched call, the keys of the whole batch are kept so a recovery can resend
    exactly that batch (whose idempotency key then makes the repeat harmless)."""
    values: dict[str, Any] = {"attempts": ActionRow.attempts + 1, "updated_at": now}
    if batch is not None:
        values["result"] = {"batch": batch}
    res = session.execute(update(ActionRow).where(_held_by(key, worker)).values(**values))
    return res.rowcount == 1


def complete_action(
    session: Session, key: str, worker: str, now: datetime, *,
    external_id: str | None, result: dict[str, Any] | None, call: dict[str, Any] | None = None,
) -> bool:
    """The effect exists in the external system. Releases actions that waited on it."""
    res = session.execute(update(ActionRow).where(_held_by(key, worker)).values(
        status="succeeded", external_id=external_id, result=result, last_call=call,
        lease_owner=None, lease_expires_at=None, outcome_unknown=False, last_error=None,
        last_error_code=None, updated_at=now))
    if res.rowcount != 1:
        return False
    release_dependents(session, key, now)
    return True


def fail_action(
    session: Session, key: str, worker: str, now: datetime, *,
    error: str, code: str | None, retry_at: datetime | None, outcome_unknown: bool,
    call: dict[str, Any] | None = None,
) -> bool:
    """A failed attempt: retry at `retry_at`, or give up (dead) when it is None."""
    res = session.execute(update(ActionRow).where(_held_by(key, worker)).values(
        status="failed" if retry_at is not None else "dead", next_attempt_at=retry_at,
        lease_owner=None, lease_expires_at=None, last_error=error, last_error_code=code,
        last_call=call, outcome_unknown=outcome_unknown, updated_at=now))
    return res.rowcount == 1


def defer_action(session: Session, key: str, worker: str, until: datetime, now: datetime, *,
                 uncount: bool = False) -> bool:
    """Give the action back unattempted (a rate limit says not yet). `uncount`: the attempt
    was counted as sent but the connector held it back before sending."""
    values: dict[str, Any] = {"status": "ready", "next_attempt_at": until, "lease_owner": None,
                              "lease_expires_at": None, "updated_at": now}
    if uncount:
        values["attempts"] = ActionRow.attempts - 1
    res = session.execute(update(ActionRow).where(_held_by(key, worker)).values(**values))
    return res.rowcount == 1


def release_dependents(session: Session, key: str, now: datetime) -> int:
    """Actions waiting on `key` become ready once all they depend on has succeeded."""
    parent = session.get(ActionRow, key)
    if parent is None:
        return 0
    waiting = session.execute(select(ActionRow).where(
        ActionRow.return_id == parent.return_id, ActionRow.status == "waiting")).scalars().all()
    released = 0
    for row in waiting:
        deps = list(row.depends_on or [])
        if key not in deps:
            continue
        done = session.execute(select(ActionRow.key).where(
            ActionRow.key.in_(deps), ActionRow.status == "succeeded")).scalars().all()
        if set(done) >= set(deps):
            session.execute(update(ActionRow).where(ActionRow.key == row.key,
                                                    ActionRow.status == "waiting")
                            .values(status="ready", next_attempt_at=now, updated_at=now))
            released += 1
    return released


def requeue(session: Session, keys: list[str], now: datetime) -> int:
    """An operator's retry: failed or dead actions become ready now, with a fresh budget."""
    if not keys:
        return 0
    res = session.execute(update(ActionRow).where(
        ActionRow.key.in_(keys), ActionRow.status.in_(("failed", "dead"))).values(
        status="ready", next_attempt_at=now, attempts=0, updated_at=now))
    return res.rowcount or 0


def next_due(session: Session, *, kinds: list[str] | None = None,
             exclude_kinds: list[str] | None = None) -> datetime | None:
    """When the next action becomes claimable (ready/failed due, or a lease running out)."""
    from sqlalchemy import func

    q = select(func.min(ActionRow.next_attempt_at)).where(ActionRow.status.in_(CLAIMABLE))
    lease = select(func.min(ActionRow.lease_expires_at)).where(ActionRow.status == "in_flight")
    if kinds:
        q, lease = q.where(ActionRow.kind.in_(kinds)), lease.where(ActionRow.kind.in_(kinds))
    if exclude_kinds:
        q = q.where(ActionRow.kind.not_in(exclude_kinds))
        lease = lease.where(ActionRow.kind.not_in(exclude_kinds))
    times = [t for t in (session.execute(q).scalar(), session.execute(lease).scalar()) if t]
    return min(times) if times else None


def release_dead_leases(session: Session, host: str, now: datetime, *,
                        alive: Callable[[int], bool]) -> int:
    """Leases held by workers of this host (named `host:pid`) whose process is gone end now,
    so a restarted engine takes their actions at once, as outcome-unknown (looked up before
    any resend), instead of waiting out the lease. Other hosts' leases are left to expire."""
    rows = session.execute(select(ActionRow.key, ActionRow.lease_owner).where(
        ActionRow.status == "in_flight", ActionRow.lease_owner.like(f"{host}:%"))).all()
    released = 0
    for key, owner in rows:
        pid = owner.rsplit(":", 1)[1]
        if pid.isdigit() and not alive(int(pid)):
            session.execute(update(ActionRow).where(
                ActionRow.key == key, ActionRow.lease_owner == owner,
                ActionRow.status == "in_flight").values(lease_expires_at=now))
            released += 1
    return released
