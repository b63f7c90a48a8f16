"""commercetools JSON -> the canonical model. Money stays exact: cent amounts as ints,
high-precision prices as PreciseMoney (rounded only when a refund is computed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rules.model import Order, OrderLine, OrderRefund, OrderRefundLine, OrderState
from rules.money import Money, PreciseMoney
from sync.connectors.commercetools import conventions as C

ORDER_STATES = {"Open": OrderState.OPEN, "Confirmed": OrderState.OPEN,
                "Complete": OrderState.CLOSED, "Cancelled": OrderState.CANCELLED}


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def money_of(typed: dict[str, Any]) -> Money:
    """CentPrecision/HighPrecision money -> Money in the currency's minor units (centAmount;
    for high precision that is the API's own half-even rounding)."""
    return Money(int(typed["centAmount"]), typed["currencyCode"])


def precise_of(typed: dict[str, Any]) -> PreciseMoney | None:
    if typed.get("type") != "highPrecision":
        return None
    return PreciseMoney(int(typed["preciseAmount"]), typed["currencyCode"],
                        int(typed["fractionDigits"]))


def exact_unit(line: dict[str, Any]) -> Decimal:
    """The unit price actually charged, exact (after per-quantity discounts)."""
    value = unit_value(line)
    precise = precise_of(value)
    if precise is not None:
        return precise.to_decimal()
    return Decimal(int(value["centAmount"])).scaleb(-int(value["fractionDigits"]))


def unit_value(line: dict[str, Any]) -> dict[str, Any]:
    discounted = line.get("discountedPricePerQuantity") or []
    if len(discounted) == 1 and discounted[0]["quantity"] == line["quantity"]:
        return discounted[0]["discountedPrice"]["value"]
    return line["price"]["value"]


def order_line(line: dict[str, Any]) -> OrderLine:
    qty = int(line["quantity"])
    currency = line["totalPrice"]["currencyCode"]
    discounted = line.get("discountedPricePerQuantity") or []
    if discounted and not (len(discounted) == 1 and discounted[0]["quantity"] == qty):
        # several discount tiers on one line: the exact unit is total / qty, rounded once
        unit = Money.from_decimal(
            Decimal(line["totalPrice"]["centAmount"]) / qty / 10 ** Money.zero(currency).exponent,
            currency)
        precise = None
    else:
        value = unit_value(line)
        unit, precise = money_of(value), precise_of(value)
    tax = None
    taxed = line.get("taxedPrice") or {}
    if taxed.get("totalTax") and qty:
        total_tax = Decimal(taxed["totalTax"]["centAmount"]).scaleb(
            -int(taxed["totalTax"]["fractionDigits"]))
        tax = Money.from_decimal(total_tax / qty, currency)
    bundle = next((a.get("value") for a in (line.get("variant") or {}).get("attributes") or []
                   if a.get("name") == C.BUNDLE_ATTRIBUTE), None)
    return OrderLine(line_ref=line["id"], sku=(line.get("variant") or {}).get("sku") or "",
                     qty=qty, unit_price=unit, unit_tax=tax, unit_price_precise=precise,
                     bundle_sku=bundle if isinstance(bundle, str) else None)


def refund_transactions(order: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(payment, transaction) for every Refund on the order's expanded payments."""
    out = []
    for ref in (order.get("paymentInfo") or {}).get("payments", []):
        payment = ref.get("obj")
        if not payment:
            continue
        for tx in payment.get("transactions", []):
            if tx.get("type") == "Refund":
                out.append((payment, tx))
    return out


def order_refund(tx: dict[str, Any]) -> OrderRefund:
    fields = (tx.get("custom") or {}).get("fields") or {}
    lines: tuple[OrderRefundLine, ...] = ()
    try:
        lines = tuple(OrderRefundLine(line_ref=ln["lineItemId"], qty=int(ln["qty"]),
                                      sku=ln.get("sku"))
                      for ln in json.loads(fields.get(C.F_LINES) or "[]"))
    except (ValueError, KeyError, TypeError):
        lines = ()  # someone else's data in our field: amount-only refund
    return OrderRefund(refund_id=tx["id"], amount=money_of(tx["amount"]), lines=lines,
                       created_at=parse_time(tx.get("timestamp")) or datetime(1970, 1, 1,
                                                                              tzinfo=UTC),
                       note=fields.get(C.F_NOTE, ""), idempotency_key=tx.get("interactionId"))


def to_order(doc: dict[str, Any], replacement_refs: tuple[str, ...] = ()) -> Order:
    state = ORDER_STATES.get(doc.get("orderState", "Open"), OrderState.OPEN)
    fields = (doc.get("custom") or {}).get("fields") or {}
    tags = tuple(t for t in (fields.get(C.F_TAGS) or "").split(",") if t)
    refunds = tuple(order_refund(tx) for _, tx in refund_transactions(doc)
                    if tx.get("state") in ("Success", "Pending"))
    return Order(
        order_ref=doc.get("orderNumber") or doc["id"],
        order_id=doc["id"],
        currency=doc["totalPrice"]["currencyCode"],
        lines=tuple(order_line(li) for li in doc.get("lineItems", [])),
        state=state,
        store=(doc.get("store") or {}).get("key"),
        cancelled_at=parse_time(doc.get("lastModifiedAt")) if state == OrderState.CANCELLED
        else None,
        refunds=refunds,
        replacement_order_refs=replacement_refs,
        tags=tags,
        version=int(doc["version"]),
        updated_at=parse_time(doc.get("lastModifiedAt")),
    )
