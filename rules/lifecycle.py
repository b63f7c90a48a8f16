"""The fixed vocabulary of a return's life: states, exception types, action kinds, holds.

These names are a contract: storage stores them, the console shows them, the scenario replay
prints them. Never rename a value; add new ones only.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where a return stands, as the console shows it."""

    REQUESTED = "requested"  # the customer asked; nothing shipped yet
    AWAITING_ORDER = "awaiting_order"  # the commerce order is not visible yet (bounded wait)
    BLOCKED = "blocked"  # a person must act before money can move (see the open exceptions)
    IN_TRANSIT = "in_transit"  # the parcel is on its way back
    RECEIVED = "received"  # at the warehouse, not (fully) graded: no refund yet
    GRADED = "graded"  # every line graded; nothing money-wise waiting on us
    AWAITING_APPROVAL = "awaiting_approval"  # a refund waits for a supervisor
    REFUNDING = "refunding"  # the refund (or platform approval) is planned, not landed yet
    REFUNDED = "refunded"  # the money landed; books or stock still catching up
    CLOSED = "closed"  # money, stock and books agree for every line
    REJECTED = "rejected"  # the platform or a supervisor refused the return's refund
    CANCELLED = "cancelled"  # the customer or platform cancelled / let it expire


class ExceptionType(StrEnum):
    """What went wrong, each with an owner team (see `rules.policy.DEFAULT_OWNERS`)."""

    UNKNOWN_REASON = "unknown_reason"
    ORDER_NOT_FOUND = "order_not_found"
    ORDER_NOT_RETURNABLE = "order_not_returnable"
    ALREADY_REFUNDED = "already_refunded"
    REFUND_FAILED = "refund_failed"
    RESTOCK_FAILED = "restock_failed"
    CREDIT_NOTE_FAILED = "credit_note_failed"
    EXCHANGE_FAILED = "exchange_failed"
    AMOUNT_MISMATCH = "amount_mismatch"
    MISSING_ITEM = "missing_item"
    SLA_BREACH = "sla_breach"
    DRIFT = "drift"
    RETURN_AUTHORISATION_FAILED = "return_authorisation_failed"


class Target(StrEnum):
    """Which kind of system performs an action; the engine maps it to the configured system."""

    COMMERCE = "commerce"
    ERP = "erp"
    PLATFORM = "platform"


class ActionKind(StrEnum):
    """An effect Returnline performs exactly once in an external system."""

    CREATE_RETURN_RECORD = "create_return_record"  # in-flight visibility on the commerce order
    TAG_ORDER = "tag_order"  # mapped reasons into the order's tags/notes for CX
    APPROVE_PLATFORM_RETURN = "approve_platform_return"  # the platform's approval moves money
    REFUND = "refund"
    CREDIT_NOTE = "credit_note"
    RESTOCK = "restock"
    QUARANTINE = "quarantine"
    EXCHANGE_ORDER = "exchange_order"
    RETURN_AUTHORISATION = "return_authorisation"  # the ERP's record of a validated return

    @property
    def target(self) -> Target:
        if self in (ActionKind.CREDIT_NOTE, ActionKind.RETURN_AUTHORISATION):
            return Target.ERP
        if self is ActionKind.APPROVE_PLATFORM_RETURN:
            return Target.PLATFORM
        return Target.COMMERCE

    @property
    def batchable(self) -> bool:
        """Stock movements are gathered and sent together; everything else goes at once."""
        return self in (ActionKind.RESTOCK, ActionKind.QUARANTINE)

    @property
    def failure(self) -> ExceptionType:
        """The exception an action of this kind raises when it finally fails."""
        return _FAILURE[self]


# A return record or tag that the commerce system keeps refusing means the order will not
# take the return as it stands: that is CX's "order not returnable" queue.
_FAILURE: dict[ActionKind, ExceptionType] = {
    ActionKind.CREATE_RETURN_RECORD: ExceptionType.ORDER_NOT_RETURNABLE,
    ActionKind.TAG_ORDER: ExceptionType.ORDER_NOT_RETURNABLE,
    ActionKind.APPROVE_PLATFORM_RETURN: ExceptionType.REFUND_FAILED,
    ActionKind.REFUND: ExceptionType.REFUND_FAILED,
    ActionKind.CREDIT_NOTE: ExceptionType.CREDIT_NOTE_FAILED,
    ActionKind.RESTOCK: ExceptionType.RESTOCK_FAILED,
    ActionKind.QUARANTINE: ExceptionType.RESTOCK_FAILED,
    ActionKind.EXCHANGE_ORDER: ExceptionType.EXCHANGE_FAILED,
    ActionKind.RETURN_AUTHORISATION: ExceptionType.RETURN_AUTHORISATION_FAILED,
}


class ActionStatus(StrEnum):
    """An action's outcome as the outbox knows it (what `Facts.outcomes` carries)."""

    PENDING = "pending"  # planned / ready / in flight / waiting on a dependency
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # failed, will be retried
    DEAD = "dead"  # gave up after the retry budget: a person must look
    CANCELLED = "cancelled"


class HoldKind(StrEnum):
    REFUND_APPROVAL = "refund_approval"  # a supervisor must approve the refund
    UNKNOWN_REASON = "unknown_reason"  # the refund waits until the reason is mapped


class Verdict(StrEnum):
    """A supervisor's decision on a hold."""

    APPROVED = "approved"
    REJECTED = "rejected"
