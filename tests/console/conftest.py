"""One deterministic database for the console tests, built once per session by replaying
tests/console/data/console_queues.json through the real engine and sandboxes (held refunds,
unknown reasons, failed refunds and credit notes, SLA breaches, a cancelled order).

Tests that change things get their own clone: a copy of the database file plus every
sandbox's dumped state loaded into a freshly built world, so each test asserts on its own
database and its own external systems, at the same simulated instant.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# tests/console (no __init__, like the other test folders) would otherwise be found as a
# namespace package "console" ahead of the real one; put the project root first.
if sys.path[:1] != [str(ROOT)]:
    sys.path.insert(0, str(ROOT))
for _name in [m for m in sys.modules if m == "console" or m.startswith("console.")]:
    if getattr(sys.modules[_name], "__file__", None) is None:
        del sys.modules[_name]

from sync.replay import Replay  # noqa: E402
from sync.scenario import Scenario, load_scenario  # noqa: E402

SCENARIO = Path(__file__).parent / "data" / "console_queues.json"

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")


@dataclass
class Golden:
    scenario: Scenario
    db_path: Path
    states: dict[str, Any]
    now: datetime
    labels: dict[str, str]


@pytest.fixture(scope="session")
def golden(tmp_path_factory) -> Golden:
    folder = tmp_path_factory.mktemp("console-golden")
    scenario = load_scenario(SCENARIO)
    replay = Replay.build(scenario, f"sqlite:///{folder / 'golden.db'}")
    replay.run()
    golden = Golden(scenario, folder / "golden.db",
                    {name: sb.dump_state() for name, sb in replay.world.sandboxes().items()},
                    replay.clock.now(), dict(replay.labels))
    replay.db.dispose()
    replay.world.close()
    return golden


def clone(golden: Golden, folder: Path) -> Replay:
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(golden.db_path) + suffix)
        if src.exists():
            shutil.copy(src, folder / f"console.db{suffix}")
    replay = Replay.build(golden.scenario, f"sqlite:///{folder / 'console.db'}")
    for name, sandbox in replay.world.sandboxes().items():
        sandbox.load_state(golden.states[name])
    replay.clock.set(golden.now)
    for job in replay.scheduler.jobs.values():
        job.next_run = golden.now + job.interval
    replay.labels = dict(golden.labels)
    return replay


@pytest.fixture
def replay(golden, tmp_path):
    r = clone(golden, tmp_path / "clone")
    yield r
    r.db.dispose()
    r.world.close()


@pytest.fixture(scope="module")
def shared_replay(golden, tmp_path_factory):
    """A clone for tests that only look (snapshots): built once per module."""
    r = clone(golden, tmp_path_factory.mktemp("console-shared"))
    yield r
    r.db.dispose()
    r.world.close()
