"""Shopify's GraphQL cost bucket as the connector sees it, fed from `extensions.cost`.

Every response reports `throttleStatus` (maximumAvailable, currentlyAvailable, restoreRate).
The bucket remembers the last report and when it came, restores at the reported rate, and says
how long a call of a given requested cost must wait so it is never THROTTLED. Calls sent since
the last report are subtracted (`spend`) so concurrent senders do not all see the same points.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any


class ShopifyCostBucket:
    def __init__(self, maximum: float = 2000.0, restore_rate: float = 100.0) -> None:
        self.maximum = float(maximum)
        self.restore_rate = float(restore_rate)
        self.available = float(maximum)  # ASSUMED full until the first answer says otherwise
        self.at: datetime | None = None
        self.last_requested: int | None = None
        self._lock = threading.Lock()

    def _now_available(self, now: datetime) -> float:
        if self.at is None:
            return self.available
        elapsed = max(0.0, (now - self.at).total_seconds())
        return min(self.maximum, self.available + elapsed * self.restore_rate)

    def record(self, cost_extension: dict[str, Any] | None, now: datetime) -> None:
        """Take the server's word: the bucket as `extensions.cost.throttleStatus` reports it."""
        status = (cost_extension or {}).get("throttleStatus") or {}
        if "currentlyAvailable" not in status:
            return
        with self._lock:
            self.maximum = float(status.get("maximumAvailable", self.maximum))
            self.restore_rate = float(status.get("restoreRate", self.restore_rate)) or 1.0
            self.available = float(status["currentlyAvailable"])
            self.at = now
            requested = (cost_extension or {}).get("requestedQueryCost")
            self.last_requested = int(requested) if requested is not None else None

    def delay_for(self, cost: int, now: datetime) -> float:
        """Seconds before a call of `cost` requested points can be paid (0: send now)."""
        with self._lock:
            available = self._now_available(now)
            need = min(float(cost), self.maximum)
            return 0.0 if available >= need else (need - available) / self.restore_rate

    def spend(self, cost: int, now: datetime) -> None:
        """A call of `cost` is being sent; hold the points until the answer reports."""
        with self._lock:
            self.available = self._now_available(now) - float(cost)
            self.at = now

    def retry_after(self, cost: int, cost_extension: dict[str, Any] | None) -> float:
        """Shopify's suggested wait after THROTTLED: (requested - available) / restoreRate."""
        status = (cost_extension or {}).get("throttleStatus") or {}
        available = float(status.get("currentlyAvailable", 0))
        rate = float(status.get("restoreRate", self.restore_rate)) or 1.0
        return max(0.0, (cost - available) / rate)

    def snapshot(self, now: datetime) -> dict[str, float]:
        with self._lock:
            return {"maximum": self.maximum, "restore_rate": self.restore_rate,
                    "available": self._now_available(now)}
