"""stored_span_keys: what a restarted writer remembers is read back from otel_traces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from collector import stored_span_keys
from ground.storage import TRACES, Storage, migrate


def store(storage: Storage, spans: list[tuple[str, str, timedelta]]) -> None:
    """Rows of otel_traces with these trace and span ids, stored that long ago."""
    now = datetime.now(UTC)
    storage.insert_json_rows(TRACES, b"\n".join(orjson.dumps({
        "Timestamp": "2026-01-01 00:00:00", "TraceId": trace_id, "SpanId": span_id,
        "InsertedAt": (now - ago).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
    }) for trace_id, span_id, ago in spans))


def key(trace_byte: int, span_byte: int) -> bytes:
    return bytes([trace_byte]) * 16 + bytes([span_byte]) * 8


def test_the_newest_spans_stored_within_the_horizon_are_read_back_oldest_first(storage: Storage) -> None:
    migrate(storage)
    store(storage, [
        ("01" * 16, "0a" * 8, timedelta(minutes=20)),  # before the horizon
        ("02" * 16, "0b" * 8, timedelta(minutes=3)),
        ("03" * 16, "0c" * 8, timedelta(minutes=2)),
        ("04" * 16, "0d" * 8, timedelta(minutes=1)),
        ("not-hex-but-thirty-two-chars-ok!", "0e" * 8, timedelta(seconds=30)),  # another pipeline's row
        ("05" * 8, "0f" * 8, timedelta(seconds=10)),  # a 64-bit trace id: no span key of ours
    ])
    assert stored_span_keys(storage, limit=10, within=timedelta(minutes=15)) == [
        key(2, 0x0b), key(3, 0x0c), key(4, 0x0d)]
    # The newest four rows: the two of other pipelines among them give no key.
    assert stored_span_keys(storage, limit=4, within=timedelta(minutes=15)) == [key(3, 0x0c), key(4, 0x0d)]
    assert stored_span_keys(storage, limit=10, within=timedelta(minutes=30))[0] == key(1, 0x0a)


def test_no_span_stored_within_the_horizon_gives_no_keys(storage: Storage) -> None:
    migrate(storage)
    assert stored_span_keys(storage, limit=10) == []
    store(storage, [("01" * 16, "0a" * 8, timedelta(minutes=16))])
    assert stored_span_keys(storage, limit=10) == []
