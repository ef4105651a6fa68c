# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Serialized ExportTraceServiceRequest -> otel_traces columns: the compiled core of mapping.

Read through the protobuf runtime's Python objects, spans cost more before any
mapping happened than the whole compiled path costs now, the mapping in Python
several times that, and pyarrow's conversion of the Python values to columns as
much again (bench/README.md, Compiled mapping). Here the protobuf wire format is read straight from the
request's bytes and each span's values are appended to Arrow column buffers
(collector._builders): attribute values become Python strings only when an
alias table reads them. What the values mean (operation, model call, cost
source, error type, degraded) is decided in collector._semantics; price
look-ups are cached per model and day, and the cost formula is collector._pricing's.

The bytes come from upb's own serializer (SpanMapper.map), which has already
checked the request (UTF-8, lengths, nesting) and writes each field once, a
oneof's last member only. Fields this reader does not know, or with a wire
type other than the schema's, are skipped as the protobuf runtime skips
unknown fields.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_DecodeUTF8
from libc.math cimport isinf, isnan
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdio cimport snprintf
from libc.string cimport memcmp, memcpy

from collector._builders cimport Fixed, Maps, Offsets, Strings
from collector cimport _semantics as means

from binascii import b2a_base64
from datetime import datetime, timezone

import orjson
import pyarrow as pa

from collector import _attributes as names
from collector._attributes import CONTENT_EVENTS, is_content_attribute
from collector._columns import COST_UNPRICED, MAX_TIME_NS as _MAX_TIME_NS, SCHEMA

# Protobuf wire types.
cdef enum:
    VARINT = 0
    I64 = 1
    LEN = 2
    START_GROUP = 3
    END_GROUP = 4
    I32 = 5

# The typed columns fed by alias tables, in the order of RowMapper's alias index.
cdef enum:
    OPERATION, PROVIDER, REQUEST_MODEL, RESPONSE_MODEL, INPUT_TOKENS, OUTPUT_TOKENS, CACHE_READ_TOKENS,
    CACHE_WRITE_TOKENS, REPORTED_COST, ERROR_TYPE, FALLBACK_SOURCE, DEGRADED, SYNONYM, USER, TENANT, AGENT,
    TASK_TYPE, FEATURE, SLOTS

cdef int UNRANKED = 1 << 30
cdef uint64_t MAX_TIME_NS = _MAX_TIME_NS
cdef uint64_t NS_PER_DAY = 86_400 * 1_000_000_000ULL
cdef Py_ssize_t MAX_REMEMBERED = 10_000
cdef unsigned char ZEROS[16]  # static storage: all zero

TIMESTAMP = pa.timestamp("ns", tz="UTC")
UINT64 = pa.uint64()
FLOAT64 = pa.float64()
UINT8 = pa.uint8()

# Enum names as the Collector exporter writes them (pdata's String() forms).
SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")

# Field tags (field number << 3 | wire type) of the messages read here.
cdef uint64_t TAG_1_LEN = 1 << 3 | LEN
cdef uint64_t TAG_2_LEN = 2 << 3 | LEN
cdef uint64_t TAG_EVENT = 11 << 3 | LEN  # Span.events
cdef uint64_t TAG_LINK = 13 << 3 | LEN  # Span.links


cdef uint64_t _varint(const unsigned char* buf, Py_ssize_t* pos, Py_ssize_t end) except? 0xFFFFFFFFFFFFFFFF:
    cdef uint64_t result = 0
    cdef unsigned int shift = 0
    cdef unsigned char byte
    while True:
        if pos[0] >= end or shift > 63:
            raise ValueError("malformed varint")
        byte = buf[pos[0]]
        pos[0] += 1
        result |= <uint64_t>(byte & 0x7F) << shift
        if byte < 0x80:
            return result
        shift += 7


cdef Py_ssize_t _length(const unsigned char* buf, Py_ssize_t* pos, Py_ssize_t end) except -1:
    """The size of a length-delimited field; pos is left at its first byte."""
    cdef uint64_t size = _varint(buf, pos, end)
    if size > <uint64_t>(end - pos[0]):
        raise ValueError("field length past the end of its message")
    return <Py_ssize_t>size


cdef uint64_t _fixed64(const unsigned char* buf, Py_ssize_t* pos, Py_ssize_t end) except? 0xFFFFFFFFFFFFFFFF:
    cdef uint64_t value
    if end - pos[0] < 8:
        raise ValueError("truncated fixed64")
    memcpy(&value, buf + pos[0], 8)  # little-endian on the wire, as on x86-64 and arm64
    pos[0] += 8
    return value


