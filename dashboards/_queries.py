"""Every panel's SQL: pure builders of ClickHouse queries written for the Grafana ClickHouse plugin.

The plugin expands its macros before the query reaches ClickHouse
(`$__timeFilter(col)`, `$__timeInterval(col)`, `$__fromTime`, `$__toTime`,
`$__interval_s`, `$__conditionalAll(cond, $var)`) and Grafana interpolates the
template variables (`${service:singlequote}`); `dashboards.expand_macros` does
the same for tests. Table names come from `ground.storage`; which rows are
model calls or tool calls, what a successful span is and how cache hits count
come from the SLO engine's own `compile_sli`, so a panel counts what an SLO counts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from collector import COST_UNPRICED
from ground.storage import AGENT_TASKS, SLO_ROLLUPS, SLO_STATUS, TRACES
from slo import DEGRADED_SPAN, Availability, CacheHitRate, Events, compile_sli

# The engine's event definitions, taken from its SLI builder rather than restated.
MODEL_CALLS = compile_sli(Availability(Events.LLM_CALLS)).condition
SPAN_SUCCESS = compile_sli(Availability(Events.SPANS)).good
_CACHE_HIT = compile_sli(CacheHitRate())
_TOP = 20


class Format(enum.IntEnum):
    """The plugin's result formats (its `Format` enum)."""

    TIME_SERIES = 0
    TABLE = 1


@dataclass(frozen=True)
class PanelQuery:
    """A panel's raw SQL, the format the plugin returns it in, and the columns the panel reads."""

    sql: str
    format: Format
    columns: tuple[str, ...]


def _unless_all(condition: str, variable: str) -> str:
    """`condition` (naming the variable's values), dropped when the variable is set to All."""
    return f"$__conditionalAll({condition}, ${variable})"


def _in(column: str, variable: str) -> str:
    """The column's value is one of the variable's, unless the variable is set to All."""
    return _unless_all(f"{column} IN (${{{variable}:singlequote}})", variable)


# Ingest sets AgentName on the agent's own span only: a span belongs to an agent
# when its trace holds a task of that agent (agent_tasks, derived by the engine).
_AGENT_TRACES = _unless_all(f"TraceId IN (SELECT TraceId FROM {AGENT_TASKS} FINAL "
                            "WHERE $__timeFilter(Timestamp) AND AgentName IN (${agent:singlequote}))", "agent")
_SPAN_FILTERS = " AND ".join((
    "$__timeFilter(Timestamp)",
    _in("ServiceName", "service"),
    _AGENT_TRACES,
    _in("Environment", "environment"),
))
_CALL_FILTERS = f"{_SPAN_FILTERS} AND {_in('RequestModel', 'model')} AND ({MODEL_CALLS})"


# ----------------------------------------------------------------------------- template variables

def variable_values(column: str) -> PanelQuery:
    """The values of a span column seen in the time range, for a template variable."""
    return PanelQuery(f"SELECT DISTINCT {column} AS value FROM {TRACES}\n"
                      f"WHERE $__timeFilter(Timestamp) AND {column} != ''\nORDER BY value",
                      Format.TABLE, ("value",))


def slo_names() -> PanelQuery:
    """The SLOs with a status in the time range."""
    return PanelQuery(f"SELECT DISTINCT SloName AS value FROM {SLO_STATUS}\n"
                      "WHERE $__timeFilter(Timestamp)\nORDER BY value", Format.TABLE, ("value",))


# ----------------------------------------------------------------------------- LLM overview

def requests_by_service_model() -> PanelQuery:
    """Model calls per interval, one series per service and model."""
    return PanelQuery(f"""SELECT $__timeInterval(Timestamp) AS time, concat(ServiceName, ' / ', RequestModel) AS series,
       count() AS requests
FROM {TRACES}
WHERE {_CALL_FILTERS}
GROUP BY time, series
ORDER BY time""", Format.TIME_SERIES, ("time", "series", "requests"))


def errors_by_service_model() -> PanelQuery:
    """Failed model calls per interval, one series per service and model."""
    return PanelQuery(f"""SELECT $__timeInterval(Timestamp) AS time, concat(ServiceName, ' / ', RequestModel) AS series,
       countIf(NOT ({SPAN_SUCCESS})) AS errors
FROM {TRACES}
WHERE {_CALL_FILTERS}
GROUP BY time, series
ORDER BY time""", Format.TIME_SERIES, ("time", "series", "errors"))


def latency_quantiles() -> PanelQuery:
    """p50, p95 and p99 of model-call latency in seconds, per interval."""
    return PanelQuery(f"""SELECT $__timeInterval(Timestamp) AS time,
       quantiles(0.5, 0.95, 0.99)(Duration / 1e9) AS q, q[1] AS p50, q[2] AS p95, q[3] AS p99
FROM {TRACES}
WHERE {_CALL_FILTERS}
GROUP BY time
ORDER BY time""", Format.TIME_SERIES, ("time", "q", "p50", "p95", "p99"))


