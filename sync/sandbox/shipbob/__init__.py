"""ShipBob returns simulator: return orders, grading actions, signed webhooks, faults.

API surface (reference C1): `GET /{version}/return` (filters Ids, ReferenceIds, Status,
StartDate/EndDate on insert date, CompletedStartDate/CompletedEndDate, Cursor + Limit paging
with `first/prev/next/last` links), `GET /{version}/return/{id}`, `POST /{version}/return`,
`POST /{version}/return/{id}/cancel` (only while AwaitingArrival). Bearer token plus the
`shipbob_channel_id` header. Webhooks are queued, signed Standard-Webhooks style, and handed
to the caller by `take_webhooks()` (the replay/demo posts them to the intake).

Driver (the replay's warehouse verbs): create_return, arrive, grade, cancel.
ASSUMED: the webhook body is the return order object itself (same shape as GET /return/{id}).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from rules.model import Condition
from sync.connectors.shipbob import API_VERSION, sign_webhook
from sync.sandbox.base import Sandbox, SandboxRequest, SandboxResponse

DEMO_TOKEN = "sandbox-shipbob-pat"
DEMO_CHANNEL = 1001
DEMO_WEBHOOK_SECRET = "whsec_c2FuZGJveC1zaGlwYm9iLXdlYmhvb2stc2VjcmV0"

# How the sandbox warehouse turns a grade into ShipBob's action (the connector maps back).
CONDITION_ACTIONS: dict[str, tuple[str, str | None]] = {
    Condition.SELLABLE: ("Restock", None),
    Condition.DAMAGED: ("Quarantine", "Damaged"),
    Condition.FAULTY: ("Quarantine", "Faulty"),
    Condition.USED: ("Quarantine", "Used"),
    Condition.WRONG_ITEM: ("Quarantine", "Wrong item"),
}


class ShipBobSandbox(Sandbox):
    name = "shipbob"
    hosts = ("api.shipbob.com", "sandbox-api.shipbob.com")

    def __init__(self, clock=None, *, token: str = DEMO_TOKEN, channel_id: int = DEMO_CHANNEL,
                 webhook_secret: str = DEMO_WEBHOOK_SECRET) -> None:
        super().__init__(clock)
        self._token = token
        self.channel_id = channel_id
        self.webhook_secret = webhook_secret
        self.state: dict[str, Any] = {}
        self._reset()
        v = rf"/(?P<version>{API_VERSION}|2025-07|1\.0)"
        self.add_route("GET", v + r"/return", self._list, "list_returns")
        self.add_route("POST", v + r"/return", self._create_api, "create_return")
        self.add_route("GET", v + r"/return/(?P<rid>\d+)", self._get, "get_return")
        self.add_route("POST", v + r"/return/(?P<rid>\d+)/cancel", self._cancel_api,
                       "cancel_return")

    def _reset(self) -> None:
        self.state = {"returns": {}, "labels": {}, "fcs": {}, "inventory": {},
                      "webhooks": [], "next": {"return": 900001, "fc": 20, "inventory": 9557800,
                                               "webhook": 1}}

    def _next(self, kind: str) -> int:
        n = self.state["next"][kind]
        self.state["next"][kind] = n + 1
        return n

    def _now(self) -> str:
        return self.clock.now().astimezone(UTC).isoformat().replace("+00:00", "Z")

    # --- seeding / driver --------------------------------------------------------------------
    def fulfillment_center(self, warehouse: str) -> dict[str, Any]:
        """FCs are named by Returnline's warehouse ids."""
        for fc in self.state["fcs"].values():
            if fc["name"] == warehouse:
                return fc
        fc = {"id": self._next("fc"), "name": warehouse}
        self.state["fcs"][str(fc["id"])] = fc
        return fc

    def inventory_id(self, sku: str) -> int:
        if sku not in self.state["inventory"]:
            self.state["inventory"][sku] = self._next("inventory")
        return self.state["inventory"][sku]

    def create_return(self, label: str, rma: str, order_number: str, lines: list[dict[str, Any]],
                      warehouse: str) -> int:
        with self.lock:
            rid = self._next("return")
            self.state["returns"][str(rid)] = {
                "id": rid, "reference_id": rma, "status": "AwaitingArrival",
                "return_type": "Regular", "store_order_id": str(order_number),
                "channel": {"id": self.channel_id, "name": "Returnline"},
                "fulfillment_center": self.fulfillment_center(warehouse),
                "insert_date": self._now(), "awaiting_arrival_date": self._now(),
                "arrived_date": None, "processing_date": None, "completed_date": None,
                "cancelled_date": None, "tracking_number": None, "original_shipment_id": None,
                "customer_name": None, "invoice": None, "transactions": [],
                "status_history": [{"status": "AwaitingArrival", "timestamp": self._now()}],
                "inventory": [{"id": self.inventory_id(line["sku"]), "sku": line["sku"],
                               "name": line.get("name") or line["sku"], "quantity": int(line["qty"]),
                               "action_requested": {"action": "Default",
                                                    "action_type": "InventoryDefault",
                                                    "instructions": None},
                               "action_taken": [], "lot_information": None}
                              for line in lines],
                "_missing": {},
            }
            self.state["labels"][label] = str(rid)
            return rid

    def _by_label(self, label: str) -> dict[str, Any]:
        return self.state["returns"][self.state["labels"][label]]

    def _set_status(self, ret: dict[str, Any], status: str) -> None:
        ret["status"] = status
        field = {"Arrived": "arrived_date", "Processing": "processing_date",
                 "Completed": "completed_date", "Cancelled": "cancelled_date"}[status]
        ret[field] = self._now()
        ret["status_history"].append({"status": status, "timestamp": self._now()})

    def arrive(self, label: str) -> None:
        with self.lock:
            ret = self._by_label(label)
            self._set_status(ret, "Arrived")
            self._emit("return.updated", ret)

    def grade(self, label: str, lines: list[dict[str, Any]]) -> None:
        """lines: [{"sku", "qty", "condition", optional "action", "reason"}]."""
        with self.lock:
            ret = self._by_label(label)
            if ret["status"] == "AwaitingArrival":
                self._set_status(ret, "Arrived")
            for line in lines:
                item = next(i for i in ret["inventory"] if i["sku"] == line["sku"])
                qty = int(line.get("qty", item["quantity"]))
                condition = Condition(line.get("condition", "sellable"))
                if condition == Condition.MISSING:
                    ret["_missing"][line["sku"]] = ret["_missing"].get(line["sku"], 0) + qty
                    continue
                action, reason = CONDITION_ACTIONS[condition]
                item["action_taken"].append({
                    "action": line.get("action", action),
                    "action_reason": line.get("reason", reason),
                    "image_url": None, "quantity_processed": qty})
            done = all(sum(a["quantity_processed"] for a in i["action_taken"])
                       + ret["_missing"].get(i["sku"], 0) >= i["quantity"]
                       for i in ret["inventory"])
            if done:
                self._set_status(ret, "Completed")
                self._emit("return.completed", ret)
            else:
                if ret["status"] != "Processing":
                    self._set_status(ret, "Processing")
                self._emit("return.updated", ret)

    def cancel(self, label: str) -> None:
        with self.lock:
            ret = self._by_label(label)
            self._set_status(ret, "Cancelled")
            self._emit("return.updated", ret)

    # --- webhooks ----------------------------------------------------------------------------
    def _emit(self, topic: str, ret: dict[str, Any]) -> None:
        body = json.dumps(_public(ret), separators=(",", ":"))
        wid = f"msg_sandbox_{self._next('webhook'):08d}"
        ts = int(self.clock.now().timestamp())
        self.state["webhooks"].append({
            "id": wid, "topic": topic, "body": body,
            "headers": {"content-type": "application/json", "webhook-id": wid,
                        "webhook-timestamp": str(ts), "x-webhook-topic": topic,
                        "webhook-signature": sign_webhook(self.webhook_secret, wid, ts,
                                                          body.encode())}})

    def take_webhooks(self) -> list[dict[str, Any]]:
        """Deliveries not yet handed over ({id, topic, headers, body: bytes}); clears them."""
        with self.lock:
            out, self.state["webhooks"] = self.state["webhooks"], []
            return [{**w, "body": w["body"].encode()} for w in out]

    # --- API ---------------------------------------------------------------------------------
    def authenticate(self, req: SandboxRequest) -> SandboxResponse | None:
        if req.header("authorization") != f"Bearer {self._token}":
            return SandboxResponse.json({"message": "Authorization has been denied for this "
                                         "request."}, 401)
        channel = req.header("shipbob_channel_id")
        if channel is not None and channel != str(self.channel_id):
            return SandboxResponse.json({"type": "https://tools.ietf.org/html/rfc7231#section-6.5.3",
                                         "title": "Forbidden", "status": 403,
                                         "detail": f"No access to channel {channel}"}, 403)
        return None

    def error_response(self, kind: str, operation: str) -> SandboxResponse:
        status = {"http_500": 500, "http_503": 503, "http_429": 429, "throttled": 429,
                  "conflict_409": 409}.get(kind, 500)
        titles = {500: "An error has occurred.", 503: "Service Unavailable",
                  429: "Too Many Requests", 409: "Conflict"}
        headers = {"retry-after": "60"} if status == 429 else {}
        return SandboxResponse.json({"title": titles[status], "status": status}, status, headers)

    def _list(self, req: SandboxRequest, version: str) -> SandboxResponse:
        rows = sorted(self.state["returns"].values(), key=lambda r: r["id"])

        def csv_arg(name: str) -> set[str] | None:
            value = req.arg(name) or req.arg(name.lower())
            return {v.strip() for v in value.split(",") if v.strip()} if value else None

        for name, fld in (("Ids", "id"), ("ReferenceIds", "reference_id"), ("Status", "status"),
                          ("StoreOrderIds", "store_order_id")):
            wanted = csv_arg(name)
            if wanted is not None:
                rows = [r for r in rows if str(r[fld]) in wanted]
        for name, fld, cmp in (("StartDate", "insert_date", 1), ("EndDate", "insert_date", -1),
                               ("CompletedStartDate", "completed_date", 1),
                               ("CompletedEndDate", "completed_date", -1)):
            value = req.arg(name)
            if value:
                try:
                    bound = _parse(value)
                except ValueError:
                    return SandboxResponse.json({"title": "One or more validation errors "
                                                 "occurred.", "status": 400,
                                                 "errors": {name: [f"The value '{value}' is not "
                                                                   "valid."]}}, 400)
                rows = [r for r in rows if r[fld] and (
                    _parse(r[fld]) >= bound if cmp > 0 else _parse(r[fld]) <= bound)]
        limit = max(1, min(250, int(req.arg("Limit", "50") or 50)))
        start = int(req.arg("Cursor", "0") or 0)
        page = rows[start:start + limit]
        base = {k: v[0] for k, v in req.query.items() if k not in ("Cursor",)}

        def link(cursor: int | None) -> str | None:
            if cursor is None:
                return None
            return (f"https://{self.hosts[0]}/{version}/return?"
                    + urlencode({**base, "Cursor": str(cursor)}))

        last_start = max(0, (len(rows) - 1) // limit * limit)
        return SandboxResponse.json({
            "first": link(0), "last": link(last_start),
            "prev": link(start - limit) if start > 0 else None,
            "next": link(start + limit) if start + limit < len(rows) else None,
            "items": [_public(r) for r in page]})

    def _get(self, req: SandboxRequest, version: str, rid: str) -> SandboxResponse:
        ret = self.state["returns"].get(rid)
        if ret is None:
            return SandboxResponse.json({"title": "Not Found", "status": 404,
                                         "detail": f"Return {rid} not found"}, 404)
        return SandboxResponse.json(_public(ret))

    def _create_api(self, req: SandboxRequest, version: str) -> SandboxResponse:
        body = req.json() or {}
        errors = {}
        if not body.get("reference_id"):
            errors["reference_id"] = ["The reference_id field is required."]
        if not body.get("inventory"):
            errors["inventory"] = ["At least one inventory item is required."]
        if errors:
            return SandboxResponse.json({"title": "One or more validation errors occurred.",
                                         "status": 400, "errors": errors}, 400)
        by_id = {v: k for k, v in self.state["inventory"].items()}
        fc = self.state["fcs"].get(str((body.get("fulfillment_center") or {}).get("id")))
        rid = self.create_return(
            f"api:{body['reference_id']}", body["reference_id"], body.get("store_order_id", ""),
            [{"sku": by_id.get(i["id"], str(i["id"])), "qty": i["quantity"]}
             for i in body["inventory"]], fc["name"] if fc else "unknown")
        return SandboxResponse.json(_public(self.state["returns"][str(rid)]), 201)

    def _cancel_api(self, req: SandboxRequest, version: str, rid: str) -> SandboxResponse:
        ret = self.state["returns"].get(rid)
        if ret is None:
            return SandboxResponse.json({"title": "Not Found", "status": 404}, 404)
        if ret["status"] != "AwaitingArrival":
            return SandboxResponse.json({"title": "Return can only be cancelled while "
                                         "AwaitingArrival", "status": 422}, 422)
        self._set_status(ret, "Cancelled")
        self._emit("return.updated", ret)
        return SandboxResponse.json(_public(ret))

    # --- truth, dump/load --------------------------------------------------------------------
    def external_view(self) -> dict[str, Any]:
        labels = {v: k for k, v in self.state["labels"].items()}
        with self.lock:
            return {"returns": [
                {"label": labels.get(str(r["id"])), "id": r["id"], "rma": r["reference_id"],
                 "order": r["store_order_id"], "status": r["status"],
                 "warehouse": r["fulfillment_center"]["name"],
                 "items": [{"sku": i["sku"], "quantity": i["quantity"],
                            "actions": [{"action": a["action"], "qty": a["quantity_processed"],
                                         "reason": a["action_reason"]}
                                        for a in i["action_taken"]]}
                           for i in r["inventory"]]}
                for r in sorted(self.state["returns"].values(), key=lambda r: r["id"])]}

    def dump_state(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps(self.state))

    def load_state(self, state: dict[str, Any]) -> None:
        with self.lock:
            self.state = json.loads(json.dumps(state))


def _public(ret: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ret.items() if not k.startswith("_")}


def _parse(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
