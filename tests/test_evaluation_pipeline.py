"""Specification of the evaluation pipeline in the running service: its order, `at`, /metrics, shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from agentslo.config import EvaluationSpec, load_config
from agentslo.evaluation import Evaluator
from alerts import Alerting, AlertStore, Receiver
from ground.errors import StorageError
from ground.storage import ALERT_STATE, SLO_STATUS, WATERMARKS, Storage, migrate, open_storage
from tests.collector.otlp_requests import attr
from tests.conftest import SERVER_ENV, storage_spec
from tests.slo.traces import T0, agent, insert, make_slo
from tests.support.clock import Clock
from tests.support.service import ServiceThread, wait_for
from tests.support.webhook_receiver import WebhookReceiver
from tests.test_serve import start

NOW = datetime.now(UTC).replace(second=30, microsecond=0) - timedelta(minutes=1)
CONFIG = """
slos:
  - name: checkout-availability
    objective: 99
    window: 7d
    sli: {kind: availability, over: tasks}
budgets:
  - name: per-user-daily
    period: day
    limit_usd: 5
    per: user
  - name: all-daily
    period: day
    limit_usd: 100
retention: {traces_days: 30}
"""


def failing_tasks(end: datetime, minutes: int, *, service: str = "checkout-agent") -> bytes:
    """One failed agent task a minute for the `minutes` minutes before `end`."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(attr("service.name", service))
    scope_spans = resource_spans.scope_spans.add()
    for minute in range(minutes, 0, -1):
        start_ns = int((end - timedelta(minutes=minute)).timestamp()) * 1_000_000_000
        scope_spans.spans.append(Span(
            trace_id=uuid.uuid4().bytes, span_id=os.urandom(8), name="invoke_agent checkout",
            start_time_unix_nano=start_ns, end_time_unix_nano=start_ns + 2_000_000_000,
            attributes=[attr("gen_ai.operation.name", "invoke_agent")],
            status=Status(code=Status.STATUS_CODE_ERROR, message="upstream 500"),
        ))
    return request.SerializeToString()


def post_spans(url: str, body: bytes) -> None:
    assert httpx.post(url + "/v1/traces", content=body,
                      headers={"content-type": "application/x-protobuf"}).status_code == 200


@pytest.fixture
def service(tmp_path: Path, chdb_dir: Path) -> Iterator[ServiceThread]:
    path = tmp_path / "agentslo.yaml"
    path.write_text(CONFIG)
    config = load_config(path, env={})
    spec = storage_spec("embedded", f"pipeline_{uuid.uuid4().hex[:10]}", None, chdb_dir)
    running = ServiceThread(config.model_copy(update={"storage": spec}), open_storage(spec, env=SERVER_ENV),
                            clock=Clock(NOW)).start()
    yield running
    running.stop()


def evaluate(service: ServiceThread, **params: str) -> httpx.Response:
    return httpx.post(service.http_url + "/api/v1/evaluate", params=params, timeout=60)


@pytest.mark.parametrize(
    ("at", "message"),
    [
        pytest.param("2026-11-23T12:00:00", "at must carry a time zone, e.g. 2026-11-23T12:00:00Z",
                     id="without a time zone"),
        pytest.param((NOW + timedelta(hours=48)).isoformat(),
                     f"at must not be in the future: it is {(NOW + timedelta(hours=48)).isoformat()[:-6]}Z, "
                     f"and now is {NOW.isoformat()[:-6]}Z", id="48 hours ahead: it would blind the live schedule"),
        pytest.param("9999-12-31T00:00:00Z", f"at must not be in the future: it is 9999-12-31T00:00:00Z, "
                     f"and now is {NOW.isoformat()[:-6]}Z", id="the end of time"),
        pytest.param("1990-01-01T00:00:00Z", f"at must be after {(NOW - timedelta(days=37)).isoformat()[:-6]}Z: "
                     "older evaluations read nothing the retention keeps (the longest SLO window plus the retention)",
                     id="before the retention and the longest window"),
    ],
)
def test_an_at_that_could_hurt_is_refused_with_422(service: ServiceThread, at: str, message: str) -> None:
    response = evaluate(service, at=at)
    assert (response.status_code, response.json()["detail"]) == (422, message)


def test_an_unreadable_at_is_refused_with_422_not_a_traceback(service: ServiceThread) -> None:
    assert evaluate(service, at="-1").status_code == 422


def test_an_evaluation_at_a_past_time_moves_no_watermark_alert_state_or_latest_status(
        service: ServiceThread) -> None:
    post_spans(service.http_url, failing_tasks(NOW - timedelta(minutes=3), 30))
    live = evaluate(service)
    assert live.json()["live"] is True
    storage: Storage = service.server.service.storage
    # How far the live cycles got (Through); a past evaluation may only backfill further back (Since).
    marks = storage.query(f"SELECT Name, Through FROM {WATERMARKS} FINAL ORDER BY Name").rows
    alerts = storage.query(f"SELECT Fingerprint, Phase, FiredAt FROM {ALERT_STATE} FINAL ORDER BY Fingerprint").rows
    assert any(phase == "firing" for _, phase, _ in alerts)

    past = evaluate(service, at=(NOW - timedelta(days=3)).isoformat())
    assert past.status_code == 200, past.text
    assert past.json()["live"] is False
    assert [slo["total_events"] for slo in past.json()["slos"]] == [0]

    assert storage.query(f"SELECT Name, Through FROM {WATERMARKS} FINAL ORDER BY Name").rows == marks
    assert storage.query(f"SELECT Fingerprint, Phase, FiredAt FROM {ALERT_STATE} FINAL "
                         "ORDER BY Fingerprint").rows == alerts
    [latest] = httpx.get(service.http_url + "/api/v1/slos").json()
    assert latest["evaluated_at"] == live.json()["evaluated_at"]
    assert latest["alert_state"] == "page"


