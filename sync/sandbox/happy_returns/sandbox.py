"""Happy Returns simulator: https://partner.happyreturns.com (partner API) and its webhooks.

Paths: POST /return (lookup by exactly one of orderNumber / email / happyReturnsExpressCode;
204 when none), GET /outbound-shipments (date window), GET /outbound-shipment/{id} (contents,
page[after] / page[size]), POST /rma/{id}/approve (per-unit condition; triggers Happy Returns'
refund; 409 on a final return), POST /rma/{id}/expire, GET /webhooks. Header X-Hr-Apikey.
Limit: a leaky bucket of 0.5 requests/s per partner (per partner + retailer for /rma/*) -> 429
with Happy Returns' ErrorMessage body and no Retry-After. Webhooks: `return.asn`, one POST per
order number, events of the same return within 60 s aggregated, signed in X-Hr-Signature.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sync.connectors.platform_assumptions import (
    HAPPY_RETURNS_BUCKET_SIZE,
    HAPPY_RETURNS_HOST,
    HAPPY_RETURNS_SIGNATURE_HEADER,
    HR_APPROVED,
    HR_CONDITIONS,
    HR_DROPPED_OFF,
    HR_EXPIRED,
    HR_REFUND_AMOUNT_FIELD,
    HR_REFUND_CURRENCY_FIELD,
    HR_STARTED,
)
from sync.sandbox.base import Sandbox, SandboxRequest, SandboxResponse, SimClock, WallClock
from sync.signing import sign_hex

RATE = 0.5
PAGE_UNITS = 50
AGGREGATE_SECONDS = 60


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _err(message: str, status: int) -> SandboxResponse:
    return SandboxResponse.json({"ErrorMessage": message}, status)


class HappyReturnsSandbox(Sandbox):
    name = "happy_returns"
    hosts = (HAPPY_RETURNS_HOST,)
    inspects = False  # the retailer inspects; Happy Returns takes the condition on approval

    def __init__(self, clock: SimClock | WallClock | None = None, *,
                 api_key: str = "hr-test-key", retailer_id: str = "returnline-demo",
                 webhook_secret: str = "hr-webhook-secret",
                 bucket_size: int = HAPPY_RETURNS_BUCKET_SIZE,
                 limits_enabled: bool = True) -> None:
        super().__init__(clock)
        self.api_key, self.retailer_id, self.webhook_secret = api_key, retailer_id, webhook_secret
        self.bucket_size, self.limits_enabled = bucket_size, limits_enabled
        self.returns: dict[str, dict[str, Any]] = {}  # by express code
        self.labels: dict[str, str] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.line_offsets: dict[str, int] = {}  # "order|line" -> next unit offset
        self.shipments: dict[str, dict[str, Any]] = {}
        self.buckets: dict[str, list[Any]] = {}
        self.buffers: dict[str, dict[str, Any]] = {}
        self.outbox: list[dict[str, Any]] = []
        self.approvals: list[dict[str, Any]] = []
        self.refunds: list[dict[str, Any]] = []
        self.counters = {"return": 0, "item": 0, "shipment": 0, "order": 5324938444800}
        self.add_route("POST", r"/return", self._lookup, "get_return")
        self.add_route("GET", r"/outbound-shipments", self._shipments, "list_returns")
        self.add_route("GET", r"/outbound-shipment/(?P<sid>[^/]+)", self._shipment, "list_returns")
        self.add_route("POST", r"/rma/(?P<rma>[^/]+)/approve", self._approve,
                       "approve_platform_return")
        self.add_route("POST", r"/rma/(?P<rma>[^/]+)/expire", self._expire, "expire_platform_return")
        self.add_route("GET", r"/webhooks", self._webhooks, "list_webhooks")

    # --- API shape -----------------------------------------------------------------------------
    def error_response(self, kind: str, operation: str) -> SandboxResponse:
        if kind in ("http_429", "throttled"):
            return _err(f"too many requests: limit {RATE:.6f} requests/sec, leaky bucket size "
                        f"{self.bucket_size}", 429)
        if kind == "conflict_409":
            return _err("return is final", 409)
        return _err("internal error", 503 if kind == "http_503" else 500)

    def not_found(self, req: SandboxRequest) -> SandboxResponse:
        return _err("not found", 404)

    def authenticate(self, req: SandboxRequest) -> SandboxResponse | None:
        if req.header("x-hr-apikey") != self.api_key:
            return _err("unauthorized", 401)
        if not self.limits_enabled:
            return None
        bucket = f"rma:{self.retailer_id}" if req.path.startswith("/rma/") else "partner"
        return self._leak(bucket)

    def _leak(self, name: str) -> SandboxResponse | None:
        now = self.clock.now()
        level, updated = self.buckets.get(name, [0.0, None])
        if updated is not None:
            elapsed = (now - datetime.fromisoformat(updated)).total_seconds()
            level = max(0.0, level - max(0.0, elapsed) * RATE)
        if level + 1 > self.bucket_size + 1e-9:
            self.buckets[name] = [level, now.isoformat()]
            return _err(f"too many requests: limit {RATE:.6f} requests/sec, leaky bucket size "
                        f"{self.bucket_size}", 429)
        self.buckets[name] = [level + 1, now.isoformat()]
        return None

    # --- routes --------------------------------------------------------------------------------
    def _lookup(self, req: SandboxRequest) -> SandboxResponse:
        body = req.json() or {}
        if body.get("happyReturnsRetailerID") != self.retailer_id:
            return _err("happyReturnsRetailerID is required", 400)
        given = [k for k in ("orderNumber", "email", "happyReturnsExpressCode") if body.get(k)]
        if len(given) != 1:
            return _err("exactly one of orderNumber, email, happyReturnsExpressCode is required",
                        400)
        key, value = given[0], body[given[0]]
        units = [u for r in self.returns.values() for u in r["units"]
                 if (key == "email" and u["email"].lower() == str(value).lower())
                 or (key == "orderNumber" and u["orderNumber"] == str(value))
                 or (key == "happyReturnsExpressCode"
                     and u["happyReturnsExpressCode"] == str(value).upper())]
        if not units:
            return SandboxResponse.empty(204)
        start = int(base64.b64decode(body["cursor"]).decode()) if body.get("cursor") else 0
        page = units[start:start + PAGE_UNITS]
        out: dict[str, Any] = {"retailerID": self.retailer_id,
                               "items": [self._item(u) for u in page]}
        if start + PAGE_UNITS < len(units):
            out["cursor"] = base64.b64encode(str(start + PAGE_UNITS).encode()).decode()
        return SandboxResponse.json(out)

    def _shipments(self, req: SandboxRequest) -> SandboxResponse:
        now = self.clock.now()
        try:
            start = _parse_dt(req.arg("startDateTime")) or now - timedelta(hours=24)
            end = _parse_dt(req.arg("endDateTime")) or now
        except ValueError:
            return _err("startDateTime/endDateTime must be a date or ISO-8601 UTC", 400)
        rows = [s for s in self.shipments.values()
                if start <= datetime.fromisoformat(s["departureDate"].replace("Z", "+00:00")) < end]
        return SandboxResponse.json({"outboundShipments": [
            {k: s[k] for k in ("id", "departureDate", "tracking", "carrier")}
            | {"itemCount": str(len(s["items"]))}  # quirk: a count as a string
            for s in rows]})

    def _shipment(self, req: SandboxRequest, sid: str) -> SandboxResponse:
        ship = self.shipments.get(sid)
        if ship is None:
            return _err("outbound shipment not found", 404)
        size = min(1000, int(req.arg("page[size]") or 50))
        ids = ship["items"]
        after = req.arg("page[after]")
        start = ids.index(after) + 1 if after in ids else 0
        page = ids[start:start + size]
        units = {u["happyReturnsItemID"]: u for r in self.returns.values() for u in r["units"]}
        out: dict[str, Any] = {"id": sid, "items": [self._asn_item(units[i], ship) for i in page]}
        if start + size < len(ids):
            out["nextPageAfter"] = page[-1]
        return SandboxResponse.json(out)

    def _approve(self, req: SandboxRequest, rma: str) -> SandboxResponse:
        ret = self._by_rma(rma)
        if ret is None:
            return _err("rma not found", 404)
        body = req.json() or {}
        returning = body.get("returning") if isinstance(body, dict) else None
        if not isinstance(returning, list) or not returning:
            return _err("returning is required", 400)
        units = {u["happyReturnsItemID"]: u for u in ret["units"]}
        for entry in returning:
            if entry.get("happyReturnsItemID") not in units:
                return _err(f"unknown happyReturnsItemID {entry.get('happyReturnsItemID')!r}", 400)
            if entry.get("condition") not in HR_CONDITIONS:
                return _err(f"condition must be one of {', '.join(HR_CONDITIONS)}", 400)
        if self._final(ret):
            return _err("return is final", 409)
        if any(units[e["happyReturnsItemID"]]["approvedDate"] for e in returning):
            return _err("item already approved", 409)
        now = _ts(self.clock.now())
        refund_units = []
        for entry in returning:
            unit = units[entry["happyReturnsItemID"]]
            approve = entry.get("approve", True)
            unit.update({"approvedDate": now, "inspectionOutcome": entry["condition"],
                         "approved": 1 if approve else 0,
                         # Happy Returns refunds at the price IT holds for the unit
                         HR_REFUND_AMOUNT_FIELD: (unit.get("price") if approve else "0"),
                         HR_REFUND_CURRENCY_FIELD: unit.get("currency")})
            self.approvals.append({"return": ret["label"], "order": unit["orderNumber"],
                                   "unit": unit["happyReturnsItemID"], "sku": unit["sku"],
                                   "condition": entry["condition"],
                                   "approve": bool(entry.get("approve", True))})
            if entry.get("approve", True):
                refund_units.append(unit)
        self._refund(ret, refund_units)
        if self._final(ret):
            ret["status"] = HR_APPROVED
            self._queue(ret, "return_status_updated", HR_APPROVED)
        return SandboxResponse.json({
            "happyReturnsRMAID": ret["code"],
            "returning": [{"happyReturnsItemID": e["happyReturnsItemID"],
                           "approved": bool(e.get("approve", True)),
                           "condition": e["condition"],
                           HR_REFUND_AMOUNT_FIELD: units[e["happyReturnsItemID"]][
                               HR_REFUND_AMOUNT_FIELD],
                           HR_REFUND_CURRENCY_FIELD: units[e["happyReturnsItemID"]][
                               HR_REFUND_CURRENCY_FIELD]} for e in returning]})

    def _expire(self, req: SandboxRequest, rma: str) -> SandboxResponse:
        ret = self._by_rma(rma)
        if ret is None:
            return _err("rma not found", 404)
        if ret["status"] == HR_EXPIRED:
            return SandboxResponse.json({"happyReturnsRMAID": ret["code"], "status": HR_EXPIRED})
        if self._final(ret):
            return _err("return is final", 409)
        self._set_status(ret, HR_EXPIRED)
        return SandboxResponse.json({"happyReturnsRMAID": ret["code"], "status": HR_EXPIRED})

    def _webhooks(self, req: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json([{"webhookType": "return.asn", "url": "https://intake/hr"}])

    # --- shapes --------------------------------------------------------------------------------
    def _item(self, unit: dict[str, Any]) -> dict[str, Any]:
        ret = self.returns[unit["happyReturnsExpressCode"]]
        item = {k: v for k, v in unit.items() if k not in ("price", "currency", "approved")}
        item["returnStatus"] = ret["status"]
        item["dropoffMethod"] = ret["dropoffMethod"]
        return item

    def _asn_item(self, unit: dict[str, Any], ship: dict[str, Any]) -> dict[str, Any]:
        item = self._item(unit)
        item.update({"purchasedDate": unit["purchasedAt"], "tracking": ship["tracking"],
                     "carrier": ship["carrier"], "departureDate": ship["departureDate"],
                     "happyReturnsRetailerID": self.retailer_id, "shippingBoxBarcode": ship["id"],
                     "palletNumber": None})
        return item

    def _by_rma(self, rma: str) -> dict[str, Any] | None:
        ret = self.returns.get(rma.upper())
        if ret is None:
            ret = next((r for r in self.returns.values() if r["returnID"] == rma), None)
        return ret

    @staticmethod
    def _final(ret: dict[str, Any]) -> bool:
        return ret["status"] in (HR_EXPIRED, HR_APPROVED) or all(
            u["approvedDate"] for u in ret["units"])

    def _refund(self, ret: dict[str, Any], units: list[dict[str, Any]]) -> None:
        by_order: dict[str, list[dict[str, Any]]] = {}
        for u in units:
            by_order.setdefault(u["orderNumber"], []).append(u)
        for order, us in by_order.items():
            priced = [u for u in us if u.get("price") is not None]
            if not priced:
                continue
            total = sum((Decimal(u["price"]) for u in priced), Decimal(0))
            self.refunds.append({"order": order, "return": ret["label"],
                                 "amount": f"{total:.2f}", "currency": priced[0]["currency"]})

    # --- webhooks ------------------------------------------------------------------------------
    def _queue(self, ret: dict[str, Any], event: str, type_id: str) -> None:
        for order in sorted({u["orderNumber"] for u in ret["units"]}):
            key = f"{ret['code']}|{order}"
            buf = self.buffers.setdefault(key, {"first_at": self.clock.now().isoformat(),
                                                "events": []})
            buf["events"].append([event, type_id])

    def take_webhooks(self, flush: bool = False) -> list[dict[str, Any]]:
        """Signed `return.asn` deliveries whose 60 s aggregation window has closed (or all)."""
        with self.lock:
            now = self.clock.now()
            for key in sorted(self.buffers):
                buf = self.buffers[key]
                age = (now - datetime.fromisoformat(buf["first_at"])).total_seconds()
                if not flush and age < AGGREGATE_SECONDS:
                    continue
                del self.buffers[key]
                code, order = key.split("|", 1)
                ret = self.returns[code]
                latest, *older = list(reversed(buf["events"]))
                body = json.dumps({
                    "event": latest[0], "typeID": latest[1], "retailerID": self.retailer_id,
                    "otherEvents": [{"event": e, "typeID": t} for e, t in older],
                    "items": [self._item(u) for u in ret["units"] if u["orderNumber"] == order],
                }, separators=(",", ":"))
                self.outbox.append({"platform": "happy_returns", "event": "return.asn",
                                    "headers": {"content-type": "application/json",
                                                HAPPY_RETURNS_SIGNATURE_HEADER:
                                                    sign_hex(self.webhook_secret, body.encode())},
                                    "body": body})
            out, self.outbox = self.outbox, []
            return out

    # --- driver API ----------------------------------------------------------------------------
    def seed_order(self, number: str, *, currency: str, lines: list[dict[str, Any]],
                   store: str | None = None, email: str | None = None,
                   created_at: datetime | None = None, order_id: str | None = None) -> str:
        with self.lock:
            self.counters["order"] += 1
            oid = order_id or str(self.counters["order"])
            self.orders[number] = {"orderID": oid, "currency": currency, "email": email,
                                   "purchasedAt": _ts(created_at or self.clock.now()),
                                   "lines": [dict(line) for line in lines]}
            return oid

    def request_return(self, label: str, order_number: str, lines: list[dict[str, Any]],
                       email: str | None = None, store: str | None = None) -> str:
        with self.lock:
            now = self.clock.now()
            order = self.orders.get(order_number, {})
            self.counters["return"] += 1
            n = self.counters["return"]
            code = "HR" + "".join("ABCDEFGHJKLMNPQRSTUVWXYZ"[(n // 24 ** i) % 24] for i in range(6))
            email = email or order.get("email") or f"{label.lower()}@example.com"
            units = []
            for line in lines:
                known = next((o for o in order.get("lines", []) if o.get("sku") == line["sku"]), {})
                for _ in range(int(line.get("qty", 1))):
                    units.append(self._unit(code, n, line, known, order, order_number, email, now))
            ret = {"code": code, "returnID": str(uuid.UUID(int=n, version=4)), "label": label,
                   "status": HR_STARTED, "dropoffMethod": "return-bar", "units": units}
            self.returns[code] = ret
            self.labels[label] = code
            self._queue(ret, "return_dropoff_method_created", "return-bar")
            self._queue(ret, "return_status_updated", HR_STARTED)
            return f"{code}:{order_number}"

    def _unit(self, code: str, n: int, line: dict[str, Any], known: dict[str, Any],
              order: dict[str, Any], order_number: str, email: str, now: datetime
              ) -> dict[str, Any]:
        self.counters["item"] += 1
        unit: dict[str, Any] = {
            "happyReturnsReturnID": str(uuid.UUID(int=n, version=4)),
            "happyReturnsExpressCode": code,
            "happyReturnsItemID": f"hri_{self.counters['item']:08d}",
            "purchasedAt": order.get("purchasedAt", _ts(now)), "email": email,
            "orderNumber": order_number, "orderID": order.get("orderID", ""),
            "sku": line["sku"], "upc": f"0{abs(sum(map(ord, line['sku']))):011d}",
            "productVariantID": str(39942123880000 + sum(map(ord, line["sku"]))),
            "labelBarcode": None, "productName": line["sku"].replace("-", " ").title(),
            "returnReason": line.get("reason", ""),
            "refundType": {"store_credit": "store_credit", "exchange": "exchange"}.get(
                line.get("resolution", "refund"), "original_payment"),
            "oneClickExchange": 1 if line.get("resolution") == "exchange" else 0,
            "startedDate": _ts(now), "approvedDate": None, "inspectionOutcome": None,
            "outboundShipmentID": None,
            "price": str(known.get("unit_price") or line.get("unit_price") or "") or None,
            "currency": order.get("currency", "USD"),
        }
        if line.get("exchange_sku"):
            unit["exchangeSKU"] = line["exchange_sku"]
        if known.get("line_ref"):  # absent when Happy Returns does not know the order line
            key = f"{order_number}|{known['line_ref']}"
            offset = self.line_offsets.get(key, 0)
            self.line_offsets[key] = offset + 1
            unit["orderLineItemID"] = f"{known['line_ref']}-{offset}-{known.get('qty', 1)}"
        return unit

    def _ret(self, label: str) -> dict[str, Any]:
        return self.returns[self.labels[label]]

    def _set_status(self, ret: dict[str, Any], status: str) -> None:
        ret["status"] = status
        self._queue(ret, "return_status_updated", status)

    def in_transit(self, label: str) -> None:
        """Dropped off at a Return Bar (or first carrier scan of a mail return)."""
        with self.lock:
            ret = self._ret(label)
            if ret["status"] == HR_STARTED:
                self._set_status(ret, HR_DROPPED_OFF)

    def receive(self, label: str) -> None:
        """The consolidated hub -> retailer shipment carrying these units leaves the hub."""
        with self.lock:
            ret = self._ret(label)
            if ret["status"] == HR_STARTED:
                self._set_status(ret, HR_DROPPED_OFF)
            self.counters["shipment"] += 1
            sid = f"OS{self.counters['shipment']:06d}"
            ids = [u["happyReturnsItemID"] for u in ret["units"] if not u["outboundShipmentID"]]
            for u in ret["units"]:
                u["outboundShipmentID"] = u["outboundShipmentID"] or sid
            self.shipments[sid] = {"id": sid, "departureDate": _ts(self.clock.now()),
                                   "tracking": f"1Z{self.counters['shipment']:016d}",
                                   "carrier": "UPS", "items": ids}

    def expire(self, label: str) -> None:
        with self.lock:
            ret = self._ret(label)
            if not self._final(ret):
                self._set_status(ret, HR_EXPIRED)

    def external_view(self) -> dict[str, Any]:
        with self.lock:
            return {"approvals": [dict(a) for a in self.approvals],
                    "refunds": [dict(r) for r in self.refunds]}

    # --- state -----------------------------------------------------------------------------------
    _STATE = ("returns", "labels", "orders", "line_offsets", "shipments", "buckets", "buffers",
              "outbox", "approvals", "refunds", "counters")

    def dump_state(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps({k: getattr(self, k) for k in self._STATE}))

    def load_state(self, state: dict[str, Any]) -> None:
        with self.lock:
            for k in self._STATE:
                setattr(self, k, json.loads(json.dumps(state[k])))


def _parse_dt(value: str | None) -> datetime | None:
    if not value:
        return None
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt
