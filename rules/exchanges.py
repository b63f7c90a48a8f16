"""Rule 7: exchanges create the replacement order at once, as a zero-value order.

The replacement is planned as soon as the order checks pass, without waiting for the parcel or
the grade, so the customer is not left waiting. It is a zero-value order tagged so that
fulfilment ships it (not filtered out as a free or test order). The returned item still follows
rules 1 and 2: it is graded and its stock moved like any other. One replacement order per return.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rules.facts import Facts
from rules.lifecycle import ActionKind
from rules.model import Resolution
from rules.money import Money
from rules.order_check import OrderVerdict
from rules.outputs import PlannedAction, action_key, failure_key

EXCHANGE_TAGS = ("returnline-exchange", "zero-value-exchange", "fulfil")


@dataclass
class ExchangeVerdict:
    action: PlannedAction | None = None
    decisions: list[str] = field(default_factory=list)
    needed: bool = False
    settled: bool = True  # the replacement exists (or a person settled it)
    key: str | None = None


def plan_exchange(facts: Facts, order: OrderVerdict) -> ExchangeVerdict:
    ret = facts.ret
    lines = [ln for ln in ret.lines if ln.resolution is Resolution.EXCHANGE]
    if not lines:
        return ExchangeVerdict()
    key = action_key(ret.return_id, ActionKind.EXCHANGE_ORDER, 1)
    verdict = ExchangeVerdict(needed=True, key=key)
    verdict.settled = facts.succeeded(key) or facts.resolved(
        failure_key(ret.return_id, key, ActionKind.EXCHANGE_ORDER))
    if not facts.planned(key) and (not order.ok or order.replaced):
        verdict.decisions.append("Replacement order waits until the order checks pass "
                                 "(rule: order validated as it is now)")
        return verdict
    if facts.order is None:  # planned earlier; nothing new to state without the order
        return verdict
    ship = [{"sku": ln.exchange_sku or ln.sku, "qty": ln.qty, "returned_sku": ln.sku,
             "line_id": ln.line_id} for ln in lines]
    payload = {
        "return_id": ret.return_id, "order_ref": ret.order_ref, "order_id": facts.order.order_id,
        "lines": ship, "total": Money.zero(facts.order.currency).to_json(), "zero_value": True,
        "tags": list(EXCHANGE_TAGS),
        "note": f"Exchange for return {ret.return_id} of order {ret.order_ref}: zero value, ship it",
    }
    verdict.action = PlannedAction(key, ActionKind.EXCHANGE_ORDER, ret.return_id, payload,
                                   line_ids=tuple(ln.line_id for ln in lines))
    what = ", ".join(f"{s['qty']} x {s['sku']}" for s in ship)
    verdict.decisions.append(f"Replacement order for {what} at zero value, planned at once "
                             "(rule: exchanges)")
    return verdict
