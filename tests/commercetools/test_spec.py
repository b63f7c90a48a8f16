"""Every body the connector sends validates against the committed extract (always) and the
official OpenAPI spec (where ../shared/reference exists); the sandbox answers in spec shapes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from ct_support import a_return

from rules.money import Money
from sync.connectors.base import (
    ExchangeRequest,
    RefundLineRequest,
    RefundRequest,
    StockMovement,
)
from sync.sandbox.commercetools.validator import (
    EXTRACT_PATH,
    SchemaValidator,
    extract_validator,
    load_extract,
)

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL = ROOT.parent / "shared" / "reference" / "commercetools" / "openapi.yaml"
needs_reference = pytest.mark.skipif(not OFFICIAL.exists(), reason="no ../shared/reference")


def _tool():
    spec = importlib.util.spec_from_file_location(
        "commercetools_spec_extract", ROOT / "tools" / "commercetools_spec_extract.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def official_spec():
    return _tool().load_spec(OFFICIAL)


def run_every_write(sandbox, connector, clock):
    """Drive every kind of request the connector can send, incl. the 409 and resend paths."""
    sandbox.seed_stock("TEE-M", "uk-dc-sellable", 3)
    order = connector.get_order("1001")
    ret = a_return(clock, lines=(("l1", "TEE-M", 1), ("l2", "MUG", 1)))
    connector.create_return_record("rl:R1:return", ret, order)
    connector.tag_order("rl:R1:tag", order, ["returnline"], "R1")
    connector.tag_order("rl:R1:tag2", order, ["TOO_SMALL"], "")
    line = order.lines[0]
    sandbox.arm_fault("refund", "conflict_409")
    connector.refund(RefundRequest("rl:R1:refund:1", "R1", "1001", Money(2000, "GBP"),
                                   (RefundLineRequest(line.line_ref, "TEE-M", 1,
                                                      Money(2000, "GBP")),), note="size"))
    connector.move_stock([
        StockMovement("s1", "R1", "TEE-M", "uk-dc-sellable", 1, True),
        StockMovement("s2", "R1", "MUG", "uk-dc-quarantine", 1, False)])
    connector.move_stock([StockMovement("s3", "R1", "TEE-M", "uk-dc-sellable", -1, True)])
    connector.create_exchange_order(ExchangeRequest("x1", "R1", "1001", (("TEE-L", 1),)))
    connector.find_stock_movement("s1")
    connector.find_exchange_order("1001", "x1")


def sent_bodies(sandbox):
    return [e for e in sandbox.journal if e["body"] is not None and e["path"] != "/oauth/token"]


def test_every_sent_body_validates_against_the_committed_extract(sandbox, connector, clock):
    run_every_write(sandbox, connector, clock)
    bodies = sent_bodies(sandbox)
    assert {b["body"]["actions"][0]["action"] for b in bodies if "actions" in b["body"]} >= {
        "addReturnInfo", "setCustomType", "setCustomField", "setReturnPaymentState",
        "addTransaction", "addQuantity", "removeQuantity", "setReturnShipmentState"}
    strict = extract_validator(strict=True)
    for entry in bodies:
        schema = sandbox.request_schema(entry["method"], entry["path"])
        assert schema, entry["path"]
        assert strict.errors(schema, entry["body"]) == [], (entry["path"], entry["body"])
    assert all(e["status"] in (200, 201, 404, 409) for e in sandbox.journal), \
        [(e["path"], e["status"]) for e in sandbox.journal if e["status"] not in (200, 201, 404, 409)]
    token = next(e for e in sandbox.journal if e["path"] == "/oauth/token")
    assert token["body"].startswith("grant_type=client_credentials")


@needs_reference
def test_every_sent_body_validates_against_the_official_spec(
        sandbox, connector, clock, official_spec):
    run_every_write(sandbox, connector, clock)
    validator = SchemaValidator(official_spec["components"]["schemas"])
    for entry in sent_bodies(sandbox):
        op = sandbox.operation_key(entry["method"], entry["path"])
        method, template = op.split(" ", 1)
        ref = official_spec["paths"][template][method.lower()]["requestBody"]["content"][
            "application/json"]["schema"]["$ref"]
        assert validator.errors(ref.rsplit("/", 1)[-1], entry["body"]) == [], entry


@needs_reference
def test_committed_extract_is_what_the_tool_makes(official_spec):
    made = _tool().extract(official_spec)
    assert made == json.loads(EXTRACT_PATH.read_text(encoding="utf-8"))


def test_sandbox_answers_validate_against_the_extract(sandbox, connector, clock):
    run_every_write(sandbox, connector, clock)
    ops = load_extract()["operations"]
    validator = extract_validator()
    checked = 0
    for entry, resp in zip(sandbox.journal, _replay_responses(sandbox), strict=True):
        op = sandbox.operation_key(entry["method"], entry["path"])
        if op is None or resp is None:
            continue
        schema = ops[op]["responses"].get(str(entry["status"]))
        if schema:
            assert validator.errors(schema, resp) == [], (entry["path"], entry["status"])
            checked += 1
    assert checked > 10


def _replay_responses(sandbox):
    """Answer bodies, as recorded by the response hook below (None when not recorded)."""
    return sandbox.recorded_responses


@pytest.fixture(autouse=True)
def _record_responses(sandbox, monkeypatch):
    sandbox.recorded_responses = []
    original = type(sandbox).handle

    def handle(self, req):
        resp = original(self, req)
        try:
            self.recorded_responses.append(json.loads(resp.body) if resp.body else None)
        except ValueError:
            self.recorded_responses.append(None)
        return resp

    monkeypatch.setattr(type(sandbox), "handle", handle)


@pytest.mark.parametrize("body,detail", [
    ({"actions": []}, "version: Missing required value"),
    ({"version": 1, "actions": [{"action": "explode"}]}, "action: Unknown value 'explode'"),
    ({"version": "1", "actions": []}, "version: expected integer"),
    ({"version": 1, "actions": [{"action": "addReturnInfo", "items": [
        {"quantity": 1, "shipmentState": "Lost"}]}]}, "Unknown value 'Lost'"),
    ({"version": 1, "actions": [{"action": "changeOrderState", "orderState": "Complete",
                                 "colour": "red"}]}, "colour: Unknown field"),
])
def test_invalid_bodies_get_invalid_json_input(sandbox, connector, body, detail):
    doc = sandbox.order_doc("1001")
    resp = connector.http._client.post(
        f"{connector.http.base}/orders/{doc['id']}", json=body,
        headers={"Authorization": f"Bearer {connector.tokens.token()}"})
    assert resp.status_code == 400
    error = resp.json()["errors"][0]
    assert error["code"] == "InvalidJsonInput" and detail in error["detailedErrorMessage"]
    assert extract_validator().errors("ErrorResponse", resp.json()) == []
