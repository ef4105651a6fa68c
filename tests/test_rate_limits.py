"""Per-tenant ingest rate limits on a running service: a noisy tenant waits, the others are served.

The service's rate-limit clock is a Ticks the test moves: no sleeping on our side. Spans go through
the OpenTelemetry SDK's own exporters, which retry 429 / RESOURCE_EXHAUSTED after the delay asked.
"""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentslo.config import load_config
from ground.storage import Storage, open_storage
from tests.conftest import SERVER_ENV, storage_spec
from tests.support.clock import Ticks
from tests.support.service import ServiceThread, wait_for

ACME = "acme-ingest-key-0000000000000001"
GLOBEX = "globex-ingest-key-000000000000002"
READER = "ops-read-key-00000000000000000003"
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
# 10 spans/s with a burst of 5: two exports of 3 spans pass (the second overdraws to -1), the third
# waits ceil((1 + 1) / 10) = 1 s.
RATE_LIMIT = "ingest: {workers: 0, rate_limit: {spans_per_s: 10, burst_spans: 5}}"


def start(directory: Path, chdb_dir: Path, config: str, ticks: Ticks, api_key: str | None) -> ServiceThread:
    (directory / "agentslo.yaml").write_text(config)
    spec = storage_spec("embedded", f"rates_{uuid.uuid4().hex[:10]}", None, chdb_dir)
    loaded = load_config(directory / "agentslo.yaml", env={}).model_copy(update={"storage": spec})
    return ServiceThread(loaded, open_storage(spec, env=SERVER_ENV), monotonic=ticks, api_key=api_key).start()


@pytest.fixture(scope="module")
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, chdb_dir: Path, ticks: Ticks) -> Iterator[ServiceThread]:
    directory = tmp_path_factory.mktemp("rates")
    lines = [f"{hashlib.sha256(key.encode()).hexdigest()} {tenant} {scope}"
             for key, tenant, scope in ((ACME, "acme", "ingest"), (GLOBEX, "globex", "ingest"), (READER, "ops", "read"))]
    (directory / "keys").write_text("\n".join(lines) + "\n")
    running = start(directory, chdb_dir, f"{RATE_LIMIT}\nauth: {{keys_file: {directory / 'keys'}}}\n", ticks, READER)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def reader(service: ServiceThread) -> Iterator[Storage]:
    storage = open_storage(service.config.storage, env=SERVER_ENV)
    yield storage
    storage.close()


def three_spans(service_name: str, tenant: str = "") -> list[ReadableSpan]:
    collected = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name, "agentslo.tenant": tenant}))
    provider.add_span_processor(SimpleSpanProcessor(collected))
    tracer = provider.get_tracer("agent")
    with tracer.start_as_current_span("invoke_agent triage"):
        for name in ("chat gpt-4o", "execute_tool lookup"):
            with tracer.start_as_current_span(name):
                pass
    provider.shutdown()
    return list(collected.get_finished_spans())


def exporter(protocol: str, service: ServiceThread, key: str | None, timeout_s: float) -> SpanExporter:
    headers = {} if key is None else {"x-api-key": key}
    if protocol == "http":
        return HttpExporter(endpoint=service.http_url + "/v1/traces", headers=headers, timeout=timeout_s)
    return GrpcExporter(endpoint=service.grpc_endpoint, insecure=True, headers=tuple(headers.items()),
                        timeout=timeout_s)


def refusals(service: ServiceThread) -> dict[str, float]:
    """agentslo_ingest_rate_limited_requests_total by tenant."""
    return {tenant: float(value) for tenant, value in re.findall(
        r'^agentslo_ingest_rate_limited_requests_total\{tenant="([^"]*)"\} (\S+)$', service.metrics, re.MULTILINE)}


