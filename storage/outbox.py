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

from sqlalchemy import and_, bindparam, case, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session

from storage.tables import ActionRow

CLAIMABLE = ("ready", "failed")

# The per-action updates are Core statements built once: an ORM update() built per call
# spent more in coercion and cache keys than SQLite spent running it.
_T = ActionRow.__table__
_C = _T.c


def _claimable(now):
    due = or_(ActionRow.next_attempt_at.is_(None), ActionRow.next_attempt_at <= now)
    return or_(
        and_(ActionRow.status.in_(CLAIMABLE), due),
        and_(ActionRow.status == "in_flight", ActionRow.lease_expires_at < now),
    )


_CLAIM = update(_T).where(_C.key.in_(bindparam("b_keys", expanding=True)),
                          _claimable(bindparam("b_now"))).values(
    status="in_flight", lease_owner=bindparam("b_worker"),
    lease_expires_at=bindparam("b_expires"), updated_at=bindparam("b_now"),
    # the previous holder died mid-call: its effect may exist
    outcome_unknown=case((_C.status == "in_flight", True), else_=_C.outcome_unknown),
).returning(_C.key)


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
    query = select(ActionRow.key).where(_claimable(now))
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
    candidates = list(session.execute(query).scalars())
    if not candidates:
        return []
    # One conditional UPDATE: only rows still claimable change, RETURNING says which.
    taken = set(session.execute(_CLAIM, {"b_keys": candidates, "b_now": now, "b_worker": worker,
                                         "b_expires": now + lease}).scalars())
    if not taken:
        return []
    rows = session.execute(select(ActionRow).where(ActionRow.key.in_(taken))
                           .execution_options(populate_existing=True)).scalars().all()
    order = {key: i for i, key in enumerate(candidates)}
    return sorted(rows, key=lambda r: order[r.key])


_HELD = and_(_C.key == bindparam("b_key"), _C.status == "in_flight",
             _C.lease_owner == bindparam("b_worker"))


def _held_update(**values: Any):
    return update(_T).where(_HELD).values(**values)


def _param(name: str):
    return bindparam(f"b_{name}", type_=_C[name].type)


def _sync(session: Session, key: str, values: dict[str, Any], attempts: int = 0) -> None:
    """Core updates pass the ORM by: keep a copy of the row this session holds in step."""
    held = session.identity_map.get(identity_key(ActionRow, (key,)))
    if held is None:
        return
    for name, value in values.items():
        set_committed_value(held, name, value)
    if attempts:
        set_committed_value(held, "attempts", held.attempts + attempts)


_MARK_SENT = _held_update(attempts=_C.attempts + 1, updated_at=_param("updated_at"))
_MARK_SENT_BATCH = _held_update(attempts=_C.attempts + 1, updated_at=_param("updated_at"),
                                result=_param("result"))


def mark_sent(session: Session, key: str, worker: str, now: datetime, *,
              batch: list[str] | None = None) -> bool:
    """Record that a request is about to leave: from here a crash means 'outcome unknown'.
    For a batched call, the keys of the whole batch are kept so a recovery can resend
    exactly that batch (whose idempotency key then makes the repeat harmless)."""
    values: dict[str, Any] = {"updated_at": now}
    if batch is not None:
        values["result"] = {"batch": batch}
    stmt = _MARK_SENT if batch is None else _MARK_SENT_BATCH
    res = session.execute(stmt, {"b_key": key, "b_worker": worker,
                                 **{f"b_{k}": v for k, v in values.items()}})
    if res.rowcount != 1:
        return False
    _sync(session, key, values, attempts=1)
    return True


_COMPLETE = _held_update(
    status="succeeded", external_id=_param("external_id"), result=_param("result"),
    last_call=_param("last_call"), lease_owner=None, lease_expires_at=None,
    outcome_unknown=False, last_error=None, last_error_code=None,
    updated_at=_param("updated_at")).returning(_C.return_id)


