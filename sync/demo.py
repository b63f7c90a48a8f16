"""The demo store: a realistic shop whose returns are spread over every state.

The demo is a scenario like any other (so it runs the real engine against the sandboxes),
generated from a seed: about 500 orders and 150 returns, including a held high-value refund,
unknown reason codes, a cancelled order, a restock to an inactive location that failed, a
bundle, an exchange, an SLA breach, a refund made by hand in the admin and refunds that keep
failing. `LiveDemo` then keeps the simulated clock moving and new returns arriving, so states
change while you watch.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sync.scenario import Scenario, parse_scenario

START = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)

CATALOGUE = [  # sku, price, weight class
    ("TEE-S", "19.00"), ("TEE-M", "19.00"), ("TEE-L", "19.00"), ("HOODIE-M", "49.00"),
    ("HOODIE-L", "49.00"), ("JEANS-32", "65.00"), ("JEANS-34", "65.00"), ("JACKET-M", "189.00"),
    ("JACKET-L", "189.00"), ("COAT-M", "240.00"), ("SCARF", "24.00"), ("BEANIE", "15.00"),
    ("BOOTS-42", "129.00"), ("SNEAKER-41", "89.00"), ("SOCKS-3PK", "12.00"),
]
BUNDLE = ("GIFT-SET", "45.00", [("MUG", 1, 2), ("CANDLE", 2, 1)])
REASONS = {"Too small": "TOO_SMALL", "Too big": "TOO_LARGE", "Faulty": "FAULTY",
           "Arrived damaged": "DAMAGED_IN_TRANSIT", "Changed my mind": "CHANGED_MIND",
           "Not as described": "NOT_AS_DESCRIBED"}
UNKNOWN_REASONS = ["Colour not as pictured", "colour not as pictured ", "Bought as a gift",
                   "Fabric feels cheap"]
EMAILS = ["ann", "bo", "cy", "dee", "eli", "fay", "gus", "hal", "ivy", "jo", "kai", "lu"]


INACTIVE_FROM = 4.0  # hours after START: the North store's sellable bin is switched off


def demo_data(seed: int = 7, orders: int = 500, returns: int = 150) -> dict[str, Any]:
    """The demo as scenario JSON (deterministic for a seed)."""
    rnd = random.Random(seed)
    order_list: list[dict[str, Any]] = []
    for n in range(orders):
        number = str(5001 + n)
        if n % 97 == 13:
            lines = [{"sku": BUNDLE[0], "qty": 1, "unit_price": BUNDLE[1]}]
        else:
            picks = rnd.sample(CATALOGUE, k=rnd.choice((1, 1, 2, 3)))
            lines = [{"sku": sku, "qty": rnd.choice((1, 1, 2)), "unit_price": price}
                     for sku, price in picks]
        order_list.append({"number": number, "currency": "GBP", "lines": lines,
                           "email": f"{rnd.choice(EMAILS)}{n}@example.com"})
    steps: list[dict[str, Any]] = []
    by_time: list[tuple[float, int, dict[str, Any]]] = []
    seq = 0

    def at(hours: float, step: dict[str, Any]) -> None:
        nonlocal seq
        seq += 1
        by_time.append((hours, seq, step))

    chosen = rnd.sample(order_list[:-20], k=returns)
    pricey = [o for o in order_list[:-20] if o not in chosen
              and Decimal(o["lines"][0]["unit_price"]) > Decimal("150")]
    for i, order in enumerate(chosen):
        if _kind(i) in ("high_value", "sla") and pricey:
            order = pricey.pop(0)
        label = f"D{i + 1:03d}"
        line = order["lines"][0]
        sku = line["sku"]
        if sku == BUNDLE[0]:
            sku = BUNDLE[2][0][0]  # a component comes back
        kind = _kind(i)
        # Hours after START. The store's day is compressed into ten hours (and its SLA window
        # into six) so the demo builds in seconds yet shows every state.
        t0 = rnd.uniform(0, 0.5) if kind == "sla" else rnd.uniform(0, 7)
        # Defect reasons go with defect grades; a "faulty" item graded sellable is held for a
        # supervisor (reason/grade contradiction), which a few demo returns show on purpose.
        reason = "Faulty" if kind == "damaged" else rnd.choice(
            ("Too small", "Too big", "Changed my mind", "Too small", "Not as described"))
        if kind == "contradiction":
            reason = "Faulty"
        resolution, exchange = "refund", None
        if kind == "unknown_reason":
            reason = UNKNOWN_REASONS[i % len(UNKNOWN_REASONS)]
        if kind == "exchange":
            resolution, exchange = "exchange", _other_size(sku)
        if kind == "cancelled":
            at(t0 - 0.1, {"do": "cancel_order", "order": order["number"]})
        # Routed to the North store: its sellable bin is off by the time this is graded.
        routed = {"warehouse": "north"} if kind == "inactive_location" else {}
        at(t0, {"do": "request_return", "return": label, "order": order["number"],
                "email": order["email"], **routed,
                "lines": [{"sku": sku, "qty": 1, "reason": reason, "resolution": resolution,
                           **({"exchange_sku": exchange} if exchange else {})}]})
        if kind == "requested":
            continue
        at(t0 + rnd.uniform(0.2, 0.8), {"do": "in_transit", "return": label})
        if kind == "in_transit":
            continue
        t_recv = t0 + rnd.uniform(0.9, 1.8)
        at(t_recv, {"do": "receive", "return": label})
        if kind == "received":
            continue
        if kind == "manual_refund":
            at(t_recv + 0.5, {"do": "manual_refund", "order": order["number"],
                              "lines": [{"sku": sku, "qty": 1}], "note": "refunded by CX"})
        if kind == "refund_fails":
            at(t_recv + 0.9, {"do": "fault", "system": "commerce", "operation": "refund",
                              "kind": "http_503", "count": 12})
        condition = "damaged" if kind in ("damaged",) else \
            rnd.choice(("sellable",) * 7 + ("used",))
        if kind in ("closed", "exchange", "unknown_reason", "cancelled", "manual_refund",
                    "refund_fails", "inactive_location"):
            condition = "sellable"
        t_grade = min(t_recv + rnd.uniform(0.2, 1.0), 9.5)
        if routed:
            t_grade = max(t_grade, INACTIVE_FROM + 0.2)
        at(t_grade, {"do": "grade", "return": label, "warehouse": routed.get("warehouse", "uk-dc"),
                     "lines": [{"sku": sku, "condition": condition}]})
    # The warehouse's sellable bin at the second site is switched off before its restocks.
    at(INACTIVE_FROM, {"do": "set_location", "location": "north-sellable", "active": False})
    at(0.5, {"do": "reclassify", "raw": "Not as described", "to": "NOT_AS_DESCRIBED",
             "user": "mo"})
    by_time.sort(key=lambda x: (x[0], x[1]))
    now = 0.0
    for hours, _, step in by_time:
        if hours > now:
            steps.append({"do": "advance", "minutes": max(1, round((hours - now) * 60))})
            now = hours
        steps.append(step)
    steps.append({"do": "advance", "minutes": max(1, round((10 - now) * 60))})
    return {
        "name": "demo store",
        "start": START.isoformat().replace("+00:00", "Z"),
        "commerce": "shopify", "returns_platform": "rebound", "warehouse_feed": "shipbob",
        "currency": "GBP",
        "policy": {"approval_threshold": {"GBP": "150.00"}, "sla_window": "6h"},
        "warehouses": [
            {"id": "uk-dc", "name": "UK DC", "locations": [
                {"id": "uk-dc-sellable", "sellable": True},
                {"id": "uk-dc-quarantine", "sellable": False}]},
            {"id": "north", "name": "North store", "locations": [
                {"id": "north-sellable", "sellable": True},
                {"id": "north-quarantine", "sellable": False}]}],
        "reasons": {"master": sorted(set(REASONS.values())), "map": {
            k: v for k, v in REASONS.items() if k != "Not as described"}},
        "bundles": [{"sku": BUNDLE[0], "components": [
            {"sku": s, "qty": q, "weight": w} for s, q, w in BUNDLE[2]]}],
        "orders": order_list,
        "steps": steps,
    }


def _kind(i: int) -> str:
    """What becomes of the i-th demo return (a fixed mix over every state)."""
    mix = (["closed"] * 5 + ["requested", "in_transit", "received"] * 2
           + ["damaged", "unknown_reason", "exchange", "high_value"])
    special = {3: "cancelled", 7: "manual_refund", 11: "refund_fails", 13: "inactive_location",
               17: "sla", 23: "refund_fails", 29: "cancelled", 31: "sla", 37: "contradiction",
               41: "contradiction", 43: "inactive_location"}
    return special.get(i, mix[i % len(mix)])


def _other_size(sku: str) -> str:
    for a, b in (("-S", "-M"), ("-M", "-L"), ("-L", "-M"), ("-32", "-34"), ("-34", "-32")):
        if sku.endswith(a):
            return sku[: -len(a)] + b
    return sku


def demo_scenario(seed: int = 7, orders: int = 500, returns: int = 150) -> Scenario:
    return parse_scenario(demo_data(seed, orders, returns), "<demo>")


class LiveDemo:
    """Moves the simulated clock while the console is open: `speed` simulated seconds pass
    per real second, and now and then a new customer asks for a return."""

    def __init__(self, replay, *, speed: float = 60.0, tick: float = 1.0, seed: int = 11) -> None:
        self.replay = replay
        self.speed = speed
        self.tick = tick
        self.rnd = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lock = threading.Lock()  # held while the clock moves; operations take it too
        self._next_label = 1
        self.history_done = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="returnline-demo", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        # First the store's history, step by step (the console watches it fill in), then
        # live: the clock keeps moving and new returns keep arriving.
        for step in self.replay.scenario.steps:
            if self._stop.is_set():
                return
            with self.lock:
                self.replay.step(step)
        self.history_done.set()
        while not self._stop.wait(self.tick):
            with self.lock:
                if self.rnd.random() < 0.15:
                    self._new_return()
                self.replay.scheduler.advance(timedelta(seconds=self.speed * self.tick))

    def _new_return(self) -> None:
        orders = self.replay.scenario.orders[-20:]
        order = orders[self._next_label % len(orders)]
        label = f"L{self._next_label:03d}"
        self._next_label += 1
        line = order["lines"][0]
        step = {"do": "request_return", "return": label, "order": order["number"],
                "email": order.get("email"),
                "lines": [{"sku": line["sku"], "qty": 1, "reason": "Too small",
                           "resolution": "refund"}]}
        self.replay.step(step)


