"""Tasks and SLIs as ClickHouse SQL: pure builders that return statements, run nowhere.

Values never enter the SQL text. Thresholds, matcher values, attribute keys and
times travel as query parameters (`{f0_0:String}`); the only names spliced into
the text are columns from the allow-lists in `slo._spec` and table names from
`ground.tables`.

When an event happens: every event (span, model call, tool call, task) counts
in the minute it *ends*, `Timestamp + Duration`. A span is exported when it
ends, and a task is finished when its span ends, so by end time "late" only
means export delay, whatever the event's length; counted by start, every task
longer than the grace period would arrive after its minute was rolled up.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ground.tables import AGENT_TASKS, SLO_ROLLUPS, TASK_SPEND_DAILY, TASK_SPEND_DIMENSIONS, TRACES
from slo._filters import Events, and_sql, filter_sql
from slo._kinds import Indicator, kind_of
from slo._spend import SpendBudget

# Reads of a time range look back this far for the start of the events ending in
# it: ClickHouse prunes by start time (otel_traces is partitioned and sorted by
# Timestamp), not by end time. An event (a task with all its spans) lasting longer
# is not counted; an hour covers agent runs, model calls and tool calls alike.
LONGEST_EVENT = timedelta(hours=1)

# Rounds of pointer jumping that find each span's outermost invoke_agent ancestor:
# n rounds follow parent links 2**n deep, so agents nest up to 256 spans deep.
_ANCESTOR_ROUNDS = 8

_TIME = "DateTime64(6, 'UTC')"  # the precision of a Python datetime
_END_TIME = "Timestamp + toIntervalNanosecond(Duration)"

# Which rows are events of each kind (DESIGN.md, Tables): a model call is a row
# that ingest priced or marked unpriced, a tool call a row of operation execute_tool.
_EVENT_ROWS: dict[Events, tuple[str, str]] = {
    Events.TASKS: (AGENT_TASKS, "true"),
    Events.LLM_CALLS: (TRACES, "CostSource != ''"),
    Events.TOOL_CALLS: (TRACES, "GenAiOperation = 'execute_tool'"),
    Events.SPANS: (TRACES, "true"),
}

# A successful event: a task whose span did not fail; a span not in status Error.
_SUCCESS: dict[str, str] = {AGENT_TASKS: "Success = 1", TRACES: "StatusCode != 'Error'"}

# A degraded answer: flagged so, or served by anything but the primary (task derivation, dashboards).
DEGRADED_SPAN = "(Degraded = 1 OR FallbackSource NOT IN ('', 'primary'))"


@dataclass(frozen=True)
class Statement:
    """SQL text with its `{name:Type}` placeholders and their values."""

    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SliSql:
    """An SLI as SQL: which rows of which table are its events, and each event's good and total amounts.

    `good` and `total` are per-row expressions (1 / 0 for counts, token counts
    for cache hit rate); an SLI over any range is sum(good) / sum(total).
    """

    events: Events
    table: str
    condition: str
    good: str
    total: str
    params: Mapping[str, str]

    @property
    def fingerprint(self) -> str:
        """A short hash of the SQL and its values: equal exactly when two SLIs count the same events."""
        digest = hashlib.sha256()
        for part in (self.table, self.condition, self.good, self.total, *sorted(self.params.items())):
            digest.update(repr(part).encode())
            digest.update(b"\0")
        return digest.hexdigest()[:16]


def compile_sli(indicator: Indicator) -> SliSql:
    """The SQL of an indicator: its events, its filter as parameterised conditions, good and total.

    Example: `compile_sli(Latency(Events.TASKS, timedelta(seconds=30)))` reads
    agent_tasks with good `Duration <= {threshold_ns:UInt64}`. The kind's part
    (good and total) is its registry entry's (slo._kinds).
    """
    table, rows = _EVENT_ROWS[indicator.events]
    params: dict[str, str] = {}
    condition = and_sql(rows, *filter_sql(indicator.filter, table, "f", params))
    good, total = kind_of(indicator).sql(indicator, table, _SUCCESS[table], params)
    return SliSql(indicator.events, table, condition, good, total, params)


# ----------------------------------------------------------------------------- rollups


@dataclass(frozen=True)
class RollupRange:
    """The minutes [start, end) of one SLO to (re)compute, both on whole minutes."""

    slo_name: str
    sli: SliSql
    start: datetime
    end: datetime


def rollup_insert(ranges: Sequence[RollupRange]) -> Statement:
    """Recompute the per-minute rollups of each range, in one INSERT.

    Every minute of a range gets a row, zero when it had no events, so that a
    recomputed minute replaces what an earlier cycle wrote there.
    """
    parts, params = [], {}
    for index, item in enumerate(ranges):
        sql = f"""
