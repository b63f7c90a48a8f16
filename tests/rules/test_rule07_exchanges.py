"""Rule 7: exchanges plan a zero-value replacement at once; the item still follows rules 1-2."""

from __future__ import annotations

from dataclasses import replace

from rulekit import (
    EXCHANGE,
    execute,
    facts,
    graded,
    keys,
    order,
    ret,
    rline,
    run,
    settle,
)

from rules.lifecycle import ActionKind, ActionStatus, ExceptionType, State
from rules.model import Condition, OrderState


def exchange_return(gradings=()):
    return ret(rline(resolution=EXCHANGE, exchange_sku="TEE-L", gradings=gradings))


def test_exchange_is_planned_at_once_as_a_zero_value_order_fulfilment_ships():
    p = run(facts(exchange_return()))
    (ex,) = p.of_kind(ActionKind.EXCHANGE_ORDER)
    assert ex.key == "rl:R1:exchange_order:1" and not ex.batchable
    assert ex.payload["total"] == {"amount": "0.00", "currency": "GBP"}
    assert ex.payload["zero_value"] is True
    assert "returnline-exchange" in ex.payload["tags"]
    assert ex.payload["lines"] == [{"sku": "TEE-L", "qty": 1, "returned_sku": "TEE-M",
                                    "line_id": "1"}]
    assert keys(p, ActionKind.REFUND) == []
    assert p.state is State.REQUESTED


def test_exchanged_item_is_still_graded_and_restocked_and_never_refunded():
    p = run(facts(exchange_return(graded(Condition.DAMAGED))))
    assert keys(p, ActionKind.QUARANTINE) == ["rl:R1:quarantine:1:1"]
    assert keys(p, ActionKind.REFUND) == [] and p.holds == []


def test_exchange_waits_for_the_order_checks():
    o = replace(order(), state=OrderState.CANCELLED)
    p = run(facts(exchange_return(), o))
    assert keys(p, ActionKind.EXCHANGE_ORDER) == []
    assert any("Replacement order waits" in d for d in p.decisions)


def test_same_sku_when_no_exchange_sku_given():
    r = ret(rline(resolution=EXCHANGE))
    (ex,) = run(facts(r)).of_kind(ActionKind.EXCHANGE_ORDER)
    assert ex.payload["lines"][0]["sku"] == "TEE-M"


def test_exchange_return_closes_once_replacement_and_stock_are_done():
    f = facts(exchange_return(graded(Condition.SELLABLE)))
    p, f = settle(f)
    assert p.state is State.CLOSED
    assert set(f.outcomes) == {"rl:R1:create_return_record:1", "rl:R1:tag_order:1",
                               "rl:R1:exchange_order:1", "rl:R1:restock:1:1"}


def test_failed_exchange_goes_to_cx_and_keeps_the_return_open():
    f = facts(exchange_return(graded(Condition.SELLABLE)))
    f = execute(run(f), f, status=ActionStatus.DEAD, only={ActionKind.EXCHANGE_ORDER})
    f = execute(run(f), f, only={ActionKind.RESTOCK, ActionKind.CREATE_RETURN_RECORD,
                                 ActionKind.TAG_ORDER})
    p = run(f)
    (exc,) = p.exceptions_open
    assert exc.type is ExceptionType.EXCHANGE_FAILED and exc.owner == "cx"
    assert p.state is State.GRADED
    resolved = replace(f, resolved_exceptions=frozenset({exc.key}))
    assert run(resolved).state is State.CLOSED


def test_exchange_already_planned_is_kept_without_the_order():
    f = facts(exchange_return())
    f = execute(run(f), f, status=ActionStatus.PENDING)
    p = run(replace(f, order=None))
    assert keys(p, ActionKind.EXCHANGE_ORDER) == []  # nothing new to state; it exists
    assert p.state is State.REQUESTED
