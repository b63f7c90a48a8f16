"""Orders: exact mapping, return records, exchanges, the sandbox's external view."""

from __future__ import annotations

import pytest
from ct_support import a_return

from rules.model import OrderState
from rules.money import Money, PreciseMoney
from sync.connectors.base import ExchangeRequest, OutcomeUnknown, PermanentError


def test_order_maps_money_exactly_with_version_and_tax(sandbox, connector):
    sandbox.seed_order("3001", currency="JPY", store="jp", lines=[
        {"sku": "A", "qty": 3, "unit_price": "1500", "unit_discount": "100"},
        {"sku": "B", "qty": 2, "precise_unit_price": {"preciseAmount": 12345, "fractionDigits": 2},
         "bundle_sku": "B"}])
    order = connector.get_order("3001")
    a, b = order.lines
    assert a.unit_price == Money(1400, "JPY") and a.unit_price_precise is None
    assert b.unit_price_precise == PreciseMoney(12345, "JPY", 2)
    assert b.unit_price == Money(123, "JPY") and b.bundle_sku == "B"
    assert order.store == "jp" and order.version == 1 and order.state == OrderState.OPEN
    gbp = connector.get_order("1001").lines[0]
    assert gbp.unit_tax == Money(400, "GBP")
    assert connector.get_order("nope") is None


def test_cancelled_and_edited_orders_are_read_as_they_are_now(sandbox, connector):
    sandbox.edit_order("1001", [{"sku": "TEE-M", "qty": 1, "unit_price": "18.00"}])
    order = connector.get_order("1001")
    assert [(ln.sku, ln.qty, ln.unit_price.minor) for ln in order.lines] == [("TEE-M", 1, 1800)]
    assert order.version == 2
    sandbox.cancel_order("1001")
    cancelled = connector.get_order("1001")
    assert cancelled.state == OrderState.CANCELLED and cancelled.cancelled_at is not None


def test_return_record_is_added_once(sandbox, connector, clock):
    order = connector.get_order("1001")
    ret = a_return(clock)
    sandbox.arm_fault("create_return_record", "timeout_after_commit")
    with pytest.raises(OutcomeUnknown):
        connector.create_return_record("rl:R1:return", ret, order)
    effect = connector.create_return_record("rl:R1:return", ret, order)
    assert "already" in effect.summary
    [info] = sandbox.order_doc("1001")["returnInfo"]
    assert info["returnTrackingId"] == "R1"
    assert info["items"][0]["shipmentState"] == "Returned"
    assert info["items"][0]["paymentState"] == "Initial"


def test_returning_more_than_ordered_is_refused_with_the_api_message(sandbox, connector, clock):
    order = connector.get_order("1001")
    with pytest.raises(PermanentError) as err:
        connector.create_return_record("k", a_return(clock, lines=(("l1", "TEE-M", 3),)), order)
    assert err.value.code == "InvalidOperation" and "only 2 were ordered" in err.value.message


def test_exchange_order_is_zero_value_linked_and_created_once(sandbox, connector):
    req = ExchangeRequest(key="rl:R1:exchange:1", return_id="R1", order_ref="1001",
                          skus=(("TEE-L", 1),))
    sandbox.arm_fault("exchange_order", "timeout_after_commit")
    with pytest.raises(OutcomeUnknown):
        connector.create_exchange_order(req)
    assert connector.find_exchange_order("1001", req.key) is not None
    effect = connector.create_exchange_order(req)
    assert effect.data["total"] == "0.00" and effect.data["skus"] == ["TEE-L"]
    assert connector.get_order("1001").replacement_order_refs == (effect.external_id,)
    replacement = sandbox.order_doc(effect.external_id)
    assert replacement["customerEmail"] == "ann@example.com"
    assert replacement["totalPrice"]["centAmount"] == 0


def test_tags_live_in_the_order_custom_fields(sandbox, connector):
    order = connector.get_order("1001")
    connector.tag_order("k", order, ["returnline", "TOO_SMALL"], "R1 refunded")
    connector.tag_order("k", order, ["TOO_SMALL"], "R1 refunded")
    assert connector.get_order("1001").tags == ("returnline", "TOO_SMALL")


def test_external_view_shape(sandbox, connector, clock):
    from sync.connectors.base import RefundLineRequest, RefundRequest, StockMovement
    order = connector.get_order("1001")
    line = order.lines[0]
    connector.refund(RefundRequest("rl:R1:refund:1", "R1", "1001", Money(2000, "GBP"),
                                   (RefundLineRequest(line.line_ref, "TEE-M", 1,
                                                      Money(2000, "GBP")),)))
    connector.move_stock([StockMovement("s1", "R1", "TEE-M", "uk-dc-sellable", 1, True)])
    connector.create_exchange_order(ExchangeRequest("x1", "R1", "1001", (("TEE-L", 1),)))
    sandbox.manual_refund("1001", amount="5.00")
    assert sandbox.external_view() == {
        "refunds": [{"order": "1001", "return": "R1", "amount": "20.00", "currency": "GBP"},
                    {"order": "1001", "return": None, "amount": "5.00", "currency": "GBP"}],
        "stock": [{"sku": "TEE-M", "location": "uk-dc-sellable", "delta": 1, "sellable": True}],
        "exchange_orders": [{"for_order": "1001", "skus": ["TEE-L"], "total": "0.00"}]}
