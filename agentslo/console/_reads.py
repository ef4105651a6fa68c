"""The console's I/O edge: runs the statements of `_queries` on a Storage and returns values.

Every function blocks (Storage calls): the routes run them in worker threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from agentslo.console._queries import (
    MAX_TRACE_SPANS,
    Dimension,
    Statement,
    TaskCursor,
    TaskFilter,
    slo_history_query,
    task_models_query,
    task_spend_query,
    tasks_query,
    trace_bounds_query,
    trace_spans_query,
    traces_spend_query,
)
from agentslo.console._waterfall import waterfall
from ground.storage import QueryResult, Storage

_NS = 1_000_000_000


@dataclass(frozen=True)
class Task:
    """One finished agent task: its span's outcome, what its spans used, and who it ran for.

    `models` and `fallback_sources` are those of the model calls of the task's trace.
    """

    task_id: str
    trace_id: str
    start: datetime
    duration_ms: float
    status: str  # ok | error
    error_type: str
    service: str
    agent: str
    user: str
    tenant: str
    task_type: str
    feature: str
    environment: str
    llm_calls: int
    tool_calls: int
    tool_errors: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    degraded: bool
    spans: int
    models: list[str] = field(default_factory=list)
    fallback_sources: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TaskPage:
    """A page of tasks, newest first; `next_cursor` fetches the next (null on the last page)."""

    start: datetime
    end: datetime
    tasks: list[Task]
    next_cursor: str | None


def tasks(storage: Storage, where: TaskFilter, *, after: TaskCursor | None, limit: int) -> TaskPage:
    """A page of at most `limit` tasks matching `where`, after `after`, with their models."""
    result = _run(storage, tasks_query(where, after=after, limit=limit + 1))
    rows = result.dicts()
    more = len(rows) > limit
    rows = rows[:limit]
    models: dict[str, tuple[list[str], list[str]]] = {}
    if rows:
        starts = [_from_ns(row["StartNs"]) for row in rows]
        found = _run(storage, task_models_query(sorted({row["TraceId"] for row in rows}),
                                                       min(starts), max(starts)))
        models = {trace: (list(names), list(sources)) for trace, names, sources in found.rows}
    page = [Task(
        task_id=row["TaskId"], trace_id=row["TraceId"], start=_from_ns(row["StartNs"]),
        duration_ms=row["Duration"] / 1e6, status="ok" if row["Success"] else "error", error_type=row["ErrorType"],
        service=row["ServiceName"], agent=row["AgentName"], user=row["UserId"], tenant=row["Tenant"],
        task_type=row["TaskType"], feature=row["Feature"], environment=row["Environment"],
        llm_calls=row["LlmCalls"], tool_calls=row["ToolCalls"], tool_errors=row["ToolErrors"],
        input_tokens=row["InputTokens"], output_tokens=row["OutputTokens"],
        cache_read_tokens=row["CacheReadTokens"], cache_write_tokens=row["CacheWriteTokens"],
        cost_usd=row["CostUsd"], degraded=bool(row["Degraded"]), spans=row["Spans"],
        models=models.get(row["TraceId"], ([], []))[0], fallback_sources=models.get(row["TraceId"], ([], []))[1],
    ) for row in rows]
    last = rows[-1] if rows else None
    cursor = TaskCursor(last["StartNs"], last["TraceId"], last["TaskId"]).encode() if more and last else None
    return TaskPage(where.start, where.end, page, cursor)


@dataclass(frozen=True)
class SpanEvent:
    """Something that happened during a span: a retry, a circuit breaker's transition, an exception."""

    time: datetime
    name: str
    attributes: dict[str, str]


@dataclass(frozen=True)
class Span:
    """One span of a trace, with its typed LLM columns and its place in the waterfall.

    `depth` is its depth in the span tree; `offset_pct` and `width_pct` place its bar on
    the trace's time axis (percent of the trace's duration).
    """

    span_id: str
    parent_span_id: str
    name: str
    kind: str
    service: str
    scope: str
    start: datetime
    start_ns: int
    duration_ns: int
    duration_ms: float
    status_code: str
    status_message: str
    operation: str
    provider: str
    request_model: str
    response_model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    cost_source: str
    error_type: str
    fallback_source: str
    degraded: bool
    agent: str
    user: str
    tenant: str
    task_type: str
    feature: str
    attributes: dict[str, str]
    resource_attributes: dict[str, str]
    events: list[SpanEvent]
    depth: int = 0
    offset_pct: float = 0.0
    width_pct: float = 0.0


