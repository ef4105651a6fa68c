"""Time to page: an outage sent over OTLP pages task SLOs of 1h, 1d, 7d and 28d within the documented
times, and recovery resolves every page, each message reaching a real webhook receiver.

The service runs on a clock the test moves a minute at a time; the agent exports
its tasks with the OpenTelemetry SDK, minute by minute, as a live agent would.
The README's table (Alerts, time to page) states the bounds checked here:
page by T + grace + short window + one interval after an outage starts at T;
resolve by R + grace + short window + one interval after it ends at R.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from agentslo.config import load_config
from ground.storage import open_storage
from slo import alert_windows, format_duration, parse_duration
from tests.conftest import SERVER_ENV, storage_spec
from tests.support.clock import Clock
from tests.support.service import ServiceThread
from tests.support.webhook_receiver import WebhookReceiver

MINUTE = timedelta(minutes=1)
GRACE, INTERVAL = 2 * MINUTE, MINUTE
WINDOWS = ("1h", "1d", "7d", "28d")
NORMAL, OUTAGE, RECOVERY = 60, 10, 35          # minutes of each phase
TASKS_PER_MINUTE = 10
# The scenario happens in the last two hours, on whole minutes; each cycle runs 5 s into its minute.
START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
OUTAGE_AT = START + NORMAL * MINUTE
RECOVERED_AT = OUTAGE_AT + OUTAGE * MINUTE


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    running = WebhookReceiver().start()
    yield running
    running.stop()


@pytest.fixture
def service(tmp_path: Path, chdb_dir: Path, receiver: WebhookReceiver) -> Iterator[ServiceThread]:
    slos = "\n".join(f"""  - name: tasks-{window}
    objective: 99.9
    window: {window}
    sli: {{kind: availability, over: tasks}}""" for window in WINDOWS)
    path = tmp_path / "agentslo.yaml"
    path.write_text(f"""
slos:
{slos}
evaluation: {{interval_s: 3600, grace_s: {GRACE.total_seconds():g}}}
alerts:
  defaults: {{ticket: false}}
  receivers: [{{name: oncall, url: "{receiver.url}"}}]
""")
    config = load_config(path, env={})
    spec = storage_spec("embedded", f"page_{uuid.uuid4().hex[:10]}", None, chdb_dir)
    running = ServiceThread(config.model_copy(update={"storage": spec}), open_storage(spec, env=SERVER_ENV),
                            clock=Clock(START)).start()
    yield running
    running.stop()


def test_an_outage_pages_every_task_slo_within_its_bound_and_recovery_resolves_it(
        service: ServiceThread, receiver: WebhookReceiver) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout-agent"}))
    processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=service.http_url + "/v1/traces"))
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("agent")
    fired: dict[tuple[str, str, str], datetime] = {}
    resolved: dict[tuple[str, str, str], datetime] = {}
    for minute in range(NORMAL + OUTAGE + RECOVERY):
        began = START + minute * MINUTE
        failing = OUTAGE_AT <= began < RECOVERED_AT
        for task in range(TASKS_PER_MINUTE):
            start_ns = int((began + task * MINUTE / TASKS_PER_MINUTE).timestamp() * 1e9)
            span = tracer.start_span("invoke_agent checkout", start_time=start_ns,
                                     attributes={"gen_ai.operation.name": "invoke_agent"})
            if failing:
                span.set_status(Status(StatusCode.ERROR, "provider 503"))
            span.end(end_time=start_ns + 10**9)
        assert processor.force_flush()
        now = service.clock.set(began + MINUTE + timedelta(seconds=5)).now
        assert httpx.post(service.http_url + "/api/v1/evaluate", timeout=60).status_code == 200
        for alert in httpx.get(service.http_url + "/api/v1/alerts").json()["alerts"]:
            labels = alert["labels"]
            key = (labels["slo"], labels["long_window"], labels["short_window"])
            if alert["phase"] == "firing":
                fired.setdefault(key, now)
            elif alert["phase"] == "resolved" and key in fired:
                resolved.setdefault(key, now)
    provider.shutdown()
    service.delivered()

    pages = {(f"tasks-{window}", format_duration(w.long_window), format_duration(w.short_window))
             for window in WINDOWS for w in alert_windows(parse_duration(window, units=("d", "h"), whole=True))
             if w.severity.value == "page"}
    assert set(fired) == pages, "every page tier of every SLO fires"
    assert set(resolved) == pages, "and every one resolves"
    for key in pages:
        short = parse_duration(key[2], units=("m", "h"), whole=True)
        assert fired[key] <= OUTAGE_AT + GRACE + short + INTERVAL, key
        assert resolved[key] <= RECOVERED_AT + GRACE + short + INTERVAL, key
    # Nothing fired before the outage; each page reached the receiver once firing and once resolved.
    assert min(fired.values()) > OUTAGE_AT
    messages = sorted((m.json()["commonLabels"]["slo"], m.json()["commonLabels"]["long_window"], m.json()["status"])
                      for m in receiver.received)
    assert messages == sorted((slo, long, status) for slo, long, _ in pages for status in ("firing", "resolved"))
