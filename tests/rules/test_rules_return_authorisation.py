"""The return authorisation: planned once the return is validated, once per return; the credit
note (transformed from it in the ERP) only after it exists; its failure is finance's."""

from __future__ import annotations

from dataclasses import replace

from rulekit import (
    EXCHANGE,
    STORE_CREDIT,
    execute,
    facts,
    graded,
    keys,
    manual_refund,
    oline,
    order,
    policy,
    ret,
    rline,
    run,
    sellable_return,
    settle,
)

from rules.facts import ActionOutcome
from rules.lifecycle import ActionKind, ActionStatus, ExceptionType, State
from rules.model import Condition, OrderState, PlatformStatus
from rules.policy import Policy

RA = "rl:R1:return_authorisation:1"
NOTE = "rl:R1:credit_note:1"


def with_outcome(f, key, status, error=""):
    return replace(f, outcomes={**f.outcomes, key: ActionOutcome(key, status, error=error)})


def test_planned_when_the_return_is_validated_not_before():
    assert keys(run(facts(ret())), ActionKind.RETURN_AUTHORISATION) == []  # only requested
    p = run(facts(ret(rline(qty=2), status=PlatformStatus.RECEIVED), order(oline(qty=2))))
    (ra,) = p.of_kind(ActionKind.RETURN_AUTHORISATION)
    assert ra.key == RA and ra.target == "erp" and not ra.batchable and ra.depends_on == ()
    assert ra.payload["amount"] == {"amount": "40.00", "currency": "GBP"}
    assert [(ln["sku"], ln["qty"], ln["amount"]["amount"]) for ln in ra.payload["lines"]] == [
        ("TEE-M", 2, "40.00")]
    assert ("Return authorisation for GBP 40.00 (1 line(s)) planned in the ERP: return R1 is "
            "validated (rule: return authorisation)") in p.decisions


def test_accepted_by_the_platform_counts_as_validated_before_arrival():
    p = run(facts(ret(status=PlatformStatus.APPROVED)))
    assert keys(p, ActionKind.RETURN_AUTHORISATION) == [RA]
    assert keys(run(facts(ret(status=PlatformStatus.IN_TRANSIT))),
                ActionKind.RETURN_AUTHORISATION) == []


def test_credit_note_waits_for_the_return_authorisation():
    f = facts(sellable_return())
    p = run(f)
    assert keys(p, ActionKind.REFUND) == ["rl:R1:refund:1"]
    assert keys(p, ActionKind.CREDIT_NOTE) == []  # the memo is transformed from the RA
    f = execute(p, f, only={ActionKind.REFUND, ActionKind.RESTOCK})
    p = run(f)
    assert p.state is State.REFUNDED and keys(p, ActionKind.CREDIT_NOTE) == []
    assert any(d.startswith(f"Credit note for GBP 20.00 waits for return authorisation {RA}")
               for d in p.decisions)
    f = execute(p, f, only={ActionKind.RETURN_AUTHORISATION})
    p = run(f)
    assert keys(p, ActionKind.CREDIT_NOTE) == [NOTE] and keys(p, ActionKind.RETURN_AUTHORISATION)
    _, done = settle(f)
    assert run(done).state is State.CLOSED


def test_once_per_return_and_kept_while_pending():
    f = with_outcome(facts(sellable_return()), RA, ActionStatus.PENDING)
    p = run(f)
    assert keys(p, ActionKind.RETURN_AUTHORISATION) == [RA]
    assert not any(d.startswith("Return authorisation for") for d in p.decisions)
    assert p.state is State.REFUNDING
    gone = replace(f, order=None)  # re-stated only when it can be built; never planned again
    assert keys(run(gone), ActionKind.RETURN_AUTHORISATION) == []


