"""Where the returns platform moves the money, we plan its approval under the same gating."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from rulekit import (
    authorised,
    decide,
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
    settle,
)

from rules.facts import ActionOutcome
from rules.lifecycle import ActionKind, ActionStatus, ExceptionType, State, Verdict
from rules.model import Condition, MoneyMover, PlatformStatus


def platform_return(*gradings, **kw):
    return replace(ret(rline(gradings=tuple(gradings)), **kw), money_mover=MoneyMover.PLATFORM,
                   platform="happy_returns")


def test_platform_approval_instead_of_refund_only_after_grading():
    r = replace(platform_return(), status=PlatformStatus.RECEIVED)
    assert keys(run(facts(r)), ActionKind.APPROVE_PLATFORM_RETURN) == []
    p = run(authorised(facts(platform_return(*graded(Condition.SELLABLE)))))
    assert keys(p, ActionKind.REFUND) == []
    (approve,) = p.of_kind(ActionKind.APPROVE_PLATFORM_RETURN)
    assert approve.key == "rl:R1:approve_platform_return:1" and approve.target == "platform"
    assert approve.payload["platform"] == "happy_returns"
    assert approve.payload["amount"] == {"amount": "20.00", "currency": "GBP"}
    (note,) = p.of_kind(ActionKind.CREDIT_NOTE)
    assert note.depends_on == ("rl:R1:approve_platform_return:1",)


def test_platform_approval_is_held_by_the_same_policy():
    o = order(oline(qty=10, price="200.00"))
    p = run(facts(platform_return(*graded(Condition.SELLABLE)), o))
    assert keys(p, ActionKind.APPROVE_PLATFORM_RETURN) == []
    assert p.state is State.AWAITING_APPROVAL
    assert p.holds[0].why.startswith("Platform approval GBP 200.00 held for approval")
    approved = decide(facts(platform_return(*graded(Condition.SELLABLE)), o),
                      "rl:R1:hold:refund_approval:1", Verdict.APPROVED)
    assert keys(run(approved), ActionKind.APPROVE_PLATFORM_RETURN) == [
        "rl:R1:approve_platform_return:1"]


def test_exactly_one_approval_per_return_and_it_closes():
    r = replace(ret(rline("1", gradings=graded(Condition.SELLABLE)),
                    rline("2", sku="TEE-L", gradings=graded(Condition.SELLABLE))),
                money_mover=MoneyMover.PLATFORM)
    o = order(oline("A", "TEE-M"), oline("B", "TEE-L"))
    p, f = settle(facts(r, o), policy())
    assert [k for k in f.outcomes if "approve" in k] == ["rl:R1:approve_platform_return:1"]
    assert p.state is State.CLOSED


def test_platform_saying_refunded_counts_as_landed():
    f = replace(authorised(facts(platform_return(*graded(Condition.SELLABLE)))),
                platform_refunded=True)
    p = run(f)
    assert p.state is State.REFUNDED
    assert keys(p, ActionKind.CREDIT_NOTE) == ["rl:R1:credit_note:1"]


APPROVAL = "rl:R1:approve_platform_return:1"


def landed(f, amount: str | None, planned: str = "20.00"):
    """The platform's approval succeeded and it says it refunded `amount`."""
    outcome = ActionOutcome(APPROVAL, ActionStatus.SUCCEEDED, "HRX",
                            gbp(amount) if amount else None, planned_amount=gbp(planned))
    return replace(f, outcomes={**f.outcomes, APPROVAL: outcome})


def test_platform_refunding_another_amount_is_a_mismatch_and_the_books_follow_the_money():
    o = order(oline("A", "TEE-M", price="20.00"), oline("B", "TEE-L", price="10.00"))
    r = replace(ret(rline("1", gradings=graded(Condition.SELLABLE)),
                    rline("2", sku="TEE-L", gradings=graded(Condition.SELLABLE))),
                money_mover=MoneyMover.PLATFORM, platform="happy_returns")
    f = landed(authorised(facts(r, o)), "25.00", planned="30.00")
    p = run(f)
    (exc,) = [x for x in p.exceptions_open if x.type is ExceptionType.AMOUNT_MISMATCH]
    assert exc.owner == "finance" and exc.message == (
        f"The returns platform (happy_returns) refunded GBP 25.00 on approval {APPROVAL} but "
        "GBP 30.00 was planned")
    assert p.state is State.REFUNDED
    (note,) = p.of_kind(ActionKind.CREDIT_NOTE)
    assert note.payload["amount"] == {"amount": "25.00", "currency": "GBP"}
    # the lines re-split to what moved, in proportion, summing exactly
    assert [ln["amount"]["amount"] for ln in note.payload["lines"]] == ["16.67", "8.33"]


def test_platform_refunding_the_planned_amount_opens_nothing():
    f = landed(authorised(facts(platform_return(*graded(Condition.SELLABLE)))), "20.00")
    p = run(f)
    assert not [x for x in p.exceptions_open if x.type is ExceptionType.AMOUNT_MISMATCH]
    (note,) = p.of_kind(ActionKind.CREDIT_NOTE)
    assert note.payload["lines"][0]["amount"] == {"amount": "20.00", "currency": "GBP"}
    _, settled = settle(f)
    assert run(settled).state is State.CLOSED


def test_platform_refunding_nothing_cancels_the_credit_note_not_sent_yet():
    f = authorised(facts(platform_return(*graded(Condition.SELLABLE))))
    note = "rl:R1:credit_note:1"
    f = replace(landed(f, "0.00"), outcomes={
        **landed(f, "0.00").outcomes, note: ActionOutcome(note, ActionStatus.PENDING)})
    p = run(f)
    assert p.of_kind(ActionKind.CREDIT_NOTE) == []
    assert [c.key for c in p.actions_cancel] == [note]
    assert "moved no money" in p.actions_cancel[0].why
    assert any(x.type is ExceptionType.AMOUNT_MISMATCH for x in p.exceptions_open)


def test_credit_lines_follow_units_when_nothing_was_priced():
    from rules.amounts import RefundAmount, RefundPart
    from rules.credit_notes import credit_lines

    parts = (RefundPart("1", "A", "MUG", 1, Decimal(0)), RefundPart("2", "B", "TEA", 3, Decimal(0)))
    planned = RefundAmount(gbp("0.00"), tuple((p, gbp("0.00")) for p in parts), Decimal(0))
    assert [ln["amount"]["amount"] for ln in credit_lines(planned, gbp("4.00"))] == ["1.00",
                                                                                      "3.00"]
    assert credit_lines(None, gbp("4.00")) == []