def stored(reader: Storage, service_name: str) -> list[tuple[str, int]]:
    return [tuple(row) for row in reader.query(
        "SELECT Tenant, count() FROM otel_traces WHERE ServiceName = {service:String} GROUP BY Tenant ORDER BY Tenant",
        {"service": service_name}).rows]


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_a_noisy_tenant_waits_for_its_bucket_while_another_is_served(
        service: ServiceThread, reader: Storage, ticks: Ticks, protocol: str) -> None:
    ticks.advance(60)  # every bucket full
    name = f"noisy-{protocol}-{uuid.uuid4().hex[:6]}"
    before = refusals(service).get("acme", 0.0)
    # A client that does not wait (its timeout is shorter than the 1 s asked for) gives up at once.
    impatient = exporter(protocol, service, ACME, timeout_s=0.5)
    assert [impatient.export(three_spans(name)) for _ in range(3)] == [
        SpanExportResult.SUCCESS, SpanExportResult.SUCCESS, SpanExportResult.FAILURE]
    assert exporter(protocol, service, GLOBEX, timeout_s=0.5).export(three_spans(name)) is SpanExportResult.SUCCESS
    assert refusals(service)["acme"] - before == 1

    # The SDK's exporter retries after the delay; its retry passes once the bucket has refilled.
    patient = exporter(protocol, service, ACME, timeout_s=20)
    results: list[SpanExportResult] = []
    sending = threading.Thread(target=lambda: results.append(patient.export(three_spans(name))))
    sending.start()
    wait_for(lambda: refusals(service)["acme"] - before == 2)
    ticks.advance(1)
    sending.join(timeout=30)
    assert results == [SpanExportResult.SUCCESS]
    assert stored(reader, name) == [("acme", 9), ("globex", 3)]


def test_over_http_the_answer_is_429_with_retry_after(service: ServiceThread, ticks: Ticks) -> None:
    ticks.advance(60)
    spans = three_spans(f"http-{uuid.uuid4().hex[:6]}")
    exporter("http", service, ACME, timeout_s=0.5).export(spans)
    exporter("http", service, ACME, timeout_s=0.5).export(spans)
    refused = httpx.post(service.http_url + "/v1/traces", content=b"any body: it is not read",
                         headers={"content-type": "application/x-protobuf", "x-api-key": ACME})
    assert (refused.status_code, refused.headers["retry-after"]) == (429, "1")
    assert status_pb2.Status.FromString(refused.content) == status_pb2.Status(
        code=8, message="spans not stored, retry later: tenant acme is over its rate limit: retry after 1 s")


def test_over_grpc_the_answer_is_resource_exhausted_with_retry_info(service: ServiceThread, ticks: Ticks) -> None:
    ticks.advance(60)
    spans = three_spans(f"grpc-{uuid.uuid4().hex[:6]}")
    exporter("grpc", service, GLOBEX, timeout_s=0.5).export(spans)
    exporter("grpc", service, GLOBEX, timeout_s=0.5).export(spans)
    with grpc.insecure_channel(service.grpc_endpoint) as channel, pytest.raises(grpc.RpcError) as refused:
        channel.unary_unary(EXPORT)(b"", metadata=(("x-api-key", GLOBEX),), timeout=30)
    message = "spans not stored, retry later: tenant globex is over its rate limit: retry after 1 s"
    assert (refused.value.code(), refused.value.details()) == (grpc.StatusCode.RESOURCE_EXHAUSTED, message)
    trailers = dict(refused.value.trailing_metadata())
    assert error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"]).retry_delay.seconds == 1
    assert status_pb2.Status.FromString(trailers["grpc-status-details-bin"]).code == 8


def test_without_keys_every_client_shares_one_bucket(tmp_path: Path, chdb_dir: Path) -> None:
    """Without keys nothing says who a client is: a tenant a span claims costs nothing to invent."""
    ticks = Ticks()
    service = start(tmp_path, chdb_dir, RATE_LIMIT, ticks, api_key=None)
    try:
        name = f"open-{uuid.uuid4().hex[:6]}"
        send = exporter("http", service, None, timeout_s=0.5)
        results = [send.export(three_spans(name, tenant)) for tenant in ("acme", "globex", "initech")]
        assert results == [SpanExportResult.SUCCESS, SpanExportResult.SUCCESS, SpanExportResult.FAILURE]
        assert refusals(service) == {"": 1.0}
    finally:
        service.stop()
