"""JSON API under /api/v1 for SLO and spend-budget status, and `POST /api/v1/evaluate` to run a cycle now.

Every replica answers the reads alike (agentslo.evaluation.Evaluator.current): the holder of the
evaluator lease from its last cycle, the others from the same cycle's results as stored. Only the
holder runs a cycle: the others answer `POST /api/v1/evaluate` with 409, naming the holder.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from agentslo.access import no_cross_site_writes, requires
from agentslo.evaluation import Current, Evaluation, Evaluator
from alerts import CappedSpend, cap_members
from ground.auth import KeyRing, Scope
from ground.errors import NotEvaluator, StorageError, StorageUnavailable
from slo import CalendarMonth, SloStatus, SpendStatus, Timeslices, format_duration

__all__ = ["SloStatusOut", "SpendStatusOut", "latest_budgets", "latest_slos", "run_cycle", "slo_router"]

log = logging.getLogger("agentslo.api")


class BurnRateOut(BaseModel):
    """Burn rate over one look-back window: 1.0 spends exactly the budget over the SLO window.

    `good` and `total` are what the rate is computed from: events, or slices under
    timeslice budgeting; `events` counts the window's events in either case.
    """

    window: str
    burn_rate: float | None
    good: float
    total: float
    events: float


class SloStatusOut(BaseModel):
    """One SLO as of its last evaluation. Ratios are 0-1; `sli` is null when there was no data."""

    name: str
    description: str
    objective: float
    window: str
    budgeting: str
    evaluated_at: datetime
    window_start: datetime
    window_end: datetime
    data_through: datetime
    good_events: float
    total_events: float
    sli: float | None
    error_budget: float
    error_budget_remaining: float | None
    error_budget_remaining_events: float | None
    burn_rates: list[BurnRateOut]
    time_to_exhaustion_s: float | None
    enough_data: bool
    state: str
    alert_state: str


class SpendStatusOut(BaseModel):
    """What one spend budget's scope (the whole budget, or one member of a group budget) spent this period.

    `alerted` is false for a member beyond its budget's `max_members` top spenders, which has
    no alert of its own; `members_over_cap` counts those members of the budget.
    """

    budget: str
    period: str
    per: str | None
    member: str | None
    service: str | None
    period_start: datetime
    period_end: datetime
    evaluated_at: datetime
    limit_usd: float
    spent_usd: float
    used: float
    remaining_usd: float
    projected_usd: float
    levels_reached: list[str]
    alerted: bool
    members_over_cap: int


class EvaluationOut(BaseModel):
    """The result of one evaluation cycle: live (now), or as of `at` (status only, no alerting)."""

    evaluated_at: datetime
    live: bool
    late_spans: int
    spans_beyond_horizon: int
    slos: list[SloStatusOut]
    budgets: list[SpendStatusOut]


class PipelineOut(BaseModel):
    """How the evaluation runs, and what the live cycles have seen since the service started.

    `tasks_waiting` finished in the last `grace_s` and are not derived yet (they wait for late
    children): task SLOs and group budgets count them from `tasks_waiting_count_from` on.
    """

    evaluated_at: datetime | None
    interval_s: float
    grace_s: float
    lateness_horizon_s: float
    late_spans: int
    spans_beyond_horizon: int
    tasks_waiting: int
    tasks_waiting_count_from: datetime | None


def spend_out(status: SpendStatus, cap: CappedSpend) -> SpendStatusOut:
    """The API form of an evaluated spend-budget scope, with whether it alerts (`cap` of its evaluation)."""
    budget = status.budget
    start, end = status.period_bounds
    return SpendStatusOut(
        budget=budget.name, period=budget.period.value, per=None if budget.per is None else budget.per.value,
        member=status.member, service=budget.service, period_start=start, period_end=end,
        evaluated_at=status.at, limit_usd=budget.limit_usd, spent_usd=status.spent_usd, used=status.used,
        remaining_usd=status.remaining_usd, projected_usd=status.projected_usd,
        levels_reached=[level.label for level in budget.levels if status.reached(level)],
        alerted=cap.alerts(status), members_over_cap=cap.members_over_cap(budget.name),
    )


def status_out(status: SloStatus, alert_state: str = "") -> SloStatusOut:
    """The API form of an evaluated SLO, with its loudest alert state ('' when none is pending or firing)."""
    slo = status.slo
    if status.sli is None:
        state = "no data"
    elif status.error_budget_remaining is not None and status.error_budget_remaining <= 0:
        state = "budget exhausted"
    else:
        state = "ok"
    budgeting = slo.budgeting
    return SloStatusOut(
        name=slo.name,
        description=slo.description,
        objective=slo.target,
        window="month" if isinstance(slo.window, CalendarMonth) else format_duration(slo.window.length),
        budgeting=f"timeslices of {format_duration(budgeting.slice)}" if isinstance(budgeting, Timeslices)
        else "occurrences",
        evaluated_at=status.evaluated_at,
        window_start=status.window_start,
        window_end=status.window_end,
        data_through=status.data_through,
        good_events=status.counts.good_events,
        total_events=status.counts.total_events,
        sli=status.sli,
        error_budget=status.error_budget,
        error_budget_remaining=status.error_budget_remaining,
        error_budget_remaining_events=status.error_budget_remaining_events,
        burn_rates=[
            BurnRateOut(window=format_duration(rate.window), burn_rate=rate.burn_rate,
                        good=rate.counts.good_events, total=rate.counts.total_events,
                        events=rate.events.total_events)
            for rate in status.burn_rates
        ],
        time_to_exhaustion_s=(None if status.time_to_exhaustion is None
                              else status.time_to_exhaustion.total_seconds()),
        enough_data=status.enough_data,
        state=state,
        alert_state=alert_state,
    )


async def run_cycle(evaluator: Evaluator, at: datetime | None) -> Evaluation:
    """Run a cycle now (or as of `at`), its failures as HTTP errors: 422 for a refused `at`, 409 on a replica
    that does not hold the evaluator lease, 503 while storage is unavailable, 500 otherwise (the log says why)."""
    async with _answering_for_storage():
        try:
            return await evaluator.cycle(at)
        except ValueError as exc:  # an `at` refused by Evaluator.check_at
            raise HTTPException(422, str(exc)) from None
        except NotEvaluator as exc:
            raise HTTPException(409, f"{exc}; send POST /api/v1/evaluate to that replica") from None


async def current(evaluator: Evaluator) -> Current:
    """The latest live cycle's results: this replica's own as the evaluator, else read from storage."""
    async with _answering_for_storage():
        return await evaluator.current()


async def latest_slos(evaluator: Evaluator) -> list[SloStatusOut]:
    """Every SLO's latest live status, in config order."""
    latest = await current(evaluator)
    return [status_out(latest.statuses[slo.name], latest.alert_states.get(slo.name, ""))
            for slo in evaluator.slos if slo.name in latest.statuses]


