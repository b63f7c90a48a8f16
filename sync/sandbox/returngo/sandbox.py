"""ReturnGO simulator: https://api.returngo.ai as the Swagger copy and real responses show it.

Paths: GET /rmas, GET /rma/{id}, POST /rma/{id}/comment, PUT /rma/{id}/status,
PUT /shipment/{id}, GET /webhooks, POST /webhook. Headers x-api-key + x-shop-name (401/403).
Limits: 100 calls/s and a daily quota per key (UTC day) -> 429. Quirks copied from real
responses: 0/1 booleans, `userDetails: null`, absent variantName/barcode, string ids, an integer
transaction id, base64 keyset cursors ("returns.id:N", newest first), "+00:00" timestamps.
"""

from __future__ import annotations

import base64
import json
import zlib
from datetime import UTC, datetime
from typing import Any

from sync.connectors.platform_assumptions import (
    RETURNGO_EVENT_FOR_STATUS,
    RETURNGO_HOST,
    RETURNGO_WEBHOOK_AUTH_HEADER,
)
from sync.sandbox.base import Sandbox, SandboxRequest, SandboxResponse, SimClock, WallClock

SHIPMENT_TRANSITIONS: dict[str, set[str]] = {
    "Pending": {"LabelCreated", "Shipped", "Received", "Canceled", "Validated"},
    "LabelCreated": {"Shipped", "Received", "Canceled", "Validated"},
    "Shipped": {"Received", "Canceled", "Validated"},
    "Canceled": {"Received", "Validated"},
    "Received": {"Validated"},
    "Validated": set(),
}
RMA_STATUSES = ("Pending", "Approved", "Received", "Validated", "Done", "Rejected", "Canceled")
_RESOLUTION_TYPE = {"refund": "RefundToPaymentMethod", "store_credit": "StoreCredit",
                    "exchange": "ExchangeVariant"}
_OPS = {"lt": lambda a, b: a < b, "lte": lambda a, b: a <= b, "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b, "eq": lambda a, b: a == b, "neq": lambda a, b: a != b}


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).replace(microsecond=0).isoformat()  # 2026-02-04T07:02:24+00:00


def _msg(message: str, status: int) -> SandboxResponse:
    return SandboxResponse.json({"message": message}, status,
                                {"x-amzn-requestid": "00000000-sandbox"})


