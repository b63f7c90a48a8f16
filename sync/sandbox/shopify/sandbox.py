"""The Shopify Admin GraphQL sandbox (API 2026-04): real GraphQL over a schema extract.

`POST https://{shop}.myshopify.com/admin/api/{version}/graphql.json` with
`X-Shopify-Access-Token`. Documents are validated against the committed extract of Shopify's
schema and executed with graphql-core; the calculated query cost is paid from a leaky bucket on
the sandbox clock; mutations enforce what Shopify enforces, with the recorded userErrors.
Error texts live in `messages.py`, REST webhook bodies in `webhooks.py`.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from graphql import ExecutionResult, GraphQLError, VariableNode, execute

from rules.money import Money
from sync.sandbox.base import Sandbox, SandboxRequest, SandboxResponse, SimClock, WallClock
from sync.sandbox.shopify import messages as msg
from sync.sandbox.shopify import webhooks
from sync.sandbox.shopify.cost import MAX_SINGLE_QUERY_COST, PLANS, CostBucket, CostCalculator
from sync.sandbox.shopify.runtime import (
    IDEMPOTENT_REQUIRED,
    DocumentCache,
    coerce_variables,
    served_schema,
)
from sync.sandbox.shopify.views import Views, fmt_decimal, legacy

API_VERSION = "2026-04"
SANDBOX_ACCESS_TOKEN = "shpat_returnline_sandbox"
SANDBOX_WEBHOOK_SECRET = "returnline-sandbox-webhook-secret"
EXCHANGE_NUMBER_START = 900001  # ASSUMED: API-created orders numbered apart from seeded ones
_NOTE_RETURN = re.compile(r"\[returnline return=(?P<ret>\S+) key=(?P<key>[^\]\s]+)\]")
_SEARCH_TERM = re.compile(r"""(\w+):("([^"]*)"|'([^']*)'|\S+)|\bOR\b""")

ROOT_OPERATIONS = {
    "refundCreate": "refund",
    "returnCreate": "create_return_record",
    "tagsAdd": "tag_order",
    "orderUpdate": "tag_order",
    "orderCreate": "exchange_order",
    "order": "get_order",
    "orders": "get_order",
    "location": "get_locations",
    "locations": "get_locations",
    "inventoryItems": "get_stock",
}


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money2(value: Decimal) -> str:
    return f"{value:.2f}"


