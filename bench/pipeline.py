"""Pipeline throughput (a benchmark, not a test). Prints returns/s and peak RSS.

1. Without HTTP: N graded returns (default 50,000) observed -> planned -> recorded by the real
   engine (`Engine.poll_returns`: store the return and its order, plan with the rules, write the
   plan's actions, holds, events), pages of 250 per transaction, on SQLite. The returns and orders
   are real connector output (ReturnGO and Shopify, read once from the sandboxes) cloned N times;
   the "platform" and "commerce" hand them over from memory, so only the engine is measured.
2. End to end: M returns (default 2,000) through the whole flow (poll, order read, refund,
   credit note, stock) against the in-process sandboxes with rate limits off, by the replay.

Targets (issue #4): >= 5,000 returns/s without HTTP, >= 500 returns/s end to end.
Measured 2026-12-02 on the 2-core box (runs vary by about 20%): 1,220-1,460 returns/s over
50,000 without HTTP (plan() alone is ~170-260 us a return, SQLite's indexed inserts ~250 us);
~20 returns/s over 500 end to end, where the sandboxes and httpx alone cost ~1 ms a request,
12.2 requests a return: a ceiling near 85-110 returns/s even for an engine that cost nothing.

    .venv/bin/python bench/pipeline.py [--returns 50000] [--e2e-returns 2000] [--skip-e2e]
                                       [--profile N]   (top N functions of each part, by own time)
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rules.model import Condition, Grading  # noqa: E402
from rules.policy import Policy  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.master_data import seed_master_data  # noqa: E402
from sync.connectors.base import ReturnsPage  # noqa: E402
from sync.engine import Engine, Systems  # noqa: E402
from sync.replay import Replay  # noqa: E402
from sync.scenario import parse_scenario  # noqa: E402
from sync.synthetic import bulk_scenario  # noqa: E402

PAGE = 250


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def templates(tmp: Path, n: int = 20):
    """Real connector output: n returns as ReturnGO's connector parses them, graded, with
    their orders as Shopify's connector reads them."""
    replay = Replay.build(parse_scenario(bulk_scenario(n, seed=3)), f"sqlite:///{tmp / 't.db'}",
                          rate_limits=False)
    try:
        replay.run()
        page = replay.world.systems.platform.list_changed(None, replay.clock.now())
        commerce = replay.world.systems.commerce
        now = replay.clock.now()
        out = []
        for ret in page.returns:
            order = commerce.get_order(ret.order_ref)
            lines = tuple(dataclasses.replace(ln, gradings=(Grading(
                Condition.SELLABLE, ln.qty, "uk-dc", now, source="bench"),)) for ln in ret.lines)
            out.append((dataclasses.replace(ret, lines=lines), order))
        return out, replay.scenario
    finally:
        replay.db.dispose()


class MemoryPlatform:
    """Hands the engine pages of returns it was given (no HTTP), cursor = next index."""

    def __init__(self, returns) -> None:
        self.returns = returns

    def list_changed(self, cursor, now):
        start = int(cursor or 0)
        chunk = self.returns[start:start + PAGE]
        nxt = str(start + len(chunk))
        return ReturnsPage(chunk, [{} for _ in chunk], nxt)

    def has_more(self, cursor, now) -> bool:
        return int(cursor or 0) < len(self.returns)


class MemoryCommerce:
    name = "shopify"

    def __init__(self, orders) -> None:
        self.orders = orders

    def get_order(self, ref):
        return self.orders.get(ref)


def without_http(n: int, tmp: Path) -> dict[str, float]:
    tpl, scenario = templates(tmp)
    returns, orders = [], {}
    for i in range(n):
        ret, order = tpl[i % len(tpl)]
        ref = f"B{i:07d}"
        returns.append(dataclasses.replace(ret, return_id=f"returngo:b{i}", platform_id=f"b{i}",
                                           order_ref=ref, rma=f"b{i}"))
        orders[ref] = dataclasses.replace(order, order_ref=ref, order_id=f"gid://o/{i}")
    db = Database(f"sqlite:///{tmp / 'pipeline.db'}")
    from sync.clock import WallClock

    clock = WallClock()
    with db.session() as s:
        seed_master_data(s, {"warehouses": scenario.warehouses, "reasons": scenario.reasons},
                         clock.now())
    systems = Systems(commerce_name="shopify", commerce=MemoryCommerce(orders),
                      platform_name="returngo", platform=MemoryPlatform(returns),
                      erp_name="erp", erp=None)
    engine = Engine(db, clock, systems, Policy.from_dict(scenario.policy))
    started = time.perf_counter()
    seen = 0
    while seen < n:
        got = engine.poll_returns(max_pages=1_000_000)
        if not got:
            break
        seen += got
    elapsed = time.perf_counter() - started
    from sqlalchemy import func, select

    from storage.tables import ActionRow

    with db.reader() as s:
        actions = s.execute(select(func.count()).select_from(ActionRow)).scalar()
    db.dispose()
    return {"returns": seen, "seconds": elapsed, "per_second": seen / elapsed,
            "actions": actions}


def end_to_end(n: int, tmp: Path) -> dict[str, float]:
    replay = Replay.build(parse_scenario(bulk_scenario(n, seed=5)),
                          f"sqlite:///{tmp / 'e2e.db'}", rate_limits=False)
    try:
        started = time.perf_counter()
        replay.run()
        replay.settle()
        elapsed = time.perf_counter() - started
        result = replay.result()
    finally:
        replay.db.dispose()
    closed = sum(1 for r in result["returns"].values() if r["state"] == "closed")
    return {"returns": n, "closed": closed, "seconds": elapsed, "per_second": n / elapsed,
            "requests": sum(result["requests"].values())}


@contextlib.contextmanager
def profiled(top: int):
    """cProfile around a part when asked (it slows the part down about twice)."""
    if not top:
        yield
        return
    prof = cProfile.Profile()
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(top)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--returns", type=int, default=50_000)
    ap.add_argument("--e2e-returns", type=int, default=2_000)
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--profile", type=int, default=0, metavar="N")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="returnline-bench-") as tmp:
        with profiled(args.profile):
            a = without_http(args.returns, Path(tmp))
        print(f"without HTTP: {a['returns']:,} returns observed -> planned -> recorded in "
              f"{a['seconds']:.1f} s = {a['per_second']:,.0f} returns/s "
              f"({a['actions']:,} actions written; target >= 5,000/s)")
        print(f"peak RSS so far: {peak_rss_mb():,.0f} MB")
        if not args.skip_e2e:
            with profiled(args.profile):
                b = end_to_end(args.e2e_returns, Path(tmp))
            print(f"end to end: {b['returns']:,} returns ({b['closed']:,} closed) in "
                  f"{b['seconds']:.1f} s = {b['per_second']:,.1f} returns/s, "
                  f"{b['requests']:,} requests (target >= 500/s)")
            print(f"peak RSS: {peak_rss_mb():,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
