"""ReturnGO's day budget is one count in the database: shared by every engine (process) on it,
continued after a restart, and new again at the UTC day boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from rules.policy import Policy
from storage.tables import RateBudgetRow
from sync.clock import SimClock
from sync.connectors.returngo import ReturnGOBudget, ReturnGOConnector
from sync.engine import Engine, Systems
from sync.executor import Executor
from sync.jobs import make_jobs
from sync.sandbox.base import SandboxTransport
from sync.sandbox.returngo import ReturnGOSandbox

T0 = datetime(2026, 11, 2, 22, 0, tzinfo=UTC)
POLL_GAP = timedelta(minutes=16)  # past the connector's 15-minute list interval


def _process(database, clock, sandbox, per_day):
    """One `returnline sync` process: its own connector, engine and jobs, the shared database."""
    client = httpx.Client(transport=SandboxTransport([sandbox]))
    connector = ReturnGOConnector(client, "rg-test-key", "returnline-demo.myshopify.com",
                                  clock=clock, budget=ReturnGOBudget(per_day=per_day))
    engine = Engine(database, clock, Systems(commerce_name="shopify", commerce=None,
                                             platform_name="returngo", platform=connector),
                    Policy.from_dict({}))
    jobs = {j.name: j for j in make_jobs(engine, Executor(engine), webhooks=False,
                                         reconcile_daily=False)}
    return connector, engine, jobs


def _poll(clock, jobs):
    clock.advance(POLL_GAP)
    jobs["poll_returns"].execute(clock.now())
    assert jobs["poll_returns"].last_error is None


def _stored(database, day: str) -> int:
    with database.session() as s:
        row = s.execute(select(RateBudgetRow).where(
            RateBudgetRow.system == "returngo", RateBudgetRow.window == f"day:{day}")).scalar()
        return row.used if row else 0


def test_two_processes_share_one_day_count(database):
    clock = SimClock(T0 - timedelta(hours=2))
    sandbox = ReturnGOSandbox(clock)
    a, _, jobs_a = _process(database, clock, sandbox, per_day=3)
    b, _, jobs_b = _process(database, clock, sandbox, per_day=3)
    _poll(clock, jobs_a)
    _poll(clock, jobs_b)
    _poll(clock, jobs_a)
    assert len(sandbox.journal) == 3
    assert _stored(database, "2026-11-02") == 3
    # B has spent one call itself, but the day is spent for everyone: it sends nothing more.
    _poll(clock, jobs_b)
    assert len(sandbox.journal) == 3
    assert b.budget.used_today(clock.now()) == 3 and a.budget.used_today(clock.now()) == 3


def test_a_restart_continues_the_day_and_midnight_utc_starts_a_new_one(database):
    clock = SimClock(T0)
    sandbox = ReturnGOSandbox(clock)
    _, _, jobs = _process(database, clock, sandbox, per_day=3)
    _poll(clock, jobs)
    _poll(clock, jobs)
    assert _stored(database, "2026-11-02") == 2

    restarted, engine, jobs = _process(database, clock, sandbox, per_day=3)
    engine.share_budgets()  # what the first job run does on start
    assert restarted.budget.used_today(clock.now()) == 2
    _poll(clock, jobs)  # the day's last call
    _poll(clock, jobs)  # refused by the budget: nothing sent
    assert len(sandbox.journal) == 3
    assert _stored(database, "2026-11-02") == 3

    clock.set(datetime(2026, 11, 3, 0, 0, 30, tzinfo=UTC))  # a new UTC day
    _, engine, jobs = _process(database, clock, sandbox, per_day=3)
    engine.share_budgets()
    _poll(clock, jobs)
    assert len(sandbox.journal) == 4
    assert _stored(database, "2026-11-03") == 1
    assert _stored(database, "2026-11-02") == 3
