"""The canonical model every connector produces and every rule reads.

Connectors normalise their platform's payloads into these types (keeping the raw payload
elsewhere, on the timeline). Nothing here knows about HTTP, databases or the screen.
All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from rules.money import Money, PreciseMoney


class Platform(StrEnum):
    REBOUND = "rebound"
    RETURNGO = "returngo"
    HAPPY_RETURNS = "happy_returns"


class Commerce(StrEnum):
    SHOPIFY = "shopify"
    COMMERCETOOLS = "commercetools"


class PlatformStatus(StrEnum):
    """A returns platform's own status, normalised (reference: returns-platforms.md 7.3)."""

    REQUESTED = "requested"
    APPROVED = "approved"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    INSPECTED = "inspected"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Condition(StrEnum):
    """What the warehouse (or the platform's inspection) found, per unit or line."""

    SELLABLE = "sellable"
    DAMAGED = "damaged"
    FAULTY = "faulty"
    USED = "used"
    MISSING = "missing"
    WRONG_ITEM = "wrong_item"


class Disposition(StrEnum):
    """What happens to the goods: back on sale, quarantined, or nothing (not there)."""

    RESTOCK = "restock"
    QUARANTINE = "quarantine"
    NONE = "none"


class Resolution(StrEnum):
    REFUND = "refund"
    STORE_CREDIT = "store_credit"
    EXCHANGE = "exchange"


class MoneyMover(StrEnum):
    """Who moves the customer's money: Returnline (refund in commerce) or the platform."""

    RETURNLINE = "returnline"
    PLATFORM = "platform"


class OrderState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"  # fulfilled/archived but still refundable
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Grading:
    """The warehouse's verdict for (part of) one return line."""

    condition: Condition
    qty: int
    warehouse: str
    graded_at: datetime
    location: str | None = None  # where the warehouse put it, when it says
    notes: str = ""
    source: str = ""  # "shipbob", "csv:<file>", "returngo", ...


@dataclass(frozen=True, slots=True)
class ReturnLine:
    line_id: str  # stable within the return: the platform's line id or the order line ref
    sku: str
    qty: int
    order_line_ref: str | None = None  # the commerce order line this returns (None: match by SKU)
    raw_reason: str = ""  # as the customer/platform gave it, never rewritten
    platform_reason_code: str | None = None
    resolution: Resolution = Resolution.REFUND
    exchange_sku: str | None = None
    qty_received: int = 0
    gradings: tuple[Grading, ...] = ()
    unit_ids: tuple[str, ...] = ()  # platform per-unit ids (Happy Returns, ReturnGO)

    @property
    def qty_graded(self) -> int:
        return sum(g.qty for g in self.gradings)


@dataclass(frozen=True, slots=True)
class Return:
    return_id: str  # Returnline's id, stable: "{platform}:{platform_id}" unless given
    platform: str
    platform_id: str
    order_ref: str  # the commerce order number/name as the customer knows it
    lines: tuple[ReturnLine, ...]
    requested_at: datetime
    status: PlatformStatus = PlatformStatus.REQUESTED
    raw_status: str = ""
    rma: str | None = None
    customer_email: str | None = None
    store: str | None = None  # store / market / region the platform says the order belongs to
    currency: str | None = None
    destination_warehouse: str | None = None
    money_mover: MoneyMover = MoneyMover.RETURNLINE
    updated_at: datetime | None = None
    in_transit_at: datetime | None = None
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OrderLine:
    line_ref: str  # commerce line id (Shopify LineItem gid, commercetools lineItem id)
    sku: str
    qty: int
    unit_price: Money  # per unit, after discounts, before tax
    unit_tax: Money | None = None
    unit_price_precise: PreciseMoney | None = None  # commercetools high precision, when given
    refundable_qty: int | None = None  # as the platform reports it; None: derive from refunds
    bundle_sku: str | None = None  # set when this line is a bundle sold as one SKU


@dataclass(frozen=True, slots=True)
class OrderRefundLine:
    line_ref: str
    qty: int
    sku: str | None = None


@dataclass(frozen=True, slots=True)
class OrderRefund:
    """A refund that exists on the commerce order, made by us or by hand in the admin."""

    refund_id: str
    amount: Money
    lines: tuple[OrderRefundLine, ...]
    created_at: datetime
    note: str = ""
    idempotency_key: str | None = None  # ours, when the refund carries it (note / interactionId)


@dataclass(frozen=True, slots=True)
class Order:
    """The commerce order as it is now (not as it was when the return was requested)."""

    order_ref: str  # number / name
    order_id: str  # the commerce platform's id
    currency: str
    lines: tuple[OrderLine, ...]
    state: OrderState = OrderState.OPEN
    store: str | None = None
    cancelled_at: datetime | None = None
    refunds: tuple[OrderRefund, ...] = ()
    replacement_order_refs: tuple[str, ...] = ()  # exchange orders already linked to this one
    tags: tuple[str, ...] = ()
    version: int | None = None  # commercetools optimistic-concurrency version
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Location:
    location_id: str
    sellable: bool
    active: bool = True
    commerce_location_id: str | None = None  # Shopify Location gid / commercetools channel key


@dataclass(frozen=True, slots=True)
class Warehouse:
    warehouse_id: str
    locations: tuple[Location, ...] = field(default_factory=tuple)
    name: str = ""
