"""Shopify sandbox + the real connector, wired through SandboxTransport on a SimClock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from sync.connectors.shopify import ShopifyConnector
from sync.sandbox.base import SandboxTransport, SimClock
from sync.sandbox.shopify import SANDBOX_ACCESS_TOKEN, ShopifySandbox

FULL_SCHEMA = Path(__file__).resolve().parents[3] / "shared" / "reference" / "shopify" / \
    "admin-2026-04.graphql"


@pytest.fixture
def clock():
    return SimClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def sandbox(clock):
    sb = ShopifySandbox(clock)
    sb.seed_location("uk-dc-sellable", sellable=True)
    sb.seed_location("uk-dc-quarantine", sellable=False)
    sb.seed_order("1001", currency="GBP", lines=[
        {"sku": "TEE-M", "qty": 2, "unit_price": "20.00", "unit_tax": "4.00"},
        {"sku": "MUG", "qty": 1, "unit_price": "12.50", "unit_discount": "2.50"},
    ], store="uk", email="ann@example.com")
    sb.seed_inventory("TEE-M", "uk-dc-sellable", available=5)
    sb.seed_inventory("TEE-L", "uk-dc-sellable", available=3)
    return sb


@pytest.fixture
def client(sandbox):
    with httpx.Client(transport=SandboxTransport([sandbox])) as c:
        yield c


@pytest.fixture
def connector(client, clock):
    return ShopifyConnector(client, "returnline-demo", SANDBOX_ACCESS_TOKEN, clock=clock)


@pytest.fixture(scope="session")
def full_schema():
    if not FULL_SCHEMA.exists():
        pytest.skip("the full Shopify schema (../shared/reference) is not here")
    from graphql import build_schema

    return build_schema(FULL_SCHEMA.read_text(), assume_valid=True)
