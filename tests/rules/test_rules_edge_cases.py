"""Edge cases: the order vanishing mid-flight, zero-value refunds, resolved missing items."""

from __future__ import annotations

from dataclasses import replace

from rulekit import (
    authorised,
    execute,
    facts,
    graded,
    keys,
    mappings,
    oline,
    order,
    policy,
    ret,
    rline,
    run,
    sellable_return,
)

from rules.facts import ActionOutcome
from rules.lifecycle import ActionKind, ActionStatus, State
from rules.model import Condition


def test_refund_in_flight_when_the_order_vanishes_stays_refunding_without_new_actions():
    f = facts(sellable_return())
    f = execute(run(f), f, status=ActionStatus.PENDING, only={ActionKind.REFUND})
    p = run(replace(f, order=None))
    assert keys(p, ActionKind.REFUND) == keys(p, ActionKind.CREDIT_NOTE) == []
    assert p.state is State.REFUNDING


def test_landed_refund_of_zero_needs_no_credit_note():
    f = facts(sellable_return(), order(oline(price="0.00")))
    key = "rl:R1:refund:1"
    f = replace(f, outcomes={key: ActionOutcome(key, ActionStatus.SUCCEEDED, "r0")})
    p = run(f)
    assert p.state in (State.REFUNDED, State.CLOSED)
    assert keys(p, ActionKind.CREDIT_NOTE) == []


def test_landed_without_any_amount_known_counts_zero_in_the_return_currency():
    f = facts(sellable_return(currency="GBP"), None)
    key = "rl:R1:refund:1"
    f = replace(f, outcomes={key: ActionOutcome(key, ActionStatus.SUCCEEDED, "r0")})
    assert run(f).state is State.REFUNDED


def test_cancelled_refund_without_a_known_cause_is_settled():
    f = facts(sellable_return())
    key = "rl:R1:refund:1"
    f = replace(f, outcomes={key: ActionOutcome(key, ActionStatus.CANCELLED)})
    p = run(f)
    assert keys(p, ActionKind.REFUND) == [] and keys(p, ActionKind.CREDIT_NOTE) == []


def test_resolved_missing_item_lets_the_return_close():
    r = ret(rline(gradings=graded(Condition.MISSING)))
    f = replace(facts(r), resolved_exceptions=frozenset({"rl:R1:exc:missing_item:1:1"}))
    p = run(f)
    assert p.exceptions_open == []
    assert run(execute(p, f)).state is State.CLOSED


def test_bundle_share_without_tax_when_policy_excludes_tax():
    line = oline("GS", "GIFT-SET", 1, "10.00", tax="2.00")
    r = ret(rline(sku="TEA", gradings=graded(Condition.SELLABLE)))
    with_tax = run(facts(r, order(line))).of_kind(ActionKind.REFUND)[0]
    without = run(facts(r, order(line)), policy(include_tax=False)).of_kind(ActionKind.REFUND)[0]
    assert (with_tax.payload["amount"]["amount"], without.payload["amount"]["amount"]) == (
        "6.00", "5.00")


def test_same_sku_on_two_lines_of_one_return_counts_together():
    r = ret(rline("1", gradings=graded(Condition.SELLABLE)),
            rline("2", gradings=graded(Condition.SELLABLE)))
    p = run(facts(r, order(oline(qty=2))))
    assert p.of_kind(ActionKind.REFUND)[0].payload["amount"]["amount"] == "40.00"
    p1 = run(facts(r, order(oline(qty=1))))
    assert keys(p1, ActionKind.REFUND) == []


def test_line_gone_after_everything_was_planned_does_not_block():
    f = authorised(facts(sellable_return()))
    f = execute(run(f), f)
    f = replace(f, order=order(oline("OL9", "SOCKS", 1, "5.00")))
    assert run(f, maps=mappings()).state is State.CLOSED