class ReturnGOSandbox(Sandbox):
    name = "returngo"
    hosts = (RETURNGO_HOST,)
    inspects = True  # ReturnGO validates items (isRestockable / isReturned)

    def __init__(self, clock: SimClock | WallClock | None = None, *, api_key: str = "rg-test-key",
                 shops: tuple[str, ...] = ("returnline-demo.myshopify.com",),
                 webhook_secret: str = "rg-webhook-secret", daily_limit: int = 2000,
                 per_second: int = 100, auto_approve: bool = True,
                 limits_enabled: bool = True) -> None:
        super().__init__(clock)
        self.api_key, self.shops, self.webhook_secret = api_key, tuple(shops), webhook_secret
        self.daily_limit, self.per_second = daily_limit, per_second
        self.auto_approve, self.limits_enabled = auto_approve, limits_enabled
        self.rmas: dict[str, dict[str, Any]] = {}
        self.labels: dict[str, str] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.usage: dict[str, Any] = {"day": None, "count": 0, "second": None, "in_second": 0}
        self.outbox: list[dict[str, Any]] = []  # signed webhook deliveries not yet taken
        self.subscriptions: list[dict[str, Any]] = []
        self.counters = {"internal": 9844900, "rma": 9856500, "item": 51000, "shipment": 7700,
                         "order": 5324938444000, "line": 13377523220000, "webhook": 0}
        self.add_route("GET", r"/rmas", self._list, "list_returns")
        self.add_route("GET", r"/rma/(?P<rma_id>[^/]+)", self._get, "get_return")
        self.add_route("POST", r"/rma/(?P<rma_id>[^/]+)/comment", self._comment, "post_comment")
        self.add_route("PUT", r"/rma/(?P<rma_id>[^/]+)/status", self._set_status, "set_status")
        self.add_route("PUT", r"/shipment/(?P<shipment_id>[^/]+)", self._put_shipment,
                       "update_shipment")
        self.add_route("GET", r"/webhooks", self._webhooks, "list_webhooks")
        self.add_route("POST", r"/webhook", self._create_webhook, "create_webhook")

    # --- API shape -----------------------------------------------------------------------------
    def error_response(self, kind: str, operation: str) -> SandboxResponse:
        if kind in ("http_429", "throttled"):
            return _msg("Too Many Requests", 429)
        if kind == "conflict_409":
            return _msg("Conflict", 409)
        if kind == "http_503":
            return _msg("Service Unavailable", 503)
        return _msg("Internal server error", 500)

    def not_found(self, req: SandboxRequest) -> SandboxResponse:
        return _msg("Not Found", 404)

    def authenticate(self, req: SandboxRequest) -> SandboxResponse | None:
        if req.header("x-api-key") != self.api_key:
            return _msg("Missing or incorrect API key", 401)
        if req.header("x-shop-name") not in self.shops:
            return _msg("No such shop for this user", 403)
        return self._rate_limit() if self.limits_enabled else None

    def _rate_limit(self) -> SandboxResponse | None:
        now = self.clock.now().astimezone(UTC)
        day, second = now.date().isoformat(), now.replace(microsecond=0).isoformat()
        u = self.usage
        if u["day"] != day:
            u["day"], u["count"] = day, 0
        if u["second"] != second:
            u["second"], u["in_second"] = second, 0
        if u["count"] >= self.daily_limit:
            return _msg("Limit Exceeded", 429)
        if u["in_second"] >= self.per_second:
            return _msg("Too Many Requests", 429)
        u["count"] += 1
        u["in_second"] += 1
        return None

    # --- routes --------------------------------------------------------------------------------
    def _list(self, req: SandboxRequest) -> SandboxResponse:
        try:
            size = int(req.arg("pagesize") or "")
        except ValueError:
            return _msg("pagesize is required (1-500)", 400)
        if not 1 <= size <= 500:
            return _msg("pagesize must be between 1 and 500", 400)
        rows = sorted(self.rmas.values(), key=lambda r: -r["id"])
        cursor = req.arg("cursor")
        if cursor:
            try:
                before = int(base64.b64decode(cursor).decode().split(":", 1)[1])
            except (ValueError, IndexError):
                return _msg("Invalid cursor", 400)
            rows = [r for r in rows if r["id"] < before]
        for field, key in (("rma_updated_at", "lastUpdated"), ("rma_created_at", "createdAt")):
            for cond in req.query.get(field, []):
                op, _, value = cond.partition(":")
                if op not in _OPS:
                    return _msg(f"Invalid {field} operator", 400)
                try:
                    bound = datetime.fromisoformat(value).replace(tzinfo=UTC)
                except ValueError:
                    return _msg(f"Invalid {field} date", 400)
                rows = [r for r in rows if _OPS[op](datetime.fromisoformat(r[key]), bound)]
        if req.arg("status"):
            wanted = set(req.arg("status", "").split(","))
            rows = [r for r in rows if r["status"] in wanted]
        if req.arg("order_name"):
            names = set(req.arg("order_name", "").split(","))
            rows = [r for r in rows if r["order_name"] in names]
        page = rows[:size]
        body: dict[str, Any] = {"rmas": [self._summary(r) for r in page]}
        if len(rows) > size:
            body["next_cursor"] = base64.b64encode(f"returns.id:{page[-1]['id']}".encode()).decode()
        return SandboxResponse.json(body)

    def _find(self, rma_id: str) -> dict[str, Any] | SandboxResponse:
        if not rma_id.isdigit():
            return _msg("Invalid rmaId", 400)
        rma = self.rmas.get(rma_id)
        return rma if rma is not None else _msg("RMA not found", 404)

    def _get(self, req: SandboxRequest, rma_id: str) -> SandboxResponse:
        rma = self._find(rma_id)
        return rma if isinstance(rma, SandboxResponse) else SandboxResponse.json(self._detail(rma))

    def _comment(self, req: SandboxRequest, rma_id: str) -> SandboxResponse:
        rma = self._find(rma_id)
        if isinstance(rma, SandboxResponse):
            return rma
        body = req.json() or {}
        text = body.get("comment") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return _msg("comment is required", 400)
        comment = {"commentType": "merchant", "triggeredBy": "API", "htmlText": text,
                   "datetime": _ts(self.clock.now())}
        rma["comments"].append(comment)
        self._touch(rma)
        return SandboxResponse.json(comment, 201)

    def _set_status(self, req: SandboxRequest, rma_id: str) -> SandboxResponse:
        rma = self._find(rma_id)
        if isinstance(rma, SandboxResponse):
            return rma
        status = (req.json() or {}).get("status")
        if status not in RMA_STATUSES:
            return _msg("Invalid status", 400)
        self._set_rma_status(rma, status, via="API")
        return SandboxResponse.json(self._summary(rma))

    def _put_shipment(self, req: SandboxRequest, shipment_id: str) -> SandboxResponse:
        found = self._shipment(shipment_id)
        if found is None:
            return _msg("Shipment not found", 404)
        rma, ship = found
        body = req.json() or {}
        new = body.get("status", ship["status"])
        error = self._move_shipment(rma, ship, new)
        if error:
            return _msg(error, 400)
        for key in ("carrierName", "trackingNumber", "trackingURL", "labelURL"):
            if key in body:
                ship[key] = body[key]
        self._touch(rma)
        return SandboxResponse.json(ship)

    def _webhooks(self, req: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json(self.subscriptions)

    def _create_webhook(self, req: SandboxRequest) -> SandboxResponse:
        body = req.json() or {}
        sub = {"id": str(len(self.subscriptions) + 1), "url": body.get("url"),
               "eventName": body.get("eventName")}
        self.subscriptions.append(sub)
        return SandboxResponse.json(sub, 201)

    # --- shapes --------------------------------------------------------------------------------
    @staticmethod
    def _summary(rma: dict[str, Any]) -> dict[str, Any]:
        return {"rmaId": rma["rmaId"], "status": rma["status"], "order_name": rma["order_name"],
                "events": rma["events"]}

    def _detail(self, rma: dict[str, Any]) -> dict[str, Any]:
        return {
            "rmaSummary": self._summary(rma),
            "orderDetails": {"orderId": rma["orderId"], "order_name": rma["order_name"]},
            "shipments": rma["shipments"], "items": rma["items"], "comments": rma["comments"],
            "exchangeOrders": rma["exchangeOrders"], "exchangeItems": rma["exchangeItems"],
            "cancellationFee": None, "transactions": rma["transactions"],
            "createdAt": rma["createdAt"], "lastUpdated": rma["lastUpdated"],
            "isOutOfPolicy": 0,  # quirk: 0/1, not a boolean
        }

    # --- state changes -------------------------------------------------------------------------
    def _next(self, counter: str) -> int:
        self.counters[counter] += 1
        return self.counters[counter]

    def _touch(self, rma: dict[str, Any]) -> None:
        rma["lastUpdated"] = _ts(self.clock.now())

    def _event(self, rma: dict[str, Any], name: str, via: str = "Dashboard") -> None:
        rma["events"].append({"eventName": name, "eventDate": _ts(self.clock.now()),
                              "triggeredVia": via, "storeLocationId": "online",
                              "userDetails": None})  # quirk: null userDetails

    def _set_rma_status(self, rma: dict[str, Any], status: str, via: str = "Dashboard") -> None:
        if rma["status"] == status:
            return
        rma["status"] = status
        self._event(rma, RETURNGO_EVENT_FOR_STATUS.get(status, "RMA_STATUS_UPDATED"), via)
        self._touch(rma)
        self._emit("RMA_STATUS_UPDATED", rma, status=status)

    def _shipment(self, shipment_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for rma in self.rmas.values():
            for ship in rma["shipments"]:
                if ship["shipmentId"] == shipment_id:
                    return rma, ship
        return None

    def _move_shipment(self, rma: dict[str, Any], ship: dict[str, Any], new: str) -> str | None:
        old = ship["status"]
        if new == old:
            return None  # same status again: no-op for the status, other fields still update
        if new not in SHIPMENT_TRANSITIONS.get(old, set()):
            return f"Invalid shipment status transition from {old} to {new}"
        ship["status"] = new
        self._emit("SHIPMENT_STATUS_UPDATED", rma, status=new, shipmentId=ship["shipmentId"])
        return None

    def _emit(self, event: str, rma: dict[str, Any], **extra: Any) -> None:
        payload = {"eventName": event, "rmaId": rma["rmaId"], "eventDate": _ts(self.clock.now()),
                   **extra}
        body = json.dumps(payload, separators=(",", ":"))
        self.counters["webhook"] += 1
        self.outbox.append({"platform": "returngo", "event": event,
                            "headers": {"content-type": "application/json",
                                        RETURNGO_WEBHOOK_AUTH_HEADER: self.webhook_secret},
                            "body": body})

    def take_webhooks(self) -> list[dict[str, Any]]:
        """Signed deliveries due now ({platform, event, headers, body}); the engine posts them."""
        with self.lock:
            out, self.outbox = self.outbox, []
            return out

    # --- driver API (the replay calls these) --------------------------------------------------
    def seed_order(self, number: str, *, currency: str, lines: list[dict[str, Any]],
                   store: str | None = None, email: str | None = None,
                   created_at: datetime | None = None, order_id: str | None = None) -> str:
        """Tell ReturnGO about a shop order (it reads orders from the shop in real life)."""
        with self.lock:
            oid = order_id or str(self._next("order"))
            self.orders[number] = {"orderId": oid, "currency": currency, "email": email,
                                   "lines": [dict(line) for line in lines]}
            return oid

    def request_return(self, label: str, order_number: str, lines: list[dict[str, Any]],
                       email: str | None = None, store: str | None = None) -> str:
        with self.lock:
            now = self.clock.now()
            order = self.orders.get(order_number, {})
            rma_id = str(self._next("rma"))
            ship_id = str(self._next("shipment"))
            items, exchange_items = [], []
            for line in lines:
                known = next((o for o in order.get("lines", []) if o.get("sku") == line["sku"]), {})
                for _ in range(int(line.get("qty", 1))):
                    items.append(self._item(line, known, order, ship_id))
                    if line.get("resolution") == "exchange" and line.get("exchange_sku"):
                        exchange_items.append({
                            "productId": None, "variantId": None, "quantity": 1,
                            "sku": line["exchange_sku"], "itemPriceMethod": "PaidPrice",
                            "freeExchangePriceRange": None})
            email = email or order.get("email") or f"{label.lower()}@example.com"
            rma = {
                "id": self._next("internal"), "rmaId": rma_id, "label": label,
                "status": "Pending", "order_name": order_number,
                "orderId": order.get("orderId") or str(self._next("order")),
                "events": [], "items": items, "comments": [], "exchangeOrders": [],
                "exchangeItems": exchange_items, "transactions": [],
                "shipments": [{
                    "shipmentId": ship_id, "status": "Pending", "carrierName": None,
                    "requestedServiceLevel": None, "actualServiceLevel": None,
                    "trackingNumber": None, "trackingURL": None, "labelURL": None,
                    "isOutbound": 0,
                    "customerAddress": {"name": email.split("@")[0], "street1": "1 High St",
                                        "street2": "", "city": "London", "state": "",
                                        "zip": "N1 1AA", "country": "GB", "phone": "",
                                        "email": email},
                    "returnAddress": {"name": "Returns DC", "street1": "Unit 4", "street2": "",
                                      "city": "Daventry", "state": "", "zip": "NN11 8RB",
                                      "country": "GB", "phone": "", "email": ""}}],
                "createdAt": _ts(now), "lastUpdated": _ts(now),
            }
            self.rmas[rma_id] = rma
            self.labels[label] = rma_id
            self._event(rma, "RMA_CREATED", "Return Portal")
            self._emit("RMA_CREATED", rma, status="Pending")
            if self.auto_approve:
                self._approve(rma)
            return rma_id

    def _item(self, line: dict[str, Any], known: dict[str, Any], order: dict[str, Any],
              ship_id: str) -> dict[str, Any]:
        item_id = str(self._next("item"))
        currency = order.get("currency", "GBP")
        price = known.get("unit_price") or line.get("unit_price")
        reason = line.get("reason", "")
        main, _, extended = reason.partition(" > ")
        item: dict[str, Any] = {
            "shopProductId": str(7000 + zlib.crc32(line["sku"].encode()) % 1000), "variantId": None,
            "returnedItemId": item_id, "fullName": line["sku"], "productName": line["sku"],
            "image": None, "sku": line["sku"],
            "returnReason": main, "extendedReason": f" > {extended}" if extended else "",
            "resolutionName": line.get("resolution", "refund").replace("_", " ").title(),
            "policyRuleName": "Default", "isAutoApprove": 1 if self.auto_approve else 0,
            "resolutionType": _RESOLUTION_TYPE.get(line.get("resolution", "refund"),
                                                   "RefundToPaymentMethod"),
            "restockingFee": None, "returnFee": None, "shipmentFee": None,
            "shipmentId": ship_id, "taxIncluded": 1,
            "returnMethod": {"type": "Ship with any carrier", "name": "Mail"},
            "itemValidationStatusResponse": {
                "returnedItemId": item_id, "isRestockable": None, "isReturned": None,
                "nonRestockableReason": None, "nonReturnedReason": None,
                "storeLocationId": None, "lastValidationDate": None, "lastValidatedBy": None,
                "thirdPartyName": None, "userDetails": None},
            "followUpQuestions": [],
        }
        if known.get("line_ref"):
            item["shopLineItemId"] = str(known["line_ref"])  # absent when the order is unknown
        if price is not None:
            item["paidPrice"] = {"amount": str(price), "currency": currency,
                                 "shopAmount": str(price), "shopCurrency": currency}
        if "-" in line["sku"]:  # quirk: variantName/barcode only on variant products
            item["variantName"] = line["sku"].rsplit("-", 1)[1]
            item["barcode"] = f"50{zlib.crc32(line['sku'].encode()):011d}"
        return item

    def _rma_for(self, label: str) -> dict[str, Any]:
        return self.rmas[self.labels[label]]

    def _approve(self, rma: dict[str, Any]) -> None:
        if rma["status"] == "Pending":
            self._set_rma_status(rma, "Approved", via="Return Portal")
            ship = rma["shipments"][0]
            self._move_shipment(rma, ship, "LabelCreated")
            ship.update({"carrierName": "Royal Mail", "trackingNumber": f"RM{ship['shipmentId']}GB",
                         "trackingURL": "https://www.royalmail.com/track",
                         "labelURL": f"https://labels.returngo.ai/{ship['shipmentId']}.pdf"})

    def approve(self, label: str) -> None:
        with self.lock:
            self._approve(self._rma_for(label))

    def in_transit(self, label: str) -> None:
        with self.lock:
            rma = self._rma_for(label)
            self._approve(rma)
            self._move_shipment(rma, rma["shipments"][0], "Shipped")
            self._touch(rma)

    def receive(self, label: str) -> None:
        with self.lock:
            rma = self._rma_for(label)
            self._approve(rma)
            self._move_shipment(rma, rma["shipments"][0], "Received")
            self._set_rma_status(rma, "Received")

    def grade(self, label: str, lines: list[dict[str, Any]], warehouse: str | None = None) -> None:
        """Item validation in the ReturnGO dashboard: one unit per item, first unvalidated first."""
        with self.lock:
            rma = self._rma_for(label)
            now = _ts(self.clock.now())
            for line in lines:
                todo = int(line.get("qty", 1))
                for item in rma["items"]:
                    v = item["itemValidationStatusResponse"]
                    if todo <= 0 or item["sku"] != line["sku"] or v["lastValidationDate"]:
                        continue
                    cond = line["condition"]
                    v.update({"isReturned": 0 if cond in ("missing",) else 1,
                              "isRestockable": 1 if cond == "sellable" else 0,
                              "nonRestockableReason": None if cond == "sellable" else cond,
                              "nonReturnedReason": "Not in parcel" if cond == "missing" else None,
                              "storeLocationId": line.get("warehouse", warehouse),
                              "lastValidationDate": now, "lastValidatedBy": "warehouse"})
                    todo -= 1
            self._touch(rma)
            if all(i["itemValidationStatusResponse"]["lastValidationDate"] for i in rma["items"]):
                ship = rma["shipments"][0]
                self._move_shipment(rma, ship, "Validated")
                self._set_rma_status(rma, "Validated")

    def set_status(self, label: str, status: str) -> None:
        """Done / Rejected / Canceled / reopen, as a dashboard user would."""
        with self.lock:
            self._set_rma_status(self._rma_for(label), status)

    def add_exchange_order(self, label: str, order_name: str, type_: str = "Exchange") -> None:
        with self.lock:
            rma = self._rma_for(label)
            rma["exchangeOrders"].append({"draftOrderId": None, "orderId": str(self._next("order")),
                                          "orderName": order_name, "type": type_})
            self._touch(rma)

    def advance_usage_day(self) -> None:
        self.usage.update({"day": None, "count": 0})

    def external_view(self) -> dict[str, Any]:
        # ReturnGO does not move money here: Returnline refunds in commerce.
        return {"approvals": [], "refunds": []}

    def comments_for(self, label: str) -> list[str]:
        return [c["htmlText"] for c in self._rma_for(label)["comments"]]

    # --- state -----------------------------------------------------------------------------------
    def dump_state(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps({
                "rmas": self.rmas, "labels": self.labels, "orders": self.orders,
                "usage": self.usage, "outbox": self.outbox, "subscriptions": self.subscriptions,
                "counters": self.counters}))

    def load_state(self, state: dict[str, Any]) -> None:
        with self.lock:
            state = json.loads(json.dumps(state))
            self.rmas, self.labels, self.orders = state["rmas"], state["labels"], state["orders"]
            self.usage, self.outbox = state["usage"], state["outbox"]
            self.subscriptions, self.counters = state["subscriptions"], state["counters"]