async def latest_budgets(evaluator: Evaluator) -> list[SpendStatusOut]:
    """Every spend-budget scope's latest live spend."""
    latest = await current(evaluator)
    return [spend_out(s, latest.cap) for s in latest.spend]


def slo_router(evaluator: Evaluator, keys: KeyRing) -> APIRouter:
    """Routes reading (a read key) and refreshing (an admin key) SLO status through `evaluator`."""
    router = APIRouter(prefix="/api/v1", tags=["slos"])
    read = [requires(keys, Scope.READ)]

    async def run(at: datetime | None) -> Evaluation:
        return await run_cycle(evaluator, at)

    @router.post("/evaluate", response_model=EvaluationOut,
                 dependencies=[requires(keys, Scope.ADMIN), no_cross_site_writes],
                 responses={401: {"description": "no API key, or an unknown one"},
                            403: {"description": "a key without the admin scope, or a request from a web page of "
                                                 "another origin"},
                            409: {"description": "this replica does not hold the evaluator lease: another "
                                                 "evaluates (named in the answer), or its role is ingest"},
                            415: {"description": "a body other than JSON (a form, text/plain)"},
                            422: {"description": "`at` without a time zone, in the future, or older than "
                                                 "the longest SLO window plus the retention"},
                            503: {"description": "storage unavailable; retry after Retry-After seconds"}})
    async def evaluate(at: datetime | None = Query(
            None, description="evaluate as of this past time (ISO 8601 with a time zone) instead of now: a "
                              "backfill, which appends slo_status rows dated `at` and neither alerts nor moves "
                              "the live schedule")):
        """Derive tasks, roll up and evaluate every SLO and spend budget now, append to slo_status, and alert
        (or, given `at`, evaluate as of then)."""
        evaluation = await run(at)
        cap = cap_members(evaluation.spend)
        states = evaluator.alert_states
        return EvaluationOut(
            evaluated_at=evaluation.evaluated_at, live=evaluation.live,
            late_spans=evaluation.caught_up.late_spans,
            spans_beyond_horizon=evaluation.caught_up.beyond_horizon_spans,
            slos=[status_out(s, states.get(s.slo.name, "") if evaluation.live else "") for s in evaluation.statuses],
            budgets=[spend_out(s, cap) for s in evaluation.spend])

    @router.get("/evaluation", response_model=PipelineOut, dependencies=read)
    async def pipeline() -> PipelineOut:
        """The evaluation's cadence, grace period and lateness horizon, and the late spans seen since start."""
        spec = evaluator.spec
        evaluated_at = evaluator.evaluated_at if evaluator.lease.held else (await current(evaluator)).evaluated_at
        return PipelineOut(evaluated_at=evaluated_at, interval_s=spec.interval_s, grace_s=spec.grace_s,
                           lateness_horizon_s=spec.lateness_horizon_s, late_spans=evaluator.late_spans,
                           spans_beyond_horizon=evaluator.beyond_horizon_spans,
                           tasks_waiting=evaluator.waiting.count,
                           tasks_waiting_count_from=evaluator.waiting.counts_from)

    @router.get("/budgets", response_model=list[SpendStatusOut], dependencies=read)
    async def list_budgets() -> list[SpendStatusOut]:
        """Each spend budget's spend this period: one entry per global budget, one per member with spend
        for budgets per user, tenant or agent (evaluating once if no cycle has run yet)."""
        return await latest_budgets(evaluator)

    @router.get("/slos", response_model=list[SloStatusOut], dependencies=read)
    async def list_slos() -> list[SloStatusOut]:
        """Every SLO's latest status (evaluating once if no cycle has run yet)."""
        return await latest_slos(evaluator)

    @router.get("/slos/{name}", response_model=SloStatusOut, dependencies=read,
                responses={404: {"description": "no such SLO"}})
    async def get_slo(name: str) -> SloStatusOut:
        """One SLO's latest status."""
        if name not in {slo.name for slo in evaluator.slos}:
            known = ", ".join(slo.name for slo in evaluator.slos) or "none"
            raise HTTPException(404, f"no SLO named {name!r}; configured: {known}")
        latest = await current(evaluator)
        return status_out(latest.statuses[name], latest.alert_states.get(name, ""))

    return router


@asynccontextmanager
async def _answering_for_storage() -> AsyncIterator[None]:
    """Storage failures as answers: 503 + Retry-After while unavailable, else 500; the log says why."""
    try:
        yield
    except StorageUnavailable as exc:
        log.warning("evaluation failed, storage unavailable: %s", exc)
        raise HTTPException(503, "evaluation failed: storage unavailable, retry later",
                            headers={"Retry-After": str(exc.retry_after_s)}) from None
    except StorageError:
        log.exception("evaluation failed")
        raise HTTPException(500, "evaluation failed; the service log says why") from None
