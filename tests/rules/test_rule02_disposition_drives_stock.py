"""Rule 2: disposition drives stock; an inactive location is never a target."""

from __future__ import annotations

from dataclasses import replace

from rulekit import STORE, T0, authorised, execute, facts, graded, keys, mappings, ret, rline, run

from rules.lifecycle import ActionKind, ExceptionType, State
from rules.mappings import Mappings
from rules.model import Condition, Disposition, Grading
from rules.stock import target_location


def test_sellable_goes_back_to_the_sellable_location():
    p = run(facts(ret(rline(gradings=graded(Condition.SELLABLE)))))
    (move,) = p.of_kind(ActionKind.RESTOCK)
    assert move.key == "rl:R1:restock:1:1" and move.batchable
    assert move.payload | {} == {
        "return_id": "R1", "line_id": "1", "sku": "TEE-M", "delta": 1,
        "location_id": "uk-dc-sellable", "commerce_location_id": None, "warehouse_id": "uk-dc",
        "sellable": True, "condition": "sellable"}


def test_damaged_stock_is_never_resold():
    for cond in (Condition.DAMAGED, Condition.FAULTY, Condition.USED):
        p = run(facts(ret(rline(gradings=graded(cond)))))
        assert keys(p, ActionKind.RESTOCK) == []
        (move,) = p.of_kind(ActionKind.QUARANTINE)
        assert (move.payload["location_id"], move.payload["sellable"]) == (
            "uk-dc-quarantine", False)


def test_without_quarantine_location_damaged_is_booked_as_non_sellable_at_the_shelf():
    r = ret(rline(gradings=graded(Condition.DAMAGED, warehouse="uk-shop")))
    (move,) = run(facts(r)).of_kind(ActionKind.QUARANTINE)
    assert (move.payload["location_id"], move.payload["sellable"]) == ("uk-shop-floor", False)


def test_missing_and_wrong_item_move_no_stock_refund_nothing_and_tell_the_warehouse():
    r = ret(rline(qty=2, gradings=graded(Condition.MISSING, Condition.WRONG_ITEM)))
    p = run(facts(r))
    assert keys(p, ActionKind.RESTOCK) == keys(p, ActionKind.QUARANTINE) == []
    assert keys(p, ActionKind.REFUND) == []
    missing = [x for x in p.exceptions_open if x.type is ExceptionType.MISSING_ITEM]
    assert [(x.key, x.owner) for x in missing] == [
        ("rl:R1:exc:missing_item:1:1", "warehouse"), ("rl:R1:exc:missing_item:1:2", "warehouse")]
    assert p.state is State.BLOCKED


def test_missing_unit_is_not_refunded_but_the_rest_is():
    r = ret(rline(qty=2, gradings=graded(Condition.SELLABLE, Condition.MISSING)))
    (refund,) = run(facts(r)).of_kind(ActionKind.REFUND)
    assert refund.payload["amount"]["amount"] == "20.00"
    assert refund.payload["lines"][0]["qty"] == 1


def test_inactive_location_is_never_a_target_restock_failed_says_why():
    maps = mappings(warehouses=[{"id": "uk-dc", "locations": [
        {"id": "uk-dc-sellable", "sellable": True, "active": False}]}])
    p = run(facts(ret(rline(gradings=graded(Condition.SELLABLE)))), maps=maps)
    assert keys(p, ActionKind.RESTOCK) == []
    (exc,) = [x for x in p.exceptions_open if x.type is ExceptionType.RESTOCK_FAILED]
    assert exc.key == "rl:R1:exc:restock_failed:restock:1:1"
    assert exc.owner == "warehouse" and "'uk-dc-sellable' is inactive" in exc.message
    assert keys(p, ActionKind.REFUND) == ["rl:R1:refund:1"]  # money is not held by stock


