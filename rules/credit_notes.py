"""Rule 8: a credit note follows each refund, one per refund.

It is planned together with the refund (or the platform approval that refunds) and waits for
it (`depends_on`); where the return has a return authorisation, only once that exists in the
ERP, since the credit memo is transformed from it (rules.return_authorisations). It carries the return's id, the refund's key and, once known, the commerce
refund's id, so reconciliation can match refund <-> credit note <-> stock per return. Its key
(`rl:{return}:credit_note:1` for `refund:1`) lets a retry find the first instead of making a
second. No refund, no credit note: nothing is booked for store credit, exchanges or a refund
a supervisor rejected.

The credit note books the money that really moved. When the refund landed for another amount
than planned (a returns platform that refunds at its own prices), the note follows the landed
amount, its lines re-split over the planned lines by largest remainder so they still sum to it
exactly; the difference itself is `amount_mismatch` for finance (rules.watch). A refund that
moved nothing books nothing: a credit note planned for it and not sent yet is cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rules.amounts import RefundAmount
from rules.facts import Facts
from rules.lifecycle import ActionKind, ActionStatus
from rules.money import Money, split_largest_remainder
from rules.order_check import our_refund_on_order
from rules.outputs import Closing, PlannedAction, action_key, failure_key
from rules.refunds import MoneyStatus, MoneyVerdict
from rules.return_authorisations import AuthorisationVerdict


@dataclass
class CreditNoteVerdict:
    action: PlannedAction | None = None
    decisions: list[str] = field(default_factory=list)
    settled: bool = True  # the books agree (credit note made, or none needed)
    key: str | None = None
    cancel: list[Closing] = field(default_factory=list)  # a planned note no longer wanted


def plan_credit_note(facts: Facts, money: MoneyVerdict,
                     authorisation: AuthorisationVerdict | None = None) -> CreditNoteVerdict:
    ret = facts.ret
    rid = ret.return_id
    if money.status not in (MoneyStatus.PLANNED, MoneyStatus.LANDED) or money.key is None:
        return CreditNoteVerdict()
    key = action_key(rid, ActionKind.CREDIT_NOTE, 1)
    amount = money.landed_amount or (money.amount.total if money.amount else None)
    if money.action is None and not facts.planned(key) and money.status is MoneyStatus.PLANNED:
        return CreditNoteVerdict(settled=False, key=key)
    verdict = CreditNoteVerdict(key=key, settled=facts.succeeded(key) or facts.resolved(
        failure_key(rid, key, ActionKind.CREDIT_NOTE)))
    if amount is None or amount.is_zero():
        verdict.settled = True
        outcome = facts.outcome(key)
        if amount is not None and outcome is not None and outcome.status in (
                ActionStatus.PENDING, ActionStatus.FAILED):
            verdict.cancel.append(Closing(key, f"{money.key} moved no money: nothing to book"))
        return verdict
    if authorisation is not None and not authorisation.ready and not facts.planned(key):
        verdict.decisions.append(f"Credit note for {amount} waits for return authorisation "
                                 f"{authorisation.key} in the ERP: the credit memo is transformed "
                                 "from it (rule: one credit note per refund)")
        return verdict
    outcome = facts.outcome(money.key)
    on_order = our_refund_on_order(facts)
    reference = (outcome.external_id if outcome and outcome.external_id
                 else on_order.refund_id if on_order else None)
    payload = {
        "return_id": rid, "order_ref": ret.order_ref, "refund_key": money.key,
        "refund_reference": reference,  # None until the refund exists: take it from refund_key
        "amount": amount.to_json(),
        "lines": credit_lines(money.amount, amount),
    }
    verdict.action = PlannedAction(key, ActionKind.CREDIT_NOTE, rid, payload,
                                   line_ids=money.action.line_ids if money.action else (),
                                   depends_on=(money.key,))
    verdict.decisions.append(f"Credit note for {amount} follows {money.key} "
                             "(rule: one credit note per refund)")
    return verdict


def credit_lines(planned: RefundAmount | None, amount: Money) -> list[dict]:
    """The planned refund lines, re-split to `amount` when the refund landed for another sum."""
    if planned is None:
        return []
    lines = planned.lines_json()
    if planned.total == amount or not lines:
        return lines
    weights = [abs(m.minor) for _, m in planned.lines]
    if sum(weights) == 0:  # nothing priced: share by units
        weights = [p.qty for p, _ in planned.lines]
    for line, part in zip(lines, split_largest_remainder(amount, weights), strict=True):
        line["amount"] = part.to_json()
    return lines
