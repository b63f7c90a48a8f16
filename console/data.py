"""What each screen shows, read in a worker thread and handed to the UI as plain data.

Every function opens its own session (one unit of work per load), uses bounded, indexed
queries, and returns dataclasses or tuples: ORM rows never reach the UI thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from console.format import money
from storage import console_queries as cq
from storage import queries as q
from storage.db import Database

PAGE_SIZE = 50
STATS_SECONDS = 60.0  # how long a whole-table count or aggregate is reused
CHEAP_SECONDS = 0.05  # an aggregate quicker than this is worked out afresh each refresh

T = TypeVar("T")
_cache_lock = threading.Lock()


def _cache_of(db: Database) -> dict[str, tuple[float, Any]]:
    with _cache_lock:
        cache = db.__dict__.get("_console_cache")
        if cache is None:
            cache = db.__dict__["_console_cache"] = {}
        return cache


def forget(db: Database) -> None:
    """Drop the cached counts: after an operator's action, or on `r`."""
    cache = _cache_of(db)
    with _cache_lock:
        cache.clear()


def cached(db: Database, key: str, compute: Callable[[], T] | None = None,
           seconds: float = STATS_SECONDS) -> T | None:
    """A whole-table count or aggregate (a scan of a million rows) is computed at most once a
    minute per database, never on a screen's first paint: without `compute` this only
    answers what is cached and still fresh (None otherwise)."""
    cache = _cache_of(db)
    with _cache_lock:
        hit = cache.get(key)
    # Only what was slow to work out is kept: a small store's figures follow every refresh.
    if hit is not None and hit[2] >= CHEAP_SECONDS and time.monotonic() - hit[0] < seconds:
        return hit[1]
    if compute is None:
        return None
    started = time.monotonic()
    value = compute()
    with _cache_lock:
        cache[key] = (time.monotonic(), value, time.monotonic() - started)
    return value


# --- returns ----------------------------------------------------------------------------------
@dataclass
class ReturnItem:
    return_id: str
    rma: str
    order: str
    email: str
    state: str
    value: str
    updated_at: datetime
    requested_at: datetime


def _item(r: Any, currencies: dict[str, str] | None = None) -> ReturnItem:
    currency = r.currency or (currencies or {}).get(r.order_ref)
    return ReturnItem(r.return_id, r.rma or r.platform_id, r.order_ref, r.customer_email or "",
                      r.state, money(r.value_minor, currency), r.updated_at, r.requested_at)


def _items(s: Any, rows: list[Any]) -> list[ReturnItem]:
    """Rows to items; the currency comes from the order snapshot where the row has none."""
    currencies = cq.order_currencies(s, [r.order_ref for r in rows if not r.currency])
    return [_item(r, currencies) for r in rows]


def grades(r: Any) -> dict[str, str]:
    """Condition per SKU: the warehouse's grading, else the platform's inspection."""
    out: dict[str, str] = {}
    for line in (r.facts or {}).get("lines") or []:
        for g in line.get("gradings") or []:
            if g.get("condition"):
                out[line.get("sku", "")] = g["condition"]
    for g in r.warehouse_gradings or []:
        cond = (g.get("grading") or {}).get("condition")
        if cond:
            out[g.get("sku", "")] = cond
    return out


@dataclass
class ReturnsPage:
    items: list[ReturnItem]
    total: int | None  # None until counted (see count_returns): never on first paint
    has_newer: bool
    has_older: bool
    state: str | None


def _key(item: ReturnItem) -> tuple[datetime, str]:
    return (item.updated_at, item.return_id)


def returns_page(db: Database, *, where: str = "first", anchor: tuple | None = None,
                 state: str | None = None, limit: int = PAGE_SIZE) -> ReturnsPage:
    """One page by keyset: first, last (the oldest end), older/newer than an anchor row."""
    with db.reader() as s:
        if where == "last":
            rows = q.last_returns_page(s, limit=limit, state=state)
        elif where == "newer" and anchor is not None:
            page = q.returns_page(s, after=anchor, limit=limit, state=state, newest_first=False)
            rows = list(reversed(page.rows))
        elif where == "older" and anchor is not None:
            rows = q.returns_page(s, after=anchor, limit=limit, state=state).rows
        else:
            rows = q.returns_page(s, limit=limit, state=state).rows
        items = _items(s, rows)
        has_newer = has_older = False
        if items:
            has_newer = bool(q.returns_page(s, after=_key(items[0]), limit=1, state=state,
                                            newest_first=False).rows)
            has_older = bool(q.returns_page(s, after=_key(items[-1]), limit=1,
                                            state=state).rows)
    return ReturnsPage(items, cached(db, f"returns:{state}"), has_newer, has_older, state)


