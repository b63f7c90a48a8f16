"""Shopify Admin GraphQL (2026-04) as Returnline's commerce connector.

Writes carry the action's idempotency key: `@idempotent(key:)` on refundCreate and
inventoryAdjustQuantities (required from 2026-04), and a note marker (`notes.py`) wherever
Shopify keeps text a later read can see (refund notes, return line notes, order notes, tags
of exchange orders). Writes without @idempotent (returnCreate, orderCreate) look themselves up
before they write, so a resend never doubles them.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from rules.model import Order, OrderLine, OrderRefund, OrderRefundLine, OrderState, Return
from rules.money import Money, MoneyError
from sync.clock import WallClock
from sync.connectors.base import (
    Effect,
    ExchangeRequest,
    NotFound,
    PermanentError,
    RefundRequest,
    StockMovement,
    call_record,
)
from sync.connectors.shopify import documents as docs
from sync.connectors.shopify import notes
from sync.connectors.shopify.bucket import ShopifyCostBucket
from sync.connectors.shopify.transport import Answer, ShopifyTransport

MAX_KEY_ATTEMPTS = 8  # a key whose first attempt failed is spent; we move on to key#2, key#3..
MAX_CHANGES_PER_INPUT = 250  # Shopify's input array limit
MAX_LINES_READ = 50  # lineItems(first: 50) of the full order read
MAX_ALIASES_PER_CALL = 50  # 13 points each: well under the 1,000 single-query limit
PREVIOUS_ATTEMPT_FAILED = "A previous request with this idempotency key failed"
REASONS = {"available": "restock", "damaged": "damaged", "quality_control": "quality_control"}
EXCHANGE_TAG = "returnline-exchange"



@dataclass(frozen=True)
class LocationTarget:
    """Where a Returnline location's stock goes in Shopify, and under which quantity name."""

    location_gid: str | None = None  # None: the Shopify location named like the Returnline id
    sellable_quantity: str = "available"
    unsellable_quantity: str = "damaged"


class PartialStockFailure(PermanentError):
    """Some groups of a stock batch were applied, others refused (all-or-nothing per group)."""

    def __init__(self, message: str, *, effects: dict[str, Effect], errors: dict[str, str],
                 **kw: Any) -> None:
        super().__init__(message, **kw)
        self.effects = effects
        self.errors = errors


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _money(bag: dict[str, Any] | None, currency: str) -> Money:
    shop = (bag or {}).get("shopMoney") or {}
    amount = shop.get("amount", "0")
    cur = shop.get("currencyCode") or currency
    try:
        return Money.parse(amount, cur)
    except MoneyError:
        return Money.from_decimal(Decimal(str(amount)), cur)


def stock_batch_key(movements: Sequence[StockMovement]) -> str:
    """Deterministic key of a batch: the same movements (in any order) give the same key."""
    digest = hashlib.sha256("\n".join(sorted(m.key for m in movements)).encode()).hexdigest()
    return f"rl-stock-{digest[:32]}"


