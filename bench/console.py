"""Console benchmark: every console page and console API call over 30 days of agent spans, through HTTP.

    .venv/bin/python -m bench.console [--spans 10000000] [--days 30] [--data DIR] [--repeat 5] [--json]

The dataset is bench/dashboards' (same generator, same `--data` reuse): `--spans` spans
over `--days` days ending 2026-03-31 12:00 UTC, agent_tasks and slo_rollups derived by
the real SLO engine, slo_status history at one row per SLO per minute. Then the real
HTTP app (agentslo.http_api.create_app, the service's clock at the data's end, the SLOs
and budgets of dashboards/example.yaml, one evaluation run first, as the scheduler would
have) answers each request `--repeat` times, in this process through httpx's ASGI
transport: every page (SLOs, one SLO, spend, tasks with and without filters, the next
page, a trace, alerts) and every console API call with its default parameters and with
a filter. It prints the median and max wall time per request, slowest first, and the
median CPU time of this process (chDB runs in it).

Target (issue 14): every page and API call under 300 ms at 10M spans over 30 days.
Exit status: 0 when every median meets it, 1 when one misses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from agentslo.config import load_config
from agentslo.http_api import create_app
from agentslo.service import Service
from bench.dashboards import DATA_END, _data_dir, _fill
from dashboards import EXAMPLE_CONFIG
from ground.storage import StorageSpec, open_storage
from slo import slo_from_spec

TARGET_MS = 300.0


@dataclass
class Timing:
    """One request and its run times."""

    name: str
    path: str
    status: int
    runs_ms: list[float]
    median_ms: float
    max_ms: float
    median_cpu_ms: float
    bytes: int


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status says whether every request met the target."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    config = load_config(EXAMPLE_CONFIG, env={})
    with _data_dir(args.data) as data_dir:
        storage = open_storage(StorageSpec(data_dir=data_dir))
        try:
            dataset = _fill(storage, [slo_from_spec(spec) for spec in config.slos], spans=args.spans, days=args.days)
            config = config.model_copy(update={"storage": StorageSpec(data_dir=data_dir)})
            timings = asyncio.run(_measure(Service(config, storage, clock=lambda: DATA_END), args.repeat))
        finally:
            storage.close()
    timings.sort(key=lambda t: t.median_ms, reverse=True)
    met = all(t.median_ms < TARGET_MS and t.status == 200 for t in timings)
    reproduce = f".venv/bin/python -m bench.console --spans {args.spans} --days {args.days} --repeat {args.repeat}"
    if args.json:
        print(json.dumps({"dataset": asdict(dataset), "target_ms": TARGET_MS, "target_met": met,
                          "requests": [asdict(t) for t in timings], "reproduce": reproduce}, indent=2))
    else:
        _report(timings, met, reproduce, args)
    return 0 if met else 1


async def _measure(service: Service, repeat: int) -> list[Timing]:
    service.schema_ready = True
    await service.evaluator.cycle()  # as the scheduler would have by the time anyone looks
    app = create_app(service)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        first = (await client.get("/api/v1/tasks", params={"limit": 50})).json()
        trace_id = first["tasks"][0]["trace_id"]
        slo = service.evaluator.slos[0].name
        requests = [
            ("page: SLOs", "/"),
            ("page: one SLO", f"/slos/{slo}"),
            ("page: spend", "/spend"),
            ("page: tasks (24h)", "/tasks"),
            ("page: tasks (30d, agent + status)", "/tasks?range=30d&agent=checkout&status=error"),
            ("page: tasks (30d, user)", "/tasks?range=30d&user=user-17"),
            ("page: tasks, next page", f"/tasks?range=7d&cursor={first['next_cursor']}"),
            ("page: trace", f"/traces/{trace_id}"),
            ("page: alerts", "/alerts"),
            ("api: tasks (7d)", "/api/v1/tasks"),
            ("api: tasks (30d, service + environment)",
             "/api/v1/tasks?start=2026-03-01T12:00:00Z&service=support-service&environment=prod"),
            ("api: tasks, next page", f"/api/v1/tasks?cursor={first['next_cursor']}"),
            ("api: trace", f"/api/v1/traces/{trace_id}"),
            ("api: SLO history (its window)", f"/api/v1/slos/{slo}/history"),
            ("api: spend (30 days, 5 breakdowns)", "/api/v1/spend"),
            ("api: spend (7 days, by tenant)", "/api/v1/spend?start=2026-03-24T12:00:00Z&by=tenant"),
            ("api: SLOs", "/api/v1/slos"),
            ("api: budgets", "/api/v1/budgets"),
            ("api: alerts", "/api/v1/alerts"),
        ]
        timings = []
        for name, path in requests:
            runs_ms, cpu_ms = [], []
            for _ in range(repeat):
                cpu_started, started = time.process_time(), time.perf_counter()
                response = await client.get(path)
                runs_ms.append((time.perf_counter() - started) * 1000)
                cpu_ms.append((time.process_time() - cpu_started) * 1000)
            timings.append(Timing(name, path, response.status_code, [round(ms, 1) for ms in runs_ms],
                                  statistics.median(runs_ms), max(runs_ms), statistics.median(cpu_ms),
                                  len(response.content)))
    return timings


def _report(timings: list[Timing], met: bool, reproduce: str, args: argparse.Namespace) -> None:
    console = Console(width=150)
    grid = Table(title=f"{len(timings)} console requests over {args.spans:,} spans / {args.days} days, "
                       f"{args.repeat} runs each, slowest first")
    for column, justify in (("request", "left"), ("status", "right"), ("median ms", "right"), ("max ms", "right"),
                            ("CPU ms", "right"), ("bytes", "right"), ("", "left")):
        grid.add_column(column, justify=justify)
    for t in timings:
        over = t.median_ms >= TARGET_MS or t.status != 200
        grid.add_row(t.name, str(t.status), f"{t.median_ms:.1f}", f"{t.max_ms:.1f}", f"{t.median_cpu_ms:.0f}",
                     f"{t.bytes:,}", f"[bold red]over {TARGET_MS:.0f} ms[/]" if over else "",
                     style="red" if over else None)
    console.print(grid)
    slow = sum(t.median_ms >= TARGET_MS or t.status != 200 for t in timings)
    console.print(f"target: every median < {TARGET_MS:.0f} ms: "
                  + ("met" if met else f"MISSED by {slow} of {len(timings)} requests"))
    console.print(f"reproduce: {reproduce}")


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=10_000_000, help="spans to generate (default 10,000,000)")
    parser.add_argument("--days", type=int, default=30, help="days the spans cover, ending 2026-03-31 12:00 UTC")
    parser.add_argument("--data", type=Path,
                        help="keep the store in this directory (default a temporary one); a directory already "
                             "holding this many spans from an earlier run (of this bench or bench.dashboards) "
                             "is reused as it is")
    parser.add_argument("--repeat", type=int, default=5, help="runs per request; the median is reported")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
