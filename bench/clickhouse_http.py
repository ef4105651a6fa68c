"""ClickHouse interface benchmark: every Grafana query run directly and through the read-only interface.

    .venv/bin/python -m bench.clickhouse_http [--spans 10000000] [--days 30] [--data DIR] [--repeat 5] [--json]

The dataset and the queries are bench/dashboards' (same generator, same `--data` reuse):
each dashboard panel, template variable and Grafana alert rule of the provisioning for
dashboards/example.yaml, under both variable selections. Each query runs `--repeat` times
directly on the store (Storage.query, what the panels cost on a ClickHouse server's engine)
and `--repeat` times as Grafana's plugin sends it to the interface (POST /clickhouse with
`default_format=Native` and the database, through the real HTTP app in this process over
httpx's ASGI transport): the statement check, the read-only run in a session of its own and
the Native framing are what the second adds. It prints both medians per query, the slowest
first, and the median over the queries of the time added and of the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from agentslo.config import ClickHouseHttpSpec, load_config
from agentslo.http_api import create_app
from agentslo.service import Service
from bench.dashboards import DATA_END, _data_dir, _fill, _queries
from dashboards import EXAMPLE_CONFIG
from ground.storage import Storage, StorageSpec, open_storage
from slo import slo_from_spec, spend_budget_from_spec


@dataclass
class Timing:
    """One query: its median wall time directly and through the interface, and the answer's size."""

    name: str
    selection: str
    direct_ms: float
    through_ms: float
    status: int
    bytes: int


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 when a query the engine answers fails through the interface."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    config = load_config(EXAMPLE_CONFIG, env={})
    slos = [slo_from_spec(spec) for spec in config.slos]
    budgets = [spend_budget_from_spec(spec) for spec in config.budgets]
    with _data_dir(args.data) as data_dir:
        storage = open_storage(StorageSpec(data_dir=data_dir))
        try:
            _fill(storage, slos, spans=args.spans, days=args.days)
            config = config.model_copy(update={"storage": StorageSpec(data_dir=data_dir),
                                               "clickhouse_http": ClickHouseHttpSpec(enabled=True)})
            queries = _queries(slos, budgets, DATA_END - timedelta(days=args.days), DATA_END)
            timings = asyncio.run(_measure(Service(config, storage, clock=lambda: DATA_END), storage, queries,
                                           args.repeat))
        finally:
            storage.close()
    timings.sort(key=lambda t: t.through_ms, reverse=True)
    answered = all(t.status == 200 for t in timings)
    added = statistics.median(t.through_ms - t.direct_ms for t in timings)
    ratio = statistics.median(t.through_ms / t.direct_ms for t in timings if t.direct_ms > 0)
    reproduce = (f".venv/bin/python -m bench.clickhouse_http --spans {args.spans} --days {args.days} "
                 f"--repeat {args.repeat}")
    if args.json:
        print(json.dumps({"queries": [asdict(t) for t in timings], "median_added_ms": added, "median_ratio": ratio,
                          "all_answered": answered, "reproduce": reproduce}, indent=2))
    else:
        _report(timings, added, ratio, reproduce, args)
    return 0 if answered else 1


async def _measure(service: Service, storage: Storage, queries: list[tuple[str, str, str]],
                   repeat: int) -> list[Timing]:
    app = create_app(service)
    path = service.config.clickhouse_http.path.rstrip("/") + "/"
    params = {"default_format": "Native", "database": storage.database}
    # The interface answers loopback clients only: the ASGI transport's client address says so.
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        timings = []
        for name, selection, sql in queries:
            direct = []
            for _ in range(repeat):
                started = time.perf_counter()
                storage.query(sql)
                direct.append((time.perf_counter() - started) * 1000)
            through = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = await client.post(path, params=params, content=sql.encode())
                through.append((time.perf_counter() - started) * 1000)
            timings.append(Timing(name, selection, statistics.median(direct), statistics.median(through),
                                  response.status_code, len(response.content)))
    return timings


def _report(timings: list[Timing], added: float, ratio: float, reproduce: str, args: argparse.Namespace) -> None:
    console = Console(width=150)
    grid = Table(title=f"{len(timings)} Grafana queries over {args.spans:,} spans / {args.days} days, "
                       f"{args.repeat} runs each way, slowest through the interface first")
    for column, justify in (("query", "left"), ("selection", "left"), ("direct ms", "right"),
                            ("interface ms", "right"), ("status", "right"), ("Native bytes", "right")):
        grid.add_column(column, justify=justify)
    for t in timings:
        grid.add_row(t.name, t.selection, f"{t.direct_ms:.1f}", f"{t.through_ms:.1f}", str(t.status),
                     f"{t.bytes:,}", style=None if t.status == 200 else "red")
    console.print(grid)
    console.print(f"median over the queries: {added:+.1f} ms through the interface, {ratio:.2f}x the direct time")
    console.print(f"reproduce: {reproduce}", highlight=False)


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.clickhouse_http", description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=10_000_000, help="spans to generate (default 10,000,000)")
    parser.add_argument("--days", type=int, default=30, help="days the spans cover, ending 2026-03-31 12:00 UTC")
    parser.add_argument("--data", type=Path,
                        help="keep the store in this directory (default a temporary one); a directory already "
                             "holding this many spans from an earlier run (of this bench, bench.console or "
                             "bench.dashboards) is reused as it is")
    parser.add_argument("--repeat", type=int, default=5, help="runs per query and way; the median is reported")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
