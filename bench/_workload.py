"""The load: realistic agent-run OTLP batches, serialized once, with fresh ids on every send.

Each batch is what one agent process's BatchSpanProcessor would export: one
resource (service.name, deployment.environment, telemetry.sdk.*), one scope per
instrumentation library, and whole traces shaped like agent runs:

    invoke_agent {agent}          INTERNAL  user / tenant / task type / feature; Error when the task failed
      chat {model}                CLIENT    provider, request and dated response model, tokens incl. cache
      execute_tool {tool}         INTERNAL  some fail
      chat {model}                CLIENT    some retried (http.resend_count + "retry" events),
      ...                                   some degraded (fallback to a secondary model or a cache),
                                            some Error with error.type

Generation is seeded, so the same seed gives the same spans; only the time base
(`now_ns`) moves them into the last hour before the run.

Fresh ids without re-encoding: the server drops spans it has already stored, so
resending a batch would measure its dedup path, not ingest. A `BatchTemplate`
keeps its serialized request split at the first `ID_STAMP_BYTES` bytes of every
trace id, span id and parent span id; a send joins the pieces with a 4-byte
stamp made from a per-send counter (one C-level `bytes.join`, no per-id Python
work). Every id in one send gets the same stamp, so parent/child references
stay consistent within each trace; the template's remaining id bytes are
unique within the batch and the stamp is unique per send (a bijection of the
counter mod 2**32), so no two sends of a run share a span id.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from bench import _wire

__all__ = ["ID_STAMP_BYTES", "SEED", "BatchTemplate", "build_pool", "check_stamping", "id_stamp"]

SEED = 4318
ID_STAMP_BYTES = 4
_SPAN_FLAGS = 0x101  # sampled, parent is-remote known (as the Python SDK sets them)
_SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"
_MIN_DURATION_S = 0.05
_MAX_DURATION_S = 20.0


@dataclass(frozen=True)
class _Model:
    provider: str  # gen_ai.provider.name
    request_model: str
    response_model: str  # dated, as the provider reports it
    server_address: str
    median_latency_s: float
    scope: tuple[str, str]  # instrumentation library emitting its chat spans
    weight: float


@dataclass(frozen=True)
class _Tool:
    name: str
    median_latency_s: float
    failure_rate: float
    error_types: tuple[str, ...]


@dataclass(frozen=True)
class _AgentService:
    name: str
    version: str
    agents: tuple[str, ...]
    task_types: tuple[str, ...]
    features: tuple[str, ...]
    tools: tuple[_Tool, ...]
    framework_scope: tuple[str, str]  # emits invoke_agent and execute_tool spans


_OPENAI_SCOPE = ("opentelemetry.instrumentation.openai_v2", "2.1b0")
_ANTHROPIC_SCOPE = ("opentelemetry.instrumentation.anthropic", "0.47.3")
_GEMINI_SCOPE = ("opentelemetry.instrumentation.google_genai", "0.4b0")

_MODELS = (
    _Model("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "api.openai.com", 0.9, _OPENAI_SCOPE, 4),
    _Model("openai", "gpt-4o", "gpt-4o-2024-08-06", "api.openai.com", 2.0, _OPENAI_SCOPE, 1.5),
    _Model("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "api.anthropic.com", 3.0,
           _ANTHROPIC_SCOPE, 3),
    _Model("anthropic", "claude-haiku-4-5", "claude-haiku-4-5-20251001", "api.anthropic.com", 0.8,
           _ANTHROPIC_SCOPE, 1.5),
    _Model("gcp.gemini", "gemini-2.5-flash", "gemini-2.5-flash", "generativelanguage.googleapis.com", 0.7,
           _GEMINI_SCOPE, 2),
)

_HTTP_ERRORS = ("HTTPError", "TimeoutError")
_SERVICES = (
    _AgentService(
        "support-agent", "1.14.2", ("support-triage", "refund-handler"), ("answer_ticket", "process_refund"),
        ("helpdesk-chat", "email-autoreply"),
        (_Tool("search_knowledge_base", 0.35, 0.03, _HTTP_ERRORS), _Tool("lookup_order", 0.12, 0.05, ("KeyError",)),
         _Tool("issue_refund", 0.6, 0.08, ("PermissionError", "HTTPError")),
         _Tool("create_ticket", 0.25, 0.02, _HTTP_ERRORS)),
        ("openai.agents", "0.4.2"),
    ),
    _AgentService(
        "research-agent", "0.9.0", ("web-researcher",), ("research_report", "fact_check"), ("deep-research",),
        (_Tool("web_search", 1.2, 0.04, _HTTP_ERRORS), _Tool("fetch_url", 0.8, 0.12, ("HTTPError", "TimeoutError")),
         _Tool("summarize_pdf", 2.5, 0.05, ("ValueError",))),
        ("langgraph", "0.6.7"),
    ),
    _AgentService(
        "coding-agent", "2.3.1", ("code-reviewer", "ci-fixer"), ("review_pr", "fix_ci"), ("github-app",),
        (_Tool("read_file", 0.05, 0.02, ("FileNotFoundError",)), _Tool("run_tests", 6.0, 0.15, ("TestFailure",)),
         _Tool("git_diff", 0.1, 0.01, ("CalledProcessError",))),
        ("openai.agents", "0.4.2"),
    ),
    _AgentService(
        "sales-assistant", "1.2.0", ("lead-qualifier",), ("qualify_lead", "draft_email"), ("crm-sidebar",),
        (_Tool("query_crm", 0.4, 0.04, _HTTP_ERRORS), _Tool("send_email", 0.9, 0.03, ("SMTPException",))),
        ("langgraph", "0.6.7"),
    ),
)
_TENANTS = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell", "cyberdyne", "soylent")
_CHAT_ERRORS = ("timeout", "429", "500", "openai.APIConnectionError", "anthropic.OverloadedError",
                "context_length_exceeded")
_RETRY_STATUSES = (429, 503, 529)
# A few heavy users and a long tail, as in real traffic (Zipf-like weights).
_USERS = tuple(f"user-{k:04d}" for k in range(2000))
_USER_CUM_WEIGHTS = tuple(itertools.accumulate(1 / (k + 5) for k in range(2000)))


def id_stamp(send_number: int) -> bytes:
    """The 4 bytes that make a send's ids fresh: distinct for distinct `send_number` mod 2**32.

    Multiplying by an odd constant is a bijection mod 2**32, and spreads the
    stamps out so that ids do not look sequential.
    """
    return ((send_number * 0x9E3779B1) & 0xFFFFFFFF).to_bytes(ID_STAMP_BYTES, "big")


@dataclass(frozen=True)
class BatchTemplate:
    """One serialized ExportTraceServiceRequest, split where each id's stamp goes."""

    pieces: tuple[bytes, ...]
    span_count: int
    id_offsets: tuple[int, ...]  # where each trace, span and parent span id starts in the request

    @classmethod
    def from_request(cls, request: ExportTraceServiceRequest) -> BatchTemplate:
        """Serialize `request` and find its ids."""
        data = request.SerializeToString()
        offsets = _id_offsets(data)
        cuts = [0]
        for offset in offsets:
            cuts += [offset, offset + ID_STAMP_BYTES]
        cuts.append(len(data))
        pieces = tuple(data[cuts[i]:cuts[i + 1]] for i in range(0, len(cuts), 2))
        span_count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        return cls(pieces, span_count, tuple(offsets))

    @property
    def size_bytes(self) -> int:
        """Length of the serialized request."""
        return sum(map(len, self.pieces)) + ID_STAMP_BYTES * len(self.id_offsets)

    def stamp(self, send_number: int) -> bytes:
        """The request with every id's first bytes set to `id_stamp(send_number)`."""
        return id_stamp(send_number).join(self.pieces)


