"""ShipBob returns as a warehouse grading feed: polling plus signed webhooks.

Per returned item ShipBob reports `action_taken[] {action, action_reason, quantity_processed}`
(Restock, Quarantine, Dispose), which is the warehouse's grading (reference C1). Actions become
rules.model.Condition through a mapping table; Quarantine and Dispose can NEVER map to
sellable (the constructor refuses such a table), so quarantined stock can never be restocked
for sale by a configuration slip. When a return is Completed, quantity that was never
processed is reported as missing.

Webhooks (`return.updated`, `return.completed`) are Standard-Webhooks style: `webhook-id`,
`webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{ts}.{body}">`, key
= base64-decoded secret after `whsec_`. Delivery is at least once: `webhook-id` is the dedupe
key (stable across retries). Polling (`list_changed`) is the safety net.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

import httpx

from rules.model import Condition
from sync.connectors.base import (
    CallRecord,
    GradedLine,
    TransientError,
    WebhookRejected,
    body_of,
    classify_http_failure,
)

API_VERSION = "2026-01"
PRODUCTION = "https://api.shipbob.com"
SANDBOX = "https://sandbox-api.shipbob.com"

DEFAULT_ACTION_CONDITIONS: dict[str, Condition] = {
    "Restock": Condition.SELLABLE,
    "Quarantine": Condition.DAMAGED,
    "Dispose": Condition.DAMAGED,
}
NEVER_SELLABLE = frozenset({"Quarantine", "Dispose"})  # not configurable, on purpose
# ASSUMED: the warehouse's action_reason refines a non-sellable action (never to sellable).
DEFAULT_REASON_CONDITIONS: dict[str, Condition] = {
    "wrong item": Condition.WRONG_ITEM,
    "faulty": Condition.FAULTY,
    "defective": Condition.FAULTY,
    "used": Condition.USED,
}
SIGNATURE_TOLERANCE = timedelta(minutes=5)
FINAL_STATUSES = ("Completed", "Cancelled")


class GradingPage(NamedTuple):
    gradings: dict[str, list[GradedLine]]  # by RMA (ShipBob reference_id)
    raw: list[dict[str, Any]]  # the returns as ShipBob sent them
    next_cursor: str




@dataclass(frozen=True)
class WebhookEvent:
    dedupe_key: str  # webhook-id: the same on every redelivery
    topic: str
    return_id: str
    rma: str | None
    status: str
    gradings: list[GradedLine]
    raw: dict[str, Any]


def _signing_key(secret: str) -> bytes:
    return base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)


def sign_webhook(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_signing_key(secret), signed,
                                             hashlib.sha256).digest()).decode()


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
    """Raise WebhookRejected unless a v1 signature matches and the timestamp is fresh."""
    h = {k.lower(): v for k, v in headers.items()}
    wid, ts, sigs = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature")
    if not wid or not ts or not sigs:
        raise WebhookRejected("ShipBob webhook without webhook-id/-timestamp/-signature")
    try:
        sent = datetime.fromtimestamp(int(ts), UTC)
    except ValueError:
        raise WebhookRejected("ShipBob webhook with a malformed timestamp") from None
    if abs(now - sent) > SIGNATURE_TOLERANCE:
        raise WebhookRejected(f"ShipBob webhook {wid} timestamp outside the 5-minute window")
    expected = sign_webhook(secret, wid, int(ts), body).encode()
    if not any(hmac.compare_digest(expected, s.encode()) for s in sigs.split()):
        raise WebhookRejected(f"ShipBob webhook {wid}: signature does not match")


class ShipBobFeed:
    name = "shipbob"

    def __init__(self, client: httpx.Client, token: str, channel_id: str | int, *,
                 base_url: str = PRODUCTION, action_conditions: Mapping[str, Condition] | None = None,
                 reason_conditions: Mapping[str, Condition] | None = None,
                 warehouses: Mapping[str, str] | None = None, page_size: int = 50,
                 overlap: timedelta = timedelta(minutes=10)) -> None:
        self.http = client
        self._token = token
        self.channel_id = str(channel_id)
        self.base = f"{base_url.rstrip('/')}/{API_VERSION}"
        self.actions = {**DEFAULT_ACTION_CONDITIONS, **(action_conditions or {})}
        self.reasons = {k.lower(): v for k, v in
                        {**DEFAULT_REASON_CONDITIONS, **(reason_conditions or {})}.items()}
        for action in NEVER_SELLABLE:
            if self.actions.get(action) == Condition.SELLABLE:
                raise ValueError(f"ShipBob action {action} can never map to sellable")
        if Condition.SELLABLE in self.reasons.values():
            raise ValueError("an action reason can never turn a ShipBob action into sellable")
        self.warehouses = dict(warehouses or {})  # fulfillment center id or name -> warehouse
        self.page_size = page_size
        self.overlap = overlap  # re-read a little before the cursor: clocks and late commits

    # --- polling -------------------------------------------------------------------------------
    def list_changed(self, cursor: str | None, now: datetime) -> GradingPage:
        """Returns completed since the cursor (minus the overlap), plus those in Processing.

        ShipBob offers no "updated since" filter, so completion time is the change signal;
        gradings carry stable source refs, so the overlap re-reads harmlessly.
        """
        params: dict[str, str] = {"Limit": str(self.page_size), "Status": "Completed"}
        if cursor:
            since = datetime.fromisoformat(cursor) - self.overlap
            params["CompletedStartDate"] = since.astimezone(UTC).isoformat()
        raw = self._all_pages(params) + self._all_pages(
            {"Limit": str(self.page_size), "Status": "Processing"})
        gradings: dict[str, list[GradedLine]] = {}
        for ret in raw:
            lines = self.gradings_of(ret)
            if lines:
                gradings.setdefault(lines[0].rma, []).extend(lines)
        return GradingPage(gradings, raw, now.astimezone(UTC).isoformat())

    def get_return(self, return_id: str | int) -> dict[str, Any]:
        return self._get(f"{self.base}/return/{return_id}", None, what=f"return {return_id}")

    def _all_pages(self, params: dict[str, str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        url: str | None = f"{self.base}/return"
        query: dict[str, str] | None = params
        while url:
            page = self._get(url, query, what="returns list")
            out.extend(page.get("items") or [])
            nxt = page.get("next")
            # `next` carries the cursor; re-issue its query on our own base (proxies, sandbox)
            url = f"{self.base}/return" if nxt else None
            query = dict(parse_qsl(urlsplit(nxt).query)) if nxt else None
        return out

    def _get(self, url: str, params: dict[str, str] | None, *, what: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token}", "shipbob_channel_id": self.channel_id,
                   "Accept": "application/json"}
        try:
            resp = self.http.get(url, params=params, headers=headers)
        except httpx.TransportError as exc:
            raise TransientError(f"ShipBob {what}: no answer ({type(exc).__name__})",
                                 call=CallRecord("GET", url, None)) from None
        if resp.status_code != 200:
            err = classify_http_failure(resp, f"ShipBob {what}")
            detail = _problem(body_of(resp))
            if detail:
                err.message = f"{err.message}: {detail}"
                err.args = (err.message,)
            raise err
        body = body_of(resp)
        if not isinstance(body, dict):
            raise TransientError(f"ShipBob {what}: unreadable answer", call=CallRecord(
                "GET", str(resp.request.url), resp.status_code, None, body))
        return body

    # --- webhooks ------------------------------------------------------------------------------
    def parse_webhook(self, headers: Mapping[str, str], body: bytes, secret: str,
                      now: datetime) -> WebhookEvent:
        verify_webhook(secret, headers, body, now)
        h = {k.lower(): v for k, v in headers.items()}
        try:
            ret = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise WebhookRejected(f"ShipBob webhook {h['webhook-id']}: body is not JSON") from None
        return WebhookEvent(dedupe_key=f"shipbob:{h['webhook-id']}",
                            topic=h.get("x-webhook-topic") or h.get("shipbob-topic") or "",
                            return_id=str(ret.get("id")), rma=ret.get("reference_id"),
                            status=str(ret.get("status", "")), gradings=self.gradings_of(ret),
                            raw=ret)

    # --- mapping -------------------------------------------------------------------------------
    def condition_for(self, action: str, reason: str | None) -> Condition | None:
        base = self.actions.get(action)
        if base is None:
            return None  # "Default" or an unknown action: not a grading yet
        if base != Condition.SELLABLE and reason:
            refined = self.reasons.get(reason.strip().lower())
            if refined is not None:
                base = refined
        if action in NEVER_SELLABLE and base == Condition.SELLABLE:  # belt and braces
            return Condition.DAMAGED
        return base

    def gradings_of(self, ret: dict[str, Any]) -> list[GradedLine]:
        rma = ret.get("reference_id") or str(ret.get("id"))
        fc = ret.get("fulfillment_center") or {}
        warehouse = (self.warehouses.get(str(fc.get("id"))) or self.warehouses.get(
            str(fc.get("name"))) or str(fc.get("name") or fc.get("id") or ""))
        graded_at = _when(ret.get("completed_date") or ret.get("processing_date")
                          or ret.get("arrived_date") or ret.get("insert_date"))
        out: list[GradedLine] = []
        for item in ret.get("inventory") or []:
            sku = str(item.get("sku") or item.get("name") or item.get("id"))
            processed = 0
            for n, act in enumerate(item.get("action_taken") or []):
                qty = int(act.get("quantity_processed") or 0)
                condition = self.condition_for(str(act.get("action")), act.get("action_reason"))
                processed += qty
                if condition is None or qty <= 0:
                    continue
                out.append(GradedLine(
                    rma=rma, sku=sku, qty=qty, condition=condition, warehouse=warehouse,
                    graded_at=graded_at, source="shipbob",
                    source_ref=f"shipbob:{ret.get('id')}:{item.get('id')}:{n}",
                    order_ref=ret.get("store_order_id"), notes=_notes(act),
                    platform_return_id=str(ret.get("id"))))
            short = int(item.get("quantity") or 0) - processed
            if ret.get("status") == "Completed" and short > 0:
                out.append(GradedLine(  # INFERRED: completed without processing = not in the box
                    rma=rma, sku=sku, qty=short, condition=Condition.MISSING, warehouse=warehouse,
                    graded_at=graded_at, source="shipbob",
                    source_ref=f"shipbob:{ret.get('id')}:{item.get('id')}:missing",
                    order_ref=ret.get("store_order_id"), notes="not processed at completion",
                    platform_return_id=str(ret.get("id"))))
        return out


def _notes(action: dict[str, Any]) -> str:
    parts = [f"ShipBob {action.get('action')}"]
    if action.get("action_reason"):
        parts.append(str(action["action_reason"]))
    return ": ".join(parts)


def _when(text: str | None) -> datetime:
    if not text:
        return datetime(1970, 1, 1, tzinfo=UTC)
    parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _problem(body: Any) -> str:
    """ShipBob errors are ProblemDetails ({title, errors{field: [msg]}}) or {message}."""
    if not isinstance(body, dict):
        return ""
    parts = [str(body.get("title") or body.get("message") or "")]
    errors = body.get("errors")
    if isinstance(errors, dict):
        parts += [f"{k}: {'; '.join(map(str, v if isinstance(v, list) else [v]))}"
                  for k, v in errors.items()]
    return " ".join(p for p in parts if p)
