"""Span -> row: the pure core of ingest.

Turns a decoded OTLP `ExportTraceServiceRequest` into `otel_traces` rows,
serialised as JSONEachRow, with the OpenTelemetry Collector ClickHouse
exporter's column values (SpanKind `Client`, StatusCode `Error`, attribute
values as strings) plus the typed LLM columns and the cost.

This runs once per span at tens of thousands of spans per second, so the loop
is written for speed: plain dict look-ups, no per-span objects beyond the row.
"""

from __future__ import annotations

import base64
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector import _attributes as names
from collector._attributes import CONTENT_EVENTS, DimensionAliases, is_content_attribute
from collector._pricing import PriceTable, cost_usd

# Enum names as the Collector exporter writes them (pdata's String() forms).
_SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
_STATUS_CODES = ("Unset", "Ok", "Error")
# Operations that are calls to a model: only these are priced, so that an agent
# span repeating its children's token totals is not counted twice.
MODEL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
_TRUE = frozenset({"true", "1", "yes"})
_NOT_DEGRADED_SOURCES = frozenset({"", "primary"})
_NS_PER_DAY = 86_400 * 1_000_000_000
_MAX_ERRORS_REPORTED = 5
_MAX_REMEMBERED_KEYS = 10_000

COST_REPORTED = "reported"
COST_PRICED = "priced"
COST_UNPRICED = "unpriced"


@dataclass(frozen=True)
class MappingPolicy:
    """What ingest keeps: dimension attribute names, content capture, value size limit."""

    dimensions: DimensionAliases = DimensionAliases()
    capture_content: bool = False
    max_attribute_length: int = 8192


@dataclass
class MappedBatch:
    """The rows of one export request and what was refused or left unpriced."""

    rows: list[bytes] = field(default_factory=list)
    span_keys: list[bytes] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    unpriced_models: Counter[str] = field(default_factory=Counter)
    truncated_values: int = 0

    @property
    def accepted(self) -> int:
        return len(self.rows)

    def reject(self, message: str) -> None:
        self.rejected += 1
        if len(self.errors) < _MAX_ERRORS_REPORTED:
            self.errors.append(message)

    def error_message(self) -> str:
        """One line for OTLP partial success: how many were rejected and the first reasons."""
        if not self.rejected:
            return ""
        more = self.rejected - len(self.errors)
        tail = f" (and {more} more)" if more else ""
        return f"{self.rejected} spans rejected: " + "; ".join(self.errors) + tail


