"""The demo's agents: what they do through a provider outage and how their spans say it (retries, circuit
breakers, the fallback chain, caps), run against the fake provider and exported with the OpenTelemetry SDK."""

from __future__ import annotations

import ast
import random
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import agentslo.demo._fleet as fleet_module
from agentslo.demo import (PRICE_LIST, Agent, AgentSpec, BreakerState, ChatClient, CircuitBreaker, FakeLlm, Faults,
                           Model)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NS = 1_000_000_000


def model(name: str) -> Model:
    price = next(p for p in PRICE_LIST if p.model == name)
    return Model(name, price.provider, float(price.input_usd_per_mtok), float(price.cache_read_usd_per_mtok),
                 float(price.cache_write_usd_per_mtok), float(price.output_usd_per_mtok))


TRIAGE = AgentSpec(name="triage", service="support-desk", task_type="classify_ticket", feature="inbox",
                   primary=model("gpt-4.1-mini"), secondary=model("gpt-4.1"), tasks_per_minute=1, steps=(1, 1),
                   tools=(), repeat_share=0.0, prompt_tokens=1200, max_output_tokens=100, max_tokens_per_task=10_000,
                   max_cost_usd_per_task=1.0, tenants=("acme",), users_per_tenant=1)


# ----------------------------------------------------------------------------- the breaker, alone

@pytest.mark.parametrize(("steps", "states"), [
    ([("fail", 0), ("fail", 1), ("fail", 2)], ["closed", "closed", "open"]),
    ([("fail", 0), ("fail", 1), ("succeed", 2), ("fail", 3)], ["closed", "closed", "closed", "closed"]),
    ([("fail", 0), ("fail", 0), ("fail", 0), ("allow", 29)], ["closed", "closed", "open", "open"]),
    ([("fail", 0), ("fail", 0), ("fail", 0), ("allow", 30), ("succeed", 31)],
     ["closed", "closed", "open", "half_open", "closed"]),
    ([("fail", 0), ("fail", 0), ("fail", 0), ("allow", 30), ("fail", 31), ("allow", 60), ("allow", 61)],
     ["closed", "closed", "open", "half_open", "open", "open", "half_open"]),
], ids=["three failures in a row open it", "a success in between resets the count",
        "open, it refuses calls until its reset time", "then one probe: a success closes it",
        "a failed probe opens it again for another reset time"])
def test_a_circuit_breaker_opens_on_failures_in_a_row_and_probes_after_its_reset_time(
        steps: list[tuple[str, int]], states: list[str]) -> None:
    breaker = CircuitBreaker("gpt-4.1")
    seen = []
    for action, second in steps:
        match action:
            case "fail":
                breaker.failed(second * NS)
            case "succeed":
                breaker.succeeded()
            case "allow":
                allowed, _ = breaker.allow(second * NS)
                assert allowed is (breaker.state is BreakerState.HALF_OPEN)
        seen.append(breaker.state.value)
    assert seen == states


# ----------------------------------------------------------------------------- agents and their spans

@pytest.fixture
def fake() -> Iterator[FakeLlm]:
    running = FakeLlm(seed=3, stall_s=1).start()
    yield running
    running.stop()


@pytest.fixture
def exported() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def agent(spec: AgentSpec, fake: FakeLlm, exported: InMemorySpanExporter) -> Agent:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    return Agent(spec, provider.get_tracer("test"), ChatClient(fake.url, timeout_s=0.3), random.Random(1))


def task_spans(exported: InMemorySpanExporter) -> tuple[ReadableSpan, list[ReadableSpan]]:
    """The last task's span and its children, in the order they started."""
    spans = exported.get_finished_spans()
    root = spans[-1]
    children = sorted((s for s in spans if s.context.trace_id == root.context.trace_id and s is not root),
                      key=lambda s: s.start_time)
    exported.clear()
    return root, children


def events(span: ReadableSpan) -> list[tuple[str, dict]]:
    return [(event.name, dict(event.attributes or {})) for event in span.events]


def test_a_task_that_goes_well_is_one_agent_span_over_its_model_calls(
        fake: FakeLlm, exported: InMemorySpanExporter) -> None:
    outcome = agent(TRIAGE, fake, exported).run_task(T0)
    root, (chat,) = task_spans(exported)
    assert (root.name, root.status.status_code, root.start_time) == (
        "invoke_agent triage", StatusCode.UNSET, int(T0.timestamp() * NS))
    assert dict(root.attributes) == {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage", "agentslo.task.type": "classify_ticket",
        "agentslo.feature": "inbox", "agentslo.tenant": "acme", "user.id": "acme-001",
        "agentslo.fallback.source": "primary", "agentslo.degraded": False}
    attributes = dict(chat.attributes)
    assert chat.name == "chat gpt-4.1-mini" and chat.parent.span_id == root.context.span_id
    assert {k: attributes[k] for k in ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model",
                                       "gen_ai.response.model", "agentslo.fallback.source")} == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4.1-mini",
        "gen_ai.response.model": "gpt-4.1-mini-2025-04-14", "agentslo.fallback.source": "primary"}
    assert attributes["gen_ai.usage.input_tokens"] > 1200 and attributes["gen_ai.usage.output_tokens"] > 0
    # The call took what the endpoint said it took, on the task's own clock.
    assert chat.end_time - chat.start_time > 300_000_000 and root.end_time == chat.end_time
    assert (outcome.calls, outcome.retries, outcome.degraded) == (1, 0, False)


