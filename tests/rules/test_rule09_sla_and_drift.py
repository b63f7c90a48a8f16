"""Rule 9: SLA breach after the window from grading; drift both ways; amount mismatch."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from rulekit import (
    T0,
    authorised,
    execute,
    facts,
    gbp,
    keys,
    manual_refund,
    order,
    policy,
    run,
    sellable_return,
)

from rules.facts import ActionOutcome
from rules.lifecycle import ActionKind, ActionStatus, ExceptionType, State
from rules.model import MoneyMover, OrderRefund, OrderRefundLine

SLA = "rl:R1:exc:sla_breach"


def held_return():
    return facts(sellable_return())


def test_sla_breach_opens_after_the_window_from_grading():
    f = held_return()
    before = run(f, policy(always_hold=True), now=T0 + timedelta(hours=47))
    assert SLA not in {x.key for x in before.exceptions_open}
    assert before.wake_at == T0 + timedelta(hours=48)
    after = run(f, policy(always_hold=True), now=T0 + timedelta(hours=48))
    (exc,) = [x for x in after.exceptions_open if x.key == SLA]
    assert exc.owner == "warehouse" and exc.due_at == T0 + timedelta(hours=48)
    assert "not refunded within 48 h" in exc.message
    assert after.state is State.AWAITING_APPROVAL


def test_sla_window_is_policy():
    p = run(held_return(), policy(always_hold=True, sla_window="4h"), now=T0 + timedelta(hours=5))
    assert SLA in {x.key for x in p.exceptions_open}


def test_sla_breach_closes_itself_when_the_refund_lands():
    f = held_return()
    f = execute(run(f), f, only={ActionKind.REFUND})
    f = replace(f, open_exceptions=frozenset({SLA}))
    p = run(f, now=T0 + timedelta(hours=50))
    assert [(c.key, c.why) for c in p.exceptions_close] == [(SLA, "the refund landed")]


def test_resolved_sla_breach_is_not_reopened():
    f = replace(held_return(), resolved_exceptions=frozenset({SLA}))
    p = run(f, policy(always_hold=True), now=T0 + timedelta(days=5))
    assert SLA not in {x.key for x in p.exceptions_open}


def test_no_sla_when_nothing_is_owed():
    f = facts(sellable_return(), manual_refund(order()))  # already refunded by hand
    p = run(f, now=T0 + timedelta(days=5))
    assert ExceptionType.SLA_BREACH not in p.open_types()


def test_drift_platform_says_refunded_but_commerce_shows_no_refund():
    f = replace(held_return(), platform_refunded=True)
    p = run(f)
    (exc,) = [x for x in p.exceptions_open if x.type is ExceptionType.DRIFT]
    assert exc.key == "rl:R1:exc:drift:platform-refunded" and exc.owner == "finance"
    assert keys(p, ActionKind.REFUND) == []  # never pay twice on the platform's word
    assert p.state is State.BLOCKED
    resolved = replace(f, resolved_exceptions=frozenset({exc.key}))
    assert keys(run(resolved), ActionKind.REFUND) == ["rl:R1:refund:1"]


def test_platform_refund_visible_in_commerce_is_not_drift_but_already_refunded():
    f = replace(facts(sellable_return(), manual_refund(order())), platform_refunded=True)
    types = run(f).open_types()
    assert ExceptionType.DRIFT not in types and ExceptionType.ALREADY_REFUNDED in types


def test_drift_manual_refund_after_ours_is_a_double_payment():
    f = held_return()
    f = execute(run(f), f)
    f = replace(f, order=manual_refund(f.order, at=T0 + timedelta(hours=3), rid="m9"))
    p = run(f, now=T0 + timedelta(hours=4))
    (exc,) = [x for x in p.exceptions_open if x.type is ExceptionType.DRIFT]
    assert exc.key == "rl:R1:exc:drift:refund-m9" and "paid twice" in exc.message
    assert ExceptionType.ALREADY_REFUNDED not in p.open_types()
    assert p.state is State.REFUNDED


def test_drift_refund_no_action_explains_from_reconciliation():
    stray = OrderRefund("x1", gbp("20.00"), (OrderRefundLine("OL1", 1),), T0)
    p = run(replace(held_return(), unexplained_refunds=(stray,)))
    assert "rl:R1:exc:drift:refund-x1" in {x.key for x in p.exceptions_open}
    resolved = replace(held_return(), unexplained_refunds=(stray,),
                       resolved_exceptions=frozenset({"rl:R1:exc:drift:refund-x1"}))
    assert ExceptionType.DRIFT not in run(resolved).open_types()


def test_amount_mismatch_when_the_refund_moved_a_different_amount():
    f = held_return()
    f = execute(run(f), f, only={ActionKind.REFUND})
    key = "rl:R1:refund:1"
    f = authorised(replace(f, outcomes={key: ActionOutcome(
        key, ActionStatus.SUCCEEDED, "r1", gbp("18.00"), planned_amount=gbp("20.00"))}))
    p = run(f)
    (exc,) = [x for x in p.exceptions_open if x.type is ExceptionType.AMOUNT_MISMATCH]
    assert "moved GBP 18.00 but GBP 20.00 was planned" in exc.message and exc.owner == "finance"
    assert p.of_kind(ActionKind.CREDIT_NOTE)[0].payload["amount"]["amount"] == "18.00"


def test_amount_mismatch_when_the_credit_note_differs_from_the_refund():
    f = held_return()
    f = execute(run(f), f)
    note = "rl:R1:credit_note:1"
    f = replace(f, outcomes={**f.outcomes, note: ActionOutcome(
        note, ActionStatus.SUCCEEDED, "CN-1", gbp("2.00"))})
    p = run(f)
    (exc,) = [x for x in p.exceptions_open if x.type is ExceptionType.AMOUNT_MISMATCH]
    assert exc.key == "rl:R1:exc:amount_mismatch:credit_note"
    resolved = replace(f, resolved_exceptions=frozenset({exc.key}))
    assert run(resolved).state is State.CLOSED


def test_platform_mover_refund_is_expected_from_the_platform_not_drift():
    r = replace(sellable_return(), money_mover=MoneyMover.PLATFORM)
    p = run(replace(facts(r), platform_refunded=True))
    assert ExceptionType.DRIFT not in p.open_types()
