"""OTLP/HTTP as the specification says: encodings, partial success, and clear refusals."""

from __future__ import annotations

import gzip

import httpx
import orjson
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.collector.conftest import StartService
from tests.collector.otlp_requests import START_NS, agent_request, otlp_json, span

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}


@pytest.fixture
def backend() -> str:
    """Refusals happen before storage: one backend is enough here."""
    return "embedded"


def post(service, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(service.http_url + "/v1/traces", content=body, headers=headers, timeout=30)


def status_message(response: httpx.Response) -> str:
    """The google.rpc.Status message of an answer, in the encoding it came in."""
    if response.headers["content-type"] == "application/json":
        return response.json()["message"]
    return status_pb2.Status.FromString(response.content).message


def test_an_unsupported_content_type_is_answered_in_json_a_person_can_read(start_service: StartService) -> None:
    response = post(start_service(), b"hello", {"content-type": "text/plain"})
    assert (response.status_code, response.headers["content-type"]) == (415, "application/json")
    assert response.json()["message"].startswith("unsupported content type 'text/plain'")


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        pytest.param(b"{}", {"content-type": "text/plain"}, 415,
                     "unsupported content type 'text/plain': send application/x-protobuf or application/json",
                     id="an unsupported content type is 415"),
        pytest.param(b"\xff\xff\xff\xff", PROTOBUF, 400, "malformed protobuf ExportTraceServiceRequest: Error parsing message",
                     id="malformed protobuf is 400"),
        pytest.param(b"not gzip", {**PROTOBUF, "content-encoding": "gzip"}, 400,
                     "body is not valid gzip: Error -3 while decompressing data: incorrect header check",
                     id="a body that is not gzip is 400"),
        pytest.param(b"", {**PROTOBUF, "content-encoding": "br"}, 415,
                     "unsupported content encoding 'br': send gzip or none", id="an unknown encoding is 415"),
    ],
)
def test_bad_requests_are_refused_with_a_message(start_service: StartService, body: bytes,
                                                 headers: dict[str, str], status: int, message: str) -> None:
    service = start_service()
    response = post(service, body, headers)
    assert response.status_code == status
    assert status_message(response).startswith(message)
    assert httpx.get(service.http_url + "/healthz").status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"{not json", "malformed JSON: unexpected character", id="malformed JSON"),
        pytest.param(b"[1]", "malformed OTLP JSON: the body must be an object with resourceSpans", id="not an object"),
        pytest.param(b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}',
                     "malformed OTLP JSON: resourceSpans[0].scopeSpans[0].spans[0].traceId: 'zz' is not a hex string",
                     id="a trace id that is not hex names its path"),
        pytest.param(b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}',
                     "malformed OTLP JSON: Failed to parse resourceSpans field: Failed to parse scopeSpans field: "
                     "Failed to parse spans field: Failed to parse startTimeUnixNano field", id="a bad integer"),
        # Python's protobuf JSON parser reads a string as an object of unknown fields, which it ignores,
        # and true as 1: these were 200s (found by tests/test_api_fuzz.py).
        pytest.param(b'{"resourceSpans": ["AAA"]}', "malformed OTLP JSON: resourceSpans[0]: must be an object",
                     id="a string where a message is expected"),
        pytest.param(b'{"resourceSpans": "AAA"}',
                     "malformed OTLP JSON: resourceSpans: must be an object or an array of objects",
                     id="a string where messages are expected"),
        pytest.param(b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":'
                     b'{"kvlistValue":{"values":[{"key":"n","value":"text"}]}}}]}]}]}]}',
                     "malformed OTLP JSON: resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.kvlistValue"
                     ".values[0].value: must be an object or an array of objects",
                     id="a string where a nested message is expected"),
        pytest.param(b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"status":{"code":false}}]}]}]}',
                     "malformed OTLP JSON: resourceSpans[0].scopeSpans[0].spans[0].status.code: "
                     "must be a 32-bit integer or a name, not false", id="false where an enum is expected"),
        pytest.param(b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":2.5}]}]}]}',
                     "malformed OTLP JSON: resourceSpans[0].scopeSpans[0].spans[0].kind: "
                     "must be a 32-bit integer or a name, not 2.5", id="a fraction where an enum is expected"),
        pytest.param(b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":4294967298}]}]}]}',
                     "malformed OTLP JSON: resourceSpans[0].scopeSpans[0].spans[0].kind: "
                     "must be a 32-bit integer or a name, not 4294967298", id="an enum past 32 bits"),
        pytest.param(b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":'
                     b'{"doubleValue":true}}]}]}]}]}',
                     "malformed OTLP JSON: resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.doubleValue: "
                     "must be a number, not true", id="true where a number is expected"),
    ],
)
def test_bad_json_is_400_in_json(start_service: StartService, body: bytes, message: str) -> None:
    response = post(start_service(), body, JSON)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert orjson.loads(response.content)["message"].startswith(message)


def test_a_body_over_the_limit_is_413(start_service: StartService) -> None:
    response = post(start_service(max_body_bytes=2048), bytes(4096), PROTOBUF)
    assert response.status_code == 413
    assert status_message(response) == "body of 4096 bytes exceeds the limit of 2048 bytes"


def test_a_gzip_bomb_is_413_without_inflating_it(start_service: StartService) -> None:
    bomb = gzip.compress(bytes(50 * 1024 * 1024))  # 50 MiB of zeros in about 50 KiB
    response = post(start_service(max_decompressed_bytes=1024 * 1024), bomb, {**PROTOBUF, "content-encoding": "gzip"})
    assert response.status_code == 413
    assert status_message(response) == "decompressed body exceeds the limit of 1048576 bytes"