def tokens_in_out() -> PanelQuery:
    """Input and output tokens of model calls per interval."""
    return PanelQuery(f"""SELECT $__timeInterval(Timestamp) AS time, sum(InputTokens) AS input_tokens,
       sum(OutputTokens) AS output_tokens
FROM {TRACES}
WHERE {_CALL_FILTERS}
GROUP BY time
ORDER BY time""", Format.TIME_SERIES, ("time", "input_tokens", "output_tokens"))


def cost_over_time_by_model() -> PanelQuery:
    """Cost in USD per interval, one series per model."""
    return PanelQuery(f"""SELECT $__timeInterval(Timestamp) AS time, RequestModel AS model, sum(CostUsd) AS cost_usd
FROM {TRACES}
WHERE {_CALL_FILTERS}
GROUP BY time, model
ORDER BY time""", Format.TIME_SERIES, ("time", "model", "cost_usd"))


def cost_by_model() -> PanelQuery:
    """The models that cost most over the range, with their calls and tokens."""
    return PanelQuery(f"""SELECT if(RequestModel = '', '(unknown)', RequestModel) AS model, sum(CostUsd) AS cost_usd,
       count() AS calls, sum(InputTokens + OutputTokens) AS tokens
FROM {TRACES}
WHERE {_CALL_FILTERS}
GROUP BY model
ORDER BY cost_usd DESC
LIMIT {_TOP}""", Format.TABLE, ("model", "cost_usd", "calls", "tokens"))


# Attribution dimensions of a task, by panel name. They are read from agent_tasks,
# where the engine gives each task its own or its spans' first value: ingest sets
# them only on the spans that carry them (the agent on its invoke_agent span, the
# user on whichever span names one). Model calls under no task are not attributed.
TASK_DIMENSIONS: dict[str, str] = {
    "user": "UserId",
    "tenant": "Tenant",
    "task_type": "TaskType",
    "agent": "AgentName",
    "feature": "Feature",
}
_TASK_FILTERS = f"$__timeFilter(Timestamp) AND {_in('ServiceName', 'service')} AND {_in('AgentName', 'agent')}"


def cost_by(dimension: str) -> PanelQuery:
    """The tasks' cost over the range along one attribution dimension (user, tenant, task_type, agent, feature)."""
    column = TASK_DIMENSIONS[dimension]
    return PanelQuery(f"""SELECT if({column} = '', '(none)', {column}) AS {dimension}, sum(CostUsd) AS cost_usd,
       count() AS tasks, sum(InputTokens + OutputTokens) AS tokens
FROM {AGENT_TASKS} FINAL
WHERE {_TASK_FILTERS}
GROUP BY {dimension}
ORDER BY cost_usd DESC
LIMIT {_TOP}""", Format.TABLE, (dimension, "cost_usd", "tasks", "tokens"))


def cache_hit_rate() -> PanelQuery:
    """Cached over input tokens per interval, counted as the cache-hit-rate SLI counts them."""
    return PanelQuery(f"""SELECT $__timeInterval(Timestamp) AS time,
       sum({_CACHE_HIT.good}) / nullIf(sum({_CACHE_HIT.total}), 0) AS cache_hit_rate
FROM {TRACES}
WHERE {_CALL_FILTERS}
GROUP BY time
ORDER BY time""", Format.TIME_SERIES, ("time", "cache_hit_rate"))


def degraded_share() -> PanelQuery:
    """The share of model calls answered degraded, per interval."""
    return PanelQuery(f"""SELECT $__timeInterval(Timestamp) AS time, avg({DEGRADED_SPAN}) AS degraded_share
FROM {TRACES}
WHERE {_CALL_FILTERS}
GROUP BY time
ORDER BY time""", Format.TIME_SERIES, ("time", "degraded_share"))


def fallback_sources() -> PanelQuery:
    """Model calls per interval by the source that served them (primary, secondary, cache, error)."""
    return PanelQuery(f"""SELECT $__timeInterval(Timestamp) AS time, FallbackSource AS source, count() AS calls
FROM {TRACES}
WHERE {_CALL_FILTERS} AND FallbackSource != ''
GROUP BY time, source
ORDER BY time""", Format.TIME_SERIES, ("time", "source", "calls"))


