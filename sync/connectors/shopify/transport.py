"""One GraphQL call to Shopify, with every outcome turned into the connector's typed failures.

- not sent (connect error/timeout): TransientError; sent but no answer, or a cut-off body, on
  a write: OutcomeUnknown (look the effect up before resending); on a read: TransientError;
- 401/403: AuthError (the token never appears in a message); 429: RateLimited(Retry-After);
  5xx: TransientError; 409: ConflictError; other 4xx: PermanentError;
- 200 with `errors`: THROTTLED -> RateLimited with Shopify's suggested wait; anything else ->
  PermanentError with Shopify's messages (the caller may look at partial data first).
`extensions.cost` of every answer feeds the cost bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from sync.connectors.base import (
    AuthError,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
    call_record,
    classify_http_failure,
)
from sync.connectors.shopify.bucket import ShopifyCostBucket

# Requested costs of the connector's documents as Shopify's rules price them (the sandbox
# charges the same; tests check it). Learned values from answers replace these.
STATIC_COSTS = {
    "get_order": 435,
    "get_order_by_id": 423,
    "reread_order": 3 + (2 + 6 * 6) + (2 + 2 + 6 * 2) + 12,  # a 5-line order (first: 6)
    "exchanges": 12,
    "order_note": 1,
    "order_returns": 1 + 104 + 2 + 10 * (1 + 2 + 50),
    "locations": 102,
    "inventory_items": 52,
    "stock_levels": 232,
    "refund": 14,
    "create_return_record": 11,
    "tag_order": 22,
    "tags": 11,
    "exchange_order": 11,
    "find_exchange_order": 25,
    "move_stock": 13,  # per aliased inventoryAdjustQuantities
}
STOCK_OPERATIONS = ("move_stock", "restock", "quarantine")


@dataclass
class Answer:
    data: dict[str, Any]
    errors: list[dict[str, Any]]
    response: httpx.Response


class ShopifyTransport:
    def __init__(self, client: httpx.Client, url: str, access_token: str, clock,
                 bucket: ShopifyCostBucket, preflight: bool = True) -> None:
        self.client = client
        self.url = url
        self._token = access_token
        self.clock = clock
        self.bucket = bucket
        self.preflight = preflight
        self.learned: dict[str, int] = {}
        self.calls = 0

    def estimated_cost(self, operation: str, groups: int = 1) -> int:
        base = "move_stock" if operation in STOCK_OPERATIONS else operation
        per = self.learned.get(base, STATIC_COSTS.get(base, 50))
        return per * max(1, groups) if base == "move_stock" else per

    def call(self, operation: str, document: str, variables: dict[str, Any], *,
             write: bool, what: str, groups: int = 1) -> Answer:
        cost = self.estimated_cost(operation, groups)
        now = self.clock.now()
        if self.preflight:
            wait = self.bucket.delay_for(cost, now)
            if wait > 0:
                raise RateLimited(f"{what}: waiting for Shopify's cost bucket ({cost} points)",
                                  retry_after=wait, code="COST_BUCKET")
        self.bucket.spend(cost, now)
        self.calls += 1
        try:
            response = self.client.post(
                self.url, json={"query": document, "variables": variables},
                headers={"X-Shopify-Access-Token": self._token, "Accept": "application/json"})
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise TransientError(f"{what}: Shopify unreachable ({type(exc).__name__})") from None
        except httpx.TimeoutException as exc:
            if write:
                raise OutcomeUnknown(f"{what}: no answer from Shopify after sending "
                                     f"({type(exc).__name__})") from None
            raise TransientError(f"{what}: Shopify timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            if write:
                raise OutcomeUnknown(f"{what}: connection lost after sending "
                                     f"({type(exc).__name__})") from None
            raise TransientError(f"{what}: connection failed ({type(exc).__name__})") from None
        if response.status_code in (401, 403):
            raise AuthError(f"{what}: Shopify refused the access token "
                            f"({response.status_code})", call=call_record(response))
        if response.status_code != 200:
            raise classify_http_failure(response, what)
        try:
            body = response.json()
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            if write:
                raise OutcomeUnknown(f"{what}: unreadable answer from Shopify",
                                     call=call_record(response)) from None
            raise TransientError(f"{what}: unreadable answer from Shopify",
                                 call=call_record(response)) from None
        cost_ext = (body.get("extensions") or {}).get("cost")
        self.bucket.record(cost_ext, self.clock.now())
        if cost_ext and cost_ext.get("requestedQueryCost") is not None:
            requested = int(cost_ext["requestedQueryCost"])
            base = "move_stock" if operation in STOCK_OPERATIONS else operation
            if requested > 0:
                self.learned[base] = max(1, requested // max(1, groups)) \
                    if base == "move_stock" else requested
        errors = body.get("errors") or []
        if isinstance(errors, list):
            for err in errors:
                if (err.get("extensions") or {}).get("code") == "THROTTLED":
                    requested = int((cost_ext or {}).get("requestedQueryCost") or cost)
                    raise RateLimited(f"{what}: THROTTLED by Shopify",
                                      retry_after=max(0.1, self.bucket.retry_after(requested,
                                                                                    cost_ext)),
                                      call=call_record(response), code="THROTTLED")
        return Answer(body.get("data") or {}, errors if isinstance(errors, list) else [],
                      response)

    @staticmethod
    def refuse(answer: Answer, what: str, *, write: bool) -> None:
        """Raise for top-level errors (validation, BAD_REQUEST, INVALID_VARIABLE, ...)."""
        if not answer.errors:
            return
        codes = [(e.get("extensions") or {}).get("code") for e in answer.errors]
        text = "; ".join(str(e.get("message")) for e in answer.errors)
        call = call_record(answer.response)
        if "INTERNAL_SERVER_ERROR" in codes:
            cls = OutcomeUnknown if write else TransientError
            raise cls(f"{what}: Shopify internal error: {text}", call=call)
        if "ACCESS_DENIED" in codes:
            raise AuthError(f"{what}: {text}", call=call, code="ACCESS_DENIED")
        raise PermanentError(f"{what}: {text}", call=call, code=next((c for c in codes if c),
                                                                      None))
