"""The evaluation pipeline, and its one owner: derive and roll up, evaluate, write status, then alert.

Each cycle runs its steps in this order, each after the one before has kept
its result:

1. catch up: derive tasks, roll up new minutes and late spans (slo.catch_up);
2. evaluate every SLO and spend budget;
3. append slo_status (with the alert state the cycle leads to);
4. advance the alert states and queue notifications in the outbox, then wake
   the delivery loop, which sends them outside the evaluation.

A failure in a later step never loses an earlier step's result: a cycle whose
alerting fails has still written its status. The scheduler runs a cycle every
`interval_s`; `POST /api/v1/evaluate` runs one now; never two at once. An
evaluation as of another time (`at`, for backfills and tests) reads and
writes status only: it never moves the live schedule's watermarks or alert
states. The SLO engine is blocking (Storage calls), so it runs in a thread.

Of the replicas on one store, only the holder of the evaluator lease
(agentslo.election) runs cycles: a cycle checks the lease when it starts, before
it writes status and before the alerting commit, and stops (NotEvaluator) once
the lease is lost. Catching up writes only what the next holder would write the
same (tasks, rollups, watermarks), so a holder losing its lease in the middle of
one leaves nothing wrong. The other replicas show the holder's results
(`current`): its last cycle's statuses, evaluated again from the rollups, read only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from agentslo.config import EvaluationSpec
from alerts import Alerting, CappedSpend, cap_members
from ground.errors import NotEvaluator, StorageError
from ground.storage import Storage
from slo import SLO, SloStatus, SpendBudget, SpendStatus, format_duration
from slo.engine import (
    CatchUp,
    WaitingTasks,
    catch_up,
    evaluate,
    evaluate_spend,
    latest_status_at,
    waiting_tasks,
    write_status,
)

__all__ = ["SOLE", "Current", "Evaluation", "Evaluator", "Lease"]

log = logging.getLogger("agentslo.evaluation")

# Per-member spend on /metrics: the top spenders of each group budget, so that
# a budget per user does not add a series per user.
TOP_MEMBERS_ON_METRICS = 10


@dataclass(frozen=True)
class Evaluation:
    """One cycle's results: every SLO's status and every spend-budget scope's, as of `evaluated_at`."""

    evaluated_at: datetime
    statuses: tuple[SloStatus, ...]
    spend: tuple[SpendStatus, ...]
    live: bool
    caught_up: CatchUp


@dataclass(frozen=True)
class Current:
    """What the API shows: the latest live cycle's SLO statuses (by name), spend and alert states.

    `evaluated_at` is None before any cycle.
    """

    evaluated_at: datetime | None
    statuses: Mapping[str, SloStatus]
    spend: tuple[SpendStatus, ...]
    cap: CappedSpend
    alert_states: Mapping[str, str]


class Lease(Protocol):
    """Whether this replica may evaluate: agentslo.election.Election, or SOLE for a lone evaluator."""

    @property
    def held(self) -> bool:
        """Whether it may evaluate now."""
        ...

    def check(self) -> None:
        """Raise NotEvaluator unless it may write as the evaluator now."""
        ...


class _Sole:
    """The lease of the only evaluator there is: a tool or a test running cycles on a store of its own."""

    held = True

    def check(self) -> None:
        return None


SOLE: Lease = _Sole()


