"""The sandbox answers with Shopify's own shapes: errors, costs, webhooks, idempotency."""

from __future__ import annotations

import json

import pytest

from sync.connectors.shopify import (
    parse_refund_webhook,
    verify_webhook,
    webhook_dedupe_key,
    webhook_topic,
)
from sync.sandbox.shopify import SANDBOX_WEBHOOK_SECRET

from .test_connector import TOKEN, URL, refund_request

ADJUST = """
mutation Adj($input: InventoryAdjustQuantitiesInput!, $k: String!) {
  inventoryAdjustQuantities(input: $input) @idempotent(key: $k) {
    inventoryAdjustmentGroup { id changes { name delta } }
    userErrors { code field message }
  }
}
"""


def post(client, query, variables=None, headers=TOKEN):
    return client.post(URL, headers=headers, json={"query": query, "variables": variables or {}})


def adjust_input(sandbox, name="available", **change):
    item = sandbox.seed_inventory("TEE-M")
    loc = sandbox.location_gid("uk-dc-sellable")
    base = {"inventoryItemId": item, "locationId": loc, "delta": 1, "changeFromQuantity": None}
    return {"name": name, "reason": "restock", "referenceDocumentUri": "gid://returnline/Return/R1",
            "changes": [{**base, **change}]}


def test_unknown_field_is_undefined_field_without_data(client):
    body = post(client, "mutation { tagsAdd(id: \"gid://shopify/Order/1\", tags: [\"a\"]) "
                        "{ userErrors { code } } }").json()
    assert "data" not in body
    assert body["errors"][0]["message"] == "Field 'code' doesn't exist on type 'UserError'"
    assert body["errors"][0]["extensions"] == {"code": "undefinedField", "typeName": "UserError",
                                               "fieldName": "code"}


def test_inline_unknown_argument_is_argument_not_accepted(client):
    body = post(client, "{ order(id: \"gid://shopify/Order/1\", locationId: \"x\") { id } }").json()
    assert body["errors"][0]["extensions"]["code"] == "argumentNotAccepted"


def test_unknown_variable_field_is_invalid_variable(client, sandbox):
    body = post(client, ADJUST, {"input": {**adjust_input(sandbox), "ignoreCompareQuantity": True},
                                 "k": "k1"}).json()
    assert "data" not in body
    error = body["errors"][0]
    assert error["extensions"]["code"] == "INVALID_VARIABLE"
    assert error["extensions"]["problems"] == [{
        "path": ["ignoreCompareQuantity"],
        "explanation": "Field is not defined on InventoryAdjustQuantitiesInput"}]


def test_change_from_quantity_must_be_sent(client, sandbox):
    inp = adjust_input(sandbox)
    del inp["changes"][0]["changeFromQuantity"]
    body = post(client, ADJUST, {"input": inp, "k": "k1"}).json()
    assert body["data"] == {"inventoryAdjustQuantities": None}
    assert body["errors"][0]["extensions"]["code"] == "INVALID_FIELD_ARGUMENTS"
    assert sandbox.external_view()["stock"] == []


def test_quantity_names_and_ledger_documents_are_enforced(client, sandbox):
    body = post(client, ADJUST, {"input": adjust_input(sandbox, "on_hand"), "k": "k1"}).json()
    error = body["data"]["inventoryAdjustQuantities"]["userErrors"][0]
    assert error["field"] == ["input", "name"] and error["message"].startswith(
        "The specified quantity name is invalid. Valid values are: available, damaged")
    body = post(client, ADJUST, {"input": adjust_input(sandbox, "damaged"), "k": "k2"}).json()
    assert body["data"]["inventoryAdjustQuantities"]["userErrors"][0]["code"] == \
        "INVALID_QUANTITY_DOCUMENT"


def test_same_key_same_input_returns_the_first_result_other_input_mismatches(client, sandbox):
    first = post(client, ADJUST, {"input": adjust_input(sandbox), "k": "k1"}).json()
    again = post(client, ADJUST, {"input": adjust_input(sandbox), "k": "k1"}).json()
    group = first["data"]["inventoryAdjustQuantities"]["inventoryAdjustmentGroup"]
    assert again["data"]["inventoryAdjustQuantities"]["inventoryAdjustmentGroup"] == group
    assert [c["name"] for c in group["changes"]] == ["available", "on_hand"]  # mirrored
    other = post(client, ADJUST, {"input": adjust_input(sandbox, delta=5), "k": "k1"}).json()
    assert other["data"]["inventoryAdjustQuantities"]["userErrors"][0]["code"] == \
        "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"
    assert sandbox.stock_level("TEE-M", "uk-dc-sellable") == 6


