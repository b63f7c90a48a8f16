"""Snapshots (pytest-textual-snapshot) of every screen at 120x36 and 80x24, on the replayed
sample data, a fixed simulated clock and no cursor blink. Update after checking the report:
`pytest tests/console --snapshot-update`."""

from __future__ import annotations

import pytest
from helpers import make_app

from console.screenshots import SHOTS, _wait, add_sample_audit

SIZES = {"wide": (120, 36), "narrow": (80, 24)}


@pytest.fixture(scope="module")
def snap_replay(shared_replay):
    add_sample_audit(shared_replay)
    return shared_replay


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("shot", list(SHOTS))
def test_screen(snap_compare, snap_replay, shot, size):
    start, before = SHOTS[shot]
    app = make_app(snap_replay, start=start)

    async def run_before(pilot):
        await _wait(pilot)
        if before is not None:
            await before(pilot)
        await _wait(pilot)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


def test_help_screen(snap_compare, snap_replay):
    app = make_app(snap_replay, "supervisor", start="holds")

    async def run_before(pilot):
        await _wait(pilot)
        await pilot.press("question_mark")
        await _wait(pilot)

    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)
