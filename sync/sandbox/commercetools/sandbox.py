"""The commercetools sandbox: OAuth token endpoint and the HTTP API paths Returnline uses.

State is held as the API's own JSON documents (orders, payments, inventory entries, channels,
types), so GET answers are the stored document and every update is applied to a copy that
replaces the original only when all actions succeed (updates are atomic, one version bump per
request). Request bodies are validated against the committed spec extract.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from sync.connectors.commercetools import conventions as C
from sync.sandbox.base import FAULT_KINDS, Sandbox, SandboxRequest, SandboxResponse
from sync.sandbox.commercetools import errors as E
from sync.sandbox.commercetools.documents import cent_money, timestamp, typed_from_draft
from sync.sandbox.commercetools.driver import DriverMixin
from sync.sandbox.commercetools.query import matches_where, parse_where
from sync.sandbox.commercetools.validator import extract_validator, load_extract

_NS = uuid.UUID("5f1c9a52-7d8e-4c61-9a7a-2f4c0e6b1d3e")
DEFAULT_CLIENT_ID = "returnline-sandbox"
DEFAULT_CLIENT_SECRET = "sandbox-secret"  # noqa: S105 - a sandbox's fixed test credential
DEFAULT_TOKEN_VALIDITY = 172800  # ApiClient.accessTokenValiditySeconds default (48 h)
RETURNLINE_TYPES = {
    # ASSUMED: installed by Returnline's project setup (see connectors/.../conventions.py).
    C.REFUND_TYPE_KEY: ("transaction", [C.F_RETURN_ID, C.F_LINES, C.F_NOTE]),
    C.INVENTORY_TYPE_KEY: ("inventory-entry", [C.F_MOVEMENTS]),
    C.ORDER_TYPE_KEY: ("order", [C.F_ORIGINAL_ORDER, C.F_EXCHANGE_KEY, C.F_ORDER_RETURN_ID,
                                 C.F_TAGS, C.F_ORDER_NOTE]),
}
EXTRA_FAULT_KINDS = ("http_502",)
_PK = r"/(?P<pk>[^/]+)"


class CommercetoolsSandbox(DriverMixin, Sandbox):
    name = "commercetools"
    hosts = ("auth.*.*.commercetools.com", "api.*.*.commercetools.com",
             "auth.*.commercetools.com", "api.*.commercetools.com")

    def __init__(self, clock=None, *, project_key: str = "returnline-demo",
                 client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET,
                 client_scopes: list[str] | None = None,
                 token_validity_seconds: int = DEFAULT_TOKEN_VALIDITY,
                 enforce_return_quantity: bool = True) -> None:
        super().__init__(clock)
        self.project_key = project_key
        self.clients: dict[str, dict[str, Any]] = {}
        self.add_client(client_id, client_secret,
                        client_scopes or [f"manage_project:{project_key}"])
        self.token_validity_seconds = token_validity_seconds
        self.enforce_return_quantity = enforce_return_quantity
        self.tokens: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.inventory: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.types: dict[str, dict[str, Any]] = {}
        self.locations: dict[str, dict[str, Any]] = {}  # Returnline location id -> meta
        self.stock_ledger: list[dict[str, Any]] = []  # quantity changes made through the API
        self.seq = 0
        self._reindex()
        self._validator = extract_validator(strict=True)
        self._operations = load_extract()["operations"]
        self._op_keys: dict[str, str] = {}
        self._current: SandboxRequest | None = None
        self._pending_kind: str | None = None
        for key, (resource, fields) in RETURNLINE_TYPES.items():
            self._install_type(key, resource, fields)
        self._register_routes()

    # setup -------------------------------------------------------------------------------
    def add_client(self, client_id: str, secret: str, scopes: list[str]) -> None:
        self.clients[client_id] = {"secret": secret, "scopes": list(scopes)}

    def new_id(self, kind: str = "") -> str:
        if ":" in kind:  # stable per name (products by SKU, ...)
            return str(uuid.uuid5(_NS, f"{self.project_key}:{kind}"))
        self.seq += 1
        return str(uuid.uuid5(_NS, f"{self.project_key}:{self.seq}"))

    def now_text(self) -> str:
        return timestamp(self.clock.now())

    def _install_type(self, key: str, resource: str, fields: list[str]) -> None:
        tid = self.new_id(f"type:{key}")
        now = self.now_text()
        self.types[tid] = {
            "id": tid, "version": 1, "key": key, "name": {"en": key},
            "resourceTypeIds": [resource], "createdAt": now, "lastModifiedAt": now,
            "fieldDefinitions": [{"name": f, "label": {"en": f}, "required": False,
                                  "type": {"name": "String"}, "inputHint": "SingleLine"}
                                 for f in fields]}

    def _route(self, method: str, regex: str, handler, op_key: str | None, operation) -> None:
        self.add_route(method, regex, handler, operation)
        if op_key:
            self._op_keys[f"{method} {regex}"] = op_key

    def _register_routes(self) -> None:
        r = self._route
        r("POST", r"/oauth/token", self.h_token, None, "auth")
        r("GET", _PK + r"/orders", self.h_query_orders, "GET /{projectKey}/orders",
          "query_orders")
        r("POST", _PK + r"/orders/import", self.h_import_order,
          "POST /{projectKey}/orders/import", "exchange_order")
        num = _PK + r"/orders/order-number=(?P<number>[^/]+)"
        r("GET", num, self.h_get_order, "GET /{projectKey}/orders/order-number={orderNumber}",
          "get_order")
        r("POST", num, self.h_update_order,
          "POST /{projectKey}/orders/order-number={orderNumber}", self._order_operation)
        oid = _PK + r"/orders/(?P<oid>[^/=]+)"
        r("GET", oid, self.h_get_order, "GET /{projectKey}/orders/{ID}", "get_order")
        r("POST", oid, self.h_update_order, "POST /{projectKey}/orders/{ID}",
          self._order_operation)
        pid = _PK + r"/payments/(?P<pid>[^/=]+)"
        r("GET", pid, self.h_get_payment, "GET /{projectKey}/payments/{ID}", "get_payment")
        r("POST", pid, self.h_update_payment, "POST /{projectKey}/payments/{ID}",
          self._payment_operation)
        r("GET", _PK + r"/inventory", self.h_query_inventory, "GET /{projectKey}/inventory",
          "get_stock")
        r("POST", _PK + r"/inventory", self.h_create_inventory, "POST /{projectKey}/inventory",
          self._stock_operation)
        iid = _PK + r"/inventory/(?P<iid>[^/=]+)"
        r("GET", iid, self.h_get_inventory, "GET /{projectKey}/inventory/{ID}", "get_stock")
        r("POST", iid, self.h_update_inventory, "POST /{projectKey}/inventory/{ID}",
          self._stock_operation)
        r("GET", _PK + r"/channels", self.h_query_channels, "GET /{projectKey}/channels",
          "get_location")
        r("GET", _PK + r"/channels/(?P<cid>[^/=]+)", self.h_get_channel,
          "GET /{projectKey}/channels/{ID}", "get_location")

    # operation names (what a fault armed by the replay hits) -----------------------------------
    def _order_operation(self, req: SandboxRequest, params: dict[str, str]) -> str:
        kinds = {a.get("action") for a in _actions(req)}
        for action, op in (("addReturnInfo", "create_return_record"),
                           ("setReturnShipmentState", "return_shipment_state"),
                           ("setReturnPaymentState", "return_payment_state"),
                           ("setCustomField", "tag_order"), ("setCustomType", "tag_order")):
            if action in kinds:
                return op
        return "update_order"

    def _payment_operation(self, req: SandboxRequest, params: dict[str, str]) -> str:
        for action in _actions(req):
            if action.get("action") == "addTransaction" and \
                    (action.get("transaction") or {}).get("type") == "Refund":
                return "refund"
        return "update_payment"

    def _stock_operation(self, req: SandboxRequest, params: dict[str, str]) -> str:
        channel_id = None
        if "iid" in params:
            channel_id = ((self.inventory.get(params["iid"]) or {}).get("supplyChannel") or {}
                          ).get("id")
        else:
            body = _json_or_none(req) or {}
            ref = body.get("supplyChannel") or {}
            channel = self._channel_by_ref(ref) if isinstance(ref, dict) else None
            channel_id = channel["id"] if channel else None
        meta = self._location_of_channel(channel_id)
        return "restock" if meta is None or meta["sellable"] else "quarantine"

    def operation_key(self, method: str, path: str) -> str | None:
        """The spec operation ("POST /{projectKey}/orders/{ID}") a request path maps to."""
        found = self.match(SandboxRequest(method.upper(), path, {}, {}, b""))
        if found is None:
            return None
        route = found[0]
        return self._op_keys.get(f"{route.method} {route.pattern.pattern[1:-1]}")

    def request_schema(self, method: str, path: str) -> str | None:
        op = self.operation_key(method, path)
        return self._operations[op]["request"] if op else None

    # faults in commercetools' shapes ----------------------------------------------------------
    def arm_fault(self, operation: str, kind: str, count: int = 1) -> None:
        if kind in EXTRA_FAULT_KINDS:
            with self.lock:
                from sync.sandbox.base import FaultRule
                self.faults.append(FaultRule(operation, kind, count))
            return
        super().arm_fault(operation, kind, count)

    def take_fault(self, operation: str) -> str | None:
        kind = super().take_fault(operation)
        self._pending_kind = kind
        return "http_500" if kind == "http_502" else kind

    def handle(self, req: SandboxRequest) -> SandboxResponse:
        with self.lock:
            self._current = req
            self._pending_kind = None
            return super().handle(req)

    def error_response(self, kind: str, operation: str) -> SandboxResponse:
        kind = self._pending_kind or kind
        if kind == "conflict_409":
            return self._simulated_conflict().response()
        if kind in ("http_429", "throttled"):
            # ASSUMED: 429 is documented only for the Change History API; same shape here.
            msg = "You have made too many requests. Please try again later."
            return E.CtError(429, "TooManyRequests", msg, {"retry-after": "2"}).response()
        if kind == "http_502":
            return E.CtError(502, "BadGateway", "Bad Gateway").response()
        if kind == "http_503":
            return E.CtError(503, "OverCapacity", "Service is over capacity.").response()
        return E.CtError(500, "General", "Write operations are temporarily unavailable").response()

    def _simulated_conflict(self) -> E.CtError:
        """A concurrent writer updated the resource just before this request."""
        req = self._current
        store, rid = self._target_of(req) if req else (None, None)
        if store is None or rid not in store:
            return E.CtError(409, "ConcurrentModification",
                             "Version mismatch. Concurrent modification.")
        doc = store[rid]
        doc["version"] += 1
        doc["lastModifiedAt"] = self.now_text()
        expected = (_json_or_none(req) or {}).get("version", doc["version"] - 1)
        return E.concurrent_modification(rid, expected, doc["version"])

    def _target_of(self, req: SandboxRequest) -> tuple[dict | None, str | None]:
        m = re.match(r"^/[^/]+/(orders|payments|inventory)/(.+)$", req.path)
        if not m:
            return None, None
        store = {"orders": self.orders, "payments": self.payments,
                 "inventory": self.inventory}[m.group(1)]
        ident = m.group(2)
        if ident.startswith("order-number="):
            found = self._order_by_number(ident.split("=", 1)[1])
            return store, found["id"] if found else None
        return store, ident

    def not_found(self, req: SandboxRequest) -> SandboxResponse:
        return E.CtError(404, "ResourceNotFound",
                         f"The endpoint '{req.path}' was not found.").response()

    # auth ------------------------------------------------------------------------------------
    def authenticate(self, req: SandboxRequest) -> SandboxResponse | None:
        if req.path == "/oauth/token":
            return None
        found = self.match(req)
        assert found is not None
        route, params = found
        if params.get("pk") != self.project_key:
            return E.not_found(params.get("pk", "")).response()
        header = req.header("authorization") or ""
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        grant = self.tokens.get(token or "")
        if grant is None or self.clock.now().isoformat() >= grant["expires_at"]:
            return E.invalid_token().response()
        op_key = self._op_keys.get(f"{route.method} {route.pattern.pattern[1:-1]}")
        needed = [s.replace("{projectKey}", self.project_key)
                  for s in self._operations.get(op_key, {}).get("scopes", [])]
        if needed and not any(_grants(grant["scopes"], s, self.project_key) for s in needed):
            return E.insufficient_scope(needed).response()
        return None

    def h_token(self, req: SandboxRequest) -> SandboxResponse:
        try:
            client_id, secret = _basic_auth(req.header("authorization") or "")
        except ValueError:
            return E.invalid_client().response()
        client = self.clients.get(client_id)
        if client is None or client["secret"] != secret:
            return E.invalid_client().response()
        form = parse_qs(req.body.decode("utf-8", "replace")) if req.body else {}
        form.update({k: v for k, v in req.query.items() if k not in form})
        if (form.get("grant_type") or [""])[0] != "client_credentials":
            return E.CtError(400, "unsupported_grant_type",
                             "Unsupported grant type.").response()
        asked = (form.get("scope") or [""])[0].split()
        scopes = asked or client["scopes"]
        refused = [s for s in scopes if not _grants(client["scopes"], s, self.project_key)]
        if refused:
            return E.CtError(400, "invalid_scope",
                             f"Invalid scopes requested: {' '.join(refused)}").response()
        self.seq += 1
        token = uuid.uuid5(_NS, f"token:{self.seq}").hex[:32]
        expires = self.clock.now() + timedelta(seconds=self.token_validity_seconds)
        self.tokens[token] = {"client_id": client_id, "scopes": scopes,
                              "expires_at": expires.isoformat()}
        return SandboxResponse.json({"access_token": token,
                                     "expires_in": self.token_validity_seconds,
                                     "scope": " ".join(scopes), "token_type": "Bearer"})

    def expire_tokens(self) -> None:
        """Driver: every issued token is now expired (as if expires_in had passed)."""
        for grant in self.tokens.values():
            grant["expires_at"] = self.clock.now().isoformat()

    # request bodies ---------------------------------------------------------------------------
    def _body(self, req: SandboxRequest, schema: str) -> dict[str, Any]:
        try:
            body = json.loads(req.body.decode("utf-8")) if req.body else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise E.invalid_json(f"Malformed JSON: {exc}") from None
        if body is None:
            raise E.invalid_json("Request body is empty.")
        issues = self._validator.errors(schema, body)
        if issues:
            raise E.invalid_json("; ".join(str(i) for i in issues[:5]))
        return body

    def _respond(self, fn, *args, status: int = 200) -> SandboxResponse:
        try:
            return SandboxResponse.json(fn(*args), status)
        except E.CtError as err:
            return err.response()

    # orders ------------------------------------------------------------------------------------
    def _order_by_number(self, number: str) -> dict[str, Any] | None:
        oid = self._idx["orderNumber"].get(number)
        return self.orders.get(oid) if oid else None

    # indexes: lookups stay fast with tens of thousands of orders --------------------------------
    def _reindex(self) -> None:
        self._idx: dict[str, dict[str, Any]] = {"orderNumber": {}, "original": {},
                                                "tracking": {}, "sku": {}}
        for doc in self.orders.values():
            self.index_order(doc)
        for doc in self.inventory.values():
            self._idx["sku"].setdefault(doc["sku"], set()).add(doc["id"])

    def index_order(self, doc: dict[str, Any]) -> None:
        if doc.get("orderNumber"):
            self._idx["orderNumber"][doc["orderNumber"]] = doc["id"]
        original = ((doc.get("custom") or {}).get("fields") or {}).get(C.F_ORIGINAL_ORDER)
        if original:
            self._idx["original"].setdefault(original, set()).add(doc["id"])
        for info in doc.get("returnInfo") or []:
            if info.get("returnTrackingId"):
                self._idx["tracking"].setdefault(info["returnTrackingId"], set()).add(doc["id"])

    def _candidates(self, store, terms: list[tuple[str, ...]]) -> list[dict[str, Any]]:
        """Documents that may match (an index hit narrows the scan); filtered after."""
        for term in terms:
            ids = None
            if store is self.orders and term[:2] == ("eq", "orderNumber"):
                ids = {self._idx["orderNumber"].get(term[2])} - {None}
            elif store is self.orders and term[:2] == ("custom_eq", C.F_ORIGINAL_ORDER):
                ids = self._idx["original"].get(term[2], set())
            elif store is self.orders and term[:3] == ("nested_eq", "returnInfo",
                                                       "returnTrackingId"):
                ids = self._idx["tracking"].get(term[3], set())
            elif store is self.inventory and term[:2] == ("eq", "sku"):
                ids = self._idx["sku"].get(term[2], set())
            if ids is not None:
                return [store[i] for i in ids if i in store]
        return list(store.values())

    def _order(self, oid: str | None = None, number: str | None = None) -> dict[str, Any]:
        order = self.orders.get(oid) if oid else self._order_by_number(number or "")
        if order is None:
            raise E.not_found(oid or f"order-number={number}")
        return order

    def _expanded(self, order: dict[str, Any], req: SandboxRequest) -> dict[str, Any]:
        expand = req.query.get("expand", [])
        if not any(e.startswith("paymentInfo.payments") for e in expand) or \
                not order.get("paymentInfo"):
            return order
        out = copy.deepcopy(order)
        for ref in out["paymentInfo"]["payments"]:
            if ref["id"] in self.payments:
                ref["obj"] = copy.deepcopy(self.payments[ref["id"]])
        return out

    def h_get_order(self, req, pk, oid=None, number=None):
        return self._respond(lambda: self._expanded(self._order(oid, number), req))

    def h_query_orders(self, req, pk):
        return self._respond(lambda: self._page(self.orders, req, self._expanded))

    def h_update_order(self, req, pk, oid=None, number=None):
        def run():
            body = self._body(req, "OrderUpdate")
            order = self._order(oid, number)
            return self._expanded(self._apply(self.orders, order["id"], body,
                                              self._order_action), req)
        return self._respond(run)

    def h_import_order(self, req, pk):
        return self._respond(lambda: self._import(self._body(req, "OrderImportDraft")),
                             status=201)

    def _import(self, draft: dict[str, Any]) -> dict[str, Any]:
        """OrderImportDraft -> Order (no cart; how the replacement order is created)."""
        number = draft.get("orderNumber")
        if number and self._order_by_number(number):
            raise E.CtError(400, "DuplicateField",
                            f"A duplicate value '\"{number}\"' exists for field 'orderNumber'.",
                            field="orderNumber", duplicateValue=number)
        now = self.now_text()
        items = []
        for li in draft.get("lineItems", []):
            value = typed_from_draft(li["price"]["value"])
            sku = li["variant"].get("sku") or ""
            items.append({
                "id": self.new_id(), "productId": li.get("productId") or self.new_id(
                    "product:" + sku),
                "name": li["name"], "productType": {"typeId": "product-type",
                                                    "id": self.new_id("product-type")},
                "variant": {"id": li["variant"].get("id", 1), "sku": sku, "prices": [],
                            "images": [], "assets": [], "attributes": []},
                "price": {"id": self.new_id(), "value": value}, "quantity": li["quantity"],
                "discountedPricePerQuantity": [], "state": [], "priceMode": "ExternalPrice",
                "lineItemMode": "Standard",
                "totalPrice": cent_money(value["centAmount"] * li["quantity"],
                                         value["currencyCode"]),
                "perMethodTaxRate": [], "taxedPricePortions": [], "addedAt": now,
                "lastModifiedAt": now})
        order: dict[str, Any] = {
            "id": self.new_id(), "version": 1, "createdAt": now, "lastModifiedAt": now,
            "lineItems": items, "customLineItems": [],
            "totalPrice": typed_from_draft(draft["totalPrice"]),
            "orderState": draft.get("orderState", "Open"), "syncInfo": [], "returnInfo": [],
            "refusedGifts": [], "shipping": [], "shippingMode": "Single",
            "origin": draft.get("origin", "Customer"), "taxMode": "Platform",
            "inventoryMode": draft.get("inventoryMode", "None"),
            "priceRoundingMode": draft.get("priceRoundingMode", "HalfEven"),
            "taxRoundingMode": draft.get("taxRoundingMode", "HalfEven"),
            "completedAt": draft.get("completedAt") or now}
        for opt in ("orderNumber", "customerEmail", "shipmentState", "paymentState", "country"):
            if draft.get(opt) is not None:
                order[opt] = draft[opt]
        if draft.get("store"):
            order["store"] = {"typeId": "store", "key": draft["store"].get("key") or
                              draft["store"].get("id")}
        if draft.get("custom"):
            order["custom"] = self._custom_from_draft(draft["custom"], "order")
        self.orders[order["id"]] = order
        self.index_order(order)
        return order

    # payments ----------------------------------------------------------------------------------
    def h_get_payment(self, req, pk, pid):
        return self._respond(lambda: self._get(self.payments, pid))

    def h_update_payment(self, req, pk, pid):
        return self._respond(lambda: self._apply(self.payments, pid,
                                                 self._body(req, "PaymentUpdate"),
                                                 self._payment_action))

    # inventory ---------------------------------------------------------------------------------
    def h_query_inventory(self, req, pk):
        return self._respond(lambda: self._page(self.inventory, req))

    def h_get_inventory(self, req, pk, iid):
        return self._respond(lambda: self._get(self.inventory, iid))

    def h_create_inventory(self, req, pk):
        return self._respond(lambda: self._create_entry(self._body(req, "InventoryEntryDraft")),
                             status=201)

    def h_update_inventory(self, req, pk, iid):
        return self._respond(lambda: self._apply(self.inventory, iid,
                                                 self._body(req, "InventoryEntryUpdate"),
                                                 self._inventory_action))

    # channels ----------------------------------------------------------------------------------
    def h_query_channels(self, req, pk):
        return self._respond(lambda: self._page(self.channels, req))

    def h_get_channel(self, req, pk, cid):
        return self._respond(lambda: self._get(self.channels, cid))

    # generic resource handling ------------------------------------------------------------------
    def _get(self, store: dict[str, dict[str, Any]], rid: str) -> dict[str, Any]:
        if rid not in store:
            raise E.not_found(rid)
        return store[rid]

    def _page(self, store, req: SandboxRequest, view=None) -> dict[str, Any]:
        try:
            limit = int(req.arg("limit", "20"))
            offset = int(req.arg("offset", "0"))
        except ValueError:
            raise E.invalid_input("Malformed parameter: limit/offset must be integers.") from None
        if not 0 <= limit <= 500 or not 0 <= offset <= 10000:
            raise E.invalid_input("Malformed parameter: limit must be 0..500, offset 0..10000.")
        terms = []
        for text in req.query.get("where", []):
            try:
                terms.extend(parse_where(text))
            except ValueError as exc:
                raise E.invalid_input(f"Malformed parameter: where: {exc}") from None
        rows = [d for d in self._candidates(store, terms)
                if all(matches_where(d, t, self) for t in terms)]
        rows.sort(key=lambda d: (d["createdAt"], d["id"]))
        page = rows[offset: offset + limit]
        results = [view(d, req) if view else d for d in page]
        out: dict[str, Any] = {"limit": limit, "offset": offset, "count": len(results),
                               "results": results}
        if req.arg("withTotal", "true") != "false":
            out["total"] = len(rows)
        return out

    def _apply(self, store, rid: str, body: dict[str, Any], apply_action) -> dict[str, Any]:
        doc = self._get(store, rid)
        if body["version"] != doc["version"]:
            raise E.concurrent_modification(rid, body["version"], doc["version"])
        new = copy.deepcopy(doc)
        effects: list[dict[str, Any]] = []
        for action in body["actions"]:
            apply_action(new, action, effects)
        new["version"] += 1
        new["lastModifiedAt"] = self.now_text()
        store[rid] = new
        if store is self.orders:
            self.index_order(new)
        self.stock_ledger.extend(effects)
        return new

    # order actions ------------------------------------------------------------------------------
    def _order_action(self, order: dict[str, Any], action: dict[str, Any], effects) -> None:
        kind = action["action"]
        now = self.now_text()
        if kind == "addReturnInfo":
            self._add_return_info(order, action, now)
        elif kind in ("setReturnShipmentState", "setReturnPaymentState"):
            item = self._return_item(order, action)
            if kind == "setReturnPaymentState":
                item["paymentState"] = action["paymentState"]
            else:
                target, current = action["shipmentState"], item["shipmentState"]
                if target not in ("BackInStock", "Unusable"):
                    raise E.invalid_operation(
                        f"The ReturnShipmentState '{target}' can only be set when the Return "
                        "Item is created.")
                if current != "Returned":
                    raise E.invalid_operation(
                        f"Return Item '{item['id']}' cannot transition from '{current}' to "
                        f"'{target}': only Return Items in the 'Returned' state can.")
                item["shipmentState"] = target
            item["lastModifiedAt"] = now
        elif kind == "changeOrderState":
            order["orderState"] = action["orderState"]
        elif kind in ("setCustomType", "setCustomField"):
            self._custom_action(order, action, "order")
        else:  # the extract's mapping already refused others
            raise E.invalid_input(f"Unsupported update action '{kind}'.")

    def _add_return_info(self, order: dict[str, Any], action: dict[str, Any], now: str) -> None:
        if not action["items"]:
            raise E.invalid_input("items: Array must not be empty.")
        lines = {li["id"]: li for li in order["lineItems"]}
        returned: dict[str, int] = {}
        keys = set()
        for info in order.get("returnInfo", []):
            for item in info["items"]:
                returned[item.get("lineItemId", "")] = returned.get(
                    item.get("lineItemId", ""), 0) + item["quantity"]
                keys.add(item.get("key"))
        items = []
        for draft in action["items"]:
            line = lines.get(draft.get("lineItemId", ""))
            if line is None:
                raise E.invalid_operation(
                    f"The order does not contain a line item with ID "
                    f"'{draft.get('lineItemId') or draft.get('customLineItemId')}'.")
            if draft["shipmentState"] not in ("Advised", "Returned"):
                raise E.invalid_operation(
                    f"The ReturnShipmentState '{draft['shipmentState']}' is not allowed when "
                    "adding Return Info: use 'Advised' or 'Returned'.")
            if draft["quantity"] < 1:
                raise E.invalid_input("quantity: Value must be greater than 0.")
            total = returned.get(line["id"], 0) + draft["quantity"]
            if self.enforce_return_quantity and total > line["quantity"]:
                # ASSUMED: the spec does not say; configurable here (reference 2, rule 6).
                raise E.invalid_operation(
                    f"Cannot return {total} of line item '{line['id']}': "
                    f"only {line['quantity']} were ordered.")
            returned[line["id"]] = total
            if draft.get("key"):
                if draft["key"] in keys:
                    raise E.CtError(400, "DuplicateField",
                                    f"A duplicate value '\"{draft['key']}\"' exists for field "
                                    "'key'.", field="key", duplicateValue=draft["key"])
                keys.add(draft["key"])
            item = {"type": "LineItemReturnItem", "id": self.new_id(),
                    "quantity": draft["quantity"], "lineItemId": line["id"],
                    "shipmentState": draft["shipmentState"],
                    "paymentState": "NonRefundable" if draft["shipmentState"] == "Advised"
                    else "Initial",
                    "createdAt": now, "lastModifiedAt": now}
            for opt in ("key", "comment"):
                if draft.get(opt) is not None:
                    item[opt] = draft[opt]
            if draft.get("custom"):
                item["custom"] = self._custom_from_draft(draft["custom"], "order-return-item")
            items.append(item)
        info: dict[str, Any] = {"items": items, "returnDate": action.get("returnDate") or now}
        if action.get("returnTrackingId"):
            info["returnTrackingId"] = action["returnTrackingId"]
        order.setdefault("returnInfo", []).append(info)

    def _return_item(self, order: dict[str, Any], action: dict[str, Any]) -> dict[str, Any]:
        items = [i for info in order.get("returnInfo", []) for i in info["items"]]
        if not items:
            raise E.invalid_operation("The order has no return items.")
        if not action.get("returnItemId") and not action.get("returnItemKey"):
            raise E.invalid_input("Either 'returnItemId' or 'returnItemKey' is required.")
        for item in items:
            if (action.get("returnItemId") and item["id"] == action["returnItemId"]) or \
                    (action.get("returnItemKey") and item.get("key") == action["returnItemKey"]):
                return item
        raise E.invalid_operation(
            f"Return item '{action.get('returnItemId') or action.get('returnItemKey')}' "
            "does not exist on this order.")

    # custom fields -------------------------------------------------------------------------------
    def _type_by_ref(self, ref: dict[str, Any]) -> dict[str, Any]:
        for t in self.types.values():
            if (ref.get("id") and t["id"] == ref["id"]) or (ref.get("key") and
                                                            t["key"] == ref.get("key")):
                return t
        raise E.CtError(400, "ReferencedResourceNotFound",
                        f"The referenced object of type 'type' "
                        f"'{ref.get('id') or ref.get('key')}' was not found.",
                        typeId="type", **({"key": ref["key"]} if ref.get("key") else
                                          {"id": ref.get("id", "")}))

    def _check_fields(self, type_doc: dict[str, Any], fields: dict[str, Any]) -> None:
        known = {f["name"] for f in type_doc["fieldDefinitions"]}
        for name, value in fields.items():
            if name not in known:
                raise E.invalid_input(f"The type '{type_doc['key']}' has no field '{name}'.")
            if value is not None and not isinstance(value, str):
                raise E.CtError(400, "InvalidField",
                                f"The value '{value}' is not valid for field '{name}'.",
                                field=name, invalidValue=value)

    def _custom_from_draft(self, draft: dict[str, Any], resource: str) -> dict[str, Any]:
        type_doc = self._type_by_ref(draft["type"])
        if resource not in type_doc["resourceTypeIds"]:
            raise E.invalid_operation(
                f"The type '{type_doc['key']}' cannot be used for '{resource}'.")
        fields = dict(draft.get("fields") or {})
        self._check_fields(type_doc, fields)
        return {"type": {"typeId": "type", "id": type_doc["id"]}, "fields": fields}

    def _custom_action(self, doc: dict[str, Any], action: dict[str, Any], resource: str) -> None:
        if action["action"] == "setCustomType":
            if action.get("type") is None:
                doc.pop("custom", None)
            else:
                doc["custom"] = self._custom_from_draft(
                    {"type": action["type"], "fields": action.get("fields")}, resource)
            return
        custom = doc.get("custom")
        if not custom:
            raise E.invalid_operation("This resource has no custom type; set one first.")
        name, value = action["name"], action.get("value")
        self._check_fields(self.types[custom["type"]["id"]], {name: value})
        if value is None:
            if name not in custom["fields"]:
                raise E.invalid_operation(f"The custom field '{name}' does not exist.")
            del custom["fields"][name]
        else:
            custom["fields"][name] = value

    # payment actions ---------------------------------------------------------------------------
    def _payment_action(self, payment: dict[str, Any], action: dict[str, Any], effects) -> None:
        if action["action"] == "addTransaction":
            draft = action["transaction"]
            tx: dict[str, Any] = {"id": self.new_id(),
                                  "timestamp": draft.get("timestamp") or self.now_text(),
                                  "type": draft["type"], "amount": typed_from_draft(draft["amount"]),
                                  "state": draft.get("state") or "Initial"}
            if tx["amount"]["type"] != "centPrecision":
                tx["amount"] = cent_money(tx["amount"]["centAmount"], tx["amount"]["currencyCode"])
            for opt in ("interactionId", "interfaceId"):
                if draft.get(opt):
                    tx[opt] = draft[opt]
            if draft.get("custom"):
                tx["custom"] = self._custom_from_draft(draft["custom"], "transaction")
            payment["transactions"].append(tx)
        elif action["action"] == "changeTransactionState":
            for tx in payment["transactions"]:
                if tx["id"] == action["transactionId"]:
                    tx["state"] = action["state"]
                    return
            raise E.invalid_operation(f"Transaction '{action['transactionId']}' does not exist.")
        else:
            raise E.invalid_input(f"Unsupported update action '{action['action']}'.")

    # inventory -----------------------------------------------------------------------------------
    def _channel_by_ref(self, ref: dict[str, Any]) -> dict[str, Any] | None:
        for ch in self.channels.values():
            if (ref.get("id") and ch["id"] == ref["id"]) or (ref.get("key") and
                                                             ch["key"] == ref.get("key")):
                return ch
        return None

    def _location_of_channel(self, channel_id: str | None) -> dict[str, Any] | None:
        for loc_id, meta in self.locations.items():
            if meta["channel_id"] == channel_id:
                return {"location_id": loc_id, **meta}
        return None

    def _require_supply_role(self, channel: dict[str, Any]) -> None:
        if "InventorySupply" not in channel["roles"]:
            raise E.CtError(400, "MissingRoleOnChannel",
                            f"Given channel with key '{channel['key']}' does not have the "
                            "required role 'InventorySupply'.",
                            channel={"typeId": "channel", "id": channel["id"]},
                            missingRole="InventorySupply")

    def _create_entry(self, draft: dict[str, Any]) -> dict[str, Any]:
        channel = None
        if draft.get("supplyChannel"):
            channel = self._channel_by_ref(draft["supplyChannel"])
            if channel is None:
                ref = draft["supplyChannel"]
                raise E.CtError(400, "ReferencedResourceNotFound",
                                f"The referenced object of type 'channel' "
                                f"'{ref.get('id') or ref.get('key')}' was not found.",
                                typeId="channel")
            self._require_supply_role(channel)
        for entry in self.inventory.values():
            same_channel = (entry.get("supplyChannel") or {}).get("id") == \
                (channel["id"] if channel else None)
            if entry["sku"] == draft["sku"] and same_channel:
                raise E.CtError(400, "DuplicateField",
                                f"A duplicate value '\"{draft['sku']}\"' exists for field 'sku'.",
                                field="sku", duplicateValue=draft["sku"])
        entry = self.new_entry(draft["sku"], channel["id"] if channel else None,
                               draft["quantityOnStock"], key=draft.get("key"))
        if draft.get("custom"):
            entry["custom"] = self._custom_from_draft(draft["custom"], "inventory-entry")
        if draft["quantityOnStock"]:
            self.stock_ledger.append({"sku": entry["sku"], "channel_id": channel and channel["id"],
                                      "delta": draft["quantityOnStock"]})
        return entry

    def new_entry(self, sku: str, channel_id: str | None, quantity: int,
                  key: str | None = None) -> dict[str, Any]:
        now = self.now_text()
        entry: dict[str, Any] = {"id": self.new_id(), "version": 1, "sku": sku,
                                 "quantityOnStock": quantity, "availableQuantity": quantity,
                                 "createdAt": now, "lastModifiedAt": now}
        if key:
            entry["key"] = key
        if channel_id:
            entry["supplyChannel"] = {"typeId": "channel", "id": channel_id}
        self.inventory[entry["id"]] = entry
        self._idx["sku"].setdefault(sku, set()).add(entry["id"])
        return entry

    def _inventory_action(self, entry: dict[str, Any], action: dict[str, Any], effects) -> None:
        kind = action["action"]
        if kind in ("addQuantity", "removeQuantity"):
            channel_id = (entry.get("supplyChannel") or {}).get("id")
            if channel_id and channel_id in self.channels:
                # ASSUMED: the API refuses stock changes on a channel that lost the role.
                self._require_supply_role(self.channels[channel_id])
            delta = action["quantity"] if kind == "addQuantity" else -action["quantity"]
            entry["quantityOnStock"] += delta
            entry["availableQuantity"] += delta
            effects.append({"sku": entry["sku"], "channel_id": channel_id, "delta": delta})
        elif kind in ("setCustomType", "setCustomField"):
            self._custom_action(entry, action, "inventory-entry")
        else:
            raise E.invalid_input(f"Unsupported update action '{kind}'.")

    # state --------------------------------------------------------------------------------------
    _STATE_FIELDS = ("project_key", "clients", "token_validity_seconds", "enforce_return_quantity",
                     "tokens", "orders", "payments", "inventory", "channels", "types",
                     "locations", "stock_ledger", "seq")

    def dump_state(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy({f: getattr(self, f) for f in self._STATE_FIELDS})

    def load_state(self, state: dict[str, Any]) -> None:
        with self.lock:
            for f in self._STATE_FIELDS:
                setattr(self, f, copy.deepcopy(state[f]))
            self._reindex()


def _actions(req: SandboxRequest) -> list[dict[str, Any]]:
    body = _json_or_none(req)
    actions = body.get("actions") if isinstance(body, dict) else None
    return [a for a in actions if isinstance(a, dict)] if isinstance(actions, list) else []


def _json_or_none(req: SandboxRequest | None) -> Any:
    if req is None or not req.body:
        return None
    try:
        return json.loads(req.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _basic_auth(header: str) -> tuple[str, str]:
    if not header.lower().startswith("basic "):
        raise ValueError("not basic auth")
    raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    client_id, sep, secret = raw.partition(":")
    if not sep:
        raise ValueError("no secret")
    return client_id, secret


def _grants(held: list[str], wanted: str, project_key: str) -> bool:
    """manage_project grants everything; manage_X grants view_X (per project or store)."""
    if wanted in held or f"manage_project:{project_key}" in held:
        return True
    return wanted.startswith("view_") and "manage_" + wanted[5:] in held


assert "http_502" not in FAULT_KINDS  # ours, on top of the base kinds
