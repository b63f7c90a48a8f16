"""The order re-read before money moves: the same facts as the full read, for fewer points,
and a full read again when the order grew past what the snapshot sized for."""

from __future__ import annotations

from dataclasses import replace


def _costs(sandbox):
    seen = []
    original = sandbox._cost_extension

    def spy(requested, actual):
        seen.append(requested)
        return original(requested, actual)

    sandbox._cost_extension = spy
    return seen


def test_reread_gives_the_order_as_the_full_read_does_for_fewer_points(sandbox, connector):
    full = connector.get_order("1001")
    sandbox.manual_refund("1001", lines=[{"sku": "MUG", "qty": 1}], note="by hand")
    requested = _costs(sandbox)
    now = connector.reread_order("1001", known=full)
    assert len(requested) == 1 and requested[0] < 100  # sized to the 2 lines known
    again = connector.get_order("1001")
    assert requested[1] == 435
    assert replace(now, updated_at=None) == replace(again, updated_at=None)
    assert len(now.refunds) == 1 and now.refunds[0].idempotency_key is None  # by hand


def test_an_order_that_grew_is_read_in_full(sandbox, connector):
    known = connector.get_order("1001")
    sandbox.edit_order("1001", lines=[
        {"sku": "TEE-M", "qty": 2, "unit_price": "20.00", "unit_tax": "4.00"},
        {"sku": "MUG", "qty": 1, "unit_price": "12.50", "unit_discount": "2.50"},
        {"sku": "CAP", "qty": 1, "unit_price": "9.00"},
        {"sku": "SOCK", "qty": 1, "unit_price": "4.00"},
    ])
    requested = _costs(sandbox)
    now = connector.reread_order("1001", known=replace(known, lines=known.lines[:1]))
    assert len(requested) == 2 and requested[1] == 435  # sized for 2 lines, found more: full
    assert sorted(line.sku for line in now.lines) == ["CAP", "MUG", "SOCK", "TEE-M"]
