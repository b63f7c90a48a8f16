"""Plumbing the three returns-platform connectors share (ReturnGO, Happy Returns, ReBOUND).

- `send` turns httpx outcomes into the typed failures of `connectors.base`;
- `read_json` parses bodies with Decimal for numbers (never floats);
- `LeakyBucket` / `WindowLimiter` say *when* a call may go (never sleep) and export their state
  as a dict so the engine can persist it across restarts;
- `encode_cursor` / `decode_cursor` keep a connector's resumable position in one opaque string.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from sync.connectors.base import (
    CallRecord,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
    WebhookRejected,  # noqa: F401 - its home is sync.connectors.base; still importable here
    body_of,
    classify_http_failure,
)


# --- time ------------------------------------------------------------------------------------
def parse_ts(value: Any) -> datetime | None:
    """ISO-8601 in any of the platforms' spellings ('Z', '+00:00', no zone = UTC, micros)."""
    if value in (None, ""):
        return None
    text = str(value).strip().replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


# --- bodies ----------------------------------------------------------------------------------
def read_json(content: bytes) -> Any:
    """Numbers become Decimal/int (money must never pass through float)."""
    return json.loads(content, parse_float=Decimal)


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:24]


def as_bool(value: Any) -> bool | None:
    """0/1, "0"/"1", "true"/"false", real booleans, or None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal):
        return value != 0
    return str(value).strip().lower() in ("1", "true", "yes", "y")


def as_int(value: Any, default: int = 0) -> int:
    """Quantities arrive as ints or strings ("1")."""
    if value in (None, ""):
        return default
    try:
        return int(Decimal(str(value)))
    except ArithmeticError:
        return default


# --- HTTP ------------------------------------------------------------------------------------
SecretScrubber = Callable[[CallRecord], CallRecord]


def _record(response: httpx.Response, scrub: SecretScrubber | None) -> CallRecord:
    req = response.request
    rec = CallRecord(req.method, str(req.url), response.status_code, body_of(req),
                     body_of(response))
    return scrub(rec) if scrub else rec


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    what: str,
    write: bool,
    scrub: SecretScrubber | None = None,
    refine: Callable[[httpx.Response, CallRecord], Exception | None] | None = None,
    **kwargs: Any,
) -> tuple[httpx.Response, Any]:
    """One HTTP call -> (response, parsed body) or a typed failure.

    A timeout or a cut-off body of a *write* is OutcomeUnknown (it may have been applied);
    of a read it is transient. `refine` lets a connector read its API's error body first.
    """
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        call = CallRecord(method, url, None)
        if write:
            raise OutcomeUnknown(f"{what}: no answer ({type(exc).__name__}); it may have "
                                 "been applied", call=scrub(call) if scrub else call) from None
        raise TransientError(f"{what}: timed out ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        # Connection refused / reset before an answer; a write may still have landed
        # only if bytes went out, which we cannot tell for a reset: be safe for writes.
        if write and not isinstance(exc, httpx.ConnectError):
            raise OutcomeUnknown(f"{what}: connection lost ({type(exc).__name__})") from None
        raise TransientError(f"{what}: connection failed ({type(exc).__name__})") from None
    if refine is not None and response.status_code >= 400:
        refined = refine(response, _record(response, scrub))
        if refined is not None:
            raise refined
    if response.status_code >= 400:
        err = classify_http_failure(response, what)
        err.call = _record(response, scrub)
        raise err
    if not response.content:
        return response, None
    try:
        return response, read_json(response.content)
    except (ValueError, UnicodeDecodeError):
        call = _record(response, scrub)
        if write:
            raise OutcomeUnknown(f"{what}: answer cut off or not JSON; it may have been applied",
                                 call=call) from None
        raise TransientError(f"{what}: answer cut off or not JSON", call=call) from None


def refuse(what: str, message: str, call: CallRecord | None = None) -> PermanentError:
    return PermanentError(f"{what}: {message}", call=call)


# --- limiters --------------------------------------------------------------------------------
@dataclass
class LeakyBucket:
    """A client-side mirror of a leaky bucket: `rate` drains per second, `capacity` slots.

    `delay_for(now)` says how long until one more call fits; `record(now)` adds it.
    """

    rate: float
    capacity: float
    level: float = 0.0
    updated: datetime | None = None

    def _drain(self, now: datetime) -> None:
        if self.updated is not None and now > self.updated:
            self.level = max(0.0, self.level - (now - self.updated).total_seconds() * self.rate)
        if self.updated is None or now > self.updated:
            self.updated = now

    def delay_for(self, now: datetime, cost: float = 1.0) -> float:
        self._drain(now)
        over = self.level + cost - self.capacity
        return 0.0 if over <= 1e-9 else over / self.rate

    def record(self, now: datetime, cost: float = 1.0) -> None:
        self._drain(now)
        self.level += cost

    def full_until(self, now: datetime, seconds: float) -> None:
        """The server said the bucket is full: treat ours as full for `seconds`."""
        self._drain(now)
        self.level = max(self.level, self.capacity + seconds * self.rate - 1.0)

    def export_state(self) -> dict[str, Any]:
        return {"level": self.level, "updated": iso(self.updated) if self.updated else None}

    def load_state(self, state: dict[str, Any] | None) -> None:
        if state:
            self.level = float(state.get("level", 0.0))
            self.updated = parse_ts(state.get("updated"))


@dataclass
class WindowLimiter:
    """At most `limit` calls per fixed window of `seconds` (ReBOUND legacy: 150 / 60 s)."""

    limit: int
    seconds: int
    window_start: datetime | None = None
    used: int = 0

    def _roll(self, now: datetime) -> None:
        if self.window_start is None or now >= self.window_start + timedelta(seconds=self.seconds):
            epoch = int(now.timestamp()) // self.seconds * self.seconds
            self.window_start = datetime.fromtimestamp(epoch, UTC)
            self.used = 0

    def delay_for(self, now: datetime, cost: float = 1.0) -> float:
        self._roll(now)
        if self.used + cost <= self.limit:
            return 0.0
        assert self.window_start is not None
        return (self.window_start + timedelta(seconds=self.seconds) - now).total_seconds()

    def record(self, now: datetime, cost: float = 1.0) -> None:
        self._roll(now)
        self.used += int(cost)

    def export_state(self) -> dict[str, Any]:
        return {"window_start": iso(self.window_start) if self.window_start else None,
                "used": self.used}

    def load_state(self, state: dict[str, Any] | None) -> None:
        if state:
            self.window_start = parse_ts(state.get("window_start"))
            self.used = int(state.get("used", 0))


def wait_or_raise(limiter: Any, now: datetime, what: str) -> None:
    """Refuse to send (RateLimited with the wait) when the limiter says not yet."""
    delay = limiter.delay_for(now)
    if delay > 0:
        raise RateLimited(f"{what}: client-side limit; may send in {delay:.1f}s",
                          retry_after=delay)


# --- cursors ---------------------------------------------------------------------------------
def encode_cursor(state: dict[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeDecodeError):
        raise PermanentError("stored sync cursor is not one this connector wrote") from None
    if not isinstance(state, dict):
        raise PermanentError("stored sync cursor is not one this connector wrote")
    return state


_SUFFIX = re.compile(r"^(?P<base>.+)-(?P<offset>\d+)-(?P<total>\d+)$")


def split_unit_suffix(line_item_id: str | None) -> tuple[str | None, int]:
    """Happy Returns' '12345-1-2' -> ('12345', 1); an id without the suffix -> (id, 0)."""
    if not line_item_id:
        return None, 0
    m = _SUFFIX.match(str(line_item_id))
    if not m:
        return str(line_item_id), 0
    return m.group("base"), int(m.group("offset"))
