"""Rule 2: the warehouse's grade decides what happens to stock.

- Graded sellable: restock at the routed warehouse's sellable location (stock that can be sold).
- Graded damaged, faulty or used: quarantine, at the warehouse's non-sellable location, or, where
  it has none, as the commerce platform's damaged (non-sellable) quantity at the sellable one.
- Graded missing or wrong item: no stock for those units, no refund for them, and a
  `missing_item` exception for the warehouse.
- A bundle SKU moves stock per component (each component times its quantity in the bundle).
- An inactive or unknown location is never a target: `restock_failed` says why instead; when
  the location is usable again the next plan restocks and closes the exception.

Stock handling never waits for the refund, the order or the reason code: the goods are here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rules.facts import Facts
from rules.lifecycle import ActionKind, ExceptionType
from rules.mappings import Mappings
from rules.model import Condition, Disposition, Grading, Location, Return, ReturnLine
from rules.outputs import (
    ExceptionToOpen,
    PlannedAction,
    action_key,
    exception_key,
    failure_key,
)
from rules.policy import Policy

NOT_THERE = (Condition.MISSING, Condition.WRONG_ITEM)


@dataclass
class StockVerdict:
    actions: list[PlannedAction] = field(default_factory=list)
    exceptions: list[ExceptionToOpen] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    settled: bool = True  # every graded unit's stock is handled (or needs nothing)
    not_there: dict[str, int] = field(default_factory=dict)  # line_id -> units missing/wrong


@dataclass(frozen=True)
class StockTarget:
    location: Location | None
    warehouse_id: str | None
    sellable: bool
    problem: str | None = None


def target_location(ret: Return, grading: Grading, disposition: Disposition,
                    mappings: Mappings, allow_inactive: bool = False) -> StockTarget:
    """Where graded units go. `problem` says, in words, why there is no usable target."""
    wh_id = mappings.route(ret, grading)
    wh = mappings.warehouse(wh_id)
    if wh is None:
        return StockTarget(None, wh_id, False, f"warehouse {wh_id!r} is not configured")
    want_sellable = disposition is Disposition.RESTOCK
    pool = [loc for loc in wh.locations if loc.sellable == want_sellable]
    if grading.location:
        pool = [loc for loc in pool if loc.location_id == grading.location] or pool
    sellable_flag = want_sellable
    if not pool and not want_sellable:
        # no quarantine location: book it as the platform's damaged quantity at the shelf
        pool = [loc for loc in wh.locations if loc.sellable]
    if not pool:
        kind = "sellable" if want_sellable else "quarantine or sellable"
        return StockTarget(None, wh.warehouse_id, sellable_flag,
                      f"warehouse {wh.warehouse_id!r} has no {kind} location")
    active = [loc for loc in pool if loc.active]
    if active or allow_inactive:
        return StockTarget((active or pool)[0], wh.warehouse_id, sellable_flag)
    return StockTarget(pool[0], wh.warehouse_id, sellable_flag,
                  f"location {pool[0].location_id!r} is inactive")


def movements(line: ReturnLine, grading: Grading, mappings: Mappings) -> list[tuple[str, int]]:
    """(sku, units) to move for one grading: the line's SKU, or a bundle's components."""
    bundle = mappings.bundle(line.sku)
    if bundle is None:
        return [(line.sku, grading.qty)]
    return [(c.sku, grading.qty * c.qty) for c in bundle.components]


def plan_stock(facts: Facts, policy: Policy, mappings: Mappings) -> StockVerdict:
    verdict = StockVerdict()
    for line in facts.ret.lines:
        if line.qty_graded < line.qty:
            verdict.settled = False  # units still to be graded
        for n, grading in enumerate(line.gradings, start=1):
            if grading.condition in NOT_THERE:
                verdict.not_there[line.line_id] = verdict.not_there.get(line.line_id, 0) + grading.qty
                _missing(facts, policy, line, n, grading, verdict)
            disposition = mappings.disposition(grading.condition)
            if disposition is Disposition.NONE:
                continue
            _move(facts, policy, mappings, line, n, grading, disposition, verdict)
    return verdict


def _missing(facts: Facts, policy: Policy, line: ReturnLine, n: int, grading: Grading,
             verdict: StockVerdict) -> None:
    rid = facts.ret.return_id
    what = "missing" if grading.condition is Condition.MISSING else "the wrong item"
    verdict.decisions.append(f"{grading.qty} x {line.sku} graded {what}: no stock movement and "
                             "no refund for those units (rule: disposition drives stock)")
    key = exception_key(rid, ExceptionType.MISSING_ITEM, line.line_id, n)
    if not facts.resolved(key):
        verdict.exceptions.append(ExceptionToOpen(
            key, ExceptionType.MISSING_ITEM, policy.owner(ExceptionType.MISSING_ITEM), rid,
            f"{grading.qty} x {line.sku} graded {what} at {grading.warehouse or 'the warehouse'}"))


def _move(facts: Facts, policy: Policy, mappings: Mappings, line: ReturnLine, n: int,
          grading: Grading, disposition: Disposition, verdict: StockVerdict) -> None:
    ret = facts.ret
    rid = ret.return_id
    kind = ActionKind.RESTOCK if disposition is Disposition.RESTOCK else ActionKind.QUARANTINE
    parts = movements(line, grading, mappings)
    for sku, units in parts:
        extra = (sku,) if len(parts) > 1 or sku != line.sku else ()
        key = action_key(rid, kind, line.line_id, n, *extra)
        planned = facts.planned(key)
        target = target_location(ret, grading, disposition, mappings, allow_inactive=planned)
        problem_key = failure_key(rid, key, kind)
        if not facts.succeeded(key) and not facts.resolved(problem_key):
            verdict.settled = False
        if target.problem is not None:
            verdict.decisions.append(
                f"Cannot {kind.value} {units} x {sku}: {target.problem} "
                "(rule: an inactive location is never a target)")
            if not facts.resolved(problem_key):
                verdict.exceptions.append(ExceptionToOpen(
                    problem_key, ExceptionType.RESTOCK_FAILED,
                    policy.owner(ExceptionType.RESTOCK_FAILED), rid,
                    f"{kind.value.capitalize()} of {units} x {sku} for return {rid} not possible: "
                    f"{target.problem}"))
            continue
        assert target.location is not None
        loc = target.location
        verdict.decisions.append(
            f"{kind.value.capitalize()} {units} x {sku} to {loc.location_id}: graded "
            f"{grading.condition.value} (rule: disposition drives stock)")
        verdict.actions.append(PlannedAction(key, kind, rid, {
            "return_id": rid, "line_id": line.line_id, "sku": sku, "delta": units,
            "location_id": loc.location_id, "commerce_location_id": loc.commerce_location_id,
            "warehouse_id": target.warehouse_id, "sellable": target.sellable,
            "condition": grading.condition.value,
        }, line_ids=(line.line_id,)))
