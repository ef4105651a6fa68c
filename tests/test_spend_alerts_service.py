"""Spend budgets inside the running service: SDK-exported agent runs cross a per-user daily cap."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from agentslo.config import load_config
from ground.storage import open_storage
from tests.conftest import SERVER_ENV, storage_spec
from tests.support.clock import Clock
from tests.support.service import ServiceThread
from tests.support.webhook_receiver import WebhookReceiver

# Yesterday, UTC: the whole scenario happens in one past day, then the next one starts.
DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    running = WebhookReceiver().start()
    yield running
    running.stop()


@pytest.fixture
def service(tmp_path: Path, chdb_dir: Path, receiver: WebhookReceiver) -> Iterator[ServiceThread]:
    path = tmp_path / "agentslo.yaml"
    path.write_text(f"""
budgets:
  - name: per-user-daily
    period: day
    limit_usd: 5
    per: user
  - name: all-monthly
    period: month
    limit_usd: 10000
evaluation: {{interval_s: 3600}}
alerts:
  grafana_url: https://grafana.example.com
  receivers:
    - name: finance
      url: {receiver.url}
""")
    config = load_config(path, env={})
    spec = storage_spec("embedded", f"spend_{uuid.uuid4().hex[:10]}", None, chdb_dir)
    running = ServiceThread(config.model_copy(update={"storage": spec}), open_storage(spec, env=SERVER_ENV),
                            clock=Clock(DAY)).start()
    yield running
    running.stop()


@pytest.fixture
def tracer(service: ServiceThread) -> Iterator[trace.Tracer]:
    provider = TracerProvider(resource=Resource.create({"service.name": "support-agent"}))
    # Each span is exported when it ends, and acknowledged (stored) before the call returns.
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=service.http_url + "/v1/traces")))
    yield provider.get_tracer("agent")
    provider.shutdown()


def agent_run(tracer: trace.Tracer, user: str, cost_usd: float, at: timedelta) -> None:
    """One agent task of `user`, `at` after the start of DAY, whose model call reports `cost_usd`."""
    start_ns = int((DAY + at).timestamp()) * 1_000_000_000
    root = tracer.start_span("invoke_agent triage", start_time=start_ns, attributes={
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage", "user.id": user})
    call = tracer.start_span("chat gpt-4o", context=trace.set_span_in_context(root), start_time=start_ns + 10**8,
                             attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                                         "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100,
                                         "gen_ai.usage.cost": cost_usd})
    call.end(end_time=start_ns + 10**9)
    root.end(end_time=start_ns + 2 * 10**9)


def evaluate(service: ServiceThread, at: timedelta) -> dict:
    """A cycle with the service's clock at DAY + `at`, and the delivery loop's sends done."""
    service.clock.set(DAY + at)
    response = httpx.post(service.http_url + "/api/v1/evaluate", timeout=60)
    assert response.status_code == 200, response.text
    service.delivered()
    return response.json()


def test_crossing_80_then_100_percent_of_a_daily_cap_notifies_exactly_twice_per_user(
        service: ServiceThread, tracer: trace.Tracer, receiver: WebhookReceiver) -> None:
    hour = timedelta(hours=1)
    agent_run(tracer, "alice", 2.05, 1 * hour)
    agent_run(tracer, "alice", 2.05, 1 * hour + timedelta(minutes=5))   # alice $4.10: 82%
    agent_run(tracer, "bob", 1.00, 1 * hour)                            # bob $1.00: 20%
    evaluate(service, 1 * hour + timedelta(minutes=10))
    agent_run(tracer, "alice", 1.00, 2 * hour)                          # alice $5.10: 102%
    agent_run(tracer, "bob", 3.50, 2 * hour)                            # bob $4.50: 90%
    evaluate(service, 2 * hour + timedelta(minutes=10))
    agent_run(tracer, "bob", 0.60, 3 * hour)                            # bob $5.10: 102%
    evaluate(service, 3 * hour + timedelta(minutes=10))
    latest = evaluate(service, 9 * hour)                                # hours later: no repeats
    evaluate(service, timedelta(days=1, hours=1))                       # the next day starts afresh, silently

    messages = [r.json() for r in receiver.received]
    sent = [(m["commonLabels"]["user"], m["commonLabels"]["level"], m["status"]) for m in messages]
    assert sorted(sent) == [("alice", "100%", "firing"), ("alice", "80%", "firing"),
                            ("bob", "100%", "firing"), ("bob", "80%", "firing")]
    for user in ("alice", "bob"):   # each member's 80% came first
        assert [level for who, level, _ in sent if who == user] == ["80%", "100%"]
    first = messages[0]
    assert first["groupLabels"] == {"alertname": "SpendBudget", "budget": "per-user-daily"}
    assert first["commonLabels"] == {"alertname": "SpendBudget", "budget": "per-user-daily", "period": "day",
                                     "user": "alice", "level": "80%", "severity": "ticket"}
    annotations = first["commonAnnotations"]
    assert annotations["summary"].startswith(
        "Spend budget per-user-daily for user alice: $4.10 spent today, 82.0% of the $5.00 cap (alert at 80%); "
        "projected $")
    assert annotations["dashboard"] == "https://grafana.example.com/d/agentslo-spend"
    assert {m["commonLabels"]["level"]: m["commonLabels"]["severity"] for m in messages} == {"80%": "ticket",
                                                                                           "100%": "page"}

    spend = {(b["budget"], b["member"]): b for b in latest["budgets"]}
    assert spend["per-user-daily", "alice"]["spent_usd"] == pytest.approx(5.10)
    assert spend["per-user-daily", "bob"]["levels_reached"] == ["80%", "100%"]
    assert spend["all-monthly", None]["spent_usd"] == pytest.approx(10.20)
    listed = httpx.get(service.http_url + "/api/v1/budgets").json()
    # As of the next day: no user has spent yet; every budget is listed all the same, at $0 when empty.
    assert [(b["budget"], b["member"], b["spent_usd"]) for b in listed] == [
        ("per-user-daily", None, 0.0), ("all-monthly", None, pytest.approx(10.20))]
    agentslo = str(Path(sys.executable).parent / "agentslo")
    table = subprocess.run([agentslo, "status", "--url", service.http_url], capture_output=True, text=True,
                           timeout=120)
    assert table.returncode == 0, table.stderr
    assert any("all-monthly" in line and "$10,000.00" in line for line in table.stdout.splitlines())
    assert any("per-user-daily" in line and "no user has spent yet" in line for line in table.stdout.splitlines())


@pytest.fixture
def capped(tmp_path: Path, chdb_dir: Path, receiver: WebhookReceiver) -> Iterator[ServiceThread]:
    """A per-user budget that alerts for its two top spenders only."""
    path = tmp_path / "agentslo.yaml"
    path.write_text(f"""
