"""The mapper's column values, read from the OTLP wire format: attribute text, counts, enums, unknown fields."""

from __future__ import annotations

import math

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from tests.collector.otlp_requests import any_value, span

from collector import MappingPolicy, PriceTable, SpanMapper


def mapped_row(chat: Span, policy: MappingPolicy = MappingPolicy()) -> dict:
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.append(chat)
    batch = SpanMapper(policy, PriceTable.default()).map(request)
    [row] = batch.block.to_table().to_pylist()
    return row


def attribute_text(value: AnyValue) -> str:
    chat = span(0, "chat", {})
    chat.attributes.append(KeyValue(key="v", value=value))
    return dict(mapped_row(chat)["SpanAttributes"])["v"]


@pytest.mark.parametrize(("value", "text"), [
    pytest.param(any_value("gpt-4o"), "gpt-4o", id="a string as it is"),
    pytest.param(AnyValue(string_value=""), "", id="an empty string stays empty"),
    pytest.param(AnyValue(), "", id="a value with no member is empty"),
    pytest.param(any_value(-42), "-42", id="an int in decimal"),
    pytest.param(any_value(-(1 << 63)), str(-(1 << 63)), id="the smallest int64"),
    pytest.param(any_value(True), "true", id="true"),
    pytest.param(any_value(False), "false", id="false"),
    pytest.param(any_value(0.1), "0.1", id="a double in its shortest round-trip digits"),
    pytest.param(any_value(1e-7), "1e-07", id="a small double in exponent form"),
    pytest.param(any_value(math.nan), "NaN", id="NaN spelled out"),
    pytest.param(any_value(math.inf), "+Inf", id="+Inf spelled out"),
    pytest.param(any_value(-math.inf), "-Inf", id="-Inf spelled out"),
    pytest.param(any_value(b"\x00\x01\x02"), '"AAEC"', id="bytes as a JSON base64 string"),
    pytest.param(any_value([1, "a", True, 1.5, math.nan, b"\x00\x01\x02"]), '[1,"a",true,1.5,"NaN","AAEC"]',
                 id="an array as JSON, non-finite doubles and bytes as strings"),
    pytest.param(any_value({"a": 1, "b": [True, {"c": "é"}]}), '{"a":1,"b":[true,{"c":"é"}]}',
                 id="a key-value list as a JSON object, nested"),
    pytest.param(AnyValue(array_value={}), "[]", id="an empty array"),
])
def test_attribute_values_are_stored_as_the_collector_writes_them(value: AnyValue, text: str) -> None:
    assert attribute_text(value) == text