def retries_and_breaker_events() -> PanelQuery:
    """Retry and circuit-breaker span events per interval (events named so by the SDKs and by agents)."""
    return PanelQuery(f"""SELECT $__timeInterval(Timestamp) AS time,
       sum(arrayCount(name -> positionCaseInsensitive(name, 'retry') > 0, Events.Name)) AS retries,
       sum(arrayCount(name -> positionCaseInsensitive(name, 'circuit') > 0, Events.Name)) AS breaker_events
FROM {TRACES}
-- Only spans with events count: the other filters (agent, environment) then run on
-- those alone, a few percent of spans; every interval of the range is kept, at 0.
WHERE {_SPAN_FILTERS} AND notEmpty(Events.Name)
GROUP BY time
ORDER BY time WITH FILL FROM toStartOfInterval($__fromTime, INTERVAL $__interval_s second) TO $__toTime
    STEP $__interval_s""", Format.TIME_SERIES, ("time", "retries", "breaker_events"))


def slowest_traces() -> PanelQuery:
    """The slowest root spans of the range, each with its trace id for the trace view."""
    return PanelQuery(f"""SELECT TraceId AS trace_id, ServiceName AS service, SpanName AS span, Timestamp AS start,
       Duration / 1e9 AS duration_s, StatusCode AS status
FROM {TRACES}
WHERE {_SPAN_FILTERS} AND ParentSpanId = ''
ORDER BY Duration DESC
LIMIT {_TOP}""", Format.TABLE, ("trace_id", "service", "span", "start", "duration_s", "status"))


def most_expensive_traces() -> PanelQuery:
    """The traces whose agent tasks cost most over the range, from agent_tasks (a task's cost is its
    model calls'), so the model and environment filters do not apply: grouping a month of model calls
    by trace instead took 0.9 s at 10M spans (bench/dashboards)."""
    return PanelQuery(f"""SELECT TraceId AS trace_id, any(ServiceName) AS service, min(Timestamp) AS start,
       sum(LlmCalls) AS calls, sum(InputTokens + OutputTokens) AS tokens, sum(CostUsd) AS cost_usd
FROM {AGENT_TASKS} FINAL
WHERE {_TASK_FILTERS}
GROUP BY trace_id
ORDER BY cost_usd DESC
LIMIT {_TOP}""", Format.TABLE, ("trace_id", "service", "start", "calls", "tokens", "cost_usd"))


def task_outcomes() -> PanelQuery:
    """Finished agent tasks per interval: succeeded, failed, degraded."""
    return PanelQuery(f"""SELECT $__timeInterval(Timestamp) AS time, countIf(Success = 1) AS succeeded,
       countIf(Success = 0) AS failed, countIf(Degraded = 1) AS degraded
FROM {AGENT_TASKS} FINAL
WHERE {_TASK_FILTERS}
GROUP BY time
ORDER BY time""", Format.TIME_SERIES, ("time", "succeeded", "failed", "degraded"))


# ----------------------------------------------------------------------------- SLOs (slo_status, slo_rollups)

# The SLO of the row's repeat, quoted by Grafana (`:singlequote` escapes quotes in the value).
_STATUS_FILTER = "$__timeFilter(Timestamp) AND SloName = ${slo:singlequote}"


def sli_vs_objective() -> PanelQuery:
    """The SLO's SLI as evaluated, latest per interval (drawn against `slo_objective`'s threshold)."""
    return PanelQuery(f"""SELECT $__timeInterval(Timestamp) AS time, argMax(Sli, Timestamp) AS sli
FROM {SLO_STATUS}
WHERE {_STATUS_FILTER}
GROUP BY time
ORDER BY time""", Format.TIME_SERIES, ("time", "sli"))


def slo_objective() -> PanelQuery:
    """The SLO's objective at its latest evaluation: the threshold its SLI panels are drawn against."""
    return PanelQuery(f"""SELECT argMax(Objective, Timestamp) AS objective
FROM {SLO_STATUS}
WHERE {_STATUS_FILTER}""", Format.TABLE, ("objective",))


def budget_remaining() -> PanelQuery:
    """The share of the error budget left at the SLO's latest evaluation."""
    return PanelQuery(f"""SELECT argMax(ErrorBudgetRemaining, Timestamp) AS error_budget_remaining
FROM {SLO_STATUS}
WHERE {_STATUS_FILTER}""", Format.TABLE, ("error_budget_remaining",))


def time_to_exhaustion() -> PanelQuery:
    """How long the budget lasts at the last hour's burn rate, as of the latest evaluation (none: not burning)."""
    return PanelQuery(f"""SELECT argMax(TimeToExhaustionSeconds, Timestamp) AS time_to_exhaustion_s
FROM {SLO_STATUS}
WHERE {_STATUS_FILTER}""", Format.TABLE, ("time_to_exhaustion_s",))


