"""Hypothesis properties of the decision core.

- plan is deterministic: the same facts give the same plan (keys, payloads, words);
- plan is idempotent: executing its actions and planning again never adds a second refund;
- no refund is ever planned before every refunded line is graded, nor above what is refundable;
- bundle shares always sum exactly to the bundle price, for any weights and currency;
- money round-trips through every currency exponent.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rulekit import T0, execute, mappings, run

from rules.amounts import bundle_unit_shares, refundable_balance
from rules.facts import Facts
from rules.lifecycle import ActionKind
from rules.mappings import Bundle, BundleComponent
from rules.model import (
    Condition,
    Grading,
    Order,
    OrderLine,
    OrderRefund,
    OrderRefundLine,
    PlatformStatus,
    Resolution,
    Return,
    ReturnLine,
)
from rules.money import _EXPONENTS, Money, PreciseMoney, currency_exponent
from rules.policy import Policy

CURRENCIES = ["GBP", "JPY", "KWD", "CLF", "EUR", "USD"] + sorted(_EXPONENTS)
SKUS = ["TEE-M", "TEE-L", "MUG", "TEA", "GIFT-SET"]
REASONS = ["Too small", "Too big", "It's broken", "Meh", ""]

minor = st.integers(min_value=0, max_value=10**9)


@st.composite
def scenario(draw):
    currency = draw(st.sampled_from(["GBP", "JPY", "KWD"]))
    skus = draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=3, unique=True))
    order_lines = []
    for i, sku in enumerate(skus):
        qty = draw(st.integers(1, 4))
        price = Money(draw(st.integers(0, 50_000)), currency)
        precise = None
        if draw(st.booleans()):
            digits = currency_exponent(currency) + draw(st.integers(1, 3))
            precise = PreciseMoney(price.minor * 10 ** (digits - currency_exponent(currency))
                                   + draw(st.integers(0, 9)), currency, digits)
        tax = Money(draw(st.integers(0, 5_000)), currency) if draw(st.booleans()) else None
        order_lines.append(OrderLine(f"OL{i}", sku, qty, price, unit_tax=tax,
                                     unit_price_precise=precise))
    refunds = []
    if draw(st.booleans()):
        ol = draw(st.sampled_from(order_lines))
        refunds.append(OrderRefund("m1", Money(draw(st.integers(0, 20_000)), currency),
                                   (OrderRefundLine(ol.line_ref, draw(st.integers(0, ol.qty))),),
                                   T0 + timedelta(minutes=draw(st.integers(-600, 600)))))
    order = Order("1001", "o-1001", currency, tuple(order_lines), refunds=tuple(refunds))
    lines = []
    for i, ol in enumerate(order_lines):
        qty = draw(st.integers(1, ol.qty))
        gradings = []
        for _ in range(draw(st.integers(0, 2))):
            gradings.append(Grading(draw(st.sampled_from(list(Condition))),
                                    draw(st.integers(1, qty)), "uk-dc",
                                    T0 + timedelta(minutes=draw(st.integers(0, 600)))))
        lines.append(ReturnLine(str(i), ol.sku, qty, raw_reason=draw(st.sampled_from(REASONS)),
                                resolution=draw(st.sampled_from(list(Resolution))),
                                exchange_sku="TEE-XL", gradings=tuple(gradings)))
    status = draw(st.sampled_from([PlatformStatus.REQUESTED, PlatformStatus.IN_TRANSIT,
                                   PlatformStatus.RECEIVED]))
    ret = Return("R1", "rebound", "rb1", "1001", tuple(lines), T0, status=status)
    pol = Policy.from_dict({"approval_threshold": {currency: draw(st.sampled_from(
        ["0", "100", "1000000"]))}, "always_hold": draw(st.booleans()),
        "include_tax": draw(st.booleans())})
    return Facts(ret, order), pol


def approve_all(f: Facts, p) -> Facts:
    from rules.facts import HoldDecision
    from rules.lifecycle import Verdict
    decisions = {h.key: HoldDecision(h.key, Verdict.APPROVED, "prop") for h in p.holds}
    return replace(f, hold_decisions={**f.hold_decisions, **decisions})


SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
NOW = T0 + timedelta(hours=12)


@SETTINGS
@given(scenario())
def test_plan_is_deterministic(case):
    f, pol = case
    a, b = run(f, pol, mappings(), NOW), run(f, pol, mappings(), NOW)
    assert a.to_json() == b.to_json()


@SETTINGS
@given(scenario())
def test_planning_with_its_own_outcomes_never_adds_a_refund(case):
    f, pol = case
    p = run(f, pol, mappings(), NOW)
    for _ in range(3):  # execute, approve what is held, plan again
        f = approve_all(execute(p, f, NOW), p)
        p2 = run(f, pol, mappings(), NOW)
        assert len(p2.of_kind(ActionKind.REFUND)) <= 1
        assert all(a.key == "rl:R1:refund:1" for a in p2.of_kind(ActionKind.REFUND))
        p = p2
    done = execute(p, f, NOW)
    final = run(done, pol, mappings(), NOW)
    new = {a.key for a in final.actions} - set(done.outcomes)
    assert not {k for k in new if ":refund:" in k or ":credit_note:" in k}
    refunds = [r for r in done.order.refunds if r.idempotency_key]
    assert len(refunds) <= 1


@SETTINGS
@given(scenario())
def test_no_refund_before_grading_or_above_refundable(case):
    f, pol = case
    p = run(approve_all(f, run(f, pol, mappings(), NOW)), pol, mappings(), NOW)
    for refund in p.of_kind(ActionKind.REFUND):
        for line in f.ret.lines:
            if line.resolution is Resolution.REFUND:
                assert line.qty_graded >= line.qty
        amount = Money.from_json(refund.payload["amount"])
        assert amount.minor <= refundable_balance(f.order).minor
        assert amount.minor > 0
        parts = [Money.from_json(ln["amount"]) for ln in refund.payload["lines"]]
        assert sum(parts, Money.zero(amount.currency)) == amount
        refunded_units = {ln["line_id"]: ln["qty"] for ln in refund.payload["lines"]}
        for line in f.ret.lines:
            assert refunded_units.get(line.line_id, 0) <= line.qty


@settings(max_examples=300, deadline=None)
@given(price=minor, currency=st.sampled_from(CURRENCIES),
       comps=st.lists(st.tuples(st.integers(1, 5), st.integers(0, 1000)), min_size=1,
                      max_size=6))
def test_bundle_shares_always_sum_to_the_bundle_price(price, currency, comps):
    if sum(q * w for q, w in comps) == 0:
        comps = [(comps[0][0], 1), *comps[1:]]
    bundle = Bundle("B", tuple(BundleComponent(f"C{i}", q, w) for i, (q, w) in enumerate(comps)))
    total = Money(price, currency)
    shares = bundle_unit_shares(bundle, total)
    assert sum((m for ms in shares.values() for m in ms), Money.zero(currency)) == total
    assert [len(shares[f"C{i}"]) for i in range(len(comps))] == [q for q, _ in comps]
    assert all(m.minor >= 0 for ms in shares.values() for m in ms)


@settings(max_examples=300, deadline=None)
@given(value=st.integers(min_value=-10**15, max_value=10**15),
       currency=st.sampled_from(CURRENCIES))
def test_money_round_trips_through_every_currency_exponent(value, currency):
    m = Money(value, currency)
    assert Money.parse(m.amount_str(), currency) == m
    assert Money.from_json(m.to_json()) == m
    assert Money.from_decimal(m.to_decimal(), currency) == m
    assert Decimal(m.amount_str()).as_tuple().exponent == -m.exponent


def test_money_from_json_refuses_garbage():
    import pytest

    from rules.money import MoneyError
    with pytest.raises(MoneyError):
        Money.from_json({"amount": "1.00"})
    with pytest.raises(MoneyError):
        Money.from_json({"amount": "1.001", "currency": "GBP"})
