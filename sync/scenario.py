"""Scenario files for `returnline replay`: loading and validation with precise errors.

The format is a contract (see the engine issue): extend it, never rename. Every problem is
reported with the file, the JSON path and, for steps, the step number (1-based) and verb.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

COMMERCE = ("shopify", "commercetools")
PLATFORMS = ("rebound", "returngo", "happy_returns")
WAREHOUSE_FEEDS = ("shipbob", "csv")
FAULT_SYSTEMS = ("shopify", "commercetools", "rebound", "returngo", "happy_returns", "erp",
                 "netsuite", "wms", "shipbob", "commerce", "platform")
FAULT_KINDS = ("http_500", "http_503", "timeout", "timeout_after_commit", "http_429",
               "throttled", "conflict_409", "malformed")
CONDITIONS = ("sellable", "damaged", "faulty", "used", "missing", "wrong_item")
RESOLUTIONS = ("refund", "store_credit", "exchange")

# verb -> (required keys, optional keys)
STEPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "request_return": (("return", "order", "lines"), ("email", "store", "warehouse")),
    "in_transit": (("return",), ()),
    "receive": (("return",), ()),
    "grade": (("return", "lines"), ("warehouse",)),
    "approve": (("return",), ("user", "note")),
    "reject": (("return",), ("user", "note")),
    "reclassify": (("raw", "to"), ("user", "platform")),
    "retry": ((), ("return", "kind", "user")),
    "resolve": ((), ("return", "type", "user", "note")),
    "create_order": (("order",), ()),
    "cancel_order": (("order",), ()),
    "edit_order": (("order", "lines"), ()),
    "manual_refund": (("order",), ("lines", "amount", "note")),
    "set_location": (("location", "active"), ()),
    "fault": (("system", "operation", "kind"), ("count",)),
    "advance": ((), ("minutes", "hours", "seconds")),
    "sync": ((), ()),
    # Extension: assert the result so far (a partial match, see sync.replay.match_expected).
    "expect": ((), ("returns", "external")),
}


class ScenarioError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Scenario:
    name: str
    start: datetime
    commerce: str
    returns_platform: str
    warehouse_feed: str
    currency: str
    policy: dict[str, Any]
    warehouses: list[dict[str, Any]]
    reasons: dict[str, Any]
    bundles: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    expect: dict[str, Any] = field(default_factory=dict)
    path: str = "<scenario>"


def _is_amount(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return Decimal(value).is_finite()
    except InvalidOperation:
        return False


class _Checker:
    def __init__(self, path: str):
        self.path = path
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{self.path}: {where}: {message}")

    def need(self, obj: dict, key: str, where: str, kind: type | tuple[type, ...]) -> Any:
        if key not in obj:
            self.fail(where, f"missing {key!r}")
            return None
        if not isinstance(obj[key], kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            self.fail(f"{where}.{key}", f"must be {names}")
            return None
        return obj[key]


def _order_lines(c: _Checker, lines: Any, where: str) -> None:
    if not isinstance(lines, list) or not lines:
        c.fail(where, "must be a non-empty list of lines")
        return
    for i, line in enumerate(lines):
        lw = f"{where}[{i}]"
        if not isinstance(line, dict):
            c.fail(lw, "must be an object")
            continue
        c.need(line, "sku", lw, str)
        qty = c.need(line, "qty", lw, int)
        if isinstance(qty, int) and qty <= 0:
            c.fail(f"{lw}.qty", "must be above 0")
        price = line.get("unit_price")
        if price is None and "precise_unit_price" not in line:
            c.fail(lw, "missing 'unit_price'")
        elif price is not None and not _is_amount(price):
            c.fail(f"{lw}.unit_price", 'must be a decimal string such as "20.00" (never a float)')


def parse_scenario(data: Any, path: str = "<scenario>") -> Scenario:
    c = _Checker(path)
    if not isinstance(data, dict):
        raise ScenarioError([f"{path}: the scenario must be a JSON object"])
    name = c.need(data, "name", "$", str) or ""
    start_raw = c.need(data, "start", "$", str)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    if start_raw:
        try:
            start = datetime.fromisoformat(start_raw.replace("Z", "+00:00"))
            if start.tzinfo is None:
                c.fail("$.start", "must carry a UTC offset, e.g. 2026-11-02T09:00:00Z")
            start = start.astimezone(UTC) if start.tzinfo else start.replace(tzinfo=UTC)
        except ValueError:
            c.fail("$.start", f"not an ISO 8601 time: {start_raw!r}")
    commerce = data.get("commerce", "shopify")
    if commerce not in COMMERCE:
        c.fail("$.commerce", f"must be one of {', '.join(COMMERCE)}")
    platform = data.get("returns_platform", "rebound")
    if platform not in PLATFORMS:
        c.fail("$.returns_platform", f"must be one of {', '.join(PLATFORMS)}")
    feed = data.get("warehouse_feed", "shipbob")
    if feed not in WAREHOUSE_FEEDS:
        c.fail("$.warehouse_feed", f"must be one of {', '.join(WAREHOUSE_FEEDS)}")
    currency = data.get("currency", "GBP")
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
        c.fail("$.currency", "must be an ISO 4217 code such as GBP")

    warehouses = data.get("warehouses", [])
    location_ids: set[str] = set()
    warehouse_ids: set[str] = set()
    if not isinstance(warehouses, list):
        c.fail("$.warehouses", "must be a list")
        warehouses = []
    for i, wh in enumerate(warehouses):
        where = f"$.warehouses[{i}]"
        if not isinstance(wh, dict):
            c.fail(where, "must be an object")
            continue
        wid = c.need(wh, "id", where, str)
        if wid:
            warehouse_ids.add(wid)
        for j, loc in enumerate(wh.get("locations", [])):
            lw = f"{where}.locations[{j}]"
            if not isinstance(loc, dict):
                c.fail(lw, "must be an object")
                continue
            lid = c.need(loc, "id", lw, str)
            c.need(loc, "sellable", lw, bool)
            if lid:
                location_ids.add(lid)

    reasons = data.get("reasons", {})
    if not isinstance(reasons, dict):
        c.fail("$.reasons", "must be an object with 'master' and 'map'")
        reasons = {}
    master = reasons.get("master", [])
    for raw, code in (reasons.get("map") or {}).items():
        if master and code not in master:
            c.fail(f"$.reasons.map[{raw!r}]", f"maps to {code!r}, which is not in master")

    bundles = data.get("bundles", [])
    for i, bundle in enumerate(bundles if isinstance(bundles, list) else []):
        where = f"$.bundles[{i}]"
        c.need(bundle, "sku", where, str)
        comps = c.need(bundle, "components", where, list) or []
        for j, comp in enumerate(comps):
            c.need(comp, "sku", f"{where}.components[{j}]", str)

    orders = data.get("orders", [])
    order_numbers: set[str] = set()
    for i, order in enumerate(orders if isinstance(orders, list) else []):
        where = f"$.orders[{i}]"
        number = c.need(order, "number", where, str)
        if "late" in order and not isinstance(order["late"], bool):
            c.fail(f"{where}.late", "must be true or false (true: not in commerce until a "
                                    "create_order step)")
        if number in order_numbers:
            c.fail(f"{where}.number", f"order {number!r} listed twice")
        if number:
            order_numbers.add(number)
        _order_lines(c, order.get("lines"), f"{where}.lines")

    steps = data.get("steps", [])
    if not isinstance(steps, list):
        c.fail("$.steps", "must be a list")
        steps = []
    returns: set[str] = set()
    for n, step in enumerate(steps, start=1):
        where = f"step {n}"
        if not isinstance(step, dict):
            c.fail(where, "must be an object")
            continue
        verb = step.get("do")
        if verb not in STEPS:
            c.fail(where, f"unknown step {verb!r}; known: {', '.join(STEPS)}")
            continue
        where = f"step {n} ({verb})"
        required, optional = STEPS[verb]
        for key in required:
            if key not in step:
                c.fail(where, f"missing {key!r}")
        unknown = set(step) - set(required) - set(optional) - {"do", "comment"}
        if unknown:
            c.fail(where, f"unknown keys: {', '.join(sorted(unknown))}")
        _check_step(c, where, verb, step, returns, order_numbers, location_ids, warehouse_ids)

    if c.problems:
        raise ScenarioError(c.problems)
    return Scenario(
        name=name, start=start, commerce=commerce, returns_platform=platform,
        warehouse_feed=feed, currency=currency.upper(), policy=data.get("policy", {}) or {},
        warehouses=warehouses, reasons=reasons, bundles=bundles or [], orders=orders or [],
        steps=steps, expect=data.get("expect", {}) or {}, path=path,
    )


def _check_step(c: _Checker, where: str, verb: str, step: dict, returns: set[str],
                orders: set[str], locations: set[str], warehouses: set[str]) -> None:
    ret = step.get("return")
    if verb == "request_return":
        if ret in returns:
            c.fail(where, f"return {ret!r} was already requested")
        if step.get("order") not in orders:
            c.fail(where, f"unknown order {step.get('order')!r} (create it in 'orders' or with "
                          "a create_order step first)")
        for i, line in enumerate(step.get("lines") or []):
            lw = f"{where}.lines[{i}]"
            c.need(line, "sku", lw, str)
            qty = line.get("qty", 1)
            if not isinstance(qty, int) or qty <= 0:
                c.fail(f"{lw}.qty", "must be a whole number above 0")
            if line.get("resolution", "refund") not in RESOLUTIONS:
                c.fail(f"{lw}.resolution", f"must be one of {', '.join(RESOLUTIONS)}")
            if line.get("resolution") == "exchange" and not line.get("exchange_sku"):
                c.fail(lw, "an exchange needs 'exchange_sku'")
        if isinstance(ret, str):
            returns.add(ret)
    elif ret is not None and verb != "retry" and verb != "resolve" and ret not in returns:
        c.fail(where, f"unknown return {ret!r} (no request_return step before it)")
    if verb == "grade":
        for i, line in enumerate(step.get("lines") or []):
            lw = f"{where}.lines[{i}]"
            c.need(line, "sku", lw, str)
            if line.get("condition") not in CONDITIONS:
                c.fail(f"{lw}.condition", f"must be one of {', '.join(CONDITIONS)}")
        if step.get("warehouse") and warehouses and step["warehouse"] not in warehouses:
            c.fail(where, f"unknown warehouse {step['warehouse']!r}")
    if verb == "create_order":
        order = step.get("order")
        if isinstance(order, str):
            if order not in orders:
                c.fail(where, f"unknown order {order!r}: give the order object or list it in "
                              "'orders' with \"late\": true")
        elif isinstance(order, dict):
            number = c.need(order, "number", f"{where}.order", str)
            _order_lines(c, order.get("lines"), f"{where}.order.lines")
            if number:
                orders.add(number)
        else:
            c.fail(where, "'order' must be an order object like those in 'orders'")
    if verb in ("cancel_order", "edit_order", "manual_refund") and step.get("order") not in orders:
        c.fail(where, f"unknown order {step.get('order')!r}")
    if verb == "edit_order":
        _order_lines(c, step.get("lines"), f"{where}.lines")
    if verb == "set_location" and step.get("location") not in locations:
        c.fail(where, f"unknown location {step.get('location')!r}")
    if verb == "fault":
        if step.get("system") not in FAULT_SYSTEMS:
            c.fail(where, f"unknown system {step.get('system')!r}")
        if step.get("kind") not in FAULT_KINDS:
            c.fail(where, f"unknown fault kind {step.get('kind')!r}; known: {', '.join(FAULT_KINDS)}")
        count = step.get("count", 1)
        if not isinstance(count, int) or count <= 0:
            c.fail(where, "'count' must be a whole number above 0")
    if verb == "advance":
        amounts = [step.get(k) for k in ("seconds", "minutes", "hours") if k in step]
        if not amounts or not all(isinstance(a, int | float) and a > 0 for a in amounts):
            c.fail(where, "give 'minutes', 'hours' or 'seconds' above 0")
    if verb in ("approve", "reject", "reclassify", "retry", "resolve"):
        user = step.get("user", "replay")
        if not isinstance(user, str) or not user:
            c.fail(where, "'user' must be a name")
    if verb == "reject" and not step.get("note"):
        c.fail(where, "a rejection needs a 'note'")


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError([f"{p}: no such file"]) from None
    except json.JSONDecodeError as exc:
        raise ScenarioError([f"{p}: not valid JSON: {exc.msg} at line {exc.lineno} column "
                             f"{exc.colno}"]) from None
    return parse_scenario(data, str(p))
