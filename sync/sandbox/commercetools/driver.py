"""The common sandbox driver API (what the replay engine and tests call) and external_view.

These change the project the way people and other systems do (a merchant edits an order,
someone refunds in the Merchant Center), never through Returnline's connector.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from rules.money import Money
from sync.connectors.commercetools import conventions as C
from sync.sandbox.commercetools.documents import (
    cent_money,
    line_item,
    money_text,
    order_totals,
    timestamp,
)

# ASSUMED: a manual refund made in the Merchant Center by the merchant's refund extension
# records the refunded lines in the same transaction custom type Returnline uses (else the
# rules could only see an amount). It carries no interactionId.
MANUAL_REFUND_TYPE = C.REFUND_TYPE_KEY


class DriverMixin:
    # seeding -----------------------------------------------------------------------------
    def seed_location(self, location_id: str, *, sellable: bool, active: bool = True,
                      name: str = "") -> str:
        """A warehouse location = a Channel keyed by Returnline's location id."""
        with self.lock:
            now = self.now_text()
            cid = self.new_id()
            self.channels[cid] = {
                "id": cid, "version": 1, "key": location_id,
                "roles": ["InventorySupply"] if active else [],
                "name": {"en": name or location_id}, "createdAt": now, "lastModifiedAt": now}
            self.locations[location_id] = {"channel_id": cid, "sellable": bool(sellable)}
            return cid

    def set_location_active(self, location_id: str, active: bool) -> None:
        """ASSUMED model of "inactive": the channel loses its InventorySupply role."""
        with self.lock:
            channel = self.channels[self.locations[location_id]["channel_id"]]
            roles = [r for r in channel["roles"] if r != "InventorySupply"]
            channel["roles"] = (["InventorySupply"] + roles) if active else roles
            channel["version"] += 1
            channel["lastModifiedAt"] = self.now_text()

    def seed_stock(self, sku: str, location_id: str, quantity: int) -> str:
        """An existing inventory entry (not a movement: not in external_view)."""
        with self.lock:
            return self.new_entry(sku, self.locations[location_id]["channel_id"], quantity)["id"]

    def seed_order(self, number: str, *, currency: str, lines: list[dict[str, Any]],
                   store: str | None = None, email: str | None = None,
                   created_at: datetime | str | None = None) -> str:
        """An order as a checkout would leave it: Confirmed, Shipped, Paid, with one Payment
        holding a successful Charge of the gross total."""
        with self.lock:
            if self._order_by_number(number):
                raise ValueError(f"order {number} exists")
            when = created_at if isinstance(created_at, str) else \
                timestamp(created_at) if created_at else self.now_text()
            items = [line_item(self.new_id, ln, currency, when) for ln in lines]
            net, gross = order_totals(items, currency)
            oid, pid = self.new_id(), self.new_id()
            self.payments[pid] = {
                "id": pid, "version": 1, "key": f"pay-{number}",
                "amountPlanned": cent_money(gross, currency),
                "paymentMethodInfo": {"paymentInterface": "sandbox-psp", "method": "CREDIT_CARD",
                                      "name": {"en": "Credit card"}},
                "paymentStatus": {},
                "transactions": [{"id": self.new_id(), "timestamp": when, "type": "Charge",
                                  "amount": cent_money(gross, currency),
                                  "interactionId": f"psp-charge-{number}", "state": "Success"}],
                "interfaceInteractions": [], "createdAt": when, "lastModifiedAt": when}
            order: dict[str, Any] = {
                "id": oid, "version": 1, "createdAt": when, "lastModifiedAt": when,
                "orderNumber": number, "lineItems": items, "customLineItems": [],
                "totalPrice": cent_money(net, currency),
                "orderState": "Confirmed", "shipmentState": "Shipped", "paymentState": "Paid",
                "syncInfo": [], "returnInfo": [], "refusedGifts": [], "shipping": [],
                "shippingMode": "Single", "origin": "Customer", "taxMode": "Platform",
                "inventoryMode": "None", "priceRoundingMode": "HalfEven",
                "taxRoundingMode": "HalfEven", "taxCalculationMode": "LineItemLevel",
                "discountCodes": [], "directDiscounts": [],
                "paymentInfo": {"payments": [{"typeId": "payment", "id": pid}]}}
            if gross != net:
                order["taxedPrice"] = {"totalNet": cent_money(net, currency),
                                       "totalGross": cent_money(gross, currency),
                                       "totalTax": cent_money(gross - net, currency),
                                       "taxPortions": []}
            if store:
                order["store"] = {"typeId": "store", "key": store}
            if email:
                order["customerEmail"] = email
            self.orders[oid] = order
            self.index_order(order)
            return oid

    # changes made by people ---------------------------------------------------------------
    def _touch(self, order: dict[str, Any]) -> None:
        order["version"] += 1
        order["lastModifiedAt"] = self.now_text()

    def cancel_order(self, number: str) -> None:
        with self.lock:
            order = self._order(number=number)
            order["orderState"] = "Cancelled"
            self._touch(order)

    def edit_order(self, number: str, lines: list[dict[str, Any]]) -> None:
        """New prices/quantities per SKU (an Order Edit applied by the merchant). Lines keep
        their ids by SKU; SKUs not given are removed."""
        with self.lock:
            order = self._order(number=number)
            currency = order["totalPrice"]["currencyCode"]
            by_sku = {li["variant"].get("sku"): li["id"] for li in order["lineItems"]}
            now = self.now_text()
            order["lineItems"] = [line_item(self.new_id, ln, currency, now,
                                            line_id=by_sku.get(ln["sku"])) for ln in lines]
            net, gross = order_totals(order["lineItems"], currency)
            order["totalPrice"] = cent_money(net, currency)
            if gross != net:
                order["taxedPrice"] = {"totalNet": cent_money(net, currency),
                                       "totalGross": cent_money(gross, currency),
                                       "totalTax": cent_money(gross - net, currency),
                                       "taxPortions": []}
            else:
                order.pop("taxedPrice", None)
            self._touch(order)

    def manual_refund(self, number: str, lines: list[dict[str, Any]] | None = None,
                      amount: str | None = None, note: str = "") -> str:
        """Someone refunds in the Merchant Center: a Refund transaction in Success without
        Returnline's interactionId. Returns the transaction id."""
        with self.lock:
            order = self._order(number=number)
            currency = order["totalPrice"]["currencyCode"]
            by_sku = {li["variant"].get("sku"): li for li in order["lineItems"]}
            recorded = []
            exact = Decimal(0)
            for ln in lines or []:
                li = by_sku[ln["sku"]]
                recorded.append({"lineItemId": li["id"], "sku": ln["sku"], "qty": int(ln["qty"])})
                value = li["price"]["value"]
                if li["discountedPricePerQuantity"]:
                    value = li["discountedPricePerQuantity"][0]["discountedPrice"]["value"]
                if value["type"] == "highPrecision":
                    exact += Decimal(value["preciseAmount"] * int(ln["qty"])).scaleb(
                        -value["fractionDigits"])
                else:
                    exact += Decimal(value["centAmount"] * int(ln["qty"])).scaleb(
                        -value["fractionDigits"])
            cents = Money.parse(amount, currency).minor if amount is not None else \
                Money.from_decimal(exact, currency).minor
            payment = self.payments[order["paymentInfo"]["payments"][0]["id"]]
            type_doc = next(t for t in self.types.values() if t["key"] == MANUAL_REFUND_TYPE)
            fields = {C.F_LINES: json.dumps(recorded)} if recorded else {}
            if note:
                fields[C.F_NOTE] = note
            tx = {"id": self.new_id(), "timestamp": self.now_text(), "type": "Refund",
                  "amount": cent_money(cents, currency), "state": "Success"}
            if fields:
                tx["custom"] = {"type": {"typeId": "type", "id": type_doc["id"]},
                                "fields": fields}
            payment["transactions"].append(tx)
            self._touch(payment)
            return tx["id"]

    # what really happened -----------------------------------------------------------------
    def external_view(self) -> dict[str, Any]:
        with self.lock:
            order_of_payment = {ref["id"]: o["orderNumber"] for o in self.orders.values()
                                for ref in (o.get("paymentInfo") or {}).get("payments", [])}
            refunds = []
            for pid, payment in self.payments.items():
                for tx in payment["transactions"]:
                    if tx["type"] != "Refund" or tx["state"] != "Success":
                        continue
                    fields = (tx.get("custom") or {}).get("fields") or {}
                    refunds.append({
                        "order": order_of_payment.get(pid),
                        "return": fields.get(C.F_RETURN_ID),
                        "amount": money_text(tx["amount"]["centAmount"],
                                             tx["amount"]["currencyCode"]),
                        "currency": tx["amount"]["currencyCode"]})
            net: dict[tuple[str, str, bool], int] = {}
            for move in self.stock_ledger:
                loc = self._location_of_channel(move["channel_id"])
                key = (move["sku"], loc["location_id"] if loc else move["channel_id"],
                       bool(loc and loc["sellable"]))
                net[key] = net.get(key, 0) + move["delta"]
            stock = [{"sku": s, "location": loc, "delta": d, "sellable": sel}
                     for (s, loc, sel), d in sorted(net.items(), key=lambda kv: kv[0])
                     if d != 0]
            exchanges = []
            for order in self.orders.values():
                fields = (order.get("custom") or {}).get("fields") or {}
                if fields.get(C.F_ORIGINAL_ORDER):
                    total = order["totalPrice"]
                    exchanges.append({
                        "for_order": fields[C.F_ORIGINAL_ORDER],
                        "skus": [li["variant"].get("sku") for li in order["lineItems"]],
                        "total": money_text(total["centAmount"], total["currencyCode"])})
            return {"refunds": refunds, "stock": stock, "exchange_orders": exchanges}

    # helpers for tests -----------------------------------------------------------------
    def order_doc(self, number: str) -> dict[str, Any]:
        with self.lock:
            return self._order(number=number)

    def payment_of(self, number: str) -> dict[str, Any]:
        with self.lock:
            order = self._order(number=number)
            return self.payments[order["paymentInfo"]["payments"][0]["id"]]

    def stock_of(self, sku: str, location_id: str) -> int | None:
        channel_id = self.locations[location_id]["channel_id"]
        for entry in self.inventory.values():
            if entry["sku"] == sku and (entry.get("supplyChannel") or {}).get("id") == channel_id:
                return entry["quantityOnStock"]
        return None

