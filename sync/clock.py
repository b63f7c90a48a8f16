"""The clocks: real time, or a simulated one the replay and demo move by hand.

Every connector, sandbox and job reads time from one of these (never datetime.now() directly),
so a replay's simulated clock drives everything.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SimClock:
    """A clock the replay moves by hand; `now()` is what every sandbox and job sees."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now = self._now + delta
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