class SpanMapper:
    """Maps export requests to rows under one policy and price table."""

    def __init__(self, policy: MappingPolicy, prices: PriceTable) -> None:
        self._policy = policy
        self._prices = prices
        self._days: dict[int, date] = {}
        # Attribute keys repeat across spans: decide once per key whether it is dropped.
        self._dropped_keys: dict[str, bool] = {}

    def map(self, request: ExportTraceServiceRequest) -> MappedBatch:
        """All rows of `request`; invalid spans are counted and described, not raised."""
        batch = MappedBatch()
        dims = self._policy.dimensions
        for resource_spans in request.resource_spans:
            resource = self._attributes(resource_spans.resource.attributes, batch)
            # Columns every span of this resource shares unless its own attributes say otherwise.
            shared = {"ServiceName": resource.get("service.name", ""), "ResourceAttributes": resource}
            for column, aliases in (("UserId", dims.user), ("Tenant", dims.tenant), ("AgentName", dims.agent),
                                    ("TaskType", dims.task_type), ("Feature", dims.feature)):
                value = _first(resource, aliases)
                if value:
                    shared[column] = value
            for scope_spans in resource_spans.scope_spans:
                scope = scope_spans.scope
                shared["ScopeName"] = scope.name
                shared["ScopeVersion"] = scope.version
                for span in scope_spans.spans:
                    self._map_span(span, shared, batch)
        return batch

    def _map_span(self, span, shared: dict, batch: MappedBatch) -> None:
        trace_id, span_id, parent_id = span.trace_id, span.span_id, span.parent_span_id
        problem = _id_problem(trace_id, span_id, parent_id)
        if problem:
            batch.reject(f"span {span.name!r}: {problem}")
            return
        attrs = self._attributes(span.attributes, batch)
        start = span.start_time_unix_nano
        status = span.status
        status_code = _STATUS_CODES[status.code] if status.code < 3 else "Unset"
        # Rows carry only the columns that differ from the column default ('' / 0 / []):
        # less JSON to write here and to parse in ClickHouse.
        row = shared.copy()
        row["Timestamp"] = _timestamp(start)
        row["TraceId"] = trace_id.hex()
        row["SpanId"] = span_id.hex()
        row["ParentSpanId"] = parent_id.hex()
        row["SpanName"] = span.name
        row["SpanKind"] = _SPAN_KINDS[span.kind] if span.kind < 6 else "Unspecified"
        row["SpanAttributes"] = attrs
        row["Duration"] = max(span.end_time_unix_nano - start, 0)
        row["StatusCode"] = status_code
        if span.trace_state:
            row["TraceState"] = span.trace_state
        if status.message:
            row["StatusMessage"] = status.message
        exception_type = self._events(span.events, row, batch) if span.events else ""
        if span.links:
            self._links(span.links, row, batch)

        operation = _first(attrs, names.OPERATION) or _operation_synonym(attrs)
        request_model = _first(attrs, names.REQUEST_MODEL)
        response_model = _first(attrs, names.RESPONSE_MODEL)
        input_tokens = _count(_first(attrs, names.INPUT_TOKENS))
        output_tokens = _count(_first(attrs, names.OUTPUT_TOKENS))
        cache_read = _count(_first(attrs, names.CACHE_READ_TOKENS))
        cache_write = _count(_first(attrs, names.CACHE_WRITE_TOKENS))
        cost, cost_source = self._cost(
            attrs, operation, response_model or request_model, start,
            input_tokens, output_tokens, cache_read, cache_write, batch,
        )
        error_type = _first(attrs, names.ERROR_TYPE) or exception_type
        if not error_type and status_code == "Error":
            error_type = "_OTHER"  # semconv's value when the error has no type
        fallback = _first(attrs, names.FALLBACK_SOURCE)
        degraded = (_first(attrs, names.DEGRADED).lower() in _TRUE) or fallback not in _NOT_DEGRADED_SOURCES
        dims = self._policy.dimensions
        for column, value in (
            ("GenAiOperation", operation),
            ("GenAiProvider", _first(attrs, names.PROVIDER)),
            ("RequestModel", request_model),
            ("ResponseModel", response_model),
            ("InputTokens", input_tokens),
            ("OutputTokens", output_tokens),
            ("CacheReadTokens", cache_read),
            ("CacheWriteTokens", cache_write),
            ("CostUsd", cost),
            ("CostSource", cost_source),
            ("ErrorType", error_type),
            ("UserId", _first(attrs, dims.user)),
            ("Tenant", _first(attrs, dims.tenant)),
            ("AgentName", _first(attrs, dims.agent)),
            ("TaskType", _first(attrs, dims.task_type)),
            ("Feature", _first(attrs, dims.feature)),
            ("FallbackSource", fallback),
            ("Degraded", 1 if degraded else 0),
        ):
            if value:
                row[column] = value
        batch.rows.append(orjson.dumps(row))
        batch.span_keys.append(trace_id + span_id)

    def _cost(self, attrs: dict[str, str], operation: str, model: str, start_ns: int,
              input_tokens: int, output_tokens: int, cache_read: int, cache_write: int,
              batch: MappedBatch) -> tuple[float, str]:
        reported = _first(attrs, names.REPORTED_COST)
        if reported:
            value = _float(reported)
            if value is not None:
                return value, COST_REPORTED
        is_model_call = operation in MODEL_OPERATIONS or (
            not operation and (model or input_tokens or output_tokens)
        )
        if not is_model_call:
            return 0.0, ""
        price = self._prices.lookup(model, at=self._day(start_ns)) if model else None
        if price is None:
            batch.unpriced_models[model or "(no model)"] += 1
            return 0.0, COST_UNPRICED
        return cost_usd(
            price,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
        ), COST_PRICED

    def _day(self, start_ns: int) -> date:
        day = start_ns // _NS_PER_DAY
        known = self._days.get(day)
        if known is None:
            known = datetime.fromtimestamp(day * 86_400, tz=timezone.utc).date()
            self._days[day] = known
        return known

    def _attributes(self, pairs: Iterable[KeyValue], batch: MappedBatch) -> dict[str, str]:
        dropped = self._dropped_keys
        limit = self._policy.max_attribute_length
        out: dict[str, str] = {}
        for pair in pairs:
            key = pair.key
            drop = dropped.get(key)
            if drop is None:
                if len(dropped) >= _MAX_REMEMBERED_KEYS:  # keys come from clients: bound the memo
                    dropped.clear()
                drop = dropped[key] = not self._policy.capture_content and is_content_attribute(key)
            if drop:
                continue
            value = pair.value
            kind = value.WhichOneof("value")
            # Most values are strings: skip the general conversion for them.
            text = value.string_value if kind == "string_value" else _as_string(value, kind)
            if len(text) > limit:
                text = text[:limit]
                batch.truncated_values += 1
            out[key] = text
        return out

    def _events(self, events, row: dict, batch: MappedBatch) -> str:
        """Fill the Events.* columns; return the type of the first recorded exception."""
        times: list[str] = []
        event_names: list[str] = []
        attributes: list[dict[str, str]] = []
        exception_type = ""
        capture = self._policy.capture_content
        for event in events:
            if not capture and event.name in CONTENT_EVENTS:
                continue
            attrs = self._attributes(event.attributes, batch)
            if event.name == "exception" and not exception_type:
                exception_type = attrs.get("exception.type", "")
            times.append(_timestamp(event.time_unix_nano))
            event_names.append(event.name)
            attributes.append(attrs)
        if times:
            row["Events.Timestamp"] = times
            row["Events.Name"] = event_names
            row["Events.Attributes"] = attributes
        return exception_type

    def _links(self, links, row: dict, batch: MappedBatch) -> None:
        row["Links.TraceId"] = [link.trace_id.hex() for link in links]
        row["Links.SpanId"] = [link.span_id.hex() for link in links]
        row["Links.TraceState"] = [link.trace_state for link in links]
        row["Links.Attributes"] = [self._attributes(link.attributes, batch) for link in links]