def _id_offsets(data: bytes) -> list[int]:
    """Start of every non-empty trace_id, span_id and parent_span_id in a serialized request."""
    offsets = []
    for rs_field, _, rs_start, rs_end in _wire.fields(data):
        if rs_field != 1:  # ExportTraceServiceRequest.resource_spans
            continue
        for ss_field, _, ss_start, ss_end in _wire.fields(data, rs_start, rs_end):
            if ss_field != 2:  # ResourceSpans.scope_spans
                continue
            for span_field, _, span_start, span_end in _wire.fields(data, ss_start, ss_end):
                if span_field != 2:  # ScopeSpans.spans
                    continue
                for field, wire_type, start, end in _wire.fields(data, span_start, span_end):
                    # Span.trace_id = 1, span_id = 2, parent_span_id = 4
                    if field in (1, 2, 4) and wire_type == _wire.LEN and end > start:
                        offsets.append(start)
    return offsets


def build_pool(*, batches: int, spans_per_batch: int, seed: int, now_ns: int) -> list[BatchTemplate]:
    """`batches` templates of `spans_per_batch` spans each, cycling through the agent services."""
    rng = random.Random(seed)
    instances = {
        (service.name, n): (f"{rng.getrandbits(128):032x}", f"{service.name}-{rng.getrandbits(24):06x}")
        for service in _SERVICES for n in range(4)
    }
    pool = []
    for index in range(batches):
        service = _SERVICES[index % len(_SERVICES)]
        instance = (index // len(_SERVICES)) % 4
        environment = "staging" if instance == 3 else "production"
        instance_id, host = instances[(service.name, instance)]
        request = _batch(rng, service, instance_id, host, environment, spans_per_batch, now_ns)
        pool.append(BatchTemplate.from_request(request))
    return pool


def check_stamping(template: BatchTemplate) -> None:
    """Raise RuntimeError unless stamped copies of `template` parse, with the new, consistent ids."""
    first, second = (_parsed_ids(template, n) for n in (1, 2))
    for send_number, (trace_ids, span_ids, parent_ids) in ((1, first), (2, second)):
        stamp = id_stamp(send_number)
        if len(span_ids) != template.span_count or len(set(span_ids)) != len(span_ids):
            raise RuntimeError(f"self-check: send {send_number}: expected {template.span_count} distinct span ids")
        if not all(i.startswith(stamp) for i in (*trace_ids, *span_ids, *parent_ids)):
            raise RuntimeError(f"self-check: send {send_number}: an id does not carry the stamp {stamp.hex()}")
        if not set(parent_ids) <= set(span_ids):
            raise RuntimeError(f"self-check: send {send_number}: a parent span id names no span of the batch")
    if set(first[1]) & set(second[1]) or set(first[0]) & set(second[0]):
        raise RuntimeError("self-check: two sends share an id")


def _parsed_ids(template: BatchTemplate, send_number: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    request = ExportTraceServiceRequest.FromString(template.stamp(send_number))
    spans = [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]
    return ([s.trace_id for s in spans], [s.span_id for s in spans],
            [s.parent_span_id for s in spans if s.parent_span_id])


def _batch(rng: random.Random, service: _AgentService, instance_id: str, host: str, environment: str,
           span_count: int, now_ns: int) -> ExportTraceServiceRequest:
    ids = _Ids(rng)
    by_scope: dict[tuple[str, str], list[Span]] = {}
    remaining = span_count
    while remaining:
        trace = _agent_run(rng, ids, service, now_ns)[:remaining]  # root first: a cut trace keeps its root
        for scope, span in trace:
            by_scope.setdefault(scope, []).append(span)
        remaining -= len(trace)
    resource = Resource(attributes=_attributes({
        "service.name": service.name,
        "service.version": service.version,
        "service.instance.id": instance_id,
        "host.name": host,
        "deployment.environment": environment,
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": "1.38.0",
    }))
    scope_spans = [
        ScopeSpans(scope=InstrumentationScope(name=name, version=version), spans=spans, schema_url=_SCHEMA_URL)
        for (name, version), spans in by_scope.items()
    ]
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=scope_spans, schema_url=_SCHEMA_URL)]
    )