def test_dead_return_authorisation_is_finance_and_holds_the_books():
    f = with_outcome(facts(sellable_return()), RA, ActionStatus.DEAD, "INVALID_KEY_OR_REF")
    f = execute(run(f), f, only={ActionKind.REFUND, ActionKind.RESTOCK})
    p = run(f)
    (exc,) = [x for x in p.exceptions_open
              if x.type is ExceptionType.RETURN_AUTHORISATION_FAILED]
    assert exc.owner == "finance" and exc.key == "rl:R1:exc:return_authorisation_failed:" \
                                                 "return_authorisation:1"
    assert "INVALID_KEY_OR_REF" in exc.message
    assert keys(p, ActionKind.CREDIT_NOTE) == [] and p.state is State.REFUNDED
    # a person made it by hand and resolved the exception: the credit note may follow
    settled = replace(f, resolved_exceptions=frozenset({exc.key}))
    assert keys(run(settled), ActionKind.CREDIT_NOTE) == [NOTE]


def test_never_for_rejected_cancelled_or_expired_returns_or_cancelled_orders():
    for status in (PlatformStatus.REJECTED, PlatformStatus.CANCELLED, PlatformStatus.EXPIRED):
        r = ret(rline(gradings=graded(Condition.SELLABLE)), status=status)
        assert keys(run(facts(r)), ActionKind.RETURN_AUTHORISATION) == []
    cancelled = replace(order(), state=OrderState.CANCELLED)
    p = run(facts(sellable_return(), cancelled))
    assert keys(p, ActionKind.RETURN_AUTHORISATION) == []
    assert ExceptionType.ORDER_NOT_RETURNABLE in p.open_types()


def test_a_return_cancelled_before_it_was_sent_cancels_it():
    r = ret(rline(qty_received=1), status=PlatformStatus.CANCELLED)
    pending = with_outcome(facts(r), RA, ActionStatus.PENDING)
    p = run(pending)
    assert p.state is State.CANCELLED
    assert [(c.key, c.why) for c in p.actions_cancel] == [
        (RA, "return authorisation not sent: the return was cancelled on the platform")]
    sent = with_outcome(facts(r), RA, ActionStatus.SUCCEEDED)
    assert run(sent).actions_cancel == []


def test_lines_that_give_money_back_and_were_not_refunded_by_hand():
    r = ret(rline("1", gradings=graded(Condition.SELLABLE)),
            rline("2", sku="TEE-L", resolution=STORE_CREDIT, gradings=graded(Condition.SELLABLE)),
            rline("3", sku="SOCKS", resolution=EXCHANGE, exchange_sku="SOCKS-L",
                  gradings=graded(Condition.SELLABLE)))
    o = order(oline("A", "TEE-M", 1), oline("B", "TEE-L", 1, "30.00"),
              oline("C", "SOCKS", 1, "5.00"))
    (ra,) = run(facts(r, o)).of_kind(ActionKind.RETURN_AUTHORISATION)
    assert ra.line_ids == ("1", "2") and ra.payload["amount"]["amount"] == "50.00"
    by_hand = manual_refund(o, "A", sku="TEE-M")
    (ra,) = run(facts(r, by_hand)).of_kind(ActionKind.RETURN_AUTHORISATION)
    assert ra.line_ids == ("2",)
    exchange_only = ret(rline(resolution=EXCHANGE, exchange_sku="TEE-L",
                              gradings=graded(Condition.SELLABLE)))
    assert keys(run(facts(exchange_only)), ActionKind.RETURN_AUTHORISATION) == []


def test_all_lines_refunded_by_hand_needs_none():
    f = facts(sellable_return(), manual_refund(order(oline(qty=1))))
    assert keys(run(f), ActionKind.RETURN_AUTHORISATION) == []


def test_policy_can_turn_it_off_and_then_the_credit_note_goes_with_the_refund():
    off = Policy.from_dict({"return_authorisations": False})
    assert off.return_authorisations is False and policy().return_authorisations is True
    p = run(facts(sellable_return()), off)
    assert keys(p, ActionKind.RETURN_AUTHORISATION) == [] and keys(p, ActionKind.CREDIT_NOTE)
