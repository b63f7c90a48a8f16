"""Rule 8: one credit note per refund, carrying the return and refund references."""

from __future__ import annotations

from dataclasses import replace

from rulekit import (
    STORE_CREDIT,
    authorised,
    decide,
    execute,
    facts,
    graded,
    keys,
    policy,
    ret,
    rline,
    run,
    sellable_return,
)

from rules.lifecycle import ActionKind, ActionStatus, ExceptionType, State, Verdict
from rules.model import Condition


def test_credit_note_follows_the_refund_and_carries_its_references():
    p = run(authorised(facts(sellable_return())))
    (note,) = p.of_kind(ActionKind.CREDIT_NOTE)
    assert note.key == "rl:R1:credit_note:1" and note.target == "erp"
    assert note.depends_on == ("rl:R1:refund:1",)
    assert note.payload["return_id"] == "R1" and note.payload["refund_key"] == "rl:R1:refund:1"
    assert note.payload["refund_reference"] is None  # known once the refund exists
    assert note.payload["amount"] == {"amount": "20.00", "currency": "GBP"}


def test_credit_note_names_the_commerce_refund_once_it_landed():
    f = authorised(facts(sellable_return()))
    f = execute(run(f), f, only={ActionKind.REFUND})
    p = run(f)
    (note,) = p.of_kind(ActionKind.CREDIT_NOTE)
    assert note.payload["refund_reference"] == "ext-rl:R1:refund:1"
    assert p.state is State.REFUNDED


def test_refund_found_on_the_order_counts_as_landed_even_if_the_outbox_lost_track():
    f = facts(sellable_return())
    f = execute(run(f), f, only={ActionKind.REFUND})
    f = authorised(replace(f, outcomes={k: replace(o, status=ActionStatus.PENDING)
                                        for k, o in f.outcomes.items()}))
    p = run(f)
    assert p.state is State.REFUNDED
    assert p.of_kind(ActionKind.CREDIT_NOTE)[0].payload["refund_reference"] == \
        "ext-rl:R1:refund:1"


def test_no_credit_note_without_a_refund():
    rejected = decide(facts(sellable_return()), "rl:R1:hold:refund_approval:1", Verdict.REJECTED)
    assert keys(run(rejected, policy(always_hold=True)), ActionKind.CREDIT_NOTE) == []
    credit = ret(rline(resolution=STORE_CREDIT, gradings=graded(Condition.SELLABLE)))
    assert keys(run(facts(credit)), ActionKind.CREDIT_NOTE) == []


def test_store_credit_needs_no_commerce_refund_and_closes_after_stock():
    f = facts(ret(rline(resolution=STORE_CREDIT, gradings=graded(Condition.SELLABLE))))
    p = run(f)
    assert keys(p, ActionKind.REFUND) == [] and p.state is State.GRADED
    assert run(execute(p, f)).state is State.CLOSED


def test_failed_credit_note_goes_to_finance():
    f = facts(sellable_return())
    f = execute(run(f), f, only={ActionKind.REFUND, ActionKind.RESTOCK,
                                 ActionKind.RETURN_AUTHORISATION})
    f = execute(run(f), f, status=ActionStatus.DEAD, only={ActionKind.CREDIT_NOTE})
    p = run(f)
    (exc,) = [x for x in p.exceptions_open if x.type is ExceptionType.CREDIT_NOTE_FAILED]
    assert exc.owner == "finance" and exc.key == "rl:R1:exc:credit_note_failed:credit_note:1"
    assert p.state is State.REFUNDED
