"""What the console reads, as ClickHouse SQL: pure builders that return statements and run nowhere.

Values never enter the SQL text: filters, times, ids and limits travel as query
parameters (`{service:String}`); the only names spliced in are table names from
ground.tables and columns from the allow-lists below. Every statement is bounded
(a LIMIT, or a GROUP BY over a bounded number of buckets).
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from ground.tables import AGENT_TASKS, SLO_STATUS, TRACES

_TIME = "DateTime64(6, 'UTC')"  # the precision of a Python datetime

# A task's spans start at most this long before the task ends (slo._sql.LONGEST_EVENT): the
# window in which the models and fallbacks of a page of tasks are looked up.
TASK_SPAN_REACH = timedelta(hours=1)

# Most spans one trace answer holds; a larger trace is cut, and says so.
MAX_TRACE_SPANS = 5000

# agent_tasks is partitioned by the month a task started, which never changes between its derivations: the
# versions of a task are all in one partition, so FINAL merges each partition apart, in parallel
# (1M tasks over 30 days: 120 ms instead of 190, bench/console).
FINAL_PER_PARTITION = "do_not_merge_across_partitions_select_final = 1"


@dataclass(frozen=True)
class Statement:
    """SQL text with its `{name:Type}` placeholders and their values."""

    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)


class BadParameter(ValueError):
    """A read's parameter that cannot be read or is out of range; the message names it."""


class TaskStatus(enum.Enum):
    """A task's outcome as the console filters it: its span did or did not fail."""

    OK = "ok"
    ERROR = "error"


# The task list's filters: the query parameter's name -> the agent_tasks column it matches exactly.
TASK_FILTER_COLUMNS: dict[str, str] = {
    "service": "ServiceName",
    "agent": "AgentName",
    "user": "UserId",
    "tenant": "Tenant",
    "task_type": "TaskType",
    "environment": "Environment",
}


@dataclass(frozen=True)
class TaskFilter:
    """Which tasks a list shows: those that started in [start, end) and match every value given."""

    start: datetime
    end: datetime
    equals: Mapping[str, str] = field(default_factory=dict)  # keys of TASK_FILTER_COLUMNS
    status: TaskStatus | None = None


@dataclass(frozen=True)
class TaskCursor:
    """Where a page of tasks ends, newest first: the last task's start (Unix ns), trace and task id."""

    start_ns: int
    trace_id: str
    task_id: str

    def encode(self) -> str:
        """An opaque token for the next page's `cursor` parameter."""
        raw = orjson.dumps([self.start_ns, self.trace_id, self.task_id])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def decode(token: str) -> TaskCursor:
        """The cursor a token stands for; BadParameter for anything `encode` did not write."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            start_ns, trace_id, task_id = orjson.loads(raw)
        except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
            raise BadParameter(_NOT_A_CURSOR) from None
        if not (isinstance(start_ns, int) and isinstance(trace_id, str) and isinstance(task_id, str)):
            raise BadParameter(_NOT_A_CURSOR)
        return TaskCursor(start_ns, trace_id, task_id)


_NOT_A_CURSOR = "cursor: not a cursor this API gave (take next_cursor from the previous page)"

TASK_COLUMNS = ("TaskId, TraceId, toUnixTimestamp64Nano(Timestamp) AS StartNs, Duration, Success, ErrorType, "
                "LlmCalls, ToolCalls, ToolErrors, InputTokens, OutputTokens, CacheReadTokens, CacheWriteTokens, "
                "CostUsd, Degraded, ServiceName, AgentName, TaskType, UserId, Tenant, Feature, Environment, Spans")


def tasks_query(where: TaskFilter, *, after: TaskCursor | None, limit: int) -> Statement:
    """The newest `limit` tasks matching `where`, after `after` (keyset paging: newest first, by start,
    then trace and task id, so a page never repeats or skips a task however many arrive meanwhile).

    agent_tasks is sorted by the hour a task started: the time bounds prune whole hours,
    and reading in that order stops once `limit` rows are found.
    """
    params: dict[str, Any] = {"start": where.start.astimezone(UTC), "end": where.end.astimezone(UTC),
                              "limit": limit}
    conditions = ["Timestamp >= {start:%s}" % _TIME, "Timestamp < {end:%s}" % _TIME]
    for name, value in sorted(where.equals.items()):
        conditions.append(f"{TASK_FILTER_COLUMNS[name]} = {{{name}:String}}")
        params[name] = value
    if where.status is not None:
        conditions.append("Success = {success:UInt8}")
        params["success"] = int(where.status is TaskStatus.OK)
    if after is not None:
        conditions.append("Timestamp <= fromUnixTimestamp64Nano({after_ns:Int64}, 'UTC')")
        conditions.append("(Timestamp, TraceId, TaskId) < "
                          "(fromUnixTimestamp64Nano({after_ns:Int64}, 'UTC'), {after_trace:String}, {after_task:String})")
        params.update(after_ns=after.start_ns, after_trace=after.trace_id, after_task=after.task_id)
    sql = f"""