def test_gzip_bodies_are_accepted(start_service: StartService, reader) -> None:
    service = start_service()
    body = gzip.compress(agent_request().SerializeToString())
    response = post(service, body, {**PROTOBUF, "content-encoding": "gzip"})
    assert response.status_code == 200
    assert reader(service).query("SELECT count() FROM otel_traces").scalar() == 4


def test_invalid_spans_are_rejected_as_partial_success_and_the_rest_stored(start_service: StartService, reader) -> None:
    service = start_service()
    request = agent_request()
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[1].trace_id = b"short"
    spans[2].span_id = b""
    response = post(service, request.SerializeToString(), PROTOBUF)
    assert response.status_code == 200
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 2
    assert answer.partial_success.error_message == (
        "2 spans rejected: span 'chat gpt-4o-mini': trace_id must be 16 bytes, got 5; "
        "span 'execute_tool lookup_order': span_id must be 8 bytes, got 0"
    )
    assert reader(service).query("SELECT count() FROM otel_traces").scalar() == 2


def test_a_json_request_gets_a_json_answer(start_service: StartService) -> None:
    request = agent_request()
    request.resource_spans[0].scope_spans[0].spans[0].trace_id = b"\x01"
    response = post(start_service(), otlp_json(request), JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert orjson.loads(response.content)["partialSuccess"]["rejectedSpans"] == "1"


def test_json_and_protobuf_give_identical_rows(start_service: StartService, reader) -> None:
    request = agent_request()
    from_protobuf, from_json = start_service(), start_service()
    assert post(from_protobuf, request.SerializeToString(), PROTOBUF).status_code == 200
    assert post(from_json, otlp_json(request), JSON).status_code == 200
    every_column = "SELECT * EXCEPT (InsertedAt) FROM otel_traces ORDER BY SpanId"  # all but when stored
    rows = reader(from_protobuf).query(every_column).rows
    assert len(rows) == 4
    assert reader(from_json).query(every_column).rows == rows


def test_json_parses_to_the_same_message_as_protobuf() -> None:
    from collector._otlp import JSON as JSON_KIND, parse_request

    request = agent_request()
    assert parse_request(otlp_json(request), JSON_KIND) == request


def test_a_span_sent_twice_is_stored_once(start_service: StartService, reader) -> None:
    service = start_service()
    body = agent_request().SerializeToString()
    assert post(service, body, PROTOBUF).status_code == 200
    assert post(service, body, PROTOBUF).status_code == 200
    assert reader(service).query("SELECT count() FROM otel_traces").scalar() == 4
    assert 'agentslo_ingest_spans_total{outcome="duplicate",protocol="http"} 4.0' in service.metrics


def test_content_is_kept_only_when_asked_and_long_values_are_truncated(start_service: StartService, reader) -> None:
    service = start_service(capture_content=True, max_attribute_length=32)
    assert post(service, agent_request().SerializeToString(), PROTOBUF).status_code == 200
    kept = reader(service).query(
        "SELECT SpanAttributes['gen_ai.input.messages'], SpanAttributes['long.value'] FROM otel_traces "
        "WHERE SpanName = 'chat gpt-4o-mini'"
    ).rows
    assert kept == [('[{"role":"user","content":"Where', "x" * 32)]


def test_a_million_character_span_name_is_stored_cut_to_the_limit(start_service: StartService, reader) -> None:
    service = start_service(max_attribute_length=32)
    request = ExportTraceServiceRequest()
    chat = span(0, "é" * 1_000_000, {})
    chat.events.add(time_unix_nano=START_NS, name="ü" * 1_000_000)
    request.resource_spans.add().scope_spans.add().spans.append(chat)
    assert post(service, request.SerializeToString(), PROTOBUF).status_code == 200
    assert reader(service).query("SELECT SpanName, Events.Name FROM otel_traces").rows == [("é" * 32, ["ü" * 32])]
    assert "agentslo_ingest_truncated_values_total 2.0" in service.metrics


def test_content_is_dropped_by_default(start_service: StartService, reader) -> None:
    service = start_service()
    assert post(service, agent_request().SerializeToString(), PROTOBUF).status_code == 200
    keys = reader(service).query("SELECT arraySort(mapKeys(SpanAttributes)) FROM otel_traces "
                                 "WHERE SpanName = 'chat gpt-4o-mini'").scalar()
    assert "gen_ai.input.messages" not in keys and "gen_ai.prompt.0.content" not in keys
    events = reader(service).query("SELECT Events.Name FROM otel_traces WHERE SpanName = 'chat gpt-4o-mini'").scalar()
    assert events == ["retry"]


def test_otlp_json_writes_ids_in_hex() -> None:
    document = orjson.loads(otlp_json(agent_request()))
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["traceId"] == "5b8efff798038103d269b633813fc60c"


def test_invalid_utf8_in_a_protobuf_string_is_400(start_service: StartService) -> None:
    body = agent_request().SerializeToString().replace(b"invoke_agent triage", b"invoke_agent \xff\xferiage")
    response = post(start_service(), body, PROTOBUF)
    assert response.status_code == 400
    assert status_message(response).startswith("malformed protobuf ExportTraceServiceRequest")


def test_invalid_utf8_in_json_is_400(start_service: StartService) -> None:
    body = otlp_json(agent_request()).replace(b"invoke_agent triage", b"invoke_agent \xff\xferiage")
    response = post(start_service(), body, JSON)
    assert response.status_code == 400
    assert orjson.loads(response.content)["message"].startswith("malformed JSON: str is not valid UTF-8")
