"""Span -> row: the pure core of ingest.

Turns a decoded OTLP `ExportTraceServiceRequest` into `otel_traces` rows,
as Arrow columns (collector._columns), with the OpenTelemetry Collector ClickHouse
exporter's column values (SpanKind `Client`, StatusCode `Error`, attribute
values as strings) plus the typed LLM columns and the cost.

This runs once per span at tens of thousands of spans per second, so the loop
is written for speed: plain dict look-ups, one tuple per span, columns built in C.
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
from collector._columns import MAX_TIME_NS, Nested, SpanBlock, span_block
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

_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)
# Positions of the alias tables in SpanMapper's alias index.
(_SLOT_OPERATION, _SLOT_PROVIDER, _SLOT_REQUEST_MODEL, _SLOT_RESPONSE_MODEL, _SLOT_INPUT_TOKENS,
 _SLOT_OUTPUT_TOKENS, _SLOT_CACHE_READ_TOKENS, _SLOT_CACHE_WRITE_TOKENS, _SLOT_REPORTED_COST, _SLOT_ERROR_TYPE,
 _SLOT_FALLBACK_SOURCE, _SLOT_DEGRADED, _SLOT_SYNONYM, _SLOT_USER, _SLOT_TENANT, _SLOT_AGENT, _SLOT_TASK_TYPE,
 _SLOT_FEATURE) = range(18)
_SLOTS = _SLOT_FEATURE + 1
_UNRANKED = 1 << 30
# The operation synonym tables, by their attribute's position in OPERATION_SYNONYMS.
_SYNONYMS = tuple(names.OPERATION_SYNONYMS.values())

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

    block: SpanBlock | None = None  # None when no span was accepted
    span_keys: list[bytes] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    unpriced_models: Counter[str] = field(default_factory=Counter)
    truncated_values: int = 0

    @property
    def accepted(self) -> int:
        return len(self.span_keys)

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
        dims = policy.dimensions
        # The attribution columns' aliases, in ROW_COLUMNS order (UserId ... Feature).
        self._dimensions = (dims.user, dims.tenant, dims.agent, dims.task_type, dims.feature)
        # Every alias table in one index (its order gives the _SLOT_* numbers), so that
        # a span's typed columns come from one pass over the attributes it has.
        self._aliases = names.alias_index((
            names.OPERATION, names.PROVIDER, names.REQUEST_MODEL, names.RESPONSE_MODEL,
            names.INPUT_TOKENS, names.OUTPUT_TOKENS, names.CACHE_READ_TOKENS, names.CACHE_WRITE_TOKENS,
            names.REPORTED_COST, names.ERROR_TYPE, names.FALLBACK_SOURCE, names.DEGRADED,
            tuple(names.OPERATION_SYNONYMS),
            dims.user, dims.tenant, dims.agent, dims.task_type, dims.feature,
        ))
        self._alias_keys = frozenset(self._aliases)

    def map(self, request: ExportTraceServiceRequest) -> MappedBatch:
        """All rows of `request`; invalid spans are counted and described, not raised."""
        batch = MappedBatch()
        rows: list[tuple] = []
        events: Nested = []
        links: Nested = []
        for resource_spans in request.resource_spans:
            resource = self._attributes(resource_spans.resource.attributes, batch)
            service = resource.get("service.name", "")
            # Attribution from the resource, unless the span's own attributes say otherwise.
            resource_dims = tuple(_first(resource, aliases) for aliases in self._dimensions)
            for scope_spans in resource_spans.scope_spans:
                scope = scope_spans.scope
                shared = (service, resource, scope.name, scope.version, resource_dims)
                for span in scope_spans.spans:
                    self._map_span(span, shared, rows, events, links, batch)
        if rows:
            batch.block = span_block(rows, events, links)
        return batch

    def _map_span(self, span, shared: tuple, rows: list[tuple], events: Nested, links: Nested,
                  batch: MappedBatch) -> None:
        trace_id, span_id, parent_id = span.trace_id, span.span_id, span.parent_span_id
        start = span.start_time_unix_nano
        end = span.end_time_unix_nano
        problem = _id_problem(trace_id, span_id, parent_id) or _time_problem(start, end)
        if problem:
            batch.reject(f"span {span.name!r}: {problem}")
            return
        attrs = self._attributes(span.attributes, batch)
        status = span.status
        code = status.code
        status_code = _STATUS_CODES[code] if code < 3 else "Unset"
        kind = span.kind
        exception_type = ""
        span_events = span.events  # each access to a repeated field builds a new wrapper
        if span_events:
            kept = self._events(span_events, batch)
            if kept is None:
                batch.reject(f"span {span.name!r}: an event's time_unix_nano is past 2262-04-11")
                return
            if kept[0]:
                events.append((len(rows), kept[:3]))
                exception_type = kept[3]
        span_links = span.links
        if span_links:
            links.append((len(rows), self._links(span_links, batch)))

        # The first present, non-empty alias of each table: one pass over the aliased attributes.
        values = [""] * _SLOTS
        ranks = [_UNRANKED] * _SLOTS
        aliases = self._aliases
        for key in attrs.keys() & self._alias_keys:
            text = attrs[key]
            if text:
                for slot, rank in aliases[key]:
                    if rank < ranks[slot]:
                        ranks[slot] = rank
                        values[slot] = text
        operation = values[_SLOT_OPERATION]
        if not operation and values[_SLOT_SYNONYM]:
            operation = _SYNONYMS[ranks[_SLOT_SYNONYM]].get(values[_SLOT_SYNONYM], "")
        request_model = values[_SLOT_REQUEST_MODEL]
        response_model = values[_SLOT_RESPONSE_MODEL]
        input_tokens = _count(values[_SLOT_INPUT_TOKENS])
        output_tokens = _count(values[_SLOT_OUTPUT_TOKENS])
        cache_read = _count(values[_SLOT_CACHE_READ_TOKENS])
        cache_write = _count(values[_SLOT_CACHE_WRITE_TOKENS])
        cost, cost_source = self._cost(
            values[_SLOT_REPORTED_COST], operation, response_model or request_model, start,
            input_tokens, output_tokens, cache_read, cache_write, batch,
        )
        error_type = values[_SLOT_ERROR_TYPE] or exception_type
        if not error_type and status_code == "Error":
            error_type = "_OTHER"  # semconv's value when the error has no type
        fallback = values[_SLOT_FALLBACK_SOURCE]
        degraded = values[_SLOT_DEGRADED].lower() in _TRUE or fallback not in _NOT_DEGRADED_SOURCES
        service, resource, scope_name, scope_version, dims = shared
        # One tuple in collector._columns.ROW_COLUMNS order.
        rows.append((
            start, trace_id.hex(), span_id.hex(), parent_id.hex(), span.trace_state, span.name,
            _SPAN_KINDS[kind] if kind < 6 else "Unspecified", service, resource, scope_name, scope_version,
            attrs, end - start if end > start else 0, status_code, status.message,
            operation, values[_SLOT_PROVIDER], request_model, response_model,
            input_tokens, output_tokens, cache_read, cache_write, cost, cost_source, error_type,
            values[_SLOT_USER] or dims[0], values[_SLOT_TENANT] or dims[1], values[_SLOT_AGENT] or dims[2],
            values[_SLOT_TASK_TYPE] or dims[3], values[_SLOT_FEATURE] or dims[4],
            fallback, 1 if degraded else 0,
        ))
        batch.span_keys.append(trace_id + span_id)

    def _cost(self, reported: str, operation: str, model: str, start_ns: int,
              input_tokens: int, output_tokens: int, cache_read: int, cache_write: int,
              batch: MappedBatch) -> tuple[float, str]:
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
            # Most values are non-empty strings: one look-up, no oneof dispatch for them.
            text = value.string_value
            if not text:
                kind = value.WhichOneof("value")
                text = str(value.int_value) if kind == "int_value" else _as_string(value, kind)
            if len(text) > limit:
                text = text[:limit]
                batch.truncated_values += 1
            out[key] = text
        return out

    def _events(self, events, batch: MappedBatch) -> tuple[list[int], list[str], list[dict[str, str]], str] | None:
        """The kept events' times, names and attributes, and the type of the first recorded
        exception; None when an event's time does not fit DateTime64(9)."""
        times: list[int] = []
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
            if event.time_unix_nano > MAX_TIME_NS:
                return None
            times.append(event.time_unix_nano)
            event_names.append(event.name)
            attributes.append(attrs)
        return times, event_names, attributes, exception_type

    def _links(self, links, batch: MappedBatch) -> tuple[list[str], list[str], list[str], list[dict[str, str]]]:
        return (
            [link.trace_id.hex() for link in links],
            [link.span_id.hex() for link in links],
            [link.trace_state for link in links],
            [self._attributes(link.attributes, batch) for link in links],
        )