class Evaluator:
    """Runs evaluation cycles for a fixed set of SLOs and spend budgets and remembers the latest live one.

    `clock` gives the current time; `alerting` (None: no alerting) turns each
    live cycle's statuses into alert states and outbox entries, and `queued`
    is called when a cycle queued notifications (the delivery loop's wake).
    `retention` bounds how far back `at` may go. `lease` says whether this
    replica may evaluate (SOLE: always).
    """

    def __init__(self, storage: Storage, slos: tuple[SLO, ...], spec: EvaluationSpec,
                 registry: CollectorRegistry, *, budgets: tuple[SpendBudget, ...] = (),
                 alerting: Alerting | None = None, queued: Callable[[], None] = lambda: None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 retention: timedelta = timedelta(days=30), lease: Lease = SOLE) -> None:
        self._storage = storage
        self._alerting = alerting
        self._queued = queued
        self._clock = clock
        self.lease = lease
        self.slos = slos
        self.budgets = budgets
        self.spec = spec
        self._grace = timedelta(seconds=spec.grace_s)
        self.lateness_horizon = timedelta(seconds=spec.lateness_horizon_s)
        self._oldest_at = retention + max((slo.window.nominal_length for slo in slos), default=timedelta(0))
        self._lock = asyncio.Lock()
        self.latest: dict[str, SloStatus] = {}
        self.latest_spend: tuple[SpendStatus, ...] = ()
        self.latest_cap: CappedSpend = cap_members(())  # which of latest_spend have alerts of their own
        self.alert_states: Mapping[str, str] = {}
        self.evaluated_at: datetime | None = None
        self._observed: Current | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick: Callable[[], Awaitable[None]] | None = None
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
        # Since start: spans stored after their minute was rolled up (then counted), and spans stored
        # later than the lateness horizon after they ended (stored, but in no SLI).
        self.late_spans = 0
        self.beyond_horizon_spans = 0
        # Finished tasks not derived yet, as of the last live cycle: task SLOs do not count them yet.
        self.waiting = WaitingTasks(0, None)
        registry.register(_StatusCollector(self))

    def check_at(self, at: datetime) -> None:
        """Refuse an `at` that could hurt: without a time zone, in the future, or older than any window
        plus the retention could reach. Raises ValueError saying which."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("at must carry a time zone, e.g. 2026-11-23T12:00:00Z")
        now = self._clock()
        if at > now:
            raise ValueError(f"at must not be in the future: it is {_iso(at)}, and now is {_iso(now)}")
        if at < now - self._oldest_at:
            raise ValueError(f"at must be after {_iso(now - self._oldest_at)}: older evaluations read nothing "
                             f"the retention keeps (the longest SLO window plus the retention)")

    async def cycle(self, at: datetime | None = None) -> Evaluation:
        """Run one cycle: a live one as of now, or, given `at` (checked by `check_at`), one as of then."""
        if at is not None:
            self.check_at(at)
        async with self._lock:
            # A live cycle's time to the millisecond, as slo_status keeps it: the other replicas
            # evaluate again as of exactly this time (`observe`).
            now = at or _to_millisecond(self._clock())
            started = time.perf_counter()
            try:
                evaluation, queued = await asyncio.to_thread(self._run, now, at is None)
            except NotEvaluator:
                raise
            except Exception:
                self._failures.inc()
                raise
            self._duration.observe(time.perf_counter() - started)
            self._last_success.set(time.time())
        if queued:
            self._queued()
        return evaluation

    def _run(self, now: datetime, live: bool) -> tuple[Evaluation, bool]:
        lease = self.lease
        lease.check()
        caught_up = catch_up(self._storage, self.slos, now, grace=self._grace, horizon=self.lateness_horizon,
                             budgets=self.budgets, live=live)
        statuses = evaluate(self._storage, self.slos, now, grace=self._grace)
        spend = evaluate_spend(self._storage, self.budgets, now)
        evaluation = Evaluation(now, statuses, spend, live, caught_up)
        if not live:
            lease.check()
            write_status(self._storage, statuses)
            return evaluation, False
        self.late_spans += caught_up.late_spans
        self.beyond_horizon_spans += caught_up.beyond_horizon_spans
        self.waiting = waiting_tasks(self._storage, now, grace=self._grace)
        self.latest = {status.slo.name: status for status in statuses}
        self.latest_spend = spend
        self.latest_cap = cap_members(spend)
        self.evaluated_at = now
        if self._alerting is None:
            lease.check()
            write_status(self._storage, statuses)
            return evaluation, False
        try:
            planned = self._alerting.plan(statuses, now, spend=spend)
        except StorageError:
            lease.check()
            write_status(self._storage, statuses)  # the status stands without its alert state
            raise
        lease.check()
        write_status(self._storage, statuses, planned.slo_alert_states)
        self.alert_states = planned.slo_alert_states
        lease.check()  # a holder that lost its lease since queues nothing: the next holder will
        self._alerting.commit(planned)
        return evaluation, bool(planned.queued)

    async def current(self) -> Current:
        """The latest live cycle's results: this replica's own while it holds the lease (running a first
        cycle if none has run yet), else the holder's, evaluated again read-only from the store as of its
        last cycle (`observe`)."""
        if self.lease.held:
            if (self.slos and not self.latest) or (self.budgets and self.evaluated_at is None):
                try:
                    await self.cycle()
                except NotEvaluator:
                    return await asyncio.to_thread(self.observe)
            return Current(self.evaluated_at, dict(self.latest), self.latest_spend, self.latest_cap,
                           dict(self.alert_states))
        return await asyncio.to_thread(self.observe)

    def observe(self) -> Current:
        """What the holder of the lease last evaluated, read only: every SLO as of the newest slo_status
        rows (as of now when there are none of the last two intervals and the grace period), from the
        rollups the holder keeps, and each SLO's loudest alert as saved. Blocking."""
        now = self._clock()
        since = now - timedelta(seconds=2 * self.spec.interval_s) - self._grace
        at = latest_status_at(self._storage, since=since) if self.slos else None
        cached = self._observed
        if at is not None and cached is not None and cached.evaluated_at == at:
            return cached
        when = at or now
        statuses = evaluate(self._storage, self.slos, when, grace=self._grace)
        spend = evaluate_spend(self._storage, self.budgets, when)
        alert_states = {} if self._alerting is None else self._alerting.saved_slo_alert_states()
        observed = Current(at, {status.slo.name: status for status in statuses}, spend, cap_members(spend),
                           alert_states)
        if at is not None:
            self._observed = observed
        return observed

    def forget(self) -> None:
        """Drop the latest live cycle's results (this replica lost the lease: /metrics and the API
        show the holder's, not these as they age)."""
        self.latest = {}
        self.latest_spend = ()
        self.latest_cap = cap_members(())
        self.alert_states = {}
        self.evaluated_at = None

    def wake(self) -> None:
        """Run a cycle now, once started and ready (this replica came to hold the lease: the previous
        holder's schedule is lost); callable from any thread."""
        loop, tick = self._loop, self._tick
        if loop is not None and tick is not None:
            loop.call_soon_threadsafe(lambda: loop.create_task(tick()))

    def start(self, ready: Callable[[], bool]) -> None:
        """Run a cycle every `interval_s`, from now on, skipping ticks until `ready()` is true and while
        this replica does not hold the lease."""

        async def tick() -> None:
            if not ready() or not self.lease.held:
                return
            try:
                await self.cycle()
            except NotEvaluator as exc:
                log.warning("evaluation cycle stopped: %s", exc)
            except Exception:
                log.exception("evaluation cycle failed; the next one retries")

        self._loop = asyncio.get_running_loop()
        self._tick = tick
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_job(tick, IntervalTrigger(seconds=self.spec.interval_s), id="evaluate",
                                max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))
        self._scheduler.start()

    async def stop(self) -> None:
        """Stop scheduling and wait for a running cycle to finish."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        async with self._lock:
            pass


class _StatusCollector(Collector):
    """The latest live cycle's figures on /metrics, as Pyrra's and Sloth's users read them: ratios 0-1,
    an `slo` label, burn rates by the API's window labels; spend and caps in USD."""

    def __init__(self, evaluator: Evaluator) -> None:
        self._evaluator = evaluator

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        evaluator = self._evaluator
        yield CounterMetricFamily("agentslo_evaluation_late_spans", "Spans stored after their minute was rolled "
                                  "up, counted by the next cycle.", value=evaluator.late_spans)
        yield CounterMetricFamily("agentslo_evaluation_spans_beyond_horizon", "Spans stored later than the "
                                  "lateness horizon after they ended: stored and shown, but counted in no SLI.",
                                  value=evaluator.beyond_horizon_spans)
        statuses = [evaluator.latest[slo.name] for slo in evaluator.slos if slo.name in evaluator.latest]
        sli = GaugeMetricFamily("agentslo_slo_sli", "The SLI over the SLO's window (0-1); absent with no data.",
                                labels=["slo"])
        objective = GaugeMetricFamily("agentslo_slo_objective", "The SLO's objective (0-1).", labels=["slo"])
        remaining = GaugeMetricFamily("agentslo_slo_error_budget_remaining",
                                      "Share of the error budget left (1 untouched, below 0 overspent).", labels=["slo"])
        burn = GaugeMetricFamily("agentslo_slo_burn_rate", "Error budget burn rate over the window "
                                 "(1 spends the budget exactly by the window's end).", labels=["slo", "window"])
        through = GaugeMetricFamily("agentslo_slo_data_through_timestamp_seconds",
                                    "Unix time up to which the SLI counts every event.", labels=["slo"])
        alert = GaugeMetricFamily("agentslo_slo_alert_state", "1 for the SLO's loudest alert state, 0 for the others.",
                                  labels=["slo", "state"])
        for status in statuses:
            name = status.slo.name
            objective.add_metric([name], status.slo.target)
            through.add_metric([name], status.data_through.timestamp())
            if status.sli is not None:
                sli.add_metric([name], status.sli)
            if status.error_budget_remaining is not None:
                remaining.add_metric([name], status.error_budget_remaining)
            for rate in status.burn_rates:
                if rate.burn_rate is not None:
                    burn.add_metric([name, format_duration(rate.window)], rate.burn_rate)
            current = evaluator.alert_states.get(name, "") or "ok"
            for state in ("ok", "pending", "no_data", "ticket", "page"):
                alert.add_metric([name, state], float(state == current))
        yield from (sli, objective, remaining, burn, through, alert)
        yield from _spend_families(evaluator.budgets, evaluator.latest_spend, evaluator.latest_cap)


