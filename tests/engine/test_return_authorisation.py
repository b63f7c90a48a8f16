"""NetSuite return authorisation end to end: made once the return is validated, looked up by
external id before any resend, owned by finance when the ERP keeps refusing it, and the credit
memo transformed from it only once it exists."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from storage.tables import ActionRow, TimelineEventRow
from sync.replay import Replay, match_expected
from sync.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path, name):
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.json")
    replay = Replay.build(scenario, f"sqlite:///{tmp_path / 'rl.db'}")
    replay.run()
    return scenario, replay


def test_failing_return_authorisation_is_retried_owned_and_the_credit_note_waits(tmp_path):
    scenario, replay = _run(tmp_path, "return_authorisation_retried_then_owned")
    assert match_expected(scenario.expect, replay.result()) == []
    erp = replay.world.erp_sandbox
    ra_puts = erp.requests_for("return_authorisation")
    assert [e["status"] for e in ra_puts] == [503] * 12 + [204]  # the budget, then the retry
    # before every automatic resend the RA was looked up by its external id (= the action key);
    # the operator's retry starts a fresh budget
    assert len(erp.requests_for("get_return_authorisation")) == 11
    memo = erp.requests_for("credit_note")
    assert len(memo) == 1 and "/returnAuthorization/" in memo[0]["path"]
    assert "!transform/creditMemo" in memo[0]["path"]
    assert erp.journal.index(memo[0]) > erp.journal.index(ra_puts[-1])  # never before the RA
    rid = replay.return_id("R1")
    with replay.db.session() as s:
        ra = s.get(ActionRow, f"rl:{rid}:return_authorisation:1")
        assert ra.status == "succeeded" and ra.system == "erp"
        words = list(s.execute(select(TimelineEventRow.summary).where(
            TimelineEventRow.return_id == rid)).scalars())
    assert any(w.startswith(f"Return authorisation {ra.external_id} created in ERP (NetSuite)")
               for w in words)
    assert any(w.startswith("Return authorisation attempt 1 failed: ") for w in words)
    replay.db.dispose()


def test_happy_path_makes_one_return_authorisation_and_transforms_the_memo_from_it(tmp_path):
    _, replay = _run(tmp_path, "premature_refund")
    erp = replay.world.erp_sandbox
    (ra,) = erp.return_authorisations()
    assert ra["amount"] == "20.00"
    (note,) = erp.external_view()["credit_notes"]
    assert note["return_authorisation"] == ra["id"] and note["amount"] == "20.00"
    replay.db.dispose()


def test_outcomes_whose_replan_was_lost_are_left_due_for_the_sweep(tmp_path, monkeypatch):
    """The executor re-plans a batch's returns after recording their outcomes. A crash in
    between (simulated: every such re-plan is dropped) must not strand a return: the outcome's
    own transaction made it due, and the sweep finishes it, once."""
    from sync.executor import Executor

    monkeypatch.setattr(Executor, "_flush_replans",
                        lambda self: setattr(self._batch, "replan", {}))
    scenario, replay = _run(tmp_path, "premature_refund")
    assert match_expected(scenario.expect, replay.result()) == []
    external = replay.result()["external"]
    assert len(external["commerce"]["refunds"]) == 1
    assert len(external["erp"]["credit_notes"]) == 1
    replay.db.dispose()
