"""The bulk writer the ledger and the re-plan use, on SQLite and PostgreSQL: counts, the
extra condition of an update, types bound as the ORM binds them, held ORM copies refreshed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from storage.bulk import insert_ignore, update_by_key, upsert
from storage.tables import HoldRow, OrderSnapshotRow

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def hold(key: str, **extra) -> dict:
    return {"key": key, "return_id": "r1", "kind": "refund_approval", "reason": "why",
            "amount_minor": 2000, "currency": "GBP", "opened_at": NOW, **extra}


def test_insert_ignore_counts_only_new_rows_and_keeps_the_first(database):
    with database.session() as s:
        assert insert_ignore(s, HoldRow, [hold("h1"), hold("h2")], ["key"]) == 2
    with database.session() as s:
        again = insert_ignore(s, HoldRow, [hold("h2", reason="changed"), hold("h3")], ["key"])
        assert again == 1
    with database.reader() as s:
        rows = {h.key: h for h in s.exec(select(HoldRow)).all()}
    assert sorted(rows) == ["h1", "h2", "h3"]
    assert rows["h2"].reason == "why"
    assert rows["h1"].opened_at == NOW and rows["h1"].amount_minor == 2000


def test_update_by_key_honours_its_condition_and_refreshes_held_rows(database):
    later = NOW + timedelta(hours=1)
    with database.session() as s:
        insert_ignore(s, HoldRow, [hold("h1"), hold("h2", decision="approved")], ["key"])
    with database.session() as s:
        held = s.get(HoldRow, "h1")
        assert held.decision is None
        changed = update_by_key(
            s, HoldRow, [{"key": k, "decision": "released", "decided_at": later}
                         for k in ("h1", "h2", "missing")],
            ["key"], where=HoldRow.decision.is_(None), tag="open")
        assert changed == 1  # h2 was decided already, "missing" does not exist
        assert held.decision == "released" and held.decided_at == later
    with database.reader() as s:
        assert s.get(HoldRow, "h2").decision == "approved"


def test_upsert_replaces_json_and_times(database):
    row = {"commerce": "shopify", "order_ref": "1001", "order_id": "gid://o/1",
           "state": "open", "currency": "GBP", "version": 1,
           "snapshot": {"lines": [{"sku": "TEE-M", "unit": {"minor": 2000}}]}, "seen_at": NOW}
    with database.session() as s:
        upsert(s, OrderSnapshotRow, [row], ["commerce", "order_ref"])
    with database.session() as s:
        upsert(s, OrderSnapshotRow, [{**row, "state": "cancelled", "version": 2,
                                      "snapshot": {"lines": []},
                                      "seen_at": NOW + timedelta(minutes=5)}],
               ["commerce", "order_ref"])
    with database.reader() as s:
        got = s.get(OrderSnapshotRow, ("shopify", "1001"))
    assert (got.state, got.version, got.snapshot) == ("cancelled", 2, {"lines": []})
    assert got.seen_at == NOW + timedelta(minutes=5)
