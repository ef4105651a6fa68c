"""ClickHouse's side of ingest: CPU per span of inserts by format, and of merges by table settings.

    .venv/bin/python -m bench.writes [--inserts 20] [--parts 300] [--pace 0.15]

Runs on a fresh embedded store (chDB, in this process), with the bench/ingest
workload mapped by the real SpanMapper into inserts of 4,096 spans:

    formats   the same rows inserted as JSONEachRow, Native and ArrowStream (what
              ingest sends), merges stopped: CPU µs per span of the insert alone
    merges    `--parts` inserts at the bench's pace (one per `--pace` seconds plus the
              insert) into otel_traces as migrated now and as migration 1 left it, merges
              running: merge-thread CPU µs per inserted span, rows written by merges per
              row inserted ("rewrites"), active parts at the end, and the bytes a span
              takes in them, on disk (compressed, indexes included) and uncompressed; then,
              merged into one part per day, its bytes on disk with the workload's ids
              and with random ids (as real exporters send)

Process CPU time, so other load moves the figures less; still, run it twice.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench._workload import SEED, build_pool
from collector import MappingPolicy, PriceTable, SpanMapper, spans_insert_body
from ground.storage import MIGRATIONS, TRACES, migrate
from ground.storage._backends import ChdbBackend
from ground.storage._storage import Storage

_REQUESTS_PER_INSERT = 8  # of 512 spans: the bench's 8 senders, gathered into one insert
# otel_traces' merge settings before migration 6.
_V1_MERGE_SETTINGS = "merge_selector_base = 5, min_parts_to_merge_at_once = 20"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inserts", type=int, default=20, help="inserts per format (default: %(default)s)")
    parser.add_argument("--parts", type=int, default=300, help="inserts per merge run (default: %(default)s)")
    parser.add_argument("--pace", type=float, default=0.15, help="seconds between inserts (default: %(default)s)")
    args = parser.parse_args()

    pool = build_pool(batches=_REQUESTS_PER_INSERT, spans_per_batch=512, seed=SEED, now_ns=time.time_ns())
    mapper = SpanMapper(MappingPolicy(), PriceTable.default())
    sends = iter(range(1 << 30))

    def body() -> tuple[bytes, int]:
        """One group commit of fresh spans as ingest inserts it."""
        number = next(sends)
        blocks = [mapper.map(ExportTraceServiceRequest.FromString(t.stamp(number))).block for t in pool]
        return spans_insert_body(blocks), sum(len(block) for block in blocks)

    with tempfile.TemporaryDirectory(prefix="agentslo-writes-") as directory:
        storage = Storage(ChdbBackend(Path(directory), "writes"), database="writes", description="bench")
        try:
            _formats(storage, body, args.inserts)
            _merges(storage, body, args.parts, args.pace)
        finally:
            storage.close()


def _formats(storage: Storage, body, inserts: int) -> None:
    migrate(storage)
    storage.command(f"SYSTEM STOP MERGES {TRACES}")
    arrow, spans = body()
    storage.insert_arrow_stream(TRACES, arrow)
    backend = storage._backend  # the raw insert: this measures formats, which Storage does not offer
    samples = {fmt: backend.query(f"SELECT * FROM {TRACES}", {}, fmt) for fmt in ("JSONEachRow", "Native")}
    samples["ArrowStream"] = arrow
    print(f"insert CPU per span, {inserts} inserts of {spans:,} spans each, merges stopped:")
    for fmt, data in samples.items():
        started = time.process_time()
        for _ in range(inserts):
            backend.insert(TRACES, data, fmt, None)
        print(f"  {fmt:<12} {(time.process_time() - started) / (inserts * spans) * 1e6:6.1f} µs")
    storage.command(f"DROP TABLE {TRACES}")
    storage.command(f"DROP TABLE {MIGRATIONS}")


def _merges(storage: Storage, body, parts: int, pace: float) -> None:
    print(f"merges, {parts} inserts one per {pace:g} s plus the insert, merges running:")
    for label, settings in (("as migrated now", None), ("as migration 1 left it", _V1_MERGE_SETTINGS)):
        migrate(storage)
        if settings:
            storage.command(f"ALTER TABLE {TRACES} MODIFY SETTING {settings}")
        bodies = [body() for _ in range(parts)]
        merged_before = _merge_cpu_s()
        for data, _ in bodies:
            storage.insert_arrow_stream(TRACES, data)
            time.sleep(pace)
        merge_cpu = _merge_cpu_s() - merged_before
        inserted = sum(spans for _, spans in bodies)
        rewritten, active, stored, raw = storage.query(
            "SELECT sumIf(rows, level > 0), countIf(active), sumIf(bytes_on_disk, active), "
            "sumIf(data_uncompressed_bytes, active) FROM system.parts "
            "WHERE database = currentDatabase() AND table = {t:String}", {"t": TRACES},
        ).rows[0]
        print(f"  {label:<24} merge CPU {merge_cpu / inserted * 1e6:5.1f} µs per span, "
              f"rewrites {rewritten / inserted:.2f}, active parts {active}, "
              f"{stored / inserted:.0f} bytes per span on disk ({raw / inserted:.0f} uncompressed)")
        if settings is None:
            _storage(storage, inserted)
        storage.command(f"DROP TABLE {TRACES} SYNC")
        storage.command(f"DROP TABLE {MIGRATIONS}")


# The workload's ids differ only in the 4 bytes stamped from a counter, which compress to almost
# nothing; real trace and span ids are random. The same spans, each id replaced by a hash of it
# (a trace's spans still share their trace id, a child names its parent):
_RANDOM_IDS = f"""
INSERT INTO {TRACES}_random_ids
SELECT * REPLACE (lower(hex(MD5(TraceId))) AS TraceId, substring(lower(hex(MD5(SpanId))), 1, 16) AS SpanId,
                  if(ParentSpanId = '', '', substring(lower(hex(MD5(ParentSpanId))), 1, 16)) AS ParentSpanId)
FROM {TRACES}"""


def _storage(storage: Storage, inserted: int) -> None:
    """Bytes per span on disk once merged into one part per partition, with the workload's ids and random ids."""
    storage.command(f"CREATE TABLE {TRACES}_random_ids AS {TRACES}")
    storage.command(_RANDOM_IDS)
    sizes = []
    for table in (TRACES, f"{TRACES}_random_ids"):
        storage.command(f"OPTIMIZE TABLE {table} FINAL")
        sizes.append(storage.query("SELECT sum(bytes_on_disk) FROM system.parts WHERE database = currentDatabase() "
                                   "AND table = {t:String} AND active", {"t": table}).scalar())
    print(f"  {'merged (OPTIMIZE FINAL)':<24} {sizes[0] / inserted:.0f} bytes per span on disk, "
          f"{sizes[1] / inserted:.0f} with random trace and span ids")
    storage.command(f"DROP TABLE {TRACES}_random_ids SYNC")


def _merge_cpu_s() -> float:
    """CPU seconds of this process's ClickHouse merge threads so far."""
    ticks = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        if stat[stat.index("(") + 1:stat.rindex(")")].startswith("MergeMutate"):
            fields = stat[stat.rindex(")") + 2:].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
