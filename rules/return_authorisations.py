"""The return authorisation: the ERP hears of a return once it is validated, so finance sees the
liability before money moves, and the credit note is later transformed from it.

A return is *validated* when both hold:
- the order check passed: the order is visible, not cancelled, in the right store, the returned
  lines are still on it and it was not already made good by a replacement order;
- the return is accepted or received: the platform approved it, or it reached the warehouse
  (received, inspected, completed, or any unit received or graded).
Returns the platform rejected, cancelled or let expire never get one (and one planned but not
sent yet is cancelled), nor do returns against a cancelled order (the order check fails).

It covers the lines that give money back (refund or store credit) that nobody refunded by
hand already, valued as rules 5 and 6 would refund the units asked for. One per return
(`rl:{return}:return_authorisation:1`); once planned it is kept, never planned twice.

The credit note waits for it (`ready`): it is planned only once the authorisation exists in the
ERP, or a person settled its failure, or the return needs none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rules.amounts import RefundPart, line_exact, refund_amount
from rules.facts import Facts
from rules.lifecycle import ActionKind, ActionStatus
from rules.model import PlatformStatus, Resolution, Return
from rules.order_check import OrderStatus, OrderVerdict
from rules.outputs import Closing, PlannedAction, action_key, failure_key
from rules.policy import Policy
from rules.refunds import received

MONEY_BACK = (Resolution.REFUND, Resolution.STORE_CREDIT)
ENDED = (PlatformStatus.REJECTED, PlatformStatus.CANCELLED, PlatformStatus.EXPIRED)


@dataclass
class AuthorisationVerdict:
    key: str | None = None  # None: this return needs no return authorisation
    action: PlannedAction | None = None
    ready: bool = True  # the credit note may be planned
    decisions: list[str] = field(default_factory=list)


def needs_authorisation(ret: Return, policy: Policy) -> bool:
    return policy.return_authorisations and any(ln.resolution in MONEY_BACK for ln in ret.lines)


def validated(ret: Return, order: OrderVerdict) -> bool:
    accepted = ret.status is PlatformStatus.APPROVED or received(ret)
    return (order.status is OrderStatus.OK and not order.replaced and accepted
            and ret.status not in ENDED)


def plan_return_authorisation(facts: Facts, policy: Policy,
                              order: OrderVerdict) -> AuthorisationVerdict:
    ret = facts.ret
    if not needs_authorisation(ret, policy):
        return AuthorisationVerdict()
    key = action_key(ret.return_id, ActionKind.RETURN_AUTHORISATION, 1)
    action = _action(facts, policy, key, order)
    outcome = facts.outcome(key)
    if outcome is not None:
        # It exists: re-stated (so an unsent one follows the order as it is now), never twice.
        settled = facts.resolved(failure_key(ret.return_id, key, ActionKind.RETURN_AUTHORISATION))
        return AuthorisationVerdict(key, action, ready=settled or outcome.status in (
            ActionStatus.SUCCEEDED, ActionStatus.CANCELLED))
    if action is None or not validated(ret, order):
        return AuthorisationVerdict()  # none before the money moves: nothing to wait for
    amount = action.payload["amount"]
    return AuthorisationVerdict(key, action, ready=False, decisions=[
        f"Return authorisation for {amount['currency']} {amount['amount']} "
        f"({len(action.line_ids)} line(s)) planned in the ERP: return {ret.return_id} is "
        "validated (rule: return authorisation)"])


def cancel_unsent(facts: Facts, why: str) -> list[Closing]:
    """A return that ended on the platform: its authorisation, if not sent yet, is not wanted."""
    key = action_key(facts.ret.return_id, ActionKind.RETURN_AUTHORISATION, 1)
    outcome = facts.outcome(key)
    if outcome is None or outcome.status not in (ActionStatus.PENDING, ActionStatus.FAILED):
        return []
    return [Closing(key, f"return authorisation not sent: {why}")]


def _action(facts: Facts, policy: Policy, key: str,
            order: OrderVerdict) -> PlannedAction | None:
    ret = facts.ret
    if facts.order is None:
        return None
    parts = []
    for ln in ret.lines:
        match = order.matches.get(ln.line_id)
        if ln.resolution not in MONEY_BACK or match is None or ln.line_id in order.already_refunded:
            continue
        component = match.component.sku if match.component else None
        exact = line_exact(match.order_line, ln.qty, policy, match.bundle, component)
        parts.append(RefundPart(ln.line_id, match.order_line.line_ref, ln.sku, ln.qty, exact))
    if not parts:
        return None
    amount = refund_amount(parts, facts.order.currency)
    payload = {"return_id": ret.return_id, "order_ref": ret.order_ref,
               "amount": amount.total.to_json(), "lines": amount.lines_json(),
               "memo": f"Returnline return {ret.return_id}" + (f" (RMA {ret.rma})" if ret.rma
                                                                else "")}
    return PlannedAction(key, ActionKind.RETURN_AUTHORISATION, ret.return_id, payload,
                         line_ids=tuple(p.line_id for p in parts))
