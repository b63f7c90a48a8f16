"""Shopify's cost bucket under a backlog, on the simulated clock (a benchmark, not a test).

A backlog of 2,000 refunds and 10,000 restocks (2,000 graded returns of 5 lines each) is
drained through the real engine, executor, scheduler jobs and Shopify connector against the
Shopify sandbox at the Standard plan's bucket (2,000 points, 100 points/s, query costs as the
sandbox calculates them). Prints the simulated drain time against the theoretical minimum
((points actually charged - the initial bucket) / restore rate), the calls by kind, the
THROTTLED answers and the calls per restock.

Targets: within 1.10x of the minimum, zero THROTTLED, calls per restock well under 0.1.

    PYTHONPATH=. .venv/bin/python bench/ratelimit.py [--small] [--returns N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rules.model import Condition, Grading, PlatformStatus, Return, ReturnLine  # noqa: E402
from storage.tables import ActionRow  # noqa: E402
from sync.connectors.shopify.bucket import ShopifyCostBucket  # noqa: E402
from sync.replay import Replay  # noqa: E402
from sync.sandbox.shopify.cost import PLANS, CostBucket  # noqa: E402
from sync.scenario import parse_scenario  # noqa: E402

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LINES_PER_RETURN = 5
SKUS = [f"SKU-{n:03d}" for n in range(40)]
OPEN = ("ready", "waiting", "failed", "in_flight")


def scenario(returns: int):
    orders = [{"number": str(10_000 + n), "currency": "GBP",
               "lines": [{"sku": SKUS[(n + i) % len(SKUS)], "qty": 1, "unit_price": "20.00"}
                         for i in range(LINES_PER_RETURN)]} for n in range(returns)]
    return parse_scenario({
        "name": "rate-limit bench", "start": START.isoformat().replace("+00:00", "Z"),
        "commerce": "shopify", "returns_platform": "rebound", "currency": "GBP",
        # Only refunds and restocks in the backlog: no return records or tags on the orders.
        "policy": {"approval_threshold": {"GBP": "100000.00"}, "create_return_record": False,
                   "tag_orders": False},
        "warehouses": [{"id": "uk-dc", "locations": [
            {"id": "uk-dc-sellable", "sellable": True},
            {"id": "uk-dc-quarantine", "sellable": False}]}],
        "reasons": {"master": ["TOO_SMALL"], "map": {"Too small": "TOO_SMALL"}},
        "orders": orders, "steps": []}, "<bench>")


def seed_backlog(replay: Replay, returns: int) -> None:
    """Graded returns recorded straight through the engine (the platform and warehouse feeds
    are not what is measured): their refunds and restocks become the outbox backlog."""
    engine, sb = replay.world.engine, replay.world.commerce_sandbox
    now = replay.clock.now()
    for sku in SKUS:
        sb.seed_inventory(sku, "uk-dc-sellable", available=0)
    sb.rate_limits = False  # the order reads of the observation are not what is measured
    for n in range(returns):
        number = str(10_000 + n)
        order_lines = sb.order(number)["lines"]
        pid = f"RB{n:06d}"
        ret = Return(
            return_id=f"rebound:{pid}", platform="rebound", platform_id=pid, order_ref=number,
            lines=tuple(ReturnLine(line_id=f"{pid}-{i}", sku=li["sku"], qty=1,
                                   order_line_ref=li["id"], raw_reason="Too small",
                                   qty_received=1)
                        for i, li in enumerate(order_lines)),
            requested_at=now - timedelta(days=3), status=PlatformStatus.RECEIVED,
            rma=pid, currency="GBP", destination_warehouse="uk-dc", received_at=now)
        orders = engine._fetch_orders([number])  # the real connector read
        grades = [(line.sku, Grading(Condition.SELLABLE, 1, "uk-dc", now, source="bench"))
                  for line in ret.lines]
        with replay.db.session() as s:  # observed, graded and planned in one transaction
            rid = engine._store_return(s, ret, {"_label": pid}, now)
            engine._store_orders(s, orders, now)
            engine.record_gradings(s, rid, grades, f"bench:{pid}", now)
            engine.replan(s, [rid], now)
    # The measured run starts with a full bucket on both sides and a clean journal.
    size, rate = PLANS["standard"]
    sb.bucket = CostBucket(size, rate, size)
    sb.rate_limits = True
    sb.throttled_count = 0
    sb.journal.clear()
    commerce = replay.world.systems.commerce
    commerce.bucket.__init__()  # what a freshly started connector believes
    assert isinstance(commerce.bucket, ShopifyCostBucket)


def count_charges(sb) -> dict[str, int]:
    """Wrap the sandbox's cost report to add up what it really charged (actual cost)."""
    totals = {"actual": 0, "requested": 0}
    original = sb._cost_extension

    def counting(requested: int, actual: int | None) -> dict[str, Any]:
        totals["requested"] += requested
        totals["actual"] += actual or 0
        return original(requested, actual)

    sb._cost_extension = counting
    return totals