def count_returns(db: Database, state: str | None) -> int:
    """How many returns (of one state): cached for a minute, counted in a worker after the
    page has shown."""
    def count() -> int:
        with db.reader() as s:
            return cq.count_returns(s, state)
    return cached(db, f"returns:{state}", count)  # type: ignore[return-value]


def search(db: Database, text: str, limit: int = PAGE_SIZE) -> list[ReturnItem]:
    with db.reader() as s:
        return _items(s, q.search_returns(s, text, limit=limit))


# --- one return -------------------------------------------------------------------------------
@dataclass
class LineItem:
    line_id: str
    sku: str
    qty: int
    raw_reason: str
    reason_code: str
    condition: str
    disposition: str
    resolution: str


@dataclass
class EventItem:
    at: datetime
    system: str
    kind: str
    summary: str


@dataclass
class ReturnDetail:
    ret: ReturnItem
    platform: str
    platform_id: str
    store: str
    lines: list[LineItem]
    timeline: list[EventItem]
    holds: list[tuple[str, str, str, str]]  # key, kind, amount, decision/open
    exceptions: list[tuple[str, str, str, str, bool]]  # key, type, owner, message, open
    actions: list[tuple[str, str, str, str, int]]  # key, kind, system, status, attempts


def return_detail(db: Database, return_id: str) -> ReturnDetail | None:
    with db.reader() as s:
        r = cq.get_return(s, return_id)
        if r is None:
            return None
        rows = q.return_lines(s, return_id)
        graded = grades(r)
        codes = cq.mapped_codes(s, r.platform, [ln.raw_reason for ln in rows])
        lines = [LineItem(ln.line_id, ln.sku, ln.qty, ln.raw_reason,
                          ln.reason_code or codes.get(ln.raw_reason, ""),
                          ln.condition or graded.get(ln.sku, ""), ln.disposition or "",
                          ln.resolution) for ln in rows]
        events = [EventItem(e.at, e.system, e.kind, e.summary) for e in q.timeline(s, return_id)]
        holds = [(h.key, h.kind, money(h.amount_minor, h.currency), h.decision or "open")
                 for h in cq.holds_for(s, return_id)]
        excs = [(x.key, x.type, x.owner, x.message, x.resolved_at is None)
                for x in cq.exceptions_for(s, return_id)]
        acts = [(a.key, a.kind, a.system, a.status, a.attempts)
                for a in cq.actions_for(s, return_id)]
        return ReturnDetail(_items(s, [r])[0], r.platform, r.platform_id, r.store or "", lines, events,
                            holds, excs, acts)


# --- home -------------------------------------------------------------------------------------
@dataclass
class HomeStats:
    """The home view's whole-table aggregates (returns by state, top reasons)."""
    states: dict[str, int]
    top_reasons: list[tuple[str, int]]


@dataclass
class HomeData:
    counts: dict[str, int]
    per_day: list[int]
    owners: dict[str, int]
    held_totals: list[str]
    stats: HomeStats | None  # None until computed (home_stats), cached a minute after


def home(db: Database, now: datetime) -> HomeData:
    """The queues (small, indexed tables) and returns per day (an index range): first paint."""
    with db.reader() as s:
        held = [f"{n} × {money(total, cur)}" for cur, n, total in cq.open_hold_count_and_total(s)]
        return HomeData(q.queue_counts(s, now), q.returns_per_day(s, now),
                        q.exception_counts_by_owner(s), held, cached(db, "home-stats"))


def home_stats(db: Database) -> HomeStats:
    def compute() -> HomeStats:
        with db.reader() as s:
            return HomeStats(q.state_counts(s), q.top_reasons(s))
    return cached(db, "home-stats", compute)  # type: ignore[return-value]


# --- held refunds -----------------------------------------------------------------------------
@dataclass
class HoldItem:
    key: str
    return_id: str
    order: str
    amount_minor: int
    currency: str
    amount: str
    reason: str
    opened_at: datetime
    lines: list[tuple[str, int, str, str]] = field(default_factory=list)  # sku, qty, grade, reason

    def grades(self) -> str:
        return ", ".join(f"{sku} {grade or '?'}" for sku, _, grade, _ in self.lines)

    def reasons(self) -> str:
        return ", ".join(sorted({reason for *_, reason in self.lines if reason}))


