"""Pilot tests of each console workflow against a real replayed database and real sandboxes.

Every test asserts on the database (holds, exceptions, mappings, actions, audit) and, where
money moves, on the commerce sandbox after the executor drains: not only on the screen.
"""

from __future__ import annotations

import asyncio

from helpers import make_app, messages, settle
from sqlalchemy import select

from console.modals import ConfirmModal, NoteModal, PickerModal
from console.screens.detail import DetailScreen
from console.screens.holds import HoldsScreen
from console.widgets import ColumnTable
from storage.tables import ActionRow, AuditLogRow, ExceptionRow, HoldRow, ReasonMappingRow

SIZE = (120, 36)


def run(coro):
    return asyncio.run(coro)


def refunds(replay) -> dict[str, str]:
    """order number -> refunded amount, from the commerce sandbox's own state."""
    return {r["order"]: r["amount"] for r in replay.world.commerce_sandbox.external_view()["refunds"]}


def hold_for_order(replay, order: str) -> HoldRow:
    with replay.db.session() as s:
        return s.execute(select(HoldRow).where(HoldRow.kind == "refund_approval",
                                               HoldRow.return_id.like(f"%:{order}:%"))).scalar_one()


def audit(replay) -> list[AuditLogRow]:
    with replay.db.session() as s:
        return list(s.execute(select(AuditLogRow).order_by(AuditLogRow.id)).scalars())


def drain(replay) -> None:
    replay.executor.drain()
    replay.executor.drain_stock()
    replay.executor.drain()


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[c if c != " " else "space" for c in text])


# --- search --------------------------------------------------------------------------------------
def test_search_by_order_email_and_sku_opens_the_return_and_copies_its_id(replay):
    async def scenario():
        app = make_app(replay)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("slash")
            await type_text(pilot, "1003")
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, DetailScreen)
            rid = app.screen.return_id
            assert rid.startswith("rebound:1003:")
            assert app.screen.detail.ret.email == "cy@example.com"
            assert [ln.condition for ln in app.screen.detail.lines] == ["damaged"]
            assert any("held for approval" in e.summary for e in app.screen.detail.timeline)
            await pilot.press("c")
            assert app.clipboard == rid
            assert any(rid in m for m in messages(app))
            await pilot.press("escape")
            # the same return by email, then several by SKU (listed, not opened)
            box = app.screen.query_one("#query")
            box.value = ""
            await type_text(pilot, "cy@example.com")
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, DetailScreen) and app.screen.return_id == rid
            await pilot.press("escape")
            app.screen.query_one("#query").value = ""
            app.screen.query_one("#query").focus()
            await type_text(pilot, "TEE-M")
            await pilot.press("enter")
            await settle(pilot)
            keys = app.screen.query_one(ColumnTable).keys()
            assert sorted(k.split(":")[1] for k in keys) == ["1001", "1004", "1008"]
    run(scenario())


# --- held refunds ----------------------------------------------------------------------------------
def test_approve_with_a_note_refunds_in_commerce_after_the_executor_runs(replay):
    async def scenario():
        app = make_app(replay, "supervisor")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await settle(pilot)
            assert isinstance(app.screen, HoldsScreen)
            first = app.screen.query_one(ColumnTable).current_key()
            assert first == hold_for_order(replay, "1002").key  # longest waiting first
            await pilot.press("a")
            assert isinstance(app.screen, NoteModal)
            await type_text(pilot, "checked photos")
            await pilot.press("enter")
            await settle(pilot)
            assert "1002" not in "".join(app.screen.query_one(ColumnTable).keys())
    run(scenario())
    hold = hold_for_order(replay, "1002")
    assert (hold.decision, hold.decided_by, hold.note) == ("approved", "sam", "checked photos")
    assert [(a.operation, a.actor, a.allowed) for a in audit(replay)] == [("approve", "sam", True)]
    assert "1002" not in refunds(replay)
    drain(replay)
    assert refunds(replay)["1002"] == "240.00"


