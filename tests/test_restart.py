"""A span stored just before `agentslo serve` is killed (kill -9), then sent again by a retrying
exporter to the restarted service, is stored once and counted once, on both storage backends."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ground.storage import open_storage
from tests.collector.otlp_requests import attr
from tests.conftest import SERVER_ENV, SERVER_PASSWORD, SERVER_USER, storage_spec
from tests.support.clickhouse_http import ClickHouseHttpServer
from tests.test_serve import START_TIMEOUT_S, Served, start

TRACE_ID = uuid.uuid4().bytes
SPAN_ID = bytes.fromhex("00000000000000a1")
COST_USD = 0.25

CONFIG = """
budgets:
  - name: all-daily
    period: day
    limit_usd: 100
evaluation: {interval_s: 3600}
"""


def model_call() -> bytes:
    """One model call that ended a second ago and reports its cost: an exporter's request body."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(attr("service.name", "restart-agent"))
    span = resource_spans.scope_spans.add().spans.add()
    end_ns = time.time_ns() - 1_000_000_000
    span.trace_id, span.span_id, span.name = TRACE_ID, SPAN_ID, "chat gpt-4o"
    span.start_time_unix_nano, span.end_time_unix_nano = end_ns - 500_000_000, end_ns
    span.attributes.extend([attr("gen_ai.operation.name", "chat"), attr("gen_ai.request.model", "gpt-4o"),
                            attr("gen_ai.usage.cost", COST_USD)])
    return request.SerializeToString()


def send_without_reading_the_answer(url: str, body: bytes) -> socket.socket:
    """POST `body` to /v1/traces as an exporter would, and leave the answer unread."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-protobuf\r\n"
                 b"Content-Length: %d\r\n\r\n" % (parts.netloc.encode(), len(body)) + body)
    return sock


def wait_for_stored_spans(served: Served, count: int) -> None:
    stored = f'agentslo_ingest_spans_total{{outcome="stored",protocol="http"}} {count:.1f}'
    deadline = time.monotonic() + START_TIMEOUT_S
    while stored not in served.get("/metrics").text:
        assert time.monotonic() < deadline, "the span was never stored"
        time.sleep(0.05)


def kill(served: Served) -> None:
    served.process.send_signal(signal.SIGKILL)
    served.process.communicate(timeout=30)


class Deployment:
    """`agentslo serve` on one store, started as often as the test asks; a reader of that store."""

    def __init__(self, backend: str, tmp_path: Path, clickhouse_server: ClickHouseHttpServer | None) -> None:
        self.backend = backend
        self.tmp_path = tmp_path
        self.clickhouse_server = clickhouse_server
        self.database = f"restart_{uuid.uuid4().hex[:10]}"
        config = tmp_path / "agentslo.yaml"
        if clickhouse_server is None:
            config.write_text(CONFIG)
            self.args: tuple[str, ...] = ("--config", str(config), "--data", str(tmp_path / "data"))
            self.env: dict[str, str] = {}
        else:
            config.write_text(CONFIG + "storage:\n  password_env: CLICKHOUSE_PASSWORD\n")
            self.args = ("--config", str(config), "--clickhouse-url",
                         f"http://{SERVER_USER}@127.0.0.1:{clickhouse_server.port}/{self.database}")
            self.env = {"CLICKHOUSE_PASSWORD": SERVER_PASSWORD}
        self.started: list[Served] = []

    def start(self) -> Served:
        served = start(*self.args, env=self.env)
        self.started.append(served)
        served.wait_until("/readyz", 200)
        return served

    def rows_per_span(self) -> list[tuple[str, str, int]]:
        sql = "SELECT TraceId, SpanId, count() FROM otel_traces GROUP BY TraceId, SpanId"
        if self.clickhouse_server is not None:
            storage = open_storage(storage_spec("server", self.database, self.clickhouse_server, Path()),
                                   env=SERVER_ENV)
            try:
                return [tuple(row) for row in storage.query(sql).rows]
            finally:
                storage.close()
        # The embedded store belongs to one process at a time, and chDB opens one directory per process.
        script = ("import sys, json; from ground.storage import StorageSpec, open_storage; "
                  "s = open_storage(StorageSpec(data_dir=sys.argv[1])); "
                  "print(json.dumps(s.query(sys.argv[2]).rows)); s.close()")
        out = subprocess.run([sys.executable, "-c", script, str(self.tmp_path / "data"), sql],
                             capture_output=True, text=True, check=True, timeout=60).stdout
        return [tuple(row) for row in json.loads(out)]


@pytest.fixture
def deployment(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Deployment]:
    server = request.getfixturevalue("clickhouse_server") if backend == "server" else None
    deployed = Deployment(backend, tmp_path, server)
    yield deployed
    for served in deployed.started:
        if served.process.poll() is None:
            kill(served)


def test_a_request_resent_after_kill_9_is_stored_and_counted_once(deployment: Deployment) -> None:
    body = model_call()
    first = deployment.start()
    if deployment.clickhouse_server is not None:
        # The server writes the rows, then the process dies before its insert is answered.
        with deployment.clickhouse_server.holding_insert_answers("otel_traces") as written:
            unanswered = send_without_reading_the_answer(first.url, body)
            assert written.wait(START_TIMEOUT_S)
            kill(first)
    else:
        # chDB is in the process: the rows are written, then it dies before the exporter reads its answer.
        unanswered = send_without_reading_the_answer(first.url, body)
        wait_for_stored_spans(first, 1)
        kill(first)
    unanswered.close()

    second = deployment.start()
    # On a server, the killed process's evaluator lease runs out before the new one evaluates; an
    # embedded store belongs to one process, whose replica takes the lease at once.
    deadline = time.monotonic() + START_TIMEOUT_S
    while (ready := second.get("/readyz").json())["evaluator"] != ready["replica"]:
        assert time.monotonic() < deadline, ready
        time.sleep(0.2)
    resent = httpx.post(second.url + "/v1/traces", content=body,
                        headers={"Content-Type": "application/x-protobuf"}, timeout=30)
    assert resent.status_code == 200
    duplicates = second.get("/metrics").text.count('agentslo_ingest_spans_total{outcome="duplicate",protocol="http"} 1.0')
    assert httpx.post(second.url + "/api/v1/evaluate", timeout=60).status_code == 200
    spend = [(b["budget"], b["spent_usd"]) for b in httpx.get(second.url + "/api/v1/budgets", timeout=10).json()]
    code, stderr = second.stop()
    assert code == 0, stderr

    assert (deployment.rows_per_span(), spend, duplicates) == (
        [(TRACE_ID.hex(), SPAN_ID.hex(), 1)], [("all-daily", COST_USD)], 1)
