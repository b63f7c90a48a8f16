"""Every document the connector sends is valid Shopify 2026-04, and the extract is exact."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from graphql import parse, validate

from sync.connectors.shopify.documents import all_documents, move_stock_document
from sync.sandbox.shopify.runtime import EXTRACT_PATH, served_schema

from .conftest import FULL_SCHEMA
from .test_connector import movements, refund_request

ROOT = Path(__file__).resolve().parents[2]


def _validate(schema, text):
    return [e.message for e in validate(schema, parse(text))]


@pytest.mark.parametrize("name", sorted(all_documents()))
def test_connector_documents_validate_against_the_extract(name):
    assert _validate(served_schema(), all_documents()[name]) == []


@pytest.mark.parametrize("name", sorted(all_documents()))
def test_connector_documents_validate_against_the_full_schema(full_schema, name):
    assert _validate(full_schema, all_documents()[name]) == []


def test_every_document_sent_in_a_flow_validates(full_schema, connector, sandbox):
    from sync.connectors.base import ExchangeRequest

    connector.refund(refund_request(connector))
    connector.move_stock(movements())
    order = connector.get_order("1001")
    connector.get_order(order.order_id)
    connector.tag_order("rl:R1:tag", order, ["returned"], "note")
    connector.create_exchange_order(ExchangeRequest("rl:R1:x", "R1", "1001", (("TEE-L", 1),)))
    connector.stock_levels("TEE-M")
    sent = {e["body"]["query"] for e in sandbox.journal}
    assert len(sent) >= 9
    for text in sent:
        assert _validate(full_schema, text) == []
        assert _validate(served_schema(), text) == []


def test_big_batches_use_numbered_aliases_that_validate(full_schema):
    text = move_stock_document(["available", "available_2", "damaged", "quality_control_2"])
    assert _validate(full_schema, text) == [] and _validate(served_schema(), text) == []


def test_committed_extract_equals_a_fresh_extract(full_schema):
    spec = importlib.util.spec_from_file_location(
        "shopify_schema_extract", ROOT / "tools" / "shopify_schema_extract.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    fresh = tool.extract(FULL_SCHEMA.read_text(), tool.served_documents(), schema=full_schema)
    assert fresh == EXTRACT_PATH.read_text()