@dataclass(frozen=True)
class Trace:
    """One trace's spans in tree order (depth first, children by start), as a waterfall.

    `truncated` says the trace has more than `spans` holds (at most MAX_TRACE_SPANS).
    """

    trace_id: str
    start: datetime
    duration_ms: float
    cost_usd: float
    input_tokens: int
    output_tokens: int
    spans: list[Span]
    truncated: bool


def trace(storage: Storage, trace_id: str) -> Trace | None:
    """The trace's spans (None when none is stored), looked up in its tasks' days when it has tasks."""
    bounds = _run(storage, trace_bounds_query(trace_id)).rows
    if bounds and bounds[0][0] is not None:
        statement = trace_spans_query(trace_id, start=_from_ns(bounds[0][0]) - timedelta(days=1),
                                      end=_from_ns(bounds[0][1]) + timedelta(days=1))
    else:
        statement = trace_spans_query(trace_id)
    rows = _run(storage, statement).dicts()
    if not rows:
        return None
    truncated = len(rows) > MAX_TRACE_SPANS
    spans = [_span(row) for row in rows[:MAX_TRACE_SPANS]]
    ordered = [
        _placed(spans[bar.index], bar.depth, bar.offset_pct, bar.width_pct) for bar in waterfall(spans)
    ]
    first = min(span.start_ns for span in spans)
    last = max(span.start_ns + span.duration_ns for span in spans)
    calls = [span for span in spans if span.cost_source]
    return Trace(trace_id, _from_ns(first), (last - first) / 1e6, sum(span.cost_usd for span in calls),
                 sum(span.input_tokens for span in calls), sum(span.output_tokens for span in calls),
                 ordered, truncated)


def _span(row: dict) -> Span:
    return Span(
        span_id=row["SpanId"], parent_span_id=row["ParentSpanId"], name=row["SpanName"], kind=row["SpanKind"],
        service=row["ServiceName"], scope=row["ScopeName"], start=_from_ns(row["StartNs"]), start_ns=row["StartNs"],
        duration_ns=row["Duration"], duration_ms=row["Duration"] / 1e6, status_code=row["StatusCode"],
        status_message=row["StatusMessage"], operation=row["GenAiOperation"], provider=row["GenAiProvider"],
        request_model=row["RequestModel"], response_model=row["ResponseModel"], input_tokens=row["InputTokens"],
        output_tokens=row["OutputTokens"], cache_read_tokens=row["CacheReadTokens"],
        cache_write_tokens=row["CacheWriteTokens"], cost_usd=row["CostUsd"], cost_source=row["CostSource"],
        error_type=row["ErrorType"], fallback_source=row["FallbackSource"], degraded=bool(row["Degraded"]),
        agent=row["AgentName"], user=row["UserId"], tenant=row["Tenant"], task_type=row["TaskType"],
        feature=row["Feature"], attributes=dict(sorted(row["SpanAttributes"].items())),
        resource_attributes=dict(sorted(row["ResourceAttributes"].items())),
        events=[SpanEvent(_from_ns(ns), name, dict(sorted(attributes.items())))
                for ns, name, attributes in zip(row["EventNs"], row["Events.Name"], row["Events.Attributes"])],
    )


def _placed(span: Span, depth: int, offset_pct: float, width_pct: float) -> Span:
    return Span(**{**span.__dict__, "depth": depth, "offset_pct": round(offset_pct, 3),
                   "width_pct": round(width_pct, 3)})


@dataclass(frozen=True)
class SloPoint:
    """An SLO's status as of one evaluation (the last in its bucket of the history)."""

    at: datetime
    sli: float | None
    objective: float
    error_budget_remaining: float | None
    good_events: float
    total_events: float
    burn_rates: dict[str, float]
    alert_state: str
    data_through: datetime | None


