"""The JSON API behind the console's views: tasks, a trace, an SLO's history, spend (a read key each).

Every parameter is optional, with the default a view opens with; a value out of range
or a time without a zone gets a 422 that names it. Every answer is bounded: a page
of tasks, a trace's first MAX_TRACE_SPANS spans, a history's `points`, a breakdown's
`limit` keys.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar

from pydantic import BeforeValidator

from fastapi import APIRouter, HTTPException, Path, Query

from agentslo.access import requires
from agentslo.console._queries import (
    TASK_FILTER_COLUMNS,
    BadParameter,
    Dimension,
    TaskCursor,
    TaskFilter,
    TaskStatus,
)
from agentslo.console._reads import SloPoint, Spend, TaskPage, Trace, slo_history, spend, tasks, trace
from agentslo.evaluation import Evaluator
from ground.auth import KeyRing, Scope
from ground.errors import StorageError
from ground.storage import Storage

__all__ = ["DEFAULT_DIMENSIONS", "TRACE_ID", "ConsoleReads", "UnknownSlo", "answer", "console_api_router"]

log = logging.getLogger("agentslo.api")

_T = TypeVar("_T")

# What a view opens with when its parameters are left out.
DEFAULT_TASKS_RANGE = timedelta(days=7)
DEFAULT_SPEND_DAYS = 30
DEFAULT_DIMENSIONS = (Dimension.MODEL, Dimension.AGENT, Dimension.USER, Dimension.TASK_TYPE, Dimension.FEATURE)
# The longest range a read may ask for: a year of days is the most a daily series holds.
MAX_RANGE = timedelta(days=366)

_ZONE = "an ISO 8601 time with a time zone, e.g. 2026-11-23T12:00:00Z"
TRACE_ID = r"^[0-9a-fA-F]{32}$"
_NUMBER = re.compile(r"\s*[-+]?[0-9.eE+-]+\s*")


def _not_a_number(value: object) -> object:
    """Refuse a number where a time is due: pydantic would read it as Unix seconds, which the API's
    description (an ISO 8601 date-time) does not say."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("must be an ISO 8601 time with a time zone, e.g. 2026-11-23T12:00:00Z")
    return value


# A time parameter: ISO 8601 text, never a number.
Time = Annotated[datetime | None, BeforeValidator(_not_a_number)]


class UnknownSlo(LookupError):
    """An SLO name that the config does not declare."""


class ConsoleReads:
    """The reads of the console and its API on one Storage, as of `clock`; each one bounded and checked.

    Raises BadParameter (its message names the parameter) for a range or cursor it refuses, UnknownSlo
    for an SLO that is not configured; StorageError from storage.
    """

    def __init__(self, storage: Storage, evaluator: Evaluator, clock: Callable[[], datetime]) -> None:
        self.storage = storage
        self.evaluator = evaluator
        self.clock = clock

    async def tasks(self, *, start: datetime | None = None, end: datetime | None = None,
                    equals: dict[str, str] | None = None, status: TaskStatus | None = None,
                    cursor: str | None = None, limit: int = 50) -> TaskPage:
        """A page of tasks, newest first (default: the last 7 days)."""
        start, end = self.range(start, end, DEFAULT_TASKS_RANGE)
        after = None if not cursor else TaskCursor.decode(cursor)
        where = TaskFilter(start, end, {k: v for k, v in (equals or {}).items() if v}, status)
        return await _off_loop(tasks, self.storage, where, after=after, limit=limit)

    async def trace(self, trace_id: str) -> Trace | None:
        """One trace's spans as a waterfall, None when none is stored."""
        return await _off_loop(trace, self.storage, trace_id.lower())

    async def slo_history(self, name: str, *, start: datetime | None = None, end: datetime | None = None,
                          points: int = 500) -> list[SloPoint]:
        """An SLO's evaluations over a range (default: its window back from now)."""
        slo = next((slo for slo in self.evaluator.slos if slo.name == name), None)
        if slo is None:
            known = ", ".join(slo.name for slo in self.evaluator.slos) or "none"
            raise UnknownSlo(f"no SLO named {name!r}; configured: {known}")
        start, end = self.range(start, end, min(slo.window.nominal_length, MAX_RANGE))
        return await _off_loop(slo_history, self.storage, name, start, end, points=points)

    async def spend(self, *, start: datetime | None = None, end: datetime | None = None,
                    dimensions: tuple[Dimension, ...] = DEFAULT_DIMENSIONS, limit: int = 20) -> Spend:
        """Daily spend and breakdowns (default: the last 30 UTC days, today included)."""
        now = self.clock()
        if start is None and end is None:
            end = now
            today = datetime(now.year, now.month, now.day, tzinfo=UTC)
            start = today - timedelta(days=DEFAULT_SPEND_DAYS - 1)
        start, end = self.range(start, end, timedelta(days=DEFAULT_SPEND_DAYS))
        unique = tuple(dict.fromkeys(dimensions))
        return await _off_loop(spend, self.storage, unique, start, end, limit=limit)

    def range(self, start: datetime | None, end: datetime | None, default: timedelta) -> tuple[datetime, datetime]:
        """[start, end) with defaults (end: now; start: `default` before end), checked."""
        for name, value in (("start", start), ("end", end)):
            if value is not None and value.utcoffset() is None:
                raise BadParameter(f"{name} must carry a time zone, e.g. 2026-11-23T12:00:00Z")
        end = (end or self.clock()).astimezone(UTC)
        start = (start or end - default).astimezone(UTC)
        if start >= end:
            raise BadParameter(f"start must be before end: got start {_iso(start)}, end {_iso(end)}")
        if end - start > MAX_RANGE:
            raise BadParameter(f"start to end may span {MAX_RANGE.days} days at most: got {(end - start).days} days")
        return start, end


