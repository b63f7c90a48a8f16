"""Happy Returns: real return.asn parsing, signed webhooks, outbound-shipment polling across
restarts under the 0.5 req/s bucket, and the irreversible approve sent exactly once per unit."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest

from rules.model import Condition, Grading, MoneyMover, PlatformStatus, Resolution
from rules.money import Money
from sync.connectors.base import (
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
    WebhookRejected,
)
from sync.connectors.happy_returns import (
    HappyReturnsConnector,
    approval_plan,
    happy_returns_limiter,
    parse_units,
    refunded_amount,
    returns_from_webhook,
    verify_happy_returns_webhook,
)
from sync.connectors.platform_common import split_unit_suffix
from sync.sandbox.happy_returns import HappyReturnsSandbox
from sync.signing import sign_hex

from .conftest import EngineMemory, client_for

KEY, RETAILER = "hr-test-key", "returnline-demo"

# The official return.asn example (reference section 2), plus its second unit of the same line.
ASN_ITEM = {"happyReturnsReturnID": "5035789d-f873-4bad-b2f3-2daca346c111",
            "purchasedAt": "2024-01-05T16:26:05-05:00", "email": "customer@example.com",
            "orderNumber": "272034", "externalRMAID": "RMA20240101A", "orderID": "5324938444866",
            "orderLineItemID": "13377523220546-0-5", "sku": "nomshrts-1", "upc": "SKDFHWEW-DKFD",
            "productVariantID": "39942123880514", "labelBarcode": "SKDFHWEW-DKFD",
            "productName": "..."}
ASN_EXAMPLE = {"event": "return_status_updated", "typeID": "started", "retailerID": "modern-retailer",
               "otherEvents": [{"event": "return_dropoff_method_created", "typeID": "return-bar"}],
               "items": [ASN_ITEM, {**ASN_ITEM, "orderLineItemID": "13377523220546-1-5"}]}
LABEL_EXAMPLE = {"event": "return_label_update", "typeID": "", "retailerID": "retailer-id",
                 "webhookType": "return.label.update", "labelID": "HR2ABCDEFGHI",
                 "happyReturnsReturnID": "515764c3-2ff3-11eb-b93e-2a27f3aba64d",
                 "happyReturnsExpressCode": "HRVPBGPR"}


def connector(sb, clock, **kw) -> HappyReturnsConnector:
    return HappyReturnsConnector(client_for(sb), KEY, RETAILER, clock=clock, **kw)


def seeded(clock, **kw) -> HappyReturnsSandbox:
    sb = HappyReturnsSandbox(clock, **kw)
    sb.seed_order("1001", currency="GBP", lines=[
        {"sku": "TEE-M", "qty": 2, "unit_price": "20.00", "line_ref": "9001"},
        {"sku": "MUG", "qty": 1, "unit_price": "8.50", "line_ref": "9002"}])
    return sb


def graded(ret, *conditions: Condition):
    """The warehouse's grading (from the engine) put on the first line, unit by unit."""
    line = ret.lines[0]
    gradings = tuple(Grading(c, 1, "uk-dc", ret.requested_at) for c in conditions)
    return dataclasses.replace(ret, lines=(dataclasses.replace(line, gradings=gradings),
                                           *ret.lines[1:]))


# --- parsing ---------------------------------------------------------------------------------
def test_parse_official_asn_example_aggregates_units_by_suffix():
    assert split_unit_suffix("13377523220546-1-5") == ("13377523220546", 1)
    [ret] = parse_units(ASN_EXAMPLE["items"], type_id=ASN_EXAMPLE["typeID"])
    assert (ret.order_ref, ret.status, ret.raw_status) == ("272034", PlatformStatus.REQUESTED,
                                                           "started")
    assert ret.money_mover is MoneyMover.PLATFORM and ret.customer_email == "customer@example.com"
    [line] = ret.lines
    assert (line.order_line_ref, line.qty, line.sku) == ("13377523220546", 2, "nomshrts-1")
    assert line.unit_ids == ("13377523220546-0-5", "13377523220546-1-5")  # no item id in example
    assert ret.requested_at.isoformat() == "2024-01-05T21:26:05+00:00"


