"""The evaluation cycle: derive tasks, roll up, evaluate every SLO, keep the latest status.

Run by the scheduler on its cadence and by `POST /api/v1/evaluate`; never two
at once. The SLO engine is blocking (Storage calls), so it runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from agentslo.config import EvaluationSpec
from agentslo.storage import Storage
from slo import SLO, SloStatus, run_cycle

__all__ = ["Evaluator"]

log = logging.getLogger("agentslo.evaluation")

# How often due webhook notifications (new ones and retries) are sent.
_DELIVERY_INTERVAL_S = 5


class Evaluator:
    """Runs evaluation cycles for a fixed set of SLOs and remembers the latest statuses."""

    def __init__(self, storage: Storage, slos: tuple[SLO, ...], spec: EvaluationSpec,
                 registry: CollectorRegistry,
                 alert: Callable[[tuple[SloStatus, ...], datetime], None] = lambda statuses, now: None) -> None:
        self._storage = storage
        self._alert = alert
        self.slos = slos
        self._spec = spec
        self._lock = asyncio.Lock()
        self.latest: dict[str, SloStatus] = {}
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
                statuses = await asyncio.to_thread(self._run, now)
            except Exception:
                self._failures.inc()
                raise
            self._duration.observe(time.perf_counter() - started)
            self._last_success.set(time.time())
        self.latest = {status.slo.name: status for status in statuses}
        return statuses

    def _run(self, now: datetime) -> tuple[SloStatus, ...]:
        # Alerting runs in the same critical section: two at once would notify twice.
        statuses = run_cycle(self._storage, self.slos, now, grace=timedelta(seconds=self._spec.grace_s))
        self._alert(statuses, now)
        return statuses

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