async def _off_loop(read: Callable[..., _T], *args: object, **kwargs: object) -> _T:
    return await asyncio.to_thread(read, *args, **kwargs)


def console_api_router(reads: ConsoleReads, keys: KeyRing) -> APIRouter:
    """Routes of the console's JSON API (a read key each)."""
    router = APIRouter(prefix="/api/v1", dependencies=[requires(keys, Scope.READ)])
    bad = {422: {"description": "a parameter out of range, a time without a time zone, start not before end"},
           503: {"description": "storage unavailable"}}

    @router.get("/tasks", response_model=TaskPage, tags=["tasks"], responses=bad)
    async def list_tasks(
        start: Annotated[Time, Query(description=f"tasks that started at or after this, {_ZONE}; "
                                                            "default: 7 days before end")] = None,
        end: Annotated[Time, Query(description=f"tasks that started before this, {_ZONE}; "
                                                          "default: now")] = None,
        service: Annotated[str | None, Query(max_length=256, description="only this service")] = None,
        agent: Annotated[str | None, Query(max_length=256, description="only this agent")] = None,
        user: Annotated[str | None, Query(max_length=256, description="only this user")] = None,
        tenant: Annotated[str | None, Query(max_length=256, description="only this tenant")] = None,
        task_type: Annotated[str | None, Query(max_length=256, description="only this task type")] = None,
        environment: Annotated[str | None, Query(max_length=256,
                                                 description="only this deployment environment")] = None,
        status: Annotated[TaskStatus | None, Query(description="only tasks that succeeded (ok) or failed "
                                                               "(error)")] = None,
        cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=500, description="tasks per page")] = 50,
    ) -> TaskPage:
        """Finished agent tasks, newest first, a page at a time (keyset paging: follow `next_cursor`)."""
        values = {"service": service, "agent": agent, "user": user, "tenant": tenant, "task_type": task_type,
                  "environment": environment}
        assert set(values) == set(TASK_FILTER_COLUMNS)
        return await answer(reads.tasks(start=start, end=end, equals={k: v for k, v in values.items() if v},
                                         status=status, cursor=cursor, limit=limit))

    @router.get("/traces/{trace_id}", response_model=Trace, tags=["tasks"],
                responses={404: {"description": "no span of this trace is stored"}, **bad})
    async def get_trace(trace_id: Annotated[str, Path(pattern=TRACE_ID, description="32 hex digits")]) -> Trace:
        """One trace's spans in tree order, each with its depth and its bar on the trace's time axis."""
        found = await answer(reads.trace(trace_id))
        if found is None:
            raise HTTPException(404, f"no span of trace {trace_id.lower()} is stored")
        return found

    @router.get("/slos/{name}/history", response_model=list[SloPoint], tags=["slos"],
                responses={404: {"description": "no such SLO"}, **bad})
    async def get_slo_history(
        name: str,
        start: Annotated[Time, Query(description=f"{_ZONE}; default: the SLO's window before end")] = None,
        end: Annotated[Time, Query(description=f"{_ZONE}; default: now")] = None,
        points: Annotated[int, Query(ge=2, le=2000, description="at most this many evaluations, evenly "
                                                                "spread (the last of each interval)")] = 500,
    ) -> list[SloPoint]:
        """An SLO's evaluations from slo_status, oldest first: SLI, budget left, burn rates, alert state."""
        return await answer(reads.slo_history(name, start=start, end=end, points=points))

    @router.get("/spend", response_model=Spend, tags=["spend"], responses=bad)
    async def get_spend(
        start: Annotated[Time, Query(description=f"{_ZONE}; default: the start of the UTC day 29 "
                                                            "days ago (30 days with today)")] = None,
        end: Annotated[Time, Query(description=f"{_ZONE}; default: now")] = None,
        by: Annotated[list[Dimension] | None, Query(description="breakdowns, in this order; default: model, "
                                                                "agent, user, task_type, feature")] = None,
        limit: Annotated[int, Query(ge=1, le=1000, description="the costliest keys of each breakdown")] = 20,
    ) -> Spend:
        """Model calls' cost per UTC day, and spend by model (calls, unpriced calls) and by the tasks'
        agent, user, task type, feature, service or tenant."""
        return await answer(reads.spend(start=start, end=end, dimensions=tuple(by or DEFAULT_DIMENSIONS),
                                         limit=limit))

    return router


async def answer(read: Awaitable[_T]) -> _T:
    """The read's result, its refusals as 4xx and storage failures as 503 (the driver's words logged only)."""
    try:
        return await read
    except UnknownSlo as exc:
        raise HTTPException(404, str(exc.args[0])) from None
    except BadParameter as exc:
        raise HTTPException(422, str(exc)) from None
    except StorageError as exc:
        log.warning("console read failed: %s", exc)
        raise HTTPException(503, "storage unavailable") from None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