def test_through_a_provider_outage_retries_open_the_breakers_and_the_task_ends_in_a_graceful_error(
        fake: FakeLlm, exported: InMemorySpanExporter) -> None:
    fake.set_faults({"openai": Faults(server_error=1)})
    triage = agent(TRIAGE, fake, exported)
    outcome = triage.run_task(T0)
    root, chats = task_spans(exported)
    # Three attempts at each model, one span each, all failed; the third failure in a row opens each breaker.
    assert [(c.name, c.attributes["agentslo.fallback.source"], c.status.status_code) for c in chats] == (
        [("chat gpt-4.1-mini", "primary", StatusCode.ERROR)] * 3
        + [("chat gpt-4.1", "secondary", StatusCode.ERROR)] * 3)
    assert {c.attributes["error.type"] for c in chats} <= {"503", "500"}
    assert [c.attributes.get("http.request.resend_count") for c in chats] == [None, 1, 2] * 2
    assert [name for name, _ in events(root)] == [
        "retry", "retry", "circuit_breaker.open", "fallback", "retry", "retry", "circuit_breaker.open", "fallback"]
    assert events(root)[2][1] == {"circuit_breaker.name": "gpt-4.1-mini", "circuit_breaker.previous_state": "closed",
                                  "circuit_breaker.failures": 3}
    assert events(root)[-1][1] == {"agentslo.fallback.source": "error"}
    assert (root.status.status_code, root.attributes["error.type"], root.attributes["agentslo.fallback.source"],
            root.attributes["agentslo.degraded"]) == (StatusCode.ERROR, "fallback_exhausted", "error", True)
    assert (outcome.calls, outcome.failed_calls, outcome.retries, outcome.breakers_opened) == (6, 6, 4, 2)

    # Ten seconds on, both breakers are open: no call goes out.
    outcome = triage.run_task(T0 + timedelta(seconds=10))
    root, chats = task_spans(exported)
    assert (chats, root.attributes["agentslo.fallback.source"], outcome.calls) == ([], "error", 0)

    # The provider is back; past the reset time a probe goes through and closes the breaker.
    fake.set_faults({})
    outcome = triage.run_task(T0 + timedelta(minutes=2))
    root, chats = task_spans(exported)
    assert [name for name, _ in events(root)] == ["circuit_breaker.half_open", "circuit_breaker.closed"]
    assert (len(chats), root.attributes["agentslo.fallback.source"], root.status.status_code) == (
        1, "primary", StatusCode.UNSET)


def test_a_fallback_to_another_provider_answers_degraded_and_a_cached_answer_serves_when_none_can(
        fake: FakeLlm, exported: InMemorySpanExporter) -> None:
    spec = replace(TRIAGE, secondary=model("claude-haiku-4-5"), repeat_share=1.0)
    triage = agent(spec, fake, exported)
    fake.set_faults({"openai": Faults(server_error=1)})
    triage.run_task(T0)
    root, chats = task_spans(exported)
    assert chats[-1].name == "chat claude-haiku-4-5" and chats[-1].attributes["agentslo.fallback.source"] == "secondary"
    assert (root.attributes["agentslo.fallback.source"], root.attributes["agentslo.degraded"],
            root.status.status_code) == ("secondary", True, StatusCode.UNSET)

    # Both providers down: the questions answered before are answered from the cache.
    fake.set_faults({"openai": Faults(server_error=1), "anthropic": Faults(server_error=1)})
    answered = [triage.run_task(T0 + timedelta(seconds=5 * i)).source.label for i in range(1, 40)]
    assert {"cache", "error"} == set(answered) - {"secondary"}


def test_a_task_reaching_its_cost_cap_stops_with_the_answer_it_has(
        fake: FakeLlm, exported: InMemorySpanExporter) -> None:
    spec = replace(TRIAGE, steps=(4, 4), tools=("lookup_order",), max_cost_usd_per_task=0.001)
    outcome = agent(spec, fake, exported).run_task(T0)
    root, children = task_spans(exported)
    (cap,) = [attributes for name, attributes in events(root) if name == "task.cap_reached"]
    assert cap["cap.name"] == "cost_usd" and cap["cap.used"] >= 0.001
    assert len([c for c in children if c.name.startswith("chat")]) < 4
    assert [c.name for c in children][:2] == ["chat gpt-4.1-mini", "execute_tool lookup_order"]
    assert (outcome.capped, root.attributes["agentslo.degraded"], root.attributes["agentslo.fallback.source"]) == (
        True, True, "primary")


def test_the_agents_import_the_opentelemetry_sdk_and_nothing_of_agentslo_but_the_chat_client() -> None:
    tree = ast.parse(Path(fleet_module.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    outside_stdlib = {name for name in imported if name.split(".")[0] not in sys.stdlib_module_names}
    assert {name.split(".")[0] for name in outside_stdlib} == {"opentelemetry", "tenacity", "agentslo"}
    assert {name for name in outside_stdlib if name.startswith("agentslo")} == {"agentslo.demo._llm_client"}
