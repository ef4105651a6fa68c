"""Spans exported by the stock OpenTelemetry SDK exporters land in otel_traces, priced."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.collector.conftest import StartService


def exporter(protocol: str, service) -> object:
    if protocol == "http":
        return HttpExporter(endpoint=service.http_url + "/v1/traces")
    return GrpcExporter(endpoint=service.grpc_endpoint, insecure=True)


def emit_agent_run(provider: TracerProvider) -> None:
    """One agent task: a root invoke_agent span, two model calls and a failing tool call."""
    tracer = provider.get_tracer("support-agent", "1.2.3")
    with tracer.start_as_current_span("invoke_agent triage", kind=SpanKind.INTERNAL, attributes={
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage",
        "agentslo.task.type": "refund", "user.id": "u-7", "agentslo.tenant": "acme",
    }):
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.cache_read.input_tokens": 400,
            "gen_ai.usage.output_tokens": 200, "gen_ai.input.messages": '[{"role":"user","content":"secret"}]',
        }):
            pass
        with tracer.start_as_current_span("chat my-private-llm", kind=SpanKind.CLIENT, attributes={
            "gen_ai.operation.name": "chat", "gen_ai.system": "vllm", "gen_ai.request.model": "my-private-llm",
            "gen_ai.usage.prompt_tokens": 50, "gen_ai.usage.completion_tokens": 5,
            "agentslo.fallback.source": "secondary",
        }):
            pass
        with tracer.start_as_current_span("execute_tool lookup_order", attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order",
        }) as tool:
            tool.record_exception(TimeoutError("order service timed out"))
            tool.set_status(Status(StatusCode.ERROR, "timeout"))


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_sdk_exported_spans_are_stored_with_tokens_and_costs(start_service: StartService, reader, protocol: str) -> None:
    service = start_service()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-agent", "deployment.environment": "test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter(protocol, service)))
    emit_agent_run(provider)
    provider.shutdown()

    rows = reader(service).query(
        "SELECT SpanName, SpanKind, StatusCode, ServiceName, ScopeName, ScopeVersion, GenAiOperation, GenAiProvider, "
        "RequestModel, ResponseModel, InputTokens, OutputTokens, CacheReadTokens, CostUsd, CostSource, ErrorType, "
        "UserId, Tenant, AgentName, TaskType, FallbackSource, Degraded, "
        "mapContains(SpanAttributes, 'gen_ai.input.messages') AS content_kept, Events.Name "
        "FROM otel_traces ORDER BY Timestamp"
    ).dicts()
    by_name = {row["SpanName"]: row for row in rows}
    assert len(rows) == 4
    root = by_name["invoke_agent triage"]
    assert (root["SpanKind"], root["StatusCode"], root["CostSource"], root["AgentName"], root["TaskType"],
            root["UserId"], root["Tenant"]) == ("Internal", "Unset", "", "triage", "refund", "u-7", "acme")
    priced = by_name["chat gpt-4o-mini"]
    assert (priced["SpanKind"], priced["ServiceName"], priced["ScopeName"], priced["ScopeVersion"]) == (
        "Client", "support-agent", "support-agent", "1.2.3")
    assert (priced["GenAiProvider"], priced["RequestModel"], priced["ResponseModel"]) == (
        "openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    assert (priced["InputTokens"], priced["OutputTokens"], priced["CacheReadTokens"]) == (1000, 200, 400)
    # gpt-4o-mini: $0.15 input, $0.075 cache read, $0.60 output per million tokens.
    # (1000 - 400) * 0.15 + 400 * 0.075 + 200 * 0.60 = 90 + 30 + 120 = 240 per million = $0.00024
    assert priced["CostUsd"] == pytest.approx(0.00024, rel=1e-12)
    assert priced["CostSource"] == "priced"
    assert not priced["content_kept"]  # prompt text dropped by default
    unpriced = by_name["chat my-private-llm"]
    assert (unpriced["GenAiProvider"], unpriced["InputTokens"], unpriced["OutputTokens"]) == ("vllm", 50, 5)
    assert (unpriced["CostUsd"], unpriced["CostSource"]) == (0, "unpriced")
    assert (unpriced["FallbackSource"], unpriced["Degraded"]) == ("secondary", 1)
    tool = by_name["execute_tool lookup_order"]
    assert (tool["StatusCode"], tool["ErrorType"], tool["Events.Name"]) == ("Error", "TimeoutError", ["exception"])
    metrics = service.metrics
    assert 'agentslo_ingest_unpriced_spans_total{model="my-private-llm"} 1.0' in metrics
    assert f'agentslo_ingest_spans_total{{outcome="stored",protocol="{protocol}"}} 4.0' in metrics
