"""Rule 10, and the return's state.

Closed means money, stock and books agree for every line:
- every line fully graded;
- money: refunded (our refund or the platform's approval landed), or exchanged (the
  replacement order exists), or store credit (issued by the platform), or nothing owed
  (a supervisor rejected it, nothing was there to refund) or settled by a person;
- books: the credit note for the refund exists;
- stock: every graded unit moved per its disposition;
- nothing left open: no hold waiting, no exception open for the return.

Otherwise the state says where the return stands, most pressing first (see `derive_state`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.lifecycle import ExceptionType, State
from rules.model import PlatformStatus, Return
from rules.refunds import MoneyStatus, MoneyVerdict, no_refund_on_received_alone, received

MONEY_DONE = (MoneyStatus.NONE, MoneyStatus.LANDED, MoneyStatus.REJECTED,
              MoneyStatus.NOTHING_TO_REFUND, MoneyStatus.SETTLED)
ORDER_PROBLEMS = (ExceptionType.ORDER_NOT_FOUND, ExceptionType.ORDER_NOT_RETURNABLE)


@dataclass(frozen=True)
class Settlement:
    """What is settled for the return as a whole (each computed by its own rule)."""

    graded: bool
    money: bool
    books: bool
    stock: bool
    exchange: bool
    nothing_open: bool

    @property
    def all_agree(self) -> bool:
        return all((self.graded, self.money, self.books, self.stock, self.exchange,
                    self.nothing_open))


def settlement(ret: Return, money: MoneyVerdict, books_settled: bool, stock_settled: bool,
               exchange_settled: bool, open_count: int) -> Settlement:
    return Settlement(graded=not no_refund_on_received_alone(list(ret.lines)),
                      money=money.status in MONEY_DONE, books=books_settled,
                      stock=stock_settled, exchange=exchange_settled,
                      nothing_open=open_count == 0)


def derive_state(ret: Return, money: MoneyVerdict, settled: Settlement, awaiting_order: bool,
                 open_types: set[ExceptionType]) -> State:
    """The most pressing truth about the return, in this order."""
    if settled.all_agree:
        return State.CLOSED
    if awaiting_order and money.status not in (MoneyStatus.LANDED, MoneyStatus.PLANNED):
        return State.AWAITING_ORDER
    if open_types & set(ORDER_PROBLEMS) and money.status is not MoneyStatus.LANDED:
        return State.BLOCKED
    status = money.status
    if status is MoneyStatus.REJECTED:
        return State.REJECTED
    if status is MoneyStatus.LANDED:
        return State.REFUNDED
    if status is MoneyStatus.HELD_APPROVAL:
        return State.AWAITING_APPROVAL
    if status in (MoneyStatus.HELD_REASON, MoneyStatus.BLOCKED):
        return State.BLOCKED
    if status is MoneyStatus.NOTHING_TO_REFUND and open_types:
        return State.BLOCKED
    if status is MoneyStatus.PLANNED:
        return State.REFUNDING
    if settled.graded:
        return State.GRADED
    if received(ret):
        return State.RECEIVED
    if ret.status is PlatformStatus.IN_TRANSIT or ret.in_transit_at is not None:
        return State.IN_TRANSIT
    return State.REQUESTED
