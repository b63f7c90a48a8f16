"""The questions people ask, as indexed, keyset-paged queries (never "load every row").

Pages are ordered by a unique key and continue "after" the last row seen, so jumping deep into
a million returns costs the same as the first page.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, desc, func, or_, select
from sqlmodel import Session

from rules.mappings import normalise_reason
from storage.tables import (
    ActionRow,
    AuditLogRow,
    ConnectorHealthRow,
    ExceptionRow,
    HoldRow,
    ReturnLineRow,
    ReturnRow,
    SyncCursorRow,
    TimelineEventRow,
)

OPEN_STATES_ORDER = ("awaiting_approval", "blocked", "awaiting_order", "graded", "refunding",
                     "received", "in_transit", "requested", "refunded", "closed", "rejected",
                     "cancelled")


@dataclass
class Page:
    rows: list[Any]
    next_after: Any | None  # pass back as `after` for the next page; None: last page


def returns_page(s: Session, *, after: tuple[datetime, str] | None = None, limit: int = 50,
                 state: str | None = None, newest_first: bool = True) -> Page:
    """Returns by last update (newest first), optionally one state; keyset on (updated_at, id)."""
    q = select(ReturnRow)
    if state:
        q = q.where(ReturnRow.state == state)
    if after is not None:
        # The plain bound on updated_at lets the index range start at the anchor; the OR alone
        # would make SQLite walk from the top of the index (a million rows at the far end).
        at, rid = after
        if newest_first:
            q = q.where(ReturnRow.updated_at <= at,
                        or_(ReturnRow.updated_at < at, ReturnRow.return_id < rid))
        else:
            q = q.where(ReturnRow.updated_at >= at,
                        or_(ReturnRow.updated_at > at, ReturnRow.return_id > rid))
    order = (desc(ReturnRow.updated_at), desc(ReturnRow.return_id)) if newest_first else \
        (ReturnRow.updated_at, ReturnRow.return_id)
    rows = list(s.execute(q.order_by(*order).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, (rows[-1].updated_at, rows[-1].return_id) if more and rows else None)


def last_returns_page(s: Session, *, limit: int = 50, state: str | None = None) -> list[ReturnRow]:
    """The end of the list (oldest), read backwards through the same index: no OFFSET scan."""
    page = returns_page(s, limit=limit, state=state, newest_first=False)
    return list(reversed(page.rows))


def search_returns(s: Session, text: str, limit: int = 50) -> list[ReturnRow]:
    """One box for return id, platform RMA/id, order number, customer email or SKU.

    Each branch is an exact match on an indexed column, asked on its own (one OR across them
    lets SQLite walk every return by date instead), so it stays fast at a million returns.
    """
    term = text.strip()
    if not term:
        return []
    order_term = term.lstrip("#")
    conditions = [
        ReturnRow.return_id == term,
        ReturnRow.rma == term,
        ReturnRow.platform_id == term,
        ReturnRow.order_ref == order_term,
        ReturnRow.label == term,
    ]
    if "@" in term:
        conditions.append(ReturnRow.customer_email == term.lower())
    ids: set[str] = set()
    for condition in conditions:
        ids.update(s.execute(select(ReturnRow.return_id).where(condition).limit(limit)).scalars())
    ids.update(s.execute(select(ReturnLineRow.return_id).where(ReturnLineRow.sku == term.upper())
                         .order_by(desc(ReturnLineRow.id)).limit(limit)).scalars())
    if not ids:
        return []
    q = select(ReturnRow).where(ReturnRow.return_id.in_(sorted(ids))) \
        .order_by(desc(ReturnRow.updated_at)).limit(limit)
    return list(s.execute(q).scalars())


def return_lines(s: Session, return_id: str) -> list[ReturnLineRow]:
    return list(s.execute(select(ReturnLineRow).where(ReturnLineRow.return_id == return_id)
                          .order_by(ReturnLineRow.line_id)).scalars())


def timeline(s: Session, return_id: str, limit: int = 500) -> list[TimelineEventRow]:
    return list(s.execute(select(TimelineEventRow).where(TimelineEventRow.return_id == return_id)
                          .order_by(TimelineEventRow.at, TimelineEventRow.id).limit(limit))
                .scalars())


def open_holds(s: Session, *, kind: str | None = "refund_approval", after: tuple | None = None,
               limit: int = 100) -> list[tuple[HoldRow, ReturnRow]]:
    """Held refunds, longest waiting first."""
    q = select(HoldRow, ReturnRow).join(ReturnRow, ReturnRow.return_id == HoldRow.return_id) \
        .where(HoldRow.decision.is_(None))
    if kind:
        q = q.where(HoldRow.kind == kind)
    if after is not None:
        at, key = after
        q = q.where(or_(HoldRow.opened_at > at, and_(HoldRow.opened_at == at, HoldRow.key > key)))
    return [tuple(r) for r in s.execute(q.order_by(HoldRow.opened_at, HoldRow.key).limit(limit))]


def open_exceptions(s: Session, *, owner: str | None = None, type_: str | None = None,
                    limit: int = 200) -> list[ExceptionRow]:
    """Open exceptions, SLA breaches first, then oldest first."""
    q = select(ExceptionRow).where(ExceptionRow.resolved_at.is_(None))
    if owner:
        q = q.where(ExceptionRow.owner == owner)
    if type_:
        q = q.where(ExceptionRow.type == type_)
    sla_first = (ExceptionRow.type != "sla_breach")
    return list(s.execute(q.order_by(sla_first, ExceptionRow.opened_at, ExceptionRow.key)
                          .limit(limit)).scalars())


def exception_counts_by_owner(s: Session) -> dict[str, int]:
    rows = s.execute(select(ExceptionRow.owner, func.count()).where(
        ExceptionRow.resolved_at.is_(None)).group_by(ExceptionRow.owner))
    return {owner: n for owner, n in rows}


@dataclass
class ReasonGroup:
    raw: str
    count: int
    examples: list[str]  # return ids


def unknown_reason_groups(s: Session, limit: int = 200) -> list[ReasonGroup]:
    rows = s.execute(select(ReturnLineRow.raw_reason, ReturnLineRow.return_id).join(
        ExceptionRow, and_(ExceptionRow.return_id == ReturnLineRow.return_id,
                           ExceptionRow.type == "unknown_reason",
                           ExceptionRow.resolved_at.is_(None)))
        .where(ReturnLineRow.reason_code.is_(None))).all()
    groups: dict[str, ReasonGroup] = {}
    for raw, rid in rows:
        key = normalise_reason(raw)
        group = groups.setdefault(key, ReasonGroup(raw, 0, []))
        if rid not in group.examples:
            group.count += 1
            if len(group.examples) < 5:
                group.examples.append(rid)
    return sorted(groups.values(), key=lambda g: (-g.count, g.raw))[:limit]


@dataclass
class FailureGroup:
    system: str
    kind: str
    error_code: str
    count: int
    sample_error: str
    keys: list[str]


def failure_groups(s: Session, limit: int = 100) -> list[FailureGroup]:
    """Failed and dead actions grouped by system, operation and error."""
    rows = s.execute(select(ActionRow.system, ActionRow.kind, ActionRow.last_error_code,
                            func.count(), func.min(ActionRow.last_error)).where(
        ActionRow.status.in_(("failed", "dead"))).group_by(
        ActionRow.system, ActionRow.kind, ActionRow.last_error_code)
        .order_by(desc(func.count())).limit(limit)).all()
    groups = []
    for system, kind, code, count, sample in rows:
        keys = list(s.execute(select(ActionRow.key).where(
            ActionRow.status.in_(("failed", "dead")), ActionRow.system == system,
            ActionRow.kind == kind, ActionRow.last_error_code == code).limit(1000)).scalars())
        groups.append(FailureGroup(system, kind, code or "", count, sample or "", keys))
    return groups


def failed_actions(s: Session, limit: int = 200) -> list[ActionRow]:
    return list(s.execute(select(ActionRow).where(ActionRow.status.in_(("failed", "dead")))
                          .order_by(desc(ActionRow.updated_at)).limit(limit)).scalars())


def queue_counts(s: Session, now: datetime) -> dict[str, int]:
    """The home view's numbers."""
    held = s.execute(select(func.count()).select_from(HoldRow).where(
        HoldRow.decision.is_(None), HoldRow.kind == "refund_approval")).scalar_one()
    unknown = s.execute(select(func.count()).select_from(ExceptionRow).where(
        ExceptionRow.type == "unknown_reason", ExceptionRow.resolved_at.is_(None))).scalar_one()
    failed = s.execute(select(func.count()).select_from(ActionRow).where(
        ActionRow.status.in_(("failed", "dead")))).scalar_one()
    exceptions = s.execute(select(func.count()).select_from(ExceptionRow).where(
        ExceptionRow.resolved_at.is_(None))).scalar_one()
    sla = s.execute(select(func.count()).select_from(ExceptionRow).where(
        ExceptionRow.type == "sla_breach", ExceptionRow.resolved_at.is_(None))).scalar_one()
    pending = s.execute(select(func.count()).select_from(ActionRow).where(
        ActionRow.status.in_(("ready", "in_flight", "waiting")))).scalar_one()
    return {"held_refunds": held, "unknown_reasons": unknown, "failed_actions": failed,
            "open_exceptions": exceptions, "sla_breaches": sla, "pending_actions": pending}


