"""Ingest: decoded export requests -> mapped rows -> durable writes, with metrics.

Both receivers (OTLP/HTTP and OTLP/gRPC) hand requests here, so they share
one mapping, one writer and one set of counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from collector._mapping import MappedBatch
from collector._rate_limit import TenantRateLimiter
from collector._workers import MappingPool
from collector._writer import BatchWriter
from ground.errors import Overloaded, RateLimited, StorageError, StorageUnavailable


class IngestMetrics:
    """Ingest counters in the service's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "agentslo_ingest_requests", "OTLP export requests by protocol and outcome "
            "(ok, partial, invalid, unavailable, failed, rate_limited).", ["protocol", "outcome"], registry=registry,
        )
        self.rate_limited = Counter(
            "agentslo_ingest_rate_limited_requests", "Export requests refused (429 / RESOURCE_EXHAUSTED, before "
            "their body was decoded) because their tenant was over its rate limit; tenant \"\" without API keys.",
            ["tenant"], registry=registry,
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


def retry_reason(exc: StorageUnavailable | Overloaded | RateLimited) -> str:
    """Why spans were refused, fit for a client: ingest's own words, never the storage driver's,
    whose messages name hosts, ports and settings (the writer logs them)."""
    return "storage unavailable" if isinstance(exc, StorageUnavailable) else str(exc)


class Ingest:
    """Maps and stores export requests; returns the mapped batch for partial-success answers.

    With a `rate_limiter`, the receivers `admit` each request before they decode it, and
    its spans are charged to its tenant (the API key's; None without keys, one shared
    bucket) once mapped.
    """

    def __init__(self, mapping: MappingPool, writer: BatchWriter, metrics: IngestMetrics, *,
                 rate_limiter: TenantRateLimiter | None = None) -> None:
        self.mapping = mapping
        self.writer = writer
        self.metrics = metrics
        self._rate_limiter = rate_limiter
        metrics.pending.set_function(lambda: writer.pending_rows)

    def admit(self, tenant: str | None, protocol: str) -> None:
        """Raise RateLimited (counted) when `tenant` is over its rate limit; nothing without limits."""
        if self._rate_limiter is None:
            return
        try:
            self._rate_limiter.admit(tenant or "")
        except RateLimited as exc:
            self.metrics.requests.labels(protocol, "rate_limited").inc()
            self.metrics.rate_limited.labels(exc.tenant).inc()
            raise

    async def export_http(self, body: bytes, content_type: str, encoding: str | None, *,
                          tenant: str | None = None) -> MappedBatch:
        """Decode, map and store one OTLP/HTTP body; raises OtlpError for a bad body.

        `tenant` (an API key's) replaces every span's own in the Tenant column.
        """
        with self.writer.incoming():
            batch = await self.mapping.map_http(body, content_type, encoding, tenant)
        self._charge(tenant, batch)
        return await self._store(batch, "http")

    async def export_protobuf(self, body: bytes, protocol: str, *, tenant: str | None = None) -> MappedBatch:
        """Decode, map and store one serialized ExportTraceServiceRequest, stamped with `tenant` if given."""
        with self.writer.incoming():
            batch = await self.mapping.map_protobuf(body, tenant)
        self._charge(tenant, batch)
        return await self._store(batch, protocol)

    def _charge(self, tenant: str | None, batch: MappedBatch) -> None:
        if self._rate_limiter is not None:
            self._rate_limiter.charge(tenant or "", batch.accepted)

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