def _id_problem(trace_id: bytes, span_id: bytes, parent_id: bytes) -> str:
    """Why the ids make a span invalid (OTLP: trace 16 bytes, span 8 bytes, neither all zero), or ''."""
    for name, value, size in (("trace_id", trace_id, 16), ("span_id", span_id, 8)):
        if len(value) != size:
            return f"{name} must be {size} bytes, got {len(value)}"
        if not any(value):
            return f"{name} must not be all zero"
    if len(parent_id) not in (0, 8):
        return f"parent_span_id must be empty or 8 bytes, got {len(parent_id)}"
    return ""


def _timestamp(unix_ns: int) -> str:
    """DateTime64(9) text that ClickHouse parses exactly: seconds.nanoseconds."""
    seconds, nanos = divmod(unix_ns, 1_000_000_000)
    return f"{seconds}.{nanos:09d}"


def _first(attrs: dict[str, str], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = attrs.get(key)
        if value:
            return value
    return ""


def _operation_synonym(attrs: dict[str, str]) -> str:
    for key, synonyms in names.OPERATION_SYNONYMS.items():
        value = attrs.get(key)
        if value:
            return synonyms.get(value, "")
    return ""


def _count(text: str) -> int:
    """A token count from an attribute value; anything not a non-negative number counts as 0."""
    if not text:
        return 0
    try:
        return max(int(text), 0)
    except ValueError:
        value = _float(text)
        return int(value) if value is not None and value > 0 else 0


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _as_string(value: AnyValue, kind: str | None) -> str:
    """An attribute value (of oneof `kind`) as the Collector's AsString() writes it into the Map columns."""
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return str(value.int_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "double_value":
        return _double(value.double_value)
    if kind is None:
        return ""
    return orjson.dumps(_as_json(value)).decode()


def _double(number: float) -> str:
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return repr(number)


def _as_json(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_as_json(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {pair.key: _as_json(pair.value) for pair in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind == "double_value":
        number = value.double_value
        return number if math.isfinite(number) else _double(number)
    if kind is None:
        return None
    return getattr(value, kind)
