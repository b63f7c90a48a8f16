"""Rate limiters that never sleep: they say when a call may go, and the engine reschedules.

Each system gets the limiter its API calls for: a token bucket (Happy Returns' 0.5 req/s,
ReturnGO's 100/s), a daily budget persisted in the database (ReturnGO's 2,000 calls/day,
shared between jobs and surviving restarts), and whatever a connector feeds from the server's
own answers (Shopify's GraphQL cost bucket). A 429's Retry-After pauses the whole system.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import update
from sqlmodel import Session

from storage.tables import RateBudgetRow


class Limiter(Protocol):
    def delay_for(self, now: datetime, cost: float = 1.0) -> float:
        """Seconds to wait before a call of `cost` may be sent (0: send now)."""

    def record(self, now: datetime, cost: float = 1.0) -> None:
        """A call of `cost` was sent."""


@dataclass
class TokenBucket:
    """Leaky bucket: `rate` tokens per second refill up to `capacity`."""

    rate: float
    capacity: float
    tokens: float | None = None
    updated: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _refill(self, now: datetime) -> float:
        if self.tokens is None or self.updated is None:
            self.tokens, self.updated = self.capacity, now
        elapsed = max(0.0, (now - self.updated).total_seconds())
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = max(self.updated, now)
        return self.tokens

    def delay_for(self, now: datetime, cost: float = 1.0) -> float:
        with self._lock:
            tokens = self._refill(now)
            return 0.0 if tokens >= cost else (cost - tokens) / self.rate

    def record(self, now: datetime, cost: float = 1.0) -> None:
        with self._lock:
            self._refill(now)
            self.tokens = (self.tokens or 0.0) - cost


@dataclass
class DailyBudget:
    """N calls per UTC day, counted in `rate_budgets` so every job and restart shares it."""

    system: str
    limit: int
    session_factory: object  # a callable returning a context-managed Session (Database.session)

    def _window(self, now: datetime) -> str:
        return f"day:{now.date().isoformat()}"

    def used(self, now: datetime) -> int:
        with self.session_factory() as s:  # type: ignore[operator]
            row = s.get(RateBudgetRow, (self.system, self._window(now)))
            return row.used if row else 0

    def delay_for(self, now: datetime, cost: float = 1.0) -> float:
        if self.used(now) + cost <= self.limit:
            return 0.0
        tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(),
                                    tzinfo=now.tzinfo)
        return (tomorrow - now).total_seconds()

    def record(self, now: datetime, cost: float = 1.0) -> None:
        with self.session_factory() as s:  # type: ignore[operator]
            add_budget_use(s, self.system, self._window(now), int(cost), self.limit, now)


def add_budget_use(session: Session, system: str, window: str, used: int, limit: int,
                   now: datetime) -> None:
    """Add `used` calls to a budget window; an atomic UPDATE, so two processes adding at once
    both count."""
    res = session.execute(update(RateBudgetRow).where(
        RateBudgetRow.system == system, RateBudgetRow.window == window).values(
        used=RateBudgetRow.used + used, limit=limit, updated_at=now))
    if not res.rowcount:
        session.add(RateBudgetRow(system=system, window=window, used=used, limit=limit,
                                  updated_at=now))
    session.flush()


def share_day_budget(session_factory: Any, system: str, budget: Any, now: datetime) -> int:
    """A connector's own day budget (ReturnGO's 2,000 calls) kept in `rate_budgets`: what this
    process spent since the last hand-over is added to each day's row, and the budget takes
    back today's total, so every job, process and restart counts the same day once.
    Returns today's total."""
    today = budget.day_of(now)
    spent = budget.take_unsaved()
    with session_factory() as s:
        for day, calls in sorted(spent.items()):
            add_budget_use(s, system, f"day:{day}", calls, budget.per_day, now)
        row = s.get(RateBudgetRow, (system, f"day:{today}"))
        total = row.used if row is not None else 0
        if row is not None:
            row.state = budget.export_state()
    budget.set_used(now, total)
    return total


@dataclass
class FeedbackLimiter:
    """A limiter the connector keeps from the server's own answers (Shopify's cost bucket):
    the engine asks it before sending and never records (the answers do)."""

    delay: object  # callable (now, cost) -> seconds

    def delay_for(self, now: datetime, cost: float = 1.0) -> float:
        return float(self.delay(now, cost))  # type: ignore[operator]

    def record(self, now: datetime, cost: float = 1.0) -> None:
        return None


@dataclass
class Pause:
    """After a 429 with Retry-After, nothing more goes to that system until it has passed."""

    until: datetime | None = None

    def delay_for(self, now: datetime, cost: float = 1.0) -> float:
        if self.until is None or now >= self.until:
            return 0.0
        return (self.until - now).total_seconds()

    def record(self, now: datetime, cost: float = 1.0) -> None:
        return None

    def pause(self, now: datetime, seconds: float) -> None:
        until = now + timedelta(seconds=seconds)
        if self.until is None or until > self.until:
            self.until = until


@dataclass
class SystemLimits:
    """All limiters of one system; the slowest decides."""

    limiters: list = field(default_factory=list)
    pause: Pause = field(default_factory=Pause)

    def delay_for(self, now: datetime, cost: float = 1.0) -> float:
        delays = [lim.delay_for(now, cost) for lim in self.limiters]
        return max([self.pause.delay_for(now, cost), *delays])

    def record(self, now: datetime, cost: float = 1.0) -> None:
        for lim in self.limiters:
            lim.record(now, cost)
