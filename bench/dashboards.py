"""Dashboard benchmark: every Grafana panel, variable and alert-rule query over 30 days of agent spans.

    .venv/bin/python -m bench.dashboards [--spans 10000000] [--days 30] [--data DIR] [--repeat 5] [--json]

The bench fills a fresh embedded store (a temporary directory unless `--data`)
through the real migrations, then:

- otel_traces: `--spans` spans over `--days` days, generated in ClickHouse by one
  INSERT ... SELECT from numbers() (going through OTLP ingest and the span mapper
  would take most of an hour at 10 million spans; bench/ingest measures that path).
  Tasks of ten spans, evenly spaced: an invoke_agent root carrying the agent, user,
  tenant, task type and feature; six model calls (chat) over six models, one of
  them unpriced, a tenth of the rest with a reported cost, a third reading from the
  prompt cache, some failed, some served by a fallback (degraded), a few with
  retry or circuit-breaker span events; three execute_tool calls, 3% failed.
  Five agents in four services, three deployment environments.
- agent_tasks and slo_rollups: derived by the real SLO engine (`slo.run_cycle`,
  one cycle at the data's end, which derives every task and backfills the rollups)
  for the SLOs of dashboards/example.yaml.
- slo_status: the engine's row from that cycle, and before it one row per SLO per
  minute (the scheduler's default cadence) over the whole range, generated in SQL
  from the engine's row (same SLO, objective and burn-rate windows; varying SLI,
  budget, burn rates and alert state): running the engine 43,200 times would take
  hours and the panels only need the rows' shape and number.

Then it expands (`dashboards.expand_macros`) every dashboard panel query, every
template-variable query and every Grafana alert-rule query over the full range
at a 30-minute interval (what Grafana picks for 30 days on a full-width panel),
once with every variable set to All and once with one service, agent, model and
environment selected, runs each `--repeat` times and prints the median and max
per query, slowest first, with the median CPU time of this process (chDB runs
in it): a figure that other load on a shared machine disturbs less than wall time.
Panels are built for the spend budgets of dashboards/example.yaml too.

Target (issue 6): every query's median under 500 ms at 10 million spans over 30
days. Exit status: 0 when met, 1 when a query misses it.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agentslo.config import load_config
from dashboards import ALL, DASHBOARDS, EXAMPLE_CONFIG, alert_rules, expand_macros, variable_queries
from ground.storage import AGENT_TASKS, SLO_ROLLUPS, SLO_STATUS, TRACES, Storage, StorageSpec, migrate, open_storage
from slo import SLO, SpendBudget, slo_from_spec, spend_budget_from_spec
from slo.engine import run_cycle

TARGET_MS = 500.0
SPANS_PER_TASK = 10
# The data ends at a fixed moment, so that runs are comparable; midday, so that
# "spend today" reads half a day and "this month" most of the range.
DATA_END = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
# Grafana's interval for 30 days on a full-width panel (range / max data points, rounded).
INTERVAL = timedelta(minutes=30)
EVALUATION_CADENCE = timedelta(minutes=1)

# The two variable selections every query runs with. `slo` is never All: the SLO
# dashboard repeats its row once per SLO.
ALL_SELECTED = {"service": ALL, "agent": ALL, "model": ALL, "environment": ALL, "slo": ["checkout-availability"]}
ONE_SELECTED = {"service": ["checkout-service"], "agent": ["checkout"], "model": ["gpt-4o"],
                "environment": ["prod"], "slo": ["model-availability"]}

# Span k of a task: k = 0 the invoke_agent root, 1..6 model calls, 7..9 tool calls.
# Every value derives from the task's and the span's number through cityHash64, so
# a size always generates the same data.
_GENERATE_SPANS = f"""
INSERT INTO {TRACES} (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
    ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage,
    `Events.Timestamp`, `Events.Name`, `Events.Attributes`, GenAiOperation, GenAiProvider, RequestModel,
    ResponseModel, InputTokens, OutputTokens, CacheReadTokens, CacheWriteTokens, CostUsd, CostSource, ErrorType,
    UserId, Tenant, AgentName, TaskType, Feature, FallbackSource, Degraded)
