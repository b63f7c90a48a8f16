"""ReBOUND: the official tracking payload, push authentication per account (HMAC or shared
secret) with dedupe, OAuth token refresh, and the legacy date-window polling across restarts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from rules.model import Condition, MoneyMover, PlatformStatus
from sync.connectors.base import AuthError, WebhookRejected
from sync.connectors.rebound import (
    ReboundConnector,
    parse_push,
    verify_rebound_webhook,
)
from sync.sandbox.rebound import ReboundSandbox
from sync.signing import sign_base64

from .conftest import EngineMemory, client_for

# The official tracking-update example (reference section 3B).
TRACKING_EXAMPLE = {
    "order": {"clientOrderId": "AB12345US", "reboundOrderId": "(00)687000000000088888",
              "location": "DE_ASC_Nettetall", "trackingNumber": "ZZ123456789GB",
              "statusDescription": "postalIncoming", "timestamp": "2024-01-29T11:22:09.815479Z"},
    "items": [{"reboundItemId": "(00)987000000000012345", "clientItemId": "AB0001231",
               "ean": "4000000479888", "sku": "336_SHIRT_3", "reasonCode": "Too large",
               "articleDescription": "Nice organic cotton blue shirt", "commercialValue": "49.90",
               "commercialValueCurrency": "EUR", "quantity": "1"}]}
CREDS = {"client_id": "rb-client", "client_secret": "rb-client-secret",
         "legacy_login": "returnline", "legacy_api_key": "rb-legacy-key"}


def connector(sb, clock, **kw) -> ReboundConnector:
    return ReboundConnector(client_for(sb), clock=clock, **CREDS, **kw)


def one_return(sb, label="R1", order="1001", qty=2):
    return sb.request_return(label, order, [{"sku": "TEE-M", "qty": qty, "reason": "Too large",
                                             "resolution": "refund"}])


def test_parse_official_tracking_payload():
    ret = parse_push(TRACKING_EXAMPLE)
    assert ret.platform_id == "AB12345US:(00)687000000000088888" and ret.order_ref == "AB12345US"
    assert (ret.status, ret.raw_status) == (PlatformStatus.IN_TRANSIT, "postalIncoming")
    assert ret.money_mover is MoneyMover.RETURNLINE and ret.currency == "EUR"
    [line] = ret.lines
    assert (line.order_line_ref, line.qty, line.raw_reason) == ("AB0001231", 1, "Too large")
    assert line.unit_ids == ("(00)987000000000012345",) and line.qty_received == 0
    assert ret.in_transit_at.isoformat() == "2024-01-29T11:22:09.815479+00:00"


def test_refund_trigger_conditions_become_gradings():
    payload = {"eventType": "itemGraded", "timestamp": "2024-02-01T10:00:00Z",
               "order": {**TRACKING_EXAMPLE["order"], "statusDescription": "itemGraded"},
               "items": [{**TRACKING_EXAMPLE["items"][0], "condition": "B",
                          "gradedAt": "2024-02-01T09:59:00Z"},
                         {**TRACKING_EXAMPLE["items"][0], "reboundItemId": "(00)9870002",
                          "condition": "mystery", "gradedAt": "2024-02-01T09:59:30Z"}]}
    ret = parse_push(payload, warehouse="uk-dc")
    assert ret.status is PlatformStatus.INSPECTED
    [line] = ret.lines
    assert line.qty == 2 and line.qty_received == 2
    sellable, unknown = line.gradings
    assert (sellable.condition, sellable.qty, sellable.warehouse) == (Condition.SELLABLE, 1, "uk-dc")
    assert unknown.condition is Condition.DAMAGED and "unmapped" in unknown.notes


@pytest.mark.parametrize("mode", ["hmac", "shared_secret"])
def test_push_auth_per_account_rejects_bad_and_dedupes_repeat(clock, mode):
    sb = ReboundSandbox(clock, webhook_auth=mode, webhook_secret="whs")
    one_return(sb)
    sb.in_transit("R1")
    created, transit = sb.take_webhooks()
    body = transit["body"].encode()
    key, pid, event = verify_rebound_webhook(transit["headers"], body, mode=mode, secret="whs")
    assert verify_rebound_webhook(transit["headers"], body, mode=mode, secret="whs")[0] == key
    assert event == "tracking:postalIncoming" and pid == f"1001:{sb.labels['R1']}"
    other = verify_rebound_webhook(created["headers"], created["body"].encode(), mode=mode,
                                   secret="whs")[0]
    assert other != key
    with pytest.raises(WebhookRejected):
        verify_rebound_webhook(transit["headers"], body, mode=mode, secret="wrong")
    with pytest.raises(WebhookRejected):
        verify_rebound_webhook({}, body, mode=mode, secret="whs")
    forged = json.dumps({**json.loads(body), "items": []}).encode()
    if mode == "hmac":
        with pytest.raises(WebhookRejected):
            verify_rebound_webhook(transit["headers"], forged, mode=mode, secret="whs")
        assert verify_rebound_webhook({"X-Rebound-Signature": sign_base64("whs", forged)},
                                      forged, mode=mode, secret="whs")


def test_token_is_reused_refreshed_after_60_minutes_and_on_401(clock):
    sb = ReboundSandbox(clock)
    pid = one_return(sb)
    c = connector(sb, clock)
    ret, raw = c.get_return(pid)
    c.get_return(pid)
    assert c.token_requests == 1 and ret.platform_id == pid and raw["reboundOrderId"] in pid
    clock.advance(timedelta(minutes=61))
    c.get_return(pid)
    assert c.token_requests == 2
    sb.expire_tokens()  # revoked early: 401 -> one new token -> the read succeeds
    c.get_return(pid)
    assert c.token_requests == 3
    assert "rb-client-secret" not in json.dumps(sb.journal)
    assert sb.requests_for("token")[0]["body"]["client_secret"] == "***"
    bad = ReboundConnector(client_for(sb), clock=clock, **{**CREDS, "client_secret": "nope"})
    with pytest.raises(AuthError) as exc:
        bad.get_return(pid)
    assert "nope" not in str(exc.value) and "nope" not in json.dumps(exc.value.call.as_dict())


def test_legacy_polling_over_windows_loses_nothing_across_restarts(clock):
    sb = ReboundSandbox(clock)
    for i in range(6):  # spread over three weeks: several 7-day windows
        one_return(sb, f"R{i}", f"10{i}", qty=1 + i % 2)
        clock.advance(timedelta(days=3))
    sb.receive("R5")
    sb.grade("R5", [{"sku": "TEE-M", "condition": "sellable", "qty": 2}])
    engine = EngineMemory()
    cursor = None
    for _ in range(30):  # two calls per sync, a fresh connector each time
        c = connector(sb, clock, known_return=engine.get, lookback_days=21, max_calls_per_sync=2)
        page = c.list_changed(cursor, clock.now())
        engine.record(page)
        cursor = page.next_cursor
        if not c.has_more(cursor, clock.now()):
            break
    assert sorted(r.order_ref for r in engine.returns.values()) == [f"10{i}" for i in range(6)]
    graded = next(r for r in engine.returns.values() if r.order_ref == "105")
    assert graded.status is PlatformStatus.INSPECTED
    assert graded.lines[0].gradings[0].condition is Condition.SELLABLE
    assert len(sb.requests_for("list_returns")) == 4  # 22 days in 7-day windows
    # the next pass re-reads the look-back but reports only what changed
    clock.advance(timedelta(hours=2))
    sb.process("R5")
    c = connector(sb, clock, known_return=engine.get, lookback_days=21)
    page = c.list_changed(cursor, clock.now())
    assert [r.order_ref for r in page.returns] == ["105"]
    assert page.returns[0].status is PlatformStatus.COMPLETED
    assert "rb-legacy-key" not in json.dumps(sb.journal)


def test_sandbox_state_round_trips(clock):
    sb = ReboundSandbox(clock)
    one_return(sb)
    sb.receive("R1")
    state = sb.dump_state()
    other = ReboundSandbox(clock)
    other.load_state(json.loads(json.dumps(state)))
    assert other.dump_state() == state
    assert sb.external_view() == {"approvals": [], "refunds": []}
