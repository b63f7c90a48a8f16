"""Large synthetic scenarios: many orders and returns, every return received and graded.

Used where volume matters more than story: the crash test (`tests/engine/test_crash.py`) and the
pipeline benchmark. Seeded, so the same arguments give the same scenario.
"""

from __future__ import annotations

import random
from typing import Any

SKUS = tuple(f"SKU-{i:02d}" for i in range(12))


def bulk_scenario(n: int, *, seed: int = 7, commerce: str = "shopify",
                  platform: str = "returngo", feed: str = "shipbob",
                  damaged_share: float = 0.2) -> dict[str, Any]:
    """`n` one- or two-line orders, each returned in full for a refund, received, and graded
    sellable (restock) or, for about `damaged_share` of lines, damaged (quarantine). No holds:
    the threshold is above every order and damaged goods are not held, so every return closes."""
    rng = random.Random(seed)
    orders: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    for i in range(n):
        number = str(5000 + i)
        lines = [{"sku": sku, "qty": rng.choice((1, 1, 2)),
                  "unit_price": f"{rng.randint(5, 60)}.{rng.choice(('00', '50', '99'))}"}
                 for sku in rng.sample(SKUS, rng.choice((1, 1, 2)))]
        orders.append({"number": number, "email": f"customer{i}@example.com", "lines": lines})
        label = f"R{i:05d}"
        steps += [
            {"do": "request_return", "return": label, "order": number,
             "lines": [{"sku": ln["sku"], "qty": ln["qty"], "reason": "Too small",
                        "resolution": "refund"} for ln in lines]},
            {"do": "receive", "return": label},
            {"do": "grade", "return": label, "warehouse": "uk-dc",
             "lines": [{"sku": ln["sku"],
                        "condition": "damaged" if rng.random() < damaged_share else "sellable"}
                       for ln in lines]},
        ]
    return {
        "name": f"{n} returns, received and graded", "start": "2026-11-02T09:00:00Z",
        "commerce": commerce, "returns_platform": platform, "warehouse_feed": feed,
        "currency": "GBP",
        "policy": {"approval_threshold": {"GBP": "100000.00"}, "hold_damaged": False},
        "warehouses": [{"id": "uk-dc", "locations": [
            {"id": "uk-dc-sellable", "sellable": True},
            {"id": "uk-dc-quarantine", "sellable": False}]}],
        "reasons": {"master": ["TOO_SMALL"], "map": {"Too small": "TOO_SMALL"}},
        "orders": orders, "steps": steps,
    }


def expected_effects(scenario: dict[str, Any]) -> dict[str, Any]:
    """What must have happened once each, worked out from the scenario alone: the refund per
    return (line totals) and the units put back on sale or into quarantine."""
    from decimal import Decimal

    orders = {o["number"]: o for o in scenario["orders"]}
    refunds: dict[str, Decimal] = {}
    sellable = quarantined = 0
    requested: dict[str, str] = {}
    for step in scenario["steps"]:
        if step["do"] == "request_return":
            requested[step["return"]] = step["order"]
            lines = {ln["sku"]: ln for ln in orders[step["order"]]["lines"]}
            refunds[step["return"]] = sum(
                (Decimal(lines[ln["sku"]]["unit_price"]) * ln["qty"] for ln in step["lines"]),
                Decimal("0"))
        elif step["do"] == "grade":
            lines = {ln["sku"]: ln for ln in orders[requested[step["return"]]]["lines"]}
            for ln in step["lines"]:
                if ln["condition"] == "sellable":
                    sellable += lines[ln["sku"]]["qty"]
                else:
                    quarantined += lines[ln["sku"]]["qty"]
    return {"refunds": {k: f"{v:.2f}" for k, v in refunds.items()},
            "sellable_units": sellable, "quarantined_units": quarantined}
