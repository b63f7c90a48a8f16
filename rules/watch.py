"""Rule 9 and the checks that keep watching after the money moved.

- SLA: a return graded but not refunded within the policy window (default 48 h from when its
  last line was graded) opens `sla_breach`; it closes itself when the refund lands.
- Drift, both ways: the returns platform says it refunded but commerce shows no refund for the
  return; or commerce shows a refund that no action of ours explains (made by hand after ours,
  or reported by reconciliation) -> `drift` for finance.
- Amount mismatch: a refund that landed for a different amount than planned, or a credit note
  that does not match its refund -> `amount_mismatch`.
- Failures: an action the executor gave up on (dead) -> the exception of its kind
  (refund_failed, restock_failed, credit_note_failed, exchange_failed...).
"""

from __future__ import annotations

from datetime import datetime

from rules.facts import ActionOutcome, Facts
from rules.lifecycle import ActionKind, ActionStatus, ExceptionType
from rules.model import MoneyMover
from rules.order_check import LineMatch, is_manual, our_refund_on_order, touches
from rules.outputs import ExceptionToOpen, exception_key, failure_key, rule_owned
from rules.policy import Policy
from rules.refunds import MoneyStatus, MoneyVerdict


def sla_breach(facts: Facts, policy: Policy, money: MoneyVerdict,
               now: datetime) -> tuple[list[ExceptionToOpen], list[str], datetime | None]:
    """(exception to open, decisions, when to look again)."""
    if money.graded_at is None or not money.due:
        return [], [], None
    rid = facts.ret.return_id
    deadline = money.graded_at + policy.sla_window
    if now < deadline:
        return [], [], deadline
    key = exception_key(rid, ExceptionType.SLA_BREACH)
    hours = int(policy.sla_window.total_seconds() // 3600)
    why = (f"Graded {money.graded_at.isoformat()} and not refunded within {hours} h "
           f"(due {deadline.isoformat()})")
    if facts.resolved(key):
        return [], [], None
    return ([ExceptionToOpen(key, ExceptionType.SLA_BREACH, policy.owner(ExceptionType.SLA_BREACH),
                             rid, why, due_at=deadline)],
            [f"{why} (rule: SLA)"], None)


def drift(facts: Facts, policy: Policy, money: MoneyVerdict,
          matches: dict[str, LineMatch]) -> tuple[list[ExceptionToOpen], list[str]]:
    ret = facts.ret
    rid = ret.return_id
    owner = policy.owner(ExceptionType.DRIFT)
    found: dict[str, str] = {}
    if (facts.platform_refunded and ret.money_mover is MoneyMover.RETURNLINE
            and money.status is not MoneyStatus.LANDED):
        refunds = facts.order.refunds if facts.order else ()
        seen = any(touches(r, m) for r in refunds for m in matches.values())
        if not seen:
            found["platform-refunded"] = (f"{ret.platform} says return {rid} is refunded but "
                                          f"commerce shows no refund for it on order {ret.order_ref}")
    mine = our_refund_on_order(facts)
    if mine is not None and facts.order is not None:
        for refund in facts.order.refunds:
            if is_manual(refund) and refund.created_at >= mine.created_at and any(
                    touches(refund, m) for m in matches.values()):
                found[f"refund-{refund.refund_id}"] = (
                    f"refund {refund.refund_id} of {refund.amount} on order {ret.order_ref} was "
                    f"made by hand after Returnline's refund {mine.refund_id}: paid twice?")
    for refund in facts.unexplained_refunds:
        found.setdefault(f"refund-{refund.refund_id}", (
            f"refund {refund.refund_id} of {refund.amount} on order {ret.order_ref} is not "
            "explained by any Returnline action"))
    opened, decisions = [], []
    for subject, why in sorted(found.items()):
        key = exception_key(rid, ExceptionType.DRIFT, subject)
        decisions.append(f"Drift: {why} (rule: drift)")
        if not facts.resolved(key):
            opened.append(ExceptionToOpen(key, ExceptionType.DRIFT, owner, rid,
                                          why[0].upper() + why[1:]))
    return opened, decisions


def amount_mismatch(facts: Facts, policy: Policy, money: MoneyVerdict,
                    credit_note_key: str | None) -> tuple[list[ExceptionToOpen], list[str]]:
    rid = facts.ret.return_id
    owner = policy.owner(ExceptionType.AMOUNT_MISMATCH)
    found: dict[str, str] = {}
    if money.status is MoneyStatus.LANDED and money.key is not None:
        expected = (_planned(facts.outcome(money.key))
                    or (money.amount.total if money.amount else None))
        landed = money.landed_amount
        if expected is not None and landed is not None and expected != landed:
            who = (f"the returns platform ({facts.ret.platform}) refunded {landed} on "
                   f"approval {money.key}"
                   if money.kind is ActionKind.APPROVE_PLATFORM_RETURN
                   else f"refund {money.key} moved {landed}")
            found["refund"] = f"{who} but {expected} was planned"
        note = facts.outcome(credit_note_key) if credit_note_key else None
        if (note is not None and note.status is ActionStatus.SUCCEEDED and note.amount
                and landed is not None and note.amount != landed):
            found["credit_note"] = (f"credit note {note.external_id or note.key} is for "
                                    f"{note.amount} but the refund moved {landed}")
    opened, decisions = [], []
    for subject, why in sorted(found.items()):
        key = exception_key(rid, ExceptionType.AMOUNT_MISMATCH, subject)
        decisions.append(f"Amount mismatch: {why} (rule: money is exact)")
        if not facts.resolved(key):
            opened.append(ExceptionToOpen(key, ExceptionType.AMOUNT_MISMATCH, owner, rid,
                                          why[0].upper() + why[1:]))
    return opened, decisions


def failure_exception(return_id: str, key: str, kind: ActionKind, error: str,
                      policy: Policy) -> ExceptionToOpen:
    """The exception for an action the executor gave up on. The executor may call this
    itself; the key is the same one the rules use, so it is never opened twice."""
    exc_type = kind.failure
    message = f"{kind.value} {key} failed after retries"
    if error:
        message += f": {error}"
    return ExceptionToOpen(failure_key(return_id, key, kind), exc_type, policy.owner(exc_type),
                           return_id, message)


def failed_actions(facts: Facts, policy: Policy) -> tuple[list[ExceptionToOpen], list[str]]:
    rid = facts.ret.return_id
    opened, decisions = [], []
    for key, outcome in sorted(facts.outcomes.items()):
        kind = _kind_of(rid, key)
        if outcome.status is not ActionStatus.DEAD or kind is None:
            continue
        exc = failure_exception(rid, key, kind, outcome.error, policy)
        decisions.append(f"{exc.message}: {exc.owner} to look (rule: failures have an owner)")
        if not facts.resolved(exc.key):
            opened.append(exc)
    return opened, decisions


def _kind_of(return_id: str, key: str) -> ActionKind | None:
    if not rule_owned(return_id, key):
        return None
    try:
        return ActionKind(key.removeprefix(f"rl:{return_id}:").split(":", 1)[0])
    except ValueError:
        return None


def _planned(outcome: ActionOutcome | None):
    return outcome.planned_amount if outcome is not None else None