def test_label_update_webhook_names_the_return():
    body = json.dumps(LABEL_EXAMPLE).encode()
    key, pid, event = verify_happy_returns_webhook(
        {"X-Hr-Signature": sign_hex("whsec", body)}, body, "whsec")
    assert (pid, event) == ("HRVPBGPR", "return.label.update")


# --- webhooks --------------------------------------------------------------------------------
def test_asn_webhooks_aggregate_within_60s_verify_and_dedupe(clock):
    sb = seeded(clock)
    sb.request_return("R1", "1001", [{"sku": "TEE-M", "qty": 2, "reason": "Too small",
                                      "resolution": "exchange", "exchange_sku": "TEE-L"}])
    clock.advance(timedelta(seconds=20))
    sb.in_transit("R1")
    assert sb.take_webhooks() == []  # still inside the 60 s aggregation window
    clock.advance(timedelta(seconds=41))
    [delivery] = sb.take_webhooks()
    body = delivery["body"].encode()
    payload = json.loads(body)
    assert payload["typeID"] == "dropped_off" and len(payload["otherEvents"]) == 2
    key, pid, event = verify_happy_returns_webhook(delivery["headers"], body, "hr-webhook-secret")
    assert verify_happy_returns_webhook(delivery["headers"], body, "hr-webhook-secret")[0] == key
    assert pid == f"{sb.labels['R1']}:1001" and event.endswith(":dropped_off")
    [ret] = returns_from_webhook(body)
    assert ret.status is PlatformStatus.IN_TRANSIT and ret.platform_id == pid
    assert (ret.lines[0].resolution, ret.lines[0].exchange_sku) == (Resolution.EXCHANGE, "TEE-L")
    assert ret.lines[0].unit_ids == tuple(u["happyReturnsItemID"] for u in payload["items"])
    with pytest.raises(WebhookRejected):
        verify_happy_returns_webhook({"x-hr-signature": "0" * 64}, body, "hr-webhook-secret")
    with pytest.raises(WebhookRejected):
        verify_happy_returns_webhook(delivery["headers"], body + b" ", "hr-webhook-secret")


# --- polling ---------------------------------------------------------------------------------
def test_outbound_shipment_polling_loses_nothing_across_restarts(clock):
    sb = seeded(clock)
    for i in range(5):
        sb.seed_order(f"20{i}", currency="GBP", lines=[{"sku": "TEE-M", "qty": 3,
                                                        "unit_price": "20.00", "line_ref": f"L{i}"}])
        sb.request_return(f"R{i}", f"20{i}", [{"sku": "TEE-M", "qty": 3, "reason": "Too big",
                                               "resolution": "refund"}])
    sb.receive("R0")
    sb.receive("R1")
    clock.advance(timedelta(minutes=1))
    sb.receive("R2")
    clock.advance(timedelta(seconds=30))
    engine = EngineMemory()
    cursor, limiter_state = None, None
    for _ in range(60):  # each round is a fresh connector: a restart from the stored state
        c = connector(sb, clock, page_size=2, max_calls_per_sync=3,
                      limiter=happy_returns_limiter(limiter_state),
                      min_poll_interval=timedelta(minutes=10))
        page = c.list_changed(cursor, clock.now())
        engine.record(page)
        cursor, limiter_state = page.next_cursor, c.limiter.export_state()
        if not c.has_more(cursor, clock.now()):
            break
        clock.advance(timedelta(seconds=2))
    assert sorted(r.order_ref for r in engine.returns.values()) == ["200", "201", "202"]
    assert all(r.status is PlatformStatus.RECEIVED and r.lines[0].qty_received == 3
               for r in engine.returns.values())
    assert not [e for e in sb.journal if e["status"] == 429]  # the limiter kept us inside
    # later shipments are found by the next window (the look-back overlaps, nothing twice)
    clock.advance(timedelta(minutes=11))
    sb.receive("R3")
    clock.advance(timedelta(seconds=30))
    seen_before = len(sb.requests_for("get_return"))
    c = connector(sb, clock, limiter=happy_returns_limiter(limiter_state),
                  min_poll_interval=timedelta(minutes=10))
    for _ in range(10):
        page = c.list_changed(cursor, clock.now())
        engine.record(page)
        cursor = page.next_cursor
        clock.advance(timedelta(seconds=2))
    assert "203" in {r.order_ref for r in engine.returns.values()}
    assert len(sb.requests_for("get_return")) == seen_before + 1  # only R3 looked up again


