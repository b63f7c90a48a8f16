"""Builders for rules tests: a small store (one UK warehouse, GBP tees) and a fake executor.

`execute(plan, facts)` plays the outbox: every planned action succeeds, refunds appear on the
commerce order carrying our key (as a real connector's refund would), and the new Facts come back.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from rules.facts import ActionOutcome, Facts, HoldDecision
from rules.lifecycle import ActionKind, ActionStatus, Verdict
from rules.mappings import Mappings
from rules.model import (
    Condition,
    Grading,
    Order,
    OrderLine,
    OrderRefund,
    OrderRefundLine,
    PlatformStatus,
    Resolution,
    Return,
    ReturnLine,
)
from rules.money import Money
from rules.outputs import Plan
from rules.plan import plan
from rules.policy import Policy

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

STORE = {
    "warehouses": [
        {"id": "uk-dc", "locations": [{"id": "uk-dc-sellable", "sellable": True},
                                      {"id": "uk-dc-quarantine", "sellable": False}]},
        {"id": "uk-shop", "locations": [{"id": "uk-shop-floor", "sellable": True}]},
    ],
    "reasons": {"master": ["TOO_SMALL", "TOO_BIG", "FAULTY", "DAMAGED_IN_TRANSIT", "CHANGED_MIND"],
                "map": {"Too small": "TOO_SMALL", "Too big": "TOO_BIG", "It's broken": "FAULTY"}},
    "bundles": [{"sku": "GIFT-SET", "components": [
        {"sku": "MUG", "qty": 2, "weight": 1}, {"sku": "TEA", "qty": 1, "weight": 2}]}],
}


def gbp(amount: str) -> Money:
    return Money.parse(amount, "GBP")


def mappings(**changes: Any) -> Mappings:
    return Mappings.from_dict({**STORE, **changes})


def policy(**settings: Any) -> Policy:
    return Policy.from_dict({"approval_threshold": {"GBP": "150.00"}, **settings})


def oline(ref: str = "OL1", sku: str = "TEE-M", qty: int = 2, price: str = "20.00",
          currency: str = "GBP", tax: str | None = None, **kw: Any) -> OrderLine:
    return OrderLine(ref, sku, qty, Money.parse(price, currency),
                     unit_tax=Money.parse(tax, currency) if tax else None, **kw)


def order(*lines: OrderLine, currency: str = "GBP", **kw: Any) -> Order:
    return Order("1001", "gid://shopify/Order/1001", currency, lines or (oline(),), **kw)


def graded(*conditions: Condition | tuple[Condition, int], warehouse: str = "uk-dc",
           at: datetime = T0, **kw: Any) -> tuple[Grading, ...]:
    out = []
    for c in conditions:
        cond, qty = c if isinstance(c, tuple) else (c, 1)
        out.append(Grading(cond, qty, warehouse, at, **kw))
    return tuple(out)


def rline(line_id: str = "1", sku: str = "TEE-M", qty: int = 1, reason: str = "Too small",
          gradings: tuple[Grading, ...] = (), **kw: Any) -> ReturnLine:
    kw.setdefault("qty_received", sum(g.qty for g in gradings))
    return ReturnLine(line_id, sku, qty, raw_reason=reason, gradings=gradings, **kw)


def ret(*lines: ReturnLine, rid: str = "R1", status: PlatformStatus | None = None,
        **kw: Any) -> Return:
    lines = lines or (rline(),)
    if status is None:
        status = PlatformStatus.RECEIVED if any(ln.gradings for ln in lines) \
            else PlatformStatus.REQUESTED
    return Return(rid, "rebound", f"rb-{rid}", "1001", lines, T0, status=status, **kw)


def sellable_return(qty: int = 1, **kw: Any) -> Return:
    return ret(rline(qty=qty, gradings=graded((Condition.SELLABLE, qty))), **kw)


def facts(r: Return | None = None, o: Order | None | str = "default", **kw: Any) -> Facts:
    return Facts(r or ret(), order() if o == "default" else o, **kw)


def run(f: Facts, pol: Policy | None = None, maps: Mappings | None = None,
        now: datetime = T0) -> Plan:
    return plan(f, pol or policy(), maps or mappings(), now)


def decide(f: Facts, hold_key: str, verdict: Verdict = Verdict.APPROVED, by: str = "sam",
           note: str = "") -> Facts:
    return replace(f, hold_decisions={**f.hold_decisions,
                                      hold_key: HoldDecision(hold_key, verdict, by, note)})


def execute(p: Plan, f: Facts, at: datetime = T0 + timedelta(hours=1),
            status: ActionStatus = ActionStatus.SUCCEEDED,
            only: set[ActionKind] | None = None) -> Facts:
    """Play the outbox for every planned action not yet executed; refunds land on the order."""
    outcomes = dict(f.outcomes)
    refunds = list(f.order.refunds) if f.order else []
    for a in p.actions:
        if a.key in outcomes and outcomes[a.key].status is ActionStatus.SUCCEEDED:
            continue
        if only is not None and a.kind not in only:
            continue
        amount = Money.from_json(a.payload["amount"]) if "amount" in a.payload else None
        ext = f"ext-{a.key}"
        outcomes[a.key] = ActionOutcome(a.key, status, ext, amount if status == "succeeded"
                                        else None, planned_amount=amount)
        if a.kind is ActionKind.REFUND and status is ActionStatus.SUCCEEDED and f.order:
            refunds.append(OrderRefund(ext, amount, tuple(
                OrderRefundLine(ln["line_ref"], ln["qty"], ln["sku"])
                for ln in a.payload["lines"]), at, idempotency_key=a.key))
    new_order = replace(f.order, refunds=tuple(refunds)) if f.order else None
    open_exc = frozenset(x.key for x in p.exceptions_open)
    open_holds = frozenset(h.key for h in p.holds)
    return replace(f, outcomes=outcomes, order=new_order, open_exceptions=open_exc,
                   open_holds=open_holds)


def settle(f: Facts, pol: Policy | None = None, maps: Mappings | None = None,
           now: datetime = T0 + timedelta(hours=1), rounds: int = 5) -> tuple[Plan, Facts]:
    """Plan and execute until nothing new is planned; returns the last plan and facts."""
    p = run(f, pol, maps, now)
    for _ in range(rounds):
        f2 = execute(p, f, now)
        p2 = run(f2, pol, maps, now)
        if f2.outcomes == f.outcomes and p2.state == p.state:
            return p2, f2
        p, f = p2, f2
    return p, f


def manual_refund(o: Order, sku_ref: str = "OL1", qty: int = 1, amount: str = "20.00",
                  at: datetime = T0 + timedelta(minutes=30), rid: str = "manual-1",
                  sku: str | None = None) -> Order:
    refund = OrderRefund(rid, Money.parse(amount, o.currency),
                         (OrderRefundLine(sku_ref, qty, sku),), at, note="refunded in admin")
    return replace(o, refunds=(*o.refunds, refund))


def authorised(f: Facts) -> Facts:
    """The return's return authorisation already exists in the ERP (credit notes may follow)."""
    key = f"rl:{f.ret.return_id}:return_authorisation:1"
    return replace(f, outcomes={**f.outcomes, key: ActionOutcome(key, ActionStatus.SUCCEEDED,
                                                                 "RA-1")})


def keys(p: Plan, kind: ActionKind | None = None) -> list[str]:
    return [a.key for a in p.actions if kind is None or a.kind is kind]


EXCHANGE = Resolution.EXCHANGE
STORE_CREDIT = Resolution.STORE_CREDIT
