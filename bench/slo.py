"""SLO engine benchmark: the time of a full evaluation cycle over 30 days of agent spans.

    .venv/bin/python -m bench.slo [--spans 10000000] [--cycles 5] [--slos 20] [--json]

For `--spans` N and N / 10 (so 10 million and 1 million by default), the bench
fills a fresh embedded store (a temporary directory) with N spans over 30 days,
generated in ClickHouse by one INSERT ... SELECT from numbers(): N / 10 agent
tasks of 10 spans each (an invoke_agent root, six model calls, three tool calls;
about 1% failed tasks, 3% failed tool calls, 0.5% fallbacks, a third of the
calls reading from the prompt cache). It declares 20 SLOs of every kind, event
source, window and budgeting, runs one cycle that derives the tasks and
backfills the rollups, then times `--cycles` steady-state cycles, each one
minute after the previous (derive the new tasks, roll up the new minutes,
evaluate all 20 SLOs, append slo_status), and reports their median. `--slos N`
declares N SLOs instead: the twenty, then copies of them under other names
(each SLO has rollups of its own, so a copy costs what its original does), to
measure how a cycle grows with the number of SLOs. The
generated history is stamped as stored long ago (InsertedAt); then a late
backlog arrives: an hour of spans (10,000 tasks, 100,000 spans at 10M) that
ended two to three hours before, stored now, and the one cycle that absorbs
it (tasks of those traces derived again, their minutes rolled up again for
every SLO) is timed.

Targets: a full cycle under 2 s at 10 million spans, within 1.5x of the time at
1 million, and the cycle absorbing the late backlog under 2 s at 10 million.
Exit status: 0 when all are met, 1 when one is missed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ground.storage import AGENT_TASKS, TRACES, Storage, StorageSpec, migrate, open_storage
from slo import SLO, parse_slo_specs, slo_from_spec
from slo.engine import catch_up, evaluate, run_cycle, write_status

TARGET_CYCLE_S = 2.0
TARGET_SCALING = 1.5
SPANS_PER_TASK = 10
DAYS = 30
# The data ends at a fixed moment on a whole minute, so that runs are comparable.
DATA_END = datetime(2026, 3, 31, 0, 0, tzinfo=UTC)

# Ten spans per task: k = 0 is the invoke_agent root, k = 1..6 model calls, k = 7..9 tool calls.
# Every value derives from the span's number through cityHash64, so a size always
# generates the same data. Tasks are evenly spaced over the 30 days.
_GENERATE = f"""
INSERT INTO {TRACES} (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
    ResourceAttributes, SpanAttributes, Duration, StatusCode, GenAiOperation, GenAiProvider, RequestModel,
    ResponseModel, InputTokens, OutputTokens, CacheReadTokens, CostUsd, CostSource, ErrorType, UserId, Tenant,
    AgentName, TaskType, Feature, FallbackSource, Degraded, InsertedAt)