cdef int _skip(const unsigned char* buf, Py_ssize_t* pos, Py_ssize_t end, uint64_t tag) except -1:
    """Moves pos past the value of a field this reader does not use."""
    cdef int wire = tag & 7
    cdef uint64_t inner
    cdef Py_ssize_t size = 0
    if wire == VARINT:
        _varint(buf, pos, end)
    elif wire == LEN:
        pos[0] += _length(buf, pos, end)
    elif wire == I64 or wire == I32:
        size = 8 if wire == I64 else 4
        if end - pos[0] < size:
            raise ValueError("truncated fixed-size field")
        pos[0] += size
    elif wire == START_GROUP:
        while True:
            inner = _varint(buf, pos, end)
            if (inner & 7) == END_GROUP:
                if (inner >> 3) != (tag >> 3):
                    raise ValueError("group ends with another field's tag")
                return 0
            _skip(buf, pos, end, inner)
    else:
        raise ValueError(f"invalid wire type {wire}")
    return 0


cdef bint _next(const unsigned char* buf, Py_ssize_t* pos, Py_ssize_t end, uint64_t tag,
                Py_ssize_t* size) except -1:
    """Moves pos to the value of the next length-delimited field `tag` in buf[pos:end], past the
    fields before it, and sets its size; False when there is none."""
    cdef uint64_t found
    while pos[0] < end:
        found = _varint(buf, pos, end)
        if found == tag:
            size[0] = _length(buf, pos, end)
            return True
        _skip(buf, pos, end, found)
    return False


cdef int _parts(const unsigned char* buf, Py_ssize_t start, Py_ssize_t end, Py_ssize_t* one_at,
                Py_ssize_t* one_end, Py_ssize_t* many_at) except -1:
    """For ResourceSpans and ScopeSpans: where the singular message in field 1 is (an empty
    range when absent), and where the first of the repeated messages in field 2 starts."""
    cdef Py_ssize_t pos = start, size, field_start
    cdef uint64_t tag
    one_at[0] = one_end[0] = 0
    many_at[0] = end
    while pos < end:
        field_start = pos
        tag = _varint(buf, &pos, end)
        if tag == TAG_1_LEN:
            size = _length(buf, &pos, end)
            one_at[0], one_end[0] = pos, pos + size
            pos += size
        else:
            if tag == TAG_2_LEN and many_at[0] == end:
                many_at[0] = field_start
            _skip(buf, &pos, end, tag)
    return 0


cdef inline str _text(const unsigned char* buf, Py_ssize_t start, Py_ssize_t size):
    return PyUnicode_DecodeUTF8(<const char*>buf + start, size, NULL)


cdef inline bytes _bytes(const unsigned char* buf, Py_ssize_t start, Py_ssize_t size):
    return PyBytes_FromStringAndSize(<const char*>buf + start, size)


cdef str _first(dict attrs, tuple keys):
    for key in keys:
        value = attrs.get(key)
        if value:
            return value
    return ""


cdef str _id_problem(Py_ssize_t trace_size, const unsigned char* trace_id, Py_ssize_t span_size,
                     const unsigned char* span_id, Py_ssize_t parent_size):
    """Why the ids make a span invalid (OTLP: trace 16 bytes, span 8 bytes, neither all zero), or ''."""
    if trace_size != 16:
        return f"trace_id must be 16 bytes, got {trace_size}"
    if memcmp(trace_id, ZEROS, 16) == 0:
        return "trace_id must not be all zero"
    if span_size != 8:
        return f"span_id must be 8 bytes, got {span_size}"
    if memcmp(span_id, ZEROS, 8) == 0:
        return "span_id must not be all zero"
    if parent_size != 0 and parent_size != 8:
        return f"parent_span_id must be empty or 8 bytes, got {parent_size}"
    return ""


cdef Py_ssize_t _cut(const char* text, Py_ssize_t size, Py_ssize_t limit):
    """How many bytes of the UTF-8 `text` hold its first `limit` code points."""
    cdef Py_ssize_t index, count = 0
    if size <= limit:  # fewer bytes than the limit: fewer code points too
        return size
    for index in range(size):
        if (text[index] & 0xC0) != 0x80:  # not a continuation byte: a code point starts
            if count == limit:
                return index
            count += 1
    return size


