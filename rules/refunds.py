"""Rule 1: no refund on "received" alone, then the approval policy decides.

A refund (or, where the returns platform moves the money, the platform approval that refunds)
is planned only when every line to be refunded has been received AND graded. Units graded
missing or wrong item are not refunded. Then the approval policy decides:
- auto-release, or
- hold for a supervisor (`awaiting_approval`) when the refund is over the currency's threshold,
  when a line graded damaged/faulty/used is refunded to the original payment, when the
  customer's reason says "defect" but the warehouse graded it sellable, or when the policy says
  every refund needs approval.
An unmapped reason holds the refund too (rule 4). A supervisor's approval releases the
refund; a rejection means no refund for this return.

One refund per return (`rl:{return}:refund:1`); a refund that exists is never re-gated or
planned again. Store-credit lines are not refunded in commerce: the returns platform issues
the credit, so Returnline plans no money action and no credit note for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from rules.amounts import RefundAmount, RefundPart, line_exact, refund_amount, refundable_balance
from rules.facts import Facts
from rules.lifecycle import ActionKind, ActionStatus, ExceptionType, HoldKind, Verdict
from rules.mappings import Mappings
from rules.model import Condition, MoneyMover, PlatformStatus, Resolution, Return, ReturnLine
from rules.money import Money
from rules.order_check import OrderStatus, OrderVerdict, our_refund_on_order
from rules.outputs import (
    Closing,
    Hold,
    PlannedAction,
    action_key,
    exception_key,
    failure_key,
    hold_key,
)
from rules.policy import Policy
from rules.reasons import ReasonVerdict

NOT_THERE = (Condition.MISSING, Condition.WRONG_ITEM)
DEFECT_GRADES = (Condition.DAMAGED, Condition.FAULTY, Condition.USED)
RECEIVED_STATUSES = (PlatformStatus.RECEIVED, PlatformStatus.INSPECTED, PlatformStatus.COMPLETED)


class MoneyStatus(StrEnum):
    NONE = "none"  # nothing on this return is refunded in commerce
    NOT_RECEIVED = "not_received"
    WAITING_GRADING = "waiting_grading"
    BLOCKED = "blocked"  # an order problem or drift stops it: see the exceptions
    HELD_APPROVAL = "held_approval"
    HELD_REASON = "held_reason"
    REJECTED = "rejected"
    NOTHING_TO_REFUND = "nothing_to_refund"  # all missing / already refunded / worth zero
    PLANNED = "planned"
    LANDED = "landed"
    SETTLED = "settled"  # a person settled it by hand (resolved the blocking exception)


@dataclass
class MoneyVerdict:
    status: MoneyStatus
    kind: ActionKind | None = None
    key: str | None = None
    action: PlannedAction | None = None
    amount: RefundAmount | None = None
    landed_amount: Money | None = None
    holds: list[Hold] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    graded_at: datetime | None = None
    cancel: list[Closing] = field(default_factory=list)  # planned actions that must not run

    @property
    def due(self) -> bool:
        """Money is still owed and not moving: the SLA clock runs."""
        return self.status in (MoneyStatus.BLOCKED, MoneyStatus.HELD_APPROVAL,
                               MoneyStatus.HELD_REASON, MoneyStatus.PLANNED)


def received(ret: Return) -> bool:
    return (ret.status in RECEIVED_STATUSES or ret.received_at is not None
            or any(ln.qty_received > 0 or ln.gradings for ln in ret.lines))


def refund_lines(ret: Return) -> list[ReturnLine]:
    """Lines whose money Returnline (or the platform, on our approval) gives back."""
    return [ln for ln in ret.lines if ln.resolution is Resolution.REFUND]


def refundable_units(line: ReturnLine) -> int:
    """Graded units that are really there (not missing, not the wrong item)."""
    there = sum(g.qty for g in line.gradings if g.condition not in NOT_THERE)
    return min(there, line.qty)


def no_refund_on_received_alone(lines: list[ReturnLine]) -> list[ReturnLine]:
    """Rule 1a: the lines still waiting for the warehouse's grade (received is not enough)."""
    return [ln for ln in lines if ln.qty_graded < ln.qty]


def approval_reasons(lines: list[ReturnLine], codes: dict[str, str | None], total: Money,
                     policy: Policy, mappings: Mappings) -> list[str]:
    """Rule 1b: why this refund needs a supervisor (empty: it may go out alone)."""
    why: list[str] = []
    threshold = policy.threshold(total.currency)
    if threshold is not None and total.minor > threshold.minor:
        why.append(f"over the {threshold} threshold")
    if policy.hold_damaged:
        graded = sorted({g.condition.value for ln in lines for g in ln.gradings
                         if g.condition in DEFECT_GRADES})
        if graded:
            why.append(f"graded {'/'.join(graded)} and refunded to the original payment")
    if policy.hold_on_contradiction:
        for ln in lines:
            code = codes.get(ln.line_id)
            if mappings.implies_defect(code) and any(
                    g.condition is Condition.SELLABLE for g in ln.gradings):
                why.append(f"reason {code} contradicts the grade: {ln.sku} graded sellable")
    if policy.always_hold:
        why.append("the policy holds every refund for approval")
    return why


