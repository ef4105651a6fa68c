"""API keys on a running service: who may write spans (stamped with the key's tenant), read and evaluate.

One service for the module, configured with keys from a file of digests and from the environment.
Spans are written with the OpenTelemetry SDK's own exporters, over OTLP/HTTP and OTLP/gRPC.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentslo.config import load_config
from ground.storage import Storage, open_storage
from tests.collector.otlp_requests import agent_request
from tests.conftest import SERVER_ENV, storage_spec
from tests.support.service import ServiceThread

ACME = "acme-ingest-key-0000000000000001"
GLOBEX = "globex-ingest-key-000000000000002"
READER = "ops-read-key-00000000000000000003"
ADMIN = "ops-admin-key-0000000000000000004"  # from the environment; the others from the keys file
ADMIN_ENV = "TEST_AGENTSLO_ADMIN_KEY"
PROTOBUF = {"content-type": "application/x-protobuf"}
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
UNAUTHORIZED = 'Bearer realm="agentslo"'


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, chdb_dir: Path) -> Iterator[ServiceThread]:
    directory = tmp_path_factory.mktemp("keys")
    (directory / "keys").write_text(f"""# sha256 of the key, tenant, scope
{digest(ACME)} acme ingest
{digest(GLOBEX)} globex ingest   # a second tenant
{digest(READER)} ops read
""")
    (directory / "agentslo.yaml").write_text(f"""
auth:
  keys_file: {directory / "keys"}
  keys:
    - {{key_env: {ADMIN_ENV}, tenant: ops, scope: admin}}
slos:
  - {{name: triage, objective: 99, window: 7d, sli: {{kind: availability, over: tasks}}}}
""")
    spec = storage_spec("embedded", f"keys_{uuid.uuid4().hex[:10]}", None, chdb_dir)
    config = load_config(directory / "agentslo.yaml", env={}).model_copy(update={"storage": spec})
    with pytest.MonkeyPatch.context() as env:
        env.setenv(ADMIN_ENV, ADMIN)
        running = ServiceThread(config, open_storage(spec, env=SERVER_ENV), api_key=READER)
    yield running.start()
    running.stop()


@pytest.fixture(scope="module")
def reader(service: ServiceThread) -> Iterator[Storage]:
    storage = open_storage(service.config.storage, env=SERVER_ENV)
    yield storage
    storage.close()


def failures(service: ServiceThread) -> dict[str, float]:
    """agentslo_auth_failures_total by reason."""
    return {reason: float(value) for reason, value in
            re.findall(r'^agentslo_auth_failures_total\{reason="(\w+)"\} (\S+)$', service.metrics, re.MULTILINE)}


def agent_spans(service_name: str) -> list[ReadableSpan]:
    """Two spans of an agent run whose resource and spans claim tenant globex."""
    collected = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name, "agentslo.tenant": "globex"}))
    provider.add_span_processor(SimpleSpanProcessor(collected))
    tracer = provider.get_tracer("agent")
    with tracer.start_as_current_span("invoke_agent triage", attributes={
            "gen_ai.operation.name": "invoke_agent", "tenant.id": "globex"}):
        with tracer.start_as_current_span("chat gpt-4o", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "agentslo.tenant": "globex"}):
            pass
    provider.shutdown()
    return list(collected.get_finished_spans())


def exporter(protocol: str, service: ServiceThread, headers: dict[str, str]) -> SpanExporter:
    """The SDK's exporter of `protocol`, sending `headers` (HTTP headers or gRPC metadata)."""
    if protocol == "http":
        return HttpExporter(endpoint=service.http_url + "/v1/traces", headers=headers, timeout=5)
    return GrpcExporter(endpoint=service.grpc_endpoint, insecure=True, headers=tuple(headers.items()), timeout=5)


def stored_tenants(reader: Storage, service_name: str) -> list[tuple[str, str, str]]:
    return [tuple(row) for row in reader.query(
        "SELECT SpanName, Tenant, ResourceAttributes['agentslo.tenant'] FROM otel_traces "
        "WHERE ServiceName = {service:String} ORDER BY SpanName", {"service": service_name}).rows]