class ShopifyConnector:
    name = "shopify"
    max_stock_batch = MAX_CHANGES_PER_INPUT  # movements per executor batch: one full input

    def __init__(self, client: httpx.Client, shop: str, access_token: str,
                 api_version: str = "2026-04",
                 location_map: Mapping[str, str | LocationTarget | dict[str, Any]] | None = None,
                 *, clock: Any = None, bucket: ShopifyCostBucket | None = None,
                 preflight: bool = True, store: str | None = None,
                 store_attribute: str = "store") -> None:
        domain = shop if "." in shop else f"{shop}.myshopify.com"
        self.shop = domain
        self.api_version = api_version
        self.url = f"https://{domain}/admin/api/{api_version}/graphql.json"
        self.clock = clock or WallClock()
        self.bucket = bucket or ShopifyCostBucket()
        self.http = ShopifyTransport(client, self.url, access_token, self.clock, self.bucket,
                                     preflight)
        self.store = store
        self.store_attribute = store_attribute
        self.location_map = {k: self._target(v) for k, v in (location_map or {}).items()}
        self._location_gids: dict[str, tuple[str, bool]] | None = None  # name -> (gid, active)
        self._item_ids: dict[str, str] = {}
        self._orders: OrderedDict[str, dict[str, Any]] = OrderedDict()  # raw, by ref and gid
        self._movements: dict[str, Effect] = {}

    # rate limits -------------------------------------------------------------------------
    def estimated_cost(self, operation: str, movements: Sequence[StockMovement] = ()) -> int:
        """Requested points a call will need (`restock`/`quarantine`/`move_stock`: per batch)."""
        groups = len(self._plan_groups(movements)) if movements else 1
        return self.http.estimated_cost(operation, groups)

    # reads -------------------------------------------------------------------------------
    def get_order(self, order_ref: str) -> Order | None:
        if order_ref.startswith("gid://shopify/Order/"):
            answer = self.http.call("get_order_by_id", docs.ORDER_BY_ID, {"id": order_ref},
                                    write=False, what=f"read order {order_ref}")
            self.http.refuse(answer, "read order", write=False)
            raw = answer.data.get("order")
            if raw is None:
                return None
            found = self.http.call("exchanges", docs.EXCHANGES,
                                   {"query": self._exchange_query(raw["name"])}, write=False,
                                   what="read exchange orders")
            self.http.refuse(found, "read exchange orders", write=False)
            exchanges = found.data["orders"]["nodes"]
        else:
            name = "#" + order_ref.lstrip("#")
            answer = self.http.call(
                "get_order", docs.ORDER_BY_NAME,
                {"query": f"name:{name}", "exchanges": self._exchange_query(name)},
                write=False, what=f"read order {name}")
            self.http.refuse(answer, "read order", write=False)
            nodes = [n for n in answer.data["orders"]["nodes"] if n["name"] == name]
            if not nodes:
                return None
            raw, exchanges = nodes[0], answer.data["exchanges"]["nodes"]
        self._remember(raw)
        return self._to_order(raw, exchanges)

    def reread_order(self, order_ref: str, known: Order | None = None) -> Order | None:
        """The order as it is now, right before money moves: the same facts as `get_order`
        from a query sized to the order as last seen (`known`). An order that grew (more
        lines, or a refund touching more lines than it had) is read again in full."""
        if known is None or order_ref.startswith("gid://"):
            return self.get_order(order_ref)
        size = min(MAX_LINES_READ, len(known.lines) + 1)
        name = "#" + order_ref.lstrip("#")
        answer = self.http.call(
            "reread_order", docs.ORDER_REREAD,
            {"query": f"name:{name}", "exchanges": self._exchange_query(name), "lines": size},
            write=False, what=f"re-read order {name}")
        self.http.refuse(answer, "re-read order", write=False)
        nodes = [n for n in answer.data["orders"]["nodes"] if n["name"] == name]
        if not nodes:
            return None
        raw = nodes[0]
        full = [len(raw["lineItems"]["nodes"])] + [len(r["refundLineItems"]["nodes"])
                                                   for r in raw.get("refunds") or []]
        if size < MAX_LINES_READ and max(full) >= size:
            return self.get_order(order_ref)  # more than we sized for: read it all
        self._remember(raw)
        return self._to_order(raw, answer.data["exchanges"]["nodes"])

    @staticmethod
    def _exchange_query(name: str) -> str:
        return f'tag:"{EXCHANGE_TAG}-for:{name}"'

    def _remember(self, raw: dict[str, Any]) -> None:
        for key in (raw["id"], raw["name"].lstrip("#")):
            self._orders[key] = raw
            self._orders.move_to_end(key)
        while len(self._orders) > 2000:
            self._orders.popitem(last=False)

    def _order_raw(self, order_ref: str) -> dict[str, Any]:
        raw = self._orders.get(order_ref.lstrip("#"))
        if raw is None:
            if self.get_order(order_ref) is None:
                raise NotFound(f"Shopify has no order {order_ref}")
            raw = self._orders[order_ref.lstrip("#")]
        return raw

    def _to_order(self, raw: dict[str, Any], exchanges: list[dict[str, Any]]) -> Order:
        cur = raw["currencyCode"]
        lines = []
        for li in raw["lineItems"]["nodes"]:
            qty = li["quantity"]
            taxes = [_money(t["priceSet"], cur) for t in li.get("taxLines") or []]
            unit_tax = None
            if taxes and qty:
                total = sum((t.to_decimal() for t in taxes), Decimal("0"))
                unit_tax = Money.from_decimal(total / qty, cur)
            group = li.get("lineItemGroup") or {}
            lines.append(OrderLine(
                line_ref=li["id"], sku=li.get("sku") or "", qty=qty,
                unit_price=_money(li["discountedUnitPriceAfterAllDiscountsSet"], cur),
                unit_tax=unit_tax, refundable_qty=li.get("refundableQuantity"),
                bundle_sku=group.get("variantSku")))
        refunds = []
        for r in raw.get("refunds") or []:
            _ret, key = notes.parse(r.get("note"))
            refunds.append(OrderRefund(
                refund_id=r["id"], amount=_money(r["totalRefundedSet"], cur),
                lines=tuple(OrderRefundLine(line_ref=n["lineItem"]["id"], qty=n["quantity"],
                                            sku=n["lineItem"].get("sku"))
                            for n in r["refundLineItems"]["nodes"]),
                created_at=_parse_time(r.get("createdAt")) or datetime.min.replace(tzinfo=UTC),
                note=r.get("note") or "", idempotency_key=key))
        attrs = {a["key"]: a.get("value") for a in raw.get("customAttributes") or []}
        state = OrderState.CANCELLED if raw.get("cancelledAt") else \
            OrderState.CLOSED if raw.get("closed") else OrderState.OPEN
        return Order(
            order_ref=raw["name"].lstrip("#"), order_id=raw["id"], currency=cur,
            lines=tuple(lines), state=state, store=attrs.get(self.store_attribute) or self.store,
            cancelled_at=_parse_time(raw.get("cancelledAt")), refunds=tuple(refunds),
            replacement_order_refs=tuple(e["name"].lstrip("#") for e in exchanges),
            tags=tuple(raw.get("tags") or ()), updated_at=_parse_time(raw.get("updatedAt")))

    def locations(self, refresh: bool = False) -> dict[str, tuple[str, bool]]:
        """Shopify locations by name: (gid, active)."""
        if self._location_gids is None or refresh:
            answer = self.http.call("locations", docs.LOCATIONS, {}, write=False,
                                    what="read locations")
            self.http.refuse(answer, "read locations", write=False)
            self._location_gids = {n["name"]: (n["id"], n["isActive"])
                                   for n in answer.data["locations"]["nodes"]}
        return self._location_gids

    def inventory_item_ids(self, skus: Sequence[str]) -> dict[str, str]:
        """InventoryItem gids by SKU (cached: they do not change)."""
        missing = sorted({s for s in skus if s not in self._item_ids})
        for start in range(0, len(missing), 50):
            chunk = missing[start:start + 50]
            query = " OR ".join(f'sku:"{s}"' for s in chunk)
            answer = self.http.call("inventory_items", docs.INVENTORY_ITEMS, {"query": query},
                                    write=False, what="read inventory items")
            self.http.refuse(answer, "read inventory items", write=False)
            for node in answer.data["inventoryItems"]["nodes"]:
                if node.get("sku") in chunk:
                    self._item_ids[node["sku"]] = node["id"]
        return {s: self._item_ids[s] for s in skus if s in self._item_ids}

    def stock_levels(self, sku: str, names: Sequence[str] = ("available", "damaged")
                     ) -> dict[str, dict[str, int]]:
        """Quantities of one SKU per Shopify location name (active levels only)."""
        answer = self.http.call("stock_levels", docs.STOCK_LEVELS,
                                {"query": f'sku:"{sku}"', "names": list(names)}, write=False,
                                what=f"read stock of {sku}")
        self.http.refuse(answer, "read stock", write=False)
        out: dict[str, dict[str, int]] = {}
        for item in answer.data["inventoryItems"]["nodes"]:
            if item.get("sku") != sku:
                continue
            for level in item["inventoryLevels"]["nodes"]:
                out[level["location"]["name"]] = {q["name"]: q["quantity"]
                                                  for q in level["quantities"]}
        return out

    # refunds -----------------------------------------------------------------------------
    def refund(self, req: RefundRequest) -> Effect:
        raw = self._order_raw(req.order_ref)
        by_id = {li["id"]: li for li in raw["lineItems"]["nodes"]}
        by_sku = {li.get("sku"): li for li in raw["lineItems"]["nodes"]}
        lines = []
        for line in req.lines:
            li = by_id.get(line.line_ref) or by_sku.get(line.sku)
            if li is None:
                raise PermanentError(f"refund {req.key}: order {req.order_ref} has no line "
                                     f"{line.line_ref} ({line.sku})")
            # Stock moves separately (move_stock), so the refund never restocks.
            lines.append({"lineItemId": li["id"], "quantity": line.qty,
                          "restockType": "NO_RESTOCK"})
        sale = next((t for t in raw.get("transactions") or []
                     if t["kind"] in ("SALE", "CAPTURE") and t.get("status") == "SUCCESS"), None)
        transactions = []
        if req.amount.minor > 0:
            if sale is None:
                raise PermanentError(f"refund {req.key}: order {req.order_ref} has no "
                                     "successful payment to refund against")
            transactions.append({"amount": req.amount.amount_str(),
                                 "gateway": sale.get("gateway") or "manual", "kind": "REFUND",
                                 "orderId": raw["id"], "parentId": sale["id"]})
        text = req.note or f"Returnline refund for return {req.return_id}"
        refund_input = {"orderId": raw["id"], "note": notes.with_marker(text, req.return_id,
                                                                        req.key),
                        "notify": False, "refundLineItems": lines, "transactions": transactions}
        payload, used_key, answer = self._idempotent_single(
            "refund", docs.REFUND_CREATE, {"input": refund_input}, req.key, "refundCreate",
            what=f"refund {req.key}")
        refund = payload["refund"]
        self._orders.pop(req.order_ref.lstrip("#"), None)  # refunds changed: read again
        return Effect(refund["id"], f"refunded {req.amount} on order {raw['name']}",
                      {"refund_id": refund["id"], "order_id": raw["id"],
                       "amount": req.amount.amount_str(), "currency": req.amount.currency,
                       "idempotency_key": used_key,
                       "financial_status": (payload.get("order") or {}).get(
                           "displayFinancialStatus")})

    def _idempotent_single(self, operation, document, variables, key, root, *, what):
        """Send one @idempotent mutation; a spent key (first attempt failed) moves to key#n."""
        for attempt in range(MAX_KEY_ATTEMPTS):
            used = key if attempt == 0 else f"{key}#{attempt + 1}"
            answer = self.http.call(operation, document, {**variables, "key": used}, write=True,
                                    what=what)
            self.http.refuse(answer, what, write=True)
            payload = answer.data.get(root) or {}
            errors = payload.get("userErrors") or []
            if any(PREVIOUS_ATTEMPT_FAILED in e.get("message", "") for e in errors):
                continue
            if errors:
                raise PermanentError(f"{what}: " + "; ".join(_user_error(e) for e in errors),
                                     call=call_record(answer.response), code=errors[0].get("code"))
            return payload, used, answer
        raise PermanentError(f"{what}: every idempotency key up to #{MAX_KEY_ATTEMPTS} failed")

    def find_refund(self, order_ref: str, key: str) -> Effect | None:
        order = self.get_order(order_ref)
        if order is None:
            return None
        for refund in order.refunds:
            if refund.idempotency_key == key:
                return Effect(refund.refund_id, f"refund found on order {order.order_ref}",
                              {"refund_id": refund.refund_id, "order_id": order.order_id,
                               "amount": refund.amount.amount_str(),
                               "currency": refund.amount.currency, "idempotency_key": key})
        return None

    # stock -------------------------------------------------------------------------------
    @staticmethod
    def _target(value: str | LocationTarget | dict[str, Any]) -> LocationTarget:
        if isinstance(value, LocationTarget):
            return value
        if isinstance(value, str):
            return LocationTarget(location_gid=value)
        return LocationTarget(**value)

    def _location_for(self, location_id: str) -> tuple[str, LocationTarget]:
        target = self.location_map.get(location_id) or LocationTarget()
        gid = target.location_gid
        if gid is None:
            found = self.locations().get(location_id) or \
                self.locations(refresh=True).get(location_id)
            if found is None:
                raise PermanentError(f"no Shopify location named {location_id!r} (set "
                                     "location_map)")
            gid = found[0]
        return gid, target

    def _plan_groups(self, movements: Sequence[StockMovement]):
        """alias -> movements, one alias per quantity name and 250 changes."""
        by_name: dict[str, list[StockMovement]] = {}
        for m in sorted(movements, key=lambda m: m.key):  # same batch -> same input, any order
            target = self.location_map.get(m.location_id) or LocationTarget()
            name = target.sellable_quantity if m.sellable else target.unsellable_quantity
            if not m.sellable and name == "available" and target.location_gid is None:
                raise PermanentError(f"movement {m.key}: unsellable stock would land in "
                                     "'available'; map the location to a quarantine location")
            by_name.setdefault(name, []).append(m)
        groups: dict[str, list[StockMovement]] = {}
        for name, items in sorted(by_name.items()):
            for n, start in enumerate(range(0, len(items), MAX_CHANGES_PER_INPUT)):
                groups[name if n == 0 else f"{name}_{n + 1}"] = \
                    items[start:start + MAX_CHANGES_PER_INPUT]
        return groups

    def move_stock(self, movements: Sequence[StockMovement]) -> list[Effect]:
        """All movements in one call: an aliased inventoryAdjustQuantities per quantity name,
        each @idempotent with a key derived from the batch's movement keys."""
        if not movements:
            return []
        item_ids = self.inventory_item_ids([m.sku for m in movements])
        unknown = sorted({m.sku for m in movements} - set(item_ids))
        if unknown:
            raise PermanentError(f"Shopify has no inventory item for SKU {', '.join(unknown)}")
        batch = stock_batch_key(movements)
        groups = self._plan_groups(movements)
        effects: dict[str, Effect] = {}
        errors: dict[str, str] = {}
        pending = {alias: 0 for alias in groups}  # alias -> key attempt
        while pending:
            chunk = sorted(pending)[:MAX_ALIASES_PER_CALL]
            variables: dict[str, Any] = {}
            for alias in chunk:
                variables[alias] = self._adjust_input(alias, groups[alias], batch, item_ids)
                key = f"{batch}:{alias}"
                attempt = pending[alias]
                variables[f"{alias}Key"] = key if attempt == 0 else f"{key}#{attempt + 1}"
            answer = self.http.call("move_stock", docs.move_stock_document(chunk), variables,
                                    write=True, what=f"stock batch {batch}", groups=len(chunk))
            if answer.errors and all(answer.data.get(a) is None for a in chunk):
                self.http.refuse(answer, f"stock batch {batch}", write=True)
            for alias in chunk:
                outcome = self._group_outcome(alias, groups[alias], answer, variables, batch)
                if outcome == "retry":
                    pending[alias] += 1
                    if pending[alias] >= MAX_KEY_ATTEMPTS:
                        pending.pop(alias)
                        for m in groups[alias]:
                            errors[m.key] = "every idempotency key of the batch failed"
                    continue
                pending.pop(alias)
                done, failed = outcome
                effects.update(done)
                errors.update(failed)
        self._movements.update(effects)
        if errors:
            text = "; ".join(sorted(set(errors.values())))
            if effects:
                raise PartialStockFailure(f"stock batch {batch}: partly refused: {text}",
                                          effects=effects, errors=errors)
            raise PermanentError(f"stock batch {batch}: {text}")
        return [effects[m.key] for m in movements]

    def _adjust_input(self, alias, group, batch, item_ids) -> dict[str, Any]:
        name = docs.quantity_name(alias)
        returns = sorted({m.return_id for m in group})
        # The reference document is the return (gid format Shopify recommends), or the batch
        # when a batch carries several returns.
        reference = f"gid://returnline/Return/{returns[0]}" if len(returns) == 1 else \
            f"gid://returnline/StockBatch/{batch}"
        changes = []
        for m in group:
            gid, _target = self._location_for(m.location_id)
            change = {"inventoryItemId": item_ids[m.sku], "locationId": gid, "delta": m.delta,
                      "changeFromQuantity": None}  # 2026-04: must be sent, null skips CAS
            if name != "available":  # other names need one ledger document for all changes
                change["ledgerDocumentUri"] = f"gid://returnline/StockBatch/{batch}"
            changes.append(change)
        return {"name": name, "reason": REASONS.get(name, "other"),
                "referenceDocumentUri": reference, "changes": changes}

    def _group_outcome(self, alias, group, answer: Answer, variables, batch):
        payload = answer.data.get(alias)
        if payload is None:
            mine = [e for e in answer.errors if (e.get("path") or [None])[0] == alias]
            text = "; ".join(e.get("message", "") for e in mine or answer.errors) or "no answer"
            return {}, {m.key: text for m in group}
        user_errors = payload.get("userErrors") or []
        if any(e.get("code") == "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED" for e in user_errors):
            return "retry"
        if user_errors:
            failed = {}
            for m in group:
                failed[m.key] = "; ".join(_user_error(e) for e in user_errors)
            return {}, failed
        adj = payload["inventoryAdjustmentGroup"]
        name = docs.quantity_name(alias)
        done = {}
        for m in group:
            done[m.key] = Effect(adj["id"], f"{m.delta:+d} {m.sku} {name} at {m.location_id}",
                                 {"adjustment_group": adj["id"], "quantity_name": name,
                                  "location_id": m.location_id, "sku": m.sku, "delta": m.delta,
                                  "batch_key": batch, "idempotency_key": variables[alias + "Key"],
                                  "reference": adj.get("referenceDocumentUri")})
        return done, {}

    def find_stock_movement(self, key: str) -> Effect | None:
        """Shopify cannot be queried for adjustments by reference; this finds movements this
        process applied. After OutcomeUnknown resend the SAME batch: its keys make Shopify
        return the first result instead of moving stock twice."""
        return self._movements.get(key)

    # returns, tags, exchanges --------------------------------------------------------------
    def create_return_record(self, key: str, ret: Return, order: Order) -> Effect:
        answer = self.http.call("order_returns", docs.ORDER_RETURNS, {"id": order.order_id},
                                write=False, what=f"read returns of {order.order_ref}")
        self.http.refuse(answer, "read returns", write=False)
        raw = answer.data.get("order")
        if raw is None:
            raise NotFound(f"Shopify has no order {order.order_ref}")
        mark = notes.marker(ret.return_id, key)
        for existing in raw["returns"]["nodes"]:
            for rli in existing["returnLineItems"]["nodes"]:
                if mark in (rli.get("returnReasonNote") or ""):
                    return Effect(existing["id"], f"return {existing['name']} already recorded",
                                  {"return_id": existing["id"], "name": existing["name"]})
        flis = [f for ful in raw["fulfillments"] for f in ful["fulfillmentLineItems"]["nodes"]]
        lines = []
        for line in ret.lines:
            fli = next((f for f in flis if f["lineItem"]["id"] == line.order_line_ref), None) or \
                next((f for f in flis if f["lineItem"].get("sku") == line.sku), None)
            if fli is None:
                raise PermanentError(f"return {ret.return_id}: no fulfilled line for "
                                     f"{line.sku} on order {order.order_ref}")
            reason = shopify_return_reason(line.platform_reason_code or line.raw_reason)
            lines.append({"fulfillmentLineItemId": fli["id"], "quantity": line.qty,
                          "returnReason": reason,
                          "returnReasonNote": notes.with_marker(line.raw_reason, ret.return_id,
                                                                key)})
        variables = {"input": {"orderId": order.order_id, "returnLineItems": lines,
                               "requestedAt": ret.requested_at.astimezone(UTC).isoformat()}}
        answer = self.http.call("create_return_record", docs.RETURN_CREATE, variables,
                                write=True, what=f"return record {key}")
        self.http.refuse(answer, "return record", write=True)
        payload = answer.data["returnCreate"]
        _raise_user_errors(payload, f"return record {key}", answer)
        created = payload["return"]
        return Effect(created["id"], f"return {created['name']} opened in Shopify",
                      {"return_id": created["id"], "name": created["name"],
                       "status": created["status"]})

    def tag_order(self, key: str, order: Order, tags: Sequence[str], note: str) -> Effect:
        answer = self.http.call("order_note", docs.ORDER_NOTE, {"id": order.order_id},
                                write=False, what=f"read note of {order.order_ref}")
        self.http.refuse(answer, "read order note", write=False)
        raw = answer.data.get("order")
        if raw is None:
            raise NotFound(f"Shopify has no order {order.order_ref}")
        have = {t.lower() for t in raw.get("tags") or []}
        new_tags = [t for t in tags if t and t.lower() not in have]
        current = raw.get("note") or ""
        mark = notes.marker(None, key)
        new_note = None
        if note and mark not in current:
            new_note = (current + "\n" if current else "") + notes.with_marker(note, None, key)
        if not new_tags and new_note is None:
            return Effect(order.order_id, "tags and note already on the order",
                          {"tags": list(tags)})
        what = f"tag order {order.order_ref}"
        if new_note is None:
            answer = self.http.call("tags", docs.TAGS_ADD, {"id": order.order_id,
                                                            "tags": new_tags},
                                    write=True, what=what)
        else:
            answer = self.http.call("tag_order", docs.TAG_AND_NOTE,
                                    {"id": order.order_id, "tags": new_tags or list(tags),
                                     "input": {"id": order.order_id, "note": new_note}},
                                    write=True, what=what)
        self.http.refuse(answer, what, write=True)
        for root in ("tagsAdd", "orderUpdate"):
            if root in answer.data:
                _raise_user_errors(answer.data[root], what, answer)
        self._orders.pop(order.order_ref, None)
        return Effect(order.order_id, f"tagged {', '.join(tags)}" + (" and noted" if new_note
                                                                    else ""),
                      {"tags": list(tags), "note": note})

    def create_exchange_order(self, req: ExchangeRequest) -> Effect:
        found = self.find_exchange_order(req.order_ref, req.key)
        if found is not None:  # orderCreate has no @idempotent: look before writing
            return found
        raw = self._order_raw(req.order_ref)
        cur, name = raw["currencyCode"], raw["name"]
        zero = Money.zero(cur).amount_str()
        order_input = {
            "currency": cur,
            "financialStatus": "PAID",
            "lineItems": [{"sku": sku, "title": sku, "quantity": qty, "requiresShipping": True,
                           "priceSet": {"shopMoney": {"amount": zero, "currencyCode": cur}}}
                          for sku, qty in req.skus],
            "tags": [EXCHANGE_TAG, f"{EXCHANGE_TAG}-for:{name}", notes.short_tag(req.key)],
            "note": notes.with_marker(req.note or f"Zero-value exchange for order {name}, "
                                      f"return {req.return_id}", req.return_id, req.key),
            "customAttributes": [{"key": "returnline_original_order", "value": name},
                                 {"key": "returnline_return", "value": req.return_id},
                                 {"key": "returnline_key", "value": req.key}],
        }
        what = f"exchange order {req.key}"
        answer = self.http.call("exchange_order", docs.ORDER_CREATE, {"order": order_input},
                                write=True, what=what)
        self.http.refuse(answer, what, write=True)
        payload = answer.data["orderCreate"]
        _raise_user_errors(payload, what, answer)
        created = payload["order"]
        self._orders.pop(req.order_ref.lstrip("#"), None)
        return Effect(created["id"], f"zero-value exchange order {created['name']} for {name}",
                      {"order_id": created["id"], "name": created["name"],
                       "for_order": name.lstrip("#"), "skus": [s for s, _ in req.skus]})

    def find_exchange_order(self, order_ref: str, key: str) -> Effect | None:
        answer = self.http.call("find_exchange_order", docs.FIND_ORDER_BY_QUERY,
                                {"query": f'tag:"{notes.short_tag(key)}"'}, write=False,
                                what=f"find exchange order {key}")
        self.http.refuse(answer, "find exchange order", write=False)
        for node in answer.data["orders"]["nodes"]:
            if notes.short_tag(key) in node.get("tags", []):
                return Effect(node["id"], f"exchange order {node['name']} found",
                              {"order_id": node["id"], "name": node["name"],
                               "for_order": order_ref.lstrip("#"),
                               "skus": [n["sku"] for n in node["lineItems"]["nodes"]]})
        return None