SELECT {{slo:String}}, {{fingerprint:String}}, Minute, GoodEvents, TotalEvents, now64(9)
FROM (
    SELECT toStartOfMinute(EndTime) AS Minute, sum(Good) AS GoodEvents, sum(Total) AS TotalEvents
    FROM ({_events_select(item.sli)})
    GROUP BY Minute
    ORDER BY Minute WITH FILL FROM toDateTime({{start:{_TIME}}}, 'UTC') TO toDateTime({{end:{_TIME}}}, 'UTC') STEP 60
)"""
        own = {**item.sli.params, **_range_params(item.start, item.end), "slo": item.slo_name,
               "fingerprint": item.sli.fingerprint}
        parts.append(_namespaced(sql, own, f"r{index}_", params))
    insert = f"INSERT INTO {SLO_ROLLUPS} (SloName, Fingerprint, Minute, GoodEvents, TotalEvents, UpdatedAt)"
    return Statement(insert + "\nUNION ALL".join(parts), params)


def _events_select(sli: SliSql) -> str:
    """The SLI's events ending in [{start}, {end}), one row each, with their end time and amounts.

    otel_traces may hold a span twice (an exporter's retry); each counts once.
    """
    dedupe = "\n    LIMIT 1 BY TraceId, SpanId" if sli.table == TRACES else ""
    final = " FINAL" if sli.table == AGENT_TASKS else ""
    return f"""
    SELECT TraceId, {'SpanId' if sli.table == TRACES else 'TaskId'}, {_END_TIME} AS EndTime,
           toUInt64({sli.good}) AS Good, toUInt64({sli.total}) AS Total
    FROM {sli.table}{final}
    WHERE Timestamp >= {{scan_start:{_TIME}}} AND Timestamp < {{end:{_TIME}}}
      AND EndTime >= {{start:{_TIME}}} AND EndTime < {{end:{_TIME}}}
      AND {sli.condition}{dedupe}"""


def _range_params(start: datetime, end: datetime) -> dict[str, datetime]:
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    return {"scan_start": start - LONGEST_EVENT, "start": start, "end": end}


_PLACEHOLDER = re.compile(r"\{(\w+):")


def _namespaced(sql: str, params: Mapping[str, Any], prefix: str, into: dict[str, Any]) -> str:
    """`sql` with each placeholder renamed `prefix + name`, its values added to `into` under the new names.

    Lets statements built apart share one query (UNION ALL) without their parameters colliding.
    """
    into.update((prefix + name, value) for name, value in params.items())
    return _PLACEHOLDER.sub(lambda match: "{" + prefix + match.group(1) + ":", sql)


def window_sums_query(series: Sequence[tuple[str, str]], starts: Sequence[datetime], end: datetime) -> Statement:
    """Good and total events from each of `starts` up to `end`, for each series, from the rollups.

    A series is an SLO name and its SLI's fingerprint. One scan serves them all:
    a row per series with events, holding its name, fingerprint, and arrays of
    good and of total events in the order of `starts`.
    """
    params: dict[str, Any] = {"end": end.astimezone(UTC), "earliest": min(starts).astimezone(UTC)}
    pairs = []
    for index, (name, fingerprint) in enumerate(series):
        params[f"name{index}"], params[f"fingerprint{index}"] = name, fingerprint
        pairs.append(f"({{name{index}:String}}, {{fingerprint{index}:String}})")
    bounds = []
    for index, start in enumerate(starts):
        params[f"start{index}"] = start.astimezone(UTC)
        # Minute is a DateTime: compare it with DateTime constants, not each row as DateTime64.
        bounds.append(f"toDateTime({{start{index}:{_TIME}}}, 'UTC')")
    sql = f"""
SELECT SloName, Fingerprint,
       [{', '.join(f'sumIf(GoodEvents, Minute >= {b})' for b in bounds)}] AS Good,
       [{', '.join(f'sumIf(TotalEvents, Minute >= {b})' for b in bounds)}] AS Total
FROM {SLO_ROLLUPS} FINAL
WHERE (SloName, Fingerprint) IN ({', '.join(pairs)})
  AND Minute >= {{earliest:{_TIME}}} AND Minute < {{end:{_TIME}}}
GROUP BY SloName, Fingerprint"""
    return Statement(sql, params)


def slice_sums_query(slo_name: str, fingerprint: str, slice_length: timedelta,
                     start: datetime, end: datetime) -> Statement:
    """Good and total events per timeslice with events in [start, end), from the rollups.

    Slices are aligned on multiples of their length since the Unix epoch (so on
    midnight UTC, which they divide), and given by their start in Unix seconds.
    """
    sql = f"""
SELECT intDiv(toUnixTimestamp(Minute), {{slice_s:UInt32}}) * {{slice_s:UInt32}} AS SliceStart,
       sum(GoodEvents) AS GoodEvents, sum(TotalEvents) AS TotalEvents
FROM {SLO_ROLLUPS} FINAL
WHERE SloName = {{slo:String}} AND Fingerprint = {{fingerprint:String}}
  AND Minute >= {{start:{_TIME}}} AND Minute < {{end:{_TIME}}}
GROUP BY SliceStart
HAVING TotalEvents > 0
ORDER BY SliceStart"""
    return Statement(sql, {"slo": slo_name, "fingerprint": fingerprint, "start": start.astimezone(UTC),
                           "end": end.astimezone(UTC), "slice_s": int(slice_length.total_seconds())})


def spans_per_hour_query(start: datetime, end: datetime) -> Statement:
    """How many spans started in each hour of [start, end), hours as Unix seconds: sizes backfills."""
    sql = f"""
SELECT toUnixTimestamp(toStartOfHour(Timestamp)) AS Hour, count() AS Spans
FROM {TRACES}
WHERE Timestamp >= {{start:{_TIME}}} AND Timestamp < {{end:{_TIME}}}
GROUP BY Hour
ORDER BY Hour"""
    return Statement(sql, {"start": start.astimezone(UTC), "end": end.astimezone(UTC)})


# ----------------------------------------------------------------------------- tasks

# The traces with a span that may be a task (a root or an invoke_agent span)
# ending in [start, end).
_TRACES_ENDING_IN = f"""
    SELECT DISTINCT TraceId FROM {TRACES}
    WHERE Timestamp >= {{scan_start:{_TIME}}} AND Timestamp < {{end:{_TIME}}}
      AND (ParentSpanId = '' OR GenAiOperation = 'invoke_agent')
      AND {_END_TIME} >= {{start:{_TIME}}} AND {_END_TIME} < {{end:{_TIME}}}"""



def waiting_tasks_query(start: datetime, end: datetime) -> Statement:
    """The traces whose task span (a root or invoke_agent span) ended in [start, end), the time since
    the task watermark: finished, not derived yet. One row: how many, and the earliest end (Unix ms)."""
    sql = f"""
SELECT uniqExact(TraceId) AS Traces, toUnixTimestamp64Milli(min({_END_TIME})) AS FirstEnd
FROM {TRACES}
WHERE Timestamp >= {{scan_start:{_TIME}}} AND Timestamp < {{end:{_TIME}}}
  AND (ParentSpanId = '' OR GenAiOperation = 'invoke_agent')
  AND {_END_TIME} >= {{start:{_TIME}}} AND {_END_TIME} < {{end:{_TIME}}}"""
    return Statement(sql, _range_params(start, end))


_TASK_COLUMNS = ("TaskId, TraceId, Timestamp, Duration, Success, ErrorType, LlmCalls, ToolCalls, ToolErrors, "
                 "InputTokens, OutputTokens, CacheReadTokens, CacheWriteTokens, CostUsd, Degraded, "
                 "ServiceName, AgentName, TaskType, UserId, Tenant, Feature, Environment, Spans, "
                 "Models, FallbackSources")

# Which span is a task, and which spans are its own, decided per trace over the
# trace's spans as stored (each (TraceId, SpanId) once):
#  - the root span (no parent) is the task, and every span of the trace is its
#    own, when the root is an invoke_agent span or the trace has no invoke_agent
#    span at all: the simple case, one trace, one task;
#  - otherwise (the root is not an agent, e.g. an HTTP handler running several
#    agents, or it was not exported here), each outermost invoke_agent span (none
#    of its ancestors stored is one) is a task, owning the spans beneath it;
#    spans under no agent belong to no task.
# An invoke_agent span whose outer agent span has not arrived yet looks
# outermost; when the outer one arrives, re-derivation deletes the inner task.
# Task spans that started before LONGEST_EVENT ahead of the range are not derived.
# Success and ErrorType are the task span's own (a failed tool call the agent
# recovered from does not fail the task); a dimension is the task span's, else
# the first one of its spans carries. A model call is a span ingest priced or
# marked unpriced (CostSource != ''); tokens and cost add up over model calls
# only, so that an agent span repeating its children's totals counts once. Models and FallbackSources are
# those of the task's own model calls, each once, sorted.
_DERIVE_TASKS = f"""
INSERT INTO {AGENT_TASKS} ({_TASK_COLUMNS}, DerivedAt)
WITH
task_traces AS ({{task_traces}}
),
traces AS (
    SELECT TraceId, arraySort(s -> s.4, groupArray((
        SpanId, ParentSpanId, GenAiOperation = 'invoke_agent', Timestamp, Duration,
        StatusCode = 'Error', ErrorType, CostSource != '', GenAiOperation = 'execute_tool',
        InputTokens, OutputTokens, CacheReadTokens, CacheWriteTokens, CostUsd,
        {DEGRADED_SPAN},
        ServiceName, AgentName, TaskType, UserId, Tenant, Feature, Environment, RequestModel, FallbackSource
    ))) AS spans
    FROM (
        SELECT TraceId, SpanId, ParentSpanId, Timestamp, Duration, StatusCode, ErrorType, GenAiOperation,
               CostSource, InputTokens, OutputTokens, CacheReadTokens, CacheWriteTokens, CostUsd, Degraded,
               FallbackSource, ServiceName, AgentName, TaskType, UserId, Tenant, Feature, Environment,
               RequestModel
        FROM {TRACES}
        WHERE Timestamp >= {{scan_start:{_TIME}}} AND Timestamp < {{end:{_TIME}}} AND TraceId IN task_traces
        LIMIT 1 BY TraceId, SpanId
    )
    GROUP BY TraceId
),
trees AS (
    SELECT
        TraceId,
        spans.1 AS ids, spans.3 AS is_agent, spans.4 AS start, spans.5 AS duration, spans.6 AS failed,
        spans.7 AS error_type, spans.8 AS is_llm, spans.9 AS is_tool, spans.10 AS input_tokens,
        spans.11 AS output_tokens, spans.12 AS cache_read, spans.13 AS cache_write, spans.14 AS cost,
        spans.15 AS degraded, spans.16 AS service, spans.17 AS agent, spans.18 AS task_type,
        spans.19 AS user_id, spans.20 AS tenant, spans.21 AS feature, spans.22 AS environment,
        spans.23 AS model, spans.24 AS fallback,
        arrayMap(p -> indexOf(ids, p), spans.2) AS parent_of,
        indexOf(spans.2, '') AS root,
        root != 0 AND (is_agent[root] OR NOT has(is_agent, true)) AS root_is_task,
        -- Pointer jumping: after round k, (up, top) hold each span's 2^k-th ancestor
        -- and the outermost agent among itself and its 2^k - 1 nearest ancestors.
        if(root_is_task,
           arrayMap(i -> root, ids),
           arrayFold((acc, round) -> (arrayMap(a -> acc.1[a], acc.1),
                                      arrayMap((t, a) -> if(acc.2[a] != 0, acc.2[a], t), acc.2, acc.1)),
                     range({_ANCESTOR_ROUNDS}),
                     (parent_of, arrayMap((agent, i) -> if(agent, toUInt64(i), 0), is_agent, arrayEnumerate(ids)))
           ).2) AS task_of,
        arrayFilter(i -> task_of[i] = i, arrayEnumerate(ids)) AS tasks
    FROM traces
)
SELECT
    ids[t] AS TaskId,
    TraceId,
    start[t] AS Timestamp,
    duration[t] AS Duration,
    NOT failed[t] AS Success,
    error_type[t] AS ErrorType,
    arrayCount((owner, llm) -> owner = t AND llm, task_of, is_llm) AS LlmCalls,
    arrayCount((owner, tool) -> owner = t AND tool, task_of, is_tool) AS ToolCalls,
    arrayCount((owner, tool, bad) -> owner = t AND tool AND bad, task_of, is_tool, failed) AS ToolErrors,
    arraySum((owner, llm, n) -> if(owner = t AND llm, n, 0), task_of, is_llm, input_tokens) AS InputTokens,
    arraySum((owner, llm, n) -> if(owner = t AND llm, n, 0), task_of, is_llm, output_tokens) AS OutputTokens,
    arraySum((owner, llm, n) -> if(owner = t AND llm, n, 0), task_of, is_llm, cache_read) AS CacheReadTokens,
    arraySum((owner, llm, n) -> if(owner = t AND llm, n, 0), task_of, is_llm, cache_write) AS CacheWriteTokens,
    arraySum((owner, llm, usd) -> if(owner = t AND llm, usd, 0), task_of, is_llm, cost) AS CostUsd,
    arrayExists((owner, d) -> owner = t AND d, task_of, degraded) AS Degraded,
    service[t] AS ServiceName,
    arrayFirst(v -> v != '', arrayPushFront(arrayMap((owner, v) -> if(owner = t, v, ''), task_of, agent), agent[t]))
        AS AgentName,
    arrayFirst(v -> v != '', arrayPushFront(arrayMap((owner, v) -> if(owner = t, v, ''), task_of, task_type),
                                            task_type[t])) AS TaskType,
    arrayFirst(v -> v != '', arrayPushFront(arrayMap((owner, v) -> if(owner = t, v, ''), task_of, user_id),
                                            user_id[t])) AS UserId,
    arrayFirst(v -> v != '', arrayPushFront(arrayMap((owner, v) -> if(owner = t, v, ''), task_of, tenant),
                                            tenant[t])) AS Tenant,
    arrayFirst(v -> v != '', arrayPushFront(arrayMap((owner, v) -> if(owner = t, v, ''), task_of, feature),
                                            feature[t])) AS Feature,
    arrayFirst(v -> v != '', arrayPushFront(arrayMap((owner, v) -> if(owner = t, v, ''), task_of, environment),
                                            environment[t])) AS Environment,
    arrayCount(owner -> owner = t, task_of) AS Spans,
    arraySort(arrayDistinct(arrayFilter((v, owner, llm) -> owner = t AND llm AND v != '', model, task_of, is_llm)))
        AS Models,
    arraySort(arrayDistinct(arrayFilter((v, owner, llm) -> owner = t AND llm AND v != '', fallback, task_of,
                                        is_llm))) AS FallbackSources,
    now64(9) AS DerivedAt
FROM trees
ARRAY JOIN tasks AS t
WHERE Timestamp >= {{scan_start:{_TIME}}} AND Timestamp + toIntervalNanosecond(Duration) < {{end:{_TIME}}}
"""

# Tasks of the same traces, in the same bounds, that this derivation did not
# write again (their DerivedAt is older than the trace's newest): their span is
# no longer a task, because an outer agent span arrived. They get a deleted row.
_DELETE_STALE_TASKS = f"""
INSERT INTO {AGENT_TASKS} ({_TASK_COLUMNS}, DerivedAt, Deleted)
WITH task_traces AS ({{task_traces}}
)
SELECT {_TASK_COLUMNS}, now64(9), 1
FROM {AGENT_TASKS} FINAL
WHERE Timestamp >= {{scan_start:{_TIME}}} AND {_END_TIME} < {{end:{_TIME}}} AND TraceId IN task_traces
QUALIFY DerivedAt < max(DerivedAt) OVER (PARTITION BY TraceId)
"""


def derive_tasks_statements(start: datetime, end: datetime) -> tuple[Statement, ...]:
    """(Re)derive the tasks of every trace with a root or invoke_agent span ending in [start, end).

    Run in order. Each task of those traces that ended before `end` is written
    again from all its spans stored now, replacing the earlier row.
    """
    return _derivation(_TRACES_ENDING_IN, _range_params(start, end))


# The traces with a span stored since a moment that started before `end`: a span
# that may belong to a task derived already (tasks end after their spans start).
_TRACES_STORED_SINCE = f"""
    SELECT DISTINCT TraceId FROM {TRACES}
    WHERE InsertedAt >= {{stored_since:{_TIME}}}
      AND Timestamp >= {{scan_start:{_TIME}}} AND Timestamp < {{end:{_TIME}}}"""


def rederive_stored_since_statements(stored_since: datetime, start: datetime, end: datetime,
                                     ) -> tuple[Statement, ...]:
    """Derive again the tasks ending in [start, end) of every trace with a span stored since `stored_since`.

    For spans that arrive after their task was derived (an exporter's backlog
    replayed, a collector's retry queue draining): the task is written again
    from all its spans stored now. Run in order.
    """
    return _derivation(_TRACES_STORED_SINCE, {**_range_params(start, end), "stored_since": stored_since})


def _derivation(task_traces: str, params: Mapping[str, Any]) -> tuple[Statement, ...]:
    return (Statement(_DERIVE_TASKS.replace("{task_traces}", task_traces), params),
            Statement(_DELETE_STALE_TASKS.replace("{task_traces}", task_traces), params))


# ----------------------------------------------------------------------------- task spend per day

# agent_tasks is partitioned by month, and a task's versions all lie in its start's month: FINAL
# merges each partition apart.
_FINAL_PER_PARTITION = "do_not_merge_across_partitions_select_final = 1"


def task_spend_stale_days_query() -> Statement:
    """The UTC days (Unix seconds of their start, oldest first) holding a task derived after
    task_spend_daily last summed the day, or never summed: the days to sum again."""
    sql = f"""
SELECT toUnixTimestamp(toDateTime(t.Day, 'UTC')) AS Day
FROM (SELECT toDate(Timestamp, 'UTC') AS Day, max(DerivedAt) AS Derived FROM {AGENT_TASKS} GROUP BY Day) AS t
LEFT JOIN (SELECT Day, max(ComputedAt) AS Computed FROM {TASK_SPEND_DAILY} GROUP BY Day) AS r ON t.Day = r.Day
WHERE t.Derived > r.Computed
ORDER BY t.Day"""
    return Statement(sql)


def task_spend_insert(first_day: date, days: int) -> Statement:
    """Sum the tasks of the `days` UTC days from `first_day` again into task_spend_daily: cost, tasks and
    tokens per day, dimension and key, and a marker row (Dimension '') per day, all with one ComputedAt."""
    dimensions = list(TASK_SPEND_DIMENSIONS.items())
    *first, (last_name, last_column) = dimensions
    which = "multiIf(" + ", ".join(f"grouping({c}) = 0, '{n}'" for n, c in first) + f", '{last_name}')"
    key = "multiIf(" + ", ".join(f"grouping({c}) = 0, {c}" for _, c in first) + f", {last_column})"
    sql = f"""
INSERT INTO {TASK_SPEND_DAILY} (Day, Dimension, Key, CostUsd, Tasks, InputTokens, OutputTokens, CacheReadTokens,
                                ComputedAt)
SELECT Day, Dimension, Key, Cost, Tasks, Input, Output, CacheRead, now64(9)
FROM (
    SELECT toDate(Timestamp, 'UTC') AS Day, {which} AS Dimension, {key} AS Key, sum(CostUsd) AS Cost,
           count() AS Tasks, sum(InputTokens) AS Input, sum(OutputTokens) AS Output, sum(CacheReadTokens) AS CacheRead
    FROM {AGENT_TASKS} FINAL
    WHERE Timestamp >= {{start:{_TIME}}} AND Timestamp < {{end:{_TIME}}}
    GROUP BY GROUPING SETS ({", ".join(f"(Day, {c})" for _, c in dimensions)})
    UNION ALL
    SELECT toDate({{start:{_TIME}}}, 'UTC') + number, '', '', 0, 0, 0, 0, 0 FROM numbers({{days:UInt32}})
)
SETTINGS {_FINAL_PER_PARTITION}"""
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
    return Statement(sql, {"start": start, "end": start + timedelta(days=days), "days": days})


# When each table's rows were stored, by the server's clock: otel_traces fills
# InsertedAt at insert, agent_tasks stamps each derivation's rows DerivedAt.
STORED_AT: dict[str, str] = {TRACES: "InsertedAt", AGENT_TASKS: "DerivedAt"}


def stored_since_query(table: str, stored_since: datetime, counted_since: datetime) -> Statement:
    """The minutes in which the rows of `table` stored since `stored_since` end, as Unix seconds, with how
    many rows end in each: all of them, and those stored since `counted_since`.

    Every version of a task counts, deletions included: each changes its minute's count.
    """
    stamp = STORED_AT[table]
    sql = f"""
SELECT toUnixTimestamp(toStartOfMinute({_END_TIME})) AS Minute, count() AS Stored,
       countIf({stamp} >= {{counted_since:{_TIME}}}) AS Counted
FROM {table}
WHERE {stamp} >= {{stored_since:{_TIME}}}
GROUP BY Minute
ORDER BY Minute"""
    return Statement(sql, {"stored_since": stored_since.astimezone(UTC), "counted_since": counted_since.astimezone(UTC)})


def server_clock_query() -> Statement:
    """The server's clock, in Unix milliseconds: what it stamps stored rows with."""
    return Statement("SELECT toUnixTimestamp64Milli(now64(3))")


def spend_query(budget: SpendBudget, start: datetime, end: datetime) -> Statement:
    """What the budget's scope spent in [start, end), in USD: one row per member (`member`, `spent_usd`)."""
    params: dict[str, Any] = {"start": start.astimezone(UTC), "end": end.astimezone(UTC)}
    service = None
    if budget.service is not None:
        params["service"] = budget.service
        service = "{service:String}"
    return Statement(spend_sql(budget, start=f"{{start:{_TIME}}}", end=f"{{end:{_TIME}}}", service=service), params)


def spend_sql(budget: SpendBudget, *, start: str, end: str, service: str | None) -> str:
    """The SQL of what a budget's scope spent in [start, end): `member`, `spent_usd`, one row per member.

    `start`, `end` and `service` are SQL expressions: query parameters for the
    engine, Grafana macros and a quoted literal for the dashboards and their
    alert rules, which count spend with this same text.

    A global budget sums the cost of every model call in otel_traces by start
    time, as the Spend dashboard's panels do, and gives one row with member ''.
    Ingest drops the spans an exporter sends again, so a plain sum counts each
    once; deduplicating here too (LIMIT 1 BY) cost 2.3 s of CPU for a month of
    6M model calls against 0.16 s (bench/dashboards), every evaluation. A group
    budget reads the finished tasks of agent_tasks by the time they started,
    one row per member with spend; tasks without a member are nobody's.
    """
    only_service = "" if service is None else f"\n  AND ServiceName = {service}"
    if budget.per is None:
        return f"""
SELECT '' AS member, sum(CostUsd) AS spent_usd
FROM {TRACES}
WHERE Timestamp >= {start} AND Timestamp < {end}
  AND {_EVENT_ROWS[Events.LLM_CALLS][1]}{only_service}"""
    column = budget.per.column
    return f"""
SELECT {column} AS member, sum(CostUsd) AS spent_usd
FROM {AGENT_TASKS} FINAL
WHERE Timestamp >= {start} AND Timestamp < {end}
  AND {column} != ''{only_service}
GROUP BY member"""
