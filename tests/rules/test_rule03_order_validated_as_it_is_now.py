"""Rule 3: the order as it is now gates the return record, refund and credit note."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from rulekit import (
    T0,
    authorised,
    execute,
    facts,
    graded,
    keys,
    manual_refund,
    mappings,
    oline,
    order,
    ret,
    rline,
    run,
    sellable_return,
)

from rules.lifecycle import ActionKind, ExceptionType, State
from rules.model import Condition, OrderRefund, OrderRefundLine, OrderState, PlatformStatus
from rules.money import Money
from rules.order_check import match_order_line

NOT_FOUND = "rl:R1:exc:order_not_found"


def test_unsynced_order_waits_bounded_then_order_not_found():
    f = facts(sellable_return(), None, order_first_sought_at=T0)
    p = run(f, now=T0 + timedelta(minutes=90))
    assert p.state is State.AWAITING_ORDER
    assert p.actions and all(a.kind in (ActionKind.RESTOCK,) for a in p.actions)
    assert p.exceptions_open == []
    assert p.wake_at == T0 + timedelta(hours=2)
    late = run(f, now=T0 + timedelta(hours=2))
    assert late.state is State.BLOCKED
    (exc,) = late.exceptions_open
    assert (exc.key, exc.type, exc.owner) == (NOT_FOUND, ExceptionType.ORDER_NOT_FOUND, "cx")
    assert keys(late, ActionKind.REFUND) == keys(late, ActionKind.CREATE_RETURN_RECORD) == []


def test_order_first_looked_for_now_when_unknown():
    p = run(facts(ret(), None))
    assert p.state is State.AWAITING_ORDER and p.wake_at == T0 + timedelta(hours=2)


def test_order_that_appears_late_closes_order_not_found_and_proceeds():
    f = facts(sellable_return(), order(), open_exceptions=frozenset({NOT_FOUND}))
    p = run(f)
    assert keys(p, ActionKind.REFUND) == ["rl:R1:refund:1"]
    assert [(c.key, c.why) for c in p.exceptions_close] == [
        (NOT_FOUND, "the order is now visible in commerce")]


def test_order_not_found_resolved_by_a_person_is_settled_by_hand():
    f = facts(sellable_return(), None, order_first_sought_at=T0 - timedelta(days=1),
              resolved_exceptions=frozenset({NOT_FOUND}))
    p = run(f)
    assert p.exceptions_open == []
    f2 = execute(p, f)
    assert run(f2).state is State.CLOSED


def test_mismatched_order_state_cancelled_is_not_returnable():
    o = replace(order(), state=OrderState.CANCELLED)
    p = run(facts(sellable_return(), o))
    assert p.state is State.BLOCKED
    (exc,) = p.exceptions_open
    assert exc.type is ExceptionType.ORDER_NOT_RETURNABLE and exc.owner == "cx"
    assert "cancelled" in exc.message
    assert keys(p, ActionKind.REFUND) == keys(p, ActionKind.CREATE_RETURN_RECORD) == []
    assert keys(p, ActionKind.RESTOCK)  # the goods are here all the same


def test_wrong_store_or_currency_is_not_returnable():
    o = replace(order(), store="eu")
    p = run(facts(sellable_return(store="UK"), o))
    assert "belongs to 'eu'" in p.exceptions_open[0].message
    p2 = run(facts(sellable_return(currency="EUR")))
    assert "in EUR but the order is in GBP" in p2.exceptions_open[0].message
    assert run(facts(sellable_return(store="EU"), o)).exceptions_open == []


def test_edited_order_line_removed_is_not_returnable():
    o = order(oline("OL9", "SOCKS", 1, "5.00"))
    p = run(facts(sellable_return(), o))
    assert "TEE-M (line 1) is no longer on the order" in p.exceptions_open[0].message


def test_edited_order_quantity_reduced_below_returned_is_not_returnable():
    o = order(oline(qty=1))
    p = run(facts(sellable_return(qty=2), o))
    assert "2 x TEE-M returned but the order now has only 1" in p.exceptions_open[0].message


def test_edited_order_price_change_refunds_the_current_price():
    o = order(oline(price="15.50"))
    (refund,) = run(facts(sellable_return(), o)).of_kind(ActionKind.REFUND)
    assert refund.payload["amount"]["amount"] == "15.50"


def test_duplicate_refund_manual_admin_refund_after_request_means_no_second_refund():
    o = manual_refund(order())
    p = run(facts(sellable_return(), o))
    assert keys(p, ActionKind.REFUND) == [] and keys(p, ActionKind.CREDIT_NOTE) == []
    (exc,) = p.exceptions_open
    assert (exc.key, exc.type, exc.owner) == ("rl:R1:exc:already_refunded:1",
                                               ExceptionType.ALREADY_REFUNDED, "finance")
    assert "refunded by hand" in exc.message
    assert p.state is State.BLOCKED
    assert any("never a second refund" in d for d in p.decisions)


def test_manual_refund_before_the_request_only_reduces_what_is_left():
    o = manual_refund(order(), at=T0 - timedelta(days=3))  # 1 of 2 refunded last week
    assert keys(run(facts(sellable_return(), o)), ActionKind.REFUND) == ["rl:R1:refund:1"]
    p = run(facts(sellable_return(qty=2), o))
    assert keys(p, ActionKind.REFUND) == []
    assert "Only 1 x TEE-M still refundable" in p.exceptions_open[0].message


def test_another_returns_refund_counts_but_is_not_manual():
    other = OrderRefund("r2", Money.parse("20.00", "GBP"), (OrderRefundLine("OL1", 1),),
                        T0 + timedelta(minutes=5), idempotency_key="rl:R2:refund:1")
    o = replace(order(), refunds=(other,))
    assert keys(run(facts(sellable_return(), o)), ActionKind.REFUND) == ["rl:R1:refund:1"]
    o2 = replace(order(oline(qty=1)), refunds=(other,))
    assert keys(run(facts(sellable_return(), o2)), ActionKind.REFUND) == []


def test_platform_refundable_quantity_is_respected():
    o = order(oline(qty=2, refundable_qty=0))
    p = run(facts(sellable_return(), o))
    assert keys(p, ActionKind.REFUND) == []
    assert p.exceptions_open[0].type is ExceptionType.ALREADY_REFUNDED


def test_our_own_refund_is_never_mistaken_for_an_earlier_one():
    f = authorised(facts(sellable_return(), order(oline(qty=1, refundable_qty=1))))
    f = execute(run(f), f)
    f = replace(f, order=replace(f.order, lines=(oline(qty=1, refundable_qty=0),)))
    p = run(f)
    assert ExceptionType.ALREADY_REFUNDED not in p.open_types()
    assert p.state is State.CLOSED


def test_replacement_order_nobody_here_made_holds_refund_and_exchange():
    o = replace(order(), replacement_order_refs=("1001-R",))
    p = run(facts(sellable_return(), o))
    assert keys(p, ActionKind.REFUND) == []
    (exc,) = p.exceptions_open
    assert exc.key == "rl:R1:exc:already_refunded:replacement"
    ours = run(facts(sellable_return(), o, our_replacement_orders=frozenset({"1001-R"})))
    assert keys(ours, ActionKind.REFUND) == ["rl:R1:refund:1"]
    resolved = run(facts(sellable_return(), o, resolved_exceptions=frozenset({exc.key})))
    assert keys(resolved, ActionKind.REFUND) == [] and resolved.exceptions_open == []


def test_resolved_already_refunded_line_is_settled_by_hand():
    f = facts(sellable_return(), manual_refund(order()),
              resolved_exceptions=frozenset({"rl:R1:exc:already_refunded:1"}))
    p = run(f)
    assert keys(p, ActionKind.REFUND) == [] and p.exceptions_open == []
    assert run(execute(p, f)).state is State.CLOSED


def test_cancelled_after_everything_was_planned_no_longer_blocks():
    f = authorised(facts(sellable_return()))
    f = execute(run(f), f)
    f = replace(f, order=replace(f.order, state=OrderState.CANCELLED))
    p = run(f)
    assert ExceptionType.ORDER_NOT_RETURNABLE not in p.open_types()
    assert p.state is State.CLOSED
    gone = replace(f, order=None)
    assert run(gone).state is State.CLOSED


def test_order_not_returnable_resolved_by_a_person():
    o = replace(order(), state=OrderState.CANCELLED)
    key = "rl:R1:exc:order_not_returnable"
    f = facts(sellable_return(), o, resolved_exceptions=frozenset({key}))
    p = run(f)
    assert p.exceptions_open == []
    assert run(execute(p, f)).state is State.CLOSED


def test_match_by_line_ref_and_refuse_a_ref_to_a_different_sku():
    o = order(oline("A", "TEE-M"), oline("B", "TEE-L"))
    maps = mappings()
    assert match_order_line(rline(order_line_ref="B", sku="TEE-L"), o, maps).order_line.line_ref == "B"
    assert match_order_line(rline(order_line_ref="A", sku="TEE-L"), o, maps) is None
    assert match_order_line(rline(order_line_ref="Z"), o, maps) is None


def test_rejected_on_platform_before_money_plans_nothing():
    f = facts(ret(status=PlatformStatus.REJECTED),
              open_exceptions=frozenset({"rl:R1:exc:unknown_reason:x"}),
              open_holds=frozenset({"rl:R1:hold:unknown_reason"}))
    p = run(f)
    assert p.state is State.REJECTED and p.actions == []
    assert [c.key for c in p.exceptions_close] == ["rl:R1:exc:unknown_reason:x"]
    assert [c.key for c in p.holds_release] == ["rl:R1:hold:unknown_reason"]
    assert run(facts(ret(status=PlatformStatus.EXPIRED))).state is State.CANCELLED
    assert run(facts(ret(status=PlatformStatus.CANCELLED))).state is State.CANCELLED


def test_cancelled_on_platform_after_refund_landed_still_closes_the_books():
    f = facts(sellable_return())
    f = execute(run(f), f, only={ActionKind.REFUND})
    f = replace(f, ret=replace(f.ret, status=PlatformStatus.CANCELLED))
    p = run(f)
    assert p.state is State.REFUNDED
    assert keys(p, ActionKind.CREDIT_NOTE) == ["rl:R1:credit_note:1"]


def test_graded_unit_count_uses_gradings_not_requested():
    r = ret(rline(qty=1, gradings=graded((Condition.SELLABLE, 1))))
    assert run(facts(r)).value == Money.parse("20.00", "GBP")


def test_manual_refund_before_our_pending_refund_went_out_cancels_ours():
    from rules.lifecycle import ActionStatus

    f = facts(sellable_return())
    f = execute(run(f), f, status=ActionStatus.PENDING, only={ActionKind.REFUND,
                                                            ActionKind.CREDIT_NOTE})
    f = replace(f, order=manual_refund(f.order))
    p = run(f)
    assert [c.key for c in p.actions_cancel] == ["rl:R1:refund:1", "rl:R1:credit_note:1"]
    assert "never a second refund" in p.actions_cancel[0].why
    assert keys(p, ActionKind.REFUND) == keys(p, ActionKind.CREDIT_NOTE) == []
    assert p.state is State.BLOCKED
    assert ExceptionType.ALREADY_REFUNDED in p.open_types()
    # the engine cancelled it: blocked until finance resolves, then settled by hand
    cancelled = replace(f, outcomes={k: replace(o, status=ActionStatus.CANCELLED)
                                     for k, o in f.outcomes.items()})
    p2 = run(cancelled)
    assert p2.actions_cancel == [] and p2.state is State.BLOCKED
    resolved = replace(cancelled, resolved_exceptions=frozenset({"rl:R1:exc:already_refunded:1"}))
    done = execute(run(resolved), resolved, only={ActionKind.RESTOCK, ActionKind.TAG_ORDER,
                                                   ActionKind.CREATE_RETURN_RECORD})
    assert run(done).state is State.CLOSED
