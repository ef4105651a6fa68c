"""examples/support_agent.py, run as a user runs it (its own process, configured by environment variables),
against the demo's fake provider and an AgentSLO on loopback: its tasks land in agent_tasks as documented
in docs/instrumenting.md."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from agentslo.config import load_config
from agentslo.demo import FakeLlm, Faults
from ground.storage import open_storage
from tests.conftest import SERVER_ENV, storage_spec
from tests.support.clock import Clock
from tests.support.service import ServiceThread

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "support_agent.py"


@pytest.fixture
def fake() -> Iterator[FakeLlm]:
    running = FakeLlm(seed=5).start()
    yield running
    running.stop()


@pytest.fixture
def service(chdb_dir: Path, tmp_path: Path) -> Iterator[ServiceThread]:
    spec = storage_spec("embedded", f"example_{uuid.uuid4().hex[:10]}", None, chdb_dir)
    # Tasks are derived as far back as an SLO reads them: one SLO over tasks.
    path = tmp_path / "agentslo.yaml"
    path.write_text("slos: [{name: support, objective: 99, window: 28d, sli: {kind: availability, over: tasks}}]\n")
    config = load_config(path, env={}).model_copy(update={"storage": spec})
    running = ServiceThread(config, open_storage(spec, env=SERVER_ENV), clock=Clock(datetime.now(UTC))).start()
    yield running
    running.stop()


def run_example(fake: FakeLlm, service: ServiceThread, question: str, *args: str,
                models: str = "gpt-4.1-mini,gpt-4.1") -> str:
    env = {"PATH": os.environ["PATH"], "OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": "sk-test",
           "SUPPORT_AGENT_MODELS": models, "OTEL_SERVICE_NAME": "support-desk",
           "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=staging",
           "OTEL_EXPORTER_OTLP_ENDPOINT": service.http_url}
    result = subprocess.run([sys.executable, str(EXAMPLE), question, *args], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def tasks(service: ServiceThread) -> list[dict]:
    """The tasks derived as of a few minutes on, when the example's tasks are past the grace period."""
    service.clock.set(datetime.now(UTC) + timedelta(minutes=4))
    assert httpx.post(service.http_url + "/api/v1/evaluate", timeout=60).status_code == 200
    storage = service.server.service.storage
    return storage.query(
        "SELECT ServiceName, AgentName, TaskType, Feature, Tenant, UserId, Environment, Success, ErrorType, "
        "LlmCalls, ToolCalls, Degraded, CostUsd FROM agent_tasks FINAL ORDER BY Timestamp").dicts()


def test_the_example_agents_task_lands_in_agent_tasks_with_its_attributes(
        fake: FakeLlm, service: ServiceThread) -> None:
    answer = run_example(fake, service, "Where is my order 1234?", "--tenant", "acme", "--user", "u-42")
    assert answer.startswith("(a simulated answer of ")
    (task,) = tasks(service)
    cost = task.pop("CostUsd")
    assert task == {"ServiceName": "support-desk", "AgentName": "support-agent", "TaskType": "answer_question",
                    "Feature": "help-center", "Tenant": "acme", "UserId": "u-42", "Environment": "staging",
                    "Success": 1, "ErrorType": "", "LlmCalls": 1, "ToolCalls": 1, "Degraded": 0}
    assert abs(cost - float(fake.billed_usd()["gpt-4.1-mini"])) < 1e-12


def test_with_its_provider_down_the_example_retries_falls_back_and_its_task_is_degraded(
        fake: FakeLlm, service: ServiceThread) -> None:
    fake.set_faults({"openai": Faults(server_error=1)})
    run_example(fake, service, "Can I return a jacket?", "--tenant", "globex", models="gpt-4.1-mini,claude-haiku-4-5")
    run_example(fake, service, "Can I return a jacket?", "--tenant", "globex", models="gpt-4.1-mini,gpt-4.1")
    degraded, failed = tasks(service)
    # Three attempts at the primary, then the fallback answers: a success, degraded.
    assert (degraded["Success"], degraded["Degraded"], degraded["LlmCalls"], degraded["ToolCalls"]) == (1, 1, 4, 0)
    # With no model of another provider to fall back to: the graceful error, a failed task.
    assert (failed["Success"], failed["ErrorType"], failed["Degraded"], failed["LlmCalls"]) == (
        0, "fallback_exhausted", 1, 6)


GUIDE = Path(__file__).resolve().parents[1] / "docs" / "instrumenting.md"


def test_the_guides_attribute_table_lists_each_columns_attributes_in_the_order_agentslo_reads_them() -> None:
    from collector import _attributes as names

    dimensions = names.DimensionAliases()
    read = {"InputTokens": names.INPUT_TOKENS, "OutputTokens": names.OUTPUT_TOKENS,
            "CacheReadTokens": names.CACHE_READ_TOKENS, "CacheWriteTokens": names.CACHE_WRITE_TOKENS,
            "CostUsd": names.REPORTED_COST, "ErrorType": names.ERROR_TYPE, "AgentName": dimensions.agent,
            "TaskType": dimensions.task_type, "Feature": dimensions.feature, "UserId": dimensions.user,
            "Tenant": dimensions.tenant, "FallbackSource": names.FALLBACK_SOURCE, "Degraded": names.DEGRADED,
            "GenAiProvider": names.PROVIDER}
    rows = {}
    for line in GUIDE.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 3:
            rows[cells[0].strip("`")] = tuple(re.findall(r"`([a-z_.]+)`", cells[1].split(";")[0]))
    assert {column: rows[column] for column in read} == read