class ShopifySandbox(Sandbox):
    name = "shopify"
    hosts = ("*.myshopify.com",)

    def __init__(self, clock: SimClock | WallClock | None = None, *,
                 shop: str = "returnline-demo", access_token: str = SANDBOX_ACCESS_TOKEN,
                 webhook_secret: str = SANDBOX_WEBHOOK_SECRET, plan: str = "standard",
                 bucket_size: float | None = None, restore_rate: float | None = None,
                 rate_limits: bool = True) -> None:
        super().__init__(clock)
        self.shop_domain = shop if "." in shop else f"{shop}.myshopify.com"
        self.access_tokens = {access_token}
        self.webhook_secret = webhook_secret
        size, rate = PLANS[plan]
        self.bucket = CostBucket(bucket_size or size, restore_rate or rate,
                                 bucket_size or size)
        self.rate_limits = rate_limits
        self.schema = served_schema()
        self.docs = DocumentCache(self.schema)
        self.views = Views(self)
        self.throttled_count = 0
        self._requested_costs: dict[tuple, int] = {}
        self.state: dict[str, Any] = {}
        self.load_state(self._empty_state())
        self.add_route("POST", r"/admin/api/(?P<version>[^/]+)/graphql\.json", self._graphql,
                       operation=self._operation_of)
        self._root = {name: getattr(self, "_q_" + name) for name in
                      ("order", "orders", "location", "locations", "inventoryItems")}
        self._root.update({name: getattr(self, "_m_" + name) for name in
                           ("refundCreate", "returnCreate", "inventoryAdjustQuantities",
                            "tagsAdd", "orderUpdate", "orderCreate")})

    # state ---------------------------------------------------------------------------------
    def _empty_state(self) -> dict[str, Any]:
        return {"shop": self.shop_domain, "seq": 1000, "next_number": EXCHANGE_NUMBER_START,
                "locations": {}, "items": {}, "orders": {}, "adjustments": [],
                "idempotency": {}, "webhooks": {"topics": [], "pending": [], "seq": 0}}

    def dump_state(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps({**self.state, "bucket": self.bucket.as_dict()}))

    def load_state(self, state: dict[str, Any]) -> None:
        with self.lock:
            state = json.loads(json.dumps(state))
            bucket = state.pop("bucket", None)
            if bucket:
                self.bucket = CostBucket.from_dict(bucket)
            self.state = state
            self._reindex()

    def _reindex(self) -> None:
        self._order_by_name = {o["name"]: gid for gid, o in self.state["orders"].items()}
        self._tag_index: dict[str, dict[str, None]] = defaultdict(dict)  # tag -> order gids
        self._refund_order: dict[str, str] = {}
        for gid, o in self.state["orders"].items():
            for tag in o.get("tags", []):
                self._tag_index[tag.lower()][gid] = None
            for r in o["refunds"]:
                self._refund_order[r["id"]] = gid
        self._item_by_sku = {i["sku"]: gid for gid, i in self.state["items"].items()}
        self._loc_by_name = {loc["name"]: gid for gid, loc in self.state["locations"].items()}

    def _gid(self, kind: str) -> str:
        self.state["seq"] += 1
        return f"gid://shopify/{kind}/{self.state['seq']}"

    def _now(self) -> str:
        return iso(self.clock.now())

    # money and status helpers (views use them too) ---------------------------------------------
    def order_total(self, o: dict[str, Any]) -> Decimal:
        return sum((self._line_unit_total(li) * li["quantity"] for li in o["lines"]),
                   Decimal("0"))

    @staticmethod
    def _line_unit_total(li: dict[str, Any]) -> Decimal:
        return (Decimal(li["unitPrice"]) - Decimal(li.get("unitDiscount", "0"))
                + Decimal(li.get("unitTax", "0")))

    def _txn_total(self, o: dict[str, Any], kinds: tuple[str, ...]) -> Decimal:
        return sum((Decimal(t["amount"]) for t in o["transactions"]
                    if t["kind"] in kinds and t.get("status", "SUCCESS") == "SUCCESS"),
                   Decimal("0"))

    def refunded_total(self, o: dict[str, Any]) -> Decimal:
        return sum((Decimal(r["amount"]) for r in o["refunds"]), Decimal("0"))

    def financial_status(self, o: dict[str, Any]) -> str:
        paid = self._txn_total(o, ("SALE", "CAPTURE"))
        refunded = self._txn_total(o, ("REFUND",))
        if refunded <= 0:
            return o.get("financialStatus", "PAID")
        return "REFUNDED" if refunded >= paid else "PARTIALLY_REFUNDED"

    def return_status(self, o: dict[str, Any]) -> str:
        statuses = {r["status"] for r in o["returns"]}
        if "REQUESTED" in statuses:
            return "RETURN_REQUESTED"
        if "OPEN" in statuses:
            return "IN_PROGRESS"
        return "RETURNED" if "CLOSED" in statuses else "NO_RETURN"

    def refundable_qty(self, o: dict[str, Any], li: dict[str, Any]) -> int:
        refunded = sum(rl["quantity"] for r in o["refunds"] for rl in r["lines"]
                       if rl["lineItemId"] == li["id"])
        return max(0, li["quantity"] - li.get("removed", 0) - refunded)

    @staticmethod
    def quantity(level: dict[str, int], name: str) -> int:
        return int(level.get(name, 0))

    # HTTP ----------------------------------------------------------------------------------
    def authenticate(self, req: SandboxRequest) -> SandboxResponse | None:
        if req.header("x-shopify-access-token") not in self.access_tokens:
            return SandboxResponse.json(msg.UNAUTHORIZED, 401)
        return None

    def error_response(self, kind: str, operation: str) -> SandboxResponse:
        if kind == "throttled":
            # Another client of the same app emptied the bucket: answer like Shopify does.
            self.bucket.drain(self.clock.now())
            self.throttled_count += 1
            return self._json(self._throttled_body(self._guess_cost(operation)))
        if kind == "http_429":
            return SandboxResponse.json(msg.TOO_MANY_REQUESTS, 429,
                                        {"retry-after": msg.RETRY_AFTER_429})
        body, status = {"http_500": (msg.SERVER_ERROR, 500), "http_503": (msg.SERVICE_UNAVAILABLE,
                                                                           503),
                        "conflict_409": (msg.CONFLICT, 409)}.get(kind, (msg.SERVER_ERROR, 500))
        return SandboxResponse.json(body, status)

    @staticmethod
    def _guess_cost(operation: str) -> int:
        return {"refund": 14, "restock": 13, "quarantine": 13}.get(operation, 10)

    def _json(self, body: dict[str, Any], status: int = 200) -> SandboxResponse:
        return SandboxResponse.json(body, status, {"x-shopify-api-version": API_VERSION})

    def _cost_extension(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
                         "throttleStatus": self.bucket.status(self.clock.now())}}

    def _throttled_body(self, requested: int) -> dict[str, Any]:
        return {"errors": [{"message": msg.THROTTLED,
                            "extensions": {"code": "THROTTLED",
                                           "documentation": msg.DOCS_RATE_LIMITS}}],
                "extensions": self._cost_extension(requested, None)}

    def _operation_of(self, req: SandboxRequest, _params: dict[str, str]) -> str:
        try:
            payload = json.loads(req.body)
            parsed = self.docs.get(payload["query"])
            op = parsed.operation(payload.get("operationName"))
            variables = payload.get("variables") or {}
        except (ValueError, KeyError, TypeError):
            return "graphql"
        if op is None:
            return "graphql"
        fields = parsed.root_fields(op)
        for field in fields:
            if field.name.value == "inventoryAdjustQuantities":
                names = set()
                for arg in field.arguments:
                    if isinstance(arg.value, VariableNode):
                        value = variables.get(arg.value.name.value) or {}
                        names.add(value.get("name") if isinstance(value, dict) else None)
                return "restock" if "available" in names else "quarantine"
        for field in fields:
            if field.name.value in ROOT_OPERATIONS:
                return ROOT_OPERATIONS[field.name.value]
        return "graphql"

    def _graphql(self, req: SandboxRequest, version: str) -> SandboxResponse:
        now = self.clock.now()
        try:
            payload = req.json()
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return SandboxResponse.json(msg.MISSING_QUERY, 400)
        variables = payload.get("variables") or {}
        parsed = self.docs.get(payload["query"])
        if parsed.errors:
            return self._json({"errors": parsed.errors, **{"extensions":
                                                            self._cost_extension(0, 0)}})
        op = parsed.operation(payload.get("operationName"))
        if op is None:
            return self._json({"errors": [{"message": "An operation name is required",  # ASSUMED
                                           "extensions": {"code": "validationError"}}]})
        var_errors = coerce_variables(self.schema, op, variables)
        if var_errors:
            return self._json({"errors": var_errors})
        calc = CostCalculator(self.schema, parsed.fragments)
        # The requested cost depends on the text and on integer variables (first/last) only.
        cost_key = (parsed.text, payload.get("operationName"),
                    tuple(sorted((k, v) for k, v in variables.items() if type(v) is int)))
        requested = self._requested_costs.get(cost_key)
        if requested is None:
            requested = calc.operation_cost(op, variables)
            if len(self._requested_costs) < 4096:
                self._requested_costs[cost_key] = requested
        if requested > MAX_SINGLE_QUERY_COST:
            return self._json({"errors": [{
                "message": msg.max_cost_exceeded(requested),
                "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested,
                               "maxCost": MAX_SINGLE_QUERY_COST,
                               "documentation": msg.DOCS_RATE_LIMITS}}]})
        if self.rate_limits:
            if not self.bucket.take(requested, now):
                self.throttled_count += 1
                return self._json(self._throttled_body(requested))
        result: ExecutionResult = execute(
            self.schema, parsed.document, root_value=self._root, variable_values=variables,
            operation_name=payload.get("operationName"))
        actual = calc.operation_cost(op, variables, data=result.data or {})
        if self.rate_limits:
            self.bucket.give_back(requested - actual, now)
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        body["data"] = result.data
        body["extensions"] = self._cost_extension(requested, actual)
        return self._json(body)

    # queries -------------------------------------------------------------------------------
    def _q_order(self, _info, id: str):
        o = self.state["orders"].get(id)
        return self.views.order(o) if o else None

    def _set_tags(self, o: dict[str, Any], tags: list[str]) -> None:
        for tag in o.get("tags", []):
            self._tag_index[tag.lower()].pop(o["id"], None)
        o["tags"] = tags
        for tag in tags:
            self._tag_index[tag.lower()][o["id"]] = None

    def _order_candidates(self, query: str) -> list[dict[str, Any]]:
        """Orders a search could match: an index hit for name/id/tag terms, else all."""
        terms, any_or = _parse_search(query)
        if not any_or:
            orders = self.state["orders"]
            for key, value in terms:
                if key == "name":
                    gid = self._order_by_name.get("#" + value.lstrip("#"))
                    return [orders[gid]] if gid else []
                if key == "id":
                    gid = value if value.startswith("gid://") else f"gid://shopify/Order/{value}"
                    return [orders[gid]] if gid in orders else []
                if key == "tag":
                    return [orders[gid] for gid in self._tag_index.get(value.lower(), {})]
        return list(self.state["orders"].values())

    def _q_orders(self, _info, first=None, last=None, query=None, reverse=False, **_):
        if query:
            orders = [o for o in self._order_candidates(query)
                      if self._matches(query, self._order_terms(o))]
        else:
            orders = list(self.state["orders"].values())
        if reverse:
            orders.reverse()
        orders = orders[:first] if first is not None else orders[-last:] if last else orders
        return {"nodes": [self.views.order(o) for o in orders]}

    def _q_location(self, _info, id=None):
        loc = self.state["locations"].get(id or "") if id else \
            next(iter(self.state["locations"].values()), None)
        return self.views.location(loc) if loc else None

    def _q_locations(self, _info, first=None, query=None, includeInactive=False, **_):
        locs = [loc for loc in self.state["locations"].values()
                if includeInactive or loc["isActive"]]
        if query:
            locs = [loc for loc in locs if self._matches(query, {"name": [loc["name"]],
                                                                 "id": [legacy(loc["id"])]})]
        return {"nodes": [self.views.location(loc) for loc in locs[:first or None]]}

    def _q_inventoryItems(self, _info, first=None, query=None, **_):
        items = list(self.state["items"].values())
        if query:
            items = [i for i in items if self._matches(query, {"sku": [i["sku"]],
                                                               "id": [legacy(i["id"])]})]
        return {"nodes": [self.views.inventory_item(i) for i in items[:first or None]]}

    @staticmethod
    def _order_terms(o: dict[str, Any]) -> dict[str, list[str]]:
        return {"name": [o["name"], o["name"].lstrip("#")], "id": [legacy(o["id"]), o["id"]],
                "tag": [t.lower() for t in o.get("tags", [])]}

    @staticmethod
    def _matches(query: str, terms: dict[str, list[str]]) -> bool:
        """Shopify search syntax, the part we need: `key:value` terms, quoted values, OR."""
        results = []
        parsed, any_or = _parse_search(query)
        for key, value in parsed:
            have = terms.get(key)
            if have is None:
                continue  # Shopify ignores unknown filters (with a search warning)
            value = value.lower() if key == "tag" else value
            results.append(value in have)
        if not results:
            return True
        return any(results) if any_or else all(results)

    # idempotency ---------------------------------------------------------------------------
    def _idempotency_key(self, info, root: str) -> str | None:
        node = info.field_nodes[0]
        for directive in node.directives or ():
            if directive.name.value != "idempotent":
                continue
            for arg in directive.arguments:
                if arg.name.value == "key":
                    value = arg.value
                    # graphql-core 3.3 wraps the values; 3.2 passes the dict itself
                    variables = getattr(info.variable_values, "coerced", info.variable_values)
                    key = variables.get(value.name.value) \
                        if isinstance(value, VariableNode) else getattr(value, "value", None)
                    if not isinstance(key, str) or not key.strip():
                        raise GraphQLError(msg.IDEMPOTENT_BLANK, [node],
                                           extensions={"code": "BAD_REQUEST"})
                    return key
        if root in IDEMPOTENT_REQUIRED:
            raise GraphQLError(msg.IDEMPOTENT_MISSING, [node], extensions={"code": "BAD_REQUEST"})
        return None

    def _with_idempotency(self, info, root: str, args: dict[str, Any], run, render):
        """Run a mutation once per key: a replay with the same input returns the first
        result; other input is IDEMPOTENCY_KEY_PARAMETER_MISMATCH; after a failed first
        attempt the key is spent (IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED)."""
        key = self._idempotency_key(info, root)
        coded = root == "inventoryAdjustQuantities"
        if key is None:
            return run()[0]
        slot = f"{root}:{key}"
        fingerprint = json.dumps(args, sort_keys=True, default=str)
        seen = self.state["idempotency"].get(slot)
        if seen is not None:
            if seen["args"] != fingerprint:
                return render(None, [_err(None, msg.KEY_PARAMETER_MISMATCH,
                                          "IDEMPOTENCY_KEY_PARAMETER_MISMATCH" if coded else None)])
            if not seen["ok"]:
                return render(None, [_err(None, msg.PREVIOUS_ATTEMPT_FAILED,
                                          "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED" if coded else None)])
            return render(seen["ref"], [])
        payload, ref = run()
        self.state["idempotency"][slot] = {"args": fingerprint, "ok": ref is not None,
                                           "ref": ref, "at": self._now()}
        return payload

    # refundCreate --------------------------------------------------------------------------
    def _m_refundCreate(self, info, input: dict[str, Any]):
        def render(ref, errors):
            o = self._order_of_refund(ref) if ref else self.state["orders"].get(input["orderId"])
            refund = next(r for r in o["refunds"] if r["id"] == ref) if ref else None
            return {"refund": self.views.refund(o, refund) if refund else None,
                    "order": self.views.order(o) if o else None, "userErrors": errors}

        def run():
            errors, refund = self._refund(input, source="api")
            return render(refund["id"] if refund else None, errors), \
                (refund["id"] if refund else None)

        return self._with_idempotency(info, "refundCreate", input, run, render)

    def _order_of_refund(self, refund_id: str) -> dict[str, Any]:
        return self.state["orders"][self._refund_order[refund_id]]

    def _refund(self, input: dict[str, Any], source: str):
        o = self.state["orders"].get(input.get("orderId") or "")
        if o is None:
            return [_err(["orderId"], msg.ORDER_NOT_FOUND)], None
        errors: list[dict[str, Any]] = []
        lines = {li["id"]: li for li in o["lines"]}
        planned: dict[str, int] = defaultdict(int)
        refund_lines = []
        for i, rli in enumerate(input.get("refundLineItems") or []):
            path = ["refundLineItems", str(i)]
            li = lines.get(rli["lineItemId"])
            if li is None:
                errors.append(_err([*path, "lineItemId"], msg.LINE_ITEM_NOT_FOUND))
                continue
            qty = rli["quantity"]
            planned[li["id"]] += qty
            if qty < 1 or planned[li["id"]] > self.refundable_qty(o, li):
                errors.append(_err([*path, "quantity"], msg.REFUND_QTY_TOO_HIGH))
                continue
            restock = rli.get("restockType") or "NO_RESTOCK"
            loc_id = rli.get("locationId")
            if restock == "LEGACY_RESTOCK":
                errors.append(_err([*path, "restockType"], msg.LEGACY_RESTOCK))
                continue
            if restock in ("RETURN", "CANCEL") and loc_id:
                loc = self.state["locations"].get(loc_id)
                if loc is None:
                    errors.append(_err([*path, "locationId"], msg.RESTOCK_LOCATION_MISSING))
                    continue
                if not loc["isActive"]:
                    errors.append(_err([*path, "locationId"], msg.RESTOCK_LOCATION_INACTIVE))
                    continue
            refund_lines.append({"lineItemId": li["id"], "quantity": qty, "restockType": restock,
                                 "locationId": loc_id if restock != "NO_RESTOCK" else None})
        amount = Decimal("0")
        txn_ids = {t["id"] for t in o["transactions"]}
        for tx in input.get("transactions") or []:
            if tx["kind"] != "REFUND":
                errors.append(_err(None, msg.bad_kind(tx["kind"])))
                continue
            if tx.get("parentId") not in txn_ids:
                errors.append(_err(["transactions"], msg.PARENT_NOT_ON_ORDER))
                continue
            amount += Decimal(str(tx["amount"]))
        net = self._txn_total(o, ("SALE", "CAPTURE")) - self._txn_total(o, ("REFUND",))
        if amount > net:
            errors.append(_err(None, msg.over_refund(_money2(amount), _money2(net))))
        if errors:
            return errors, None
        now = self._now()
        refund = {"id": self._gid("Refund"), "createdAt": now, "note": input.get("note"),
                  "amount": str(amount), "source": source, "lines": [], "transactionIds": []}
        for tx in input.get("transactions") or []:
            txn = {"id": self._gid("OrderTransaction"), "kind": "REFUND", "status": "SUCCESS",
                   "gateway": self._parent_gateway(o, tx.get("parentId")),
                   "amount": str(Decimal(str(tx["amount"]))), "parentId": tx.get("parentId"),
                   "createdAt": now}
            o["transactions"].append(txn)
            refund["transactionIds"].append(txn["id"])
        for rl in refund_lines:
            rl["id"] = self._gid("RefundLineItem")
            rl["restocked"] = False
            if rl["locationId"]:
                rl["restocked"] = self._restock_from_refund(o, lines[rl["lineItemId"]], rl, now)
            refund["lines"].append(rl)
        o["refunds"].append(refund)
        self._refund_order[refund["id"]] = o["id"]
        o["updatedAt"] = now
        self._emit("refunds/create", webhooks.rest_refund(o, refund))
        self._emit("orders/updated", webhooks.rest_order(o))
        return [], refund

    @staticmethod
    def _parent_gateway(o, parent_id) -> str:
        # Recorded: a mismatched gateway string is accepted; the parent's gateway is used.
        parent = next((t for t in o["transactions"] if t["id"] == parent_id), None)
        return parent.get("gateway", "manual") if parent else "manual"

    def _restock_from_refund(self, o, li, rl, now) -> bool:
        item_id = self._item_by_sku.get(li.get("sku") or "")
        item = self.state["items"].get(item_id or "")
        if item is None or not item["tracked"] or rl["locationId"] not in item["levels"]:
            return False
        self._apply_group("restock", f"gid://shopify/Order/{legacy(o['id'])}", "available",
                          [{"itemId": item["id"], "locationId": rl["locationId"],
                            "delta": rl["quantity"]}], now, source="refund")
        return True

    # inventoryAdjustQuantities ---------------------------------------------------------------
    def _m_inventoryAdjustQuantities(self, info, input: dict[str, Any]):
        node = info.field_nodes[0]
        for change in input.get("changes") or []:
            if "changeFromQuantity" not in change:
                raise GraphQLError(msg.CHANGE_FROM_MISSING, [node],
                                   extensions={"code": "INVALID_FIELD_ARGUMENTS"})

        def render(ref, errors):
            group = next((g for g in self.state["adjustments"] if g["id"] == ref), None)
            return {"inventoryAdjustmentGroup": self.views.adjustment_group(group)
                    if group else None, "userErrors": errors}

        def run():
            errors = self._check_adjustment(input)
            if errors:
                return render(None, errors), None
            group = self._apply_group(
                input["reason"], input.get("referenceDocumentUri"), input["name"],
                [{"itemId": c["inventoryItemId"], "locationId": c["locationId"],
                  "delta": c["delta"], "ledgerDocumentUri": c.get("ledgerDocumentUri")}
                 for c in input["changes"]], self._now(), source="api")
            return render(group["id"], []), group["id"]

        return self._with_idempotency(info, "inventoryAdjustQuantities", input, run, render)

    def _check_adjustment(self, input: dict[str, Any]) -> list[dict[str, Any]]:
        errors = []
        name = input["name"]
        if input["reason"] not in msg.VALID_REASONS:
            errors.append(_err(["input", "reason"], msg.REASON_INVALID, "INVALID_REASON"))
        if name not in msg.ADJUSTABLE_NAMES:
            errors.append(_err(["input", "name"], msg.QUANTITY_NAME_INVALID,
                               "INVALID_QUANTITY_NAME"))
        ref = input.get("referenceDocumentUri")
        if ref is not None and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:.+", ref):
            errors.append(_err(["input", "referenceDocumentUri"], msg.REFERENCE_INVALID,
                               "INVALID_REFERENCE_DOCUMENT"))
        ledgers = set()
        for i, ch in enumerate(input.get("changes") or []):
            path = ["input", "changes", str(i)]
            item = self.state["items"].get(ch["inventoryItemId"])
            loc = self.state["locations"].get(ch["locationId"])
            ledger = ch.get("ledgerDocumentUri")
            if item is None:
                errors.append(_err([*path, "inventoryItemId"], msg.ITEM_NOT_FOUND,
                                   "INVALID_INVENTORY_ITEM"))
            elif not item["tracked"]:
                errors.append(_err([*path, "inventoryItemId"], msg.ITEM_UNTRACKED,
                                   "INVALID_INVENTORY_ITEM"))
            if loc is None:
                errors.append(_err([*path, "locationId"], msg.LOCATION_NOT_FOUND,
                                   "INVALID_LOCATION"))
            elif item is not None and (ch["locationId"] not in item["levels"]
                                       or not loc["isActive"]):
                # ASSUMED: a deactivated location's levels are inactive, so not stocked there.
                errors.append(_err([*path, "locationId"], msg.NOT_STOCKED,
                                   "ITEM_NOT_STOCKED_AT_LOCATION"))
            if name == "available" and ledger:
                errors.append(_err([*path, "ledgerDocumentUri"], msg.LEDGER_NOT_ALLOWED,
                                   "INVALID_AVAILABLE_DOCUMENT"))
            elif name != "available" and not ledger:
                errors.append(_err([*path, "ledgerDocumentUri"], msg.LEDGER_REQUIRED,
                                   "INVALID_QUANTITY_DOCUMENT"))
            elif ledger and ledger.startswith("gid://shopify/"):
                errors.append(_err([*path, "ledgerDocumentUri"], "Internal (gid://shopify/) "
                                   "ledger documents are not allowed to be adjusted via API.",
                                   "INTERNAL_LEDGER_DOCUMENT"))
            if ledger:
                ledgers.add(ledger)
            expected = ch.get("changeFromQuantity")
            if expected is not None and item is not None and ch["locationId"] in item["levels"]:
                if self.quantity(item["levels"][ch["locationId"]], name) != expected:
                    errors.append(_err([*path, "changeFromQuantity"], "The changeFromQuantity "
                                       "argument no longer matches the persisted quantity.",
                                       "CHANGE_FROM_QUANTITY_STALE"))
        if len(ledgers) > 1:
            errors.append(_err(["input", "changes"], msg.ONE_LEDGER, "MAX_ONE_LEDGER_DOCUMENT"))
        return errors

    def _apply_group(self, reason, reference, name, changes, now, source) -> dict[str, Any]:
        group = {"id": self._gid("InventoryAdjustmentGroup"), "createdAt": now, "reason": reason,
                 "referenceDocumentUri": reference, "source": source, "changes": []}
        for ch in changes:
            level = self.state["items"][ch["itemId"]]["levels"][ch["locationId"]]
            level[name] = self.quantity(level, name) + ch["delta"]
            group["changes"].append({"name": name, **ch})
            if name in msg.MIRRORED_TO_ON_HAND:
                level["on_hand"] = self.quantity(level, "on_hand") + ch["delta"]
        # Shopify answers with the mirrored on_hand changes too (recorded).
        group["changes"] += [{**c, "name": "on_hand", "mirror": True} for c in group["changes"]
                             if name in msg.MIRRORED_TO_ON_HAND]
        self.state["adjustments"].append(group)
        return group

    # returnCreate --------------------------------------------------------------------------
    def _m_returnCreate(self, info, returnInput: dict[str, Any]):
        o = self.state["orders"].get(returnInput["orderId"])
        if o is None:  # ASSUMED shape (NOT_FOUND on the order id)
            return {"return": None, "userErrors": [_err(["returnInput", "orderId"],
                                                        msg.ORDER_NOT_FOUND, "NOT_FOUND")]}
        flis = {f["id"]: f for ful in o.get("fulfillments", []) for f in ful["lines"]}
        returned: dict[str, int] = defaultdict(int)
        for r in o["returns"]:
            if r["status"] not in ("CANCELED", "DECLINED"):
                for rl in r["lines"]:
                    returned[rl["fulfillmentLineItemId"]] += rl["quantity"]
        errors, lines = [], []
        for i, rli in enumerate(returnInput["returnLineItems"]):
            path = ["returnInput", "returnLineItems", str(i)]
            fli = flis.get(rli["fulfillmentLineItemId"])
            if fli is None:
                errors.append(_err([*path, "fulfillmentLineItemId"],
                                   msg.FULFILLMENT_LINE_NOT_FOUND, "NOT_FOUND"))
                continue
            returned[fli["id"]] += rli["quantity"]
            if rli["quantity"] < 1 or returned[fli["id"]] > fli["quantity"]:
                errors.append(_err([*path, "quantity"], msg.RETURN_QTY_INVALID, "INVALID"))
                continue
            reason = rli.get("returnReason")
            note = rli.get("returnReasonNote") or ""
            if not reason and not rli.get("returnReasonDefinitionId"):
                errors.append(_err(path, msg.RETURN_REASON_MISSING, "NOT_FOUND"))
                continue
            if reason == "OTHER" and not note.strip():
                errors.append(_err([*path, "returnReasonNote"], msg.RETURN_OTHER_NOTE, "BLANK"))
                continue
            lines.append({"id": self._gid("ReturnLineItem"), "fulfillmentLineItemId": fli["id"],
                          "lineItemId": fli["lineItemId"], "quantity": rli["quantity"],
                          "returnReason": reason or "UNKNOWN", "returnReasonNote": note})
        if errors:
            return {"return": None, "userErrors": errors}
        ret = {"id": self._gid("Return"), "name": f"{o['name']}-R{len(o['returns']) + 1}",
               "status": "OPEN", "createdAt": self._now(), "closedAt": None, "lines": lines}
        o["returns"].append(ret)
        o["updatedAt"] = ret["createdAt"]
        self._emit("orders/updated", webhooks.rest_order(o))
        return {"return": self.views.return_(o, ret), "userErrors": []}

    # tags, note, orderCreate -------------------------------------------------------------------
    def _order_for_id(self, gid: str, root: str, info):
        if not gid.startswith("gid://shopify/"):
            raise GraphQLError("invalid id", info.field_nodes,
                               extensions={"code": "RESOURCE_NOT_FOUND"})
        kind = gid.split("/")[3]
        if kind != "Order":
            raise GraphQLError("invalid id", info.field_nodes,
                               extensions={"code": "RESOURCE_NOT_FOUND"})
        return self.state["orders"].get(gid)

    def _m_tagsAdd(self, info, id: str, tags: list[str]):
        o = self._order_for_id(id, "tagsAdd", info)
        if o is None:
            return {"node": None, "userErrors": [_err(["id"], msg.ORDER_NOT_FOUND)]}
        have = {t.lower() for t in o["tags"]}
        new = list(o["tags"])
        for raw in tags:
            for tag in (t.strip() for t in raw.split(",")):
                if tag and tag.lower() not in have:
                    new.append(tag)
                    have.add(tag.lower())
        if new != o["tags"]:
            self._set_tags(o, new)
            o["updatedAt"] = self._now()
            self._emit("orders/updated", webhooks.rest_order(o))
        return {"node": self.views.order(o), "userErrors": []}

    def _m_orderUpdate(self, info, input: dict[str, Any]):
        o = self._order_for_id(input["id"], "orderUpdate", info)
        if o is None:
            return {"order": None, "userErrors": [_err(["id"], msg.ORDER_NOT_FOUND)]}
        changes = {k: v for k, v in input.items() if k != "id"}
        if not changes:
            return {"order": self.views.order(o),
                    "userErrors": [_err(None, msg.NO_UPDATE_PARAMS)]}
        for key in ("note", "email", "poNumber", "phone"):
            if key in changes:
                o[key] = changes[key]
        if "tags" in changes:
            self._set_tags(o, [t.strip() for raw in changes["tags"] or [] for t in raw.split(",")
                               if t.strip()])
        if "customAttributes" in changes:
            o["customAttributes"] = [{"key": a["key"], "value": a.get("value")}
                                     for a in changes["customAttributes"] or []]
        o["updatedAt"] = self._now()
        self._emit("orders/updated", webhooks.rest_order(o))
        return {"order": self.views.order(o), "userErrors": []}

    def _m_orderCreate(self, info, order: dict[str, Any], options=None):
        lines_in = order.get("lineItems") or []
        if not lines_in:
            return {"order": None, "userErrors": [_err(["order", "lineItems"],
                                                       msg.ORDER_CREATE_NO_LINES, "INVALID")]}
        currency = order.get("currency")
        lines = []
        for li in lines_in:
            money = ((li.get("priceSet") or {}).get("shopMoney") or {})
            currency = currency or money.get("currencyCode")
            lines.append({"id": self._gid("LineItem"), "sku": li.get("sku"),
                          "title": li.get("title") or li.get("sku") or "Item",
                          "quantity": li["quantity"], "unitPrice": str(money.get("amount", "0")),
                          "requiresShipping": li.get("requiresShipping", False)})
        number = self.state["next_number"]
        self.state["next_number"] += 1
        now = self._now()
        o = self._new_order(order.get("name") or f"#{number}", currency or "USD", lines,
                            email=order.get("email"), created_at=now, source="api")
        o["note"] = order.get("note")
        self._set_tags(o, [t.strip() for raw in order.get("tags") or [] for t in raw.split(",")
                           if t.strip()])
        o["customAttributes"] = [dict(a) for a in order.get("customAttributes") or []]
        o["fulfillmentStatus"] = (order.get("fulfillmentStatus") or "UNFULFILLED").upper()
        o["fulfillments"] = []
        o["financialStatus"] = order.get("financialStatus") or "PAID"
        self._register_order(o)
        return {"order": self.views.order(o), "userErrors": []}

    # webhooks ------------------------------------------------------------------------------
    def subscribe_webhooks(self, topics: list[str] | None = None) -> None:
        """Start recording deliveries for these topics (default: the three Returnline uses)."""
        self.state["webhooks"]["topics"] = list(topics or webhooks.DEFAULT_TOPICS)

    def _emit(self, topic: str, payload: dict[str, Any]) -> None:
        hooks = self.state["webhooks"]
        if topic not in hooks["topics"]:
            return
        hooks["seq"] += 1
        hooks["pending"].append(webhooks.delivery(
            topic, payload, shop=self.shop_domain, secret=self.webhook_secret,
            seq=hooks["seq"], now=self._now(), api_version=API_VERSION))

    def pending_webhooks(self) -> list[dict[str, Any]]:
        """Signed deliveries not yet taken: {"topic", "headers", "body" (bytes)}."""
        with self.lock:
            return [webhooks.as_delivery(d) for d in self.state["webhooks"]["pending"]]

    def take_webhooks(self) -> list[dict[str, Any]]:
        with self.lock:
            out = self.pending_webhooks()
            self.state["webhooks"]["pending"] = []
            return out

    # driver API (the replay and tests call these) -------------------------------------------
    def seed_location(self, location_id: str, *, sellable: bool, active: bool = True,
                      name: str = "") -> str:
        with self.lock:
            gid = self._loc_by_name.get(location_id)
            if gid is None:
                gid = self._gid("Location")
                self._loc_by_name[location_id] = gid
                for item in self.state["items"].values():
                    item["levels"].setdefault(gid, {})
            self.state["locations"][gid] = {"id": gid, "name": location_id,
                                            "displayName": name or location_id,
                                            "sellable": sellable, "isActive": active}
            return gid

    def set_location_active(self, location_id: str, active: bool) -> None:
        with self.lock:
            self.state["locations"][self._loc_by_name[location_id]]["isActive"] = active

    def location_gid(self, location_id: str) -> str:
        return self._loc_by_name[location_id]

    def seed_inventory(self, sku: str, location_id: str | None = None, *, available: int = 0,
                       damaged: int = 0, tracked: bool = True, stocked: bool = True) -> str:
        """An inventory item for `sku` (stocked at every location unless told otherwise)."""
        with self.lock:
            gid = self._ensure_item(sku)
            item = self.state["items"][gid]
            item["tracked"] = tracked
            if location_id is not None:
                loc = self._loc_by_name[location_id]
                if not stocked:
                    item["levels"].pop(loc, None)
                else:
                    item["levels"][loc] = {"available": available, "damaged": damaged,
                                           "on_hand": available + damaged}
            return gid

    def _ensure_item(self, sku: str) -> str:
        gid = self._item_by_sku.get(sku)
        if gid is None:
            gid = self._gid("InventoryItem")
            self.state["items"][gid] = {"id": gid, "sku": sku, "tracked": True,
                                        "levels": {loc: {} for loc in self.state["locations"]}}
            self._item_by_sku[sku] = gid
        return gid

    def stock_level(self, sku: str, location_id: str, name: str = "available") -> int:
        item = self.state["items"][self._item_by_sku[sku]]
        return self.quantity(item["levels"].get(self._loc_by_name[location_id], {}), name)

    def seed_order(self, number: str, *, currency: str, lines: list[dict[str, Any]],
                   store: str | None = None, email: str | None = None,
                   created_at: datetime | str | None = None) -> str:
        with self.lock:
            name = "#" + str(number).lstrip("#")
            if name in self._order_by_name:
                raise ValueError(f"order {name} already seeded")
            when = created_at if isinstance(created_at, str) else iso(created_at or
                                                                      self.clock.now())
            o = self._new_order(name, currency, [self._seed_line(li) for li in lines],
                                email=email, created_at=when, source="seed")
            if store:
                # ASSUMED: the store/market travels as an order attribute.
                o["customAttributes"].append({"key": "store", "value": store})
            for li in o["lines"]:
                if li.get("sku"):
                    self._ensure_item(li["sku"])
            self._register_order(o)
            return o["id"]

    def _seed_line(self, spec: dict[str, Any]) -> dict[str, Any]:
        price = spec.get("unit_price")
        if price is None and spec.get("precise_unit_price"):
            p = spec["precise_unit_price"]
            price = str(Decimal(p["preciseAmount"]).scaleb(-p["fractionDigits"]))
        return {"id": self._gid("LineItem"), "sku": spec["sku"], "title": spec.get("title",
                                                                                  spec["sku"]),
                "quantity": int(spec["qty"]), "unitPrice": str(price or "0"),
                "unitDiscount": str(spec.get("unit_discount") or "0"),
                "unitTax": str(spec.get("unit_tax") or "0"),
                "bundleSku": spec.get("bundle_sku")}

    def _new_order(self, name, currency, lines, *, email, created_at, source) -> dict[str, Any]:
        gid = self._gid("Order")
        o = {"id": gid, "name": name, "currency": currency.upper(), "email": email,
             "createdAt": created_at, "updatedAt": created_at, "cancelledAt": None,
             "cancelReason": None, "closedAt": None, "note": None, "tags": [],
             "customAttributes": [], "lines": lines, "refunds": [], "returns": [],
             "transactions": [], "source": source, "fulfillmentStatus": "FULFILLED"}
        total = self.order_total(o)
        if total > 0:
            o["transactions"].append({"id": self._gid("OrderTransaction"), "kind": "SALE",
                                      "status": "SUCCESS", "gateway": "manual",
                                      "amount": str(total), "parentId": None,
                                      "createdAt": created_at})
        o["fulfillments"] = [{"id": self._gid("Fulfillment"), "lines": [
            {"id": self._gid("FulfillmentLineItem"), "lineItemId": li["id"],
             "quantity": li["quantity"]} for li in lines]}]
        return o

    def _register_order(self, o: dict[str, Any]) -> None:
        self.state["orders"][o["id"]] = o
        self._order_by_name[o["name"]] = o["id"]

    def order(self, number: str) -> dict[str, Any]:
        return self.state["orders"][self._order_by_name["#" + str(number).lstrip("#")]]

    def cancel_order(self, number: str, reason: str = "CUSTOMER") -> None:
        with self.lock:
            o = self.order(number)
            o["cancelledAt"] = o["closedAt"] = o["updatedAt"] = self._now()
            o["cancelReason"] = reason
            self._emit("orders/cancelled", webhooks.rest_order(o))
            self._emit("orders/updated", webhooks.rest_order(o))

    def edit_order(self, number: str, lines: list[dict[str, Any]]) -> None:
        """Replace the order's lines (same SKU keeps its line id; a dropped SKU is removed)."""
        with self.lock:
            o = self.order(number)
            by_sku = {li["sku"]: li for li in o["lines"]}
            wanted = set()
            for spec in lines:
                new = self._seed_line(spec)
                wanted.add(spec["sku"])
                old = by_sku.get(spec["sku"])
                if old is None:
                    o["lines"].append(new)
                    o["fulfillments"][0]["lines"].append(
                        {"id": self._gid("FulfillmentLineItem"), "lineItemId": new["id"],
                         "quantity": new["quantity"]})
                    self._ensure_item(spec["sku"])
                else:
                    old.update({k: v for k, v in new.items() if k != "id"})
                    old["removed"] = 0
            for li in o["lines"]:
                if li["sku"] not in wanted:
                    li["removed"] = li["quantity"]
            o["updatedAt"] = self._now()
            self._emit("orders/updated", webhooks.rest_order(o))

    def manual_refund(self, number: str, lines: list[dict[str, Any]],
                      amount: str | None = None, note: str = "") -> str:
        """Someone refunds in the Shopify admin: no Returnline key in the note."""
        with self.lock:
            o = self.order(number)
            by_sku = {li["sku"]: li for li in o["lines"]}
            rlis, total = [], Decimal("0")
            for spec in lines:
                li = by_sku[spec["sku"]]
                rlis.append({"lineItemId": li["id"], "quantity": int(spec["qty"]),
                             "restockType": "NO_RESTOCK"})
                total += self._line_unit_total(li) * int(spec["qty"])
            value = Decimal(str(amount)) if amount is not None else total
            sale = next(t for t in o["transactions"] if t["kind"] in ("SALE", "CAPTURE"))
            errors, refund = self._refund({
                "orderId": o["id"], "note": note or None, "refundLineItems": rlis,
                "transactions": [{"amount": str(value), "gateway": "manual", "kind": "REFUND",
                                  "orderId": o["id"], "parentId": sale["id"]}]}, source="admin")
            if errors:
                raise ValueError(f"manual refund refused: {errors}")
            return refund["id"]

    # ground truth for the replay -------------------------------------------------------------
    def external_view(self) -> dict[str, Any]:
        with self.lock:
            refunds, exchanges = [], []
            for o in self.state["orders"].values():
                for r in o["refunds"]:
                    m = _NOTE_RETURN.search(r.get("note") or "")
                    refunds.append({"order": o["name"].lstrip("#"),
                                    "return": m["ret"] if m else None,
                                    "amount": _money(r["amount"], o["currency"]),
                                    "currency": o["currency"]})
                link = _exchange_link(o)
                if o["source"] == "api" and link:
                    exchanges.append({"for_order": link.lstrip("#"),
                                      "skus": sorted(li["sku"] for li in o["lines"]
                                                     for _ in range(li["quantity"])),
                                      "total": _money(str(self.order_total(o)), o["currency"])})
            net: dict[tuple[str, str, bool], int] = defaultdict(int)
            for group in self.state["adjustments"]:
                if group["source"] not in ("api", "refund"):
                    continue
                for ch in group["changes"]:
                    if ch.get("mirror"):
                        continue
                    loc = self.state["locations"][ch["locationId"]]
                    sku = self.state["items"][ch["itemId"]]["sku"]
                    sellable = ch["name"] == "available" and loc["sellable"]
                    net[(sku, loc["name"], sellable)] += ch["delta"]
            stock = [{"sku": sku, "location": loc, "delta": delta, "sellable": sellable}
                     for (sku, loc, sellable), delta in sorted(net.items()) if delta]
            return {"refunds": sorted(refunds, key=lambda r: (r["order"], r["return"] or "",
                                                              r["amount"])),
                    "stock": stock,
                    "exchange_orders": sorted(exchanges, key=lambda e: (e["for_order"],
                                                                        e["skus"]))}


@lru_cache(maxsize=4096)
def _parse_search(query: str) -> tuple[tuple[tuple[str, str], ...], bool]:
    terms, any_or = [], False
    for m in _SEARCH_TERM.finditer(query):
        if m.group(0) == "OR":
            any_or = True
            continue
        value = m.group(3) if m.group(3) is not None else \
            m.group(4) if m.group(4) is not None else m.group(2)
        terms.append((m.group(1), value))
    return tuple(terms), any_or


def _exchange_link(o: dict[str, Any]) -> str | None:
    for attr in o.get("customAttributes", []):
        if attr["key"] == "returnline_original_order":
            return attr.get("value")
    for tag in o.get("tags", []):
        if tag.startswith("returnline-exchange-for:"):
            return tag.split(":", 1)[1]
    return None


def _money(amount: str, currency: str) -> str:
    return Money.from_decimal(Decimal(amount), currency).amount_str()


def _err(field: list[str] | None, message: str, code: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"field": field, "message": message}
    if code is not None:
        out["code"] = code
    return out


__all__ = ["ShopifySandbox", "SANDBOX_ACCESS_TOKEN", "SANDBOX_WEBHOOK_SECRET", "API_VERSION",
           "fmt_decimal"]
