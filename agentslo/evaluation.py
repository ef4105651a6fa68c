"""The evaluation cycle: derive tasks, roll up, evaluate every SLO and spend budget, alert, keep the latest status.

Run by the scheduler on its cadence and by `POST /api/v1/evaluate`; never two
at once. The SLO engine is blocking (Storage calls), so it runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from agentslo.config import EvaluationSpec
from ground.storage import Storage
from slo import SLO, SloStatus, SpendBudget, SpendStatus, evaluate_cycle, evaluate_spend, write_status

__all__ = ["Evaluator"]

log = logging.getLogger("agentslo.evaluation")

# How often due webhook notifications (new ones and retries) are sent.
_DELIVERY_INTERVAL_S = 5


# After a cycle's statuses, alerting returns each SLO's alert state (for slo_status).
Alert = Callable[[tuple[SloStatus, ...], tuple[SpendStatus, ...], datetime], Mapping[str, str]]


class Evaluator:
    """Runs evaluation cycles for a fixed set of SLOs and spend budgets and remembers the latest statuses."""

    def __init__(self, storage: Storage, slos: tuple[SLO, ...], spec: EvaluationSpec,
                 registry: CollectorRegistry, *, budgets: tuple[SpendBudget, ...] = (),
                 alert: Alert = lambda statuses, spend, now: {}) -> None:
        self._storage = storage
        self._alert = alert
        self.slos = slos
        self.budgets = budgets
        self._spec = spec
        self._lock = asyncio.Lock()
        self.latest: dict[str, SloStatus] = {}
        self.latest_spend: tuple[SpendStatus, ...] = ()
        self.evaluated_at: datetime | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._duration = Histogram(
            "agentslo_evaluation_cycle_seconds", "Duration of one evaluation cycle (tasks, rollups, SLOs).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60), registry=registry,
        )
        self._failures = Counter(
            "agentslo_evaluation_cycle_failures", "Evaluation cycles that failed.", registry=registry,
        )
        self._last_success = Gauge(
            "agentslo_evaluation_last_success_timestamp_seconds", "Unix time of the last successful cycle.",
            registry=registry,
        )

    async def cycle(self, now: datetime | None = None) -> tuple[SloStatus, ...]:
        """Run one cycle as of `now` (default: the current time) and return every SLO's status."""
        now = now or datetime.now(UTC)
        async with self._lock:
            started = time.perf_counter()
            try:
                statuses, spend = await asyncio.to_thread(self._run, now)
            except Exception:
                self._failures.inc()
                raise
            self._duration.observe(time.perf_counter() - started)
            self._last_success.set(time.time())
        self.latest = {status.slo.name: status for status in statuses}
        self.latest_spend = spend
        self.evaluated_at = now
        return statuses

    def _run(self, now: datetime) -> tuple[tuple[SloStatus, ...], tuple[SpendStatus, ...]]:
        statuses = evaluate_cycle(self._storage, self.slos, now, grace=timedelta(seconds=self._spec.grace_s),
                                  budgets=self.budgets)
        spend = evaluate_spend(self._storage, self.budgets, now)
        # Alerting runs in the same critical section: two at once would notify twice.
        # It comes before slo_status is written, so each row carries the state it led to.
        write_status(self._storage, statuses, self._alert(statuses, spend, now))
        return statuses, spend

    def start(self, ready: Callable[[], bool], deliver: Callable[[datetime], object]) -> None:
        """Run a cycle every `interval_s`, from now on, skipping ticks until `ready()` is true;
        and `deliver` due webhook notifications every few seconds, so retries do not wait for a cycle."""

        async def deliver_due() -> None:
            if not ready():
                return
            try:
                await asyncio.to_thread(deliver, datetime.now(UTC))
            except Exception:
                log.exception("webhook delivery pass failed; the next one retries")

        async def tick() -> None:
            if not ready():
                return
            try:
                await self.cycle()
            except Exception:
                log.exception("evaluation cycle failed; the next one retries")

        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_job(tick, IntervalTrigger(seconds=self._spec.interval_s), id="evaluate",
                                max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))
        self._scheduler.add_job(deliver_due, IntervalTrigger(seconds=_DELIVERY_INTERVAL_S), id="deliver",
                                max_instances=1, coalesce=True)
        self._scheduler.start()

    async def stop(self) -> None:
        """Stop scheduling and wait for a running cycle to finish."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        async with self._lock:
            pass