SELECT {TASK_COLUMNS}
FROM {AGENT_TASKS} FINAL
WHERE {' AND '.join(conditions)}
ORDER BY toStartOfHour(Timestamp) DESC, Timestamp DESC, TraceId DESC, TaskId DESC
LIMIT {{limit:UInt32}}
SETTINGS {FINAL_PER_PARTITION}"""
    return Statement(sql, params)


def task_models_query(trace_ids: Sequence[str], start: datetime, end: datetime) -> Statement:
    """The models and fallback sources of the model calls of these traces, one row per trace: for a page of
    tasks that started in [start, end]. Spans are looked up from TASK_SPAN_REACH before `start`."""
    sql = f"""
SELECT TraceId,
       arraySort(groupUniqArrayIf(RequestModel, RequestModel != '')) AS Models,
       arraySort(groupUniqArrayIf(FallbackSource, FallbackSource != '')) AS FallbackSources
FROM {TRACES}
WHERE TraceId IN (SELECT arrayJoin(splitByChar(',', {{trace_ids:String}})))
  AND Timestamp >= {{start:{_TIME}}} AND Timestamp <= {{end:{_TIME}}}
  AND CostSource != ''
GROUP BY TraceId"""
    # One string of ids: both backends bind a parameter's text as it is, and trace ids are hex.
    return Statement(sql, {"trace_ids": ",".join(trace_ids), "start": start.astimezone(UTC) - TASK_SPAN_REACH,
                           "end": end.astimezone(UTC) + TASK_SPAN_REACH})


def trace_bounds_query(trace_id: str) -> Statement:
    """When the trace's tasks started, from agent_tasks: where to look for its spans (one row; NULLs
    when no task of it is derived)."""
    sql = f"""
SELECT toUnixTimestamp64Nano(min(Timestamp)), toUnixTimestamp64Nano(max(Timestamp + toIntervalNanosecond(Duration)))
FROM {AGENT_TASKS}
WHERE TraceId = {{trace_id:String}}
HAVING count() > 0"""
    return Statement(sql, {"trace_id": trace_id})


SPAN_COLUMNS = ("SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, toUnixTimestamp64Nano(Timestamp) AS StartNs, "
                "Duration, StatusCode, StatusMessage, GenAiOperation, GenAiProvider, RequestModel, ResponseModel, "
                "InputTokens, OutputTokens, CacheReadTokens, CacheWriteTokens, CostUsd, CostSource, ErrorType, "
                "FallbackSource, Degraded, AgentName, UserId, Tenant, TaskType, Feature, ScopeName, "
                "SpanAttributes, ResourceAttributes, "
                "arrayMap(t -> toUnixTimestamp64Nano(t), `Events.Timestamp`) AS EventNs, `Events.Name`, "
                "`Events.Attributes`")


def trace_spans_query(trace_id: str, *, start: datetime | None = None, end: datetime | None = None) -> Statement:
    """The spans of one trace, oldest first, each once, at most MAX_TRACE_SPANS + 1 (to tell a cut trace).

    With `start` and `end` (its tasks' bounds, widened) the read prunes to their days; without,
    the TraceId bloom filter index skips the granules that cannot hold it.
    """
    params: dict[str, Any] = {"trace_id": trace_id, "limit": MAX_TRACE_SPANS + 1}
    within = ""
    if start is not None and end is not None:
        within = f"\n  AND Timestamp >= {{start:{_TIME}}} AND Timestamp <= {{end:{_TIME}}}"
        params.update(start=start.astimezone(UTC), end=end.astimezone(UTC))
    sql = f"""
SELECT {SPAN_COLUMNS}
FROM {TRACES}
WHERE TraceId = {{trace_id:String}}{within}
ORDER BY Timestamp, SpanId
LIMIT 1 BY SpanId
LIMIT {{limit:UInt32}}"""
    return Statement(sql, params)


def slo_history_query(slo_name: str, start: datetime, end: datetime, *, bucket: timedelta) -> Statement:
    """An SLO's status rows in [start, end] (an evaluation as of now is in a history up to now), the last
    of each `bucket`, oldest first: at most (end - start) / bucket + 1 rows whatever the cadence."""
    sql = f"""
SELECT toUnixTimestamp64Milli(max(Timestamp)) AS AtMs,
       argMax(Sli, Timestamp), argMax(Objective, Timestamp), argMax(ErrorBudgetRemaining, Timestamp),
       argMax(GoodEvents, Timestamp), argMax(TotalEvents, Timestamp), argMax(BurnRates, Timestamp),
       argMax(AlertState, Timestamp), toUnixTimestamp(argMax(DataThrough, Timestamp))
FROM {SLO_STATUS}
WHERE SloName = {{slo:String}} AND Timestamp >= {{start:{_TIME}}} AND Timestamp <= {{end:{_TIME}}}
GROUP BY toStartOfInterval(Timestamp, toIntervalSecond({{bucket_s:UInt32}}), 'UTC') AS Bucket
ORDER BY Bucket"""
    return Statement(sql, {"slo": slo_name, "start": start.astimezone(UTC), "end": end.astimezone(UTC),
                           "bucket_s": max(1, int(bucket.total_seconds()))})


class Dimension(enum.Enum):
    """What spend is broken down by. A model is a model call's requested model (otel_traces); the
    others are a task's attribution (agent_tasks, where the engine gives each task its spans' values)."""

    MODEL = "model"
    SERVICE = "service"
    AGENT = "agent"
    USER = "user"
    TENANT = "tenant"
    TASK_TYPE = "task_type"
    FEATURE = "feature"

    @property
    def column(self) -> str:
        """The column it groups by."""
        return _DIMENSION_COLUMNS[self]


_DIMENSION_COLUMNS = {
    Dimension.MODEL: "RequestModel",
    Dimension.SERVICE: "ServiceName",
    Dimension.AGENT: "AgentName",
    Dimension.USER: "UserId",
    Dimension.TENANT: "Tenant",
    Dimension.TASK_TYPE: "TaskType",
    Dimension.FEATURE: "Feature",
}

# A model call is a row that ingest priced or marked unpriced (DESIGN.md; slo._sql's LLM_CALLS).
MODEL_CALLS = "CostSource != ''"


def traces_spend_query(start: datetime, end: datetime, *, limit: int) -> Statement:
    """Model calls in [start, end), in one scan: per UTC day (`Dimension` 'day', every day with spend), and
    per requested model ('model', the costliest `limit`): cost, calls, tokens and unpriced calls, with each
    set's `TotalCostUsd`, `TotalCalls` and `Keys` on its rows. A day is counted as a global spend budget
    counts it (slo.spend_sql)."""
    sql = f"""