def test_every_answer_carries_cost_and_throttled_has_no_data(client, sandbox):
    body = post(client, "{ locations(first: 5) { nodes { id name isActive } } }").json()
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 7 and cost["actualQueryCost"] == 4
    assert cost["throttleStatus"] == {"maximumAvailable": 2000, "currentlyAvailable": 1996,
                                      "restoreRate": 100}
    sandbox.arm_fault("get_locations", "throttled")
    body = post(client, "{ locations(first: 5) { nodes { id } } }").json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert body["extensions"]["cost"]["actualQueryCost"] is None


def test_max_cost_exceeded(client):
    body = post(client, "{ orders(first: 250) { nodes { lineItems(first: 250) "
                        "{ nodes { id } } } } }").json()
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"


def test_bad_token_is_401_with_shopifys_body(client):
    resp = post(client, "{ locations(first: 1) { nodes { id } } }",
                headers={"X-Shopify-Access-Token": "nope"})
    assert resp.status_code == 401
    assert resp.json() == {"errors": "[API] Invalid API key or access token (unrecognized login "
                                     "or wrong password)"}


def test_refund_webhook_is_signed_deduplicable_and_parses(connector, sandbox):
    sandbox.subscribe_webhooks()
    effect = connector.refund(refund_request(connector))
    deliveries = sandbox.take_webhooks()
    assert [d["topic"] for d in deliveries] == ["refunds/create", "orders/updated"]
    hook = deliveries[0]
    assert verify_webhook(SANDBOX_WEBHOOK_SECRET, hook["body"], hook["headers"])
    assert not verify_webhook("other-secret", hook["body"], hook["headers"])
    tampered = hook["body"].replace(b'"24.00"', b'"2400.00"')
    assert not verify_webhook(SANDBOX_WEBHOOK_SECRET, tampered, hook["headers"])
    assert not verify_webhook(SANDBOX_WEBHOOK_SECRET, hook["body"], {})
    keys = {webhook_dedupe_key(d["headers"]) for d in deliveries}
    assert len(keys) == 2 and webhook_dedupe_key(hook["headers"]) in keys
    assert webhook_dedupe_key({k.lower(): v for k, v in hook["headers"].items()}) == \
        webhook_dedupe_key(hook["headers"])
    assert webhook_topic(hook["headers"]) == "refunds/create"
    event = parse_refund_webhook(hook["body"])
    assert event.refund.refund_id == effect.external_id
    assert str(event.refund.amount) == "GBP 24.00"
    assert event.refund.idempotency_key == "rl:R1:refund:1" and event.return_id == "R1"
    assert event.refund.lines[0].sku == "TEE-M"
    assert sandbox.take_webhooks() == []


def test_cancel_and_manual_refund_emit_webhooks(sandbox):
    sandbox.subscribe_webhooks()
    sandbox.manual_refund("1001", [{"sku": "MUG", "qty": 1}])
    sandbox.cancel_order("1001")
    topics = [d["topic"] for d in sandbox.take_webhooks()]
    assert topics == ["refunds/create", "orders/updated", "orders/cancelled", "orders/updated"]


@pytest.mark.parametrize("part", [0, 1, 2, 3, 4, 5, 6])
def test_served_extra_documents_execute(client, sandbox, part):
    import re

    from sync.sandbox.shopify.runtime import EXTRACT_PATH

    text = (EXTRACT_PATH.parent / "served_extra.graphql").read_text()
    doc = [p for p in re.split(r"^# -{4,}$", text, flags=re.M) if p.strip()][part]
    order = sandbox.order("1001")
    loc = sandbox.location_gid("uk-dc-sellable")
    line = order["lines"][0]["id"]
    variables = {"id": order["id"], "query": "sku:TEE-M", "loc": loc, "tags": ["x"], "key": "k",
                 "input": {}, "order": {"lineItems": [{"sku": "TEE-L", "quantity": 1}],
                                        "customAttributes": [{"key": "a", "value": "b"}]}}
    if "SandboxReturn" in doc:
        fli = order["fulfillments"][0]["lines"][0]["id"]
        variables["input"] = {"orderId": order["id"], "returnLineItems": [
            {"fulfillmentLineItemId": fli, "quantity": 1, "returnReason": "COLOR"}]}
    if "SandboxRefund" in doc:
        variables["input"] = {"orderId": order["id"], "refundLineItems": [
            {"lineItemId": line, "quantity": 1, "restockType": "RETURN", "locationId": loc}]}
    if "SandboxLocation" in doc:
        variables["id"] = loc
    names = set(re.findall(r"\$(\w+):", doc))
    body = post(client, doc, {k: v for k, v in variables.items() if k in names}).json()
    assert "errors" not in body, json.dumps(body)[:500]
    if "SandboxRefund" in doc:  # a refund that restocks moves `available` there
        assert sandbox.stock_level("TEE-M", "uk-dc-sellable") == 6
