"""Refunds: priced on the order as it is now, exactly once, exact money."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import httpx
import pytest
from ct_support import a_return, make_connector

from rules.money import Money
from sync.connectors.base import (
    ConflictError,
    OutcomeUnknown,
    RefundLineRequest,
    RefundRequest,
)
from sync.sandbox.base import SandboxTransport


def refund_request(order, key="rl:R1:refund:1", return_id="R1", sku="TEE-M", qty=1,
                   amount="20.00"):
    line = next(ln for ln in order.lines if ln.sku == sku)
    money = Money.parse(amount, order.currency)
    return RefundRequest(key=key, return_id=return_id, order_ref=order.order_ref, amount=money,
                         lines=(RefundLineRequest(line.line_ref, sku, qty, money),))


def refunds_in(sandbox, number="1001"):
    return [t for t in sandbox.payment_of(number)["transactions"] if t["type"] == "Refund"]


def test_refund_is_a_refund_transaction_keyed_by_interaction_id(sandbox, connector, clock):
    order = connector.get_order("1001")
    connector.create_return_record("rl:R1:return", a_return(clock), order)
    effect = connector.refund(refund_request(order))
    [tx] = refunds_in(sandbox)
    assert tx["interactionId"] == "rl:R1:refund:1" and tx["state"] == "Success"
    assert tx["amount"] == {"type": "centPrecision", "currencyCode": "GBP", "centAmount": 2000,
                            "fractionDigits": 2}
    assert effect.external_id == tx["id"] and effect.data["amount"] == "20.00"
    [item] = sandbox.order_doc("1001")["returnInfo"][0]["items"]
    assert item["paymentState"] == "Refunded"
    again = connector.get_order("1001")
    [seen] = again.refunds
    assert seen.idempotency_key == "rl:R1:refund:1" and seen.amount == Money(2000, "GBP")
    assert seen.lines[0].qty == 1 and seen.lines[0].sku == "TEE-M"
    assert sandbox.external_view()["refunds"] == [
        {"order": "1001", "return": "R1", "amount": "20.00", "currency": "GBP"}]


class EditBetweenReadAndWrite(SandboxTransport):
    """Edits the order right after the connector's first read of it (the race)."""

    def __init__(self, sandbox, new_lines):
        super().__init__([sandbox])
        self.sandbox, self.new_lines, self.done = sandbox, new_lines, False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = super().handle_request(request)
        if not self.done and request.method == "GET" and "order-number=1001" in request.url.path:
            self.done = True
            self.sandbox.edit_order("1001", self.new_lines)
        return resp


def test_409_race_with_an_order_edit_refunds_the_edited_price(sandbox, clock, http):
    planner = make_connector(http, clock)
    order = planner.get_order("1001")  # what the rules planned with: 20.00
    planner.create_return_record("rl:R1:return", a_return(clock), order)
    racing = make_connector(httpx.Client(transport=EditBetweenReadAndWrite(sandbox, [
        {"sku": "TEE-M", "qty": 2, "unit_price": "17.50", "unit_tax": "3.50"},
        {"sku": "MUG", "qty": 1, "unit_price": "9.99"}])), clock)
    effect = racing.refund(refund_request(order))
    conflicts = [e for e in sandbox.journal if e["status"] == 409]
    assert len(conflicts) == 1 and conflicts[0]["method"] == "POST"  # the guarded order write
    [tx] = refunds_in(sandbox)
    assert tx["amount"]["centAmount"] == 1750
    assert effect.data["planned"] == "20.00" and effect.data["amount"] == "17.50"


def test_409_burst_on_the_payment_is_re_read_and_re_applied_never_doubled(sandbox, connector):
    order = connector.get_order("1001")
    sandbox.arm_fault("refund", "conflict_409", count=2)
    connector.refund(refund_request(order))
    assert len(refunds_in(sandbox)) == 1
    conflict = next(e for e in sandbox.journal if e["status"] == 409)
    assert conflict["operation"] == "refund"


