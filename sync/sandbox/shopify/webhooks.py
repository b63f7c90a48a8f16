"""Webhook deliveries as Shopify sends them: the REST resource as JSON, signed.

Body = the REST representation of the topic's resource (snake_case, numeric ids plus
`admin_graphql_api_id`); headers X-Shopify-Topic / -Hmac-Sha256 (base64 HMAC-SHA256 of the raw
body with the app secret) / -Shop-Domain / -API-Version / -Webhook-Id / -Event-Id /
-Triggered-At (reference shopify.md section 4). The sandbox records deliveries; the engine
takes them and posts them to its own intake.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

from sync.signing import sign_base64

DEFAULT_TOPICS = ("refunds/create", "orders/updated", "orders/cancelled")


def _num(gid: str | None) -> int | None:
    return int(gid.rsplit("/", 1)[-1]) if gid else None


def _amount(value: str | Decimal) -> str:
    return f"{Decimal(str(value)):.2f}"


def rest_refund(o: dict[str, Any], refund: dict[str, Any]) -> dict[str, Any]:
    lines = {li["id"]: li for li in o["lines"]}
    txns = [t for t in o["transactions"] if t["id"] in refund.get("transactionIds", [])]
    return {
        "id": _num(refund["id"]),
        "order_id": _num(o["id"]),
        "created_at": refund["createdAt"],
        "processed_at": refund["createdAt"],
        "note": refund.get("note"),
        "restock": any(rl.get("restocked") for rl in refund["lines"]),
        "user_id": None,
        "refund_line_items": [{
            "id": _num(rl["id"]),
            "line_item_id": _num(rl["lineItemId"]),
            "location_id": _num(rl.get("locationId")),
            "quantity": rl["quantity"],
            "restock_type": rl["restockType"].lower(),
            "line_item": {"id": _num(rl["lineItemId"]),
                          "sku": lines[rl["lineItemId"]].get("sku"),
                          "quantity": lines[rl["lineItemId"]]["quantity"],
                          "admin_graphql_api_id": rl["lineItemId"]},
        } for rl in refund["lines"]],
        "transactions": [{
            "id": _num(t["id"]), "order_id": _num(o["id"]), "kind": "refund",
            "gateway": t.get("gateway", "manual"), "status": "success",
            "amount": _amount(t["amount"]), "currency": o["currency"],
            "parent_id": _num(t.get("parentId")), "admin_graphql_api_id": t["id"],
        } for t in txns],
        "order_adjustments": [],
        "duties": [],
        "return": None,
        "admin_graphql_api_id": refund["id"],
    }


def rest_order(o: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": _num(o["id"]),
        "admin_graphql_api_id": o["id"],
        "name": o["name"],
        "currency": o["currency"],
        "created_at": o["createdAt"],
        "updated_at": o["updatedAt"],
        "cancelled_at": o.get("cancelledAt"),
        "cancel_reason": (o.get("cancelReason") or "").lower() or None,
        "note": o.get("note"),
        "tags": ", ".join(o.get("tags", [])),
        "line_items": [{"id": _num(li["id"]), "sku": li.get("sku"), "quantity": li["quantity"],
                        "price": _amount(li["unitPrice"]),
                        "admin_graphql_api_id": li["id"]} for li in o["lines"]],
        "refunds": [{"id": _num(r["id"]), "note": r.get("note"),
                     "admin_graphql_api_id": r["id"]} for r in o["refunds"]],
    }


def delivery(topic: str, payload: dict[str, Any], *, shop: str, secret: str, seq: int,
             now: str, api_version: str) -> dict[str, Any]:
    body = json.dumps(payload, separators=(",", ":"))
    webhook_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://{shop}/webhooks/{seq}"))
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://{shop}/events/{seq}"))
    return {"topic": topic, "body": body, "headers": {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign_base64(secret, body.encode()),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": api_version,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-Triggered-At": now,
    }}


def as_delivery(stored: dict[str, Any]) -> dict[str, Any]:
    return {"topic": stored["topic"], "headers": dict(stored["headers"]),
            "body": stored["body"].encode()}