def test_location_active_again_restocks_and_closes_restock_failed():
    maps_off = mappings(warehouses=[{"id": "uk-dc", "locations": [
        {"id": "uk-dc-sellable", "sellable": True, "active": False}]}])
    f = facts(ret(rline(gradings=graded(Condition.SELLABLE))))
    first = run(f, maps=maps_off)
    f2 = replace(f, open_exceptions=frozenset(x.key for x in first.exceptions_open))
    p = run(f2)
    assert keys(p, ActionKind.RESTOCK) == ["rl:R1:restock:1:1"]
    assert [c.key for c in p.exceptions_close] == ["rl:R1:exc:restock_failed:restock:1:1"]


def test_restock_already_planned_is_kept_even_if_its_location_went_inactive():
    f = facts(ret(rline(gradings=graded(Condition.SELLABLE))))
    f = execute(run(f), f, only={ActionKind.RESTOCK})
    maps_off = mappings(warehouses=[{"id": "uk-dc", "locations": [
        {"id": "uk-dc-sellable", "sellable": True, "active": False}]}])
    p = run(f, maps=maps_off)
    assert keys(p, ActionKind.RESTOCK) == ["rl:R1:restock:1:1"]
    assert ExceptionType.RESTOCK_FAILED not in p.open_types()


def test_prefers_an_active_location_and_the_one_the_warehouse_named():
    maps = mappings(warehouses=[{"id": "uk-dc", "locations": [
        {"id": "a", "sellable": True, "active": False}, {"id": "b", "sellable": True},
        {"id": "c", "sellable": True}]}])
    r = ret(rline(gradings=graded(Condition.SELLABLE)))
    assert run(facts(r), maps=maps).of_kind(ActionKind.RESTOCK)[0].payload["location_id"] == "b"
    r2 = ret(rline(gradings=graded(Condition.SELLABLE, location="c")))
    assert run(facts(r2), maps=maps).of_kind(ActionKind.RESTOCK)[0].payload["location_id"] == "c"


def test_unknown_warehouse_or_no_location_is_restock_failed():
    r = ret(rline(gradings=graded(Condition.SELLABLE, warehouse="nowhere")))
    p = run(facts(r))
    assert "warehouse 'nowhere' is not configured" in p.exceptions_open[0].message
    maps = mappings(warehouses=[{"id": "uk-dc", "locations": []}])
    p2 = run(facts(ret(rline(gradings=graded(Condition.SELLABLE)))), maps=maps)
    assert "has no sellable location" in p2.exceptions_open[0].message


def test_routing_destination_then_grading_warehouse_then_default():
    maps = mappings()
    g = Grading(Condition.SELLABLE, 1, "", T0)
    assert maps.route(ret(destination_warehouse="uk-shop"), g) == "uk-shop"
    assert maps.route(ret(), Grading(Condition.SELLABLE, 1, "uk-shop", T0)) == "uk-shop"
    assert maps.route(ret(), g) == "uk-dc"  # the first configured
    assert Mappings.from_dict({**STORE, "default_warehouse": "uk-shop"}).route(ret(), g) == "uk-shop"
    assert Mappings().route(ret(), g) is None
    assert target_location(ret(), g, Disposition.RESTOCK, Mappings()).problem is not None


def test_disposition_map_is_configurable_write_off_moves_nothing_but_refunds():
    maps = mappings(dispositions={"damaged": "none"})
    p = run(facts(ret(rline(gradings=graded(Condition.DAMAGED)))), maps=maps)
    assert keys(p, ActionKind.QUARANTINE) == keys(p, ActionKind.RESTOCK) == []
    assert ExceptionType.MISSING_ITEM not in p.open_types()


def test_resolved_restock_failure_counts_as_settled_by_hand():
    maps_off = mappings(warehouses=[{"id": "uk-dc", "locations": [
        {"id": "uk-dc-sellable", "sellable": True, "active": False}]}])
    r = ret(rline(gradings=graded(Condition.SELLABLE)), status=None)
    f = replace(authorised(facts(r)),
                resolved_exceptions=frozenset({"rl:R1:exc:restock_failed:restock:1:1"}))
    p = run(f, maps=maps_off)
    assert p.exceptions_open == []
    f2 = execute(p, f)
    assert run(f2, maps=maps_off).state is State.CLOSED
