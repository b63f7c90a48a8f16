"""ReturnGO call budget on a simulated clock (a benchmark, not a test).

1,000 new RMAs a day with typical status churn (approve / reject / cancel, ship, receive,
validate, done over several days), the engine asking the connector for changes every 5 minutes
for 10 days. Prints the calls the connector spent per day against the 2,000-call daily budget
(target: under 50% in steady state).

    .venv/bin/python bench/returngo_budget.py [--days 10] [--per-day 1000] [--poll-minutes 5]
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sync.connectors.returngo import ReturnGOBudget, ReturnGOConnector  # noqa: E402
from sync.sandbox.base import SandboxTransport, SimClock  # noqa: E402
from sync.sandbox.returngo import ReturnGOSandbox  # noqa: E402

START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
H = 3600.0


def schedule(rng: random.Random, days: int, per_day: int) -> list[tuple[float, int, str, str]]:
    """(seconds from start, seq, verb, label): each RMA's life as a dashboard would see it."""
    events: list[tuple[float, int, str, str]] = []
    seq = 0

    def add(t: float, verb: str, label: str) -> None:
        nonlocal seq
        seq += 1
        events.append((t, seq, verb, label))

    for n in range(days * per_day):
        label = f"R{n}"
        t = rng.uniform(0, days * 24 * H)
        add(t, "request", label)
        fate = rng.random()
        if fate < 0.08:  # rejected by the merchant
            add(t + rng.uniform(1, 8) * H, "Rejected", label)
            continue
        t += rng.choice([0.0, rng.uniform(0.5, 6) * H])  # auto-approve or by hand
        add(t, "approve", label)
        if fate < 0.14:  # the customer cancels
            add(t + rng.uniform(2, 48) * H, "Canceled", label)
            continue
        if fate < 0.20:  # approved but never shipped (within the run)
            continue
        t += rng.uniform(12, 72) * H
        add(t, "in_transit", label)
        t += rng.uniform(24, 96) * H
        add(t, "receive", label)
        t += rng.uniform(0.5, 24) * H
        add(t, "grade", label)
        t += rng.uniform(0.5, 48) * H
        add(t, "Done", label)
    heapq.heapify(events)
    return events


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--per-day", type=int, default=1000)
    ap.add_argument("--poll-minutes", type=float, default=5)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    clock = SimClock(START)
    sb = ReturnGOSandbox(clock, auto_approve=False, daily_limit=10**9, per_second=10**9)
    engine: dict[str, object] = {}
    budget = ReturnGOBudget(per_day=2000)
    conn = ReturnGOConnector(httpx.Client(transport=SandboxTransport([sb])), "rg-test-key",
                             "returnline-demo.myshopify.com", budget=budget, clock=clock,
                             known_return=engine.get)
    events = schedule(rng, args.days, args.per_day)
    calls_per_day: Counter[str] = Counter()
    kinds_per_day: dict[str, Counter[str]] = {}
    early: Counter[str] = Counter()
    created: Counter[str] = Counter()
    cursor = None
    step = timedelta(minutes=args.poll_minutes)
    end = START + timedelta(days=args.days)
    while clock.now() < end:
        now = clock.now()
        while events and START + timedelta(seconds=events[0][0]) <= now:
            _, _, verb, label = heapq.heappop(events)
            if verb == "request":
                sb.request_return(label, f"#{label[1:]}", [{"sku": "TEE-M", "qty": 1 + (
                    int(label[1:]) % 3 == 0), "reason": "Too small", "resolution": "refund"}])
                created[now.date().isoformat()] += 1
            elif verb == "grade":
                sb.grade(label, [{"sku": "TEE-M", "condition": "sellable", "qty": 2}])
            elif verb in ("approve", "in_transit", "receive"):
                getattr(sb, verb)(label)
            else:
                sb.set_status(label, verb)
        before = dict(conn.calls)
        page = conn.list_changed(cursor, now)
        cursor = page.next_cursor
        for ret in page.returns:
            if ret.lines and ret.raw_status in ("Pending", "Approved") and \
                    engine.get(ret.platform_id) is None:
                early[now.date().isoformat()] += 1
            engine[ret.platform_id] = ret
        day = now.date().isoformat()
        kinds = kinds_per_day.setdefault(day, Counter())
        for k, v in conn.calls.items():
            kinds[k] += v - before[k]
            calls_per_day[day] += v - before[k]
        sb.journal.clear()  # the benchmark does not need the request log
        clock.advance(step)

    print(f"ReturnGO budget: {args.per_day} new RMAs/day, engine polls every "
          f"{args.poll_minutes:g} min, connector lists at most every "
          f"{conn.min_list_interval.total_seconds() / 60:g} min, budget 2000/day")
    print(f"{'day':<12}{'created':>8}{'list':>7}{'detail':>8}{'total':>7}{'of 2000':>9}"
          f"{'early':>7}")
    steady = []
    for day in sorted(calls_per_day):
        k = kinds_per_day[day]
        share = calls_per_day[day] / 2000
        print(f"{day:<12}{created[day]:>8}{k['list']:>7}{k['detail']:>8}{calls_per_day[day]:>7}"
              f"{share:>9.1%}{early[day]:>7}")
        steady.append(share)
    tail = steady[len(steady) // 2:]
    worst = max(tail)
    print(f"steady state (second half): mean {sum(tail) / len(tail):.1%}, worst day {worst:.1%} "
          f"-> target < 50%: {'MET' if worst < 0.5 else 'MISSED'}")
    lines = [r for r in engine.values() if r.lines]
    print(f"returns known: {len(engine)}, with lines: {len(lines)}, "
          f"graded by ReturnGO: {sum(1 for r in engine.values() if any(ln.gradings for ln in r.lines))}")


if __name__ == "__main__":
    main()