SELECT
    start + toIntervalMillisecond(k * 1500) AS Timestamp,
    leftPad(lower(hex(cityHash64(task, 1))), 16, '0') || leftPad(lower(hex(cityHash64(task, 2))), 16, '0')
        AS TraceId,
    leftPad(lower(hex(cityHash64(number, 3))), 16, '0') AS SpanId,
    if(k = 0, '', leftPad(lower(hex(cityHash64(task * {SPANS_PER_TASK}, 3))), 16, '0')) AS ParentSpanId,
    multiIf(k = 0, 'invoke_agent ' || agent, is_llm, 'chat ' || model, 'execute_tool ' || tool) AS SpanName,
    multiIf(k = 0, 'Server', is_llm, 'Client', 'Internal') AS SpanKind,
    service AS ServiceName,
    map('service.name', service, 'deployment.environment', environment, 'telemetry.sdk.language', 'python')
        AS ResourceAttributes,
    multiIf(k = 0, 'agent-framework', is_llm, 'opentelemetry.instrumentation.' || provider, 'agent-framework')
        AS ScopeName,
    '0.9.1' AS ScopeVersion,
    multiIf(k = 0, map('gen_ai.operation.name', 'invoke_agent', 'gen_ai.agent.name', agent, 'user.id', user,
                       'agentslo.task.type', task_type, 'agentslo.feature', feature),
            is_llm, map('gen_ai.operation.name', 'chat', 'gen_ai.request.model', model,
                        'gen_ai.usage.input_tokens', toString(InputTokens),
                        'gen_ai.usage.output_tokens', toString(OutputTokens)),
            map('gen_ai.operation.name', 'execute_tool', 'gen_ai.tool.name', tool)) AS SpanAttributes,
    multiIf(k = 0, 14000 + task_hash % 26000,
            is_llm, 300 + span_hash % 4000 + if(span_hash % 100 = 0, 20000, 0),
            20 + span_hash % 1000) * 1000000 AS Duration,
    if(multiIf(k = 0, task_hash % 1000 < 12, is_llm, span_hash % 1000 < 6, span_hash % 100 < 3),
       'Error', 'Unset') AS StatusCode,
    if(StatusCode = 'Error', 'failed', '') AS StatusMessage,
    arrayMap(name -> Timestamp + toIntervalMillisecond(100), `Events.Name`) AS `Events.Timestamp`,
    multiIf(span_hash % 1000 = 999, ['retry', 'circuit_breaker.open'],
            span_hash % 100 < 3 AND k != 0, ['retry'], emptyArrayString()) AS `Events.Name`,
    arrayMap(name -> map('attempt', '2'), `Events.Name`) AS `Events.Attributes`,
    multiIf(k = 0, 'invoke_agent', is_llm, 'chat', 'execute_tool') AS GenAiOperation,
    if(is_llm, provider, '') AS GenAiProvider,
    if(is_llm, model, '') AS RequestModel,
    if(is_llm, model, '') AS ResponseModel,
    if(is_llm, 300 + span_hash % 6000, 0) AS InputTokens,
    if(is_llm, 20 + intDiv(span_hash, 65536) % 1200, 0) AS OutputTokens,
    if(is_llm AND intDiv(span_hash, 16) % 3 = 0, intDiv(InputTokens, 2), 0) AS CacheReadTokens,
    if(is_llm AND provider = 'anthropic' AND span_hash % 20 = 5, intDiv(InputTokens, 4), 0) AS CacheWriteTokens,
    ((InputTokens - CacheReadTokens) * price_in + CacheReadTokens * price_in / 10 + OutputTokens * price_out)
        / 1000000 AS CostUsd,
    multiIf(NOT is_llm, '', price_in = 0, 'unpriced', span_hash % 10 = 3, 'reported', 'priced') AS CostSource,
    if(StatusCode = 'Error',
       multiIf(k = 0, ['max_iterations', 'tool_failure', '_OTHER'][task_hash % 3 + 1],
               is_llm, ['429', 'timeout', '500'][span_hash % 3 + 1], 'timeout'), '') AS ErrorType,
    if(k = 0, user, '') AS UserId,
    if(k = 0, tenant, '') AS Tenant,
    if(k = 0, agent, '') AS AgentName,
    if(k = 0, task_type, '') AS TaskType,
    if(k = 0, feature, '') AS Feature,
    if(is_llm, multiIf(span_hash % 1000 < 6, 'secondary', span_hash % 1000 < 9, 'cache', span_hash % 1000 = 9, 'error',
                       span_hash % 10 < 5, 'primary', ''), '') AS FallbackSource,
    FallbackSource IN ('secondary', 'cache', 'error') AS Degraded
