"""Shopify webhooks at the intake: verify the signature, name the delivery, read refunds.

Signature: X-Shopify-Hmac-Sha256 = base64(HMAC-SHA256(app secret, raw body)), compared in
constant time (sync.signing). Dedupe on X-Shopify-Webhook-Id (the same across retries).
A `refunds/create` body is the REST Refund resource (reference shopify.md section 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from rules.model import OrderRefund, OrderRefundLine
from rules.money import Money
from sync.connectors.shopify import notes
from sync.signing import verify_base64

TOPICS = ("refunds/create", "orders/updated", "orders/cancelled")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def verify_webhook(secret: str | bytes, raw_body: bytes, headers: Mapping[str, str]) -> bool:
    return verify_base64(secret, raw_body, _header(headers, "X-Shopify-Hmac-Sha256"))


def webhook_dedupe_key(headers: Mapping[str, str]) -> str | None:
    webhook_id = _header(headers, "X-Shopify-Webhook-Id")
    return f"shopify:webhook:{webhook_id}" if webhook_id else None


def webhook_topic(headers: Mapping[str, str]) -> str | None:
    return _header(headers, "X-Shopify-Topic")


@dataclass(frozen=True)
class ShopifyRefundEvent:
    order_id: str  # the Order gid
    refund: OrderRefund
    return_id: str | None  # ours, when the note carries Returnline's marker


def parse_refund_webhook(body: bytes | str | dict[str, Any],
                         currency: str | None = None) -> ShopifyRefundEvent:
    import json

    data = json.loads(body) if isinstance(body, bytes | str) else body
    txns = [t for t in data.get("transactions") or []
            if t.get("kind") == "refund" and t.get("status", "success") == "success"]
    cur = currency or next((t.get("currency") for t in txns if t.get("currency")), None) or "XXX"
    total = sum((Decimal(str(t["amount"])) for t in txns), Decimal("0"))
    lines = tuple(
        OrderRefundLine(
            line_ref=(rli.get("line_item") or {}).get("admin_graphql_api_id")
            or f"gid://shopify/LineItem/{rli['line_item_id']}",
            qty=int(rli["quantity"]),
            sku=(rli.get("line_item") or {}).get("sku"))
        for rli in data.get("refund_line_items") or [])
    return_id, key = notes.parse(data.get("note"))
    refund = OrderRefund(
        refund_id=data.get("admin_graphql_api_id") or f"gid://shopify/Refund/{data['id']}",
        amount=Money.from_decimal(total, cur),
        lines=lines,
        created_at=datetime.fromisoformat(data["created_at"].replace("Z", "+00:00")),
        note=data.get("note") or "",
        idempotency_key=key)
    return ShopifyRefundEvent(f"gid://shopify/Order/{data['order_id']}", refund, return_id)
