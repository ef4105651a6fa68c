"""The SLO API and `agentslo status` on a running service fed over OTLP."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from agentslo.config import load_config
from ground.storage import open_storage
from tests.collector.otlp_requests import agent_request
from tests.conftest import SERVER_ENV, storage_spec
from tests.support.clock import Clock
from tests.support.service import ServiceThread

CONFIG = """
slos:
  - name: triage-availability
    description: Triage tasks finish without error
    objective: 99
    window: 7d
    sli: {kind: availability, over: tasks}
  - name: tool-success
    objective: 95
    window: 28d
    sli: {kind: tool_success, over: tool_calls}
  - name: quiet-service
    objective: 99.9
    window: 7d
    sli:
      kind: availability
      over: spans
      filter: [{column: ServiceName, op: eq, value: no-such-service}]
"""


@pytest.fixture
def service(tmp_path: Path, chdb_dir: Path):
    path = tmp_path / "agentslo.yaml"
    path.write_text(CONFIG)
    config = load_config(path, env={})
    spec = storage_spec("embedded", f"api_{uuid.uuid4().hex[:10]}", None, chdb_dir)
    config = config.model_copy(update={"storage": spec})
    running = ServiceThread(config, open_storage(spec, env=SERVER_ENV),
                            clock=Clock(datetime.now(UTC) + timedelta(minutes=5))).start()
    yield running
    running.stop()


def test_evaluate_reports_each_slo_from_ingested_spans(service: ServiceThread) -> None:
    body = agent_request().SerializeToString()
    assert httpx.post(service.http_url + "/v1/traces", content=body,
                      headers={"content-type": "application/x-protobuf"}).status_code == 200
    response = httpx.post(service.http_url + "/api/v1/evaluate", timeout=60)
    assert response.status_code == 200, response.text
    by_name = {slo["name"]: slo for slo in response.json()["slos"]}
    triage = by_name["triage-availability"]
    assert (triage["good_events"], triage["total_events"], triage["sli"]) == (1, 1, 1.0)
    assert (triage["objective"], triage["window"], triage["state"]) == (0.99, "7d", "ok")
    tools = by_name["tool-success"]
    assert (tools["good_events"], tools["total_events"], tools["sli"], tools["state"]) == (0, 1, 0.0, "budget exhausted")
    quiet = by_name["quiet-service"]
    assert (quiet["sli"], quiet["error_budget_remaining"], quiet["state"]) == (None, None, "no data")
    assert {rate["window"] for rate in triage["burn_rates"]} >= {"5m", "30m", "1h", "2h", "6h", "1d", "3d"}

    listed = httpx.get(service.http_url + "/api/v1/slos").json()
    assert [slo["name"] for slo in listed] == ["triage-availability", "tool-success", "quiet-service"]
    assert httpx.get(service.http_url + "/api/v1/slos/tool-success").json()["sli"] == 0.0
    missing = httpx.get(service.http_url + "/api/v1/slos/nope")
    assert (missing.status_code, missing.json()["detail"]) == (
        404, "no SLO named 'nope'; configured: triage-availability, tool-success, quiet-service")
    assert "agentslo_evaluation_cycle_seconds_count" in service.metrics


def test_status_command_prints_the_table_from_the_running_service(service: ServiceThread) -> None:
    agentslo = str(Path(sys.executable).parent / "agentslo")
    result = subprocess.run([agentslo, "status", "--url", service.http_url], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any("triage-availability" in line and "no data" in line for line in lines)
    as_json = subprocess.run([agentslo, "status", "--url", service.http_url, "--json"], capture_output=True,
                             text=True, timeout=120)
    assert '"name": "quiet-service"' in as_json.stdout


def test_status_says_clearly_when_no_service_answers() -> None:
    agentslo = str(Path(sys.executable).parent / "agentslo")
    result = subprocess.run([agentslo, "status", "--url", "http://127.0.0.1:9"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: cannot reach AgentSLO at http://127.0.0.1:9:")


def test_status_finds_the_service_on_the_port_of_agentslo_http_port(service: ServiceThread) -> None:
    agentslo = str(Path(sys.executable).parent / "agentslo")
    port = service.http_url.rsplit(":", 1)[1]
    result = subprocess.run([agentslo, "status"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "AGENTSLO_HTTP_PORT": port, "AGENTSLO_URL": ""})
    assert result.returncode == 0, result.stderr
    assert f"SLOs at http://127.0.0.1:{port}" in result.stdout


def test_evaluate_takes_a_json_body_or_none_never_what_a_cross_origin_page_can_send(service: ServiceThread) -> None:
    """Without keys, a page the operator visits must not be able to run a cycle: browsers send forms and
    text/plain across origins without asking first, and mark every such request with its Origin."""
    evaluate = service.http_url + "/api/v1/evaluate"
    host = service.http_url.removeprefix("http://")
    answers = {
        "no body": httpx.post(evaluate, timeout=60),
        "a JSON body": httpx.post(evaluate, json={}, timeout=60),
        "from its own origin": httpx.post(evaluate, headers={"origin": f"http://{host}"}, timeout=60),
        "a form": httpx.post(evaluate, data={"at": "2026-01-01T00:00:00Z"}, timeout=60),
        "a multipart form": httpx.post(evaluate, files={"at": b"x"}, timeout=60),
        "text/plain": httpx.post(evaluate, content=b"{}", headers={"content-type": "text/plain"}, timeout=60),
        "a body of no type": httpx.post(evaluate, content=b"{}", timeout=60),
        "from another origin": httpx.post(evaluate, headers={"origin": "https://evil.example"}, timeout=60),
    }
    assert {case: response.status_code for case, response in answers.items()} == {
        "no body": 200, "a JSON body": 200, "from its own origin": 200, "a form": 415, "a multipart form": 415,
        "text/plain": 415, "a body of no type": 415, "from another origin": 403}
    assert answers["a form"].json() == {
        "detail": "POST /api/v1/evaluate takes a JSON body (Content-Type: application/json) or none, "
                  "got application/x-www-form-urlencoded"}
    assert answers["from another origin"].json() == {
        "detail": "refused a request from the web page at https://evil.example: "
                  "the API changes state only for callers on its own origin"}
