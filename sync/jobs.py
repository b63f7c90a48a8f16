"""The engine's jobs and their default intervals: one list for `returnline sync`, the console
and the replay, so they all run the same things at the same pace."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sync.scheduler import Job

DEFAULTS = {
    "poll_returns_seconds": 120,
    "warehouse_feed_seconds": 300,
    "outbox_seconds": 5,
    "stock_batch_seconds": 60,
    "sla_sweep_seconds": 900,
}


def make_jobs(engine: Any, executor: Any, settings: dict[str, Any] | None = None, *,
              webhooks: bool = True, reconcile_daily: bool = True) -> list[Job]:
    cfg = {**DEFAULTS, **(settings or {})}

    def every(key: str) -> timedelta:
        return timedelta(seconds=int(cfg[key]))

    share = getattr(engine, "share_budgets", None)

    def budgeted(run):
        """Each run starts from the day's shared budget count and hands back what it spent."""
        if share is None:
            return run

        def with_budgets():
            share()
            try:
                return run()
            finally:
                share()
        return with_budgets

    jobs = [
        Job("poll_returns", every("poll_returns_seconds"), budgeted(engine.poll_returns)),
        Job("poll_warehouse", every("warehouse_feed_seconds"), budgeted(engine.poll_warehouse)),
        Job("outbox", every("outbox_seconds"), budgeted(executor.drain), leader_only=False,
            idle_until=lambda: executor.next_due(stock=False)),
        Job("stock_batch", every("stock_batch_seconds"), budgeted(executor.drain_stock),
            leader_only=False, idle_until=lambda: executor.next_due(stock=True)),
        Job("sweep", every("sla_sweep_seconds"), budgeted(engine.sweep),
            idle_until=engine.next_wake),
    ]
    if webhooks:
        from sync.webhooks import process_pending

        jobs.append(Job("webhooks", timedelta(seconds=10),
                        budgeted(lambda: process_pending(engine))))
    if reconcile_daily:
        jobs.append(Job("reconcile", timedelta(days=1), lambda: reconcile_yesterday(engine)))
    return jobs


def reconcile_yesterday(engine: Any):
    from sync.reconcile import period, reconcile

    today = engine.now().date()
    since, until = period(today - timedelta(days=1), today - timedelta(days=1))
    return reconcile(engine, since, until)
