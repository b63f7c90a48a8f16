"""Turn the sandbox's plain-dict state into the objects graphql-core resolves.

A view is a dict keyed by GraphQL field name; fields with arguments (connections, filtered
lists) are callables `(info, **args)`, which graphql-core's default resolver calls. Views are
built lazily, so a narrow selection costs little.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sync.sandbox.shopify.sandbox import ShopifySandbox


def fmt_decimal(value: Decimal | str | int) -> str:
    """Shopify's GraphQL Decimal formatting: "15.0", "15.5", "0.0"."""
    d = Decimal(str(value))
    if d == d.to_integral_value():
        return f"{int(d)}.0"
    return format(d.normalize(), "f")


def money_bag(amount: Decimal | str, currency: str) -> dict[str, Any]:
    money = {"amount": fmt_decimal(amount), "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": money}


def legacy(gid: str) -> str:
    return gid.rsplit("/", 1)[-1].split("?")[0]


def _take(items: list[Any], first: int | None = None, last: int | None = None, **_: Any):
    if first is not None:
        return items[: max(0, first)]
    if last is not None:
        return items[-last:] if last > 0 else []
    return items


def connection(items: list[Any]):
    return lambda _info, **args: {"nodes": _take(items, args.get("first"), args.get("last"))}


class Views:
    def __init__(self, sandbox: ShopifySandbox) -> None:
        self.sb = sandbox

    # orders ----------------------------------------------------------------------------
    def order(self, o: dict[str, Any]) -> dict[str, Any]:
        sb = self.sb
        cur = o["currency"]
        return {
            "__typename": "Order",
            "id": o["id"],
            "legacyResourceId": legacy(o["id"]),
            "name": o["name"],
            "email": o.get("email"),
            "createdAt": o["createdAt"],
            "processedAt": o["createdAt"],
            "updatedAt": o["updatedAt"],
            "cancelledAt": o.get("cancelledAt"),
            "cancelReason": o.get("cancelReason"),
            "closed": bool(o.get("closedAt")),
            "closedAt": o.get("closedAt"),
            "currencyCode": cur,
            "presentmentCurrencyCode": cur,
            "displayFinancialStatus": sb.financial_status(o),
            "displayFulfillmentStatus": o.get("fulfillmentStatus", "FULFILLED"),
            "returnStatus": sb.return_status(o),
            "note": o.get("note"),
            "tags": list(o.get("tags", [])),
            "customAttributes": [dict(a) for a in o.get("customAttributes", [])],
            "totalPriceSet": money_bag(sb.order_total(o), cur),
            "totalRefundedSet": money_bag(sb.refunded_total(o), cur),
            "transactions": lambda _i, first=None, **_: [
                self.transaction(t, cur) for t in _take(o["transactions"], first)],
            "lineItems": lambda _i, **a: {"nodes": [
                self.line_item(o, li) for li in _take(o["lines"], a.get("first"), a.get("last"))]},
            "refunds": lambda _i, first=None: [
                self.refund(o, r) for r in _take(o["refunds"], first)],
            "returns": lambda _i, **a: {"nodes": [
                self.return_(o, r) for r in _take(o["returns"], a.get("first"), a.get("last"))]},
            "fulfillments": lambda _i, first=None, **_: [
                self.fulfillment(o, f) for f in _take(o.get("fulfillments", []), first)],
        }

    def line_item(self, o: dict[str, Any], li: dict[str, Any]) -> dict[str, Any]:
        cur = o["currency"]
        unit = Decimal(li["unitPrice"])
        discounted = unit - Decimal(li.get("unitDiscount", "0"))
        tax_total = Decimal(li.get("unitTax", "0")) * li["quantity"]
        group = None
        if li.get("bundleSku"):
            group = {"id": f"gid://shopify/LineItemGroup/{legacy(li['id'])}",
                     "title": li["bundleSku"], "quantity": li.get("bundleQty", 1),
                     "variantSku": li["bundleSku"]}
        return {
            "id": li["id"],
            "sku": li.get("sku"),
            "title": li.get("title") or li.get("sku") or "",
            "quantity": li["quantity"],
            "currentQuantity": li["quantity"] - li.get("removed", 0),
            "refundableQuantity": self.sb.refundable_qty(o, li),
            "originalUnitPriceSet": money_bag(unit, cur),
            "discountedUnitPriceAfterAllDiscountsSet": money_bag(discounted, cur),
            "taxLines": lambda _i, first=None: [] if not tax_total else [
                {"priceSet": money_bag(tax_total, cur), "title": "Tax"}],
            "lineItemGroup": group,
        }

    def transaction(self, t: dict[str, Any], cur: str) -> dict[str, Any]:
        return {"id": t["id"], "kind": t["kind"], "status": t.get("status", "SUCCESS"),
                "gateway": t.get("gateway", "manual"), "amountSet": money_bag(t["amount"], cur)}

    def refund(self, o: dict[str, Any], r: dict[str, Any]) -> dict[str, Any]:
        cur = o["currency"]
        lines_by_id = {li["id"]: li for li in o["lines"]}
        txns = [t for t in o["transactions"] if t["id"] in r.get("transactionIds", [])]
        return {
            "id": r["id"],
            "legacyResourceId": legacy(r["id"]),
            "createdAt": r["createdAt"],
            "updatedAt": r["createdAt"],
            "note": r.get("note"),
            "totalRefundedSet": money_bag(r["amount"], cur),
            "refundLineItems": connection([self.refund_line(o, rl, lines_by_id)
                                           for rl in r["lines"]]),
            "transactions": connection([self.transaction(t, cur) for t in txns]),
        }

    def refund_line(self, o, rl, lines_by_id) -> dict[str, Any]:
        li = lines_by_id[rl["lineItemId"]]
        unit = Decimal(li["unitPrice"]) - Decimal(li.get("unitDiscount", "0"))
        loc = self.sb.state["locations"].get(rl.get("locationId") or "")
        return {
            "id": rl["id"],
            "quantity": rl["quantity"],
            "restockType": rl["restockType"],
            "restocked": rl.get("restocked", False),
            "lineItem": self.line_item(o, li),
            "location": self.location(loc) if loc else None,
            "subtotalSet": money_bag(unit * rl["quantity"], o["currency"]),
        }

    def return_(self, o: dict[str, Any], r: dict[str, Any]) -> dict[str, Any]:
        flis = {f["id"]: f for ful in o.get("fulfillments", []) for f in ful["lines"]}
        return {
            "__typename": "Return",
            "id": r["id"],
            "name": r["name"],
            "status": r["status"],
            "createdAt": r["createdAt"],
            "closedAt": r.get("closedAt"),
            "totalQuantity": sum(rl["quantity"] for rl in r["lines"]),
            "order": self.order(o),
            "returnLineItems": connection([{
                "__typename": "ReturnLineItem",
                "id": rl["id"],
                "quantity": rl["quantity"],
                "returnReason": rl.get("returnReason") or "UNKNOWN",
                "returnReasonNote": rl.get("returnReasonNote") or "",
                "fulfillmentLineItem": self.fulfillment_line(o, flis[rl["fulfillmentLineItemId"]]),
            } for rl in r["lines"]]),
        }

    def fulfillment(self, o, f) -> dict[str, Any]:
        return {"id": f["id"],
                "fulfillmentLineItems": connection([self.fulfillment_line(o, fl)
                                                    for fl in f["lines"]])}

    def fulfillment_line(self, o, fl) -> dict[str, Any]:
        li = next(x for x in o["lines"] if x["id"] == fl["lineItemId"])
        return {"id": fl["id"], "quantity": fl["quantity"], "lineItem": self.line_item(o, li)}

    # locations and inventory -----------------------------------------------------------------
    def location(self, loc: dict[str, Any]) -> dict[str, Any]:
        return {"__typename": "Location", "id": loc["id"], "name": loc["name"],
                "isActive": loc["isActive"], "legacyResourceId": legacy(loc["id"])}

    def inventory_item(self, item: dict[str, Any]) -> dict[str, Any]:
        def level_for(_info, locationId, includeInactive=False):
            if locationId not in item["levels"]:
                return None
            view = self.inventory_level(item, locationId)
            return view if (view["isActive"] or includeInactive) else None

        def levels(_info, includeInactive=False, **args):
            views = [self.inventory_level(item, loc) for loc in item["levels"]]
            views = [v for v in views if v["isActive"] or includeInactive]
            return {"nodes": _take(views, args.get("first"), args.get("last"))}

        return {"__typename": "InventoryItem", "id": item["id"],
                "legacyResourceId": legacy(item["id"]), "sku": item["sku"],
                "tracked": item["tracked"], "inventoryLevel": level_for,
                "inventoryLevels": levels}

    def inventory_level(self, item: dict[str, Any], loc_id: str) -> dict[str, Any]:
        level = item["levels"][loc_id]
        loc = self.sb.state["locations"][loc_id]
        level_id = f"gid://shopify/InventoryLevel/{legacy(loc_id)}?inventory_item_id=" \
                   f"{legacy(item['id'])}"

        def quantities(_info, names):
            return [{"id": f"gid://shopify/InventoryQuantity/{legacy(loc_id)}?"
                           f"inventory_item_id={legacy(item['id'])}&name={n}",
                     "name": n, "quantity": self.sb.quantity(level, n)} for n in names]

        return {"id": level_id, "isActive": loc["isActive"], "item": self.inventory_item(item),
                "location": self.location(loc), "quantities": quantities}

    def adjustment_group(self, group: dict[str, Any]) -> dict[str, Any]:
        items, locs = self.sb.state["items"], self.sb.state["locations"]

        def changes(_info, inventoryItemIds=None, locationIds=None, quantityNames=None):
            out = []
            for ch in group["changes"]:
                if inventoryItemIds and ch["itemId"] not in inventoryItemIds:
                    continue
                if locationIds and ch["locationId"] not in locationIds:
                    continue
                if quantityNames and ch["name"] not in quantityNames:
                    continue
                out.append({"name": ch["name"], "delta": ch["delta"],
                            "ledgerDocumentUri": ch.get("ledgerDocumentUri"),
                            "item": self.inventory_item(items[ch["itemId"]]),
                            "location": self.location(locs[ch["locationId"]])})
            return out

        return {"id": group["id"], "createdAt": group["createdAt"], "reason": group["reason"],
                "referenceDocumentUri": group.get("referenceDocumentUri"), "changes": changes}
