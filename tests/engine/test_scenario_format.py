"""Scenario files: a broken file is refused with the reason, the path and the step number."""

from __future__ import annotations

import json

import pytest

from sync.scenario import ScenarioError, load_scenario, parse_scenario

GOOD = {
    "name": "premature refund is held until graded",
    "start": "2026-11-02T09:00:00Z",
    "commerce": "shopify",
    "returns_platform": "rebound",
    "currency": "GBP",
    "policy": {"approval_threshold": {"GBP": "150.00"}},
    "warehouses": [{"id": "uk-dc", "locations": [
        {"id": "uk-dc-sellable", "sellable": True}, {"id": "uk-dc-quarantine", "sellable": False}]}],
    "reasons": {"master": ["TOO_SMALL", "FAULTY"], "map": {"Too small": "TOO_SMALL"}},
    "orders": [{"number": "1001", "currency": "GBP",
                "lines": [{"sku": "TEE-M", "qty": 2, "unit_price": "20.00"}]}],
    "steps": [
        {"do": "request_return", "return": "R1", "order": "1001",
         "lines": [{"sku": "TEE-M", "qty": 1, "reason": "Too small", "resolution": "refund"}]},
        {"do": "receive", "return": "R1"},
        {"do": "advance", "minutes": 30},
        {"do": "grade", "return": "R1", "warehouse": "uk-dc",
         "lines": [{"sku": "TEE-M", "condition": "sellable"}]},
        {"do": "advance", "minutes": 30},
    ],
}


def broken(**changes):
    data = json.loads(json.dumps(GOOD))
    for path, value in changes.items():
        data[path] = value
    return data


def problems(data) -> list[str]:
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(data, "s.json")
    return exc.value.problems


def test_the_issue_example_parses():
    scenario = parse_scenario(GOOD)
    assert scenario.commerce == "shopify" and len(scenario.steps) == 5
    assert scenario.start.isoformat() == "2026-11-02T09:00:00+00:00"


def test_unknown_verb_names_step_number():
    steps = GOOD["steps"] + [{"do": "teleport", "return": "R1"}]
    assert problems(broken(steps=steps)) == [
        "s.json: step 6: unknown step 'teleport'; known: request_return, in_transit, receive, "
        "grade, approve, reject, reclassify, retry, resolve, create_order, cancel_order, "
        "edit_order, manual_refund, set_location, fault, advance, sync, expect"]


def test_step_on_an_unrequested_return_is_refused():
    steps = [{"do": "receive", "return": "R9"}]
    assert problems(broken(steps=steps)) == [
        "s.json: step 1 (receive): unknown return 'R9' (no request_return step before it)"]


def test_float_prices_are_refused():
    orders = [{"number": "1001", "lines": [{"sku": "TEE-M", "qty": 2, "unit_price": 20.0}]}]
    assert problems(broken(orders=orders)) == [
        "s.json: $.orders[0].lines[0].unit_price: must be a decimal string such as \"20.00\" "
        "(never a float)"]


def test_bad_fault_and_condition_are_both_reported():
    steps = GOOD["steps"][:1] + [
        {"do": "fault", "system": "shopify", "operation": "refund", "kind": "explode"},
        {"do": "grade", "return": "R1", "lines": [{"sku": "TEE-M", "condition": "meh"}]}]
    found = problems(broken(steps=steps))
    assert any("step 2 (fault): unknown fault kind 'explode'" in p for p in found)
    assert any("step 3 (grade).lines[0].condition: must be one of" in p for p in found)


def test_rejection_needs_a_note():
    steps = GOOD["steps"] + [{"do": "reject", "return": "R1", "user": "sam"}]
    assert problems(broken(steps=steps)) == ["s.json: step 6 (reject): a rejection needs a 'note'"]


def test_invalid_json_reports_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"name": "x",\n "steps": [}\n')
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    assert "not valid JSON" in str(exc.value) and "line 2" in str(exc.value)