def test_leaky_bucket_429_when_limiter_is_bypassed(clock):
    sb = seeded(clock, bucket_size=2)
    sb.request_return("R1", "1001", [{"sku": "MUG", "qty": 1, "reason": "x"}])
    c = connector(sb, clock, limiter=happy_returns_limiter(capacity=100))
    c.get_return(f"{sb.labels['R1']}:1001")
    c.get_return(f"{sb.labels['R1']}:1001")
    with pytest.raises(RateLimited) as exc:
        c.get_return(f"{sb.labels['R1']}:1001")
    assert exc.value.retry_after == 2.0 and c.limiter.capacity == 2  # learnt from the message
    assert "leaky bucket size 2" in json.dumps(exc.value.call.response_body)
    with pytest.raises(RateLimited):  # our limiter now refuses without sending
        c.get_return(f"{sb.labels['R1']}:1001")
    assert len(sb.journal) == 3
    assert sb.request_return("R2", "404", [{"sku": "X", "qty": 1}])
    clock.advance(timedelta(seconds=10))
    status = client_for(sb).post("https://partner.happyreturns.com/return", headers={
        "X-Hr-Apikey": KEY}, json={"happyReturnsRetailerID": RETAILER, "orderNumber": "nope"})
    assert status.status_code == 204
    both = client_for(sb).post("https://partner.happyreturns.com/return", headers={
        "X-Hr-Apikey": KEY}, json={"happyReturnsRetailerID": RETAILER, "orderNumber": "1",
                                   "email": "a@b"})
    assert both.status_code == 400


# --- the irreversible approve ------------------------------------------------------------------
def _received_return(sb, clock, qty=2):
    sb.request_return("R1", "1001", [{"sku": "TEE-M", "qty": qty, "reason": "Too small",
                                      "resolution": "refund"}])
    sb.receive("R1")
    clock.advance(timedelta(seconds=10))
    c = connector(sb, clock)
    ret, _ = c.get_return(f"{sb.labels['R1']}:1001")
    return c, ret


def test_no_approve_before_grading(clock):
    sb = seeded(clock)
    c, ret = _received_return(sb, clock)
    assert approval_plan(ret) == []
    with pytest.raises(PermanentError):
        c.approve("rl:R1:approve:1", ret)
    assert sb.requests_for("approve_platform_return") == [] and sb.external_view()["refunds"] == []


@pytest.mark.parametrize("fault", ["timeout_after_commit", "malformed", "timeout", "http_503"])
def test_exactly_one_approve_per_unit_under_retries(clock, fault):
    sb = seeded(clock)
    c, ret = _received_return(sb, clock)
    ret = graded(ret, Condition.SELLABLE, Condition.DAMAGED)
    sb.arm_fault("approve_platform_return", fault)
    with pytest.raises((OutcomeUnknown, TransientError)) as exc:
        c.approve("rl:R1:approve:1", ret)
    # what the executor does: an unknown outcome is looked up before any resend
    clock.advance(timedelta(seconds=10))
    found = c.find_approval(ret) if isinstance(exc.value, OutcomeUnknown) else None
    if found is None:
        clock.advance(timedelta(seconds=10))
        effect = c.approve("rl:R1:approve:1", ret)
        assert not effect.data["already"]
    else:
        assert fault in ("timeout_after_commit", "malformed") and found.data["already"]
    # a blind retry of the whole action later is still harmless: 409 -> looked up -> done
    clock.advance(timedelta(seconds=10))
    assert c.approve("rl:R1:approve:1", ret).data["already"]
    view = sb.external_view()
    assert sorted((a["unit"], a["condition"]) for a in view["approvals"]) == sorted(
        zip(ret.lines[0].unit_ids, ["sellable", "damaged"], strict=True))
    assert view["refunds"] == [{"order": "1001", "return": "R1", "amount": "40.00",
                                "currency": "GBP"}]
    applied = [e for e in sb.requests_for("approve_platform_return")
               if e["status"] in (200, "timeout") and e["fault"] != "timeout"]
    assert len(applied) == 1 and applied[0]["body"]["returning"][1]["condition"] == "damaged"