@pytest.mark.parametrize(("headers", "reason", "message"), [
    pytest.param({}, "missing", "no API key: send Authorization: Bearer <key> or x-api-key: <key>",
                 id="no key"),
    pytest.param({"authorization": "Basic YWNtZTpzZWNyZXQ="}, "malformed",
                 "malformed Authorization header: expected Bearer <key>", id="a key that is not a Bearer token"),
    pytest.param({"authorization": "Bearer acme-ingest-key-0000000000000009"}, "unknown", "unknown API key",
                 id="a key nobody configured"),
    pytest.param({"x-api-key": ACME[:-1]}, "unknown", "unknown API key", id="a configured key but one character"),
])
def test_otlp_http_without_a_valid_key_is_refused_401_and_counted(
        service: ServiceThread, headers: dict[str, str], reason: str, message: str) -> None:
    before = failures(service)
    response = httpx.post(service.http_url + "/v1/traces", content=agent_request().SerializeToString(),
                          headers={**PROTOBUF, **headers})
    assert (response.status_code, response.headers["www-authenticate"]) == (401, UNAUTHORIZED)
    assert status_pb2.Status.FromString(response.content) == status_pb2.Status(code=16, message=message)
    after = failures(service)
    assert {r: after[r] - before[r] for r in after} == {"missing": 0, "malformed": 0, "unknown": 0, "scope": 0,
                                                        reason: 1}


@pytest.mark.parametrize(("metadata", "code", "message"), [
    pytest.param((), grpc.StatusCode.UNAUTHENTICATED,
                 "no API key: send Authorization: Bearer <key> or x-api-key: <key>", id="no key"),
    pytest.param((("x-api-key", "nobody-has-this-key-0000"),), grpc.StatusCode.UNAUTHENTICATED, "unknown API key",
                 id="a key nobody configured"),
    pytest.param((("authorization", f"Bearer {READER}"),), grpc.StatusCode.PERMISSION_DENIED,
                 "this API key's scope is read; this needs a key of scope ingest", id="a read key"),
])
def test_otlp_grpc_without_an_ingest_key_is_refused(service: ServiceThread, metadata: tuple[tuple[str, str], ...],
                                                    code: grpc.StatusCode, message: str) -> None:
    with grpc.insecure_channel(service.grpc_endpoint) as channel, pytest.raises(grpc.RpcError) as refused:
        channel.unary_unary(EXPORT)(agent_request().SerializeToString(), metadata=metadata, timeout=30)
    assert (refused.value.code(), refused.value.details()) == (code, message)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_the_sdk_exporters_store_nothing_without_an_ingest_key(service: ServiceThread, reader: Storage,
                                                              protocol: str) -> None:
    name = f"keyless-{protocol}-{uuid.uuid4().hex[:6]}"
    spans = agent_spans(name)
    for headers in ({}, {"x-api-key": "nobody-has-this-key-0000"}, {"authorization": f"Bearer {READER}"},
                    {"authorization": f"Bearer {ADMIN}"}):
        assert exporter(protocol, service, headers).export(spans) is SpanExportResult.FAILURE, headers
    assert stored_tenants(reader, name) == []


@pytest.mark.parametrize("protocol", ["http", "grpc"])
@pytest.mark.parametrize(("headers", "tenant"), [
    pytest.param({"authorization": f"Bearer {ACME}"}, "acme", id="acme's key as a Bearer token"),
    pytest.param({"x-api-key": GLOBEX}, "globex", id="globex's key as x-api-key"),
])
def test_an_ingest_key_stamps_its_tenant_on_every_span_whatever_the_spans_claim(
        service: ServiceThread, reader: Storage, protocol: str, headers: dict[str, str], tenant: str) -> None:
    name = f"stamped-{protocol}-{uuid.uuid4().hex[:6]}"
    assert exporter(protocol, service, headers).export(agent_spans(name)) is SpanExportResult.SUCCESS
    # The Tenant column is the key's; what the resource claimed stays in its attributes, as sent.
    assert stored_tenants(reader, name) == [("chat gpt-4o", tenant, "globex"),
                                            ("invoke_agent triage", tenant, "globex")]


OPEN = 200
PROBES = [("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/docs"), ("GET", "/openapi.json")]
READS = [("GET", "/api/v1/slos"), ("GET", "/api/v1/slos/triage"), ("GET", "/api/v1/budgets"),
         ("GET", "/api/v1/alerts"), ("GET", "/api/v1/evaluation"), ("GET", "/metrics")]
EVALUATE = ("POST", "/api/v1/evaluate")


