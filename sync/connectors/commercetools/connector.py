"""CommercetoolsConnector: the CommerceConnector protocol over the commercetools HTTP API.

Every write is `{version, actions}` against a version read just before it. A 409
ConcurrentModification never leads to a blind resend: the resource is read again, the
change is planned again against what is there now (the refund follows an edited price; a key
already applied is not applied twice), and sent again, a bounded number of times.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from rules.model import Order, Return
from rules.money import Money
from sync.connectors.base import (
    ConflictError,
    ConnectorError,
    Effect,
    ExchangeRequest,
    NotFound,
    PermanentError,
    RefundRequest,
    StockMovement,
)
from sync.connectors.commercetools import conventions as C
from sync.connectors.commercetools.http import CtHttp, TokenCache
from sync.connectors.commercetools.mapping import exact_unit, refund_transactions, to_order

EXPAND_PAYMENTS = {"expand": "paymentInfo.payments[*]"}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class StockRefused(PermanentError):
    """Some movements were refused (inactive or unknown location); the others were applied."""

    def __init__(self, message: str, *, applied: list[Effect], refused: list[str], **kw: Any):
        super().__init__(message, **kw)
        self.applied = applied
        self.refused = refused


def _q(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class CommercetoolsConnector:
    name = "commercetools"

    def __init__(self, client: httpx.Client, region: str, project_key: str, client_id: str,
                 client_secret: str, scopes: Sequence[str] | None = None, clock: Any = None,
                 channel_map: dict[str, str] | None = None, *, max_conflict_attempts: int = 5,
                 refund_transaction_state: str = "Success", refund_includes_tax: bool = False,
                 auth_url: str | None = None, api_url: str | None = None) -> None:
        if clock is None:
            raise ValueError("a clock is required (the replay's simulated clock or a wall clock)")
        pk = project_key
        self.clock = clock
        self.project_key = pk
        self.channel_map = dict(channel_map or {})  # Returnline location id -> channel key
        self.max_attempts = max_conflict_attempts
        # ASSUMED: Returnline records a refund the PSP integration has made (or will make);
        # commercetools moves no money itself. "Success" unless configured otherwise.
        self.refund_state = refund_transaction_state
        self.refund_includes_tax = refund_includes_tax
        scopes = list(scopes) if scopes is not None else [
            f"manage_orders:{pk}", f"manage_payments:{pk}", f"manage_products:{pk}",
            f"view_channels:{pk}"]
        self.tokens = TokenCache(client, auth_url or f"https://auth.{region}.commercetools.com",
                                 client_id, client_secret, scopes, clock)
        self.http = CtHttp(client, api_url or f"https://api.{region}.commercetools.com", pk,
                           self.tokens)
        self._movement_hints: dict[str, tuple[str, str]] = {}  # key -> (sku, channel id)

    # reads ----------------------------------------------------------------------------------
    def _order_doc(self, order_ref: str) -> dict[str, Any] | None:
        try:
            return self.http.call("GET", f"/orders/order-number={quote(order_ref, safe='')}",
                                  "get order", params=EXPAND_PAYMENTS)
        except NotFound:
            pass
        if _UUID.match(order_ref):
            try:
                return self.http.call("GET", f"/orders/{order_ref}", "get order",
                                      params=EXPAND_PAYMENTS)
            except NotFound:
                return None
        return None

    def _fresh_order(self, order_ref: str) -> dict[str, Any]:
        doc = self._order_doc(order_ref)
        if doc is None:
            raise NotFound(f"commercetools order {order_ref} not found", code="ResourceNotFound")
        return doc

    def get_order(self, order_ref: str) -> Order | None:
        doc = self._order_doc(order_ref)
        if doc is None:
            return None
        number = doc.get("orderNumber") or doc["id"]
        page = self.http.call("GET", "/orders", "find replacement orders", params={
            "where": f'custom(fields({C.F_ORIGINAL_ORDER}="{_q(number)}"))', "limit": 500,
            "withTotal": "false"})
        refs = tuple(o.get("orderNumber") or o["id"] for o in page["results"])
        return to_order(doc, refs)

    # return record ------------------------------------------------------------------------
    @staticmethod
    def _return_info(doc: dict[str, Any], return_id: str) -> dict[str, Any] | None:
        for info in doc.get("returnInfo") or []:
            if info.get("returnTrackingId") == return_id:
                return info
        return None

    def create_return_record(self, key: str, ret: Return, order: Order) -> Effect:
        for _ in range(self.max_attempts):
            doc = self._fresh_order(order.order_ref or ret.order_ref)
            info = self._return_info(doc, ret.return_id)
            if info is not None:
                return self._return_effect(doc, info, "return record already on the order")
            items = self._return_items(doc, ret)
            body = {"version": doc["version"], "actions": [{
                "action": "addReturnInfo", "items": items, "returnTrackingId": ret.return_id,
                "returnDate": _iso(ret.requested_at)}]}
            try:
                new = self.http.call("POST", f"/orders/{doc['id']}", "add return info",
                                     json=body, write=True)
            except ConflictError:
                continue
            return self._return_effect(new, self._return_info(new, ret.return_id) or {},
                                       "return record added")
        raise self._gave_up("add return info")

    def _return_items(self, doc: dict[str, Any], ret: Return) -> list[dict[str, Any]]:
        lines = doc.get("lineItems", [])
        by_id = {li["id"]: li for li in lines}
        items = []
        for line in ret.lines:
            li = by_id.get(line.order_line_ref or "") or next(
                (x for x in lines if (x.get("variant") or {}).get("sku") == line.sku), None)
            if li is None:
                raise PermanentError(f"order {ret.order_ref} has no line for SKU {line.sku}",
                                     code="line_not_found")
            comment = f"Returnline {ret.return_id} line {line.line_id}"
            if line.raw_reason:
                comment += f": {line.raw_reason}"
            items.append({"quantity": line.qty, "lineItemId": li["id"],
                          "shipmentState": "Returned",
                          "key": C.return_item_key(ret.return_id, line.line_id),
                          "comment": comment[:500]})
        return items

    @staticmethod
    def _return_effect(doc: dict[str, Any], info: dict[str, Any], summary: str) -> Effect:
        ids = [i["id"] for i in info.get("items", [])]
        return Effect(external_id=doc["id"], summary=summary,
                      data={"order_version": doc["version"], "return_item_ids": ids})

    # tags -----------------------------------------------------------------------------------
    def tag_order(self, key: str, order: Order, tags: Sequence[str], note: str) -> Effect:
        for _ in range(self.max_attempts):
            doc = self._fresh_order(order.order_ref)
            custom = doc.get("custom")
            fields = (custom or {}).get("fields") or {}
            current = [t for t in (fields.get(C.F_TAGS) or "").split(",") if t]
            merged = current + [t for t in tags if t not in current]
            if merged == current and (not note or fields.get(C.F_ORDER_NOTE) == note):
                return Effect(doc["id"], "tags already on the order", {"tags": merged})
            wanted = {C.F_TAGS: ",".join(merged), **({C.F_ORDER_NOTE: note} if note else {})}
            if custom is None:
                actions = [{"action": "setCustomType",
                            "type": {"typeId": "type", "key": C.ORDER_TYPE_KEY},
                            "fields": wanted}]
            elif not any(name.startswith("returnline") for name in fields) and fields:
                # ASSUMED: never replace the merchant's own custom type on an order.
                return Effect(doc["id"], "not tagged: the order has another custom type",
                              {"tags": list(tags)})
            else:
                actions = [{"action": "setCustomField", "name": n, "value": v}
                           for n, v in wanted.items()]
            try:
                self.http.call("POST", f"/orders/{doc['id']}", "tag order",
                               json={"version": doc["version"], "actions": actions}, write=True)
            except ConflictError:
                continue
            return Effect(doc["id"], f"tagged {', '.join(merged)}", {"tags": merged})
        raise self._gave_up("tag order")

    # refunds --------------------------------------------------------------------------------
    def _refund_tx(self, doc: dict[str, Any], key: str) -> tuple[dict, dict] | None:
        for payment, tx in refund_transactions(doc):
            if tx.get("interactionId") == key:
                return payment, tx
        return None

    @staticmethod
    def _refund_effect(payment: dict[str, Any], tx: dict[str, Any], summary: str,
                       **extra: Any) -> Effect:
        amount = Money(int(tx["amount"]["centAmount"]), tx["amount"]["currencyCode"])
        return Effect(external_id=tx["id"], summary=summary, data={
            "payment_id": payment["id"], "amount": amount.amount_str(),
            "currency": amount.currency, "state": tx.get("state"), **extra})

    def find_refund(self, order_ref: str, key: str) -> Effect | None:
        doc = self._order_doc(order_ref)
        found = self._refund_tx(doc, key) if doc else None
        return self._refund_effect(*found, "refund found by interactionId") if found else None

    def refund(self, req: RefundRequest) -> Effect:
        """Record the refund: (1) read the order as it is now, price the refund on it;
        (2) mark this return's items Refunded with the version just read, which fails with
        409 if the order changed meanwhile (re-read, re-price); (3) add the Refund
        transaction (interactionId = key) to the payment with its version just read."""
        last: ConflictError | None = None
        for _ in range(self.max_attempts):
            doc = self._fresh_order(req.order_ref)
            found = self._refund_tx(doc, req.key)
            if found:
                warning = self._mark_refunded(req)
                return self._refund_effect(*found, "refund already recorded", warning=warning)
            payment = self._payment_for(doc)
            amount, lines = self._refund_amount(doc, req)
            try:
                guarded = self._guard_order(doc, req)
                new = self.http.call("POST", f"/payments/{payment['id']}", "refund", write=True,
                                     json={"version": payment["version"], "actions": [
                                         {"action": "addTransaction",
                                          "transaction": self._refund_draft(req, amount, lines)}]})
            except ConflictError as exc:
                last = exc
                continue
            made = next(t for t in new["transactions"] if t.get("interactionId") == req.key)
            summary = f"refunded {amount}"
            if amount != req.amount:
                summary += f" (order changed since planning: planned {req.amount})"
            return self._refund_effect(new, made, summary, planned=req.amount.amount_str(),
                                       order_version=doc["version"], order_guarded=guarded)
        raise self._gave_up("refund", last)

    def _refund_draft(self, req: RefundRequest, amount: Money,
                      lines: list[dict[str, Any]]) -> dict[str, Any]:
        fields = {C.F_RETURN_ID: req.return_id, C.F_LINES: json.dumps(lines)}
        if req.note:
            fields[C.F_NOTE] = req.note
        return {"type": "Refund",
                "amount": {"currencyCode": amount.currency, "centAmount": amount.minor},
                "interactionId": req.key, "state": self.refund_state,
                "timestamp": _iso(self.clock.now()),
                "custom": {"type": {"typeId": "type", "key": C.REFUND_TYPE_KEY},
                           "fields": fields}}

    def _guard_order(self, doc: dict[str, Any], req: RefundRequest) -> bool:
        """setReturnPaymentState Refunded on this return's items at the version read: the
        order-side record of the refund and the check that the price used is current.
        Without a return record on the order there is nothing to guard with (False)."""
        info = self._return_info(doc, req.return_id)
        refs = {rl.line_ref for rl in req.lines}
        items = [i for i in (info or {}).get("items", [])
                 if i.get("lineItemId") in refs or not refs]
        if not items:
            return False
        self.http.call("POST", f"/orders/{doc['id']}", "set return payment state", write=True,
                       json={"version": doc["version"], "actions": [
                           {"action": "setReturnPaymentState", "returnItemId": i["id"],
                            "paymentState": "Refunded"} for i in items]})
        return True

    def _payment_for(self, doc: dict[str, Any]) -> dict[str, Any]:
        currency = doc["totalPrice"]["currencyCode"]
        payments = [r["obj"] for r in (doc.get("paymentInfo") or {}).get("payments", [])
                    if r.get("obj")]
        charged = [p for p in payments if p["amountPlanned"]["currencyCode"] == currency and any(
            t["type"] == "Charge" and t["state"] == "Success" for t in p["transactions"])]
        if not (charged or payments):
            raise PermanentError(f"order {doc.get('orderNumber')} has no payment to refund",
                                 code="no_payment")
        return (charged or payments)[0]

    def _refund_amount(self, doc: dict[str, Any],
                       req: RefundRequest) -> tuple[Money, list[dict[str, Any]]]:
        """Re-price the refund on the order as it is now; round once, half-even."""
        currency = doc["totalPrice"]["currencyCode"]
        lines = doc.get("lineItems", [])
        by_id = {li["id"]: li for li in lines}
        refunded: dict[str, int] = {}
        for refund in to_order(doc).refunds:
            for rl in refund.lines:
                refunded[rl.line_ref] = refunded.get(rl.line_ref, 0) + rl.qty
        total = Decimal(0)
        recorded = []
        for rl in req.lines:
            li = by_id.get(rl.line_ref) or next(
                (x for x in lines if (x.get("variant") or {}).get("sku") == rl.sku), None)
            if li is None:
                raise PermanentError(f"refund: line {rl.line_ref} ({rl.sku}) is no longer on "
                                     f"order {req.order_ref}", code="line_not_found")
            sku = (li.get("variant") or {}).get("sku")
            if sku == rl.sku:
                left = li["quantity"] - refunded.get(li["id"], 0)
                if rl.qty > left:
                    raise PermanentError(f"refund: only {left} of {sku} still refundable on "
                                         f"order {req.order_ref}", code="not_refundable")
                total += exact_unit(li) * rl.qty
                if self.refund_includes_tax and (li.get("taxedPrice") or {}).get("totalTax"):
                    tax = li["taxedPrice"]["totalTax"]
                    total += Decimal(tax["centAmount"]).scaleb(-tax["fractionDigits"]) \
                        * rl.qty / li["quantity"]
            else:  # a bundle component: its share was split by the rules
                total += rl.amount.to_decimal()
            refunded[li["id"]] = refunded.get(li["id"], 0) + rl.qty
            recorded.append({"lineItemId": li["id"], "sku": rl.sku, "qty": rl.qty})
        return Money.from_decimal(total, currency), recorded

    def _mark_refunded(self, req: RefundRequest) -> str | None:
        """Return items of this return -> paymentState Refunded (after the money is recorded;
        failures here leave the refund in place and are reported, not raised)."""
        refs = {rl.line_ref for rl in req.lines}
        for _ in range(self.max_attempts):
            try:
                doc = self._fresh_order(req.order_ref)
                info = self._return_info(doc, req.return_id)
                if info is None:
                    return None
                todo = [i for i in info["items"] if i["paymentState"] == "Initial"
                        and (i.get("lineItemId") in refs or not refs)]
                if not todo:
                    return None
                actions = [{"action": "setReturnPaymentState", "returnItemId": i["id"],
                            "paymentState": "Refunded"} for i in todo]
                self.http.call("POST", f"/orders/{doc['id']}", "set return payment state",
                               json={"version": doc["version"], "actions": actions}, write=True)
                return None
            except ConflictError:
                continue
            except ConnectorError as exc:
                return f"return payment state not set: {exc.message}"
        return "return payment state not set: still conflicting"

    # stock ----------------------------------------------------------------------------------
    def _channel(self, location_id: str) -> dict[str, Any] | None:
        key = self.channel_map.get(location_id, location_id)
        page = self.http.call("GET", "/channels", "get channel",
                              params={"where": f'key="{_q(key)}"', "limit": 1})
        return page["results"][0] if page["results"] else None

    def _entry(self, sku: str, channel_id: str) -> dict[str, Any] | None:
        page = self.http.call("GET", "/inventory", "get stock", params={
            "where": f'sku="{_q(sku)}" and supplyChannel(id="{channel_id}")', "limit": 1})
        return page["results"][0] if page["results"] else None

    @staticmethod
    def _applied_keys(entry: dict[str, Any] | None) -> list[str]:
        fields = ((entry or {}).get("custom") or {}).get("fields") or {}
        return [k for k in (fields.get(C.F_MOVEMENTS) or "").split("\n") if k]

    def move_stock(self, movements: Sequence[StockMovement]) -> list[Effect]:
        groups: dict[tuple[str, str], list[StockMovement]] = {}
        for mv in movements:
            groups.setdefault((mv.sku, mv.location_id), []).append(mv)
        by_key: dict[str, Effect] = {}
        refused: list[str] = []
        reasons: list[str] = []
        for (sku, location_id), group in groups.items():
            channel = self._channel(location_id)
            if channel is None or C.ACTIVE_ROLE not in channel.get("roles", []):
                refused += [m.key for m in group]
                reasons.append(f"{location_id}: " + ("unknown location" if channel is None
                                                     else "location inactive (no "
                                                     f"{C.ACTIVE_ROLE} role)"))
                continue
            for mv, effect in zip(group, self._apply_group(sku, location_id, channel, group),
                                  strict=True):
                by_key[mv.key] = effect
        applied = [m for m in movements if m.key in by_key]
        warning = self._set_return_shipment_states(applied)
        if warning:
            for m in applied:
                by_key[m.key].data["warning"] = warning
        if refused:
            raise StockRefused("stock movement refused: " + "; ".join(reasons),
                               applied=[by_key[m.key] for m in applied], refused=refused,
                               code="location_inactive")
        return [by_key[m.key] for m in movements]

    def _apply_group(self, sku: str, location_id: str, channel: dict[str, Any],
                     group: list[StockMovement]) -> list[Effect]:
        for mv in group:
            self._movement_hints[mv.key] = (sku, channel["id"])
        for _ in range(self.max_attempts):
            entry = self._entry(sku, channel["id"])
            done = self._applied_keys(entry)
            todo = [m for m in group if m.key not in done]
            if not todo:
                return [self._stock_effect(entry, m, location_id, "already applied")
                        for m in group]
            delta = sum(m.delta for m in todo)
            keys = "\n".join((done + [m.key for m in todo])[-C.MOVEMENT_KEYS_KEPT:])
            try:
                if entry is None:
                    entry = self.http.call("POST", "/inventory", "create stock entry",
                                           write=True, json={
                        "sku": sku, "supplyChannel": {"typeId": "channel", "id": channel["id"]},
                        "quantityOnStock": delta,
                        "custom": {"type": {"typeId": "type", "key": C.INVENTORY_TYPE_KEY},
                                   "fields": {C.F_MOVEMENTS: keys}}})
                else:
                    entry = self.http.call("POST", f"/inventory/{entry['id']}", "move stock",
                                           write=True, json={"version": entry["version"],
                                                             "actions": self._stock_actions(
                                                                 entry, delta, keys)})
            except ConflictError:
                continue
            except PermanentError as exc:
                if exc.code == "DuplicateField":  # created by someone else meanwhile
                    continue
                raise
            return [self._stock_effect(entry, m, location_id,
                                       "applied" if m in todo else "already applied")
                    for m in group]
        raise self._gave_up("move stock")

    @staticmethod
    def _stock_actions(entry: dict[str, Any], delta: int, keys: str) -> list[dict[str, Any]]:
        actions: list[dict[str, Any]] = []
        if delta > 0:
            actions.append({"action": "addQuantity", "quantity": delta})
        elif delta < 0:
            actions.append({"action": "removeQuantity", "quantity": -delta})
        if entry.get("custom"):
            # ASSUMED: inventory entries carry no custom type but Returnline's.
            actions.append({"action": "setCustomField", "name": C.F_MOVEMENTS, "value": keys})
        else:
            actions.append({"action": "setCustomType",
                            "type": {"typeId": "type", "key": C.INVENTORY_TYPE_KEY},
                            "fields": {C.F_MOVEMENTS: keys}})
        return actions

    @staticmethod
    def _stock_effect(entry: dict[str, Any], mv: StockMovement, location_id: str,
                      how: str) -> Effect:
        kind = "restock" if mv.sellable else "quarantine"
        return Effect(external_id=entry["id"],
                      summary=f"{kind} {mv.delta:+d} {mv.sku} at {location_id} ({how})",
                      data={"sku": mv.sku, "location": location_id, "delta": mv.delta,
                            "entry_version": entry["version"],
                            "quantity_on_stock": entry["quantityOnStock"]})

    def _set_return_shipment_states(self, applied: list[StockMovement]) -> str | None:
        """Returned items -> BackInStock (sellable) / Unusable; best effort, never undoes stock."""
        by_return: dict[str, list[StockMovement]] = {}
        for mv in applied:
            if mv.delta > 0:
                by_return.setdefault(mv.return_id, []).append(mv)
        problems = []
        for return_id, moves in by_return.items():
            for _ in range(self.max_attempts):
                try:
                    page = self.http.call("GET", "/orders", "find return", params={
                        "where": f'returnInfo(returnTrackingId="{_q(return_id)}")', "limit": 1})
                    if not page["results"]:
                        break
                    doc = page["results"][0]
                    info = self._return_info(doc, return_id) or {"items": []}
                    sku_of = {li["id"]: (li.get("variant") or {}).get("sku")
                              for li in doc["lineItems"]}
                    actions, taken = [], set()
                    for mv in moves:
                        item = next((i for i in info["items"] if i["id"] not in taken
                                     and i["shipmentState"] == "Returned"
                                     and sku_of.get(i.get("lineItemId")) == mv.sku), None)
                        if item is not None:
                            taken.add(item["id"])
                            actions.append({"action": "setReturnShipmentState",
                                            "returnItemId": item["id"],
                                            "shipmentState": "BackInStock" if mv.sellable
                                            else "Unusable"})
                    if actions:
                        self.http.call("POST", f"/orders/{doc['id']}", "set return shipment state",
                                       write=True, json={"version": doc["version"],
                                                         "actions": actions})
                    break
                except ConflictError:
                    continue
                except ConnectorError as exc:
                    problems.append(f"{return_id}: {exc.message}")
                    break
        return "return shipment state not set: " + "; ".join(problems) if problems else None

    def find_stock_movement(self, key: str) -> Effect | None:
        hint = self._movement_hints.get(key)
        if hint:
            entries = [e for e in [self._entry(*hint)] if e]
        else:  # after a restart: scan the entries that carry Returnline keys
            entries, offset = [], 0
            while True:
                page = self.http.call("GET", "/inventory", "find stock movement", params={
                    "where": f"custom(fields({C.F_MOVEMENTS} is defined))", "limit": 500,
                    "offset": offset, "withTotal": "false"})
                entries += page["results"]
                offset += page["count"]
                if page["count"] < 500 or offset > 10000:
                    break
        for entry in entries:
            if key in self._applied_keys(entry):
                return Effect(external_id=entry["id"], summary="stock movement found by key",
                              data={"sku": entry["sku"], "entry_version": entry["version"],
                                    "channel_id": (entry.get("supplyChannel") or {}).get("id")})
        return None

    # exchanges ------------------------------------------------------------------------------
    def create_exchange_order(self, req: ExchangeRequest) -> Effect:
        number = C.exchange_order_number(req.order_ref, req.key)
        existing = self._order_doc(number)
        if existing is not None:
            return self._exchange_effect(existing, "replacement order already exists")
        original = self._fresh_order(req.order_ref)
        currency = original["totalPrice"]["currencyCode"]
        zero = {"currencyCode": currency, "centAmount": 0}
        draft: dict[str, Any] = {
            "orderNumber": number,
            "lineItems": [{"name": {"en": sku}, "variant": {"sku": sku},
                           "price": {"value": dict(zero)}, "quantity": qty}
                          for sku, qty in req.skus],
            "totalPrice": dict(zero),
            # ASSUMED: fulfilment picks up Confirmed orders with shipmentState Ready.
            "orderState": "Confirmed", "shipmentState": "Ready", "paymentState": "Paid",
            "origin": "Merchant",
            "custom": {"type": {"typeId": "type", "key": C.ORDER_TYPE_KEY},
                       "fields": {C.F_ORIGINAL_ORDER: original.get("orderNumber") or req.order_ref,
                                  C.F_EXCHANGE_KEY: req.key, C.F_ORDER_RETURN_ID: req.return_id}}}
        if original.get("customerEmail"):
            draft["customerEmail"] = original["customerEmail"]
        if original.get("store"):
            draft["store"] = {"typeId": "store", "key": original["store"]["key"]}
        try:
            made = self.http.call("POST", "/orders/import", "create exchange order", json=draft,
                                  write=True)
        except PermanentError as exc:
            if exc.code != "DuplicateField":
                raise
            made = self._fresh_order(number)  # a resend after an unknown outcome
        return self._exchange_effect(made, f"replacement order {number} created at zero value")

    def find_exchange_order(self, order_ref: str, key: str) -> Effect | None:
        doc = self._order_doc(C.exchange_order_number(order_ref, key))
        return self._exchange_effect(doc, "replacement order found") if doc else None

    @staticmethod
    def _exchange_effect(doc: dict[str, Any], summary: str) -> Effect:
        return Effect(external_id=doc.get("orderNumber") or doc["id"], summary=summary,
                      data={"order_id": doc["id"],
                            "skus": [li["variant"].get("sku") for li in doc["lineItems"]],
                            "total": Money(doc["totalPrice"]["centAmount"],
                                           doc["totalPrice"]["currencyCode"]).amount_str()})

    # helpers ----------------------------------------------------------------------------------
    def _gave_up(self, what: str, last: ConflictError | None = None) -> ConflictError:
        return ConflictError(f"{what}: the resource kept changing ({self.max_attempts} "
                             "attempts re-read and re-applied)",
                             current_version=last.current_version if last else None,
                             code="ConcurrentModification")


def _iso(when: Any) -> str:
    when = when.astimezone(UTC) if when.tzinfo else when
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"