SELECT if(grouping(Day) = 0, 'day', 'model') AS Dimension, if(grouping(Day) = 0, toString(Day), Model) AS Key,
       sum(CostUsd) AS Cost, count() AS Calls, sum(InputTokens) AS Input, sum(OutputTokens) AS Output,
       sum(CacheReadTokens) AS CacheRead, countIf(CostSource = 'unpriced') AS Unpriced,
       sum(sum(CostUsd)) OVER (PARTITION BY Dimension) AS TotalCostUsd,
       sum(count()) OVER (PARTITION BY Dimension) AS TotalCalls, count() OVER (PARTITION BY Dimension) AS Keys
FROM {TRACES}
WHERE Timestamp >= {{start:{_TIME}}} AND Timestamp < {{end:{_TIME}}} AND {MODEL_CALLS}
GROUP BY GROUPING SETS ((toDate(Timestamp, 'UTC') AS Day), (if(RequestModel = '', '(unknown)', RequestModel) AS Model))
QUALIFY Dimension = 'day' OR row_number() OVER (PARTITION BY Dimension ORDER BY Cost DESC, Unpriced DESC, Key) <= {{limit:UInt32}}
ORDER BY Dimension, if(Dimension = 'day', 0, -Cost), Key"""
    return Statement(sql, {"start": start.astimezone(UTC), "end": end.astimezone(UTC), "limit": limit})


def task_spend_query(dimensions: Sequence[Dimension], start: datetime, end: datetime, *, limit: int) -> Statement:
    """Tasks that started in [start, end) grouped by each of `dimensions` in one scan (grouping sets):
    `Dimension` names a row's set, `Key` its value ('' for tasks without one); the costliest `limit`
    rows of each set, with the columns of traces_spend_query (`Calls` counting tasks)."""
    if not dimensions or Dimension.MODEL in dimensions:
        raise ValueError("task_spend_query takes task dimensions (not model), at least one")
    *first, last = dimensions
    which = _first_grouped(first, last, lambda d: f"'{d.value}'")
    key = _first_grouped(first, last, lambda d: d.column)
    sql = f"""
SELECT {which} AS Dimension, {key} AS Key, sum(CostUsd) AS Cost, count() AS Calls,
       sum(InputTokens) AS Input, sum(OutputTokens) AS Output, sum(CacheReadTokens) AS CacheRead, 0 AS Unpriced,
       sum(sum(CostUsd)) OVER (PARTITION BY Dimension) AS TotalCostUsd,
       sum(count()) OVER (PARTITION BY Dimension) AS TotalCalls, count() OVER (PARTITION BY Dimension) AS Keys
FROM {AGENT_TASKS} FINAL
WHERE Timestamp >= {{start:{_TIME}}} AND Timestamp < {{end:{_TIME}}}
GROUP BY GROUPING SETS ({", ".join(f"({d.column})" for d in dimensions)})
ORDER BY Dimension, Cost DESC, Key
LIMIT {{limit:UInt32}} BY Dimension
SETTINGS {FINAL_PER_PARTITION}"""
    return Statement(sql, {"start": start.astimezone(UTC), "end": end.astimezone(UTC), "limit": limit})


def _first_grouped(first: Sequence[Dimension], last: Dimension, value: Any) -> str:
    """`value(d)` of the dimension a grouping-sets row is grouped by (grouping(column) = 0 for its set)."""
    if not first:
        return value(last)
    cases = ", ".join(f"grouping({d.column}) = 0, {value(d)}" for d in first)
    return f"multiIf({cases}, {value(last)})"
