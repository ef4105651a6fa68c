"""Alerting inside the running service: an outage seen over OTLP pages a real webhook receiver."""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from agentslo.config import load_config
from ground.storage import open_storage
from tests.collector.otlp_requests import attr
from tests.conftest import SERVER_ENV, storage_spec
from tests.support.clock import Clock
from tests.support.service import ServiceThread, wait_for
from tests.support.webhook_receiver import WebhookReceiver

SECRET = "webhook-test-secret"


def failing_tasks(now_s: int, minutes: int) -> bytes:
    """One failed agent task a minute for the last `minutes` minutes."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(attr("service.name", "checkout-agent"))
    scope_spans = resource_spans.scope_spans.add()
    for minute in range(minutes, 0, -1):
        start_ns = (now_s - minute * 60) * 1_000_000_000
        scope_spans.spans.append(Span(
            trace_id=uuid.uuid4().bytes, span_id=os.urandom(8), name="invoke_agent checkout",
            start_time_unix_nano=start_ns, end_time_unix_nano=start_ns + 2_000_000_000,
            attributes=[attr("gen_ai.operation.name", "invoke_agent")],
            status=Status(code=Status.STATUS_CODE_ERROR, message="upstream 500"),
        ))
    return request.SerializeToString()


@pytest.fixture
def receiver():
    running = WebhookReceiver().start()
    yield running
    running.stop()


NOW_S = int(time.time())


@pytest.fixture
def service(tmp_path: Path, chdb_dir: Path, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", SECRET)
    path = tmp_path / "agentslo.yaml"
    path.write_text(f"""
slos:
  - name: checkout-availability
    objective: 99
    window: 30d
    sli: {{kind: availability, over: tasks}}
alerts:
  receivers:
    - name: oncall
      url: {receiver.url}
      secret_env: TEST_WEBHOOK_SECRET
      severities: [page]
""")
    config = load_config(path, env={})
    spec = storage_spec("embedded", f"alerts_{uuid.uuid4().hex[:10]}", None, chdb_dir)
    clock = Clock(datetime.fromtimestamp(NOW_S, UTC) + timedelta(minutes=3))
    running = ServiceThread(config.model_copy(update={"storage": spec}), open_storage(spec, env=SERVER_ENV),
                            clock=clock).start()
    yield running
    running.stop()


def test_an_outage_pages_the_receiver_once_with_a_signed_alertmanager_payload(
    service: ServiceThread, receiver: WebhookReceiver
) -> None:
    assert httpx.post(service.http_url + "/v1/traces", content=failing_tasks(NOW_S, 60),
                      headers={"content-type": "application/x-protobuf"}).status_code == 200
    for _ in range(2):  # a second evaluation must not notify again
        response = httpx.post(service.http_url + "/api/v1/evaluate", timeout=60)
        assert response.status_code == 200, response.text
    wait_for(lambda: len(receiver.received) >= 2)  # the delivery loop sends, woken by the evaluation

    pages = [r for r in receiver.received if r.json()["commonLabels"]["severity"] == "page"]
    pairs = sorted((r.json()["commonLabels"]["long_window"], r.json()["commonLabels"]["short_window"]) for r in pages)
    assert pairs == [("1h", "5m"), ("6h", "30m")]
    first = pages[0]
    payload = first.json()
    assert (payload["version"], payload["status"], payload["receiver"]) == ("4", "firing", "oncall")
    assert payload["commonLabels"]["slo"] == "checkout-availability"
    timestamp = first.headers["X-AgentSLO-Timestamp"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + first.body, hashlib.sha256).hexdigest()
    assert first.headers["X-AgentSLO-Signature"] == f"sha256={expected}"

    alerts = httpx.get(service.http_url + "/api/v1/alerts").json()
    firing = [a for a in alerts["alerts"] if a["phase"] == "firing"]
    assert len(firing) == 4  # both page pairs and both ticket pairs
    assert {d["state"] for d in alerts["deliveries"]} == {"delivered"}
    assert len(alerts["deliveries"]) == 2  # tickets route to no receiver here