@pytest.mark.parametrize(("count", "tokens"), [
    pytest.param("1200", 1200, id="decimal"),
    pytest.param(" 12 ", 12, id="spaces around"),
    pytest.param("1e3", 1000, id="a float in exponent form"),
    pytest.param("12.9", 12, id="a fraction is cut"),
    pytest.param("-5", 0, id="negative counts as 0"),
    pytest.param("many", 0, id="not a number counts as 0"),
    pytest.param("1e30", 0, id="past UInt64 counts as 0, not a failed request"),
    pytest.param(str(1 << 64), 0, id="2**64 counts as 0"),
    pytest.param(str((1 << 64) - 1), (1 << 64) - 1, id="the largest UInt64 is kept"),
])
def test_token_counts_are_read_from_any_number_text(count: str, tokens: int) -> None:
    chat = span(0, "chat", {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": count})
    assert mapped_row(chat)["InputTokens"] == tokens


@pytest.mark.parametrize(("kind", "code", "span_kind", "status_code"), [
    pytest.param(3, 2, "Client", "Error", id="known values by name"),
    pytest.param(9, 7, "Unspecified", "Unset", id="values past the enum read as unspecified and unset"),
    pytest.param(-1, -1, "Unspecified", "Unset", id="negative values read as unspecified and unset"),
])
def test_span_kind_and_status_code_outside_their_enums(kind: int, code: int, span_kind: str,
                                                       status_code: str) -> None:
    chat = span(0, "chat", {})
    chat.kind = kind
    chat.status.code = code
    row = mapped_row(chat)
    assert (row["SpanKind"], row["StatusCode"]) == (span_kind, status_code)


def test_unknown_fields_of_every_wire_type_are_skipped() -> None:
    chat = span(0, "chat", {"gen_ai.request.model": "gpt-4o"})
    known = mapped_row(chat)
    unknown = (
        b"\xa0\x06\x96\x01"  # field 100, varint 150
        b"\xad\x06\x01\x02\x03\x04"  # field 101, fixed32
        b"\xb1\x06" + bytes(8) +  # field 102, fixed64
        b"\xba\x06\x03abc"  # field 103, length-delimited
        b"\xc3\x06\x08\x01\xc4\x06"  # field 104, a group holding field 1 = 1
        b"\x38\x05"  # field 7 (start_time_unix_nano, fixed64) sent as a varint: unknown to the schema
    )
    with_unknown = Span.FromString(chat.SerializeToString() + unknown)
    with_unknown.start_time_unix_nano = chat.start_time_unix_nano
    assert mapped_row(with_unknown) == known


def test_a_key_sent_twice_is_stored_once_where_it_came_first_with_its_last_value() -> None:
    chat = span(0, "chat", {})
    for key, value in [("a", "1"), ("gen_ai.request.model", "gpt-4o"), ("b", "2"), ("a", "3"),
                       ("gen_ai.request.model", "")]:
        chat.attributes.append(KeyValue(key=key, value=any_value(value)))
    row = mapped_row(chat)
    assert row["SpanAttributes"] == [("a", "3"), ("gen_ai.request.model", ""), ("b", "2")]
    assert row["RequestModel"] == ""  # the last value is empty, so no alias gives a model


def test_a_long_value_is_cut_at_the_limit_in_characters_not_bytes() -> None:
    chat = span(0, "chat", {"short": "é" * 16, "long": "é" * 17, "number": 10**17})
    row = mapped_row(chat, MappingPolicy(max_attribute_length=16))
    assert dict(row["SpanAttributes"]) == {"short": "é" * 16, "long": "é" * 16, "number": "1000000000000000"}


def test_span_and_event_names_are_cut_at_the_limit_like_values() -> None:
    chat = span(0, "é" * 17, {})
    chat.events.add(time_unix_nano=chat.start_time_unix_nano, name="ü" * 17)
    chat.events.add(time_unix_nano=chat.start_time_unix_nano, name="ü" * 16)
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.append(chat)
    batch = SpanMapper(MappingPolicy(max_attribute_length=16), PriceTable.default()).map(request)
    [row] = batch.block.to_table().to_pylist()
    assert (row["SpanName"], row["Events.Name"]) == ("é" * 16, ["ü" * 16, "ü" * 16])
    assert batch.truncated_values == 2


def test_every_free_text_a_client_sends_is_cut_at_the_limit() -> None:
    """Status message, trace state, link trace state, scope name and version: all the client's to fill."""
    chat = span(0, "chat", {})
    chat.status.message = "é" * 17
    chat.trace_state = "k=" + "v" * 20
    link = chat.links.add(trace_id=chat.trace_id, span_id=chat.span_id)
    link.trace_state = "k=" + "w" * 20
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    scope_spans.scope.name, scope_spans.scope.version = "s" * 17, "1" * 17
    scope_spans.spans.append(chat)
    batch = SpanMapper(MappingPolicy(max_attribute_length=16), PriceTable.default()).map(request)
    [row] = batch.block.to_table().to_pylist()
    assert (row["StatusMessage"], row["TraceState"], row["Links.TraceState"], row["ScopeName"],
            row["ScopeVersion"]) == ("é" * 16, "k=" + "v" * 14, ["k=" + "w" * 14], "s" * 16, "1" * 16)
    assert batch.truncated_values == 5


def test_a_repeated_key_among_many_attributes_is_stored_once() -> None:
    chat = span(0, "chat", {f"k{index}": str(index) for index in range(40)})
    chat.attributes.append(KeyValue(key="k3", value=any_value("last")))
    stored = mapped_row(chat)["SpanAttributes"]
    assert len(stored) == 40 and stored[3] == ("k3", "last")
