"""Ingest benchmark: how many agent spans per second a running AgentSLO acknowledges.

    .venv/bin/python -m bench.ingest [--protocol http|grpc|both] [--seconds 60] [--senders 8]
                                     [--batch 512] [--url http://127.0.0.1:4318 --grpc 127.0.0.1:4317]
                                     [--api-key KEY] [--auth-pairs N] [--json]

`--senders` closed-loop workers (one thread and one persistent connection each)
export pre-serialized batches of `--batch` realistic agent spans
(`bench._workload`) with fresh ids on every send, for a 3 s warm-up and then
`--seconds` of measurement. Only 2xx / OK answers count as acknowledged.
Reported against the targets: acknowledged spans/s, p50/p99 request latency
and the server's peak RSS; also every other kind of answer, the server's and
the client's own CPU use, and (for a server the bench started) its exit code
after SIGTERM.

By default the bench starts `python -m agentslo serve` itself, on a fresh temporary
data directory and free loopback ports, once per protocol; `--url` / `--grpc`
target a server that is already running instead (`--api-key` is then sent as a
Bearer token).

`--auth-pairs N` measures what API keys cost: per protocol, N pairs of runs on
fresh servers, one without keys and one with an ingest key (from a keys file;
its tenant stamped on every span) and a per-tenant rate limit too high to refuse
anything, the order alternating from pair to pair; it reports every run and
the medians, and exits 1 when the median pair loses more than 5% of spans/s.

Exit status: 0 when every target is met, 1 when one is missed, 2 when the bench
could not run (the server did not start or refused the first batch).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import resource
import secrets
import shlex
import signal
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

from rich.console import Console
from rich.table import Table

from bench._server import BenchError, MetricsProbe, ServerProbe, StartedServer
from bench._transports import GrpcTransport, HttpTransport, Outcome, Result, Transport
from bench._workload import SEED, BatchTemplate, build_pool, check_stamping

TARGET_SPANS_PER_S = 50_000
TARGET_SUSTAINED_S = 60
TARGET_P99_S = 0.5
TARGET_RSS_BYTES = 1 << 30
WARMUP_S = 3.0
POOL_BATCHES = 32
RSS_SAMPLE_INTERVAL_S = 0.5
AUTH_COST_TARGET = 0.05  # ingest with a key may cost at most 5% of spans/s (issue 13)
MAX_RETRY_WAIT_S = 2.0  # Retry-After is honoured, but briefly: the bench measures, it does not wait out outages
ERROR_PAUSE_S = 0.1  # after a failure without Retry-After, so a failing server is not hammered in a tight loop
PREFLIGHT_TIMEOUT_S = 15.0


@dataclass
class _Tally:
    """What one sender saw during the measured window."""

    results: Counter[Result] = field(default_factory=Counter)
    acknowledged_spans: int = 0
    rejected_spans: int = 0
    resends: int = 0
    latencies_s: list[float] = field(default_factory=list)
    spans_by_second: Counter[int] = field(default_factory=Counter)
    first_detail: dict[Result, str] = field(default_factory=dict)

    def record(self, outcome: Outcome, latency_s: float, span_count: int, second: int) -> None:
        self.results[outcome.result] += 1
        self.first_detail.setdefault(outcome.result, outcome.detail)
        if outcome.result is Result.ACKNOWLEDGED:
            acknowledged = span_count - outcome.rejected_spans
            self.acknowledged_spans += acknowledged
            self.rejected_spans += outcome.rejected_spans
            self.spans_by_second[second] += acknowledged
            self.latencies_s.append(latency_s)


@dataclass
class ProtocolResult:
    """The figures of one protocol's run (the --json output, one per protocol)."""

    protocol: str
    target: str
    server_command: str | None
    seconds: float
    senders: int
    batch_spans: int
    batch_bytes_mean: int
    requests: int
    answers: dict[str, int]
    resends_after_retry_after: int
    acknowledged_spans: int
    rejected_spans_partial_success: int
    spans_per_s: float
    lowest_5s_spans_per_s: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    latency_max_ms: float | None
    server_peak_rss_bytes: int | None
    server_rss_source: str
    server_cpu_cores: float | None
    # Where the server's CPU went: µs per acknowledged span by kind of thread, largest first.
    server_cpu_us_per_span: dict[str, float] | None
    client_cpu_cores: float
    server_exit_code: int | None = None
    server_stop_s: float | None = None
    example_answers: dict[str, str] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status says whether the targets were met."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so a server the bench started is stopped, not left running.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    out = Console(width=None if sys.stdout.isatty() else 110)  # a report piped to a file keeps its table whole
    progress = Console(stderr=True, soft_wrap=True)
    command = shlex.join([sys.executable, "-m", "bench.ingest", *argv])
    if not args.json:
        out.print(f"command: {command}", highlight=False, soft_wrap=True)

    started = time.perf_counter()
    pool = build_pool(batches=POOL_BATCHES, spans_per_batch=args.batch, seed=SEED, now_ns=time.time_ns())
    for template in pool:
        check_stamping(template)
    batch_bytes = sum(t.size_bytes for t in pool) // len(pool)
    progress.print(f"workload: {len(pool)} batches of {args.batch} agent spans ({batch_bytes / 1024:.0f} KiB each),"
                   f" built in {time.perf_counter() - started:.1f} s; id stamping self-check passed",
                   highlight=False)

    # One counter for the whole run: every send, warm-up and preflight included, gets its own id stamp.
    # Its random start keeps two runs against the same server from sending the same ids.
    send_numbers = itertools.count(secrets.randbits(32))
    protocols = ["http", "grpc"] if args.protocol == "both" else [args.protocol]
    if args.auth_pairs:
        return _auth_pairs(args, pool, send_numbers, protocols, out, progress, command)
    results = []
    try:
        for protocol in protocols:
            results.append(_run_protocol(protocol, args, pool, send_numbers, progress))
    except BenchError as exc:
        progress.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 2
    except KeyboardInterrupt:
        progress.print("interrupted; the server the bench started, if any, was stopped")
        return 130
    passed = all(all(r.checks.values()) for r in results)
    if args.json:
        print(json.dumps({"command": command, "targets": _targets(), "passed": passed,
                          "results": {r.protocol: asdict(r) for r in results}}, indent=2))
    else:
        _print_report(out, results, passed)
    return 0 if passed else 1


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=("http", "grpc", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=float(TARGET_SUSTAINED_S),
                        help="measured time after a 3 s warm-up (default: %(default)g)")
    parser.add_argument("--senders", type=int, default=8, help="concurrent senders (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=512, help="spans per request (default: %(default)s)")
    parser.add_argument("--url", help="OTLP/HTTP base URL of a running server (default: start one)")
    parser.add_argument("--grpc", help="OTLP/gRPC HOST:PORT of a running server (default: start one)")
    parser.add_argument("--api-key", help="ingest key to send to a running server (--url / --grpc)")
    parser.add_argument("--auth-pairs", type=int, default=0, metavar="N",
                        help="compare N pairs of runs without and with an API key (and a rate limit), per protocol")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.senders < 1 or args.batch < 1 or args.auth_pairs < 0:
        parser.error("--seconds, --senders and --batch must be positive, --auth-pairs at least 0")
    if args.auth_pairs and (args.url or args.grpc or args.api_key):
        parser.error("--auth-pairs starts its own servers: without --url, --grpc or --api-key")
    if args.url is not None and not args.url.startswith("http://"):
        parser.error(f"--url {args.url!r}: expected http://HOST:PORT")
    return args


def _targets() -> dict[str, float]:
    return {"spans_per_s": TARGET_SPANS_PER_S, "sustained_s": TARGET_SUSTAINED_S,
            "latency_p99_ms": TARGET_P99_S * 1000, "server_peak_rss_bytes": TARGET_RSS_BYTES}


# A started server with API keys: one ingest key, and a rate limit it never reaches, so that the
# run pays for checking the key, stamping its tenant and counting spans in the tenant's bucket.
_KEYED_CONFIG = """
auth:
  keys_file: {dir}/keys
ingest:
  rate_limit:
    spans_per_s: 100000000
"""


def _run_protocol(protocol: str, args: argparse.Namespace, pool: list[BatchTemplate],
                  send_numbers: Iterator[int], progress: Console, *, keyed: bool = False) -> ProtocolResult:
    external = args.url is not None or args.grpc is not None
    api_key = args.api_key
    if keyed:
        api_key = secrets.token_urlsafe(32)
        keys = f"{hashlib.sha256(api_key.encode()).hexdigest()} bench ingest\n"
        server: StartedServer | None = StartedServer(_KEYED_CONFIG, {"keys": keys})
    else:
        server = None if external else StartedServer()
    try:
        if server is None:
            url, grpc_target = args.url or "http://127.0.0.1:4318", args.grpc or "127.0.0.1:4317"
            probe: ServerProbe = MetricsProbe(url)
        else:
            url, grpc_target, probe = server.url, server.grpc_target, server.probe
            progress.print(f"{protocol}: starting {server.command_line}", highlight=False)
            progress.print(f"{protocol}: server ready in {server.wait_ready():.1f} s", highlight=False)
        target = url if protocol == "http" else grpc_target

        def connect() -> Transport:
            return HttpTransport(url, api_key) if protocol == "http" else GrpcTransport(grpc_target, api_key)

        _preflight(connect, pool, send_numbers, protocol, target)
        progress.print(f"{protocol}: {args.senders} senders -> {target}: warm-up {WARMUP_S:g} s,"
                       f" then {args.seconds:g} s measured", highlight=False)
        result = _load(connect, pool, send_numbers, probe, protocol=protocol, target=target,
                       seconds=args.seconds, senders=args.senders)
        if server is not None:
            result.server_command = server.command_line
            if (exit_code := server.exited()) is not None:
                progress.print(f"[red]{protocol}: the server exited with code {exit_code} during the run[/]")
    finally:
        if server is not None:
            stopped = server.stop()
    if server is not None:
        result.server_exit_code, result.server_stop_s = stopped.exit_code, round(stopped.stop_s, 2)
        result.checks["server_exit_0"] = stopped.exit_code == 0
        if stopped.log_tail:
            progress.print(f"{protocol}: the server did not exit 0 after SIGTERM\n{stopped.log_tail}",
                           highlight=False)
    return result


def _preflight(connect: Callable[[], Transport], pool: list[BatchTemplate], send_numbers: Iterator[int],
               protocol: str, target: str) -> None:
    """Send one batch until it is acknowledged, so a missing or broken receiver fails clearly and early.

    A refusal (4xx, or a gRPC status blaming the request) ends it at once; anything else is retried
    for PREFLIGHT_TIMEOUT_S, since a receiver may still be starting.
    """
    transport = connect()
    deadline = time.monotonic() + PREFLIGHT_TIMEOUT_S
    try:
        number = next(send_numbers)
        body = pool[number % len(pool)].stamp(number)
        while True:
            outcome = transport.send(body)
            if outcome.result is Result.ACKNOWLEDGED:
                return
            if outcome.result is Result.REFUSED or time.monotonic() > deadline:
                hint = " (is the OTLP receiver there?)" if "404" in outcome.detail or "UNIMPLEMENTED" in \
                    outcome.detail else ""
                raise BenchError(f"{protocol}: {target} did not acknowledge a first batch: {outcome.detail}{hint}")
            time.sleep(min(outcome.retry_after_s or 0.5, MAX_RETRY_WAIT_S))
    finally:
        transport.close()


def _load(connect: Callable[[], Transport], pool: list[BatchTemplate], send_numbers: Iterator[int],
          probe: ServerProbe, *, protocol: str, target: str, seconds: float, senders: int) -> ProtocolResult:
    transports = [connect() for _ in range(senders)]
    tallies = [_Tally() for _ in range(senders)]
    stop = threading.Event()
    start_s = time.perf_counter() + WARMUP_S
    window = (start_s, start_s + seconds)
    threads = [
        threading.Thread(target=_send_loop, args=(transport, pool, send_numbers, window, stop, tally),
                         name=f"sender-{i}", daemon=True)
        for i, (transport, tally) in enumerate(zip(transports, tallies, strict=True))
    ]
    sampler = _RssSampler(probe)
    sampler.start()
    try:
        for thread in threads:
            thread.start()
        _sleep_until(window[0])
        client_cpu_start, server_cpu_start, threads_start = _client_cpu_s(), probe.cpu_s(), probe.cpu_s_by_thread()
        _sleep_until(window[1])
        client_cpu_end, server_cpu_end, threads_end = _client_cpu_s(), probe.cpu_s(), probe.cpu_s_by_thread()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for transport in transports:
            transport.close()
        sampler.stop()
    peak_rss = probe.peak_rss_bytes()
    rss_source = "/proc VmHWM" if peak_rss is not None else "/metrics sampled"
    if sampler.peak_bytes is not None:
        peak_rss = max(peak_rss or 0, sampler.peak_bytes)
    elif peak_rss is None:
        rss_source = "unavailable"

    results: Counter[Result] = Counter()
    for tally in tallies:
        results.update(tally.results)
    latencies = sorted(itertools.chain.from_iterable(t.latencies_s for t in tallies))
    by_second: Counter[int] = Counter()
    for tally in tallies:
        by_second.update(tally.spans_by_second)
    acknowledged = sum(t.acknowledged_spans for t in tallies)
    spans_per_s = acknowledged / seconds
    p99 = _percentile(latencies, 0.99)
    examples: dict[str, str] = {}
    for tally in tallies:
        for kind, detail in tally.first_detail.items():
            if kind is not Result.ACKNOWLEDGED:
                examples.setdefault(kind.name.lower(), detail)
    return ProtocolResult(
        protocol=protocol,
        target=target,
        server_command=None,
        seconds=seconds,
        senders=senders,
        batch_spans=pool[0].span_count,
        batch_bytes_mean=sum(t.size_bytes for t in pool) // len(pool),
        requests=sum(results.values()),
        answers={kind.name.lower(): results[kind] for kind in Result},
        resends_after_retry_after=sum(t.resends for t in tallies),
        acknowledged_spans=acknowledged,
        rejected_spans_partial_success=sum(t.rejected_spans for t in tallies),
        spans_per_s=round(spans_per_s, 1),
        lowest_5s_spans_per_s=_lowest_window_rate(by_second, int(seconds), 5),
        latency_p50_ms=_ms(_percentile(latencies, 0.50)),
        latency_p99_ms=_ms(p99),
        latency_max_ms=_ms(latencies[-1] if latencies else None),
        server_peak_rss_bytes=peak_rss,
        server_rss_source=rss_source,
        server_cpu_cores=(None if server_cpu_start is None or server_cpu_end is None
                          else round((server_cpu_end - server_cpu_start) / seconds, 3)),
        server_cpu_us_per_span=_cpu_per_span(threads_start, threads_end, acknowledged),
        client_cpu_cores=round((client_cpu_end - client_cpu_start) / seconds, 3),
        example_answers=examples,
        checks={
            "spans_per_s": spans_per_s >= TARGET_SPANS_PER_S,
            "latency_p99": p99 is not None and p99 < TARGET_P99_S,
            "server_peak_rss": peak_rss is not None and peak_rss < TARGET_RSS_BYTES,
        },
    )


def _cpu_per_span(start: dict[str, float] | None, end: dict[str, float] | None,
                  spans: int) -> dict[str, float] | None:
    """CPU µs per span of each kind of thread between two readings, largest first (threads under 0.5 µs left out)."""
    if start is None or end is None or not spans:
        return None
    used = {label: (end[label] - start.get(label, 0.0)) / spans * 1e6 for label in end}
    return {label: round(us, 1) for label, us in sorted(used.items(), key=lambda item: -item[1]) if us >= 0.5}


def _send_loop(transport: Transport, pool: list[BatchTemplate], send_numbers: Iterator[int],
               window: tuple[float, float], stop: threading.Event, tally: _Tally) -> None:
    """Send batches back to back until `stop`; record answers that arrive inside `window`."""
    start_s, end_s = window
    body = b""
    span_count = 0
    while not stop.is_set():
        if body:  # a resend of a throttled batch: the same ids, since the server did not store them
            if start_s <= time.perf_counter() < end_s:
                tally.resends += 1
        else:
            number = next(send_numbers)
            template = pool[number % len(pool)]
            body, span_count = template.stamp(number), template.span_count
        sent_s = time.perf_counter()
        outcome = transport.send(body)
        done_s = time.perf_counter()
        if start_s <= done_s < end_s:
            tally.record(outcome, done_s - sent_s, span_count, int(done_s - start_s))
        if outcome.result is Result.THROTTLED:
            stop.wait(min(outcome.retry_after_s or 0.0, MAX_RETRY_WAIT_S))
            continue
        if outcome.result in (Result.FAILED, Result.TRANSPORT_ERROR):
            stop.wait(ERROR_PAUSE_S)
        body = b""


class _RssSampler:
    """Reads the server's resident memory every RSS_SAMPLE_INTERVAL_S in a thread; keeps the peak."""

    def __init__(self, probe: ServerProbe) -> None:
        self._probe = probe
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.peak_bytes: int | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            rss = self._probe.rss_bytes()
            if rss is not None:
                self.peak_bytes = max(self.peak_bytes or 0, rss)
            if self._stop.wait(RSS_SAMPLE_INTERVAL_S):
                return


def _sleep_until(deadline_s: float) -> None:
    while (left := deadline_s - time.perf_counter()) > 0:
        time.sleep(min(left, 0.5))


def _client_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads of this process, gRPC's included
    return usage.ru_utime + usage.ru_stime


def _percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile."""
    if not sorted_values:
        return None
    return sorted_values[max(1, math.ceil(fraction * len(sorted_values))) - 1]


def _lowest_window_rate(by_second: Counter[int], whole_seconds: int, width: int) -> float | None:
    """Lowest spans/s over `width` consecutive whole seconds of the window."""
    if whole_seconds < width:
        return None
    return min(sum(by_second[s] for s in range(first, first + width))
               for first in range(whole_seconds - width + 1)) / width


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _print_report(out: Console, results: list[ProtocolResult], passed: bool) -> None:
    table = Table(title="AgentSLO ingest", title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("target")
    for r in results:
        table.add_column(r.protocol.upper(), justify="right")

    def row(label: str, target: str, cells: list[str]) -> None:
        table.add_row(label, target, *cells)

    def verdict(ok: bool | None) -> str:
        return "" if ok is None else ("  [green]pass[/]" if ok else "  [red]FAIL[/]")

    def short(r: ProtocolResult) -> str:
        return f" ({r.seconds:g} s run)" if r.seconds < TARGET_SUSTAINED_S else ""

    row("acknowledged spans/s", f"≥ {TARGET_SPANS_PER_S:,} for {TARGET_SUSTAINED_S} s",
        [f"{r.spans_per_s:,.0f}{verdict(r.checks['spans_per_s'])}{short(r)}" for r in results])
    row("  lowest 5 s window", "", [_num(r.lowest_5s_spans_per_s) for r in results])
    row("latency p50", "", [_num(r.latency_p50_ms, " ms", 1) for r in results])
    row("latency p99", f"< {TARGET_P99_S * 1000:.0f} ms",
        [f"{_num(r.latency_p99_ms, ' ms', 1)}{verdict(r.checks['latency_p99'])}" for r in results])
    row("latency max", "", [_num(r.latency_max_ms, " ms", 1) for r in results])
    row("server peak RSS", f"< {TARGET_RSS_BYTES >> 30} GiB",
        [f"{_mib(r.server_peak_rss_bytes)}{verdict(r.checks['server_peak_rss'])}" for r in results])
    row("  measured as", "", [r.server_rss_source for r in results])
    row("requests acknowledged (2xx)", "", [f"{r.answers['acknowledged']:,} of {r.requests:,}" for r in results])
    row("  throttled, resent", "",
        [f"{r.answers['throttled']:,}, {r.resends_after_retry_after:,}" for r in results])
    row("  refused 4xx / failed 5xx", "", [f"{r.answers['refused']:,} / {r.answers['failed']:,}" for r in results])
    row("  transport errors", "", [f"{r.answers['transport_error']:,}" for r in results])
    row("rejected spans (partial success)", "", [f"{r.rejected_spans_partial_success:,}" for r in results])
    row("batch", "", [f"{r.batch_spans} spans, {r.batch_bytes_mean / 1024:.0f} KiB" for r in results])
    row("server CPU", "", [_num(r.server_cpu_cores, " cores", 2) for r in results])
    if any(r.server_cpu_us_per_span for r in results):
        row("  µs per span, by thread", "", ["\n".join(f"{label} {us:,.1f}" for label, us in
                                                    list((r.server_cpu_us_per_span or {}).items())[:6]) or "n/a"
                                          for r in results])
    cores = os.cpu_count() or 1
    row("client CPU (the bench)", "",
        [f"{r.client_cpu_cores:.2f} cores ({100 * r.client_cpu_cores / cores:.0f}% of {cores})" for r in results])
    if any(r.server_command for r in results):
        row("server exit after SIGTERM", "0",
            [f"{r.server_exit_code if r.server_exit_code is not None else 'killed'} in {r.server_stop_s:g} s"
             f"{verdict(r.checks['server_exit_0'])}" if r.server_command else "" for r in results])
    out.print(table)
    for r in results:
        if r.server_command:
            out.print(f"{r.protocol} server: {r.server_command}", highlight=False, soft_wrap=True)
        for kind, detail in r.example_answers.items():
            out.print(f"{r.protocol}: first {kind.replace('_', ' ')} answer: {detail}", highlight=False,
                      soft_wrap=True)
    out.print("[bold green]all targets met[/]" if passed else "[bold red]targets missed[/]")


def _auth_pairs(args: argparse.Namespace, pool: list[BatchTemplate], send_numbers: Iterator[int],
                protocols: list[str], out: Console, progress: Console, command: str) -> int:
    """Runs without and with an API key in alternating pairs; reports each run and the medians."""
    runs: dict[str, list[tuple[ProtocolResult, ProtocolResult]]] = {protocol: [] for protocol in protocols}
    try:
        for pair in range(args.auth_pairs):
            for protocol in protocols:
                order = (False, True) if pair % 2 == 0 else (True, False)
                done = {}
                for keyed in order:
                    progress.print(f"{protocol}: pair {pair + 1} of {args.auth_pairs}, "
                                   f"{'with' if keyed else 'without'} an API key", highlight=False)
                    done[keyed] = _run_protocol(protocol, args, pool, send_numbers, progress, keyed=keyed)
                runs[protocol].append((done[False], done[True]))
    except BenchError as exc:
        progress.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 2
    except KeyboardInterrupt:
        progress.print("interrupted; the server the bench started, if any, was stopped")
        return 130
    summary = {protocol: _auth_summary(pairs) for protocol, pairs in runs.items()}
    passed = all(s["median_ratio"] >= 1 - AUTH_COST_TARGET for s in summary.values())
    if args.json:
        print(json.dumps({"command": command, "target_ratio": 1 - AUTH_COST_TARGET, "passed": passed,
                          "summary": summary,
                          "runs": {protocol: [{"without_key": asdict(without), "with_key": asdict(with_key)}
                                              for without, with_key in pairs] for protocol, pairs in runs.items()}},
                         indent=2))
        return 0 if passed else 1
    table = Table(title=f"AgentSLO ingest without and with an API key ({args.seconds:g} s runs)", title_justify="left")
    for heading in ("protocol", "pair", "without key spans/s", "with key spans/s", "with / without",
                    "server µs/span"):
        table.add_column(heading, justify="left" if heading == "protocol" else "right", no_wrap=True)
    for protocol, pairs in runs.items():
        for index, (without, with_key) in enumerate(pairs, start=1):
            table.add_row(protocol, str(index), f"{without.spans_per_s:,.0f}", f"{with_key.spans_per_s:,.0f}",
                          f"{with_key.spans_per_s / without.spans_per_s:.3f}",
                          f"{_us_per_span(without)} / {_us_per_span(with_key)}")
        medians = summary[protocol]
        table.add_row(protocol, "median", f"{medians['without_key_spans_per_s']:,.0f}",
                      f"{medians['with_key_spans_per_s']:,.0f}", f"{medians['median_ratio']:.3f}",
                      f"{medians['without_key_us_per_span']:.1f} / {medians['with_key_us_per_span']:.1f}",
                      end_section=True)
    out.print(table)
    verdict = "[bold green]within[/]" if passed else "[bold red]beyond[/]"
    out.print(f"{verdict} the target: with a key, the median pair keeps at least "
              f"{1 - AUTH_COST_TARGET:.0%} of the spans/s without one")
    return 0 if passed else 1


def _auth_summary(pairs: list[tuple[ProtocolResult, ProtocolResult]]) -> dict[str, float]:
    """Medians of a protocol's runs without and with a key, and of the pairs' ratios.

    The server's CPU per span moves far less with the machine's other load than spans/s do.
    """
    return {
        "without_key_spans_per_s": statistics.median(without.spans_per_s for without, _ in pairs),
        "with_key_spans_per_s": statistics.median(with_key.spans_per_s for _, with_key in pairs),
        "median_ratio": round(statistics.median(with_key.spans_per_s / without.spans_per_s
                                                for without, with_key in pairs), 4),
        "without_key_us_per_span": round(statistics.median(_cpu_us(without) for without, _ in pairs), 2),
        "with_key_us_per_span": round(statistics.median(_cpu_us(with_key) for _, with_key in pairs), 2),
    }


def _cpu_us(result: ProtocolResult) -> float:
    """The server's CPU µs per acknowledged span in a run (NaN when it could not be read)."""
    if result.server_cpu_cores is None or not result.spans_per_s:
        return math.nan
    return result.server_cpu_cores / result.spans_per_s * 1e6


def _us_per_span(result: ProtocolResult) -> str:
    return f"{_cpu_us(result):.1f}"


def _num(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}{unit}"


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / (1 << 20):,.0f} MiB"


if __name__ == "__main__":
    sys.exit(main())