def _id_problem(trace_id: bytes, span_id: bytes, parent_id: bytes) -> str:
    """Why the ids make a span invalid (OTLP: trace 16 bytes, span 8 bytes, neither all zero), or ''."""
    if (len(trace_id) == 16 and len(span_id) == 8 and trace_id != _ZERO_TRACE_ID and span_id != _ZERO_SPAN_ID
            and len(parent_id) in (0, 8)):
        return ""  # the usual case, decided without the loop below
    for name, value, size in (("trace_id", trace_id, 16), ("span_id", span_id, 8)):
        if len(value) != size:
            return f"{name} must be {size} bytes, got {len(value)}"
        if not any(value):
            return f"{name} must not be all zero"
    if len(parent_id) not in (0, 8):
        return f"parent_span_id must be empty or 8 bytes, got {len(parent_id)}"
    return ""


def _time_problem(start_ns: int, end_ns: int) -> str:
    """Why the span's times cannot be stored (DateTime64(9) ends in 2262), or ''."""
    if start_ns > MAX_TIME_NS or end_ns > MAX_TIME_NS:
        return "start_time_unix_nano and end_time_unix_nano must be before 2262-04-11"
    return ""


def _first(attrs: dict[str, str], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = attrs.get(key)
        if value:
            return value
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
