"""The ledger transaction: what was observed, what was decided and what must happen, together.

`record()` stores, in the caller's one transaction: return facts, timeline events, planned
actions, holds, exceptions opened/closed and advanced cursors. Every insert is keyed
(event source key, action idempotency key, hold key, exception key), so recording the same
observation twice changes nothing: that is what makes a replayed page or a retried webhook safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlmodel import Session

from storage.bulk import insert_ignore, update_by_key, upsert
from storage.tables import (
    ActionRow,
    ExceptionRow,
    HoldRow,
    ReturnLineRow,
    ReturnRow,
    SyncCursorRow,
    TimelineEventRow,
)


@dataclass
class EventDraft:
    source_key: str  # e.g. "rebound:R-123:v7" or a hash of the payload: same input, same key
    return_id: str
    at: datetime
    system: str
    kind: str
    summary: str
    data: dict[str, Any] | None = None


@dataclass
class ActionDraft:
    key: str
    return_id: str
    kind: str
    system: str
    payload: dict[str, Any]
    depends_on: list[str] = field(default_factory=list)
    batchable: bool = False
    ready_at: datetime | None = None  # None: as soon as its dependencies have succeeded


@dataclass
class HoldDraft:
    key: str
    return_id: str
    kind: str
    reason: str
    amount_minor: int | None = None
    currency: str | None = None


@dataclass
class ExceptionDraft:
    key: str
    return_id: str
    type: str
    owner: str
    message: str
    due_at: datetime | None = None


@dataclass
class LineFacts:
    line_id: str
    sku: str
    qty: int
    raw_reason: str = ""
    reason_code: str | None = None
    resolution: str = "refund"
    exchange_sku: str | None = None
    condition: str | None = None
    disposition: str | None = None


@dataclass
class ReturnFacts:
    """The columns of one return as the engine now knows them (upserted whole)."""

    return_id: str
    platform: str
    platform_id: str
    order_ref: str
    requested_at: datetime
    state: str
    platform_status: str
    lines: list[LineFacts]
    facts: dict[str, Any] | None = None
    facts_hash: str | None = None
    rma: str | None = None
    customer_email: str | None = None
    store: str | None = None
    currency: str | None = None
    money_mover: str = "returnline"
    value_minor: int = 0
    graded_at: datetime | None = None
    closed_at: datetime | None = None
    order_first_sought_at: datetime | None = None
    label: str | None = None


@dataclass
class LedgerEntry:
    now: datetime
    returns: list[ReturnFacts] = field(default_factory=list)
    events: list[EventDraft] = field(default_factory=list)
    actions: list[ActionDraft] = field(default_factory=list)
    holds_open: list[HoldDraft] = field(default_factory=list)
    holds_release: dict[str, str] = field(default_factory=dict)  # key -> why
    exceptions_open: list[ExceptionDraft] = field(default_factory=list)
    exceptions_close: dict[str, str] = field(default_factory=dict)  # key -> why
    cursors: dict[str, str | None] = field(default_factory=dict)
    # Returns an outcome was recorded for and that are re-planned after this transaction:
    # made due now (wake_at), so a crash before that re-plan leaves them to the sweep.
    replan_due: set[str] = field(default_factory=set)


@dataclass
class RecordResult:
    events_added: int = 0
    actions_added: int = 0
    holds_opened: int = 0
    holds_released: int = 0
    exceptions_opened: int = 0
    exceptions_closed: int = 0

    @property
    def changed(self) -> bool:
        return any(vars(self).values())


def _return_row(facts: ReturnFacts, now: datetime) -> dict[str, Any]:
    row = {k: v for k, v in vars(facts).items() if k != "lines"}
    row["updated_at"] = now
    return row


def record(session: Session, entry: LedgerEntry) -> RecordResult:
    """Store one ledger entry inside the caller's transaction. Idempotent by key."""
    result = RecordResult()
    now = entry.now

    upsert(session, ReturnRow, [_return_row(f, now) for f in entry.returns], ["return_id"])
    upsert(session, ReturnLineRow, [{"return_id": f.return_id, **vars(line)}
                                    for f in entry.returns for line in f.lines],
           ["return_id", "line_id"])

    result.events_added = insert_ignore(session, TimelineEventRow,
                                        [vars(e) for e in entry.events], ["source_key"])

    action_rows = []
    if entry.actions:
        done = _succeeded_keys(session, {d for a in entry.actions for d in a.depends_on})
        for a in entry.actions:
            waiting = any(d not in done for d in a.depends_on)
            action_rows.append({
                "key": a.key, "return_id": a.return_id, "kind": a.kind, "system": a.system,
                "payload": a.payload, "depends_on": a.depends_on, "batchable": a.batchable,
                "status": "waiting" if waiting else "ready",
                "next_attempt_at": a.ready_at or now, "attempts": 0, "outcome_unknown": False,
                "created_at": now, "updated_at": now,
            })
    result.actions_added = insert_ignore(session, ActionRow, action_rows, ["key"])

    result.holds_opened = insert_ignore(session, HoldRow, [
        {**vars(h), "opened_at": now} for h in entry.holds_open], ["key"])
    result.holds_released = update_by_key(session, HoldRow, [
        {"key": key, "decision": "released", "decided_at": now, "decided_by": "returnline",
         "note": why} for key, why in entry.holds_release.items()],
        ["key"], where=HoldRow.decision.is_(None), tag="open")

    result.exceptions_opened = insert_ignore(session, ExceptionRow, [
        {**vars(x), "opened_at": now} for x in entry.exceptions_open], ["key"])
    result.exceptions_closed = update_by_key(session, ExceptionRow, [
        {"key": key, "resolved_at": now, "resolution": f"auto: {why}",
         "resolved_by": "returnline"} for key, why in entry.exceptions_close.items()],
        ["key"], where=ExceptionRow.resolved_at.is_(None), tag="open")

    upsert(session, SyncCursorRow, [{"source": source, "cursor": cursor, "updated_at": now}
                                    for source, cursor in entry.cursors.items()], ["source"])
    if entry.replan_due:
        session.execute(update(ReturnRow).where(
            ReturnRow.return_id.in_(sorted(entry.replan_due)),
            or_(ReturnRow.wake_at.is_(None), ReturnRow.wake_at > now)).values(wake_at=now))
    return result


def _succeeded_keys(session: Session, keys: set[str]) -> set[str]:
    if not keys:
        return set()
    rows = session.execute(
        select(ActionRow.key).where(ActionRow.key.in_(keys), ActionRow.status == "succeeded"))
    return {r[0] for r in rows}


def get_cursor(session: Session, source: str) -> str | None:
    row = session.get(SyncCursorRow, source)
    return row.cursor if row else None
