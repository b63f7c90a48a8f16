"""`plan(facts, policy, mappings, now) -> Plan`: facts in, decisions out. The one entry point.

It runs the ten rules in a fixed order and gathers what they say:
  4 reasons       -> codes, unknown_reason exceptions (the refund waits)
  3 order check   -> waiting / not found / not returnable / already refunded
  2 stock         -> restock / quarantine per grade, restock_failed, missing_item
  1,5,6 money     -> the one refund or platform approval, its amount, its holds
  RA              -> the return authorisation in the ERP once the return is validated
  8 credit note   -> follows the refund (and the return authorisation)
  7 exchange      -> the zero-value replacement order, at once
  visibility      -> return record and reason tags on the commerce order
  9 watch         -> SLA breach, drift, amount mismatch, failed actions
  10 closing      -> closed when money, stock and books agree; else the state

Planning is repeatable: the same facts give the same plan (same keys, same payloads, same
words). The plan lists every action that should exist, including those already executed, so
storage's insert-if-absent adds only what is new. Exceptions and holds are listed while their
cause holds; those open (per `Facts.open_exceptions` / `open_holds`) whose cause is gone are
listed to close/release, with why. Nothing a person resolved is ever reopened.
"""

from __future__ import annotations

from datetime import datetime

from rules.closing import derive_state, settlement
from rules.credit_notes import plan_credit_note
from rules.exchanges import plan_exchange
from rules.facts import Facts
from rules.lifecycle import ActionKind, ExceptionType, State
from rules.mappings import Mappings
from rules.model import MoneyMover, PlatformStatus, Resolution
from rules.order_check import OrderStatus, check_order, our_refund_on_order
from rules.outputs import (
    Closing,
    ExceptionToOpen,
    Hold,
    Plan,
    PlannedAction,
    action_key,
    rule_owned,
)
from rules.policy import Policy
from rules.reasons import map_reasons
from rules.refunds import MoneyStatus, graded_at, plan_money, refund_lines
from rules.return_authorisations import (
    cancel_unsent,
    needs_authorisation,
    plan_return_authorisation,
)
from rules.stock import plan_stock
from rules.visibility import plan_visibility, visibility_keys
from rules.watch import amount_mismatch, drift, failed_actions, sla_breach

ENDED = {
    PlatformStatus.REJECTED: State.REJECTED,
    PlatformStatus.CANCELLED: State.CANCELLED,
    PlatformStatus.EXPIRED: State.CANCELLED,
}

_CLOSE_WHY = {
    ExceptionType.UNKNOWN_REASON: "the reason is now mapped to a master reason",
    ExceptionType.ORDER_NOT_FOUND: "the order is now visible in commerce",
    ExceptionType.ORDER_NOT_RETURNABLE: "the order checks pass now",
    ExceptionType.ALREADY_REFUNDED: "no earlier refund or replacement is found any more",
    ExceptionType.MISSING_ITEM: "the grading no longer says missing or wrong item",
    ExceptionType.SLA_BREACH: "no refund is overdue any more",
    ExceptionType.DRIFT: "commerce and the platform agree again",
    ExceptionType.AMOUNT_MISMATCH: "the amounts agree",
}


def plan(facts: Facts, policy: Policy, mappings: Mappings, now: datetime) -> Plan:
    ret = facts.ret
    rid = ret.return_id
    out = Plan(return_id=rid)
    if ret.status in ENDED and not _money_moved(facts):
        return _ended(facts, out, ENDED[ret.status])

    reasons = map_reasons(facts, policy, mappings)
    order = check_order(facts, policy, mappings, now, gates_pending=_gates_pending(facts, policy))
    stock = plan_stock(facts, policy, mappings)
    money = plan_money(facts, policy, mappings, order, reasons)
    authorisation = plan_return_authorisation(facts, policy, order)
    books = plan_credit_note(facts, money, authorisation)
    exchange = plan_exchange(facts, order)
    shown, shown_decisions = plan_visibility(facts, policy, order, reasons)
    failures, failure_decisions = failed_actions(facts, policy)
    sla, sla_decisions, sla_wake = sla_breach(facts, policy, money, now)
    drifts, drift_decisions = drift(facts, policy, money, order.matches)
    mismatches, mismatch_decisions = amount_mismatch(facts, policy, money, books.key)

    actions = [*shown, authorisation.action, exchange.action, money.action, books.action,
               *stock.actions]
    out.actions = _unique([a for a in actions if a is not None])
    out.holds = _unique(money.holds)
    out.actions_cancel = _unique([*money.cancel, *books.cancel])
    out.exceptions_open = _unique([*reasons.exceptions, *order.exceptions, *stock.exceptions,
                                   *failures, *sla, *drifts, *mismatches])
    out.decisions = _lines([*reasons.decisions, *order.decisions, *authorisation.decisions,
                            *exchange.decisions,
                            *money.decisions, *books.decisions, *shown_decisions,
                            *stock.decisions, *failure_decisions, *sla_decisions,
                            *drift_decisions, *mismatch_decisions])
    _closings(facts, out, money.status is MoneyStatus.LANDED)

    settled = settlement(ret, money, books.settled and authorisation.ready, stock.settled,
                         exchange.settled,
                         len(out.exceptions_open) + len(out.holds))
    out.state = derive_state(ret, money, settled, order.status is OrderStatus.WAITING,
                             out.open_types())
    if out.state is State.CLOSED:
        out.decisions.append(f"Return {rid} closed: money, stock and books agree for every line "
                             "(rule: closed only when everything agrees)")
    out.value = money.amount.total if money.amount else None
    out.graded_at = money.graded_at or graded_at(list(ret.lines))
    wakes = [t for t in (order.wake_at, sla_wake) if t is not None]
    out.wake_at = min(wakes) if wakes else None
    return out


