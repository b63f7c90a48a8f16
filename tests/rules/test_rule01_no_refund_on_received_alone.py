"""Rule 1: no refund on "received" alone; then the approval policy decides."""

from __future__ import annotations

from dataclasses import replace

from rulekit import (
    T0,
    decide,
    execute,
    facts,
    gbp,
    graded,
    keys,
    oline,
    order,
    policy,
    ret,
    rline,
    run,
    sellable_return,
)

from rules.lifecycle import ActionKind, HoldKind, State, Verdict
from rules.model import Condition, PlatformStatus

HOLD = "rl:R1:hold:refund_approval:1"


def test_premature_refund_received_but_not_graded_plans_no_refund():
    r = ret(rline(qty_received=1), status=PlatformStatus.RECEIVED)
    p = run(facts(r))
    assert keys(p, ActionKind.REFUND) == []
    assert p.state is State.RECEIVED
    assert any("received but not graded" in d and "no refund on received alone" in d
               for d in p.decisions)


def test_requested_return_plans_no_refund_and_says_nothing_about_grading():
    p = run(facts(ret()))
    assert keys(p, ActionKind.REFUND) == []
    assert p.state is State.REQUESTED
    assert not any("graded" in d for d in p.decisions)


def test_in_transit_return_is_in_transit():
    assert run(facts(ret(status=PlatformStatus.IN_TRANSIT))).state is State.IN_TRANSIT
    r = ret(in_transit_at=T0)
    assert run(facts(r)).state is State.IN_TRANSIT


def test_refund_is_planned_once_graded_and_within_policy():
    p = run(facts(sellable_return()))
    (refund,) = p.of_kind(ActionKind.REFUND)
    assert refund.key == "rl:R1:refund:1"
    assert refund.payload["amount"] == {"amount": "20.00", "currency": "GBP"}
    assert refund.payload["lines"] == [{"line_id": "1", "line_ref": "OL1", "sku": "TEE-M",
                                        "qty": 1, "amount": {"amount": "20.00",
                                                             "currency": "GBP"}}]
    assert not refund.batchable and refund.target == "commerce"
    assert p.state is State.REFUNDING
    assert p.holds == []


def test_partly_graded_line_still_waits_for_the_rest():
    r = ret(rline(qty=2, gradings=graded((Condition.SELLABLE, 1))))
    p = run(facts(r))
    assert keys(p, ActionKind.REFUND) == []
    assert p.state is State.RECEIVED
    assert any("TEE-M (1 of 2)" in d for d in p.decisions)


def test_refund_over_threshold_is_held_for_approval_with_the_reason_in_words():
    o = order(oline(qty=10, price="80.00"))
    p = run(facts(sellable_return(qty=2), o))
    assert keys(p, ActionKind.REFUND) == []
    assert p.state is State.AWAITING_APPROVAL
    (hold,) = p.holds
    assert (hold.key, hold.kind, hold.amount) == (HOLD, HoldKind.REFUND_APPROVAL, gbp("160.00"))
    assert "over the GBP 150.00 threshold" in hold.why
    assert any(d.startswith("Refund GBP 160.00 held for approval: over the GBP 150.00 threshold")
               for d in p.decisions)


def test_refund_exactly_at_threshold_goes_out_alone():
    o = order(oline(qty=10, price="75.00"))
    p = run(facts(sellable_return(qty=2), o))
    assert keys(p, ActionKind.REFUND) == ["rl:R1:refund:1"]


def test_no_threshold_for_the_currency_means_no_value_check():
    p = run(facts(sellable_return(qty=2), order(oline(qty=10, price="800.00"))),
            policy(approval_threshold={"EUR": "10.00"}))
    assert keys(p, ActionKind.REFUND) == ["rl:R1:refund:1"]


def test_damaged_grade_refunded_to_original_payment_is_held():
    r = ret(rline(gradings=graded(Condition.DAMAGED)))
    p = run(facts(r))
    assert [h.key for h in p.holds] == [HOLD]
    assert "graded damaged" in p.holds[0].why
    assert keys(p, ActionKind.QUARANTINE)  # stock handling does not wait for the supervisor


def test_damaged_hold_can_be_switched_off():
    r = ret(rline(gradings=graded(Condition.USED)))
    p = run(facts(r), policy(hold_damaged=False))
    assert keys(p, ActionKind.REFUND) == ["rl:R1:refund:1"]


def test_reason_contradicting_grade_is_held():
    r = ret(rline(reason="It's broken", gradings=graded(Condition.SELLABLE)))
    p = run(facts(r))
    assert "reason FAULTY contradicts the grade" in p.holds[0].why
    p2 = run(facts(r), policy(hold_on_contradiction=False))
    assert keys(p2, ActionKind.REFUND) == ["rl:R1:refund:1"]


def test_always_hold_policy_holds_every_refund():
    p = run(facts(sellable_return()), policy(always_hold=True))
    assert p.state is State.AWAITING_APPROVAL
    assert "every refund" in p.holds[0].why


def test_supervisor_approval_releases_the_refund():
    f = decide(facts(sellable_return()), HOLD, Verdict.APPROVED, by="ana", note="known customer")
    p = run(f, policy(always_hold=True))
    assert keys(p, ActionKind.REFUND) == ["rl:R1:refund:1"]
    assert p.holds == []
    assert any("approved by ana: known customer" in d for d in p.decisions)


def test_supervisor_rejection_means_no_refund_and_state_rejected():
    f = decide(facts(sellable_return()), HOLD, Verdict.REJECTED, by="ana")
    p = run(f, policy(always_hold=True))
    assert keys(p, ActionKind.REFUND) == [] and keys(p, ActionKind.CREDIT_NOTE) == []
    assert keys(p, ActionKind.RESTOCK)  # the goods still go back on the shelf
    assert p.state is State.REJECTED
    # once the stock landed, a rejected refund is a closed return
    f2 = execute(p, f)
    assert run(f2, policy(always_hold=True)).state is State.CLOSED


def test_hold_no_longer_needed_is_released():
    f = replace(facts(sellable_return()), open_holds=frozenset({HOLD, "other:hold"}))
    p = run(f)
    assert [(c.key, c.why) for c in p.holds_release] == [
        (HOLD, "the refund no longer needs to wait")]


def test_existing_refund_is_never_re_gated():
    """A refund already in the outbox stays, even if the policy now wants approval."""
    f = facts(sellable_return())
    f = execute(run(f), f, only={ActionKind.REFUND})
    p = run(f, policy(always_hold=True))
    assert keys(p, ActionKind.REFUND) == ["rl:R1:refund:1"] and p.holds == []