cdef class _Columns:
    """The otel_traces columns of one request's spans, as they are added."""

    cdef Py_ssize_t rows
    cdef Fixed timestamp, duration, input_tokens, output_tokens, cache_read, cache_write, cost, degraded
    cdef Strings trace_id, span_id, parent_id, trace_state, name, kind, service, scope_name, scope_version
    cdef Strings status_code, status_message, operation, provider, request_model, response_model
    cdef Strings cost_source, error_type, user, tenant, agent, task_type, feature, fallback
    cdef Maps resource, attributes
    cdef Offsets events, links
    cdef Fixed event_time
    cdef Strings event_name, link_trace_id, link_span_id, link_state
    cdef Maps event_attributes, link_attributes

    def __cinit__(self):
        self.trace_id, self.span_id, self.parent_id, self.trace_state = Strings(), Strings(), Strings(), Strings()
        self.name, self.kind, self.service = Strings(), Strings(), Strings()
        self.scope_name, self.scope_version = Strings(), Strings()
        self.status_code, self.status_message, self.operation, self.provider = Strings(), Strings(), Strings(), Strings()
        self.request_model, self.response_model, self.cost_source = Strings(), Strings(), Strings()
        self.error_type, self.user, self.tenant, self.agent = Strings(), Strings(), Strings(), Strings()
        self.task_type, self.feature, self.fallback = Strings(), Strings(), Strings()
        self.event_name, self.link_trace_id, self.link_span_id, self.link_state = Strings(), Strings(), Strings(), Strings()
        self.timestamp, self.event_time = Fixed(TIMESTAMP), Fixed(TIMESTAMP)
        self.duration, self.input_tokens, self.output_tokens = Fixed(UINT64), Fixed(UINT64), Fixed(UINT64)
        self.cache_read, self.cache_write = Fixed(UINT64), Fixed(UINT64)
        self.cost, self.degraded = Fixed(FLOAT64), Fixed(UINT8)
        self.resource, self.attributes, self.event_attributes, self.link_attributes = Maps(), Maps(), Maps(), Maps()
        self.events, self.links = Offsets(), Offsets()

    cdef object finish(self):
        """The columns as one Arrow record batch of collector._columns.SCHEMA."""
        events, links = self.events.finish(), self.links.finish()
        columns = {
            "Timestamp": self.timestamp, "TraceId": self.trace_id, "SpanId": self.span_id,
            "ParentSpanId": self.parent_id, "TraceState": self.trace_state, "SpanName": self.name,
            "SpanKind": self.kind, "ServiceName": self.service, "ResourceAttributes": self.resource,
            "ScopeName": self.scope_name, "ScopeVersion": self.scope_version, "SpanAttributes": self.attributes,
            "Duration": self.duration, "StatusCode": self.status_code, "StatusMessage": self.status_message,
            "GenAiOperation": self.operation, "GenAiProvider": self.provider, "RequestModel": self.request_model,
            "ResponseModel": self.response_model, "InputTokens": self.input_tokens,
            "OutputTokens": self.output_tokens, "CacheReadTokens": self.cache_read,
            "CacheWriteTokens": self.cache_write, "CostUsd": self.cost, "CostSource": self.cost_source,
            "ErrorType": self.error_type, "UserId": self.user, "Tenant": self.tenant, "AgentName": self.agent,
            "TaskType": self.task_type, "Feature": self.feature, "FallbackSource": self.fallback,
            "Degraded": self.degraded,
        }
        arrays = {name: builder.finish() for name, builder in columns.items()}
        nested = {
            "Events.Timestamp": (events, self.event_time), "Events.Name": (events, self.event_name),
            "Events.Attributes": (events, self.event_attributes), "Links.TraceId": (links, self.link_trace_id),
            "Links.SpanId": (links, self.link_span_id), "Links.TraceState": (links, self.link_state),
            "Links.Attributes": (links, self.link_attributes),
        }
        for name, (offsets, builder) in nested.items():
            arrays[name] = pa.ListArray.from_arrays(offsets, builder.finish(), type=SCHEMA.field(name).type)
        return pa.RecordBatch.from_arrays([arrays[name] for name in SCHEMA.names], schema=SCHEMA)