FROM (
    SELECT
        number,
        intDiv(number, {SPANS_PER_TASK}) AS task,
        number % {SPANS_PER_TASK} AS k,
        k BETWEEN 1 AND 6 AS is_llm,
        cityHash64(task, 7) AS task_hash,
        cityHash64(number, 11) AS span_hash,
        ['support', 'support', 'support', 'checkout', 'checkout', 'research', 'research', 'billing', 'triage',
         'triage'][intDiv(task_hash, 256) % 10 + 1] AS agent,
        if(agent = 'triage', 'support-service', agent || '-service') AS service,
        multiIf(intDiv(task_hash, 1048576) % 20 = 0, 'staging', intDiv(task_hash, 1048576) % 20 < 3, 'canary', 'prod')
            AS environment,
        'user-' || toString(intDiv(task_hash, 4096) % 5000) AS user,
        'tenant-' || toString(intDiv(task_hash, 65536) % 40) AS tenant,
        ['answer', 'refund', 'search', 'summarize', 'triage'][task_hash % 5 + 1] AS task_type,
        ['chat', 'email', 'search', 'refunds', 'summaries'][intDiv(task_hash, 16) % 5 + 1] AS feature,
        multiIf(span_hash % 100 < 35, 1, span_hash % 100 < 55, 2, span_hash % 100 < 75, 3, span_hash % 100 < 88, 4,
                span_hash % 100 < 96, 5, 6) AS model_index,
        ['gpt-4o-mini', 'gpt-4o', 'claude-sonnet-4-5', 'claude-haiku-4-5', 'gemini-2.5-flash',
         'llama-3.1-70b-local'][model_index] AS model,
        ['openai', 'openai', 'anthropic', 'anthropic', 'gcp.gemini', 'vllm'][model_index] AS provider,
        -- USD per million input / output tokens; the local model has no price (unpriced).
        [0.15, 2.5, 3.0, 1.0, 0.3, 0.0][model_index] AS price_in,
        [0.6, 10.0, 15.0, 5.0, 2.5, 0.0][model_index] AS price_out,
        ['search_docs', 'lookup_order', 'send_email', 'run_sql'][span_hash % 4 + 1] AS tool,
        {{first:DateTime64(6, 'UTC')}} + toIntervalMillisecond(intDiv(task * {{spacing_ms:UInt64}}, 1)) AS start
    FROM numbers({{spans:UInt64}})
)
"""

# slo_status before the engine's one row per SLO: a row per SLO per minute, shaped on
# the engine's row (its SLO, kind, window, objective, burn-rate windows), the values
# varied: the budget burns down towards the engine's figure, an alert fires for
# an hour now and then.
_GENERATE_STATUS = f"""
INSERT INTO {SLO_STATUS}
SELECT
    s.Timestamp - toIntervalSecond((n.number + 1) * {{cadence_s:UInt32}}) AS Timestamp,
    s.SloName, s.Kind, s.Events, s.Window, s.Budgeting, s.Objective,
    least(1, coalesce(s.Sli, s.Objective) + ((h % 1000) / 1000 - 0.5) * (1 - s.Objective) * 0.4) AS Sli,
    s.GoodEvents * (1 - age), s.TotalEvents * (1 - age), s.GoodSlices, s.BadSlices, s.ErrorBudget,
    least(1, coalesce(s.ErrorBudgetRemaining, 0.6) + (1 - coalesce(s.ErrorBudgetRemaining, 0.6)) * age)
        AS ErrorBudgetRemaining,
    s.ErrorBudgetRemainingEvents,
    mapApply((window, rate) -> (window, rate * (0.5 + cityHash64(window, h) % 1000 / 1000)), s.BurnRates),
    s.TimeToExhaustionSeconds, s.EnoughData,
    multiIf(intDiv(n.number, 60) % 97 = 13, 'pending', intDiv(n.number, 60) % 97 = 14, 'firing', '') AS AlertState,
    s.DataThrough - toIntervalSecond((n.number + 1) * {{cadence_s:UInt32}}) AS DataThrough,
    s.WindowEvents