def test_reject_needs_a_note_and_moves_no_money(replay):
    async def scenario():
        app = make_app(replay, "supervisor")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await settle(pilot)
            await pilot.press("down", "x")
            assert isinstance(app.screen, NoteModal)
            await pilot.press("enter")  # empty: refused by the dialog, still open
            assert isinstance(app.screen, NoteModal)
            await type_text(pilot, "worn")
            await pilot.press("enter")
            await settle(pilot)
    run(scenario())
    hold = hold_for_order(replay, "1003")
    assert (hold.decision, hold.note) == ("rejected", "worn")
    drain(replay)
    assert "1003" not in refunds(replay)


def test_bulk_approve_confirms_count_and_total_then_approves_only_the_marked(replay):
    async def scenario():
        app = make_app(replay, "supervisor")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await settle(pilot)
            await pilot.press("space", "space", "A")  # mark 1002 and 1003
            assert isinstance(app.screen, ConfirmModal)
            assert "Approve 2 marked refund(s), total GBP 420.00" in app.screen.body
            await pilot.press("y")
            await settle(pilot)
            assert any("2 refund(s) approved, total GBP 420.00" in m for m in messages(app))
    run(scenario())
    assert [hold_for_order(replay, o).decision for o in ("1002", "1003", "1011", "1012")] == \
        ["approved", "approved", None, None]
    drain(replay)
    got = refunds(replay)
    assert (got["1002"], got["1003"]) == ("240.00", "180.00")
    assert "1011" not in got and "1012" not in got


# --- unknown reasons ------------------------------------------------------------------------------
def test_reclassify_through_the_fuzzy_picker_releases_the_waiting_returns(replay):
    async def scenario():
        app = make_app(replay, "cx")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("4")
            await settle(pilot)
            assert app.screen.query_one(ColumnTable).current_key() == "Colour not as pictured"
            await pilot.press("c")
            assert isinstance(app.screen, PickerModal)
            assert "releases 2 return(s)" in app.screen.body
            await type_text(pilot, "chmind")
            await pilot.press("enter")
            await settle(pilot)
            assert any("CHANGED_MIND: 2 return(s) released" in m for m in messages(app))
            assert app.screen.query_one(ColumnTable).keys() == ["Arrived after the party"]
    run(scenario())
    with replay.db.session() as s:
        mapping = s.get(ReasonMappingRow, ("*", "colour not as pictured"))
        assert (mapping.code, mapping.created_by) == ("CHANGED_MIND", "sam")
        still_open = s.execute(select(ExceptionRow.return_id).where(
            ExceptionRow.type == "unknown_reason", ExceptionRow.resolved_at.is_(None))).scalars()
        assert [r.split(":")[1] for r in still_open] == ["1006"]
    drain(replay)
    got = refunds(replay)
    assert (got["1004"], got["1005"]) == ("20.00", "22.00")


# --- failures -------------------------------------------------------------------------------------
def _failed(replay) -> dict[str, str]:
    with replay.db.session() as s:
        return {k.split(":")[2]: st for k, st in s.execute(
            select(ActionRow.key, ActionRow.status).where(ActionRow.kind == "refund",
                                                          ActionRow.return_id.like("%:100%")))}


def test_retry_one_requeues_only_that_action_and_the_refund_then_happens(replay):
    async def scenario():
        app = make_app(replay, "engineer")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            await settle(pilot)
            call = str(app.screen.query_one("#call").render())
            assert "status 500" in call and "refundCreate" in call  # the last attempt, shown
            await pilot.press("tab", "t")
            await settle(pilot)
    run(scenario())
    status = _failed(replay)
    assert (status["1008"], status["1009"]) == ("ready", "dead")
    assert [(a.operation, a.allowed) for a in audit(replay)] == [("retry", True)]
    drain(replay)
    got = refunds(replay)
    assert got["1008"] == "20.00" and "1009" not in got