# Master reason codes and raw texts -> Shopify's ReturnReason (deprecated but still accepted
# in 2026-04; returnReasonDefinitionId needs per-shop definitions).
_REASON_WORDS = (
    (("small", "tight"), "SIZE_TOO_SMALL"),
    (("large", "big", "loose"), "SIZE_TOO_LARGE"),
    (("faulty", "defect", "broken", "damaged"), "DEFECTIVE"),
    (("wrong",), "WRONG_ITEM"),
    (("describ", "expected"), "NOT_AS_DESCRIBED"),
    (("colour", "color"), "COLOR"),
    (("style",), "STYLE"),
    (("unwanted", "changed", "mind", "no longer"), "UNWANTED"),
)


def shopify_return_reason(text: str | None) -> str:
    lowered = (text or "").lower().replace("_", " ")
    for words, reason in _REASON_WORDS:
        if any(w in lowered for w in words):
            return reason
    return "OTHER"  # our note marker is always there, so OTHER's required note is satisfied


def _user_error(error: dict[str, Any]) -> str:
    field = error.get("field")
    where = ".".join(field) if field else ""
    return f"{error.get('message')}" + (f" ({where})" if where else "")


def _raise_user_errors(payload: dict[str, Any] | None, what: str, answer: Answer) -> None:
    errors = (payload or {}).get("userErrors") or []
    if errors:
        raise PermanentError(f"{what}: " + "; ".join(_user_error(e) for e in errors),
                             call=call_record(answer.response), code=errors[0].get("code"))