class _Ids:
    """Random ids whose bytes after the stamp are unique within one batch and never zero."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._seen: set[bytes] = set()

    def new(self, size: int) -> bytes:
        while True:
            candidate = self._rng.randbytes(size)
            tail = candidate[ID_STAMP_BYTES:]
            if any(tail) and tail not in self._seen:
                self._seen.add(tail)
                return candidate


@dataclass
class _Call:
    """A child span of an agent run, before it is placed on the run's timeline."""

    scope: tuple[str, str]
    name: str
    kind: Span.SpanKind.ValueType
    duration_s: float
    attributes: dict[str, object]
    error: tuple[str, str] | None = None  # (error.type, message)
    retry_statuses: tuple[int, ...] = ()
    output_tokens: int = 0


def _agent_run(
    rng: random.Random, ids: _Ids, service: _AgentService, now_ns: int
) -> list[tuple[tuple[str, str], Span]]:
    """One agent task as a list of (scope, span), the invoke_agent root first."""
    agent = rng.choice(service.agents)
    model = rng.choices(_MODELS, weights=[m.weight for m in _MODELS])[0]
    steps = rng.choices((1, 2, 3, 4, 5, 6), weights=(3, 5, 5, 3, 2, 1))[0]
    context_tokens = rng.randint(600, 3500)
    calls: list[_Call] = []
    task_error: tuple[str, str] | None = None
    for step in range(steps):
        final = step == steps - 1
        chat = _chat(rng, model, step, context_tokens, final)
        calls.append(chat)
        if chat.error and rng.random() < 0.5:
            task_error = chat.error
            break
        if final or chat.error:
            continue
        context_tokens += chat.output_tokens
        for _ in range(rng.choice((1, 1, 1, 2))):
            tool = _tool(rng, service)
            calls.append(tool)
            context_tokens += rng.randint(80, 1500)
            if tool.error and rng.random() < 0.2:
                task_error = tool.error
        if task_error:
            break

    total_s = sum(c.duration_s for c in calls) + 0.03 * (len(calls) + 1)
    if total_s > _MAX_DURATION_S - 0.1:  # an agent run, like each call in it, takes 50 ms to 20 s
        factor = (_MAX_DURATION_S - 0.1 - 0.03 * (len(calls) + 1)) / sum(c.duration_s for c in calls)
        for call in calls:
            call.duration_s = max(_MIN_DURATION_S, call.duration_s * factor)
    trace_id = ids.new(16)
    root_id = ids.new(8)
    start_ns = now_ns - int(rng.uniform(25, 3600) * 1e9)
    cursor_ns = start_ns + int(rng.uniform(0.005, 0.03) * 1e9)
    children = []
    for call in calls:
        end_ns = cursor_ns + int(call.duration_s * 1e9)
        span = _span(trace_id, ids.new(8), root_id, call.name, call.kind, cursor_ns, end_ns, call.attributes,
                     call.error)
        for attempt, status in enumerate(call.retry_statuses, start=1):
            span.events.add(
                time_unix_nano=cursor_ns + (end_ns - cursor_ns) * attempt // (len(call.retry_statuses) + 2),
                name="retry",
                attributes=_attributes({"retry.attempt": attempt, "http.response.status_code": status,
                                        "error.type": str(status)}),
            )
        children.append((call.scope, span))
        cursor_ns = end_ns + int(rng.uniform(0.002, 0.03) * 1e9)
    root_attributes: dict[str, object] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": agent,
        "gen_ai.agent.id": f"asst_{rng.getrandbits(64):016x}",
        "gen_ai.conversation.id": f"conv_{rng.getrandbits(64):016x}",
        "agentslo.task.type": rng.choice(service.task_types),
        "agentslo.feature": rng.choice(service.features),
        "agentslo.tenant": rng.choices(_TENANTS, weights=range(len(_TENANTS), 0, -1))[0],
        "user.id": rng.choices(_USERS, cum_weights=_USER_CUM_WEIGHTS)[0],
    }
    if task_error:
        root_attributes["error.type"] = task_error[0]
    root = _span(trace_id, root_id, b"", f"invoke_agent {agent}", Span.SPAN_KIND_INTERNAL, start_ns,
                 cursor_ns + int(rng.uniform(0.002, 0.02) * 1e9), root_attributes, task_error)
    return [(service.framework_scope, root), *children]


