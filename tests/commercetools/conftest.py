"""The real connector against the real sandbox, in-process (SandboxTransport)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from ct_support import PROJECT, make_connector

from sync.connectors.commercetools import CommercetoolsConnector
from sync.sandbox.base import SandboxTransport, SimClock
from sync.sandbox.commercetools import CommercetoolsSandbox


@pytest.fixture
def clock() -> SimClock:
    return SimClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def sandbox(clock) -> CommercetoolsSandbox:
    sb = CommercetoolsSandbox(clock, project_key=PROJECT)
    sb.seed_location("uk-dc-sellable", sellable=True)
    sb.seed_location("uk-dc-quarantine", sellable=False)
    sb.seed_order("1001", currency="GBP", email="ann@example.com", lines=[
        {"sku": "TEE-M", "qty": 2, "unit_price": "20.00", "unit_tax": "4.00"},
        {"sku": "MUG", "qty": 1, "unit_price": "9.99"}])
    return sb


@pytest.fixture
def http(sandbox) -> httpx.Client:
    return httpx.Client(transport=SandboxTransport([sandbox]))


@pytest.fixture
def connector(http, clock) -> CommercetoolsConnector:
    return make_connector(http, clock)