@pytest.mark.parametrize(("request_line", "key", "status"), [
    *[pytest.param(line, None, OPEN, id=f"{line[1]} stays open") for line in PROBES],
    *[pytest.param(line, None, 401, id=f"{line[1]} needs a key") for line in READS],
    *[pytest.param(line, ACME, 403, id=f"{line[1]} refuses an ingest key") for line in READS],
    *[pytest.param(line, READER, 200, id=f"{line[1]} takes a read key") for line in READS],
    *[pytest.param(line, ADMIN, 200, id=f"{line[1]} takes an admin key") for line in READS],
    pytest.param(EVALUATE, None, 401, id="evaluate needs a key"),
    pytest.param(EVALUATE, ACME, 403, id="evaluate refuses an ingest key"),
    pytest.param(EVALUATE, READER, 403, id="evaluate refuses a read key"),
    pytest.param(EVALUATE, ADMIN, 200, id="evaluate takes an admin key"),
])
def test_reads_need_a_read_key_and_evaluate_an_admin_key(
        service: ServiceThread, request_line: tuple[str, str], key: str | None, status: int) -> None:
    method, path = request_line
    headers = {} if key is None else {"authorization": f"Bearer {key}"}
    response = httpx.request(method, service.http_url + path, headers=headers, timeout=60)
    assert response.status_code == status, response.text
    if status == 401:
        assert response.headers["www-authenticate"] == UNAUTHORIZED
        assert response.json() == {"detail": "no API key: send Authorization: Bearer <key> or x-api-key: <key>"}
    if status == 403:
        scope = "ingest" if key == ACME else "read"
        needed = "admin" if request_line == EVALUATE else "read"
        assert response.json() == {"detail": f"this API key's scope is {scope}; this needs a key of scope {needed}"}


def test_the_api_description_offers_both_ways_of_sending_a_key(service: ServiceThread) -> None:
    schemes = httpx.get(service.http_url + "/openapi.json").json()["components"]["securitySchemes"]
    assert {(s["type"], s["in"], s["name"]) for s in schemes.values()} == {
        ("apiKey", "header", "authorization"), ("apiKey", "header", "x-api-key")}


def test_evaluate_refuses_a_form_even_from_an_admin(service: ServiceThread) -> None:
    response = httpx.post(service.http_url + "/api/v1/evaluate", data={"at": "x"},
                          headers={"authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 415


AGENTSLO = str(Path(sys.executable).parent / "agentslo")


def test_status_sends_the_api_key_from_its_flag_or_the_environment(service: ServiceThread) -> None:
    env = {name: value for name, value in os.environ.items() if name != "AGENTSLO_API_KEY"}

    def status(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([AGENTSLO, "status", "--url", service.http_url, "--json", *args], capture_output=True,
                              text=True, timeout=120, env={**env, **extra_env})

    flag = status("--api-key", READER)
    assert flag.returncode == 0, flag.stderr
    assert '"name": "triage"' in flag.stdout
    assert status(AGENTSLO_API_KEY=READER).returncode == 0
    refused = status()
    assert (refused.returncode, refused.stderr) == (1, f"Error: {service.http_url} answered 401: no API key: send "
                                                       "Authorization: Bearer <key> or x-api-key: <key>; pass "
                                                       "--api-key (or set AGENTSLO_API_KEY) with a read key\n")


@pytest.mark.parametrize(("path", "headers", "status"), [
    pytest.param("/", {}, 401, id="a page without a key: the browser is asked for one"),
    pytest.param("/tasks", {"authorization": "Basic " + base64.b64encode(f"ops:{READER}".encode()).decode()}, 200,
                 id="a page with a read key as the Basic password"),
    pytest.param("/spend", {"authorization": f"Bearer {READER}"}, 200, id="a page with a read key as a header"),
    pytest.param("/", {"authorization": "Basic " + base64.b64encode(f"agent:{ACME}".encode()).decode()}, 403,
                 id="a page with an ingest key"),
    pytest.param("/api/v1/tasks", {}, 401, id="the console's JSON without a key"),
    pytest.param("/api/v1/tasks", {"authorization": f"Bearer {READER}"}, 200, id="the console's JSON with a read key"),
    pytest.param("/assets/console/console.css", {}, 200, id="the console's assets: no data, open"),
    pytest.param("/docs", {}, 200, id="the API's docs: open"),
])
def test_the_console_needs_a_read_key_which_a_browser_sends_as_a_basic_password(
        service: ServiceThread, path: str, headers: dict[str, str], status: int) -> None:
    response = httpx.get(service.http_url + path, headers=headers, timeout=60)
    assert response.status_code == status, response.text
    if status == 401 and not path.startswith("/api"):
        assert response.headers["www-authenticate"] == (
            'Basic realm="agentslo: an API key of scope read as the password", charset="UTF-8"')