def open_actions(replay: Replay, system: str | None = "shopify") -> Counter:
    """Open actions by kind (of one system, or of all: credit notes re-read the order too)."""
    q = select(ActionRow.kind, func.count()).where(ActionRow.status.in_(OPEN))
    if system:
        q = q.where(ActionRow.system == system)
    with replay.db.reader() as s:
        return Counter(dict(s.execute(q.group_by(ActionRow.kind)).all()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--returns", type=int, default=2000)
    ap.add_argument("--small", action="store_true", help="200 returns (1,000 restocks)")
    args = ap.parse_args()
    returns = 200 if args.small else args.returns

    with tempfile.TemporaryDirectory(prefix="returnline-bench-") as tmp:
        wall = time.perf_counter()
        replay = Replay.build(scenario(returns), f"sqlite:///{Path(tmp) / 'bench.db'}")
        seed_backlog(replay, returns)
        backlog = open_actions(replay)
        seeded = time.perf_counter() - wall
        print(f"backlog: {backlog.get('refund', 0)} refunds, {backlog.get('restock', 0)} "
              f"restocks (seeded in {seeded:.1f}s wall)")
        sb = replay.world.commerce_sandbox
        charged = count_charges(sb)
        t0 = replay.clock.now()
        wall = time.perf_counter()
        replay.scheduler.run_now("stock_batch")  # the jobs' own order when both are due
        replay.scheduler.run_now("outbox")
        while open_actions(replay, None) and replay.clock.now() - t0 < timedelta(hours=12):
            replay.scheduler.advance(timedelta(minutes=1))
        left = open_actions(replay, None)
        drained = time.perf_counter() - wall
        last = max(datetime.fromisoformat(e["at"]) for e in sb.journal)
        took = (last - t0).total_seconds()
        size, rate = PLANS["standard"]
        minimum = max(0.0, (charged["actual"] - size) / rate)
        kinds = Counter(e.get("operation") for e in sb.journal)
        restocks = backlog.get("restock", 0)
        stock_calls = kinds.get("restock", 0) + kinds.get("quarantine", 0)
        with replay.db.reader() as s:
            done = Counter(dict(s.execute(select(ActionRow.kind, func.count()).where(
                ActionRow.system == "shopify", ActionRow.status == "succeeded").group_by(
                ActionRow.kind)).all()))
        print(f"succeeded: {dict(done)}; still open: {dict(left) or 'none'}")
        print(f"points charged (actual): {charged['actual']:,}; requested: "
              f"{charged['requested']:,}")
        print(f"drain time: {took:,.1f}s simulated; theoretical minimum: {minimum:,.1f}s; "
              f"ratio: {took / minimum if minimum else float('nan'):.3f}x (target <= 1.10)")
        print(f"calls: {sum(kinds.values())} ({', '.join(f'{k}: {v}' for k, v in sorted(kinds.items()))})")
        print(f"THROTTLED answers: {sb.throttled_count} (target 0)")
        print(f"calls per restock: {stock_calls / restocks if restocks else 0:.4f} "
              f"(target well under 0.1)")
        print(f"wall time of the drain: {drained:.1f}s")
        replay.db.dispose()
        replay.world.close()


if __name__ == "__main__":
    main()