FROM {SLO_STATUS} AS s
CROSS JOIN (
    SELECT number, cityHash64(number, 5) AS h, (number + 1) / {{rows:UInt32}} AS age FROM numbers({{rows:UInt32}})
) AS n
"""


@dataclass
class Dataset:
    """What the bench measured the queries over (part of the --json output)."""

    spans: int
    days: int
    reused: bool
    generate_spans_s: float
    engine_cycle_s: float
    generate_status_s: float
    rows: dict[str, int]
    bytes_on_disk: dict[str, int]
    parts: dict[str, int]


@dataclass
class Timing:
    """One query under one variable selection, and its run times."""

    name: str
    selection: str
    runs_ms: list[float]
    median_ms: float
    max_ms: float
    median_cpu_ms: float
    result_rows: int
    sql: str


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status says whether every query met the target."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    config = load_config(EXAMPLE_CONFIG, env={})
    slos = [slo_from_spec(spec) for spec in config.slos]
    budgets = [spend_budget_from_spec(spec) for spec in config.budgets]
    with _data_dir(args.data) as data_dir:
        storage = open_storage(StorageSpec(data_dir=data_dir))
        try:
            dataset = _fill(storage, slos, spans=args.spans, days=args.days)
            start, end = DATA_END - timedelta(days=args.days), DATA_END
            timings = [_time(storage, name, selection, sql, args.repeat)
                       for name, selection, sql in _queries(slos, budgets, start, end)]
        finally:
            storage.close()
    timings.sort(key=lambda t: t.median_ms, reverse=True)
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    met = all(t.median_ms < TARGET_MS for t in timings)
    reproduce = (f".venv/bin/python -m bench.dashboards --spans {args.spans} --days {args.days} "
                 f"--repeat {args.repeat}")
    if args.json:
        print(json.dumps({"dataset": asdict(dataset), "peak_rss_mib": round(peak_rss_mib),
                          "target_ms": TARGET_MS, "target_met": met, "queries": [asdict(t) for t in timings],
                          "reproduce": reproduce}, indent=2))
    else:
        _report(dataset, timings, peak_rss_mib, met, reproduce, args.repeat)
    return 0 if met else 1


@contextmanager
def _data_dir(data: Path | None) -> Iterator[Path]:
    if data is not None:
        yield data
        return
    with tempfile.TemporaryDirectory(prefix="agentslo-bench-dashboards-") as temporary:
        yield Path(temporary)


def _fill(storage: Storage, slos: Sequence[SLO], *, spans: int, days: int) -> Dataset:
    """Generate the dataset, or reuse the one a `--data` directory already holds for this size."""
    migrate(storage)
    held = storage.query(f"SELECT count() FROM {TRACES}").scalar()
    reused = held == spans and storage.query(f"SELECT count() FROM {SLO_STATUS}").scalar() > 0
    generate_spans_s = engine_cycle_s = generate_status_s = 0.0
    if not reused:
        if held:
            raise SystemExit(f"the data directory holds {held:,} spans, not {spans:,}: give a fresh --data")
        tasks = spans // SPANS_PER_TASK
        started = time.perf_counter()
        storage.command(_GENERATE_SPANS, {"first": DATA_END - timedelta(days=days), "spans": spans,
                                          "spacing_ms": timedelta(days=days) // timedelta(milliseconds=1) // tasks})
        generate_spans_s = time.perf_counter() - started
        _progress(f"{spans:,} spans generated in {generate_spans_s:.1f} s")

        started = time.perf_counter()
        run_cycle(storage, slos, DATA_END)
        engine_cycle_s = time.perf_counter() - started
        _progress(f"SLO engine cycle (derive tasks, backfill rollups, evaluate) in {engine_cycle_s:.1f} s")

        started = time.perf_counter()
        rows = int(timedelta(days=days) / EVALUATION_CADENCE) - 1
        storage.command(_GENERATE_STATUS, {"rows": rows, "cadence_s": int(EVALUATION_CADENCE.total_seconds())})
        generate_status_s = time.perf_counter() - started
        _progress(f"slo_status history generated in {generate_status_s:.1f} s")
    tables = (TRACES, AGENT_TASKS, SLO_ROLLUPS, SLO_STATUS)
    sizes = [row for row in storage.query(
        "SELECT table, sum(rows), sum(bytes_on_disk), count() FROM system.parts "
        "WHERE database = currentDatabase() AND active GROUP BY table").rows if row[0] in tables]
    return Dataset(spans, days, reused, generate_spans_s, engine_cycle_s, generate_status_s,
                   rows={t: r for t, r, _, _ in sizes}, bytes_on_disk={t: b for t, _, b, _ in sizes},
                   parts={t: p for t, _, _, p in sizes})


def _queries(slos: Sequence[SLO], budgets: Sequence[SpendBudget], start: datetime,
             end: datetime) -> list[tuple[str, str, str]]:
    """(name, variable selection, expanded SQL) of every distinct query: panels, variables, alert rules.

    The dashboards and the Grafana alert rules are built for dashboards/example.yaml
    (its SLOs and spend budgets), as the checked-in provisioning is. A query that
    comes out the same under both selections (no variables), or that two panels
    share, runs once, under its first name.
    """
    named: list[tuple[str, str]] = []
    for dashboard, build in DASHBOARDS.items():
        named += [(f"{dashboard}: {panel.title}" + ("" if panel.ref_id == "A" else f" ({panel.ref_id})"),
                   panel.query.sql) for panel in build(budgets)[1]]
    named += [(f"variable: {query.sql.split(chr(10))[0].removeprefix('SELECT DISTINCT ')}", query.sql)
              for query in variable_queries()]
    named += [(f"alert: {rule['title']}", rule["data"][0]["model"]["rawSql"])
              for group in alert_rules(slos, budgets)["groups"] for rule in group["rules"]]
    seen: set[str] = set()
    expanded = []
    for selection, variables in (("all", ALL_SELECTED), ("one", ONE_SELECTED)):
        for name, sql in named:
            sql = expand_macros(sql, start=start, end=end, interval=INTERVAL, variables=variables)
            if sql not in seen:
                seen.add(sql)
                expanded.append((name, selection, sql))
    return expanded


def _time(storage: Storage, name: str, selection: str, sql: str, repeat: int) -> Timing:
    runs_ms, cpu_ms = [], []
    for _ in range(repeat):
        cpu_started, started = time.process_time(), time.perf_counter()
        result = storage.query(sql)
        runs_ms.append((time.perf_counter() - started) * 1000)
        # chDB runs in this process: its CPU time is the query's, on every core, whatever else the machine runs.
        cpu_ms.append((time.process_time() - cpu_started) * 1000)
    return Timing(name, selection, [round(ms, 1) for ms in runs_ms], statistics.median(runs_ms), max(runs_ms),
                  statistics.median(cpu_ms), len(result.rows), sql)


def _report(dataset: Dataset, timings: list[Timing], peak_rss_mib: float, met: bool, reproduce: str,
            repeat: int) -> None:
    console = Console(width=150)
    if dataset.reused:
        console.print(f"dataset: reused ({dataset.spans:,} spans over {dataset.days} days)")
    else:
        total_s = dataset.generate_spans_s + dataset.engine_cycle_s + dataset.generate_status_s
        console.print(f"dataset generated in {total_s:.1f} s: "
                      f"spans {dataset.generate_spans_s:.1f} s, SLO engine cycle {dataset.engine_cycle_s:.1f} s, "
                      f"slo_status history {dataset.generate_status_s:.1f} s")
    for table, rows in sorted(dataset.rows.items()):
        console.print(f"  {table:<12} {rows:>12,} rows {dataset.bytes_on_disk[table] / 2**20:>9.1f} MiB "
                      f"in {dataset.parts[table]} parts")
    console.print(f"peak RSS of this process (chDB in-process): {peak_rss_mib:,.0f} MiB")
    grid = Table(title=f"{len(timings)} queries over {dataset.days} days, {repeat} runs each, slowest first "
                       f"(selection: all = every variable All, one = one service / agent / model / environment)")
    for column, justify in (("query", "left"), ("selection", "left"), ("median ms", "right"), ("max ms", "right"),
                            ("CPU ms", "right"), ("rows", "right"), ("", "left")):
        grid.add_column(column, justify=justify)
    for t in timings:
        over = t.median_ms >= TARGET_MS
        grid.add_row(t.name, t.selection, f"{t.median_ms:.1f}", f"{t.max_ms:.1f}", f"{t.median_cpu_ms:.0f}",
                     f"{t.result_rows:,}",
                     f"[bold red]over {TARGET_MS:.0f} ms[/]" if over else "",
                     style="red" if over else None)
    console.print(grid)
    slow = sum(t.median_ms >= TARGET_MS for t in timings)
    console.print(f"target: every median < {TARGET_MS:.0f} ms: "
                  + ("met" if met else f"MISSED by {slow} of {len(timings)} queries"))
    console.print(f"reproduce: {reproduce}")


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboards", description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=10_000_000, help="spans to generate (default 10,000,000)")
    parser.add_argument("--days", type=int, default=30, help="days the spans cover, ending 2026-03-31 12:00 UTC")
    parser.add_argument("--data", type=Path,
                        help="keep the store in this directory (default a temporary one); a directory already "
                             "holding this many spans from an earlier run is reused as it is")
    parser.add_argument("--repeat", type=int, default=5, help="runs per query; the median is reported")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
