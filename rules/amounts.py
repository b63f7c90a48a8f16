"""Rules 5 and 6: exact refund amounts, and bundles split by largest remainder.

Rule 5, money is exact. A returned line refunds the order's CURRENT unit price after discounts
(plus the unit tax when the policy includes tax) times the quantity refunded. A refund is never
more than what is still refundable on the order (what the customer paid, tax included, minus
every refund already made by anyone else). High-precision prices (commercetools'
preciseAmount) are added up exactly and rounded ONCE per refund, half-even, to the currency's
minor unit; the refund's line amounts are then split from that rounded total by largest
remainder so they always add up to it.

Rule 6, bundles. A bundle's unit price (tax included when the policy includes tax) is split
over the units of its components in proportion to their weights, by largest remainder in minor
units, so the shares always add up exactly to the bundle price. A returned component refunds
the shares of the units returned and restocks the component SKU.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rules.mappings import Bundle
from rules.model import Order, OrderLine
from rules.money import Money, split_largest_remainder
from rules.policy import Policy


@dataclass(frozen=True)
class RefundPart:
    """One return line's part of a refund: how many units, priced how."""

    line_id: str
    line_ref: str
    sku: str
    qty: int
    exact: Decimal  # before the single rounding


@dataclass(frozen=True)
class RefundAmount:
    total: Money
    lines: tuple[tuple[RefundPart, Money], ...]  # each part with its rounded share of total
    exact: Decimal
    capped_from: Money | None = None  # set when the order's refundable balance capped it

    def lines_json(self) -> list[dict]:
        return [{"line_id": p.line_id, "line_ref": p.line_ref, "sku": p.sku, "qty": p.qty,
                 "amount": m.to_json()} for p, m in self.lines]


def bundle_unit_shares(bundle: Bundle, bundle_price: Money) -> dict[str, list[Money]]:
    """Rule 6: the bundle price split over every component unit, summing exactly to the price.

    Returns, per component SKU, the share of each of its units within ONE bundle.
    """
    units = [(c.sku, c.weight) for c in bundle.components for _ in range(c.qty)]
    shares = split_largest_remainder(bundle_price, [w for _, w in units])
    out: dict[str, list[Money]] = {c.sku: [] for c in bundle.components}
    for (sku, _), share in zip(units, shares, strict=True):
        out[sku].append(share)
    return out


def component_refund(bundle: Bundle, sku: str, qty: int, bundle_price: Money) -> Money:
    """The refund for `qty` units of component `sku`: the shares of those units, taken bundle
    after bundle in a fixed order so the same return always gives the same amount."""
    per_bundle = bundle_unit_shares(bundle, bundle_price)[sku]
    units = [per_bundle[i % len(per_bundle)] for i in range(qty)]
    return sum(units, Money.zero(bundle_price.currency))


def unit_gross(line: OrderLine, policy: Policy) -> Money:
    """One unit of an order line as refunded: price after discounts, plus tax by policy."""
    if policy.include_tax and line.unit_tax is not None:
        return line.unit_price + line.unit_tax
    return line.unit_price


def line_exact(line: OrderLine, qty: int, policy: Policy, bundle: Bundle | None = None,
               component_sku: str | None = None) -> Decimal:
    """Rule 5: the exact (unrounded) value of `qty` units of an order line or bundle component."""
    if bundle is not None and component_sku is not None:
        return component_refund(bundle, component_sku, qty, unit_gross(line, policy)).to_decimal()
    unit = (line.unit_price_precise.to_decimal() if line.unit_price_precise is not None
            else line.unit_price.to_decimal())
    if policy.include_tax and line.unit_tax is not None:
        unit += line.unit_tax.to_decimal()
    return unit * qty


def refundable_balance(order: Order, exclude_keys: frozenset[str] = frozenset()) -> Money:
    """What is still refundable on the order: paid (tax included) minus refunds already made,
    not counting the refunds carrying `exclude_keys` (this return's own)."""
    currency = Money.zero(order.currency).currency
    paid = sum((ln.unit_price.minor + (ln.unit_tax.minor if ln.unit_tax else 0)) * ln.qty
               for ln in order.lines)
    paid -= sum(r.amount.minor for r in order.refunds
                if r.idempotency_key not in exclude_keys and r.amount.currency == currency)
    return Money(max(paid, 0), currency)


def refund_amount(parts: list[RefundPart], currency: str, cap: Money | None = None) -> RefundAmount:
    """Rule 5: add the parts exactly, round once half-even, split back to lines exactly,
    and never exceed `cap` (the order's refundable balance)."""
    exact = sum((p.exact for p in parts), Decimal(0))
    total = Money.from_decimal(exact, currency)
    capped_from = None
    if cap is not None and total.minor > cap.minor:
        capped_from, total = total, cap
    shares = _split(total, [p.exact for p in parts])
    return RefundAmount(total, tuple(zip(parts, shares, strict=True)), exact, capped_from)


def _split(total: Money, exacts: list[Decimal]) -> list[Money]:
    if not exacts:
        return []
    if total.minor == 0 or sum(exacts) <= 0:
        return [Money.zero(total.currency) for _ in exacts]
    if len(exacts) == 1:
        return [total]
    digits = max(max(-e.as_tuple().exponent, 0) for e in exacts)
    weights = [max(int(e.scaleb(digits)), 0) for e in exacts]
    return split_largest_remainder(total, weights)
