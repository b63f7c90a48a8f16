"""Exact money: integer minor units with the currency's ISO 4217 exponent.

Floats never appear here. Amounts from APIs arrive as strings ("15.0", "20.00") or as
commercetools' centAmount / preciseAmount + fractionDigits; all of them become Money (or
PreciseMoney, which is rounded once, half-even, when it turns into Money).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache

# ISO 4217 minor-unit exponents that differ from 2. Every other valid code uses 2.
_EXPONENTS: dict[str, int] = {
    # zero-decimal currencies
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0,
    # three-decimal currencies
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # four-decimal
    "CLF": 4, "UYW": 4,
}


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly."""


def currency_exponent(currency: str) -> int:
    code = normalise_currency(currency)
    return _EXPONENTS.get(code, 2)


def normalise_currency(currency: str) -> str:
    if not isinstance(currency, str):
        raise MoneyError(f"not an ISO 4217 currency code: {currency!r}")
    return _normalise_code(currency)


@lru_cache(maxsize=512)
def _normalise_code(currency: str) -> str:
    # cached: money is built many times per plan, over a handful of currencies
    if len(currency.strip()) != 3 or not currency.strip().isalpha():
        raise MoneyError(f"not an ISO 4217 currency code: {currency!r}")
    return currency.strip().upper()


def parse_decimal(value: str | int | Decimal) -> Decimal:
    """Parse an amount as sent by an API (string or int), refusing floats and garbage."""
    if isinstance(value, float):
        raise MoneyError(f"refusing float amount {value!r}: send a string")
    if isinstance(value, bool):
        raise MoneyError(f"not an amount: {value!r}")
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError) as exc:
        raise MoneyError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise MoneyError(f"not a finite amount: {value!r}")
    return amount


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An exact amount: `minor` units of `currency` (pence for GBP, yen for JPY, fils for KWD)."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise MoneyError(f"minor units must be an int, got {self.minor!r}")
        object.__setattr__(self, "currency", normalise_currency(self.currency))

    # construction -------------------------------------------------------------------------
    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, value: str | int | Decimal, currency: str) -> Money:
        """Exact parse: "20.00" GBP -> 2000. More decimals than the currency has is an error."""
        amount = parse_decimal(value)
        exp = currency_exponent(currency)
        scaled = amount.scaleb(exp)
        if scaled != scaled.to_integral_value():
            raise MoneyError(f"{value!r} has more decimals than {currency} allows ({exp})")
        return cls(int(scaled), currency)

    @classmethod
    def from_decimal(cls, amount: Decimal, currency: str) -> Money:
        """Round once, half-even, to the currency's minor unit."""
        exp = currency_exponent(currency)
        scaled = parse_decimal(amount).scaleb(exp).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
        return cls(int(scaled), currency)

    # views --------------------------------------------------------------------------------
    @property
    def exponent(self) -> int:
        return currency_exponent(self.currency)

    def to_decimal(self) -> Decimal:
        exp = self.exponent
        return Decimal(self.minor).scaleb(-exp).quantize(Decimal(1).scaleb(-exp))

    def amount_str(self) -> str:
        """The plain decimal string with the currency's exponent: "20.00", "1500", "1.250".
        (Integer arithmetic: the same text as str(to_decimal()), without Decimal's cost on
        every payload a plan writes.)"""
        exp = self.exponent
        if exp == 0:
            return str(self.minor)
        whole, part = divmod(abs(self.minor), 10 ** exp)
        return f"{'-' if self.minor < 0 else ''}{whole}.{part:0{exp}d}"

    def __str__(self) -> str:
        return f"{self.currency} {self.amount_str()}"

    # arithmetic (same currency only) ---------------------------------------------------------
    def _check(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise MoneyError(f"currency mismatch: {self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.minor - other.minor, self.currency)

    def __mul__(self, qty: int) -> Money:
        if not isinstance(qty, int) or isinstance(qty, bool):
            raise TypeError("Money can only be multiplied by an int quantity")
        return Money(self.minor * qty, self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def is_zero(self) -> bool:
        return self.minor == 0

    def min(self, other: Money) -> Money:
        self._check(other)
        return self if self.minor <= other.minor else other

    # JSON (payloads, the timeline, the replay output) -------------------------------------
    def to_json(self) -> dict[str, str]:
        """{"amount": "20.00", "currency": "GBP"}: a decimal string, never a float."""
        return {"amount": self.amount_str(), "currency": self.currency}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Money:
        """The inverse of `to_json` (exact; refuses more decimals than the currency has)."""
        if not isinstance(data, dict) or "amount" not in data or "currency" not in data:
            raise MoneyError(f"not a money object {{amount, currency}}: {data!r}")
        return cls.parse(data["amount"], data["currency"])


@dataclass(frozen=True, slots=True)
class PreciseMoney:
    """commercetools' high-precision money: `preciseAmount` in 10^-fraction_digits units.

    Kept exact through multiplication; rounded once, half-even, by `to_money()`.
    """

    precise_amount: int
    currency: str
    fraction_digits: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "currency", normalise_currency(self.currency))
        if self.fraction_digits < 0:
            raise MoneyError("fraction_digits must be >= 0")

    def to_decimal(self) -> Decimal:
        return Decimal(self.precise_amount).scaleb(-self.fraction_digits)

    def __mul__(self, qty: int) -> PreciseMoney:
        return PreciseMoney(self.precise_amount * qty, self.currency, self.fraction_digits)

    def __add__(self, other: PreciseMoney) -> PreciseMoney:
        if other.currency != self.currency:
            raise MoneyError(f"currency mismatch: {self.currency} vs {other.currency}")
        digits = max(self.fraction_digits, other.fraction_digits)
        a = self.precise_amount * 10 ** (digits - self.fraction_digits)
        b = other.precise_amount * 10 ** (digits - other.fraction_digits)
        return PreciseMoney(a + b, self.currency, digits)

    def to_money(self) -> Money:
        return Money.from_decimal(self.to_decimal(), self.currency)


def split_largest_remainder(total: Money, weights: list[int]) -> list[Money]:
    """Split `total` into parts proportional to `weights`, summing exactly to `total`.

    Largest-remainder (Hamilton) method in minor units; ties go to the earlier part so the
    result is deterministic. Weights must be non-negative with a positive sum.
    """
    if not weights:
        raise MoneyError("cannot split over no parts")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise MoneyError(f"weights must be non-negative with a positive sum: {weights}")
    wsum = sum(weights)
    sign = -1 if total.minor < 0 else 1
    whole = abs(total.minor)
    floors = [whole * w // wsum for w in weights]
    remainders = [whole * w % wsum for w in weights]
    left = whole - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        floors[i] += 1
    return [Money(sign * f, total.currency) for f in floors]