def burn_rates() -> PanelQuery:
    """Burn rate per window (5m, 1h, ... as slo_status names them), latest per interval."""
    return PanelQuery(f"""SELECT $__timeInterval(Timestamp) AS time, window, argMax(rate, Timestamp) AS burn_rate
FROM {SLO_STATUS}
ARRAY JOIN mapKeys(BurnRates) AS window, mapValues(BurnRates) AS rate
WHERE {_STATUS_FILTER}
GROUP BY time, window
ORDER BY time""", Format.TIME_SERIES, ("time", "window", "burn_rate"))


def budget_burn_down() -> PanelQuery:
    """The error budget remaining over time: the burn-down of the SLO's window."""
    return PanelQuery(f"""SELECT $__timeInterval(Timestamp) AS time,
       argMax(ErrorBudgetRemaining, Timestamp) AS error_budget_remaining
FROM {SLO_STATUS}
WHERE {_STATUS_FILTER}
GROUP BY time
ORDER BY time""", Format.TIME_SERIES, ("time", "error_budget_remaining"))


def alert_state_history() -> PanelQuery:
    """The SLO's alert state at each evaluation ('ok' when none is set), for a state timeline."""
    return PanelQuery(f"""SELECT Timestamp AS time, if(AlertState = '', 'ok', AlertState) AS alert_state
FROM {SLO_STATUS}
WHERE {_STATUS_FILTER}
ORDER BY time""", Format.TIME_SERIES, ("time", "alert_state"))


def slo_events() -> PanelQuery:
    """Good and bad events per interval from the SLO's per-minute rollups, of its current definition."""
    return PanelQuery(f"""SELECT $__timeInterval(Minute) AS time, sum(GoodEvents) AS good_events,
       sum(TotalEvents) - sum(GoodEvents) AS bad_events
FROM {SLO_ROLLUPS} FINAL
WHERE $__timeFilter(Minute) AND SloName = ${{slo:singlequote}}
  -- The SLI as defined now: a changed SLO starts a new series (its Fingerprint).
  AND Fingerprint = (SELECT argMax(Fingerprint, UpdatedAt) FROM {SLO_ROLLUPS} WHERE SloName = ${{slo:singlequote}})
GROUP BY time
ORDER BY time""", Format.TIME_SERIES, ("time", "good_events", "bad_events"))


# ----------------------------------------------------------------------------- spend

# Spend is over model calls; "today" and "this month" are the ones holding the range's end, in UTC.
_SPEND_FILTERS = f"{_in('ServiceName', 'service')} AND {_AGENT_TRACES} AND ({MODEL_CALLS})"
_MONTH_START = "toDateTime(toStartOfMonth($__toTime))"


def spend_today() -> PanelQuery:
    """Spend in USD on the day holding the range's end, up to it."""
    return PanelQuery(f"""SELECT sum(CostUsd) AS cost_usd
FROM {TRACES}
WHERE Timestamp >= toStartOfDay($__toTime) AND Timestamp <= $__toTime AND {_SPEND_FILTERS}""",
                      Format.TABLE, ("cost_usd",))


def spend_month() -> PanelQuery:
    """Spend in USD in the month holding the range's end, and its projection to the month's end at the same pace."""
    return PanelQuery(f"""SELECT sum(CostUsd) AS cost_usd,
       cost_usd * dateDiff('second', {_MONTH_START}, addMonths({_MONTH_START}, 1))
           / greatest(dateDiff('second', {_MONTH_START}, $__toTime), 1) AS projected_month_usd
FROM {TRACES}
WHERE Timestamp >= {_MONTH_START} AND Timestamp <= $__toTime AND {_SPEND_FILTERS}""",
                      Format.TABLE, ("cost_usd", "projected_month_usd"))


def daily_spend() -> PanelQuery:
    """Spend in USD per UTC day over the range."""
    return PanelQuery(f"""SELECT toStartOfDay(Timestamp) AS time, sum(CostUsd) AS cost_usd
FROM {TRACES}
WHERE $__timeFilter(Timestamp) AND {_SPEND_FILTERS}
GROUP BY time
ORDER BY time""", Format.TIME_SERIES, ("time", "cost_usd"))


def unpriced_by_model() -> PanelQuery:
    """Model calls no price matched, by model: what the price table is missing."""
    return PanelQuery(f"""SELECT if(RequestModel = '', '(unknown)', RequestModel) AS model, count() AS unpriced_calls,
       sum(InputTokens) AS input_tokens, sum(OutputTokens) AS output_tokens
FROM {TRACES}
WHERE $__timeFilter(Timestamp) AND {_SPEND_FILTERS} AND CostSource = '{COST_UNPRICED}'
GROUP BY model
ORDER BY unpriced_calls DESC""", Format.TABLE, ("model", "unpriced_calls", "input_tokens", "output_tokens"))