def _chat(rng: random.Random, model: _Model, step: int, context_tokens: int, final: bool) -> _Call:
    attributes: dict[str, object] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": model.provider,
        "gen_ai.request.model": model.request_model,
        "gen_ai.request.max_tokens": 4096,
        "gen_ai.request.temperature": rng.choice((0.0, 0.2, 0.7)),
        "server.address": model.server_address,
        "server.port": 443,
    }
    served_by = model
    roll = rng.random()
    if roll < 0.04:  # failed call
        error_type = rng.choice(_CHAT_ERRORS)
        attributes["error.type"] = error_type
        attributes["gen_ai.usage.input_tokens"] = context_tokens if error_type != "context_length_exceeded" else 0
        duration_s = 30.0 if error_type == "timeout" else _lognormal(rng, 0.4, 0.8)
        return _Call(model.scope, f"chat {model.request_model}", Span.SPAN_KIND_CLIENT, _clamp(duration_s),
                     attributes, (error_type, f"{model.provider} request failed: {error_type}"))
    if roll < 0.07:  # answered from the response cache: no model call, no tokens
        attributes |= {"agentslo.fallback.source": "cache", "agentslo.degraded": True,
                       "gen_ai.response.model": model.response_model,
                       "gen_ai.usage.input_tokens": 0, "gen_ai.usage.output_tokens": 0,
                       "gen_ai.response.finish_reasons": ["stop" if final else "tool_calls"]}
        return _Call(model.scope, f"chat {model.request_model}", Span.SPAN_KIND_CLIENT,
                     rng.uniform(0.05, 0.15), attributes)
    if roll < 0.11:  # primary unavailable: a secondary model from another provider answered
        served_by = rng.choice([m for m in _MODELS if m.provider != model.provider])
        attributes |= {"agentslo.fallback.source": "secondary", "agentslo.degraded": True,
                       "gen_ai.provider.name": served_by.provider, "server.address": served_by.server_address}
    output_tokens = rng.randint(150, 900) if final else rng.randint(25, 250)
    attributes |= {
        "gen_ai.response.model": served_by.response_model,
        "gen_ai.response.id": f"resp_{rng.getrandbits(96):024x}",
        "gen_ai.response.finish_reasons": [("length" if rng.random() < 0.03 else "stop") if final else "tool_calls"],
        "gen_ai.usage.input_tokens": context_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
    }
    if step > 0 and served_by.provider != "gcp.gemini" and rng.random() < 0.7:
        attributes["gen_ai.usage.cache_read.input_tokens"] = int(context_tokens * rng.uniform(0.4, 0.9))
    elif step == 0 and served_by.provider == "anthropic" and rng.random() < 0.3:
        attributes["gen_ai.usage.cache_creation.input_tokens"] = int(context_tokens * rng.uniform(0.5, 0.9))
    duration_s = _lognormal(rng, served_by.median_latency_s * (1 + output_tokens / 400), 0.5)
    retries: tuple[int, ...] = ()
    if rng.random() < 0.08:
        retries = tuple(rng.choice(_RETRY_STATUSES) for _ in range(rng.choice((1, 1, 2, 3))))
        attributes["http.resend_count"] = len(retries)
        duration_s += sum(rng.uniform(0.5, 4.0) for _ in retries)
    return _Call(served_by.scope, f"chat {model.request_model}", Span.SPAN_KIND_CLIENT, _clamp(duration_s),
                 attributes, retry_statuses=retries, output_tokens=output_tokens)