def complete_action(
    session: Session, key: str, worker: str, now: datetime, *,
    external_id: str | None, result: dict[str, Any] | None, call: dict[str, Any] | None = None,
) -> bool:
    """The effect exists in the external system. Releases actions that waited on it."""
    return_id = session.execute(_COMPLETE, {
        "b_key": key, "b_worker": worker, "b_external_id": external_id, "b_result": result,
        "b_last_call": call, "b_updated_at": now}).scalar()
    if return_id is None:
        return False
    _sync(session, key, {"status": "succeeded", "external_id": external_id, "result": result,
                         "last_call": call, "lease_owner": None, "lease_expires_at": None,
                         "outcome_unknown": False, "last_error": None,
                         "last_error_code": None, "updated_at": now})
    _release(session, key, return_id, now)
    return True


_FAIL = _held_update(
    status=_param("status"), next_attempt_at=_param("next_attempt_at"), lease_owner=None,
    lease_expires_at=None, last_error=_param("last_error"),
    last_error_code=_param("last_error_code"), last_call=_param("last_call"),
    outcome_unknown=_param("outcome_unknown"), updated_at=_param("updated_at"))


def fail_action(
    session: Session, key: str, worker: str, now: datetime, *,
    error: str, code: str | None, retry_at: datetime | None, outcome_unknown: bool,
    call: dict[str, Any] | None = None,
) -> bool:
    """A failed attempt: retry at `retry_at`, or give up (dead) when it is None."""
    values = {"status": "failed" if retry_at is not None else "dead",
              "next_attempt_at": retry_at, "last_error": error, "last_error_code": code,
              "last_call": call, "outcome_unknown": outcome_unknown, "updated_at": now}
    res = session.execute(_FAIL, {"b_key": key, "b_worker": worker,
                                  **{f"b_{k}": v for k, v in values.items()}})
    if res.rowcount != 1:
        return False
    _sync(session, key, {**values, "lease_owner": None, "lease_expires_at": None})
    return True


_DEFER = {uncount: _held_update(
    status="ready", next_attempt_at=_param("next_attempt_at"), lease_owner=None,
    lease_expires_at=None, updated_at=_param("updated_at"),
    **({"attempts": _C.attempts - 1} if uncount else {})) for uncount in (False, True)}


def defer_action(session: Session, key: str, worker: str, until: datetime, now: datetime, *,
                 uncount: bool = False) -> bool:
    """Give the action back unattempted (a rate limit says not yet). `uncount`: the attempt
    was counted as sent but the connector held it back before sending."""
    res = session.execute(_DEFER[uncount], {"b_key": key, "b_worker": worker,
                                            "b_next_attempt_at": until, "b_updated_at": now})
    if res.rowcount != 1:
        return False
    _sync(session, key, {"status": "ready", "next_attempt_at": until, "lease_owner": None,
                         "lease_expires_at": None, "updated_at": now},
          attempts=-1 if uncount else 0)
    return True


_RELEASE = update(_T).where(_C.key == bindparam("b_key"), _C.status == "waiting").values(
    status="ready", next_attempt_at=_param("next_attempt_at"), updated_at=_param("updated_at"))


def release_dependents(session: Session, key: str, now: datetime) -> int:
    """Actions waiting on `key` become ready once all they depend on has succeeded."""
    return_id = session.execute(select(_C.return_id).where(_C.key == key)).scalar()
    return 0 if return_id is None else _release(session, key, return_id, now)


def _release(session: Session, key: str, return_id: str, now: datetime) -> int:
    waiting = [(k, list(deps)) for k, deps in session.execute(
        select(_C.key, _C.depends_on).where(_C.return_id == return_id, _C.status == "waiting"))
        if deps and key in deps]
    if not waiting:
        return 0
    wanted = {d for _, deps in waiting for d in deps}
    done = set(session.execute(select(_C.key).where(
        _C.key.in_(wanted), _C.status == "succeeded")).scalars())
    released = 0
    for k, deps in waiting:
        if done >= set(deps):
            res = session.execute(_RELEASE, {"b_key": k, "b_next_attempt_at": now,
                                             "b_updated_at": now})
            if res.rowcount == 1:
                _sync(session, k, {"status": "ready", "next_attempt_at": now, "updated_at": now})
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
