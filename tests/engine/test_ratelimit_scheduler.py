"""Limiters say when a call may go (never sleep); jobs run in time order on the sim clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sync.ratelimit import DailyBudget, Pause, SystemLimits, TokenBucket
from sync.sandbox.base import SimClock
from sync.scheduler import Job, SimScheduler

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_happy_returns_bucket_allows_one_call_every_two_seconds():
    bucket = TokenBucket(rate=0.5, capacity=1)
    assert bucket.delay_for(T0) == 0
    bucket.record(T0)
    assert bucket.delay_for(T0) == 2.0
    assert bucket.delay_for(T0 + timedelta(seconds=1.5)) == 0.5
    assert bucket.delay_for(T0 + timedelta(seconds=2)) == 0


def test_daily_budget_is_shared_and_survives_a_restart(database):
    first = DailyBudget("returngo", 3, database.session)
    for _ in range(3):
        assert first.delay_for(T0) == 0
        first.record(T0)
    restarted = DailyBudget("returngo", 3, database.session)  # a new process, same database
    assert restarted.used(T0) == 3
    assert restarted.delay_for(T0) == 15 * 3600  # until midnight UTC
    assert restarted.delay_for(T0 + timedelta(days=1)) == 0


def test_retry_after_pauses_the_whole_system():
    limits = SystemLimits([TokenBucket(rate=100, capacity=100)])
    limits.pause.pause(T0, 30)
    assert limits.delay_for(T0 + timedelta(seconds=10)) == 20
    assert limits.delay_for(T0 + timedelta(seconds=30)) == 0
    assert Pause().delay_for(T0) == 0


def test_sim_scheduler_runs_due_jobs_in_time_order():
    clock = SimClock(T0)
    ran: list[tuple[str, datetime]] = []
    jobs = [Job("poll", timedelta(minutes=2), lambda: ran.append(("poll", clock.now()))),
            Job("stock", timedelta(minutes=1), lambda: ran.append(("stock", clock.now())))]
    SimScheduler(clock, jobs).advance(timedelta(minutes=4))
    assert [(n, (t - T0).seconds // 60) for n, t in ran] == [
        ("stock", 1), ("poll", 2), ("stock", 2), ("stock", 3), ("poll", 4), ("stock", 4)]
    assert clock.now() == T0 + timedelta(minutes=4)


def test_a_failing_job_records_its_error_and_keeps_its_schedule():
    clock = SimClock(T0)

    def boom():
        raise RuntimeError("feed unreachable")

    job = Job("feed", timedelta(minutes=5), boom)
    sched = SimScheduler(clock, [job])
    sched.advance(timedelta(minutes=10))
    assert job.runs == 2 and job.last_error == "RuntimeError: feed unreachable"
    assert job.next_run == T0 + timedelta(minutes=15)


def test_paused_job_does_not_run():
    clock = SimClock(T0)
    job = Job("poll", timedelta(minutes=1), lambda: None, paused=True)
    SimScheduler(clock, [job]).advance(timedelta(minutes=5))
    assert job.runs == 0