def _tool(rng: random.Random, service: _AgentService) -> _Call:
    tool = rng.choice(service.tools)
    attributes: dict[str, object] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool.name,
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.id": f"call_{rng.getrandbits(96):024x}",
    }
    error = None
    if rng.random() < tool.failure_rate:
        error_type = rng.choice(tool.error_types)
        attributes["error.type"] = error_type
        error = (error_type, f"{tool.name} failed: {error_type}")
    return _Call(service.framework_scope, f"execute_tool {tool.name}", Span.SPAN_KIND_INTERNAL,
                 _clamp(_lognormal(rng, tool.median_latency_s, 0.7)), attributes, error)


def _span(trace_id: bytes, span_id: bytes, parent_id: bytes, name: str, kind: Span.SpanKind.ValueType,
          start_ns: int, end_ns: int, attributes: dict[str, object], error: tuple[str, str] | None) -> Span:
    span = Span(trace_id=trace_id, span_id=span_id, parent_span_id=parent_id, flags=_SPAN_FLAGS, name=name,
                kind=kind, start_time_unix_nano=start_ns, end_time_unix_nano=end_ns,
                attributes=_attributes(attributes))
    if error:
        error_type, message = error
        span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=message))
        span.events.add(time_unix_nano=end_ns, name="exception",
                        attributes=_attributes({"exception.type": error_type, "exception.message": message}))
    return span


def _attributes(values: dict[str, object]) -> list[KeyValue]:
    return [KeyValue(key=key, value=_any_value(value)) for key, value in values.items()]


def _any_value(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, Sequence):
        return AnyValue(array_value=ArrayValue(values=[_any_value(v) for v in value]))
    raise TypeError(f"no OTLP attribute value for {value!r}")


def _lognormal(rng: random.Random, median_s: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(median_s), sigma)


def _clamp(duration_s: float) -> float:
    return min(max(duration_s, _MIN_DURATION_S), _MAX_DURATION_S)
