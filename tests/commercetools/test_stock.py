"""Stock: addQuantity on the (SKU, channel) entry, keyed so a resend never doubles it."""

from __future__ import annotations

import pytest
from ct_support import a_return

from sync.connectors.base import OutcomeUnknown, StockMovement
from sync.connectors.commercetools import StockRefused


def mv(key, sku="TEE-M", location="uk-dc-sellable", delta=1, sellable=True, return_id="R1"):
    return StockMovement(key=key, return_id=return_id, sku=sku, location_id=location,
                         delta=delta, sellable=sellable)


def test_restock_and_quarantine_are_net_movements_per_channel(sandbox, connector):
    sandbox.seed_stock("TEE-M", "uk-dc-sellable", 5)
    effects = connector.move_stock([mv("k1"), mv("k2", sku="MUG"),
                                    mv("k3", location="uk-dc-quarantine", sellable=False)])
    assert [e.data["delta"] for e in effects] == [1, 1, 1]
    assert sandbox.stock_of("TEE-M", "uk-dc-sellable") == 6
    assert sandbox.stock_of("MUG", "uk-dc-sellable") == 1  # entry created for a new SKU
    assert sandbox.external_view()["stock"] == [
        {"sku": "MUG", "location": "uk-dc-sellable", "delta": 1, "sellable": True},
        {"sku": "TEE-M", "location": "uk-dc-quarantine", "delta": 1, "sellable": False},
        {"sku": "TEE-M", "location": "uk-dc-sellable", "delta": 1, "sellable": True}]
    ops = [e["operation"] for e in sandbox.journal if e["method"] == "POST"
           and "/inventory" in e["path"]]
    assert ops == ["restock", "restock", "quarantine"]


def test_batch_for_one_entry_is_one_update_and_a_resend_changes_nothing(sandbox, connector):
    sandbox.seed_stock("TEE-M", "uk-dc-sellable", 5)
    connector.move_stock([mv("k1"), mv("k2"), mv("k3", delta=2)])
    writes = [e for e in sandbox.journal if e["method"] == "POST" and "/inventory" in e["path"]]
    assert len(writes) == 1
    assert writes[0]["body"]["actions"][0] == {"action": "addQuantity", "quantity": 4}
    again = connector.move_stock([mv("k1"), mv("k2"), mv("k3", delta=2)])
    assert all("already applied" in e.summary for e in again)
    assert sandbox.stock_of("TEE-M", "uk-dc-sellable") == 9


def test_timeout_after_commit_is_found_by_key_after_a_restart(sandbox, connector, http, clock):
    from ct_support import make_connector
    sandbox.arm_fault("restock", "timeout_after_commit")
    with pytest.raises(OutcomeUnknown):
        connector.move_stock([mv("rl:R1:restock:TEE-M")])
    fresh = make_connector(http, clock)  # no in-memory hints: scans the keyed entries
    found = fresh.find_stock_movement("rl:R1:restock:TEE-M")
    assert found is not None and found.data["sku"] == "TEE-M"
    assert fresh.find_stock_movement("rl:R9:restock:TEE-M") is None
    fresh.move_stock([mv("rl:R1:restock:TEE-M")])
    assert sandbox.stock_of("TEE-M", "uk-dc-sellable") == 1


def test_inactive_location_is_refused_and_the_rest_applied(sandbox, connector):
    sandbox.set_location_active("uk-dc-quarantine", False)
    with pytest.raises(StockRefused) as err:
        connector.move_stock([mv("ok"), mv("bad", location="uk-dc-quarantine", sellable=False)])
    assert err.value.refused == ["bad"] and err.value.code == "location_inactive"
    assert len(err.value.applied) == 1
    assert sandbox.stock_of("TEE-M", "uk-dc-quarantine") is None
    assert sandbox.stock_of("TEE-M", "uk-dc-sellable") == 1


def test_sandbox_itself_refuses_stock_on_a_channel_without_the_role(sandbox, connector):
    connector.move_stock([mv("k1", location="uk-dc-quarantine", sellable=False)])
    sandbox.set_location_active("uk-dc-quarantine", False)
    entry = next(iter(sandbox.inventory.values()))
    resp = connector.http._client.post(
        f"{connector.http.base}/inventory/{entry['id']}",
        headers={"Authorization": f"Bearer {connector.tokens.token()}"},
        json={"version": entry["version"], "actions": [{"action": "addQuantity", "quantity": 1}]})
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "MissingRoleOnChannel"


def test_return_items_move_to_back_in_stock_and_unusable_only_from_returned(
        sandbox, connector, clock):
    order = connector.get_order("1001")
    ret = a_return(clock, lines=(("l1", "TEE-M", 1), ("l2", "MUG", 1)))
    connector.create_return_record("rl:R1:return", ret, order)
    connector.move_stock([mv("k1"), mv("k2", sku="MUG", location="uk-dc-quarantine",
                                       sellable=False)])
    items = sandbox.order_doc("1001")["returnInfo"][0]["items"]
    assert [i["shipmentState"] for i in items] == ["BackInStock", "Unusable"]
    # BackInStock -> Unusable is not a legal transition: the API says InvalidOperation
    doc = sandbox.order_doc("1001")
    resp = connector.http._client.post(
        f"{connector.http.base}/orders/{doc['id']}",
        headers={"Authorization": f"Bearer {connector.tokens.token()}"},
        json={"version": doc["version"], "actions": [{
            "action": "setReturnShipmentState", "returnItemId": items[0]["id"],
            "shipmentState": "Unusable"}]})
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "InvalidOperation"
    assert sandbox.order_doc("1001")["version"] == doc["version"]  # nothing applied
