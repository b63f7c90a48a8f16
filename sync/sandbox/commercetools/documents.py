"""Building commercetools resource documents (money, line items, custom fields, time)."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from rules.money import Money, currency_exponent
from sync.connectors.commercetools import conventions as C


def timestamp(when: datetime) -> str:
    """ISO-8601 UTC with milliseconds, as the API writes it: 2017-01-04T19:54:49.797Z."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def cent_money(cent: int, currency: str) -> dict[str, Any]:
    return {"type": "centPrecision", "currencyCode": currency, "centAmount": int(cent),
            "fractionDigits": currency_exponent(currency)}


def round_precise(precise: int, digits: int, currency: str) -> int:
    """Cent amount of a precise amount, rounded half-even (the API's rule)."""
    value = Decimal(precise).scaleb(-digits).scaleb(currency_exponent(currency))
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def high_money(precise: int, digits: int, currency: str) -> dict[str, Any]:
    return {"type": "highPrecision", "currencyCode": currency,
            "centAmount": round_precise(precise, digits, currency),
            "preciseAmount": int(precise), "fractionDigits": int(digits)}


def typed_from_draft(draft: dict[str, Any]) -> dict[str, Any]:
    """Money / TypedMoneyDraft as sent -> the stored TypedMoney."""
    currency = draft["currencyCode"]
    if draft.get("type") == "highPrecision":
        return high_money(draft["preciseAmount"], draft["fractionDigits"], currency)
    return cent_money(draft["centAmount"], currency)


def money_text(cent: int, currency: str) -> str:
    return Money(int(cent), currency).amount_str()


def line_item(ids: Any, line: dict[str, Any], currency: str, now: str,
              line_id: str | None = None) -> dict[str, Any]:
    """A LineItem from the driver's line shape (sku, qty, unit_price, optional unit_tax,
    unit_discount, precise_unit_price, bundle_sku). `ids(kind)` makes new ids."""
    sku = line["sku"]
    qty = int(line["qty"])
    precise = line.get("precise_unit_price")
    if precise:
        value = high_money(precise["preciseAmount"], precise["fractionDigits"], currency)
        total = round_precise(precise["preciseAmount"] * qty, precise["fractionDigits"], currency)
        unit = value["centAmount"]
    else:
        unit = Money.parse(str(line["unit_price"]), currency).minor
        value = cent_money(unit, currency)
        total = unit * qty
    discounted: list[dict[str, Any]] = []
    if line.get("unit_discount"):
        off = Money.parse(str(line["unit_discount"]), currency).minor
        discounted = [{"quantity": qty, "discountedPrice": {
            "value": cent_money(unit - off, currency),
            "includedDiscounts": [{"discount": {"typeId": "cart-discount",
                                                "id": ids("cart-discount:" + sku)},
                                   "discountedAmount": cent_money(off, currency)}]}}]
        total -= off * qty
    variant: dict[str, Any] = {"id": 1, "sku": sku, "prices": [], "images": [], "assets": [],
                               "attributes": []}
    if line.get("bundle_sku"):
        variant["attributes"].append({"name": C.BUNDLE_ATTRIBUTE, "value": line["bundle_sku"]})
    doc: dict[str, Any] = {
        "id": line_id or ids("line"),
        "productId": ids("product:" + sku),
        "name": {"en": line.get("name") or sku},
        "productType": {"typeId": "product-type", "id": ids("product-type")},
        "variant": variant,
        "price": {"id": ids("price"), "value": value},
        "quantity": qty,
        "discountedPricePerQuantity": discounted,
        "state": [],
        "priceMode": "Platform",
        "lineItemMode": "Standard",
        "totalPrice": cent_money(total, currency),
        "perMethodTaxRate": [],
        "taxedPricePortions": [],
        "addedAt": now,
        "lastModifiedAt": now,
    }
    if line.get("unit_tax") is not None:
        tax = Money.parse(str(line["unit_tax"]), currency).minor * qty
        doc["taxedPrice"] = {"totalNet": cent_money(total, currency),
                             "totalGross": cent_money(total + tax, currency),
                             "totalTax": cent_money(tax, currency), "taxPortions": []}
    return doc


def order_totals(lines: list[dict[str, Any]], currency: str) -> tuple[int, int]:
    """(net total, gross total) in cents from the line items."""
    net = sum(li["totalPrice"]["centAmount"] for li in lines)
    gross = sum((li.get("taxedPrice") or {}).get("totalGross", li["totalPrice"])["centAmount"]
                for li in lines)
    return net, gross
