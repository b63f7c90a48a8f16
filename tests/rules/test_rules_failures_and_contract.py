"""Failed actions get an owner; the vocabulary is a fixed contract; plans serialise to JSON."""

from __future__ import annotations

import json
from dataclasses import replace

from rulekit import execute, facts, keys, policy, run, sellable_return

from rules.facts import ActionOutcome
from rules.lifecycle import ActionKind, ActionStatus, ExceptionType, State, Target
from rules.policy import DEFAULT_OWNERS, Policy
from rules.watch import failure_exception


def test_state_exception_and_action_names_are_the_contract():
    assert [s.value for s in State] == [
        "requested", "awaiting_order", "blocked", "in_transit", "received", "graded",
        "awaiting_approval", "refunding", "refunded", "closed", "rejected", "cancelled"]
    assert [t.value for t in ExceptionType] == [
        "unknown_reason", "order_not_found", "order_not_returnable", "already_refunded",
        "refund_failed", "restock_failed", "credit_note_failed", "exchange_failed",
        "amount_mismatch", "missing_item", "sla_breach", "drift", "return_authorisation_failed"]
    assert {k.value for k in ActionKind} >= {
        "create_return_record", "tag_order", "approve_platform_return", "refund", "credit_note",
        "restock", "quarantine", "exchange_order"}
    assert {k for k in ActionKind if k.batchable} == {ActionKind.RESTOCK, ActionKind.QUARANTINE}
    assert ActionKind.CREDIT_NOTE.target is Target.ERP
    assert ActionKind.RETURN_AUTHORISATION.target is Target.ERP
    assert ActionKind.RETURN_AUTHORISATION.failure is ExceptionType.RETURN_AUTHORISATION_FAILED
    assert set(DEFAULT_OWNERS) == set(ExceptionType)


def test_dead_refund_is_refund_failed_for_finance_and_blocks():
    f = facts(sellable_return())
    f = execute(run(f), f, status=ActionStatus.DEAD, only={ActionKind.REFUND})
    key = "rl:R1:refund:1"
    f = replace(f, outcomes={**f.outcomes, key: replace(f.outcomes[key], error="card expired")})
    p = run(f)
    (exc,) = [x for x in p.exceptions_open if x.type is ExceptionType.REFUND_FAILED]
    assert exc.key == "rl:R1:exc:refund_failed:refund:1" and exc.owner == "finance"
    assert "card expired" in exc.message
    assert p.state is State.BLOCKED
    assert keys(p, ActionKind.REFUND) == [key]  # still there, for a retry


def test_executor_and_rules_name_a_failure_with_the_same_key():
    exc = failure_exception("R1", "rl:R1:restock:1:1", ActionKind.RESTOCK, "", Policy())
    assert exc.key == "rl:R1:exc:restock_failed:restock:1:1" and exc.owner == "warehouse"
    assert exc.message == "restock rl:R1:restock:1:1 failed after retries"


def test_retried_action_closes_its_failure_and_resolved_failure_is_settled():
    f = facts(sellable_return())
    f = execute(run(f), f, status=ActionStatus.DEAD, only={ActionKind.REFUND})
    key = "rl:R1:refund:1"
    exc_key = "rl:R1:exc:refund_failed:refund:1"
    retried = replace(f, open_exceptions=frozenset({exc_key}),
                      outcomes={**f.outcomes, key: replace(f.outcomes[key],
                                                           status=ActionStatus.FAILED)})
    p = run(retried)
    assert [c.key for c in p.exceptions_close] == [exc_key]
    assert p.state is State.REFUNDING
    settled = replace(f, resolved_exceptions=frozenset({exc_key}))
    p2 = run(settled)
    assert keys(p2, ActionKind.CREDIT_NOTE) == []  # no refund of ours, nothing to book
    done = execute(p2, settled, only={ActionKind.RESTOCK, ActionKind.CREATE_RETURN_RECORD,
                                      ActionKind.TAG_ORDER, ActionKind.RETURN_AUTHORISATION})
    assert run(done).state is State.CLOSED


def test_dead_visibility_action_is_cx_and_foreign_outcomes_are_ignored():
    f = facts(sellable_return())
    f = replace(f, outcomes={
        "rl:R1:tag_order:1": ActionOutcome("rl:R1:tag_order:1", ActionStatus.DEAD),
        "rl:R1:mystery:1": ActionOutcome("rl:R1:mystery:1", ActionStatus.DEAD),
        "other:1": ActionOutcome("other:1", ActionStatus.DEAD)})
    p = run(f)
    (exc,) = [x for x in p.exceptions_open if x.type is ExceptionType.ORDER_NOT_RETURNABLE]
    assert exc.key == "rl:R1:exc:order_not_returnable:tag_order:1" and exc.owner == "cx"


def test_foreign_open_exceptions_are_never_closed_by_the_rules():
    f = replace(facts(sellable_return()),
                open_exceptions=frozenset({"recon:R1:drift:1", "rl:R1:exc:weird"}))
    p = run(f)
    assert [(c.key, c.why) for c in p.exceptions_close] == [
        ("rl:R1:exc:weird",
         "the cause no longer holds (the action was retried or its target is usable)")]


def test_owners_are_configurable():
    p = run(facts(sellable_return(), None, order_first_sought_at=None),
            policy(owners={"order_not_found": "engineering"}, order_wait="0m"))
    assert p.exceptions_open[0].owner == "engineering"


def test_visibility_can_be_switched_off():
    p = run(facts(sellable_return()), policy(create_return_record=False, tag_orders=False))
    assert keys(p, ActionKind.CREATE_RETURN_RECORD) == keys(p, ActionKind.TAG_ORDER) == []
    assert keys(p, ActionKind.REFUND)


def test_plan_to_json_is_json():
    p = run(facts(sellable_return()), policy(always_hold=True))
    data = json.loads(json.dumps(p.to_json()))
    assert data["state"] == "awaiting_approval"
    assert data["holds"][0]["amount"] == {"amount": "20.00", "currency": "GBP"}
    assert data["value"] == {"amount": "20.00", "currency": "GBP"}
    f = replace(facts(sellable_return(), None), open_exceptions=frozenset({"rl:R1:exc:x"}))
    data2 = json.loads(json.dumps(run(f, policy(order_wait="0m")).to_json()))
    assert data2["exceptions_open"][0]["type"] == "order_not_found"
    assert data2["exceptions_close"][0]["key"] == "rl:R1:exc:x"
    assert p.action("nope") is None
