"""Where the returns platform moves the money, we plan its approval under the same gating."""

from __future__ import annotations

from dataclasses import replace

from rulekit import decide, facts, graded, keys, oline, order, policy, ret, rline, run, settle

from rules.lifecycle import ActionKind, State, Verdict
from rules.model import Condition, MoneyMover, PlatformStatus


def platform_return(*gradings, **kw):
    return replace(ret(rline(gradings=tuple(gradings)), **kw), money_mover=MoneyMover.PLATFORM,
                   platform="happy_returns")


def test_platform_approval_instead_of_refund_only_after_grading():
    r = replace(platform_return(), status=PlatformStatus.RECEIVED)
    assert keys(run(facts(r)), ActionKind.APPROVE_PLATFORM_RETURN) == []
    p = run(facts(platform_return(*graded(Condition.SELLABLE))))
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
    f = replace(facts(platform_return(*graded(Condition.SELLABLE))), platform_refunded=True)
    p = run(f)
    assert p.state is State.REFUNDED
    assert keys(p, ActionKind.CREDIT_NOTE) == ["rl:R1:credit_note:1"]
