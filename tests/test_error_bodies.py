"""5xx answers say what failed in our words: the storage driver's, which name hosts, ports and settings,
stay in the log."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from agentslo.config import Config, IngestSpec
from ground.storage import open_storage
from tests.collector.otlp_requests import agent_request
from tests.conftest import SERVER_ENV, storage_spec
from tests.support.clickhouse_http import ClickHouseHttpServer
from tests.support.service import ServiceThread

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
UNAVAILABLE = "spans not stored, retry later: storage unavailable"


@pytest.fixture
def service(clickhouse_server: ClickHouseHttpServer, chdb_dir: Path) -> Iterator[ServiceThread]:
    """A service on the ClickHouse server: what has a host, a port and connection settings to leak."""
    spec = storage_spec("server", f"errors_{uuid.uuid4().hex[:10]}", clickhouse_server, chdb_dir)
    started = ServiceThread(Config(storage=spec, ingest=IngestSpec(workers=0)), open_storage(spec, env=SERVER_ENV))
    yield started.start()
    started.stop()


def test_answers_while_clickhouse_is_down_name_no_host_and_the_log_keeps_the_detail(
        service: ServiceThread, clickhouse_server: ClickHouseHttpServer, caplog: pytest.LogCaptureFixture) -> None:
    body = agent_request().SerializeToString()
    clickhouse_server.set_unavailable(True)
    try:
        with caplog.at_level(logging.WARNING):
            ingest = httpx.post(service.http_url + "/v1/traces", content=body,
                                headers={"content-type": "application/x-protobuf"}, timeout=60)
            with grpc.insecure_channel(service.grpc_endpoint) as channel, pytest.raises(grpc.RpcError) as refused:
                channel.unary_unary(EXPORT, request_serializer=None,
                                    response_deserializer=ExportTraceServiceResponse.FromString)(body, timeout=60)
            ready = httpx.get(service.http_url + "/readyz", timeout=60)
            alerts = httpx.get(service.http_url + "/api/v1/alerts", timeout=60)
            evaluate = httpx.post(service.http_url + "/api/v1/evaluate", timeout=60)
    finally:
        clickhouse_server.set_unavailable(False)

    assert (ingest.status_code, status_pb2.Status.FromString(ingest.content).message) == (503, UNAVAILABLE)
    assert (refused.value.code(), refused.value.details()) == (grpc.StatusCode.UNAVAILABLE, UNAVAILABLE)
    assert (ready.status_code, ready.json()["status"], ready.json()["detail"]) == (
        503, "not ready", "storage unavailable")
    assert (alerts.status_code, alerts.json()) == (503, {"detail": "alert state unavailable: storage unavailable"})
    assert (evaluate.status_code, evaluate.json()) == (503, {"detail": "evaluation failed: storage unavailable, retry later"})
    assert evaluate.headers["Retry-After"] == "5"
    assert f"127.0.0.1:{clickhouse_server.port}" in caplog.text
