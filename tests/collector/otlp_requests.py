"""Hand-built OTLP requests shaped like an agent run, and their OTLP JSON form."""

from __future__ import annotations

import base64
import time

import orjson
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
# An hour ago, on a whole second: spans older than the retention would be dropped by the TTL.
START_NS = (time.time_ns() // 1_000_000_000 - 3600) * 1_000_000_000


def attr(key: str, value: object) -> KeyValue:
    return KeyValue(key=key, value=any_value(value))


def any_value(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=[attr(k, v) for k, v in value.items()]))
    return AnyValue(string_value=str(value))


def span(index: int, name: str, attributes: dict[str, object], **fields: object) -> Span:
    return Span(
        trace_id=TRACE_ID,
        span_id=bytes([0, 0, 0, 0, 0, 0, 0, index + 1]),
        parent_span_id=b"" if index == 0 else bytes([0, 0, 0, 0, 0, 0, 0, 1]),
        name=name,
        start_time_unix_nano=START_NS + index * 1_000_000,
        end_time_unix_nano=START_NS + index * 1_000_000 + 250_000_000,
        attributes=[attr(k, v) for k, v in attributes.items()],
        **fields,
    )


def agent_request() -> ExportTraceServiceRequest:
    """An agent run: root, a priced chat call with content and a retry event, a tool error, a reported cost."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend([
        attr("service.name", "support-agent"), attr("deployment.environment", "prod"), attr("agentslo.tenant", "acme"),
    ])
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "agent-sdk"
    scope_spans.scope.version = "0.9"
    chat = span(1, "chat gpt-4o-mini", {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 200, "gen_ai.request.temperature": 0.25,
        "gen_ai.request.stop_sequences": ["\n\n", "END"], "gen_ai.input.messages": '[{"role":"user","content":"Where is my order?"}]',
        "gen_ai.prompt.0.content": "Where is my order?", "long.value": "x" * 100, "flag": True, "blob": b"\x00\x01",
        "nested": {"a": 1, "b": [1.5, "two"]},
    }, kind=Span.SPAN_KIND_CLIENT)
    chat.events.add(time_unix_nano=START_NS + 5, name="retry", attributes=[attr("http.resend_count", 1)])
    chat.events.add(time_unix_nano=START_NS + 6, name="gen_ai.content.prompt", attributes=[attr("gen_ai.prompt", "hi")])
    tool = span(2, "execute_tool lookup_order", {"gen_ai.operation.name": "execute_tool", "error.type": "timeout"},
                status=Status(code=Status.STATUS_CODE_ERROR, message="order service timed out"))
    tool.links.add(trace_id=bytes(range(16)), span_id=bytes(range(8)), trace_state="k=v", attributes=[attr("link", "x")])
    scope_spans.spans.extend([
        span(0, "invoke_agent triage", {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage"},
             kind=Span.SPAN_KIND_SERVER, trace_state="vendor=1"),
        chat,
        tool,
        span(3, "chat claude", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "claude-sonnet-4-5",
                                "gen_ai.usage.cost": 0.0123, "gen_ai.usage.input_tokens": 10}),
    ])
    return request


def otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """The request in OTLP JSON: protobuf's JSON mapping with trace and span ids in hex."""
    document = json_format.MessageToDict(request)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span_doc in scope_spans.get("spans", []):
                for node in (span_doc, *span_doc.get("links", [])):
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in node:
                            node[key] = base64.b64decode(node[key]).hex()
    return orjson.dumps(document)
