"""Ingest: decoded export requests -> mapped rows -> durable writes, with metrics.

Both receivers (OTLP/HTTP and OTLP/gRPC) hand requests here, so they share
one mapping, one writer and one set of counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from collector._mapping import MappedBatch
from collector._workers import MappingPool
from collector._writer import BatchWriter
from ground.errors import Overloaded, StorageError, StorageUnavailable


class IngestMetrics:
    """Ingest counters in the service's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "agentslo_ingest_requests", "OTLP export requests by protocol and outcome "
            "(ok, partial, invalid, unavailable, failed).", ["protocol", "outcome"], registry=registry,
        )
        self.spans = Counter(
            "agentslo_ingest_spans", "Spans by protocol and outcome: stored, duplicate (already stored, "
            "dropped), rejected (invalid, reported as partial success), refused (not stored, client retries).",
            ["protocol", "outcome"], registry=registry,
        )
        self.unpriced = Counter(
            "agentslo_ingest_unpriced_spans", "Model-call spans stored with cost 0 because their model "
            "has no price.", ["model"], registry=registry,
        )
        self.truncated = Counter(
            "agentslo_ingest_truncated_values", "Attribute values, span names and event names cut to "
            "ingest.max_attribute_length.",
            registry=registry,
        )
        self.insert_seconds = Histogram(
            "agentslo_ingest_insert_seconds", "Duration of one grouped insert into otel_traces.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=registry,
        )
        self.insert_rows = Histogram(
            "agentslo_ingest_insert_rows", "Spans per grouped insert.",
            buckets=(1, 10, 100, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000), registry=registry,
        )
        self.pending = Gauge(
            "agentslo_ingest_pending_spans", "Spans accepted and waiting for their insert.", registry=registry,
        )

    def observe_insert(self, rows: int, seconds: float) -> None:
        self.insert_rows.observe(rows)
        self.insert_seconds.observe(seconds)


def retry_reason(exc: StorageUnavailable | Overloaded) -> str:
    """Why spans were refused, fit for a client: ingest's own words, never the storage driver's,
    whose messages name hosts, ports and settings (the writer logs them)."""
    return "storage unavailable" if isinstance(exc, StorageUnavailable) else str(exc)


class Ingest:
    """Maps and stores export requests; returns the mapped batch for partial-success answers."""

    def __init__(self, mapping: MappingPool, writer: BatchWriter, metrics: IngestMetrics) -> None:
        self.mapping = mapping
        self.writer = writer
        self.metrics = metrics
        metrics.pending.set_function(lambda: writer.pending_rows)

    async def export_http(self, body: bytes, content_type: str, encoding: str | None, *,
                          tenant: str | None = None) -> MappedBatch:
        """Decode, map and store one OTLP/HTTP body; raises OtlpError for a bad body.

        `tenant` (an API key's) replaces every span's own in the Tenant column.
        """
        with self.writer.incoming():
            batch = await self.mapping.map_http(body, content_type, encoding, tenant)
        return await self._store(batch, "http")

    async def export_protobuf(self, body: bytes, protocol: str, *, tenant: str | None = None) -> MappedBatch:
        """Decode, map and store one serialized ExportTraceServiceRequest, stamped with `tenant` if given."""
        with self.writer.incoming():
            batch = await self.mapping.map_protobuf(body, tenant)
        return await self._store(batch, protocol)

    async def _store(self, batch: MappedBatch, protocol: str) -> MappedBatch:
        spans = self.metrics.spans
        try:
            stored = await self.writer.write(batch.block, batch.span_keys) if batch.block is not None else 0
        except (StorageUnavailable, Overloaded):
            spans.labels(protocol, "refused").inc(batch.accepted)
            self.metrics.requests.labels(protocol, "unavailable").inc()
            raise
        except StorageError:
            spans.labels(protocol, "refused").inc(batch.accepted)
            self.metrics.requests.labels(protocol, "failed").inc()
            raise
        spans.labels(protocol, "stored").inc(stored)
        spans.labels(protocol, "duplicate").inc(batch.accepted - stored)
        spans.labels(protocol, "rejected").inc(batch.rejected)
        for model, count in batch.unpriced_models.items():
            self.metrics.unpriced.labels(model).inc(count)
        self.metrics.truncated.inc(batch.truncated_values)
        self.metrics.requests.labels(protocol, "partial" if batch.rejected else "ok").inc()
        return batch