def _spend_families(budgets: tuple[SpendBudget, ...], spend: tuple[SpendStatus, ...],
                    cap: CappedSpend) -> Iterator[GaugeMetricFamily]:
    spent = GaugeMetricFamily("agentslo_budget_spent_usd", "Spend so far this period, in USD: the budget's, or "
                              f"each of its top {TOP_MEMBERS_ON_METRICS} members' for a budget per user, tenant "
                              "or agent.", labels=["budget", "period", "member"])
    limit = GaugeMetricFamily("agentslo_budget_limit_usd", "The budget's cap per period (per member for a "
                              "budget per user, tenant or agent), in USD.", labels=["budget", "period"])
    members = GaugeMetricFamily("agentslo_budget_members", "Members with spend this period, for a budget per "
                                "user, tenant or agent.", labels=["budget", "period"])
    over_cap = GaugeMetricFamily("agentslo_budget_members_over_cap", "Members with spend this period beyond the "
                                 "budget's max_members, which have no alert of their own (a budget per user, "
                                 "tenant or agent alerts for its top spenders only).", labels=["budget", "period"])
    for budget in budgets:
        period = budget.period.value
        limit.add_metric([budget.name, period], budget.limit_usd)
        scopes = sorted((s for s in spend if s.budget.name == budget.name), key=lambda s: -s.spent_usd)
        if budget.per is None:
            spent.add_metric([budget.name, period, ""], scopes[0].spent_usd if scopes else 0.0)
            continue
        scopes = [scope for scope in scopes if scope.member is not None]
        members.add_metric([budget.name, period], len(scopes))
        over_cap.add_metric([budget.name, period], cap.members_over_cap(budget.name))
        for scope in scopes[:TOP_MEMBERS_ON_METRICS]:
            spent.add_metric([budget.name, period, scope.member or ""], scope.spent_usd)
    yield from (spent, limit, members, over_cap)


def _to_millisecond(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
