"""ReturnGO: parsing of real payload shapes, budget-aware polling across pages and restarts,
webhook verification/dedupe, the persisted daily budget, shipment transitions, comments."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from rules.model import Condition, MoneyMover, PlatformStatus, Resolution
from sync.connectors.base import PermanentError, RateLimited, TransientError, WebhookRejected
from sync.connectors.returngo import (
    ReturnGOBudget,
    ReturnGOConnector,
    exchange_orders,
    parse_rma,
    summary_return,
    verify_returngo_webhook,
)
from sync.sandbox.returngo import ReturnGOSandbox

from .conftest import EngineMemory, client_for

KEY, SHOP = "rg-test-key", "returnline-demo.myshopify.com"

# GET /rmas?status=Pending&pagesize=1, shape as observed (reference section 1).
LIST_EXAMPLE = {"rmas": [{"rmaId": "9856537", "status": "Pending", "order_name": "R99288",
                          "events": [{"eventName": "RMA_CREATED",
                                      "eventDate": "2026-01-18T17:49:33+00:00",
                                      "triggeredVia": "Return Portal", "storeLocationId": "online",
                                      "userDetails": None}]}],
                "next_cursor": "cmV0dXJucy5pZDo5ODQ0OTMx"}


def _unit(item_id, line, *, restockable=None, returned=None, validated=None, **extra):
    unit = {
        "shopLineItemId": line, "shopProductId": "7001", "variantId": "4001",
        "returnedItemId": item_id, "fullName": "Slim Jeans - 32", "productName": "Slim Jeans",
        "image": None, "sku": "JEAN-32",
        "paidPrice": {"amount": 79.0, "currency": "GBP", "shopAmount": 79.0, "shopCurrency": "GBP"},
        "paidTax": {"amount": 13.17, "currency": "GBP", "shopAmount": 13.17, "shopCurrency": "GBP"},
        "taxIncluded": 1, "returnReason": "Does not fit", "extendedReason": " > Too small / tight",
        "resolutionName": "Refund", "policyRuleName": "Default", "isAutoApprove": 1,
        "resolutionType": "RefundToPaymentMethod", "restockingFee": None, "returnFee": None,
        "shipmentFee": None, "shipmentId": "88123",
        "returnMethod": {"type": "Ship with any carrier", "name": "Any carrier"},
        "itemValidationStatusResponse": {
            "returnedItemId": item_id, "isRestockable": restockable, "isReturned": returned,
            "nonRestockableReason": None if restockable else "Stained",
            "nonReturnedReason": None, "storeLocationId": "uk-dc",
            "lastValidationDate": validated, "lastValidatedBy": "Warehouse",
            "thirdPartyName": None, "userDetails": None},
        "followUpQuestions": [{"type": "Text", "name": "Comment",
                               "answer": {"textAnswer": "tight", "textArrayAnswer": None,
                                          "mediaAnswer": [], "numericAnswer": None}}],
    }  # quirk: no variantName / barcode keys at all
    unit.update(extra)
    return unit


# A GET /rma/{id} in the shape of the reference's real response, quirks included.
DETAIL_EXAMPLE = {
    "rmaSummary": {"rmaId": "9856537", "status": "Validated", "order_name": "H12043",
                   "events": [
                       {"eventName": "RMA_CREATED", "eventDate": "2026-02-04T07:02:24+00:00",
                        "triggeredVia": "Return Portal", "storeLocationId": "online",
                        "userDetails": None},
                       {"eventName": "RMA_APPROVED", "eventDate": "2026-02-04T07:02:25+00:00",
                        "triggeredVia": "Dashboard", "storeLocationId": "online",
                        "userDetails": {"userFirstName": "A", "userLastName": "B",
                                        "userEmailAddress": "ops@example.com",
                                        "userRole": "Owner"}}]},
    "orderDetails": {"orderId": "5324938444866", "order_name": "H12043"},
    "shipments": [{"shipmentId": "88123", "status": "Validated", "carrierName": "DPD",
                   "requestedServiceLevel": None, "actualServiceLevel": None,
                   "trackingNumber": "15501234", "trackingURL": None, "labelURL": None,
                   "isOutbound": 0,
                   "customerAddress": {"name": "C", "street1": "1", "street2": "", "city": "X",
                                       "state": "", "zip": "1", "country": "GB", "phone": "",
                                       "email": "customer@example.com"},
                   "returnAddress": {"name": "DC", "street1": "2", "street2": "", "city": "Y",
                                     "state": "", "zip": "2", "country": "GB", "phone": "",
                                     "email": ""}}],
    "items": [
        _unit("61001", "1300001", restockable=1, returned=1,
              validated="2026-02-09T10:00:00+00:00"),
        _unit("61002", "1300001", restockable=0, returned=1,
              validated="2026-02-09T10:01:00+00:00"),
        _unit("61003", "1300002", resolutionType="ExchangeVariant", sku="TEE-M",
              restockable=1, returned=1, validated="2026-02-09T10:02:00+00:00"),
    ],
    "comments": [{"commentType": "system", "triggeredBy": "ReturnGO",
                  "htmlText": "Request <strong>APPROVED</strong>",
                  "datetime": "2026-02-04T07:02:25+00:00"}],
    "exchangeOrders": [{"draftOrderId": "99", "orderId": "5324938449999", "orderName": "H12077",
                        "type": "Exchange"},
                       {"draftOrderId": None, "orderId": "1", "orderName": "H12078",
                        "type": "Fee"}],
    "exchangeItems": [{"productId": "7002", "variantId": "4100", "quantity": 1, "sku": "TEE-L",
                       "itemPriceMethod": "PaidPrice", "freeExchangePriceRange": {"min": 0,
                                                                                  "max": 10},
                       "catalogPrice": 20, "effectivePrice": 0}],
    "cancellationFee": None,
    "transactions": [{"id": 6070096, "type": "RefundToPaymentMethod",
                      "externalReferenceId": "1", "externalReferenceType": "PlatformRefundId",
                      "amount": {"amount": 79.0, "currency": "GBP"}, "status": "Requested",
                      "processor": "Shopify", "bankAccountDetails": None,
                      "returnItemIds": ["61001"], "createdAt": "2026-02-09T10:05:00+00:00",
                      "lastUpdated": "2026-02-09T10:05:00+00:00"}],
    "createdAt": "2026-02-04T07:02:24+00:00", "lastUpdated": "2026-02-09T10:05:00+00:00",
    "isOutOfPolicy": 0,
}


def connector(sandbox, clock, **kw) -> ReturnGOConnector:
    return ReturnGOConnector(client_for(sandbox), KEY, SHOP, clock=clock, **kw)


def lines(n=1, sku="TEE-M", reason="Too small"):
    return [{"sku": sku, "qty": n, "reason": reason, "resolution": "refund"}]


# --- parsing ---------------------------------------------------------------------------------
def test_parse_real_detail_aggregates_units_into_lines_with_validation_as_grading():
    ret = parse_rma(DETAIL_EXAMPLE)
    assert (ret.platform_id, ret.rma, ret.order_ref) == ("9856537", "RMA9856537", "H12043")
    assert ret.status is PlatformStatus.INSPECTED and ret.raw_status == "Validated"
    assert ret.money_mover is MoneyMover.RETURNLINE
    assert ret.customer_email == "customer@example.com" and ret.currency == "GBP"
    assert ret.requested_at == datetime(2026, 2, 4, 7, 2, 24, tzinfo=UTC)
    jeans, tee = ret.lines
    assert (jeans.order_line_ref, jeans.qty, jeans.unit_ids) == ("1300001", 2, ("61001", "61002"))
    assert jeans.raw_reason == "Does not fit > Too small / tight"  # passed raw, not mapped
    assert {(g.condition, g.qty, g.warehouse) for g in jeans.gradings} == {
        (Condition.SELLABLE, 1, "uk-dc"), (Condition.DAMAGED, 1, "uk-dc")}
    assert jeans.qty_received == 2 and jeans.resolution is Resolution.REFUND
    assert (tee.resolution, tee.exchange_sku) == (Resolution.EXCHANGE, "TEE-L")
    assert [o["orderName"] for o in exchange_orders(DETAIL_EXAMPLE)] == ["H12077"]


def test_parse_missing_unit_and_list_summary():
    detail = json.loads(json.dumps(DETAIL_EXAMPLE))
    v = detail["items"][0]["itemValidationStatusResponse"]
    v.update({"isReturned": "0", "nonReturnedReason": "Not in parcel"})  # string 0/1 quirk
    ret = parse_rma(detail)
    assert {g.condition for g in ret.lines[0].gradings} == {Condition.MISSING, Condition.DAMAGED}
    assert ret.lines[0].qty_received == 1
    s = summary_return(LIST_EXAMPLE["rmas"][0], store=None, now=datetime(2026, 1, 19, tzinfo=UTC))
    assert (s.platform_id, s.status, s.lines) == ("9856537", PlatformStatus.REQUESTED, ())


# --- polling ---------------------------------------------------------------------------------
def test_polling_over_pages_loses_nothing_across_restarts(clock):
    sb = ReturnGOSandbox(clock)
    labels = [f"R{i}" for i in range(7)]
    for i, label in enumerate(labels):
        sb.request_return(label, f"10{i:02d}", lines(1 + i % 2))
    clock.advance(timedelta(minutes=3))
    engine = EngineMemory()
    cursor = None
    # tiny pages and only two calls per sync: every sync stops mid-way; every sync is a restart
    for _ in range(20):
        c = connector(sb, clock, known_return=engine.get, page_size=3, max_calls_per_sync=2,
                      min_list_interval=timedelta(minutes=5))
        page = c.list_changed(cursor, clock.now())
        engine.record(page)
        cursor = page.next_cursor
        if not c.has_more(cursor, clock.now()):
            break
    assert {r.order_ref for r in engine.returns.values()} == {f"10{i:02d}" for i in range(7)}
    assert all(len(r.lines) == 1 for r in engine.returns.values())
    list_calls = [e for e in sb.journal if e["path"] == "/rmas"]
    assert len(list_calls) == 3 and list_calls[1]["query"]["cursor"]  # base64 keyset cursor

    # changes after the pass: one RMA received, a new one requested -> next pass sees both
    clock.advance(timedelta(minutes=6))
    sb.receive("R2")
    sb.request_return("R9", "1099", lines())
    c = connector(sb, clock, known_return=engine.get, page_size=3,
                  min_list_interval=timedelta(minutes=5))
    page = c.list_changed(cursor, clock.now())
    engine.record(page)
    assert engine.get(sb.labels["R2"]).status is PlatformStatus.RECEIVED
    assert engine.get(sb.labels["R9"]).order_ref == "1099"
    assert c.calls == {"list": 1, "detail": 1, "comment": 0}  # Received costs no detail call
    assert page.raw and all(isinstance(r, dict) for r in page.raw)


def test_only_changes_that_decide_cost_a_detail_call(clock):
    sb = ReturnGOSandbox(clock)
    sb.request_return("R1", "1001", lines(2))
    engine = EngineMemory()
    c = connector(sb, clock, known_return=engine.get, min_list_interval=timedelta(minutes=5))
    engine.record(page := c.list_changed(None, clock.now()))
    assert c.calls["detail"] == 1
    cursor = page.next_cursor

    def poll():
        nonlocal cursor
        clock.advance(timedelta(minutes=6))
        p = c.list_changed(cursor, clock.now())
        engine.record(p)
        cursor = p.next_cursor
        return p

    c.post_comment("rl:R1:comment:1", engine.get(sb.labels["R1"]), "Returnline: noted")
    assert poll().returns == [] and c.calls["detail"] == 1  # our comment changes nothing
    sb.in_transit("R1")
    sb.receive("R1")
    p = poll()
    assert p.returns[0].status is PlatformStatus.RECEIVED and c.calls["detail"] == 1
    assert p.returns[0].lines[0].qty_received == 2  # lines kept from the earlier detail
    sb.grade("R1", [{"sku": "TEE-M", "condition": "sellable", "qty": 2}], warehouse="uk-dc")
    p = poll()
    assert c.calls["detail"] == 2 and p.returns[0].status is PlatformStatus.INSPECTED
    assert p.returns[0].lines[0].gradings[0].condition is Condition.SELLABLE
    sb.set_status("R1", "Done")
    p = poll()
    assert p.returns[0].status is PlatformStatus.COMPLETED and c.calls["detail"] == 2
    assert p.returns[0].lines[0].gradings  # grading kept through the status-only update


def test_list_fault_raises_and_cursor_is_kept(clock):
    sb = ReturnGOSandbox(clock)
    sb.request_return("R1", "1001", lines())
    sb.arm_fault("list_returns", "http_503")
    c = connector(sb, clock)
    with pytest.raises(TransientError):
        c.list_changed(None, clock.now())
    assert c.list_changed(None, clock.now()).returns[0].order_ref == "1001"


# --- webhooks --------------------------------------------------------------------------------
def test_webhook_rejects_bad_secret_and_repeats_dedupe_key(clock):
    sb = ReturnGOSandbox(clock, webhook_secret="s3cret")
    sb.request_return("R1", "1001", lines())
    deliveries = sb.take_webhooks()
    assert [d["event"] for d in deliveries] == ["RMA_CREATED", "RMA_STATUS_UPDATED",
                                                "SHIPMENT_STATUS_UPDATED"]
    first = deliveries[0]
    key1, rma_id, event = verify_returngo_webhook(first["headers"], first["body"].encode(),
                                                  "s3cret")
    key2, _, _ = verify_returngo_webhook(first["headers"], first["body"].encode(), "s3cret")
    assert key1 == key2 and (rma_id, event) == (sb.labels["R1"], "RMA_CREATED")
    others = {verify_returngo_webhook(d["headers"], d["body"].encode(), "s3cret")[0]
              for d in deliveries}
    assert len(others) == 3
    with pytest.raises(WebhookRejected):
        verify_returngo_webhook({**first["headers"], "authorization": "wrong"},
                                first["body"].encode(), "s3cret")
    with pytest.raises(WebhookRejected):
        verify_returngo_webhook({}, first["body"].encode(), "s3cret")
    # the event means "refetch": one detail call
    ret, raw = connector(sb, clock).get_return(rma_id)
    assert ret.platform_id == rma_id and raw["rmaSummary"]["rmaId"] == rma_id


# --- budget ----------------------------------------------------------------------------------
def test_daily_budget_persists_across_restart_and_rolls_over_at_utc_midnight(clock):
    sb = ReturnGOSandbox(clock)
    sb.request_return("R1", "1001", lines())
    c = connector(sb, clock, budget=ReturnGOBudget(per_day=3))
    for _ in range(3):
        c.get_return(sb.labels["R1"])
    state = json.loads(json.dumps(c.budget.export_state()))  # through the database, as JSON
    before = len(sb.journal)
    again = connector(sb, clock, budget=ReturnGOBudget.from_state(state))
    with pytest.raises(RateLimited) as exc:
        again.get_return(sb.labels["R1"])
    assert exc.value.retry_after == pytest.approx(15 * 3600)  # until 00:00 UTC
    with pytest.raises(RateLimited):
        again.list_changed(None, clock.now())
    assert len(sb.journal) == before  # refused locally: nothing sent
    clock.set(datetime(2026, 11, 3, 0, 0, 1, tzinfo=UTC))
    again.get_return(sb.labels["R1"])
    assert again.budget.export_state()["used"] == 1


def test_per_second_limit_and_server_quota(clock):
    budget = ReturnGOBudget(per_day=2000, per_second=100)
    now = clock.now()
    for _ in range(100):
        assert budget.delay_for(now) == 0
        budget.record(now)
    assert 0 < budget.delay_for(now) <= 1
    assert budget.delay_for(now + timedelta(seconds=1)) == 0
    # the server's own quota (a key shared with another tool) -> 429 "Limit Exceeded"
    sb = ReturnGOSandbox(clock, daily_limit=2)
    sb.request_return("R1", "1001", lines())
    c = connector(sb, clock)
    c.get_return(sb.labels["R1"])
    c.get_return(sb.labels["R1"])
    with pytest.raises(RateLimited):
        c.get_return(sb.labels["R1"])
    assert c.budget.delay_for(clock.now()) > 3600  # learnt: nothing more today
    assert sb.journal[-1]["status"] == 429


def test_spare_budget_decides_early_detail(clock):
    sb = ReturnGOSandbox(clock)
    for i in range(3):
        sb.request_return(f"R{i}", f"100{i}", lines())
    budget = ReturnGOBudget.from_state({"day": "2026-11-02", "used": 1500})  # pace spent
    c = connector(sb, clock, budget=budget)
    page = c.list_changed(None, clock.now())
    assert c.calls["detail"] == 0 and all(r.lines == () for r in page.returns)
    assert {r.status for r in page.returns} == {PlatformStatus.APPROVED}


# --- writes and sandbox behaviour --------------------------------------------------------------
def test_comment_posted_with_key_and_secret_masked(clock):
    sb = ReturnGOSandbox(clock)
    sb.request_return("R1", "1001", lines())
    c = connector(sb, clock)
    ret, _ = c.get_return(sb.labels["R1"])
    effect = c.post_comment("rl:R1:refund:1", ret, "Refunded 20.00 GBP")
    assert sb.comments_for("R1") == ["Refunded 20.00 GBP [ref rl:R1:refund:1]"]
    assert c.find_comment(ret, "rl:R1:refund:1") is not None and effect.data["key"]
    posted = sb.requests_for("post_comment")[0]
    assert posted["headers"]["x-api-key"] == "***" and posted["body"]["comment"].startswith("Ref")
    assert KEY not in json.dumps(sb.journal)
    with pytest.raises(PermanentError):
        c.approve("k", ret)  # ReturnGO does not move money


def test_shipment_transition_table_and_auth_errors(clock):
    sb = ReturnGOSandbox(clock, auto_approve=False)
    sb.request_return("R1", "1001", lines())
    ship = sb.rmas[sb.labels["R1"]]["shipments"][0]["shipmentId"]
    http = client_for(sb)
    hdrs = {"x-api-key": KEY, "x-shop-name": SHOP}
    url = f"https://api.returngo.ai/shipment/{ship}"
    assert http.put(url, json={"status": "Shipped"}, headers=hdrs).status_code == 200
    r = http.put(url, json={"status": "LabelCreated"}, headers=hdrs)
    assert r.status_code == 400 and "transition" in r.json()["message"]
    assert http.put(url, json={"status": "Shipped", "trackingNumber": "T1"},
                    headers=hdrs).status_code == 200  # same status: other fields update
    assert sb.rmas[sb.labels["R1"]]["shipments"][0]["trackingNumber"] == "T1"
    assert http.get("https://api.returngo.ai/rmas?pagesize=1").status_code == 401
    assert http.get("https://api.returngo.ai/rmas?pagesize=1",
                    headers={**hdrs, "x-shop-name": "other.myshopify.com"}).status_code == 403
    assert http.get("https://api.returngo.ai/rma/RMA1", headers=hdrs).status_code == 400
    assert http.get("https://api.returngo.ai/rmas?pagesize=501", headers=hdrs).status_code == 400


def test_sandbox_state_round_trips(clock):
    sb = ReturnGOSandbox(clock)
    sb.request_return("R1", "1001", lines(2))
    sb.receive("R1")
    state = sb.dump_state()
    other = ReturnGOSandbox(clock)
    other.load_state(json.loads(json.dumps(state)))
    assert other.dump_state() == state
    other.grade("R1", [{"sku": "TEE-M", "condition": "damaged", "qty": 2}])
    assert other.rmas[other.labels["R1"]]["status"] == "Validated"
    assert sb.rmas[sb.labels["R1"]]["status"] == "Received"