SELECT
    start + toIntervalMillisecond(k * 1500) AS Timestamp,
    leftPad(lower(hex(task + 1)), 32, '0') AS TraceId,
    leftPad(lower(hex(number + 1)), 16, '0') AS SpanId,
    if(k = 0, '', leftPad(lower(hex(task * {SPANS_PER_TASK} + 1)), 16, '0')) AS ParentSpanId,
    multiIf(k = 0, 'invoke_agent ' || agent, k <= 6, 'chat ' || model, 'execute_tool ' || tool) AS SpanName,
    if(k = 0, 'Server', if(k <= 6, 'Client', 'Internal')) AS SpanKind,
    agent || '-service' AS ServiceName,
    map('deployment.environment', if(task_hash % 10 = 0, 'canary', 'prod')) AS ResourceAttributes,
    if(k = 0, map('gen_ai.agent.name', agent),
       if(k <= 6, map('gen_ai.request.model', model), map('gen_ai.tool.name', tool))) AS SpanAttributes,
    multiIf(k = 0, 14000 + task_hash % 20000, k <= 6, 200 + span_hash % 4000, 50 + span_hash % 1000)
        * 1000000 AS Duration,
    if((k = 0 AND task_hash % 100 = 0) OR (k > 6 AND span_hash % 100 < 3)
           OR (k BETWEEN 1 AND 6 AND span_hash % 200 = 1), 'Error', 'Unset') AS StatusCode,
    multiIf(k = 0, 'invoke_agent', k <= 6, 'chat', 'execute_tool') AS GenAiOperation,
    if(k BETWEEN 1 AND 6, 'openai', '') AS GenAiProvider,
    if(k BETWEEN 1 AND 6, model, '') AS RequestModel,
    if(k BETWEEN 1 AND 6, model, '') AS ResponseModel,
    if(k BETWEEN 1 AND 6, 500 + span_hash % 4000, 0) AS InputTokens,
    if(k BETWEEN 1 AND 6, 50 + span_hash % 800, 0) AS OutputTokens,
    if(k BETWEEN 1 AND 6 AND span_hash % 3 = 0, intDiv(InputTokens, 2), 0) AS CacheReadTokens,
    (InputTokens * 0.15 + OutputTokens * 0.6) / 1000000 AS CostUsd,
    if(k BETWEEN 1 AND 6, 'priced', '') AS CostSource,
    if(StatusCode = 'Error', if(k > 6, 'timeout', '_OTHER'), '') AS ErrorType,
    'user-' || toString(task_hash % 1000) AS UserId,
    'tenant-' || toString(task_hash % 20) AS Tenant,
    agent AS AgentName,
    ['answer', 'refund', 'search', 'summarize'][task_hash % 4 + 1] AS TaskType,
    ['chat', 'email'][task_hash % 2 + 1] AS Feature,
    if(k BETWEEN 1 AND 6 AND span_hash % 200 = 7, 'secondary', '') AS FallbackSource,
    FallbackSource != '' AS Degraded,
    {{stored_at:DateTime64(6, 'UTC')}} AS InsertedAt
