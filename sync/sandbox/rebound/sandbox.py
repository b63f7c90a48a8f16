"""ReBOUND simulator: the Headless API (OAuth2 client credentials, return orders per client
order number), the legacy Intelligent Returns API (form posts: /returns/search/json by date
window, /returns/get/json), and pushes (tracking milestones; refund triggers with item
conditions) authenticated per account by a shared-secret header or an HMAC.

Quirks copied from the record: numbers as strings ("49.90", "1"), `(00)`-prefixed SSCC-like ids,
legacy answers `{"success": ...}` / `{"error": {"code": "empty"}}` with HTTP 200.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from sync.connectors.platform_assumptions import (
    REBOUND_HAPI_HOST,
    REBOUND_LEGACY_HOST,
    REBOUND_LEGACY_LIMIT,
    REBOUND_SECRET_HEADER,
    REBOUND_SIGNATURE_HEADER,
    REBOUND_TOKEN_HOST,
    REBOUND_TOKEN_LIFETIME_S,
)
from sync.sandbox.base import Sandbox, SandboxRequest, SandboxResponse, SimClock, WallClock
from sync.signing import sign_base64

_FORM_SECRETS = ("api_key", "client_secret")
_LEGACY_STATUS_TEXT = {"returnOrderCreated": "Return Order Created",
                       "postalIncoming": "Entered Our Network", "arrivedAtHub": "Arrived at Our Hub",
                       "delivered": "Delivered"}


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")  # 2024-01-29T11:22:09.815479Z


def _legacy(payload: Any) -> SandboxResponse:
    return SandboxResponse.json(payload)


class ReboundSandbox(Sandbox):
    name = "rebound"
    hosts = (REBOUND_TOKEN_HOST, REBOUND_HAPI_HOST, REBOUND_LEGACY_HOST)
    inspects = True  # hub grading -> "item graded" refund trigger with conditions

    def __init__(self, clock: SimClock | WallClock | None = None, *,
                 client_id: str = "rb-client", client_secret: str = "rb-client-secret",
                 login: str = "returnline", api_key: str = "rb-legacy-key",
                 webhook_auth: str = "hmac", webhook_secret: str = "rb-webhook-secret",
                 hub: str = "GB_HUB_Coventry", limits_enabled: bool = True) -> None:
        super().__init__(clock)
        if webhook_auth not in ("hmac", "shared_secret"):
            raise ValueError("webhook_auth is 'hmac' or 'shared_secret'")
        self.client_id, self.client_secret = client_id, client_secret
        self.login, self.api_key = login, api_key
        self.webhook_auth, self.webhook_secret = webhook_auth, webhook_secret
        self.hub, self.limits_enabled = hub, limits_enabled
        self.returns: dict[str, dict[str, Any]] = {}  # by reboundOrderId
        self.labels: dict[str, str] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, str] = {}  # token -> expiry (iso)
        self.window: list[Any] = [None, 0]  # legacy limiter: [window start iso, used]
        self.outbox: list[dict[str, Any]] = []
        self.counters = {"legacy": 48200, "order": 88800, "item": 12300, "token": 0}
        self.add_route("POST", r"/oauth/token", self._token, "token")
        self.add_route("GET", r"/v1/return-orders", self._return_orders, "get_return")
        self.add_route("POST", r"/api/returns/search/json", self._search, "list_returns")
        self.add_route("POST", r"/api/returns/get/json", self._get, "get_return")
        self.add_route("POST", r"/api/tracking/get/json", self._tracking, "get_tracking")

    # --- journal: legacy and token requests carry secrets in the form body ---------------------
    def handle(self, req: SandboxRequest) -> SandboxResponse:
        with self.lock:
            try:
                return super().handle(req)
            finally:
                entry = self.journal[-1] if self.journal else None
                if entry is not None and isinstance(entry.get("body"), str):
                    form = parse_qs(entry["body"], keep_blank_values=True)
                    if any(k in form for k in _FORM_SECRETS):
                        entry["body"] = {k: ("***" if k in _FORM_SECRETS else v[0])
                                         for k, v in form.items()}

    # --- API shape -----------------------------------------------------------------------------
    def error_response(self, kind: str, operation: str) -> SandboxResponse:
        status = {"http_503": 503, "http_429": 429, "throttled": 429, "conflict_409": 409}.get(
            kind, 500)
        return SandboxResponse.json({"error": {"code": "rate_limit" if status == 429 else
                                               "server_error", "message": kind}}, status)

    def authenticate(self, req: SandboxRequest) -> SandboxResponse | None:
        if req.path.startswith("/v1/"):
            auth = req.header("authorization") or ""
            token = auth[7:] if auth.lower().startswith("bearer ") else ""
            expiry = self.tokens.get(token)
            if expiry is None or datetime.fromisoformat(expiry) <= self.clock.now():
                return SandboxResponse.json({"error": "invalid_token",
                                             "error_description": "token missing or expired"},
                                            401, {"www-authenticate": 'Bearer error="invalid_token"'})
        if req.path.startswith("/api/"):
            form = self._form(req)
            if form.get("login") != self.login or form.get("api_key") != self.api_key:
                return _legacy({"error": {"code": "auth", "message": "invalid login or api key"}})
            if self.limits_enabled:
                return self._legacy_limit()
        return None

    def _legacy_limit(self) -> SandboxResponse | None:
        limit, seconds = REBOUND_LEGACY_LIMIT
        now = self.clock.now()
        start = datetime.fromisoformat(self.window[0]) if self.window[0] else None
        if start is None or now >= start + timedelta(seconds=seconds):
            self.window = [now.isoformat(), 0]
        if self.window[1] >= limit:
            return SandboxResponse.json({"error": {"code": "rate_limit"}}, 429)
        self.window[1] += 1
        return None

    @staticmethod
    def _form(req: SandboxRequest) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace"),
                                             keep_blank_values=True).items()}

    def _request_json(self, req: SandboxRequest) -> dict[str, Any]:
        try:
            return json.loads(self._form(req).get("request") or "{}")
        except ValueError:
            return {}

    # --- routes --------------------------------------------------------------------------------
    def _token(self, req: SandboxRequest) -> SandboxResponse:
        form = self._form(req)
        if form.get("grant_type") != "client_credentials":
            return SandboxResponse.json({"error": "unsupported_grant_type"}, 400)
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return SandboxResponse.json({"error": "invalid_client"}, 401)
        self.counters["token"] += 1
        token = f"rbt_{self.counters['token']:06d}"
        self.tokens = {t: e for t, e in self.tokens.items()
                       if datetime.fromisoformat(e) > self.clock.now()}
        self.tokens[token] = (self.clock.now() + timedelta(seconds=REBOUND_TOKEN_LIFETIME_S)
                              ).isoformat()
        return SandboxResponse.json({"access_token": token, "token_type": "Bearer",
                                     "expires_in": REBOUND_TOKEN_LIFETIME_S})

    def _return_orders(self, req: SandboxRequest) -> SandboxResponse:
        order = req.arg("clientOrderId")
        if not order:
            return SandboxResponse.json({"error": "clientOrderId is required"}, 400)
        rows = sorted((r for r in self.returns.values() if r["clientOrderId"] == order),
                      key=lambda r: r["created_at"], reverse=True)
        return SandboxResponse.json({"returnOrders": [self._hapi(r) for r in rows]})

    def _search(self, req: SandboxRequest) -> SandboxResponse:
        flt = (self._request_json(req).get("request") or {}).get("filter") or {}
        try:
            lo = datetime.strptime(flt["date_from"], "%Y/%m/%d").date()
            hi = datetime.strptime(flt["date_to"], "%Y/%m/%d").date()
        except (KeyError, ValueError):
            return _legacy({"error": {"code": "invalid_request"}})
        ids = [r["id"] for r in self.returns.values()
               if lo <= datetime.fromisoformat(r["created_at"]).date() <= hi]
        return _legacy({"success": {"id": ids}} if ids else {"error": {"code": "empty"}})

    def _get(self, req: SandboxRequest) -> SandboxResponse:
        ask = (self._request_json(req).get("request") or {}).get("return") or {}
        found = next((r for r in self.returns.values() if r["id"] == str(ask.get("id"))), None)
        return _legacy({"success": self._legacy_return(found)} if found
                       else {"error": {"code": "empty"}})

    def _tracking(self, req: SandboxRequest) -> SandboxResponse:
        code = ((self._request_json(req).get("request") or {}).get("tracking") or {}).get("code")
        found = next((r for r in self.returns.values() if r["trackingNumber"] == code), None)
        if not found:
            return _legacy({"error": {"code": "empty"}})
        return _legacy({"success": {
            "tracking_code": code, "pallet_number": None, "source_country": "GB",
            "carrier_name": "Royal Mail", "service_id": "RM48", "external_id": found["id"],
            "order_reference": found["clientOrderId"],
            "track": [{"dt": h["timestamp"], "status": _LEGACY_STATUS_TEXT.get(
                h["statusDescription"], h["statusDescription"]),
                "location": {"country": "GB", "state": "", "city": h["location"]}}
                for h in found["history"]]}})

    # --- shapes --------------------------------------------------------------------------------
    @staticmethod
    def _hapi(r: dict[str, Any]) -> dict[str, Any]:
        return {"reboundOrderId": r["reboundOrderId"], "clientOrderId": r["clientOrderId"],
                "createdAt": r["created_at_z"], "statusDescription": r["status"],
                "statusHistory": r["history"], "trackingNumber": r["trackingNumber"],
                "customer": {"email": r["email"]}, "items": r["items"]}

    @staticmethod
    def _legacy_return(r: dict[str, Any]) -> dict[str, Any]:
        last = r["history"][-1] if r["history"] else {}
        return {
            "id": r["id"], "order_reference": r["clientOrderId"],
            "date_added": datetime.fromisoformat(r["created_at"]).strftime("%Y-%m-%d %H:%M:%S"),
            "name": r["email"].split("@")[0], "company_name": "", "addr1": "1 High St",
            "addr2": "", "addr3": "", "city": "London", "state": "", "zip": "N1 1AA",
            "country": "GB", "phone": "", "email": r["email"], "display_id": r["reboundOrderId"],
            "external_id": "", "tracking": r["trackingNumber"],
            "tracking_last_update": last.get("timestamp", ""),
            "current_tracking_status": r["status"], "carrier": "Royal Mail",
            "item": [{
                "sku_code": i["sku"], "sku_desc": i["articleDescription"],
                "quantity": i["quantity"], "price": i["commercialValue"], "weight": "0.3",
                "weight_uom": "kg", "final_disposition": i.get("finalDisposition") or "",
                "client_item_id": i["clientItemId"], "rebound_item_id": i["reboundItemId"],
                "condition": i.get("condition") or "", "graded_at": i.get("gradedAt") or "",
                "exchange_sku": i.get("exchangeSku") or "",
                "reason": [{"action": "return", "reason": i["reasonCode"], "wish": i["wish"],
                            "additional": {"title": "", "value": ""}}]}
                for i in r["items"]]}

    # --- pushes --------------------------------------------------------------------------------
    def _order_block(self, r: dict[str, Any], status: str, at: str, location: str
                     ) -> dict[str, Any]:
        return {"clientOrderId": r["clientOrderId"], "reboundOrderId": r["reboundOrderId"],
                "location": location, "trackingNumber": r["trackingNumber"],
                "statusDescription": status, "timestamp": at}

    def _push(self, payload: dict[str, Any], kind: str) -> None:
        body = json.dumps(payload, separators=(",", ":"))
        headers = {"content-type": "application/json"}
        if self.webhook_auth == "hmac":
            headers[REBOUND_SIGNATURE_HEADER] = sign_base64(self.webhook_secret, body.encode())
        else:
            headers[REBOUND_SECRET_HEADER] = self.webhook_secret
        self.outbox.append({"platform": "rebound", "event": kind, "headers": headers,
                            "body": body})

    def _milestone(self, r: dict[str, Any], status: str, location: str | None = None) -> None:
        at = _ts(self.clock.now())
        where = location or self.hub
        r["status"] = status
        r["history"].append({"statusDescription": status, "timestamp": at, "location": where})
        if status in ("parcelReceived", "itemGraded", "returnProcessed"):
            self._push({"eventType": status, "timestamp": at,
                        "order": self._order_block(r, status, at, where),
                        "items": r["items"]}, "refund_trigger")
        else:
            self._push({"order": self._order_block(r, status, at, where), "items": r["items"]},
                       "tracking")

    def take_webhooks(self) -> list[dict[str, Any]]:
        with self.lock:
            out, self.outbox = self.outbox, []
            return out

    # --- driver API ----------------------------------------------------------------------------
    def seed_order(self, number: str, *, currency: str, lines: list[dict[str, Any]],
                   store: str | None = None, email: str | None = None,
                   created_at: datetime | None = None, order_id: str | None = None) -> str:
        with self.lock:
            self.orders[number] = {"currency": currency, "email": email,
                                   "lines": [dict(line) for line in lines]}
            return order_id or number

    def request_return(self, label: str, order_number: str, lines: list[dict[str, Any]],
                       email: str | None = None, store: str | None = None) -> str:
        with self.lock:
            now = self.clock.now()
            order = self.orders.get(order_number, {})
            self.counters["legacy"] += 1
            self.counters["order"] += 1
            rid = f"(00)6870000000000{self.counters['order']:05d}"
            items = []
            for line in lines:
                known = next((o for o in order.get("lines", []) if o.get("sku") == line["sku"]), {})
                for _ in range(int(line.get("qty", 1))):
                    self.counters["item"] += 1
                    items.append({
                        "reboundItemId": f"(00)9870000000000{self.counters['item']:05d}",
                        "clientItemId": str(known.get("line_ref") or ""),  # "" when not known
                        "ean": f"400000{self.counters['item']:07d}", "sku": line["sku"],
                        "reasonCode": line.get("reason", ""),
                        "articleDescription": line["sku"].replace("-", " ").title(),
                        "commercialValue": str(known.get("unit_price") or line.get("unit_price")
                                               or "0.00"),
                        "commercialValueCurrency": order.get("currency", "GBP"),
                        "quantity": "1",  # quirk: numbers as strings
                        "wish": {"store_credit": "credit"}.get(line.get("resolution", "refund"),
                                                               line.get("resolution", "refund")),
                        "exchangeSku": line.get("exchange_sku"),
                        "condition": None, "gradedAt": None, "finalDisposition": None})
            r = {"id": str(self.counters["legacy"]), "reboundOrderId": rid,
                 "clientOrderId": order_number, "label": label,
                 "created_at": now.isoformat(), "created_at_z": _ts(now),
                 "email": email or order.get("email") or f"{label.lower()}@example.com",
                 "trackingNumber": f"ZZ{self.counters['order']:09d}GB", "status": "",
                 "history": [], "items": items}
            self.returns[rid] = r
            self.labels[label] = rid
            self._milestone(r, "returnOrderCreated", "online")
            return f"{order_number}:{rid}"

    def _ret(self, label: str) -> dict[str, Any]:
        return self.returns[self.labels[label]]

    def in_transit(self, label: str) -> None:
        with self.lock:
            self._milestone(self._ret(label), "postalIncoming", "GB_POST_Office")

    def receive(self, label: str) -> None:
        with self.lock:
            r = self._ret(label)
            self._milestone(r, "arrivedAtHub")
            self._milestone(r, "parcelReceived")

    def grade(self, label: str, lines: list[dict[str, Any]], warehouse: str | None = None) -> None:
        with self.lock:
            r = self._ret(label)
            at = _ts(self.clock.now())
            for line in lines:
                todo = int(line.get("qty", 1))
                for item in r["items"]:
                    if todo > 0 and item["sku"] == line["sku"] and not item["condition"]:
                        item.update({"condition": line["condition"], "gradedAt": at,
                                     "finalDisposition": "restock" if line["condition"] ==
                                     "sellable" else "quarantine"})
                        todo -= 1
            self._milestone(r, "itemGraded")

    def process(self, label: str) -> None:
        with self.lock:
            self._milestone(self._ret(label), "returnProcessed")

    def expire_tokens(self) -> None:
        """Every issued token is now past its 60 minutes (tests the refresh path)."""
        with self.lock:
            self.tokens = {t: self.clock.now().isoformat() for t in self.tokens}

    def external_view(self) -> dict[str, Any]:
        return {"approvals": [], "refunds": []}  # ReBOUND does not move money here

    # --- state -----------------------------------------------------------------------------------
    _STATE = ("returns", "labels", "orders", "tokens", "window", "outbox", "counters")

    def dump_state(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps({k: getattr(self, k) for k in self._STATE}))

    def load_state(self, state: dict[str, Any]) -> None:
        with self.lock:
            for k in self._STATE:
                setattr(self, k, json.loads(json.dumps(state[k])))
