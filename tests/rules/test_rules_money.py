"""Money is exact: parsing, rounding once half-even, arithmetic in one currency only."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rules.money import (
    Money,
    MoneyError,
    PreciseMoney,
    currency_exponent,
    parse_decimal,
    split_largest_remainder,
)


def test_parse_and_show_with_the_currency_exponent():
    assert Money.parse("15.0", "gbp") == Money(1500, "GBP")
    assert str(Money.parse("1500", "JPY")) == "JPY 1500"
    assert Money.parse(" 1.250 ", "KWD").amount_str() == "1.250"
    assert Money.parse(3, "GBP").minor == 300
    assert currency_exponent("clf") == 4


@pytest.mark.parametrize("value", [1.5, True, "abc", "NaN", "Infinity"])
def test_refuses_floats_and_garbage(value):
    with pytest.raises(MoneyError):
        parse_decimal(value)


def test_refuses_bad_currency_and_non_int_minor_and_extra_decimals():
    for bad in ("GB", "G1P", 12):
        with pytest.raises(MoneyError):
            Money(1, bad)
    with pytest.raises(MoneyError):
        Money(1.0, "GBP")
    with pytest.raises(MoneyError):
        Money.parse("1.001", "GBP")


def test_rounding_is_half_even_once():
    assert Money.from_decimal(Decimal("0.125"), "GBP") == Money(12, "GBP")
    assert Money.from_decimal(Decimal("0.135"), "GBP") == Money(14, "GBP")
    p = PreciseMoney(125, "GBP", 3) * 3
    assert p.to_money() == Money(38, "GBP")
    assert (PreciseMoney(1, "GBP", 3) + PreciseMoney(5, "GBP", 4)).to_decimal() == Decimal("0.0015")
    with pytest.raises(MoneyError):
        PreciseMoney(1, "GBP", 3) + PreciseMoney(1, "EUR", 3)
    with pytest.raises(MoneyError):
        PreciseMoney(1, "GBP", -1)


def test_arithmetic_stays_in_one_currency():
    a, b = Money(500, "GBP"), Money(200, "GBP")
    assert a + b == Money(700, "GBP") and a - b == Money(300, "GBP") and -a == Money(-500, "GBP")
    assert a * 3 == 3 * a == Money(1500, "GBP")
    assert a.min(b) == b and b.min(a) == b and Money.zero("GBP").is_zero()
    with pytest.raises(MoneyError):
        a + Money(1, "EUR")
    with pytest.raises(TypeError):
        a + 1
    with pytest.raises(TypeError):
        a * 1.5


def test_split_largest_remainder_sums_exactly_and_refuses_nonsense():
    parts = split_largest_remainder(Money(100, "GBP"), [1, 1, 1])
    assert parts == [Money(34, "GBP"), Money(33, "GBP"), Money(33, "GBP")]
    neg = split_largest_remainder(Money(-100, "GBP"), [1, 1, 1])
    assert sum(p.minor for p in neg) == -100
    for weights in ([], [0, 0], [-1, 2]):
        with pytest.raises(MoneyError):
            split_largest_remainder(Money(100, "GBP"), weights)


@pytest.mark.parametrize("minor", [0, 1, -1, 5, -5, 99, 100, -100, 1050, -987654321])
@pytest.mark.parametrize("currency", ["GBP", "JPY", "KWD", "CLF"])
def test_amount_text_is_the_exact_decimal_with_the_currency_exponent(minor, currency):
    money = Money(minor, currency)
    assert money.amount_str() == str(money.to_decimal())
    assert Money.parse(money.amount_str(), currency) == money
