"""Rule 6: bundles refund and restock by component; shares sum exactly to the bundle price."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from rulekit import T0, facts, gbp, graded, keys, mappings, oline, order, ret, rline, run

from rules.amounts import bundle_unit_shares, component_refund
from rules.lifecycle import ActionKind, ExceptionType
from rules.model import Condition, OrderRefund, OrderRefundLine

# GIFT-SET = 2 x MUG (weight 1 each) + 1 x TEA (weight 2): 4 weight units
BUNDLE_LINE = oline("GS", "GIFT-SET", 1, "10.01")


def test_component_shares_sum_exactly_to_the_bundle_price():
    bundle = mappings().bundle("GIFT-SET")
    shares = bundle_unit_shares(bundle, gbp("10.01"))
    # 1001 pence over weights 1, 1, 2: 250 + 250 + 500, the spare penny to the largest remainder
    assert shares["MUG"] == [gbp("2.50"), gbp("2.50")] and shares["TEA"] == [gbp("5.01")]
    assert sum(shares["MUG"] + shares["TEA"], gbp("0")) == gbp("10.01")


def test_returned_component_refunds_its_share_and_restocks_the_component():
    r = ret(rline(sku="TEA", reason="Too big", gradings=graded(Condition.SELLABLE)))
    p = run(facts(r, order(BUNDLE_LINE)))
    (refund,) = p.of_kind(ActionKind.REFUND)
    assert refund.payload["amount"]["amount"] == "5.01"
    assert refund.payload["lines"][0] | {} == {
        "line_id": "1", "line_ref": "GS", "sku": "TEA", "qty": 1,
        "amount": {"amount": "5.01", "currency": "GBP"}}
    (move,) = p.of_kind(ActionKind.RESTOCK)
    assert (move.payload["sku"], move.payload["delta"]) == ("TEA", 1)


def test_all_components_returned_separately_add_up_to_the_bundle_price():
    r = ret(rline("1", "MUG", 2, gradings=graded((Condition.SELLABLE, 2))),
            rline("2", "TEA", 1, gradings=graded(Condition.SELLABLE)))
    (refund,) = run(facts(r, order(BUNDLE_LINE))).of_kind(ActionKind.REFUND)
    assert refund.payload["amount"]["amount"] == "10.01"


def test_whole_bundle_returned_refunds_the_bundle_and_restocks_every_component():
    r = ret(rline(sku="GIFT-SET", gradings=graded(Condition.SELLABLE)))
    p = run(facts(r, order(BUNDLE_LINE)))
    assert p.of_kind(ActionKind.REFUND)[0].payload["amount"]["amount"] == "10.01"
    assert sorted((a.key, a.payload["sku"], a.payload["delta"])
                  for a in p.of_kind(ActionKind.RESTOCK)) == [
        ("rl:R1:restock:1:1:MUG", "MUG", 2), ("rl:R1:restock:1:1:TEA", "TEA", 1)]


def test_component_of_bundle_lines_sold_as_components_refunds_the_line_price():
    line = oline("C1", "MUG", 2, "3.00", bundle_sku="GIFT-SET")
    r = ret(rline(sku="MUG", gradings=graded(Condition.SELLABLE)))
    assert run(facts(r, order(line))).of_kind(ActionKind.REFUND)[0].payload["amount"][
        "amount"] == "3.00"


def test_component_matched_through_the_bundle_line_ref():
    r = ret(rline(sku="MUG", order_line_ref="GS", gradings=graded(Condition.SELLABLE)))
    (refund,) = run(facts(r, order(BUNDLE_LINE))).of_kind(ActionKind.REFUND)
    assert refund.payload["amount"]["amount"] == "2.50"


def test_more_components_than_the_bundles_hold_is_not_returnable():
    r = ret(rline(sku="TEA", qty=2, gradings=graded((Condition.SELLABLE, 2))))
    p = run(facts(r, order(BUNDLE_LINE)))
    assert p.exceptions_open[0].type is ExceptionType.ORDER_NOT_RETURNABLE
    assert "2 x TEA returned but the order now has only 1" in p.exceptions_open[0].message


def test_component_already_refunded_on_its_own_is_not_refunded_again():
    earlier = OrderRefund("m1", gbp("5.00"), (OrderRefundLine("GS", 1, "TEA"),),
                          T0 - timedelta(days=1))
    o = replace(order(BUNDLE_LINE), refunds=(earlier,))
    r = ret(rline(sku="TEA", gradings=graded(Condition.SELLABLE)))
    p = run(facts(r, o))
    assert keys(p, ActionKind.REFUND) == []
    assert p.exceptions_open[0].type is ExceptionType.ALREADY_REFUNDED
    # a refund of the MUG component does not touch the TEA
    mug = OrderRefund("m2", gbp("2.51"), (OrderRefundLine("GS", 1, "MUG"),), T0 + timedelta(1))
    o2 = replace(order(BUNDLE_LINE), refunds=(mug,))
    assert keys(run(facts(r, o2)), ActionKind.REFUND) == ["rl:R1:refund:1"]


def test_component_refund_takes_units_bundle_after_bundle():
    bundle = mappings().bundle("GIFT-SET")
    assert component_refund(bundle, "MUG", 3, gbp("10.01")) == gbp("7.50")
