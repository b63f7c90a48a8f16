from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from rules.model import Order, OrderLine, Return, ReturnLine
from rules.money import Money
from sync.connectors.netsuite import NetSuiteConfig, NetSuiteErp, TokenBasedAuth
from sync.sandbox.base import SandboxTransport, SimClock
from sync.sandbox.netsuite import DEMO_TBA, NetSuiteSandbox

ACCOUNT = "1234567_SB1"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(START)


@pytest.fixture
def netsuite(clock) -> NetSuiteSandbox:
    sb = NetSuiteSandbox(clock, account_id=ACCOUNT)
    sb.seed_items(["TEE-M", "TEE-L", "MUG", "LAMP"])
    sb.seed_location("uk-dc-sellable")
    return sb


@pytest.fixture
def http(netsuite) -> httpx.Client:
    with httpx.Client(transport=SandboxTransport([netsuite])) as client:
        yield client


@pytest.fixture
def erp(http, netsuite, clock) -> NetSuiteErp:
    auth = TokenBasedAuth(ACCOUNT, clock=clock, **DEMO_TBA)
    return NetSuiteErp(http, NetSuiteConfig(account_id=ACCOUNT), auth, clock=clock)


def make_order(number: str, currency: str, lines: list[tuple[str, int, str]]) -> Order:
    return Order(order_ref=number, order_id=f"gid://{number}", currency=currency,
                 lines=tuple(OrderLine(f"L{i}", sku, qty, Money.parse(price, currency))
                             for i, (sku, qty, price) in enumerate(lines, 1)))


def make_return(return_id: str, order: Order, lines: list[tuple[str, int]]) -> Return:
    return Return(return_id=return_id, platform="rebound", platform_id=return_id,
                  order_ref=order.order_ref, requested_at=START,
                  lines=tuple(ReturnLine(f"{return_id}-{i}", sku, qty)
                              for i, (sku, qty) in enumerate(lines, 1)))