def graded_at(lines: list[ReturnLine]) -> datetime | None:
    """When the last of these lines was fully graded (None while any is not)."""
    if not lines or no_refund_on_received_alone(lines):
        return None
    return max(g.graded_at for ln in lines for g in ln.gradings)


def plan_money(facts: Facts, policy: Policy, mappings: Mappings, order: OrderVerdict,
               reasons: ReasonVerdict) -> MoneyVerdict:
    """Rules 1, 4 (the hold), 5 and 6 together: the return's one refund or platform approval."""
    ret = facts.ret
    rid = ret.return_id
    lines = refund_lines(ret)
    if not lines:
        return MoneyVerdict(MoneyStatus.NONE)
    platform = ret.money_mover is MoneyMover.PLATFORM
    kind = ActionKind.APPROVE_PLATFORM_RETURN if platform else ActionKind.REFUND
    key = action_key(rid, kind, 1)
    verdict = MoneyVerdict(MoneyStatus.PLANNED, kind=kind, key=key, graded_at=graded_at(lines))
    what = "Platform approval" if platform else "Refund"

    computed = _amount(facts, policy, order, lines)
    landed = _landed(facts, key, kind, computed)
    if landed is not None or facts.planned(key):
        # It exists: never re-gated, never planned twice; re-stated so the plan is complete.
        verdict.amount = computed
        verdict.action = _action(facts, kind, key, computed)
        if landed is not None:
            verdict.status, verdict.landed_amount = MoneyStatus.LANDED, landed
            verdict.decisions.append(f"{what} of {landed} landed for return {rid}")
        elif facts.dead(key):
            settled = facts.resolved(failure_key(rid, key, kind))
            verdict.status = MoneyStatus.SETTLED if settled else MoneyStatus.BLOCKED
        else:
            _stop_if_already_refunded(facts, verdict, order, lines, what)
        return verdict

    waiting = no_refund_on_received_alone(lines)
    if waiting:
        if not received(ret):
            verdict.status = MoneyStatus.NOT_RECEIVED
            return verdict
        verdict.status = MoneyStatus.WAITING_GRADING
        skus = ", ".join(f"{ln.sku} ({ln.qty - ln.qty_graded} of {ln.qty})" for ln in waiting)
        verdict.decisions.append(f"{what} waits: received but not graded yet: {skus} "
                                 "(rule: no refund on received alone)")
        return verdict

    if facts.platform_refunded and not platform:
        if not facts.resolved(exception_key(rid, ExceptionType.DRIFT, "platform-refunded")):
            verdict.status = MoneyStatus.BLOCKED
            verdict.decisions.append("No refund: the returns platform says it already refunded "
                                     "this return (rule: never a second refund)")
            return verdict

    if order.status is not OrderStatus.OK or order.replaced:
        replaced_key = exception_key(rid, ExceptionType.ALREADY_REFUNDED, "replacement")
        by_hand = order.settled_by_hand or (order.replaced and facts.resolved(replaced_key))
        verdict.status = MoneyStatus.SETTLED if by_hand else MoneyStatus.BLOCKED
        verdict.decisions.append(f"{what} not planned until the order checks pass "
                                 "(rule: order validated as it is now)")
        return verdict

    verdict.amount = amount = computed
    assert amount is not None
    if amount.capped_from is not None:
        verdict.decisions.append(
            f"{what} capped at {amount.total}, what is still refundable on order "
            f"{ret.order_ref} (computed {amount.capped_from}) (rule: money is exact)")
    if amount.total.minor == 0:
        verdict.status = MoneyStatus.NOTHING_TO_REFUND
        verdict.decisions.append(f"Nothing to refund on return {rid} "
                                 "(missing, already refunded or worth nothing)")
        return verdict

    if reasons.holds_refund:
        held = _hold(facts, verdict, HoldKind.UNKNOWN_REASON, hold_key(rid, HoldKind.UNKNOWN_REASON),
                     f"{what} of {amount.total} waits: reason {reasons.unresolved[0]!r} is not "
                     "mapped to a master reason (rule: reason codes)", MoneyStatus.HELD_REASON)
        if held:
            return verdict

    why = approval_reasons(lines, reasons.codes, amount.total, policy, mappings)
    if why:
        held = _hold(facts, verdict, HoldKind.REFUND_APPROVAL,
                     hold_key(rid, HoldKind.REFUND_APPROVAL, 1),
                     f"{what} {amount.total} held for approval: {'; '.join(why)} "
                     "(rule: approval policy)", MoneyStatus.HELD_APPROVAL)
        if held:
            return verdict
    else:
        verdict.decisions.append(f"{what} {amount.total} released automatically: graded, within "
                                 "the approval policy (rules: no refund on received alone, "
                                 "approval policy)")
    verdict.action = _action(facts, kind, key, amount)
    return verdict


