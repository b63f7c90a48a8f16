"""The ledger on SQLite and PostgreSQL: idempotent replay, one lease winner, migrations."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, inspect, select
from sqlmodel import SQLModel

from storage.db import Database
from storage.ledger import (
    ActionDraft,
    EventDraft,
    ExceptionDraft,
    HoldDraft,
    LedgerEntry,
    LineFacts,
    ReturnFacts,
    get_cursor,
    record,
)
from storage.outbox import claim_actions, complete_action, fail_action, release_dead_leases
from storage.tables import ActionRow, ExceptionRow, HoldRow, ReturnRow, TimelineEventRow

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def observation(now=NOW) -> LedgerEntry:
    return LedgerEntry(
        now=now,
        returns=[ReturnFacts(
            return_id="rebound:R1", platform="rebound", platform_id="R1", order_ref="1001",
            requested_at=NOW, state="graded", platform_status="received",
            customer_email="ann@example.com", currency="GBP", value_minor=2000,
            lines=[LineFacts(line_id="l1", sku="TEE-M", qty=1, raw_reason="Too small",
                             reason_code="TOO_SMALL", condition="sellable")])],
        events=[EventDraft("rebound:R1:v3", "rebound:R1", now, "rebound", "observed",
                           "Graded sellable at UK DC")],
        actions=[
            ActionDraft("rl:rebound:R1:refund:1", "rebound:R1", "refund", "shopify",
                        {"amount": "20.00", "currency": "GBP"}),
            ActionDraft("rl:rebound:R1:credit_note:1", "rebound:R1", "credit_note", "erp",
                        {"refund": "rl:rebound:R1:refund:1"},
                        depends_on=["rl:rebound:R1:refund:1"]),
        ],
        holds_open=[HoldDraft("rl:rebound:R1:hold:refund", "rebound:R1", "refund_approval",
                              "over threshold", 2000, "GBP")],
        exceptions_open=[ExceptionDraft("rl:rebound:R1:exc:sla_breach", "rebound:R1",
                                        "sla_breach", "warehouse", "not refunded in 48 h")],
        cursors={"rebound:poll": "cursor-7"},
    )


def counts(db: Database) -> dict[str, int]:
    with db.session() as s:
        return {m.__tablename__: s.exec(select(func.count()).select_from(m)).one()[0]
                for m in (ReturnRow, TimelineEventRow, ActionRow, HoldRow, ExceptionRow)}


def test_replaying_an_observation_changes_nothing(database):
    with database.session() as s:
        first = record(s, observation())
    before = counts(database)
    with database.session() as s:
        again = record(s, observation(NOW + timedelta(minutes=5)))
    assert first.changed and not again.changed
    assert counts(database) == before == {
        "returns": 1, "timeline_events": 1, "actions": 2, "holds": 1, "exceptions": 1}
    with database.session() as s:
        assert get_cursor(s, "rebound:poll") == "cursor-7"
        credit_note = s.get(ActionRow, "rl:rebound:R1:credit_note:1")
        assert credit_note.status == "waiting"  # its refund has not happened yet


def test_ledger_rolls_back_whole_on_error(database):
    entry = observation()
    entry.events.append(EventDraft("x", "rebound:R1", NOW, "rebound", "observed", None))  # NOT NULL
    try:
        with database.session() as s:
            record(s, entry)
    except Exception:  # noqa: BLE001 - any DB error will do; what matters is nothing stayed
        pass
    assert counts(database) == {
        "returns": 0, "timeline_events": 0, "actions": 0, "holds": 0, "exceptions": 0}


def test_a_lease_is_won_by_exactly_one_of_two_concurrent_claimers(database):
    with database.session() as s:
        record(s, observation())
    results: dict[str, list[str]] = {}
    barrier = threading.Barrier(2)

    def claimer(name: str) -> None:
        barrier.wait()
        with database.session() as s:
            results[name] = [r.key for r in claim_actions(s, name, NOW, limit=10)]

    threads = [threading.Thread(target=claimer, args=(n,)) for n in ("w1", "w2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = results["w1"] + results["w2"]
    assert claimed == ["rl:rebound:R1:refund:1"]  # the credit note waits for the refund


def test_expired_lease_is_taken_again_with_outcome_unknown(database):
    with database.session() as s:
        record(s, observation())
        [action] = claim_actions(s, "dead-worker", NOW, lease=timedelta(seconds=30))
    with database.session() as s:  # before the lease ends nobody else gets it
        assert claim_actions(s, "w2", NOW + timedelta(seconds=10)) == []
    with database.session() as s:
        [again] = claim_actions(s, "w2", NOW + timedelta(seconds=31))
        assert again.key == action.key and again.outcome_unknown is True


def test_a_restart_takes_over_the_dead_runs_leases_on_this_host_only(database):
    with database.session() as s:
        record(s, observation())
        [action] = claim_actions(s, "ops-box:4242", NOW, lease=timedelta(minutes=2))
    later = NOW + timedelta(seconds=5)
    with database.session() as s:  # pid 4242 still runs: its lease stands
        assert release_dead_leases(s, "ops-box", later, alive=lambda pid: True) == 0
        assert release_dead_leases(s, "other-box", later, alive=lambda pid: False) == 0
    with database.session() as s:
        assert claim_actions(s, "ops-box:5000", later + timedelta(seconds=1)) == []
    with database.session() as s:  # 4242 is gone: the restarted run takes the action now
        assert release_dead_leases(s, "ops-box", later, alive=lambda pid: pid != 4242) == 1
    with database.session() as s:
        [again] = claim_actions(s, "ops-box:5000", later + timedelta(seconds=1))
        assert again.key == action.key and again.outcome_unknown is True


def test_success_releases_the_credit_note_and_failure_schedules_a_retry(database):
    with database.session() as s:
        record(s, observation())
        [refund] = claim_actions(s, "w1", NOW)
        complete_action(s, refund.key, "w1", NOW, external_id="gid://shopify/Refund/1",
                        result={"amount": "20.00"})
    with database.session() as s:
        [credit] = claim_actions(s, "w1", NOW)
        assert credit.kind == "credit_note"
        fail_action(s, credit.key, "w1", NOW, error="ERP 503", code="http_503",
                    retry_at=NOW + timedelta(minutes=1), outcome_unknown=False)
    with database.session() as s:
        assert claim_actions(s, "w1", NOW + timedelta(seconds=59)) == []
        [retry] = claim_actions(s, "w1", NOW + timedelta(minutes=1))
        assert retry.key == credit.key and retry.last_error == "ERP 503"


def test_a_worker_that_lost_its_lease_cannot_record_an_outcome(database):
    with database.session() as s:
        record(s, observation())
        claim_actions(s, "slow", NOW, lease=timedelta(seconds=5))
    with database.session() as s:
        claim_actions(s, "fast", NOW + timedelta(seconds=6))
    with database.session() as s:
        assert not complete_action(s, "rl:rebound:R1:refund:1", "slow", NOW, external_id="x",
                                   result=None)
        assert complete_action(s, "rl:rebound:R1:refund:1", "fast", NOW, external_id="y",
                               result=None)


def test_migrations_from_empty_match_the_models(database):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        tables = set(inspect(conn).get_table_names())
    assert diff == []
    assert {"returns", "return_lines", "actions", "timeline_events", "audit_log",
            "rate_budgets", "sync_cursors", "webhook_events"} <= tables


def test_lookup_columns_are_indexed(database):
    with database.engine.connect() as conn:
        insp = inspect(conn)
        indexed = {
            (table, tuple(ix["column_names"]))
            for table in ("returns", "return_lines", "actions", "exceptions")
            for ix in insp.get_indexes(table)
        }
    for wanted in [("returns", ("rma",)), ("returns", ("order_ref",)),
                   ("returns", ("customer_email",)), ("return_lines", ("sku",)),
                   ("returns", ("state", "updated_at")), ("actions", ("status", "next_attempt_at")),
                   ("exceptions", ("owner", "resolved_at"))]:
        assert wanted in indexed, wanted
