"""The real Shopify connector against the real sandbox, through SandboxTransport."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from rules.model import OrderState, Resolution, Return, ReturnLine
from rules.money import Money
from sync.connectors.base import (
    AuthError,
    ExchangeRequest,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    RefundLineRequest,
    RefundRequest,
    StockMovement,
    TransientError,
)
from sync.connectors.shopify import ShopifyConnector
from sync.connectors.shopify import documents as docs
from sync.sandbox.base import SandboxTransport
from sync.sandbox.shopify import SANDBOX_ACCESS_TOKEN, ShopifySandbox

URL = "https://returnline-demo.myshopify.com/admin/api/2026-04/graphql.json"
TOKEN = {"X-Shopify-Access-Token": SANDBOX_ACCESS_TOKEN}


def refund_request(connector, key="rl:R1:refund:1", qty=1, amount="24.00"):
    order = connector.get_order("1001")
    line = next(li for li in order.lines if li.sku == "TEE-M")
    money = Money.parse(amount, "GBP")
    return RefundRequest(key=key, return_id="R1", order_ref="1001", amount=money,
                         lines=(RefundLineRequest(line.line_ref, "TEE-M", qty, money),))


def test_order_read_by_name_and_id_parses_money(connector):
    order = connector.get_order("1001")
    assert order.order_ref == "1001" and order.currency == "GBP"
    assert order.state is OrderState.OPEN and order.store == "uk"
    tee = next(li for li in order.lines if li.sku == "TEE-M")
    mug = next(li for li in order.lines if li.sku == "MUG")
    assert tee.unit_price == Money(2000, "GBP") and tee.unit_tax == Money(400, "GBP")
    assert tee.qty == 2 and tee.refundable_qty == 2
    assert mug.unit_price == Money(1000, "GBP") and mug.unit_tax is None  # "10.0" after discount
    same = connector.get_order(order.order_id)
    assert same.lines == order.lines and same.order_ref == "1001"
    assert connector.get_order("9999") is None


def test_refund_replay_with_same_key_makes_one_refund(connector, sandbox):
    req = refund_request(connector)
    first = connector.refund(req)
    second = connector.refund(req)
    assert first.external_id == second.external_id
    assert sandbox.external_view()["refunds"] == [
        {"order": "1001", "return": "R1", "amount": "24.00", "currency": "GBP"}]
    order = connector.get_order("1001")
    assert [r.idempotency_key for r in order.refunds] == ["rl:R1:refund:1"]
    assert next(li for li in order.lines if li.sku == "TEE-M").refundable_qty == 1
    assert connector.find_refund("1001", "rl:R1:refund:1").external_id == first.external_id
    assert connector.find_refund("1001", "rl:R9:refund:1") is None


def test_refund_without_idempotent_directive_is_refused(client, connector, sandbox):
    req = refund_request(connector)
    raw = connector._order_raw("1001")
    doc = docs.REFUND_CREATE.replace(" @idempotent(key: $key)", "").replace(
        ", $key: String!", "")
    body = client.post(URL, headers=TOKEN, json={"query": doc, "variables": {"input": {
        "orderId": raw["id"], "refundLineItems": [
            {"lineItemId": req.lines[0].line_ref, "quantity": 1}]}}}).json()
    assert body["data"] == {"refundCreate": None}
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "@idempotent directive is required" in body["errors"][0]["message"]
    assert body["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 2000
    assert sandbox.external_view()["refunds"] == []


def test_user_errors_become_permanent_errors_with_the_message(connector, sandbox):
    with pytest.raises(PermanentError, match="Quantity cannot refund more items"):
        connector.refund(refund_request(connector, qty=3))
    with pytest.raises(PermanentError, match=r"Refund amount \$500.00 is greater than net"):
        connector.refund(refund_request(connector, key="rl:R1:refund:2", amount="500.00"))
    assert sandbox.external_view()["refunds"] == []


def test_a_spent_key_moves_on_after_the_cause_is_fixed(connector, sandbox):
    req = refund_request(connector)
    sandbox.manual_refund("1001", [{"sku": "TEE-M", "qty": 2}])
    with pytest.raises(PermanentError):
        connector.refund(req)
    sandbox.edit_order("1001", [{"sku": "TEE-M", "qty": 3, "unit_price": "20.00",
                                 "unit_tax": "4.00"},
                                {"sku": "MUG", "qty": 1, "unit_price": "10.00"}])
    sandbox.order("1001")["transactions"][0]["amount"] = "82.00"  # the customer paid the edit
    effect = connector.refund(req)
    assert effect.data["idempotency_key"] == "rl:R1:refund:1#2"
    assert connector.refund(req).external_id == effect.external_id
    ours = [r for r in sandbox.external_view()["refunds"] if r["return"] == "R1"]
    assert len(ours) == 1


def test_throttled_becomes_rate_limited(connector, sandbox):
    req = refund_request(connector)
    sandbox.arm_fault("refund", "throttled")
    with pytest.raises(RateLimited) as caught:
        connector.refund(req)
    assert caught.value.retry_after == pytest.approx(14 / 100)
    assert connector.bucket.delay_for(14, sandbox.clock.now()) == pytest.approx(0.14)
    assert sandbox.external_view()["refunds"] == []


def test_bucket_too_small_throttles_and_preflight_waits_without_sending(clock):
    sb = ShopifySandbox(clock, bucket_size=300, restore_rate=10)
    sb.seed_order("1001", currency="GBP", lines=[{"sku": "A", "qty": 1, "unit_price": "5.00"}])
    client = httpx.Client(transport=SandboxTransport([sb]))
    blunt = ShopifyConnector(client, "returnline-demo", SANDBOX_ACCESS_TOKEN, clock=clock,
                             preflight=False)
    with pytest.raises(RateLimited) as caught:
        blunt.get_order("1001")  # requested 435 > 300 points in the bucket
    assert caught.value.code == "THROTTLED" and caught.value.retry_after > 0
    careful = ShopifyConnector(client, "returnline-demo", SANDBOX_ACCESS_TOKEN, clock=clock)
    careful.bucket.record({"throttleStatus": {"maximumAvailable": 300, "currentlyAvailable": 100,
                                              "restoreRate": 10}}, clock.now())
    sent = sb.request_count
    with pytest.raises(RateLimited) as caught:
        careful.get_order("1001")
    assert caught.value.code == "COST_BUCKET" and sb.request_count == sent


def test_http_429_and_5xx_and_bad_token(connector, sandbox, client, clock):
    sandbox.arm_fault("get_order", "http_429")
    with pytest.raises(RateLimited) as caught:
        connector.get_order("1001")
    assert caught.value.retry_after == 2.0
    sandbox.arm_fault("get_order", "http_503")
    with pytest.raises(TransientError):
        connector.get_order("1001")
    wrong = ShopifyConnector(client, "returnline-demo", "shpat_wrong_token_123", clock=clock)
    with pytest.raises(AuthError) as caught:
        wrong.get_order("1001")
    assert "shpat_wrong_token_123" not in str(caught.value)
    assert "Invalid API key or access token" in str(caught.value.call.response_body)
    assert all(e["headers"].get("x-shopify-access-token") == "***" for e in sandbox.journal)


def test_timeout_after_commit_then_find_refund(connector, sandbox):
    req = refund_request(connector)
    sandbox.arm_fault("refund", "timeout_after_commit")
    with pytest.raises(OutcomeUnknown):
        connector.refund(req)
    found = connector.find_refund("1001", req.key)
    assert found is not None
    assert connector.refund(req).external_id == found.external_id
    assert len(sandbox.external_view()["refunds"]) == 1


def test_malformed_answer_to_a_write_is_outcome_unknown(connector, sandbox):
    req = refund_request(connector)
    sandbox.arm_fault("refund", "malformed")
    with pytest.raises(OutcomeUnknown):
        connector.refund(req)
    assert connector.find_refund("1001", req.key) is not None


def movements():
    return [
        StockMovement("rl:R1:restock:1", "R1", "TEE-M", "uk-dc-sellable", 1, True),
        StockMovement("rl:R2:restock:1", "R2", "TEE-L", "uk-dc-sellable", 2, True),
        StockMovement("rl:R2:quarantine:1", "R2", "TEE-M", "uk-dc-quarantine", 1, False),
        StockMovement("rl:R3:quarantine:1", "R3", "TEE-L", "uk-dc-sellable", 1, False),
    ]


def test_batched_stock_movement_is_one_call(connector, sandbox):
    connector.inventory_item_ids(["TEE-M", "TEE-L"])
    connector.locations()
    before = len(sandbox.journal)
    effects = connector.move_stock(movements())
    calls = sandbox.journal[before:]
    assert len(calls) == 1 and calls[0]["operation"] == "restock"
    assert [e.data["quantity_name"] for e in effects] == ["available", "available", "damaged",
                                                          "damaged"]
    assert sandbox.external_view()["stock"] == [
        {"sku": "TEE-L", "location": "uk-dc-sellable", "delta": 1, "sellable": False},
        {"sku": "TEE-L", "location": "uk-dc-sellable", "delta": 2, "sellable": True},
        {"sku": "TEE-M", "location": "uk-dc-quarantine", "delta": 1, "sellable": False},
        {"sku": "TEE-M", "location": "uk-dc-sellable", "delta": 1, "sellable": True},
    ]
    # damaged goods never land in available
    assert sandbox.stock_level("TEE-L", "uk-dc-sellable") == 5
    assert sandbox.stock_level("TEE-L", "uk-dc-sellable", "damaged") == 1
    assert sandbox.stock_level("TEE-L", "uk-dc-sellable", "on_hand") == 6
    variables = calls[0]["body"]["variables"]
    assert variables["available"]["changes"][0]["changeFromQuantity"] is None
    assert "changeFromQuantity" in variables["damaged"]["changes"][0]
    assert variables["available"]["referenceDocumentUri"].startswith("gid://returnline/")
    # the same batch again (after OutcomeUnknown, say) moves nothing twice
    again = connector.move_stock(list(reversed(movements())))
    assert {e.external_id for e in again} == {e.external_id for e in effects}
    assert sum(s["delta"] for s in sandbox.external_view()["stock"]) == 5
    assert connector.find_stock_movement("rl:R1:restock:1").external_id == effects[0].external_id


def test_inactive_location_is_refused_then_works_once_reactivated(connector, sandbox):
    move = [StockMovement("rl:R1:restock:1", "R1", "TEE-M", "uk-dc-sellable", 1, True)]
    sandbox.set_location_active("uk-dc-sellable", False)
    with pytest.raises(PermanentError, match="not stocked at the location"):
        connector.move_stock(move)
    assert sandbox.external_view()["stock"] == []
    sandbox.set_location_active("uk-dc-sellable", True)
    effects = connector.move_stock(move)
    assert effects[0].data["idempotency_key"].endswith("#2")
    assert sandbox.stock_level("TEE-M", "uk-dc-sellable") == 6


def test_manual_refund_is_seen_without_our_key(connector, sandbox):
    sandbox.manual_refund("1001", [{"sku": "TEE-M", "qty": 1}], note="customer called")
    order = connector.get_order("1001")
    assert len(order.refunds) == 1
    refund = order.refunds[0]
    assert refund.idempotency_key is None and refund.amount == Money(2400, "GBP")
    assert refund.lines[0].sku == "TEE-M" and refund.lines[0].qty == 1
    assert next(li for li in order.lines if li.sku == "TEE-M").refundable_qty == 1
    assert sandbox.external_view()["refunds"][0]["return"] is None


def test_cancelled_order_reads_cancelled(connector, sandbox):
    sandbox.cancel_order("1001")
    order = connector.get_order("1001")
    assert order.state is OrderState.CANCELLED and order.cancelled_at is not None


def test_return_record_tags_and_exchange_are_each_made_once(connector, sandbox, clock):
    order = connector.get_order("1001")
    tee = next(li for li in order.lines if li.sku == "TEE-M")
    ret = Return("R1", "rebound", "p-1", "1001", (ReturnLine(
        "l1", "TEE-M", 1, order_line_ref=tee.line_ref, raw_reason="Too small",
        resolution=Resolution.EXCHANGE, exchange_sku="TEE-L"),), clock.now())
    first = connector.create_return_record("rl:R1:return", ret, order)
    assert connector.create_return_record("rl:R1:return", ret, order).external_id == \
        first.external_id
    stored = sandbox.order("1001")["returns"]
    assert len(stored) == 1 and stored[0]["lines"][0]["returnReason"] == "SIZE_TOO_SMALL"
    connector.tag_order("rl:R1:tag", order, ["returned", "reason:TOO_SMALL"], "R1 too small")
    connector.tag_order("rl:R1:tag", order, ["returned", "reason:TOO_SMALL"], "R1 too small")
    raw = sandbox.order("1001")
    assert raw["tags"] == ["returned", "reason:TOO_SMALL"]
    assert raw["note"].count("rl:R1:tag") == 1
    req = ExchangeRequest("rl:R1:exchange", "R1", "1001", (("TEE-L", 1),))
    made = connector.create_exchange_order(req)
    assert connector.create_exchange_order(req).external_id == made.external_id
    assert connector.find_exchange_order("1001", "rl:R1:exchange").external_id == \
        made.external_id
    assert sandbox.external_view()["exchange_orders"] == [
        {"for_order": "1001", "skus": ["TEE-L"], "total": "0.00"}]
    exchange = sandbox.state["orders"][made.external_id]
    assert exchange["fulfillmentStatus"] == "UNFULFILLED" and exchange["lines"][0][
        "requiresShipping"]
    assert connector.get_order("1001").replacement_order_refs == (made.data["name"].lstrip("#"),)


def test_return_record_over_quantity_is_refused(connector, clock):
    order = connector.get_order("1001")
    ret = Return("R1", "rebound", "p-1", "1001", (ReturnLine("l1", "TEE-M", 3,
                                                             raw_reason="Faulty"),), clock.now())
    with pytest.raises(PermanentError, match="Return line item has an invalid quantity"):
        connector.create_return_record("rl:R1:return", ret, order)


def test_estimated_costs_match_what_the_sandbox_charges(connector, sandbox, clock):
    req = refund_request(connector)
    connector.refund(req)
    connector.move_stock(movements()[:1])
    learned = dict(connector.http.learned)
    from sync.connectors.shopify.transport import STATIC_COSTS

    for op, cost in learned.items():
        assert STATIC_COSTS[op] == cost, op
    assert connector.estimated_cost("restock", movements()) == 26
    # the sandbox's bucket restores on its clock
    before = connector.bucket.snapshot(clock.now())["available"]
    clock.advance(timedelta(seconds=5))
    assert connector.bucket.snapshot(clock.now())["available"] == min(2000, before + 500)


def test_state_dump_round_trips(connector, sandbox, clock):
    connector.refund(refund_request(connector))
    connector.move_stock(movements())
    dumped = sandbox.dump_state()
    other = ShopifySandbox(clock)
    other.load_state(dumped)
    assert other.dump_state() == dumped
    assert other.external_view() == sandbox.external_view()