def test_partial_grading_approves_the_rest_later_once(clock):
    sb = seeded(clock)
    c, ret = _received_return(sb, clock)
    c.approve("rl:R1:approve:1", graded(ret, Condition.MISSING))
    clock.advance(timedelta(seconds=10))
    both = graded(ret, Condition.MISSING, Condition.SELLABLE)
    assert c.find_approval(both) is None
    clock.advance(timedelta(seconds=10))
    effect = c.approve("rl:R1:approve:2", both)  # 409 on the first unit -> only the second
    assert "remaining" in effect.summary
    approvals = sb.external_view()["approvals"]
    assert [(a["condition"], a["approve"]) for a in approvals] == [("missing", False),
                                                                   ("sellable", True)]
    assert sb.external_view()["refunds"] == [{"order": "1001", "return": "R1", "amount": "20.00",
                                              "currency": "GBP"}]  # the missing unit: no money
    clock.advance(timedelta(seconds=10))
    ret2, _ = c.get_return(f"{sb.labels['R1']}:1001")
    assert ret2.status is PlatformStatus.COMPLETED


def test_409_on_final_expired_return_is_not_approved(clock):
    sb = seeded(clock)
    c, ret = _received_return(sb, clock)
    sb.expire("R1")
    clock.advance(timedelta(seconds=10))
    with pytest.raises(PermanentError, match="expired"):
        c.approve("rl:R1:approve:1", graded(ret, Condition.SELLABLE))
    assert [e["status"] for e in sb.requests_for("approve_platform_return")] == [409]
    assert sb.external_view() == {"approvals": [], "refunds": []}


def test_sandbox_state_round_trips_and_journal_masks_key(clock):
    sb = seeded(clock)
    _received_return(sb, clock)
    state = sb.dump_state()
    other = HappyReturnsSandbox(clock)
    other.load_state(json.loads(json.dumps(state)))
    assert other.dump_state() == state
    assert KEY not in json.dumps(sb.journal)
    assert sb.journal[0]["headers"]["x-hr-apikey"] == "***"


def test_approve_reports_what_happy_returns_refunded(clock):
    sb = seeded(clock)
    c, ret = _received_return(sb, clock)
    ret = graded(ret, Condition.SELLABLE, Condition.MISSING)
    money = {"amount": "20.00", "currency": "GBP"}  # the missing unit moves no money
    assert c.approve("rl:R1:approve:1", ret).data["amount"] == money
    assert sb.external_view()["refunds"][0]["amount"] == "20.00"
    clock.advance(timedelta(seconds=10))
    assert c.find_approval(ret).data["amount"] == money  # read back from the lookup
    clock.advance(timedelta(seconds=10))
    again = c.approve("rl:R1:approve:1", ret)  # 409 -> looked up
    assert again.data["already"] and again.data["amount"] == money
    assert "Happy Returns refunded GBP 20.00" in again.summary


def test_refunded_amount_unknown_when_happy_returns_does_not_say():
    plan = [{"happyReturnsItemID": "a", "approve": True, "condition": "sellable"},
            {"happyReturnsItemID": "b", "approve": False, "condition": "missing"}]
    said = {"a": {"refundAmount": "15.0", "refundCurrency": "GBP"}}
    assert refunded_amount(plan, said) == Money(1500, "GBP")  # "15.0": a number as text
    assert refunded_amount(plan, {"a": {"refundAmount": None}}) is None
    assert refunded_amount(plan, {"a": {"refundAmount": "x", "refundCurrency": "GBP"}}) is None
    assert refunded_amount(plan, {}) is None