def test_endless_409_gives_up_with_conflict_and_no_refund(sandbox, connector):
    order = connector.get_order("1001")
    sandbox.arm_fault("refund", "conflict_409", count=50)
    with pytest.raises(ConflictError) as err:
        connector.refund(refund_request(order))
    assert err.value.current_version is not None
    assert refunds_in(sandbox) == []


def test_repeated_refund_after_timeout_after_commit_makes_one_transaction(sandbox, connector):
    order = connector.get_order("1001")
    req = refund_request(order)
    sandbox.arm_fault("refund", "timeout_after_commit")
    with pytest.raises(OutcomeUnknown):
        connector.refund(req)
    found = connector.find_refund("1001", req.key)  # lookup before resend
    assert found is not None and found.data["amount"] == "20.00"
    again = connector.refund(req)  # even a blind resend finds the first
    assert again.external_id == found.external_id
    assert len(refunds_in(sandbox)) == 1


def test_malformed_answer_to_a_refund_is_an_unknown_outcome(sandbox, connector):
    order = connector.get_order("1001")
    sandbox.arm_fault("refund", "malformed")
    with pytest.raises(OutcomeUnknown):
        connector.refund(refund_request(order))
    assert connector.find_refund("1001", "rl:R1:refund:1") is not None


def test_manual_refund_in_the_admin_is_seen_with_its_lines(sandbox, connector):
    sandbox.manual_refund("1001", lines=[{"sku": "TEE-M", "qty": 1}], note="goodwill")
    order = connector.get_order("1001")
    [refund] = order.refunds
    assert refund.idempotency_key is None and refund.amount == Money(2000, "GBP")
    assert refund.lines[0].sku == "TEE-M" and refund.note == "goodwill"
    assert sandbox.external_view()["refunds"][0]["return"] is None
    # and the connector will not refund more than is left on that line
    order_line = next(ln for ln in order.lines if ln.sku == "TEE-M")
    assert order_line.qty == 2
    with pytest.raises(Exception) as err:
        connector.refund(refund_request(order, qty=2, amount="40.00"))
    assert getattr(err.value, "code", None) == "not_refundable"


def test_high_precision_refunds_over_1000_lines_sum_exactly(clock, http, sandbox):
    lines = [{"sku": f"BOLT-{i:04d}", "qty": 1 + i % 3,
              "precise_unit_price": {"preciseAmount": 1_000_003 + 7919 * i, "fractionDigits": 6}}
             for i in range(1000)]
    sandbox.seed_order("2001", currency="EUR", lines=lines)
    conn = make_connector(http, clock)
    order = conn.get_order("2001")
    assert order.lines[1].unit_price_precise.precise_amount == 1_000_003 + 7919
    expected_total = Decimal(0)
    per_line_rounding = 0
    for batch in range(10):
        chunk = order.lines[batch * 100:(batch + 1) * 100]
        exact = sum((ln.unit_price_precise.to_decimal() * ln.qty for ln in chunk), Decimal(0))
        once = int((exact * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        per_line_rounding += sum(ln.unit_price_precise.__mul__(ln.qty).to_money().minor
                                 for ln in chunk)
        expected_total += Decimal(once)
        req = RefundRequest(
            key=f"rl:B{batch}:refund:1", return_id=f"B{batch}", order_ref="2001",
            amount=Money(once, "EUR"),
            lines=tuple(RefundLineRequest(ln.line_ref, ln.sku, ln.qty,
                                          ln.unit_price_precise.__mul__(ln.qty).to_money())
                        for ln in chunk))
        effect = conn.refund(req)
        assert effect.data["amount"] == Money(once, "EUR").amount_str()  # rounded once
    refunded = sum(t["amount"]["centAmount"] for t in refunds_in(sandbox, "2001"))
    assert refunded == expected_total
    assert len(refunds_in(sandbox, "2001")) == 10
    assert per_line_rounding != refunded  # rounding per line would have drifted