def _stop_if_already_refunded(facts: Facts, verdict: MoneyVerdict, order: OrderVerdict,
                              lines: list[ReturnLine], what: str) -> None:
    """A refund planned but not yet sent, when a refund by hand for its lines turns up first:
    cancel it (and its credit note) before it goes out. Never a second refund."""
    assert verdict.key is not None
    rid = facts.ret.return_id
    stale = sorted(ln.line_id for ln in lines if ln.line_id in order.already_refunded)
    keys = [exception_key(rid, ExceptionType.ALREADY_REFUNDED, lid) for lid in stale]
    if order.replaced:
        keys.append(exception_key(rid, ExceptionType.ALREADY_REFUNDED, "replacement"))
    outcome = facts.outcome(verdict.key)
    if outcome is not None and outcome.status is ActionStatus.CANCELLED:
        verdict.action = None
        by_hand = all(facts.resolved(k) for k in keys)
        verdict.status = MoneyStatus.SETTLED if by_hand else MoneyStatus.BLOCKED
        return
    if not keys:
        return
    why = (f"{what} {verdict.key} cancelled before it was sent: the customer was already "
           "refunded or replaced for these lines (rule: never a second refund)")
    verdict.action = None
    verdict.status = MoneyStatus.BLOCKED
    verdict.cancel = [Closing(verdict.key, why),
                      Closing(action_key(rid, ActionKind.CREDIT_NOTE, 1), why)]
    verdict.decisions.append(why)


def _hold(facts: Facts, verdict: MoneyVerdict, kind: HoldKind, key: str, why: str,
          held_status: MoneyStatus) -> bool:
    """Open the hold, or apply the supervisor's decision. True: the refund stops here."""
    decision = facts.hold_decisions.get(key)
    if decision is None:
        assert verdict.amount is not None
        verdict.holds.append(Hold(key, kind, facts.ret.return_id, why, verdict.amount.total))
        verdict.status = held_status
        verdict.decisions.append(why[0].upper() + why[1:])
        return True
    note = f": {decision.note}" if decision.note else ""
    if decision.verdict is Verdict.REJECTED:
        verdict.status = MoneyStatus.REJECTED
        verdict.decisions.append(f"Refund rejected by {decision.by}{note}: no refund for "
                                 f"return {facts.ret.return_id} (rule: approval policy)")
        return True
    verdict.decisions.append(f"Refund approved by {decision.by}{note} (rule: approval policy)")
    return False


def _landed(facts: Facts, key: str, kind: ActionKind,
            computed: RefundAmount | None) -> Money | None:
    """The money our refund/approval actually moved, once it has landed (None: not yet)."""
    outcome = facts.outcome(key)
    on_order = our_refund_on_order(facts) if kind is ActionKind.REFUND else None
    done = facts.succeeded(key) or on_order is not None or (
        kind is ActionKind.APPROVE_PLATFORM_RETURN and facts.platform_refunded)
    if not done:
        return None
    for known in (outcome.amount if outcome else None, on_order.amount if on_order else None,
                  outcome.planned_amount if outcome else None,
                  computed.total if computed else None):
        if known is not None:
            return known
    return Money.zero(facts.order.currency if facts.order else facts.ret.currency or "XXX")


def _amount(facts: Facts, policy: Policy, order: OrderVerdict,
            lines: list[ReturnLine]) -> RefundAmount | None:
    """Rule 5/6 applied to the lines to refund now; None without the order."""
    if facts.order is None:
        return None
    parts: list[RefundPart] = []
    for ln in lines:
        match = order.matches.get(ln.line_id)
        units = refundable_units(ln)
        if match is None or units <= 0 or ln.line_id in order.already_refunded:
            continue
        component = match.component.sku if match.component else None
        exact = line_exact(match.order_line, units, policy, match.bundle, component)
        parts.append(RefundPart(ln.line_id, match.order_line.line_ref, ln.sku, units, exact))
    ours = frozenset(r.idempotency_key for r in facts.order.refunds
                     if (r.idempotency_key or "").startswith(f"rl:{facts.ret.return_id}:"))
    return refund_amount(parts, facts.order.currency, refundable_balance(facts.order, ours))


def _action(facts: Facts, kind: ActionKind, key: str,
            amount: RefundAmount | None) -> PlannedAction | None:
    if amount is None or facts.order is None:
        return None
    ret = facts.ret
    payload = {"return_id": ret.return_id, "order_ref": ret.order_ref,
               "order_id": facts.order.order_id, "amount": amount.total.to_json(),
               "lines": amount.lines_json(),
               "note": f"Returnline return {ret.return_id}" + (f" (RMA {ret.rma})" if ret.rma else "")}
    if kind is ActionKind.APPROVE_PLATFORM_RETURN:
        payload.update(platform=ret.platform, platform_id=ret.platform_id, rma=ret.rma)
    return PlannedAction(key, kind, ret.return_id, payload,
                         line_ids=tuple(p.line_id for p, _ in amount.lines))