budgets:
  - {{name: per-user-daily, period: day, limit_usd: 1, per: user, levels: [100], max_members: 2}}
evaluation: {{interval_s: 3600}}
ingest: {{workers: 0}}
alerts:
  receivers: [{{name: finance, url: "{receiver.url}"}}]
""")
    spec = storage_spec("embedded", f"capped_{uuid.uuid4().hex[:10]}", None, chdb_dir)
    running = ServiceThread(load_config(path, env={}).model_copy(update={"storage": spec}),
                            open_storage(spec, env=SERVER_ENV), clock=Clock(DAY)).start()
    yield running
    running.stop()


def test_users_beyond_max_members_are_counted_and_get_no_alert_of_their_own(
        capped: ServiceThread, receiver: WebhookReceiver) -> None:
    """Ingest clients name their users: inventing users must not invent alerts without bound."""
    provider = TracerProvider(resource=Resource.create({"service.name": "support-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=capped.http_url + "/v1/traces")))
    tracer = provider.get_tracer("agent")
    hour = timedelta(hours=1)
    for user, cost_usd in (("u1", 1.5), ("u2", 3.0), ("u3", 2.0), ("u4", 0.5), ("u5", 2.5)):
        agent_run(tracer, user, cost_usd, hour)
    first = evaluate(capped, 2 * hour)
    agent_run(tracer, "u3", 2.0, 2 * hour)                              # u3 $4.00 overtakes u5 ($2.50)
    evaluate(capped, 3 * hour)
    provider.shutdown()

    fired = [(m["commonLabels"]["user"], m["status"]) for m in (r.json() for r in receiver.received)]
    # The two top spenders fire in the first cycle (sent at once, in either order); u3 in the second, when it
    # overtakes u5, whose instance then resolves silently as at the end of a period.
    assert (sorted(fired[:2]), fired[2:]) == ([("u2", "firing"), ("u5", "firing")], [("u3", "firing")])
    assert [(b["member"], b["spent_usd"], b["alerted"], b["members_over_cap"]) for b in first["budgets"]] == [
        ("u1", 1.5, False, 3), ("u2", 3.0, True, 3), ("u3", 2.0, False, 3), ("u4", 0.5, False, 3),
        ("u5", 2.5, True, 3)]
    listed = httpx.get(capped.http_url + "/api/v1/budgets").json()
    assert [(b["member"], b["alerted"]) for b in listed] == [
        ("u1", False), ("u2", True), ("u3", True), ("u4", False), ("u5", False)]
    assert 'agentslo_budget_members_over_cap{budget="per-user-daily",period="day"} 3.0' in capped.metrics
    agentslo = str(Path(sys.executable).parent / "agentslo")
    table = subprocess.run([agentslo, "status", "--url", capped.http_url], capture_output=True, text=True, timeout=120)
    assert table.returncode == 0, table.stderr
    assert ("per-user-daily: 3 users beyond max_members (2) spent this day: no alerts of their own, only "
            "the 2 top spenders'") in table.stdout
