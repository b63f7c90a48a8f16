"""Rule 4: reasons map to one master list; an unknown one holds only the refund."""

from __future__ import annotations

from dataclasses import replace

from rulekit import STORE, facts, graded, keys, mappings, ret, rline, run

from rules.lifecycle import ActionKind, ExceptionType, HoldKind, State, Verdict
from rules.mappings import Mappings
from rules.model import Condition
from rules.reasons import reason_subject

UNKNOWN = "rl:R1:exc:unknown_reason:didn-t-like-the-colour"
HOLD = "rl:R1:hold:unknown_reason"


def unmapped_return(**kw):
    return ret(rline(reason="Didn't like the colour", gradings=graded(Condition.SELLABLE)), **kw)


def test_unmapped_reason_opens_unknown_reason_for_merchandising():
    p = run(facts(ret(rline(reason="Didn't like the colour"))))
    (exc,) = p.exceptions_open
    assert (exc.key, exc.type, exc.owner) == (UNKNOWN, ExceptionType.UNKNOWN_REASON,
                                               "merchandising")
    assert "Didn't like the colour" in exc.message and "TOO_SMALL" in exc.message
    assert keys(p, ActionKind.TAG_ORDER) == []  # tags wait for a mapped reason
    assert keys(p, ActionKind.CREATE_RETURN_RECORD) == ["rl:R1:create_return_record:1"]
    assert p.holds == []  # nothing to hold before the goods are graded


def test_unmapped_reason_holds_only_the_refund_not_the_stock():
    p = run(facts(unmapped_return()))
    assert keys(p, ActionKind.REFUND) == []
    assert keys(p, ActionKind.RESTOCK) == ["rl:R1:restock:1:1"]
    (hold,) = p.holds
    assert (hold.key, hold.kind) == (HOLD, HoldKind.UNKNOWN_REASON)
    assert p.state is State.BLOCKED


def test_reclassifying_releases_the_refund_and_closes_the_exception():
    f = replace(facts(unmapped_return()), open_exceptions=frozenset({UNKNOWN}),
                open_holds=frozenset({HOLD}))
    maps = mappings().with_reason("didn't  LIKE the colour", "CHANGED_MIND")
    p = run(f, maps=maps)
    assert keys(p, ActionKind.REFUND) == ["rl:R1:refund:1"]
    assert [c.key for c in p.exceptions_close] == [UNKNOWN]
    assert p.exceptions_close[0].why == "the reason is now mapped to a master reason"
    assert [c.key for c in p.holds_release] == [HOLD]
    assert p.of_kind(ActionKind.TAG_ORDER)[0].payload["tags"] == [
        "returnline", "return-reason:CHANGED_MIND"]


def test_reclassify_only_to_a_master_code():
    try:
        mappings().with_reason("x", "NOT_A_CODE")
    except ValueError as exc:
        assert "not a master reason code" in str(exc)
    else:
        raise AssertionError("accepted an unknown code")


def test_matching_ignores_case_and_spaces_and_knows_platform_codes_and_master_codes():
    maps = Mappings.from_dict({**STORE, "reasons": {
        **STORE["reasons"], "platforms": {"rebound": {"R07": "FAULTY"}}}})
    assert maps.map_reason(rline(reason="  too   SMALL ")) == "TOO_SMALL"
    assert maps.map_reason(rline(reason="", platform_reason_code="r07"), "rebound") == "FAULTY"
    assert maps.map_reason(rline(reason="", platform_reason_code="r07"), "returngo") is None
    assert maps.map_reason(rline(reason="changed_mind")) == "CHANGED_MIND"
    assert maps.map_reason(rline(reason="")) is None


def test_one_exception_per_distinct_raw_reason_and_empty_reason_is_unknown():
    r = ret(rline("1", reason="Meh"), rline("2", sku="TEE-L", reason=" meh "),
            rline("3", sku="TEE-S", reason=""))
    p = run(facts(r))
    assert sorted(x.key for x in p.exceptions_open if x.type == "unknown_reason") == [
        "rl:R1:exc:unknown_reason:meh", "rl:R1:exc:unknown_reason:none"]
    assert any("(no reason given)" in x.message for x in p.exceptions_open)


def test_a_person_resolving_the_unknown_reason_releases_the_refund():
    f = replace(facts(unmapped_return()), resolved_exceptions=frozenset({UNKNOWN}))
    p = run(f)
    assert keys(p, ActionKind.REFUND) == ["rl:R1:refund:1"] and p.exceptions_open == []


def test_supervisor_decision_on_the_unknown_reason_hold():
    base = facts(unmapped_return())
    from rulekit import decide
    ok = run(decide(base, HOLD, Verdict.APPROVED))
    assert keys(ok, ActionKind.REFUND) == ["rl:R1:refund:1"]
    no = run(decide(base, HOLD, Verdict.REJECTED))
    assert keys(no, ActionKind.REFUND) == [] and no.state is State.REJECTED


def test_defect_reasons_explicit_or_by_name():
    assert mappings().implies_defect("DAMAGED_IN_TRANSIT")
    assert not mappings().implies_defect("TOO_SMALL") and not mappings().implies_defect(None)
    maps = Mappings.from_dict({"reasons": {"master": ["A", "B"], "defect": ["B"]}})
    assert maps.implies_defect("B") and not maps.implies_defect("A")


def test_reason_subject_is_key_safe():
    assert reason_subject("  Too  Small!! ") == "too-small"
    assert reason_subject("!!!") == "none"