def test_a_cycle_whose_alerting_fails_still_writes_its_status(store_with_tasks: Storage) -> None:
    slo = make_slo("tasks", objective=99, window="1d", sli={"kind": "availability", "over": "tasks"})
    alerting = Alerting(AlertStore(store_with_tasks), [Receiver("oncall", "http://127.0.0.1:9/hook")],
                        external_url="http://agentslo.test")
    evaluator = Evaluator(store_with_tasks, (slo,), EvaluationSpec(), CollectorRegistry(), alerting=alerting,
                          clock=Clock(T0 + timedelta(minutes=30)))
    store_with_tasks.command(f"DROP TABLE {ALERT_STATE}")                 # alerting cannot read its states
    with pytest.raises(StorageError):
        asyncio.run(evaluator.cycle())
    rows = store_with_tasks.query(f"SELECT SloName, TotalEvents, AlertState FROM {SLO_STATUS}").rows
    assert rows == [("tasks", 1, "")]


@pytest.fixture
def store_with_tasks(storage: Storage) -> Storage:
    migrate(storage)
    insert(storage, [agent("t", "root", at=timedelta(minutes=1))])
    return storage


def test_metrics_give_each_slos_figures_and_each_budgets_spend_as_ratios_and_usd(service: ServiceThread) -> None:
    post_spans(service.http_url, failing_tasks(NOW - timedelta(minutes=3), 30))
    assert evaluate(service).status_code == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(service.metrics) for s in family.samples}
    slo = (("slo", "checkout-availability"),)
    assert samples[("agentslo_slo_sli", slo)] == 0.0
    assert samples[("agentslo_slo_objective", slo)] == 0.99
    assert samples[("agentslo_slo_error_budget_remaining", slo)] == pytest.approx(-99)   # 30 bad of 30 at 1%
    assert samples[("agentslo_slo_burn_rate", (*slo, ("window", "1h")))] == pytest.approx(100)
    assert samples[("agentslo_slo_alert_state", (*slo, ("state", "page")))] == 1
    assert samples[("agentslo_slo_alert_state", (*slo, ("state", "ok")))] == 0
    assert samples[("agentslo_budget_limit_usd", (("budget", "per-user-daily"), ("period", "day")))] == 5
    assert samples[("agentslo_budget_spent_usd", (("budget", "all-daily"), ("member", ""), ("period", "day")))] == 0
    assert samples[("agentslo_budget_members", (("budget", "per-user-daily"), ("period", "day")))] == 0
    assert samples[("agentslo_evaluation_late_spans_total", ())] == 0


def test_sigterm_while_a_webhook_is_being_sent_exits_0_without_waiting_for_the_receiver(tmp_path: Path) -> None:
    slow = WebhookReceiver(delay_s=20).start()
    config = tmp_path / "agentslo.yaml"
    config.write_text(f"""
slos:
  - name: checkout-availability
    objective: 99
    window: 30d
    sli: {{kind: availability, over: tasks}}
alerts:
  defaults: {{ticket: false}}
  receivers: [{{name: oncall, url: "{slow.url}"}}]
""")
    served = start("--config", str(config), "--data", str(tmp_path / "data"))
    try:
        served.wait_until("/readyz", 200)
        post_spans(served.url, failing_tasks(datetime.now(UTC) - timedelta(minutes=3), 30))
        assert httpx.post(served.url + "/api/v1/evaluate", timeout=60).status_code == 200
        wait_for(lambda: len(slow.requests) == 1)             # the first page is on its way, for 20 s
        stopped = time.monotonic()
        code, stderr = served.stop(signal.SIGTERM)
        assert code == 0, stderr
        assert time.monotonic() - stopped < 15
        assert "Traceback" not in stderr
    finally:
        slow.stop()
        if served.process.poll() is None:
            served.stop(signal.SIGKILL)


def test_finished_tasks_waiting_for_late_spans_are_said_with_when_they_count(service: ServiceThread) -> None:
    started = NOW - timedelta(seconds=40)   # a 2-second task, derived once the grace period (2 minutes) is over
    post_spans(service.http_url, failing_tasks(started + timedelta(minutes=1), 1))
    assert evaluate(service).status_code == 200
    pipeline = httpx.get(service.http_url + "/api/v1/evaluation").json()
    counts_from = started + timedelta(seconds=2) + timedelta(minutes=2)
    assert (pipeline["tasks_waiting"], pipeline["tasks_waiting_count_from"]) == (
        1, counts_from.isoformat().replace("+00:00", "Z"))


def test_every_budget_is_listed_from_the_start_at_zero(service: ServiceThread) -> None:
    assert evaluate(service).status_code == 200
    budgets = httpx.get(service.http_url + "/api/v1/budgets").json()
    assert [(b["budget"], b["member"], b["spent_usd"]) for b in budgets] == [
        ("per-user-daily", None, 0.0), ("all-daily", None, 0.0)]