cdef class RowMapper:
    """Maps serialized export requests to otel_traces columns under one MappingPolicy and PriceTable."""

    cdef bint _capture
    cdef Py_ssize_t _limit
    cdef Py_ssize_t _truncated  # values cut in the request being mapped
    cdef _Columns _block  # the columns of the request being mapped
    cdef object _prices
    cdef dict _dropped_keys  # attribute key -> dropped as content; keys repeat across spans
    cdef dict _aliases  # attribute key -> ((slot, rank), ...): every alias table in one index
    cdef frozenset _resource_keys  # the resource attributes that mapping reads
    cdef tuple _dimensions
    cdef dict _days
    cdef dict _price_cache  # (model, day number) -> ModelPrice or None

    def __init__(self, policy, prices):
        self._capture = policy.capture_content
        self._limit = policy.max_attribute_length
        self._prices = prices
        self._dropped_keys = {}
        self._days = {}
        self._price_cache = {}
        dims = policy.dimensions
        # The attribution columns' aliases, in ROW_COLUMNS order (UserId ... Feature).
        self._dimensions = (dims.user, dims.tenant, dims.agent, dims.task_type, dims.feature)
        self._resource_keys = frozenset({"service.name"}.union(*self._dimensions))
        # Its order gives the slot numbers (OPERATION ... FEATURE), so that a span's
        # typed columns come from one pass over the attributes it has.
        self._aliases = names.alias_index((
            names.OPERATION, names.PROVIDER, names.REQUEST_MODEL, names.RESPONSE_MODEL,
            names.INPUT_TOKENS, names.OUTPUT_TOKENS, names.CACHE_READ_TOKENS, names.CACHE_WRITE_TOKENS,
            names.REPORTED_COST, names.ERROR_TYPE, names.FALLBACK_SOURCE, names.DEGRADED,
            tuple(names.OPERATION_SYNONYMS),
            dims.user, dims.tenant, dims.agent, dims.task_type, dims.feature,
        ))

    def map_request(self, bytes data, batch):
        """The spans in `data` as an Arrow record batch (None when none is kept); rejections,
        unpriced models and truncations are counted in `batch` (a MappedBatch)."""
        cdef const unsigned char* buf = data
        cdef Py_ssize_t pos = 0, end = len(data), size
        self._truncated = 0
        self._block = _Columns()
        try:
            while _next(buf, &pos, end, TAG_1_LEN, &size):  # resource_spans
                self._resource_spans(buf, pos, pos + size, batch)
                pos += size
            batch.truncated_values += self._truncated
            return self._block.finish() if self._block.rows else None
        finally:
            self._block = None

    cdef int _resource_spans(self, const unsigned char* buf, Py_ssize_t start, Py_ssize_t end, batch) except -1:
        cdef Py_ssize_t pos, size, resource_at, resource_end
        cdef Maps resource = Maps()
        _parts(buf, start, end, &resource_at, &resource_end, &pos)  # resource 1, scope_spans 2
        found = {}
        self._put_attributes(buf, resource_at, resource_end, 1, resource, self._resource_keys, found)
        resource.close_row()
        # Attribution from the resource, unless the span's own attributes say otherwise.
        shared = (resource, found.get("service.name", ""),
                  tuple([_first(found, aliases) for aliases in self._dimensions]))
        while _next(buf, &pos, end, TAG_2_LEN, &size):
            self._scope_spans(buf, pos, pos + size, shared, batch)
            pos += size
        return 0

    cdef int _scope_spans(self, const unsigned char* buf, Py_ssize_t start, Py_ssize_t end, tuple resource,
                          batch) except -1:
        cdef Py_ssize_t pos, size, scope_pos, scope_end
        cdef uint64_t tag
        _parts(buf, start, end, &scope_pos, &scope_end, &pos)  # scope 1, spans 2
        scope_name = scope_version = ""
        while scope_pos < scope_end:  # InstrumentationScope: name 1, version 2
            tag = _varint(buf, &scope_pos, scope_end)
            if tag == TAG_1_LEN or tag == TAG_2_LEN:
                size = _length(buf, &scope_pos, scope_end)
                if tag == TAG_1_LEN:
                    scope_name = self._cut_text(buf, scope_pos, size)
                else:
                    scope_version = self._cut_text(buf, scope_pos, size)
                scope_pos += size
            else:
                _skip(buf, &scope_pos, scope_end, tag)
        shared = resource + (scope_name, scope_version)
        while _next(buf, &pos, end, TAG_2_LEN, &size):
            self._span(buf, pos, pos + size, shared, batch)
            pos += size
        return 0

    cdef int _span(self, const unsigned char* buf, Py_ssize_t start, Py_ssize_t end, tuple shared,
                   batch) except -1:
        cdef _Columns block = self._block
        cdef Py_ssize_t pos = start, size, field_start
        cdef uint64_t tag, number, start_ns = 0, end_ns = 0
        cdef int32_t kind = 0, code = 0
        # (start, size) of the bytes and string fields; (first tag, end) of the repeated ones.
        cdef Py_ssize_t trace_at = 0, trace_size = 0, span_at = 0, span_size = 0, parent_at = 0, parent_size = 0
        cdef Py_ssize_t state_at = 0, state_size = 0, name_at = 0, name_size = 0, status_at = 0, status_end = 0
        cdef Py_ssize_t attrs_at = end, attrs_end = end, events_at = end, events_end = end
        cdef Py_ssize_t links_at = end, links_end = end
        cdef int ranks[SLOTS]
        cdef int slot, rank
        cdef uint64_t input_tokens, output_tokens, cache_read, cache_write
        cdef Py_ssize_t status_message_at = 0, status_message_size = 0
        cdef Maps resource
        while pos < end:
            field_start = pos
            tag = _varint(buf, &pos, end)
            number = tag >> 3
            if (tag & 7) == LEN and (1 <= number <= 5 or number == 9 or number == 11 or number == 13
                                     or number == 15):
                size = _length(buf, &pos, end)
                if number == 1:
                    trace_at, trace_size = pos, size
                elif number == 2:
                    span_at, span_size = pos, size
                elif number == 3:
                    state_at, state_size = pos, size
                elif number == 4:
                    parent_at, parent_size = pos, size
                elif number == 5:
                    name_at, name_size = pos, size
                elif number == 9:
                    if attrs_at == end:
                        attrs_at = field_start
                    attrs_end = pos + size
                elif number == 11:
                    if events_at == end:
                        events_at = field_start
                    events_end = pos + size
                elif number == 13:
                    if links_at == end:
                        links_at = field_start
                    links_end = pos + size
                else:
                    status_at, status_end = pos, pos + size
                pos += size
            elif tag == (6 << 3 | VARINT):
                kind = <int32_t>_varint(buf, &pos, end)
            elif tag == (7 << 3 | I64):
                start_ns = _fixed64(buf, &pos, end)
            elif tag == (8 << 3 | I64):
                end_ns = _fixed64(buf, &pos, end)
            else:
                _skip(buf, &pos, end, tag)

        problem = _id_problem(trace_size, buf + trace_at, span_size, buf + span_at, parent_size)
        if not problem and (start_ns > MAX_TIME_NS or end_ns > MAX_TIME_NS):
            problem = "start_time_unix_nano and end_time_unix_nano must be before 2262-04-11"
        if not problem and events_at < end and self._late_event(buf, events_at, events_end):
            problem = "an event's time_unix_nano is past 2262-04-11"
        if problem:
            batch.reject(f"span {_text(buf, name_at, name_size)!r}: {problem}")
            return 0

        # Nothing is refused from here on: each column gets this span's value.
        found = {}
        self._put_attributes(buf, attrs_at, attrs_end, 9, block.attributes, self._aliases, found)
        block.attributes.close_row()
        exception_type = self._events(buf, events_at, events_end) if events_at < end else ""
        block.events.close(block.event_name.length)
        if links_at < end:
            self._links(buf, links_at, links_end)
        block.links.close(block.link_trace_id.length)

        pos = status_at
        while pos < status_end:  # Status: message 2, code 3
            tag = _varint(buf, &pos, status_end)
            if tag == TAG_2_LEN:
                status_message_size = _length(buf, &pos, status_end)
                status_message_at = pos
                pos += status_message_size
            elif tag == (3 << 3 | VARINT):
                code = <int32_t>_varint(buf, &pos, status_end)
            else:
                _skip(buf, &pos, status_end, tag)
        # Values outside the enum (a newer client's) read as the unset/unspecified value.
        status_code = STATUS_CODES[code] if 0 <= code < 3 else "Unset"

        # The first present, non-empty alias of each table, from the aliased attributes the span has.
        values = [""] * SLOTS
        for slot in range(SLOTS):
            ranks[slot] = UNRANKED
        aliases = self._aliases
        for key, text in found.items():
            if not text:
                continue
            for slot, rank in aliases[key]:
                if rank < ranks[slot]:
                    ranks[slot] = rank
                    values[slot] = text
        operation = means.operation(values[OPERATION], values[SYNONYM], ranks[SYNONYM])
        request_model = values[REQUEST_MODEL]
        response_model = values[RESPONSE_MODEL]
        model = response_model or request_model
        input_tokens = means.token_count(values[INPUT_TOKENS])
        output_tokens = means.token_count(values[OUTPUT_TOKENS])
        cache_read = means.token_count(values[CACHE_READ_TOKENS])
        cache_write = means.token_count(values[CACHE_WRITE_TOKENS])
        reported = means.reported_cost(values[REPORTED_COST])
        model_call = means.is_model_call(operation, model, input_tokens, output_tokens)
        price = self._price(model, start_ns // NS_PER_DAY) if reported is None and model_call and model else None
        cost, cost_source = means.cost(reported, model_call, price, input_tokens, output_tokens, cache_read,
                                       cache_write)
        if cost_source == COST_UNPRICED:
            batch.unpriced_models[model or "(no model)"] += 1
        error_type = means.error_type(values[ERROR_TYPE], exception_type, status_code)
        fallback = values[FALLBACK_SOURCE]
        degraded = means.degraded(values[DEGRADED], fallback)
        resource, service, dims, scope_name, scope_version = shared

        block.timestamp.add_u64(start_ns)
        block.trace_id.add_hex(buf + trace_at, trace_size)
        block.span_id.add_hex(buf + span_at, span_size)
        block.parent_id.add_hex(buf + parent_at, parent_size)
        self._put_cut(block.trace_state, <const char*>buf + state_at, state_size)
        self._put_cut(block.name, <const char*>buf + name_at, name_size)
        block.kind.add_str(SPAN_KINDS[kind] if 0 <= kind < 6 else "Unspecified")
        block.service.add_str(service)
        block.resource.add_row_of(resource)
        block.scope_name.add_str(scope_name)
        block.scope_version.add_str(scope_version)
        block.duration.add_u64(end_ns - start_ns if end_ns > start_ns else 0)
        block.status_code.add_str(status_code)
        self._put_cut(block.status_message, <const char*>buf + status_message_at, status_message_size)
        block.operation.add_str(operation)
        block.provider.add_str(values[PROVIDER])
        block.request_model.add_str(request_model)
        block.response_model.add_str(response_model)
        block.input_tokens.add_u64(input_tokens)
        block.output_tokens.add_u64(output_tokens)
        block.cache_read.add_u64(cache_read)
        block.cache_write.add_u64(cache_write)
        block.cost.add_f64(cost)
        block.cost_source.add_str(cost_source)
        block.error_type.add_str(error_type)
        block.user.add_str(values[USER] or dims[0])
        block.tenant.add_str(values[TENANT] or dims[1])
        block.agent.add_str(values[AGENT] or dims[2])
        block.task_type.add_str(values[TASK_TYPE] or dims[3])
        block.feature.add_str(values[FEATURE] or dims[4])
        block.fallback.add_str(fallback)
        block.degraded.add_u8(1 if degraded else 0)
        block.rows += 1
        span_key = PyBytes_FromStringAndSize(NULL, 24)
        memcpy(PyBytes_AS_STRING(span_key), buf + trace_at, 16)
        memcpy(PyBytes_AS_STRING(span_key) + 16, buf + span_at, 8)
        batch.span_keys.append(span_key)
        return 0

    cdef object _price(self, str model, uint64_t day):
        key = (model, day)
        try:
            return self._price_cache[key]
        except KeyError:
            pass
        if len(self._price_cache) >= MAX_REMEMBERED:  # model names come from clients: bound the memo
            self._price_cache.clear()
        known = self._days.get(day)
        if known is None:
            known = self._days[day] = datetime.fromtimestamp(day * 86_400, tz=timezone.utc).date()
        price = self._price_cache[key] = self._prices.lookup(model, at=known)
        return price

    cdef int _put_attributes(self, const unsigned char* buf, Py_ssize_t start, Py_ssize_t end, uint64_t field,
                             Maps out, watched, dict found) except -1:
        """Adds the KeyValue entries numbered `field` in buf[start:end] to the row being added to
        `out`, content dropped and values cut to the limit; the text of keys in `watched` goes to `found`."""
        cdef dict dropped = self._dropped_keys
        cdef Py_ssize_t pos = start, size, text_size
        cdef const char* text
        cdef Pair pair
        while _next(buf, &pos, end, field << 3 | LEN, &size):
            _pair(buf, pos, pos + size, &pair)
            pos += size
            key = _text(buf, pair.key_at, pair.key_size)
            drop = dropped.get(key)
            if drop is None:
                if len(dropped) >= MAX_REMEMBERED:  # keys come from clients: bound the memo
                    dropped.clear()
                drop = dropped[key] = not self._capture and is_content_attribute(key)
            if drop:
                continue
            self._put_entry(buf, &pair, out)
            if key in watched:
                text = out.values.at(out.values.length - 1, &text_size)
                found[key] = PyUnicode_DecodeUTF8(text, text_size, NULL)
        return 0

    cdef str _cut_text(self, const unsigned char* buf, Py_ssize_t at, Py_ssize_t size):
        """The UTF-8 text of `size` bytes at `at`, cut to the limit like attribute values (a scope's name)."""
        cdef Py_ssize_t kept = _cut(<const char*>buf + at, size, self._limit)
        if kept < size:
            self._truncated += 1
        return _text(buf, at, kept)

    cdef int _put_cut(self, Strings out, const char* text, Py_ssize_t size) except -1:
        """Adds the UTF-8 `text` to `out`, cut to the limit like attribute values: every text the client
        fills in (span and event names, status message, trace states)."""
        cdef Py_ssize_t kept = _cut(text, size, self._limit)
        if kept < size:
            self._truncated += 1
        out.add(text, kept)
        return 0

    cdef int _put_entry(self, const unsigned char* buf, Pair* pair, Maps out) except -1:
        """Adds the key and the AnyValue of `pair`, the value as the Collector's AsString() writes
        it (scalars as text; arrays, maps and bytes as JSON), cut to the limit."""
        cdef Value value
        cdef char digits[24]
        cdef const char* text = ""
        cdef Py_ssize_t size = 0, kept
        holder = None  # keeps the object that owns `text` alive
        _read_value(buf, pair.value_at, pair.value_end, &value)
        if value.kind == 1:
            text = <const char*>buf + value.at
            size = value.size
        elif value.kind == 3:
            size = snprintf(digits, 24, "%lld", <long long><int64_t>value.number)
            text = digits
        elif value.kind == 2:
            holder = b"true" if value.number else b"false"
            text = <bytes>holder
            size = len(holder)
        elif value.kind == 4:
            holder = _double_text(_double(value.number))
            text = PyUnicode_AsUTF8AndSize(holder, &size)
        elif value.kind != 0:
            holder = orjson.dumps(_json(buf, &value))
            text = <bytes>holder
            size = len(holder)
        kept = _cut(text, size, self._limit)
        if kept < size:
            self._truncated += 1
        out.add(<const char*>buf + pair.key_at, pair.key_size, text, kept)
        return 0

    cdef bint _late_event(self, const unsigned char* buf, Py_ssize_t start, Py_ssize_t end) except -1:
        """Whether a kept event's time does not fit DateTime64(9)."""
        cdef Py_ssize_t pos = start, size
        cdef uint64_t time_ns
        while _next(buf, &pos, end, TAG_EVENT, &size):
            name, time_ns = _event_head(buf, pos, pos + size)
            pos += size
            if time_ns > MAX_TIME_NS and (self._capture or name not in CONTENT_EVENTS):
                return True
        return False

    cdef str _events(self, const unsigned char* buf, Py_ssize_t start, Py_ssize_t end):
        """Adds the kept events; returns the type of the first recorded exception, or ''."""
        cdef _Columns block = self._block
        cdef Py_ssize_t pos = start, size, event_end, name_size
        cdef const char* name_text
        cdef uint64_t time_ns
        exception_type = ""
        found = {}
        while _next(buf, &pos, end, TAG_EVENT, &size):
            event_end = pos + size
            name, time_ns = _event_head(buf, pos, event_end)
            if not self._capture and name in CONTENT_EVENTS:
                pos = event_end
                continue
            watched = _EXCEPTION_TYPE if name == "exception" and not exception_type else _NOTHING
            self._put_attributes(buf, pos, event_end, 3, block.event_attributes, watched, found)
            block.event_attributes.close_row()
            if watched is _EXCEPTION_TYPE:
                exception_type = found.get("exception.type", "")
            block.event_time.add_u64(time_ns)
            name_text = PyUnicode_AsUTF8AndSize(name, &name_size)
            self._put_cut(block.event_name, name_text, name_size)
            pos = event_end
        return exception_type

    cdef int _links(self, const unsigned char* buf, Py_ssize_t start, Py_ssize_t end) except -1:
        cdef _Columns block = self._block
        cdef Py_ssize_t pos = start, size, link_end, field_start
        cdef Py_ssize_t trace_at, trace_size, span_at, span_size, state_at, state_size
        cdef uint64_t tag
        while _next(buf, &pos, end, TAG_LINK, &size):
            link_end = pos + size
            trace_at = trace_size = span_at = span_size = state_at = state_size = 0
            field_start = pos
            while pos < link_end:  # Link: trace_id 1, span_id 2, trace_state 3, attributes 4
                tag = _varint(buf, &pos, link_end)
                if (tag & 7) == LEN and 1 <= (tag >> 3) <= 3:
                    size = _length(buf, &pos, link_end)
                    if tag >> 3 == 1:
                        trace_at, trace_size = pos, size
                    elif tag >> 3 == 2:
                        span_at, span_size = pos, size
                    else:
                        state_at, state_size = pos, size
                    pos += size
                else:
                    _skip(buf, &pos, link_end, tag)
            block.link_trace_id.add_hex(buf + trace_at, trace_size)
            block.link_span_id.add_hex(buf + span_at, span_size)
            self._put_cut(block.link_state, <const char*>buf + state_at, state_size)
            self._put_attributes(buf, field_start, link_end, 4, block.link_attributes, _NOTHING, None)
            block.link_attributes.close_row()
        return 0


_EXCEPTION_TYPE = frozenset({"exception.type"})
_NOTHING = frozenset()


cdef tuple _event_head(const unsigned char* buf, Py_ssize_t start, Py_ssize_t end):
    """An Event's name and time_unix_nano."""
    cdef Py_ssize_t pos = start, name_at = 0, name_size = 0
    cdef uint64_t tag, time_ns = 0
    while pos < end:  # Event: time_unix_nano 1, name 2, attributes 3
        tag = _varint(buf, &pos, end)
        if tag == (1 << 3 | I64):
            time_ns = _fixed64(buf, &pos, end)
        elif tag == TAG_2_LEN:
            name_size = _length(buf, &pos, end)
            name_at = pos
            pos += name_size
        else:
            _skip(buf, &pos, end, tag)
    return _text(buf, name_at, name_size), time_ns


cdef struct Value:
    int kind  # the oneof member present: its field number (1 string ... 7 bytes), 0 for none
    uint64_t number  # bool, int and double members, as read from the wire
    Py_ssize_t at  # string, array, kvlist and bytes members: where their bytes are
    Py_ssize_t size


cdef int _read_value(const unsigned char* buf, Py_ssize_t start, Py_ssize_t end, Value* value) except -1:
    """The member of the AnyValue in buf[start:end]."""
    cdef Py_ssize_t pos = start
    cdef uint64_t tag
    value.kind = 0
    while pos < end:
        tag = _varint(buf, &pos, end)
        if (tag & 7) == LEN and ((tag >> 3) == 1 or 5 <= (tag >> 3) <= 7):  # string, array, kvlist, bytes
            value.size = _length(buf, &pos, end)
            value.at = pos
            value.kind = tag >> 3
            pos += value.size
        elif tag == (2 << 3 | VARINT) or tag == (3 << 3 | VARINT):  # bool, int
            value.number = _varint(buf, &pos, end)
            value.kind = tag >> 3
        elif tag == (4 << 3 | I64):  # double
            value.number = _fixed64(buf, &pos, end)
            value.kind = 4
        else:
            _skip(buf, &pos, end, tag)
    return 0


cdef object _json(const unsigned char* buf, Value* value):
    """An AnyValue as a JSON value (for orjson): non-finite doubles and bytes (base64) as strings."""
    cdef Py_ssize_t pos, end, size
    cdef Value item
    cdef Pair pair
    cdef double real
    if value.kind == 1:
        return _text(buf, value.at, value.size)
    if value.kind == 3:
        return <int64_t>value.number
    if value.kind == 2:
        return value.number != 0
    if value.kind == 4:
        real = _double(value.number)
        return real if not (isnan(real) or isinf(real)) else _double_text(real)
    if value.kind == 0:
        return None
    if value.kind == 7:
        return b2a_base64(_bytes(buf, value.at, value.size), newline=False).decode("ascii")
    pos, end = value.at, value.at + value.size
    if value.kind == 5:  # ArrayValue: values 1
        items = []
        while _next(buf, &pos, end, TAG_1_LEN, &size):
            _read_value(buf, pos, pos + size, &item)
            items.append(_json(buf, &item))
            pos += size
        return items
    members = {}  # KeyValueList: values 1, each a KeyValue (key 1, value 2)
    while _next(buf, &pos, end, TAG_1_LEN, &size):
        _pair(buf, pos, pos + size, &pair)
        _read_value(buf, pair.value_at, pair.value_end, &item)
        members[_text(buf, pair.key_at, pair.key_size)] = _json(buf, &item)
        pos += size
    return members


cdef inline double _double(uint64_t bits):
    cdef double real
    memcpy(&real, &bits, 8)
    return real


cdef str _double_text(double number):
    """A double as AsString() writes it: shortest round-trip digits, NaN, +Inf and -Inf spelled out."""
    if isnan(number):
        return "NaN"
    if isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return repr(number)


cdef struct Pair:  # where a KeyValue's key and value are (empty ranges when absent)
    Py_ssize_t key_at
    Py_ssize_t key_size
    Py_ssize_t value_at
    Py_ssize_t value_end


cdef int _pair(const unsigned char* buf, Py_ssize_t start, Py_ssize_t end, Pair* pair) except -1:
    """Where the key and the value of the KeyValue in buf[start:end] are."""
    cdef Py_ssize_t pos = start, size
    cdef uint64_t tag
    pair.key_at = pair.key_size = pair.value_at = pair.value_end = 0
    while pos < end:
        tag = _varint(buf, &pos, end)
        if tag == TAG_1_LEN:
            pair.key_size = _length(buf, &pos, end)
            pair.key_at = pos
            pos += pair.key_size
        elif tag == TAG_2_LEN:
            size = _length(buf, &pos, end)
            pair.value_at, pair.value_end = pos, pos + size
            pos += size
        else:
            _skip(buf, &pos, end, tag)
    return 0