def state_counts(s: Session) -> dict[str, int]:
    rows = s.execute(select(ReturnRow.state, func.count()).group_by(ReturnRow.state))
    counts = {state: n for state, n in rows}
    return {state: counts.get(state, 0) for state in OPEN_STATES_ORDER if state in counts}


def returns_per_day(s: Session, now: datetime, days: int = 14) -> list[int]:
    since = now - timedelta(days=days)
    rows = s.execute(select(ReturnRow.requested_at).where(ReturnRow.requested_at >= since)).scalars()
    per_day = Counter((now.date() - at.date()).days for at in rows)
    return [per_day.get(d, 0) for d in range(days - 1, -1, -1)]


def top_reasons(s: Session, limit: int = 5) -> list[tuple[str, int]]:
    # Grouped on the bare column so SQLite counts along its index (no sort of every line).
    rows = s.execute(select(ReturnLineRow.reason_code, func.count())
                     .group_by(ReturnLineRow.reason_code))
    counts = sorted(((code or "(unmapped)", n) for code, n in rows), key=lambda r: (-r[1], r[0]))
    return counts[:limit]


def audit_page(s: Session, *, before_id: int | None = None, limit: int = 100) -> list[AuditLogRow]:
    q = select(AuditLogRow)
    if before_id is not None:
        q = q.where(AuditLogRow.id < before_id)
    return list(s.execute(q.order_by(desc(AuditLogRow.id)).limit(limit)).scalars())


def connector_health(s: Session) -> list[ConnectorHealthRow]:
    return list(s.execute(select(ConnectorHealthRow).order_by(ConnectorHealthRow.system)).scalars())


def cursors(s: Session) -> dict[str, SyncCursorRow]:
    return {r.source: r for r in s.execute(select(SyncCursorRow)).scalars()}


def action_depths(s: Session) -> dict[str, int]:
    rows = s.execute(select(ActionRow.system, func.count()).where(
        ActionRow.status.in_(("ready", "waiting", "in_flight", "failed"))).group_by(ActionRow.system))
    return {system: n for system, n in rows}
