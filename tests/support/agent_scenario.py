"""A small fleet's hour of agent tasks, exported over OTLP/HTTP with the OpenTelemetry SDK alone.

The console's tests ingest it and check what the pages and the API show against the
numbers set here. Every time is fixed relative to `start`, so tests can assert exact
values; `KNOWN_TRACE` is the task the trace view is checked on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode, set_span_in_context


@dataclass(frozen=True)
class Call:
    """A model call or a tool call under a task's agent span; times in ms from the task's start."""

    name: str
    at_ms: int
    duration_ms: int
    attributes: dict[str, object]
    failed: bool = False
    events: tuple[tuple[str, dict[str, object]], ...] = ()


@dataclass(frozen=True)
class ScenarioTask:
    """One agent task: who it ran for, when (minutes after the scenario's start) and its calls."""

    service: str
    agent: str
    user: str
    tenant: str
    task_type: str
    environment: str
    minute: int
    duration_ms: int
    calls: tuple[Call, ...]
    failed: bool = False


def chat(model: str, provider: str, at_ms: int, duration_ms: int, input_tokens: int, output_tokens: int, *,
         cache_read: int = 0, fallback: str = "", failed: bool = False,
         events: tuple[tuple[str, dict[str, object]], ...] = ()) -> Call:
    attributes: dict[str, object] = {
        "gen_ai.operation.name": "chat", "gen_ai.request.model": model, "gen_ai.provider.name": provider,
        "gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens,
    }
    if cache_read:
        attributes["gen_ai.usage.cache_read.input_tokens"] = cache_read
    if fallback:
        attributes["agentslo.fallback.source"] = fallback
    if failed:
        attributes["error.type"] = "429"
    return Call(f"chat {model}", at_ms, duration_ms, attributes, failed, events)


def tool(name: str, at_ms: int, duration_ms: int, *, failed: bool = False) -> Call:
    attributes: dict[str, object] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
    if failed:
        attributes["error.type"] = "timeout"
    return Call(f"execute_tool {name}", at_ms, duration_ms, attributes, failed)


# The task the trace view is checked on: a refund for alice, with a retried call, a tool call, and a
# fallback to a second model after the first failed.
KNOWN = ScenarioTask(
    "support-desk", "support", "alice", "acme", "refund", "prod", minute=10, duration_ms=9000, calls=(
        chat("gpt-4o-mini", "openai", 100, 1200, 1200, 300, cache_read=400, fallback="primary",
             events=(("retry", {"attempt": 2}),)),
        tool("lookup_order", 1400, 600),
        chat("gpt-4o", "openai", 2100, 900, 800, 0, failed=True,
             events=(("circuit_breaker.open", {"provider": "openai"}),)),
        chat("claude-sonnet-4-5", "anthropic", 3100, 4000, 900, 500, fallback="secondary"),
    ))

TASKS: tuple[ScenarioTask, ...] = (
    KNOWN,
    ScenarioTask("support-desk", "support", "bob", "acme", "answer", "prod", 15, 3000, (
        chat("gpt-4o-mini", "openai", 100, 900, 700, 150, fallback="primary"),
    )),
    ScenarioTask("support-desk", "support", "carol", "globex", "answer", "staging", 20, 5000, (
        chat("gpt-4o-mini", "openai", 100, 900, 500, 100, failed=True),
        tool("send_email", 1100, 300, failed=True),
    ), failed=True),
    ScenarioTask("research", "researcher", "alice", "acme", "brief", "prod", 25, 20000, (
        chat("llama-local", "vllm", 100, 8000, 3000, 1200),
        chat("claude-sonnet-4-5", "anthropic", 8200, 9000, 4000, 2000),
    )),
    ScenarioTask("research", "researcher", "dave", "globex", "brief", "prod", 30, 12000, (
        chat("llama-local", "vllm", 100, 6000, 2500, 900),
    )),
    ScenarioTask("support-desk", "triage", "bob", "acme", "triage", "prod", 35, 1500, (
        chat("gpt-4o-mini", "openai", 100, 600, 300, 40),
    )),
)


def send(endpoint: str, start: datetime, tasks: tuple[ScenarioTask, ...] = TASKS, *,
         headers: dict[str, str] | None = None) -> dict[int, str]:
    """Export the tasks' spans to `endpoint` (an OTLP/HTTP base URL); the trace id of each task, by index."""
    providers: dict[tuple[str, str], TracerProvider] = {}
    trace_ids: dict[int, str] = {}
    for index, task in enumerate(tasks):
        key = (task.service, task.environment)
        if key not in providers:
            provider = TracerProvider(resource=Resource.create({
                "service.name": task.service, "deployment.environment.name": task.environment}))
            provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
                endpoint=endpoint.rstrip("/") + "/v1/traces", headers=headers or {}, timeout=30)))
            providers[key] = provider
        tracer = providers[key].get_tracer("agent-framework", "1.2.0")
        began = start + timedelta(minutes=task.minute)
        root = tracer.start_span(f"invoke_agent {task.agent}", context=Context(), start_time=_ns(began),
                                 attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": task.agent,
                                             "user.id": task.user, "agentslo.tenant": task.tenant,
                                             "agentslo.task.type": task.task_type,
                                             "agentslo.feature": f"{task.task_type}s"})
        inside = set_span_in_context(root)
        for call in task.calls:
            child = tracer.start_span(call.name, context=inside, start_time=_ns(began + _ms(call.at_ms)),
                                      attributes=call.attributes)
            for name, attributes in call.events:
                child.add_event(name, attributes, timestamp=_ns(began + _ms(call.at_ms + 10)))
            if call.failed:
                child.set_status(Status(StatusCode.ERROR, "failed"))
            child.end(end_time=_ns(began + _ms(call.at_ms + call.duration_ms)))
        if task.failed:
            root.set_attribute("error.type", "tool_failure")
            root.set_status(Status(StatusCode.ERROR, "gave up"))
        root.end(end_time=_ns(began + _ms(task.duration_ms)))
        trace_ids[index] = format(root.get_span_context().trace_id, "032x")
    for provider in providers.values():
        provider.shutdown()
    return trace_ids


def _ms(ms: int) -> timedelta:
    return timedelta(milliseconds=ms)


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000) * 1000
