"""What every connector shares: typed failures the outbox executor understands.

A connector method either returns a result or raises one of these. The executor decides from
the type alone whether to retry (and when), look the effect up before resending, or give up
and open an exception with the owner team.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class CallRecord:
    """The request and response of one attempt, for the on-call engineer (secrets masked)."""

    method: str
    url: str
    status: int | None
    request_body: Any = None
    response_body: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "request": self.request_body,
            "response": self.response_body,
        }


class ConnectorError(Exception):
    """Base: the call failed; `message` is what a person reads on the timeline."""

    def __init__(self, message: str, *, call: CallRecord | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.call = call
        self.code = code


class TransientError(ConnectorError):
    """Worth retrying later: 5xx, 429, throttling, connection refused before sending."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """The service said slow down (429 / THROTTLED); `retry_after` seconds when it said so."""


class OutcomeUnknown(ConnectorError):
    """The request may have been applied (timeout after send, cut-off answer).

    The executor must look the effect up by its idempotency key before any resend.
    """


class WebhookRejected(ValueError):
    """A webhook delivery that failed verification or cannot be understood: answer 4xx and
    store nothing. A ValueError, not a ConnectorError: no call to another system failed, so
    there is nothing to retry; `message` is what the sender is told."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ConflictError(ConnectorError):
    """Optimistic-concurrency conflict (409): re-read, re-plan, re-apply; never blind-retry."""

    def __init__(self, message: str, *, current_version: int | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.current_version = current_version


class PermanentError(ConnectorError):
    """The service refused the request as it stands (validation, userErrors, 4xx)."""


class NotFound(PermanentError):
    """The resource does not exist (yet)."""


class AuthError(PermanentError):
    """Credentials missing or refused; retrying will not help until someone fixes them."""


@dataclass
class Effect:
    """What a write did in the external system, as the executor records it on the timeline."""

    external_id: str | None
    summary: str
    data: dict[str, Any] = field(default_factory=dict)


def body_of(response_or_request: httpx.Response | httpx.Request) -> Any:
    content = response_or_request.content if isinstance(response_or_request, httpx.Response) \
        else response_or_request.read()
    if not content:
        return None
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return content[:2000].decode("utf-8", "replace")


def call_record(response: httpx.Response) -> CallRecord:
    req = response.request
    return CallRecord(req.method, str(req.url), response.status_code, body_of(req), body_of(response))


def classify_http_failure(response: httpx.Response, what: str) -> ConnectorError:
    """The common HTTP status mapping; connectors refine it with their API's error bodies."""
    status = response.status_code
    call = call_record(response)
    retry_after = _retry_after(response)
    if status == 429:
        return RateLimited(f"{what}: rate limited (429)", retry_after=retry_after, call=call)
    if status in (500, 502, 503, 504):
        return TransientError(f"{what}: server error {status}", retry_after=retry_after, call=call)
    if status == 409:
        return ConflictError(f"{what}: conflict (409)", call=call)
    if status in (401, 403):
        return AuthError(f"{what}: not authorised ({status})", call=call)
    if status == 404:
        return NotFound(f"{what}: not found (404)", call=call)
    return PermanentError(f"{what}: refused ({status})", call=call)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


# --- What the engine asks of each kind of system -------------------------------------------
# Requests are built by the engine from planned actions; every write carries `key`, the
# action's deterministic idempotency key (e.g. "rl:R1:refund:1"), so a lookup can find it.

from collections.abc import Mapping, Sequence  # noqa: E402
from datetime import datetime  # noqa: E402
from typing import Protocol  # noqa: E402

from rules.model import Condition, Grading, Order, Return  # noqa: E402
from rules.money import Money  # noqa: E402


@dataclass(frozen=True)
class GradedLine:
    """One warehouse verdict for (part of) one returned SKU, from any warehouse feed.

    `source_ref` is stable for the same verdict read twice (same file row, same ShipBob
    action), so recording is idempotent; `rma` is what matches it to a return.
    """

    rma: str
    sku: str
    qty: int
    condition: Condition
    warehouse: str
    graded_at: datetime
    source: str  # "shipbob", "csv:<file name>"
    source_ref: str
    order_ref: str | None = None
    location: str | None = None
    notes: str = ""
    platform_return_id: str | None = None

    def to_grading(self) -> Grading:
        return Grading(condition=self.condition, qty=self.qty, warehouse=self.warehouse,
                       graded_at=self.graded_at, location=self.location, notes=self.notes,
                       source=self.source)


@dataclass(frozen=True)
class RefundLineRequest:
    line_ref: str
    sku: str
    qty: int
    amount: Money  # this line's share of the refund


@dataclass(frozen=True)
class RefundRequest:
    key: str
    return_id: str
    order_ref: str
    amount: Money  # total; equals the sum of line amounts
    lines: tuple[RefundLineRequest, ...]
    note: str = ""


@dataclass(frozen=True)
class StockMovement:
    key: str  # one movement's idempotency key (a batch groups several)
    return_id: str
    sku: str
    location_id: str  # Returnline's location id; connectors map to their own via config
    delta: int
    sellable: bool  # False: quarantine / damaged / non-sellable quantity


@dataclass(frozen=True)
class ExchangeRequest:
    key: str
    return_id: str
    order_ref: str
    skus: tuple[tuple[str, int], ...]  # (sku, qty) to ship, at zero value
    note: str = ""


@dataclass(frozen=True)
class CreditNoteRequest:
    key: str
    return_id: str
    order_ref: str
    refund_key: str
    refund_reference: str  # the commerce refund id
    amount: Money
    lines: tuple[RefundLineRequest, ...]
    location_id: str | None = None


@dataclass(frozen=True)
class ReturnsPage:
    returns: list[Return]
    raw: list[dict[str, Any]]  # the untouched payloads, same order, for the timeline
    next_cursor: str | None  # None: nothing more now; store and pass back next time


class CommerceConnector(Protocol):
    name: str

    def get_order(self, order_ref: str) -> Order | None: ...
    def create_return_record(self, key: str, ret: Return, order: Order) -> Effect: ...
    def tag_order(self, key: str, order: Order, tags: Sequence[str], note: str) -> Effect: ...
    def refund(self, req: RefundRequest) -> Effect: ...
    def find_refund(self, order_ref: str, key: str) -> Effect | None: ...
    def move_stock(self, movements: Sequence[StockMovement]) -> list[Effect]: ...
    def find_stock_movement(self, key: str) -> Effect | None: ...
    def create_exchange_order(self, req: ExchangeRequest) -> Effect: ...
    def find_exchange_order(self, order_ref: str, key: str) -> Effect | None: ...


class ReturnsPlatformConnector(Protocol):
    name: str

    def list_changed(self, cursor: str | None, now: datetime) -> ReturnsPage: ...
    def get_return(self, platform_id: str) -> tuple[Return, dict[str, Any]]: ...
    def approve(self, key: str, ret: Return) -> Effect: ...  # platforms that move the money
    def find_approval(self, ret: Return) -> Effect | None: ...
    def post_comment(self, key: str, ret: Return, text: str) -> Effect: ...


class ErpConnector(Protocol):
    name: str

    def create_return_authorisation(self, key: str, ret: Return, order: Order,
                                    amounts: Mapping[str, Money] | None = None) -> Effect: ...
    def find_return_authorisation(self, key: str) -> Effect | None: ...
    def create_credit_note(self, req: CreditNoteRequest) -> Effect: ...
    def find_credit_note(self, key: str) -> Effect | None: ...
    def list_credit_notes(self, since: datetime, until: datetime) -> list[dict[str, Any]]: ...