def _gates_pending(facts: Facts, policy: Policy) -> bool:
    """Is any action the order check gates still to be planned?"""
    ret = facts.ret
    rid = ret.return_id
    keys = visibility_keys(rid, policy)
    if refund_lines(ret):
        kind = (ActionKind.APPROVE_PLATFORM_RETURN if ret.money_mover is MoneyMover.PLATFORM
                else ActionKind.REFUND)
        keys.append(action_key(rid, kind, 1))
    if any(ln.resolution is Resolution.EXCHANGE for ln in ret.lines):
        keys.append(action_key(rid, ActionKind.EXCHANGE_ORDER, 1))
    if needs_authorisation(ret, policy):
        keys.append(action_key(rid, ActionKind.RETURN_AUTHORISATION, 1))
    return any(not facts.planned(k) for k in keys)


def _money_moved(facts: Facts) -> bool:
    rid = facts.ret.return_id
    keys = (action_key(rid, ActionKind.REFUND, 1),
            action_key(rid, ActionKind.APPROVE_PLATFORM_RETURN, 1))
    return any(facts.succeeded(k) for k in keys) or our_refund_on_order(facts) is not None


def _ended(facts: Facts, out: Plan, state: State) -> Plan:
    """Rejected or cancelled on the platform before any money moved: nothing more to do."""
    ret = facts.ret
    out.state = state
    out.decisions.append(f"Return {ret.return_id} is {ret.status.value} on {ret.platform}: no "
                         "refund, stock or credit note will be planned")
    why = f"the return was {ret.status.value} on the platform"
    out.exceptions_close = [Closing(k, why) for k in sorted(facts.open_exceptions)
                            if rule_owned(ret.return_id, k)]
    out.holds_release = [Closing(k, why) for k in sorted(facts.open_holds)
                         if rule_owned(ret.return_id, k)]
    out.actions_cancel = cancel_unsent(facts, why)
    return out


def _closings(facts: Facts, out: Plan, money_landed: bool) -> None:
    rid = facts.ret.return_id
    opened = {x.key for x in out.exceptions_open}
    for key in sorted(facts.open_exceptions):
        if rule_owned(rid, key) and key not in opened:
            out.exceptions_close.append(Closing(key, _close_why(rid, key, money_landed)))
    held = {h.key for h in out.holds}
    for key in sorted(facts.open_holds):
        if rule_owned(rid, key) and key not in held:
            out.holds_release.append(Closing(key, "the refund no longer needs to wait"))


def _close_why(rid: str, key: str, money_landed: bool) -> str:
    kind = key.removeprefix(f"rl:{rid}:exc:").split(":", 1)[0]
    if kind == ExceptionType.SLA_BREACH and money_landed:
        return "the refund landed"
    try:
        return _CLOSE_WHY[ExceptionType(kind)]
    except (ValueError, KeyError):
        return "the cause no longer holds (the action was retried or its target is usable)"


def _unique(items: list) -> list:
    """First of each key wins; order kept (so the plan reads in rule order)."""
    seen: set[str] = set()
    out = []
    for item in items:
        if item.key not in seen:
            seen.add(item.key)
            out.append(item)
    return out


def _lines(lines: list[str]) -> list[str]:
    return list(dict.fromkeys(lines))


__all__ = ["plan", "Plan", "PlannedAction", "Hold", "ExceptionToOpen", "Closing"]