def test_retry_group_confirms_the_count_and_requeues_the_whole_group(replay):
    async def scenario():
        app = make_app(replay, "engineer")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            await settle(pilot)
            await pilot.press("T")
            assert isinstance(app.screen, ConfirmModal)
            assert app.screen.title_text == "Retry 2 action(s)"
            await pilot.press("y")
            await settle(pilot)
    run(scenario())
    status = _failed(replay)
    assert (status["1008"], status["1009"]) == ("ready", "ready")
    drain(replay)
    got = refunds(replay)
    assert (got["1008"], got["1009"]) == ("20.00", "22.00")


# --- exceptions ------------------------------------------------------------------------------------
def test_resolve_an_exception_from_its_team_tab_with_a_note(replay):
    async def scenario():
        app = make_app(replay, "cx")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("6")
            await settle(pilot)
            first = app.screen.query_one(ColumnTable).current_key()
            assert ":sla" in first or "sla" in first  # SLA breaches first
            await pilot.press("right_square_bracket")  # the "cx" tab
            await settle(pilot)
            assert app.screen.owner == "cx"
            await pilot.press("v")
            assert isinstance(app.screen, NoteModal)
            await type_text(pilot, "customer told")
            await pilot.press("enter")
            await settle(pilot)
    run(scenario())
    with replay.db.session() as s:
        exc = s.execute(select(ExceptionRow).where(
            ExceptionRow.type == "order_not_returnable")).scalar_one()
    assert (exc.resolved_by, exc.resolution) == ("sam", "customer told")
    assert exc.resolved_at == replay.clock.now()


# --- roles and read-only ---------------------------------------------------------------------------
def test_a_role_that_may_not_approve_is_refused_shown_and_audited(replay):
    async def scenario():
        app = make_app(replay, "engineer", name="eve")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await settle(pilot)
            await pilot.press("a", "enter")
            await settle(pilot)
            assert any("Refused" in m and "may not approve" in m for m in messages(app))
    run(scenario())
    assert hold_for_order(replay, "1002").decision is None
    [row] = audit(replay)
    assert (row.actor, row.operation, row.allowed) == ("eve", "approve", False)


def test_read_only_hides_and_refuses_every_action(replay):
    async def scenario():
        app = make_app(replay, "admin", read_only=True)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await settle(pilot)
            shown = {b.binding.action for b in app.screen.active_bindings.values()
                     if app.screen.check_action(b.binding.action, ()) is not False}
            assert not shown & {"approve", "reject", "bulk_approve", "mark"}
            await pilot.press("a", "x", "A", "space")
            await settle(pilot)
            assert isinstance(app.screen, HoldsScreen)  # no dialog opened
            for key, screen in (("4", "c"), ("5", "t"), ("5", "T"), ("6", "v")):
                await pilot.press(key)
                await settle(pilot)
                await pilot.press(screen)
                assert not isinstance(app.screen, NoteModal | ConfirmModal | PickerModal)
            bar = str(app.screen.query_one("TopBar").render())
            assert "READ-ONLY" in bar
    run(scenario())
    assert all(hold_for_order(replay, o).decision is None for o in ("1002", "1003"))
    assert audit(replay) == []


def test_keys_rebind_from_the_config_keymap(replay):
    async def scenario():
        app = make_app(replay, "supervisor", keymap={"approve": "y"})
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await settle(pilot)
            await pilot.press("y")
            assert isinstance(app.screen, NoteModal)
            await pilot.press("escape")
            await pilot.press("question_mark")
            table = app.screen.query_one("#keys")
            rows = [table.get_row_at(i) for i in range(table.row_count)]
            assert ["y", "approve"] == [str(rows[0][0]), rows[0][2]]
    run(scenario())
    assert hold_for_order(replay, "1002").decision is None