def slo_history(storage: Storage, slo_name: str, start: datetime, end: datetime, *, points: int) -> list[SloPoint]:
    """The SLO's status over [start, end] from slo_status, at most `points` evaluations evenly spread."""
    bucket = max((end - start) / (points - 1), timedelta(seconds=1))
    bucket = timedelta(seconds=-(-bucket.total_seconds() // 1))  # whole seconds, rounded up: never more points
    rows = _run(storage, slo_history_query(slo_name, start, end, bucket=bucket)).rows
    return [SloPoint(datetime.fromtimestamp(at_ms / 1000, UTC), sli, objective, remaining, good, total,
                     dict(sorted(rates.items())), state, None if through is None else datetime.fromtimestamp(through, UTC))
            for at_ms, sli, objective, remaining, good, total, rates, state, through in rows]


@dataclass(frozen=True)
class SpendRow:
    """What one model, service, agent, user, tenant, task type or feature cost.

    `calls` counts model calls (by model) or tasks (the other dimensions); `unpriced_calls`
    the model calls without a price (by model only, else 0).
    """

    key: str
    cost_usd: float
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    unpriced_calls: int
    share: float  # of the breakdown's total cost, 0-1


@dataclass(frozen=True)
class Breakdown:
    """Spend along one dimension: its costliest `rows`, and totals over all its keys."""

    dimension: str
    total_cost_usd: float
    total_calls: int
    keys: int
    rows: list[SpendRow]


@dataclass(frozen=True)
class DaySpend:
    """What model calls cost on one UTC day."""

    day: str  # YYYY-MM-DD
    cost_usd: float
    calls: int


@dataclass(frozen=True)
class Spend:
    """Spend over [start, end): model calls' cost per UTC day (every day of the range), and breakdowns."""

    start: datetime
    end: datetime
    daily: list[DaySpend]
    breakdowns: list[Breakdown]


def spend(storage: Storage, dimensions: Sequence[Dimension], start: datetime, end: datetime, *,
          limit: int) -> Spend:
    """Spend in [start, end): daily, and along each dimension in the order given (its costliest `limit`
    keys). Two scans, run side by side: model calls for the days and models, tasks for the rest."""
    by_task = [d for d in dimensions if d is not Dimension.MODEL]
    with ThreadPoolExecutor(max_workers=2) as pool:
        calls = pool.submit(_run, storage, traces_spend_query(start, end, limit=limit))
        tasks = pool.submit(_run, storage, task_spend_query(by_task, start, end, limit=limit)) if by_task else None
        rows = calls.result().dicts() + (tasks.result().dicts() if tasks else [])
    spent = {row["Key"]: row for row in rows if row["Dimension"] == "day"}
    daily = []
    day = start.astimezone(UTC).date()
    while datetime(day.year, day.month, day.day, tzinfo=UTC) < end:
        row = spent.get(day.isoformat())
        daily.append(DaySpend(day.isoformat(), row["Cost"] if row else 0.0, row["Calls"] if row else 0))
        day += timedelta(days=1)
    return Spend(start, end, daily, [_breakdown(d, [r for r in rows if r["Dimension"] == d.value])
                                     for d in dimensions])


def _breakdown(dimension: Dimension, rows: list[dict]) -> Breakdown:
    total = rows[0]["TotalCostUsd"] if rows else 0.0
    return Breakdown(dimension.value, total, rows[0]["TotalCalls"] if rows else 0, rows[0]["Keys"] if rows else 0, [
        SpendRow(key=row["Key"] or "(none)", cost_usd=row["Cost"], calls=row["Calls"], input_tokens=row["Input"],
                 output_tokens=row["Output"], cache_read_tokens=row["CacheRead"], unpriced_calls=row["Unpriced"],
                 share=row["Cost"] / total if total else 0.0)
        for row in rows])


def _run(storage: Storage, statement: Statement) -> QueryResult:
    return storage.query(statement.sql, statement.params)


def _from_ns(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // _NS, UTC) + timedelta(microseconds=ns % _NS // 1000)
