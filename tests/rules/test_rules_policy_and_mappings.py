"""Policy and mappings are read from the scenario/config with clear errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rulekit import STORE

from rules.lifecycle import ExceptionType
from rules.mappings import Mappings, MappingsError
from rules.model import Condition, Disposition
from rules.money import Money
from rules.policy import Policy, PolicyError


def test_policy_defaults():
    p = Policy.from_dict(None)
    assert p.approval_threshold == {} and p.hold_damaged and p.hold_on_contradiction
    assert not p.always_hold and p.include_tax
    assert p.order_wait == timedelta(hours=2) and p.sla_window == timedelta(hours=48)
    assert p.owner(ExceptionType.UNKNOWN_REASON) == "merchandising"
    assert p.owner(ExceptionType.DRIFT) == "finance"
    assert p.threshold("gbp") is None


def test_policy_from_scenario_object():
    p = Policy.from_dict({"approval_threshold": {"GBP": "150.00", "jpy": "20000"},
                          "always_hold": True, "include_tax": False, "order_wait": "90m",
                          "sla_window_hours": 24, "owners": {"sla_breach": " cx "},
                          "hold_damaged": False, "tag_orders": False})
    assert p.threshold("GBP") == Money.parse("150.00", "GBP")
    assert p.threshold("JPY") == Money(20000, "JPY")
    assert p.always_hold and not p.include_tax and not p.hold_damaged and not p.tag_orders
    assert p.order_wait == timedelta(minutes=90) and p.sla_window == timedelta(hours=24)
    assert p.owner(ExceptionType.SLA_BREACH) == "cx"
    assert Policy.from_dict({"order_wait_minutes": 30, "sla_window": "2d"}).sla_window == \
        timedelta(days=2)
    assert Policy.from_dict({"order_wait_minutes": 30}).order_wait == timedelta(minutes=30)


@pytest.mark.parametrize("data, message", [
    ([], "policy must be an object"),
    ({"aproval_threshold": {}}, "unknown key(s) ['aproval_threshold']"),
    ({"approval_threshold": "150"}, "must map currency to amount"),
    ({"approval_threshold": {"GBP": "1.234"}}, "approval_threshold.GBP"),
    ({"approval_threshold": {"GBP": 1.5}}, "refusing float"),
    ({"approval_threshold": {"GBP": "-1"}}, "cannot be negative"),
    ({"always_hold": "yes"}, "always_hold must be true or false"),
    ({"order_wait": "soon"}, "not a duration"),
    ({"order_wait": True}, "not a duration"),
    ({"sla_window_hours": -1}, "cannot be negative"),
    ({"owners": []}, "owners must map"),
    ({"owners": {"late": "cx"}}, "unknown exception type 'late'"),
    ({"owners": {"drift": ""}}, "team must be a name"),
])
def test_policy_errors_say_what_and_where(data, message):
    with pytest.raises(PolicyError) as err:
        Policy.from_dict(data)
    assert message in str(err.value)


def test_mappings_from_scenario():
    m = Mappings.from_dict({**STORE, "dispositions": {"used": "restock"},
                            "default_warehouse": "uk-shop"})
    assert m.master_reasons[0] == "TOO_SMALL"
    assert m.disposition(Condition.USED) is Disposition.RESTOCK
    assert m.disposition(Condition.DAMAGED) is Disposition.QUARANTINE
    assert m.default_warehouse == "uk-shop"
    wh, loc = m.location("uk-dc-quarantine")
    assert wh.warehouse_id == "uk-dc" and not loc.sellable and loc.active
    assert m.location("nope") is None and m.warehouse(None) is None
    assert m.bundle("GIFT-SET").component("TEA").weight == 2
    assert m.bundle(None) is None and m.bundle("GIFT-SET").component("X") is None
    assert Mappings.from_dict(None).warehouses == {}


@pytest.mark.parametrize("data, message", [
    ([], "mappings must be an object"),
    ({"reasons": []}, "reasons must be an object"),
    ({"reasons": {"master": "A"}}, "reasons.master must be a list"),
    ({"reasons": {"master": ["A"], "map": {"x": "B"}}}, "maps to 'B', which is not in"),
    ({"reasons": {"master": ["A"], "map": []}}, "reasons.map must map"),
    ({"reasons": {"master": ["A"], "platforms": []}}, "reasons.platforms must map"),
    ({"reasons": {"master": ["A"], "defect": ["B"]}}, "reasons.defect must list"),
    ({"warehouses": {}}, "warehouses must be a list"),
    ({"warehouses": [{}]}, "warehouses[0]: needs an \"id\""),
    ({"warehouses": [{"id": "a", "locations": [{}]}]}, "locations[0]: needs an \"id\""),
    ({"warehouses": [{"id": "a", "locations": [{"id": "l"}]}]}, "\"sellable\" must be"),
    ({"warehouses": [{"id": "a", "locations": [{"id": "l", "sellable": True, "active": 1}]}]},
     "\"active\" must be"),
    ({"warehouses": [{"id": "a", "locations": [{"id": "l", "sellable": True}]},
                     {"id": "b", "locations": [{"id": "l", "sellable": True}]}]}, "used twice"),
    ({"warehouses": [{"id": "a"}, {"id": "a"}]}, "warehouse id 'a' used twice"),
    ({"warehouses": [{"id": "a"}], "default_warehouse": "b"}, "default_warehouse 'b'"),
    ({"dispositions": []}, "dispositions must map"),
    ({"dispositions": {"broken": "restock"}}, "conditions are"),
    ({"bundles": {}}, "bundles must be a list"),
    ({"bundles": [{}]}, "bundles[0]: needs a \"sku\""),
    ({"bundles": [{"sku": "B", "components": [{}]}]}, "components[0]: needs a \"sku\""),
    ({"bundles": [{"sku": "B", "components": [{"sku": "A", "qty": 0}]}]}, "qty must be"),
    ({"bundles": [{"sku": "B", "components": [{"sku": "A", "weight": -1}]}]}, "weight must be"),
    ({"bundles": [{"sku": "B", "components": [{"sku": "A", "weight": True}]}]}, "weight must be"),
    ({"bundles": [{"sku": "B", "components": []}]}, "at least one component"),
    ({"bundles": [{"sku": "B", "components": [{"sku": "A", "weight": 0}]}]}, "must not all be"),
    ({"bundles": [{"sku": "B", "components": [{"sku": "A"}, {"sku": "A"}]}]}, "listed twice"),
])
def test_mappings_errors_say_what_and_where(data, message):
    with pytest.raises(MappingsError) as err:
        Mappings.from_dict(data)
    assert message in str(err.value)
