"""Rule 10: closed only when money, stock and books agree for every line."""

from __future__ import annotations

from rulekit import (
    EXCHANGE,
    STORE_CREDIT,
    execute,
    facts,
    graded,
    oline,
    order,
    ret,
    rline,
    run,
    sellable_return,
    settle,
)

from rules.closing import Settlement
from rules.lifecycle import ActionKind, State
from rules.model import Condition


def test_happy_path_closes_after_refund_credit_note_and_restock():
    p, f = settle(facts(sellable_return()))
    assert p.state is State.CLOSED
    assert set(f.outcomes) == {"rl:R1:create_return_record:1", "rl:R1:tag_order:1",
                               "rl:R1:return_authorisation:1", "rl:R1:refund:1",
                               "rl:R1:credit_note:1", "rl:R1:restock:1:1"}
    assert any("closed: money, stock and books agree" in d for d in p.decisions)


def test_not_closed_while_the_credit_note_is_missing():
    f = facts(sellable_return())
    f = execute(run(f), f, only={ActionKind.REFUND, ActionKind.RESTOCK})
    assert run(f).state is State.REFUNDED


def test_not_closed_while_stock_has_not_moved():
    f = facts(sellable_return())
    f = execute(run(f), f, only={ActionKind.REFUND})
    f = execute(run(f), f, only={ActionKind.CREDIT_NOTE})
    assert run(f).state is State.REFUNDED


def test_not_closed_while_a_line_is_not_graded():
    r = ret(rline("1", gradings=graded(Condition.SELLABLE), resolution=STORE_CREDIT),
            rline("2", sku="TEE-L", resolution=STORE_CREDIT))
    o = order(oline("A", "TEE-M"), oline("B", "TEE-L"))
    p, _ = settle(facts(r, o))
    assert p.state is State.RECEIVED


def test_mixed_return_refund_exchange_and_store_credit_closes_when_all_agree():
    r = ret(rline("1", gradings=graded(Condition.SELLABLE)),
            rline("2", sku="TEE-L", resolution=EXCHANGE, exchange_sku="TEE-XL",
                  gradings=graded(Condition.DAMAGED)),
            rline("3", sku="TEE-S", resolution=STORE_CREDIT, gradings=graded(Condition.SELLABLE)))
    o = order(oline("A", "TEE-M"), oline("B", "TEE-L"), oline("C", "TEE-S"))
    p, f = settle(facts(r, o))
    assert p.state is State.CLOSED
    assert {"rl:R1:refund:1", "rl:R1:exchange_order:1", "rl:R1:quarantine:2:1",
            "rl:R1:restock:3:1", "rl:R1:restock:1:1"} <= set(f.outcomes)
    refund = f.outcomes["rl:R1:refund:1"]
    assert refund.amount.amount_str() == "20.00"  # only the refund line


def test_open_exception_keeps_a_return_from_closing():
    r = ret(rline(qty=2, gradings=graded(Condition.SELLABLE, Condition.MISSING)))
    p, _ = settle(facts(r))
    assert p.state is State.REFUNDED  # money moved for the unit that came back
    assert [x.type.value for x in p.exceptions_open] == ["missing_item"]


def test_settlement_needs_every_part():
    parts = dict(graded=True, money=True, books=True, stock=True, exchange=True,
                 nothing_open=True)
    assert Settlement(**parts).all_agree
    for name in parts:
        assert not Settlement(**{**parts, name: False}).all_agree