def held_refunds(db: Database, limit: int = 200) -> list[HoldItem]:
    with db.reader() as s:
        pairs = q.open_holds(s, limit=limit)
        lines = cq.lines_for(s, {r.return_id for _, r in pairs})
        out = []
        for h, r in pairs:
            graded = grades(r)
            out.append(HoldItem(h.key, r.return_id, r.order_ref, h.amount_minor or 0,
                                h.currency or r.currency or "", money(h.amount_minor, h.currency),
                                h.reason, h.opened_at,
                                [(ln.sku, ln.qty, ln.condition or graded.get(ln.sku, ""),
                                  ln.raw_reason) for ln in lines.get(r.return_id, [])]))
        return out


# --- unknown reasons --------------------------------------------------------------------------
@dataclass
class ReasonsData:
    groups: list[q.ReasonGroup]
    codes: list[tuple[str, str]]  # code, label


def unknown_reasons(db: Database) -> ReasonsData:
    with db.reader() as s:
        return ReasonsData(q.unknown_reason_groups(s),
                           [(c.code, c.label) for c in cq.reason_codes(s)])


# --- failures ---------------------------------------------------------------------------------
@dataclass
class FailedAction:
    key: str
    return_id: str
    status: str
    attempts: int
    last_error: str
    updated_at: datetime
    last_call: dict[str, Any] | None


def failure_groups(db: Database) -> list[q.FailureGroup]:
    with db.reader() as s:
        return q.failure_groups(s)


def group_actions(db: Database, system: str, kind: str, code: str) -> list[FailedAction]:
    with db.reader() as s:
        return [FailedAction(a.key, a.return_id, a.status, a.attempts, a.last_error or "",
                             a.updated_at, a.last_call)
                for a in cq.group_actions(s, system=system, kind=kind, error_code=code or None)]


# --- exceptions -------------------------------------------------------------------------------
@dataclass
class ExceptionItem:
    key: str
    return_id: str
    type: str
    owner: str
    message: str
    opened_at: datetime
    due_at: datetime | None

    @property
    def breach(self) -> bool:
        return self.type == "sla_breach"


@dataclass
class ExceptionsData:
    owners: dict[str, int]
    items: list[ExceptionItem]


def exceptions(db: Database, owner: str | None) -> ExceptionsData:
    with db.reader() as s:
        items = [ExceptionItem(x.key, x.return_id, x.type, x.owner, x.message, x.opened_at,
                               x.due_at) for x in q.open_exceptions(s, owner=owner)]
        return ExceptionsData(q.exception_counts_by_owner(s), items)


# --- connector health -------------------------------------------------------------------------
@dataclass
class HealthData:
    jobs: list[dict[str, Any]]
    connectors: list[tuple[str, datetime | None, datetime | None, str, int, datetime | None]]
    cursors: list[tuple[str, str, datetime | None]]
    depths: dict[str, int]
    budgets: list[tuple[str, str, int, int]]


def health(db: Database, jobs: Any) -> HealthData:
    status = jobs.status() if jobs is not None else []
    with db.reader() as s:
        conns = [(c.system, c.last_ok_at, c.last_error_at, c.last_error or "",
                  c.consecutive_failures, c.last_poll_at) for c in q.connector_health(s)]
        curs = [(src, row.cursor or "", row.updated_at) for src, row in
                sorted(q.cursors(s).items())]
        budgets = [(b.system, b.window, b.used, b.limit) for b in cq.rate_budgets(s)]
        return HealthData(status, conns, curs, q.action_depths(s), budgets)


# --- audit ------------------------------------------------------------------------------------
@dataclass
class AuditItem:
    id: int
    at: datetime
    actor: str
    role: str
    operation: str
    target: str
    allowed: bool
    note: str


def audit(db: Database, before_id: int | None = None, limit: int = 100) -> list[AuditItem]:
    with db.reader() as s:
        return [AuditItem(a.id or 0, a.at, a.actor, a.role or "", a.operation, a.target,
                          a.allowed, a.note or "") for a in q.audit_page(s, before_id=before_id,
                                                                        limit=limit)]
