"""Export request -> rows: the pure core of ingest.

Turns a decoded OTLP `ExportTraceServiceRequest` into `otel_traces` rows,
as Arrow columns (collector._columns), with the OpenTelemetry Collector ClickHouse
exporter's column values (SpanKind `Client`, StatusCode `Error`, attribute
values as strings) plus the typed LLM columns and the cost.

This runs once per span at tens of thousands of spans per second: the per-span
work is compiled (collector._rows reads the request's wire format); this module
holds the policy, the result and the one entry point.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector._attributes import DimensionAliases
from collector._columns import SpanBlock, with_tenant
from collector._pricing import PriceTable
from collector._rows import RowMapper

_MAX_ERRORS_REPORTED = 5


@dataclass(frozen=True)
class MappingPolicy:
    """What ingest keeps: dimension attribute names, content capture, value size limit."""

    dimensions: DimensionAliases = DimensionAliases()
    capture_content: bool = False
    max_attribute_length: int = 8192


@dataclass
class MappedBatch:
    """The rows of one export request and what was refused or left unpriced."""

    block: SpanBlock | None = None  # None when no span was accepted
    span_keys: list[bytes] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    unpriced_models: Counter[str] = field(default_factory=Counter)
    truncated_values: int = 0  # attribute values, span names and event names cut to the limit

    @property
    def accepted(self) -> int:
        return len(self.span_keys)

    def reject(self, message: str) -> None:
        self.rejected += 1
        if len(self.errors) < _MAX_ERRORS_REPORTED:
            self.errors.append(message)

    def error_message(self) -> str:
        """One line for OTLP partial success: how many were rejected and the first reasons."""
        if not self.rejected:
            return ""
        more = self.rejected - len(self.errors)
        tail = f" (and {more} more)" if more else ""
        return f"{self.rejected} spans rejected: " + "; ".join(self.errors) + tail


class SpanMapper:
    """Maps export requests to rows under one policy and price table."""

    def __init__(self, policy: MappingPolicy, prices: PriceTable) -> None:
        self._rows = RowMapper(policy, prices)

    def map(self, request: ExportTraceServiceRequest, *, tenant: str | None = None) -> MappedBatch:
        """All rows of `request`; invalid spans are counted and described, not raised.

        `tenant` (the tenant of the API key that sent the request) replaces what each span
        says in the Tenant column: one constant column, set after the compiled mapper.
        """
        batch = MappedBatch()
        # upb's serializer writes a checked request with each field once: what RowMapper reads.
        columns = self._rows.map_request(request.SerializeToString(), batch)
        if columns is not None:
            batch.block = SpanBlock.of(columns if tenant is None else with_tenant(columns, tenant))
        return batch