FROM (
    SELECT
        number,
        intDiv(number, {SPANS_PER_TASK}) AS task,
        number % {SPANS_PER_TASK} AS k,
        cityHash64(task, 7) AS task_hash,
        cityHash64(number, 11) AS span_hash,
        ['support', 'research', 'billing'][task % 3 + 1] AS agent,
        ['gpt-4o-mini', 'gpt-4o', 'claude-sonnet-4-5'][span_hash % 3 + 1] AS model,
        ['search_docs', 'lookup_order', 'send_email'][span_hash % 3 + 1] AS tool,
        {{first:DateTime64(6, 'UTC')}}
            + toIntervalMillisecond((task - intDiv({{offset:UInt64}}, {SPANS_PER_TASK})) * {{spacing_ms:UInt64}}) AS start
    FROM numbers({{offset:UInt64}}, {{spans:UInt64}})
)
"""

# Twenty SLOs as a config file declares them: every SLI kind, event source, matcher
# kind, window and budgeting method.
SLOS = [
    {"name": "tasks-availability", "objective": 99.5, "window": "30d", "sli": {"kind": "availability"}},
    {"name": "support-availability", "objective": 99, "window": "28d",
     "sli": {"kind": "availability", "filter": [{"column": "ServiceName", "op": "eq", "value": "support-service"}]}},
    {"name": "tasks-latency", "objective": 95, "window": "30d", "sli": {"kind": "latency", "threshold": "30s"}},
    {"name": "research-latency", "objective": 90, "window": "7d",
     "sli": {"kind": "latency", "threshold": "20s",
             "filter": [{"column": "AgentName", "op": "eq", "value": "research"}]}},
    {"name": "tasks-cost", "objective": 99, "window": "30d", "sli": {"kind": "cost", "threshold_usd": 0.01}},
    {"name": "tenant-cost", "objective": 95, "window": "30d",
     "sli": {"kind": "cost", "threshold_usd": 0.008,
             "filter": [{"column": "Tenant", "op": "in", "values": ["tenant-1", "tenant-2", "tenant-3"]}]}},
    {"name": "tasks-errors", "objective": 99, "window": "30d",
     "sli": {"kind": "error_rate", "errors": [{"column": "ErrorType", "op": "regex", "value": "^_OTHER$"}]}},
    {"name": "tasks-month", "objective": 99, "window": "month", "sli": {"kind": "availability"}},
    {"name": "tasks-minutes", "objective": 99, "window": "30d",
     "budgeting": {"method": "timeslices", "slice": "1m", "slice_objective": 95},
     "sli": {"kind": "availability"}},
    {"name": "llm-availability", "objective": 99.5, "window": "30d",
     "sli": {"kind": "availability", "over": "llm_calls"}},
    {"name": "llm-latency", "objective": 95, "window": "30d",
     "sli": {"kind": "latency", "over": "llm_calls", "threshold": "3s"}},
    {"name": "gpt4o-latency", "objective": 90, "window": "7d",
     "sli": {"kind": "latency", "over": "llm_calls", "threshold": "2s",
             "filter": [{"attribute": "gen_ai.request.model", "op": "eq", "value": "gpt-4o"}]}},
    {"name": "llm-cost", "objective": 99, "window": "30d",
     "sli": {"kind": "cost", "over": "llm_calls", "threshold_usd": 0.0012}},
    {"name": "cache-hit-rate", "objective": 20, "window": "30d", "sli": {"kind": "cache_hit_rate"}},
    {"name": "canary-cache-hit-rate", "objective": 20, "window": "7d",
     "sli": {"kind": "cache_hit_rate",
             "filter": [{"resource_attribute": "deployment.environment", "op": "eq", "value": "canary"}]}},
    {"name": "tool-success", "objective": 97, "window": "30d", "sli": {"kind": "tool_success"}},
    {"name": "search-tool-success", "objective": 97, "window": "28d",
     "sli": {"kind": "tool_success", "filter": [{"attribute": "gen_ai.tool.name", "op": "regex", "value": "^search"}]}},
    {"name": "spans-availability", "objective": 99, "window": "30d", "sli": {"kind": "availability", "over": "spans"}},
    {"name": "spans-latency", "objective": 99, "window": "28d",
     "budgeting": {"method": "timeslices", "slice": "5m", "slice_objective": 90},
     "sli": {"kind": "latency", "over": "spans", "threshold": "5s",
             "filter": [{"column": "SpanKind", "op": "ne", "value": "Server"}]}},
    {"name": "llm-errors", "objective": 99.9, "window": "30d", "sli": {"kind": "error_rate", "over": "llm_calls"}},
]


@dataclass
class SizeResult:
    """The figures of one data size (the --json output, one per size)."""

    spans: int
    tasks: int
    generate_s: float
    first_cycle_s: float
    cycle_s: list[float]
    median_cycle_s: float
    catch_up_s: float
    evaluate_s: float
    backlog_spans: int
    backlog_cycle_s: float
    backlog_late_spans: int


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status says whether the targets were met."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    slos = [slo_from_spec(spec) for spec in parse_slo_specs(_declared(args.slos), where="bench SLOs")]
    sizes = [args.spans, args.spans // 10]
    results = []
    with tempfile.TemporaryDirectory(prefix="agentslo-bench-slo-") as data_dir:
        for spans in sizes:
            storage = open_storage(StorageSpec(data_dir=Path(data_dir), database=f"bench_{spans}"))
            try:
                results.append(_measure(storage, slos, spans, cycles=args.cycles))
            finally:
                storage.close()
    large, small = results
    within_2s = large.median_cycle_s < TARGET_CYCLE_S
    scaling = large.median_cycle_s / small.median_cycle_s
    backlog_2s = large.backlog_cycle_s < TARGET_CYCLE_S
    met = within_2s and scaling <= TARGET_SCALING and backlog_2s
    if args.json:
        print(json.dumps({"slos": len(slos), "sizes": [asdict(r) for r in results], "scaling": scaling,
                          "targets_met": met}, indent=2))
    else:
        for r in results:
            print(f"{r.spans:>11,} spans, {r.tasks:>9,} tasks: generated in {r.generate_s:.1f} s, "
                  f"first cycle (derive 30 days, backfill {len(slos)} SLOs) {r.first_cycle_s:.1f} s, "
                  f"full cycle median {r.median_cycle_s:.3f} s of {len(r.cycle_s)} "
                  f"(catch up {r.catch_up_s:.3f} s, evaluate + status {r.evaluate_s:.3f} s); "
                  f"late backlog of {r.backlog_spans:,} spans ({r.backlog_late_spans:,} counted late) "
                  f"absorbed in {r.backlog_cycle_s:.3f} s")
        print(f"target: full cycle < {TARGET_CYCLE_S:.0f} s at {large.spans:,} spans: "
              f"{large.median_cycle_s:.3f} s {'met' if within_2s else 'MISSED'}")
        print(f"target: within {TARGET_SCALING}x of {small.spans:,} spans: {scaling:.2f}x "
              f"{'met' if scaling <= TARGET_SCALING else 'MISSED'}")
        print(f"target: the cycle absorbing a late backlog < {TARGET_CYCLE_S:.0f} s at {large.spans:,} spans: "
              f"{large.backlog_cycle_s:.3f} s {'met' if backlog_2s else 'MISSED'}")
    return 0 if met else 1


def _measure(storage: Storage, slos: list[SLO], spans: int, *, cycles: int) -> SizeResult:
    migrate(storage)
    first = DATA_END - timedelta(days=DAYS)
    tasks = spans // SPANS_PER_TASK
    started = time.perf_counter()
    # Stored long ago: the steady cycles find nothing late in the history.
    storage.command(_GENERATE, {"first": first, "spans": spans, "offset": 0, "stored_at": datetime(1970, 1, 1),
                                "spacing_ms": timedelta(days=DAYS) // timedelta(milliseconds=1) // tasks})
    generate_s = time.perf_counter() - started
    print(f"{spans:,} spans generated in {generate_s:.1f} s", file=sys.stderr)

    # The first cycle derives 30 days of tasks and backfills every SLO; later cycles
    # run a minute apart, as the scheduler's would, over data already there.
    now = DATA_END - timedelta(minutes=cycles + 5)
    started = time.perf_counter()
    run_cycle(storage, slos, now)
    first_cycle_s = time.perf_counter() - started
    print(f"first cycle in {first_cycle_s:.1f} s; derived {_count(storage, AGENT_TASKS):,} tasks", file=sys.stderr)

    timings = []
    for _ in range(cycles):
        now += timedelta(minutes=1)
        started = time.perf_counter()
        run_cycle(storage, slos, now)
        timings.append(time.perf_counter() - started)

    # One more cycle, step by step, for the breakdown.
    now += timedelta(minutes=1)
    started = time.perf_counter()
    catch_up(storage, slos, now)
    catch_up_s = time.perf_counter() - started
    write_status(storage, evaluate(storage, slos, now))
    evaluate_s = time.perf_counter() - started - catch_up_s

    # The late backlog: an hour of tasks that ended two to three hours ago, stored now.
    backlog = spans // 100
    storage.command(_GENERATE, {"first": now - timedelta(hours=3), "spans": backlog, "offset": spans,
                                "stored_at": datetime.now(UTC), "spacing_ms": 3_600_000 // (backlog // SPANS_PER_TASK)})
    now += timedelta(minutes=1)
    started = time.perf_counter()
    caught = catch_up(storage, slos, now)
    write_status(storage, evaluate(storage, slos, now))
    backlog_cycle_s = time.perf_counter() - started
    return SizeResult(spans, tasks, generate_s, first_cycle_s, timings, statistics.median(timings), catch_up_s,
                      evaluate_s, backlog, backlog_cycle_s, caught.late_spans)


def _declared(count: int) -> list[dict]:
    """`count` SLOs: the twenty of SLOS, then copies of them named `<name>-<copy>`."""
    copies = []
    for n in range(count):
        original, copy = SLOS[n % len(SLOS)], n // len(SLOS)
        copies.append({**original, "name": f"{original['name']}-{copy}" if copy else original["name"]})
    return copies


def _count(storage: Storage, table: str) -> int:
    return storage.query(f"SELECT count() FROM {table} FINAL").scalar()


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.slo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=10_000_000,
                        help="spans in the large store; the small one holds a tenth (default 10,000,000)")
    parser.add_argument("--cycles", type=int, default=5, help="timed cycles per size; the median is reported")
    parser.add_argument("--slos", type=int, default=len(SLOS),
                        help="SLOs evaluated: the twenty, then copies of them (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
