"""otel_traces rows as Arrow columns: what mapping hands to the writer, and the insert body.

ClickHouse builds its columns row by row from any row format (JSONEachRow,
RowBinary), but takes columnar ArrowStream at about half the CPU per span
(bench/README.md has the figures). The compiled mapper writes the columns of SCHEMA
straight into Arrow buffers (collector._builders). Each mapped request becomes
one Arrow IPC record-batch message; a group commit is the schema message, the
messages of its requests and the end-of-stream marker, concatenated: an
ArrowStream body with no re-encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

_TIMESTAMP = pa.timestamp("ns", tz="UTC")
_STRING = pa.string()
_MAP = pa.map_(_STRING, pa.field("value", _STRING, nullable=False))


def _list(item: pa.DataType) -> pa.DataType:
    return pa.list_(pa.field("item", item, nullable=False))


# The columns of one span. Types are the ones ClickHouse itself exports for
# otel_traces as ArrowStream (LowCardinality columns as plain strings); ClickHouse
# matches the columns by name.
ROW_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("Timestamp", _TIMESTAMP),
    ("TraceId", _STRING),
    ("SpanId", _STRING),
    ("ParentSpanId", _STRING),
    ("TraceState", _STRING),
    ("SpanName", _STRING),
    ("SpanKind", _STRING),
    ("ServiceName", _STRING),
    ("ResourceAttributes", _MAP),
    ("ScopeName", _STRING),
    ("ScopeVersion", _STRING),
    ("SpanAttributes", _MAP),
    ("Duration", pa.uint64()),
    ("StatusCode", _STRING),
    ("StatusMessage", _STRING),
    ("GenAiOperation", _STRING),
    ("GenAiProvider", _STRING),
    ("RequestModel", _STRING),
    ("ResponseModel", _STRING),
    ("InputTokens", pa.uint64()),
    ("OutputTokens", pa.uint64()),
    ("CacheReadTokens", pa.uint64()),
    ("CacheWriteTokens", pa.uint64()),
    ("CostUsd", pa.float64()),
    ("CostSource", _STRING),
    ("ErrorType", _STRING),
    ("UserId", _STRING),
    ("Tenant", _STRING),
    ("AgentName", _STRING),
    ("TaskType", _STRING),
    ("Feature", _STRING),
    ("FallbackSource", _STRING),
    ("Degraded", pa.uint8()),
)
# A span's events and links, one list per column.
EVENT_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("Events.Timestamp", _list(_TIMESTAMP)),
    ("Events.Name", _list(_STRING)),
    ("Events.Attributes", _list(_MAP)),
)
LINK_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("Links.TraceId", _list(_STRING)),
    ("Links.SpanId", _list(_STRING)),
    ("Links.TraceState", _list(_STRING)),
    ("Links.Attributes", _list(_MAP)),
)
SCHEMA = pa.schema([pa.field(name, kind, nullable=False) for name, kind in ROW_COLUMNS + EVENT_COLUMNS + LINK_COLUMNS])
# CostSource values: the span's own reported cost, our price table's, or a model call we have no price for.
COST_REPORTED = "reported"
COST_PRICED = "priced"
COST_UNPRICED = "unpriced"
# The largest nanosecond time a DateTime64(9) (and an Arrow timestamp[ns]) holds: 2262-04-11.
MAX_TIME_NS = (1 << 63) - 1

_TENANT = SCHEMA.get_field_index("Tenant")
_SCHEMA_MESSAGE = SCHEMA.serialize().to_pybytes()
_END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"


@dataclass(frozen=True)
class SpanBlock:
    """Rows of otel_traces as one Arrow IPC record-batch message (SCHEMA)."""

    message: bytes
    rows: int

    @classmethod
    def of(cls, batch: pa.RecordBatch) -> SpanBlock:
        """The block holding `batch`'s rows (of SCHEMA)."""
        return cls(batch.serialize().to_pybytes(), batch.num_rows)

    def __len__(self) -> int:
        return self.rows

    def select(self, keep: Sequence[bool]) -> SpanBlock:
        """The rows whose `keep` is true, in order."""
        batch = pa.ipc.read_record_batch(pa.py_buffer(self.message), SCHEMA)
        return SpanBlock.of(batch.filter(_mask(keep)))

    def to_table(self) -> pa.Table:
        """The rows as a pyarrow Table (for tests and tools)."""
        return pa.Table.from_batches([pa.ipc.read_record_batch(pa.py_buffer(self.message), SCHEMA)])


def with_tenant(batch: pa.RecordBatch, tenant: str) -> pa.RecordBatch:
    """`batch` (of SCHEMA) with `tenant` in the Tenant column of every row.

    One constant column, repeated from a one-value array built from its buffers: not
    pa.scalar(tenant), which converts a Python object and so makes pyarrow import pandas.
    """
    data = tenant.encode()
    offsets = pa.py_buffer(b"\x00\x00\x00\x00" + len(data).to_bytes(4, "little"))
    value = pa.Array.from_buffers(_STRING, 1, [None, offsets, pa.py_buffer(data)])[0]
    return batch.set_column(_TENANT, SCHEMA.field(_TENANT), pa.repeat(value, batch.num_rows))


def insert_body(blocks: Sequence[SpanBlock]) -> bytes:
    """One ArrowStream body holding every row of `blocks`: what `INSERT ... FORMAT ArrowStream` takes."""
    return b"".join((_SCHEMA_MESSAGE, *(block.message for block in blocks), _END_OF_STREAM))


def _mask(keep: Sequence[bool]) -> pa.Array:
    """A boolean array from its bits. Not pa.array(keep): converting Python objects makes
    pyarrow import pandas (~50 MiB), and this runs in the serving process."""
    bits = bytearray((len(keep) + 7) // 8)
    for index, kept in enumerate(keep):
        if kept:
            bits[index >> 3] |= 1 << (index & 7)
    return pa.Array.from_buffers(pa.bool_(), len(keep), [None, pa.py_buffer(bytes(bits))])
