"""A 2xx means stored: spans acknowledged while storage goes away and comes back are all there, once."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from tests.collector.conftest import StartService
from tests.support.clickhouse_http import ClickHouseHttpServer


@pytest.fixture
def backend() -> str:
    """Only a server can go away: the ClickHouse HTTP endpoint is stopped and restarted."""
    return "server"


class Acknowledged(SpanExporter):
    """Wraps the SDK's exporter and records the spans whose export it reported as a success."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.span_ids: list[str] = []
        self.failed_batches = 0
        self.server_gone = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.server_gone:  # no need to wait out the exporter's retries against a stopped server
            return SpanExportResult.FAILURE
        result = self.inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            self.span_ids.extend(format(span.context.span_id, "016x") for span in spans)
        else:
            self.failed_batches += 1
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_storage_outage_mid_stream_loses_and_duplicates_nothing(
    start_service: StartService, reader, clickhouse_server: ClickHouseHttpServer, protocol: str
) -> None:
    service = start_service()
    inner = (HttpExporter(endpoint=service.http_url + "/v1/traces", timeout=60) if protocol == "http"
             else GrpcExporter(endpoint=service.grpc_endpoint, insecure=True, timeout=60))
    exporter = Acknowledged(inner)
    provider = TracerProvider(resource=Resource.create({"service.name": "durable-agent"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50, max_export_batch_size=64,
                                                   max_queue_size=100_000))
    tracer = provider.get_tracer("test")
    stop_emitting = threading.Event()

    def emit() -> None:
        while not stop_emitting.is_set():
            with tracer.start_as_current_span("chat", attributes={"gen_ai.operation.name": "chat",
                                                                 "gen_ai.request.model": "gpt-4o-mini",
                                                                 "gen_ai.usage.input_tokens": 10}):
                pass
            time.sleep(0.002)

    emitter = threading.Thread(target=emit)
    emitter.start()
    time.sleep(1.0)
    clickhouse_server.stop()  # connections cut, port closed
    try:
        time.sleep(2.0)
    finally:
        clickhouse_server.start()
    time.sleep(1.0)
    stop_emitting.set()
    emitter.join()
    provider.shutdown()  # flushes; the exporter retries what was refused

    stored = reader(service).query(
        "SELECT SpanId, count() FROM otel_traces GROUP BY SpanId"
    ).rows
    counts = dict(stored)
    assert exporter.failed_batches == 0
    assert len(exporter.span_ids) > 500
    assert sorted(counts) == sorted(exporter.span_ids)
    assert set(counts.values()) == {1}
    metrics = service.metrics
    refused = f'agentslo_ingest_spans_total{{outcome="refused",protocol="{protocol}"}}'
    assert refused in metrics and f"{refused} 0.0" not in metrics  # the outage was seen and answered "retry"
