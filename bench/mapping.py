"""Mapping micro-benchmark: CPU µs per span of each step from request bytes to insert body.

    .venv/bin/python -m bench.mapping [--batches 16] [--batch 512] [--runs 7] [--profile]

The steps a span goes through between the receiver and the insert, on the
bench/ingest workload (`bench._workload`, realistic agent batches with fresh ids):

    decode     ExportTraceServiceRequest from the serialized request (in a mapping worker)
    map        SpanMapper.map: the otel_traces rows as an Arrow record batch (in a mapping worker)
    serialize  the mapped batch pickled in the worker, unpickled in the serving process
               (what ProcessPoolExecutor does with the result), and the insert body joined from it

Measured as process CPU time (time.process_time), not wall-clock, so that other
load on the machine changes the figures less; each figure is the median of
`--runs` runs over every batch of the pool, after one warm-up run. `--profile`
also prints cProfile's top functions of the decode and map steps.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from multiprocessing.reduction import ForkingPickler

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench._workload import SEED, build_pool
from collector import MappedBatch, MappingPolicy, PriceTable, SpanMapper, spans_insert_body

STEPS = ("decode", "map", "serialize")


def _insert_body(batch: MappedBatch) -> bytes:
    """What BatchWriter hands to the insert for one request's rows."""
    return spans_insert_body([batch.block])


def _run(bodies: list[bytes], mapper: SpanMapper) -> tuple[dict[str, float], int]:
    """CPU seconds of each step over all `bodies`, and the spans mapped."""
    seconds = dict.fromkeys(STEPS, 0.0)
    spans = 0
    clock = time.process_time
    for body in bodies:
        started = clock()
        request = ExportTraceServiceRequest.FromString(body)
        decoded = clock()
        batch = mapper.map(request)
        mapped = clock()
        shipped = ForkingPickler.loads(ForkingPickler.dumps(batch))
        _insert_body(shipped)
        serialized = clock()
        seconds["decode"] += decoded - started
        seconds["map"] += mapped - decoded
        seconds["serialize"] += serialized - mapped
        spans += batch.accepted
    return seconds, spans


def _profile(bodies: list[bytes], mapper: SpanMapper) -> None:
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for body in bodies:
        batch = mapper.map(ExportTraceServiceRequest.FromString(body))
        ForkingPickler.loads(ForkingPickler.dumps(batch))
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=16, help="requests in the pool (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=512, help="spans per request (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=7, help="measured runs; medians are printed (default: %(default)s)")
    parser.add_argument("--profile", action="store_true", help="also print cProfile's top functions")
    args = parser.parse_args()

    pool = build_pool(batches=args.batches, spans_per_batch=args.batch, seed=SEED, now_ns=time.time_ns())
    mapper = SpanMapper(MappingPolicy(), PriceTable.default())
    runs: list[dict[str, float]] = []
    for run in range(args.runs + 1):
        bodies = [template.stamp(run * len(pool) + index) for index, template in enumerate(pool)]
        seconds, spans = _run(bodies, mapper)
        if run:  # the first run warms the mapper's per-key memo and price cache
            runs.append({step: seconds[step] / spans * 1e6 for step in STEPS})
    print(f"{len(pool)} requests x {args.batch} spans, median of {args.runs} runs, CPU µs/span:")
    total = 0.0
    for step in STEPS:
        values = [run[step] for run in runs]
        median = statistics.median(values)
        total += median
        print(f"  {step:<10} {median:6.2f}   (min {min(values):.2f}, max {max(values):.2f})")
    print(f"  {'total':<10} {total:6.2f}")
    if args.profile:
        _profile([template.stamp(10_000 + index) for index, template in enumerate(pool)], mapper)


if __name__ == "__main__":
    main()
