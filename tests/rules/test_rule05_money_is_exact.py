"""Rule 5: current price after discounts (+tax by policy) x qty, capped, rounded once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from rulekit import T0, facts, graded, manual_refund, oline, order, policy, ret, rline, run

from rules.amounts import RefundPart, refund_amount, refundable_balance
from rules.lifecycle import ActionKind, State
from rules.model import Condition, OrderLine
from rules.money import Money, PreciseMoney


def refund_of(p):
    (a,) = p.of_kind(ActionKind.REFUND)
    return a.payload


def two_lines(**kw):
    return ret(rline("1", "TEE-M", 1, gradings=graded(Condition.SELLABLE)),
               rline("2", "TEE-L", 2, gradings=graded((Condition.SELLABLE, 2))), **kw)


def test_refund_is_current_unit_price_times_quantity_per_line():
    o = order(oline("A", "TEE-M", 1, "19.99"), oline("B", "TEE-L", 3, "7.45"))
    payload = refund_of(run(facts(two_lines(), o)))
    assert payload["amount"] == {"amount": "34.89", "currency": "GBP"}
    assert [ln["amount"]["amount"] for ln in payload["lines"]] == ["19.99", "14.90"]


def test_tax_is_included_or_not_by_policy():
    o = order(oline(price="20.00", tax="4.00"))
    r = ret(rline(gradings=graded(Condition.SELLABLE)))
    assert refund_of(run(facts(r, o)))["amount"]["amount"] == "24.00"
    assert refund_of(run(facts(r, o), policy(include_tax=False)))["amount"]["amount"] == "20.00"


def test_refund_never_exceeds_what_is_still_refundable():
    # a goodwill refund of 15.00 (no units) was made by hand before the return
    o = manual_refund(order(oline(qty=1)), qty=0, amount="15.00", at=T0 - timedelta(days=1))
    p = run(facts(ret(rline(gradings=graded(Condition.SELLABLE))), o))
    assert refund_of(p)["amount"]["amount"] == "5.00"
    assert any("capped at GBP 5.00" in d for d in p.decisions)


def test_fully_refunded_by_amount_means_nothing_to_refund():
    o = manual_refund(order(oline(qty=1)), qty=0, amount="20.00", at=T0 - timedelta(days=1))
    p = run(facts(ret(rline(gradings=graded(Condition.SELLABLE))), o))
    assert p.of_kind(ActionKind.REFUND) == [] and p.of_kind(ActionKind.CREDIT_NOTE) == []
    assert any("Nothing to refund" in d for d in p.decisions)
    assert p.state is State.GRADED


def test_high_precision_rounding_is_done_once_per_refund_half_even():
    # commercetools preciseAmount 0.125 GBP per unit, 3 units: 0.375 -> 0.38 (once), not 3 x 0.12
    line = OrderLine("A", "PIN", 5, Money.parse("0.12", "GBP"),
                     unit_price_precise=PreciseMoney(125, "GBP", 3))
    r = ret(rline(sku="PIN", qty=3, gradings=graded((Condition.SELLABLE, 3))))
    assert refund_of(run(facts(r, order(line))))["amount"]["amount"] == "0.38"
    # 0.125 x 1 = 0.125 -> half-even to 0.12
    r1 = ret(rline(sku="PIN", qty=1, gradings=graded(Condition.SELLABLE)))
    assert refund_of(run(facts(r1, order(line))))["amount"]["amount"] == "0.12"


def test_high_precision_lines_split_back_exactly_from_the_rounded_total():
    a = OrderLine("A", "PIN", 5, Money.parse("0.12", "GBP"),
                  unit_price_precise=PreciseMoney(1255, "GBP", 4))
    b = OrderLine("B", "BADGE", 5, Money.parse("0.34", "GBP"),
                  unit_price_precise=PreciseMoney(3335, "GBP", 4))
    r = ret(rline("1", "PIN", 1, gradings=graded(Condition.SELLABLE)),
            rline("2", "BADGE", 1, gradings=graded(Condition.SELLABLE)))
    payload = refund_of(run(facts(r, order(a, b))))
    total = Decimal(payload["amount"]["amount"])
    assert total == Decimal("0.46")  # 0.459 rounded once
    assert sum(Decimal(ln["amount"]["amount"]) for ln in payload["lines"]) == total


def test_zero_decimal_and_three_decimal_currencies():
    jpy = order(oline(price="1999", currency="JPY"), currency="JPY")
    r = ret(rline(gradings=graded(Condition.SELLABLE)))
    assert refund_of(run(facts(r, jpy)))["amount"] == {"amount": "1999", "currency": "JPY"}
    kwd = order(oline(price="12.345", currency="KWD"), currency="KWD")
    assert refund_of(run(facts(r, kwd)))["amount"] == {"amount": "12.345", "currency": "KWD"}


def test_refund_amount_helpers():
    empty = refund_amount([], "GBP")
    assert empty.total == Money.zero("GBP") and empty.lines == ()
    parts = [RefundPart("1", "A", "X", 1, Decimal(0)), RefundPart("2", "B", "Y", 1, Decimal(0))]
    zero = refund_amount(parts, "GBP")
    assert [m for _, m in zero.lines] == [Money.zero("GBP")] * 2
    o = replace(order(oline(qty=1)), refunds=())
    assert refundable_balance(o) == Money.parse("20.00", "GBP")
    over = manual_refund(o, amount="25.00")
    assert refundable_balance(over) == Money.zero("GBP")
