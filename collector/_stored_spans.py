"""The keys of the spans stored last, read back from otel_traces: what a restarted writer remembers.

The writer drops spans an exporter sends again by remembering the keys it stored
(collector._writer.RecentSpans), in memory. A process killed after an insert and
before its answer leaves an exporter that retries a request whose spans are stored
already; read back at start-up, the keys of the last inserts make the restarted
process drop them as the old one would have.
"""

from __future__ import annotations

from datetime import timedelta

from ground.storage import TRACES, Storage

# How far back a re-sent request's spans may have been stored. An exporter retries a
# request for a bounded time from its first attempt: the OpenTelemetry Collector's
# exporters 5 minutes (exporterhelper retry_on_failure.max_elapsed_time: 300 s), the
# SDKs' OTLP exporters about a minute or less. Three times the longest, for exporters
# configured to try longer.
RESEND_HORIZON = timedelta(minutes=15)
# A span's key: its 16-byte trace id, then its 8-byte span id (collector._rows).
_KEY_BYTES = 24

# Newest first, by the server's clock at insert (InsertedAt, whose minmax index skips older
# granules). The subquery finds when the newest `limit` spans began from InsertedAt alone, so
# that trace and span ids are read for those spans only: after 2.2M spans in 30 s of
# bench/ingest, the query took 0.16-0.18 s of CPU for 500,000 keys instead of 0.25-0.27
# (stored_span_keys in all: 0.5-0.6 s, most of it decoding the answer).
_RECENT = "InsertedAt >= now64(3) - toIntervalMillisecond({within_ms:UInt64})"
_SQL = f"""
SELECT concat(TraceId, SpanId)
FROM {TRACES}
WHERE {_RECENT}
  AND InsertedAt >= (SELECT min(InsertedAt) FROM (
        SELECT InsertedAt FROM {TRACES} WHERE {_RECENT} ORDER BY InsertedAt DESC LIMIT {{limit:UInt64}}))
ORDER BY InsertedAt DESC
LIMIT {{limit:UInt64}}
"""


def stored_span_keys(storage: Storage, *, limit: int, within: timedelta = RESEND_HORIZON) -> list[bytes]:
    """The keys (trace id + span id, as the mapper makes them) of the newest `limit` spans stored
    within `within`, oldest first."""
    rows = storage.query(_SQL, {"within_ms": int(within.total_seconds() * 1000), "limit": limit}).rows
    keys: list[bytes] = []
    for (ids,) in reversed(rows):
        try:
            key = bytes.fromhex(ids)
        except ValueError:  # not hex: a row another pipeline wrote, which no span of ours matches
            continue
        if len(key) == _KEY_BYTES:
            keys.append(key)
    return keys
