"""Faults in commercetools' shapes become the typed failures; state dumps round-trip."""

from __future__ import annotations

import json

import httpx
import pytest
from ct_support import PROJECT, make_connector

from rules.money import Money
from sync.connectors.base import (
    OutcomeUnknown,
    RateLimited,
    RefundLineRequest,
    RefundRequest,
    TransientError,
)
from sync.sandbox.base import SandboxTransport
from sync.sandbox.commercetools import DEFAULT_CLIENT_SECRET, CommercetoolsSandbox


@pytest.mark.parametrize("kind,status,code,error", [
    ("http_502", 502, "BadGateway", TransientError),
    ("http_503", 503, "OverCapacity", TransientError),
    ("http_429", 429, "TooManyRequests", RateLimited),
    ("timeout", None, "timeout", TransientError),
])
def test_read_faults_become_typed_failures_with_backoff_hints(sandbox, connector, kind, status,
                                                              code, error):
    sandbox.arm_fault("get_order", kind)
    with pytest.raises(error) as err:
        connector.get_order("1001")
    assert err.value.code == code
    if status:
        assert err.value.retry_after and err.value.retry_after > 0
        assert err.value.call.status == status
    assert connector.get_order("1001") is not None  # the fault was used up


def test_500_on_a_write_may_have_committed_so_the_outcome_is_unknown(sandbox, connector):
    order = connector.get_order("1001")
    line = order.lines[0]
    sandbox.arm_fault("refund", "http_500")
    with pytest.raises(OutcomeUnknown):
        connector.refund(RefundRequest("k1", "R1", "1001", Money(2000, "GBP"), (
            RefundLineRequest(line.line_ref, "TEE-M", 1, Money(2000, "GBP")),)))
    assert connector.find_refund("1001", "k1") is None  # looked up: not there, safe to resend


def test_dump_and_load_round_trip_keeps_the_truth(sandbox, connector, clock):
    connector.get_order("1001")
    sandbox.manual_refund("1001", amount="1.00")
    state = json.loads(json.dumps(sandbox.dump_state()))
    copy = CommercetoolsSandbox(clock, project_key=PROJECT)
    copy.load_state(state)
    assert copy.dump_state() == state
    assert copy.external_view() == sandbox.external_view()
    # the restarted sandbox still honours the connector's cached token and versions
    conn = make_connector(httpx.Client(transport=SandboxTransport([copy])), clock)
    assert conn.get_order("1001").version == sandbox.order_doc("1001")["version"]


def test_journal_masks_credentials(sandbox, connector):
    connector.get_order("1001")
    text = json.dumps(sandbox.journal)
    assert DEFAULT_CLIENT_SECRET not in text
    assert connector.tokens.token() not in text
    assert all(e["headers"].get("authorization") == "***" for e in sandbox.journal)
