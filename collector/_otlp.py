"""OTLP/HTTP bodies: content types, gzip with a size bound, protobuf and JSON.

Follows the OTLP specification (protocol/otlp.md): binary protobuf or JSON
protobuf encoding, where JSON carries trace and span ids as hex strings
rather than base64, enums as integers and 64-bit integers as strings or
numbers. Every refusal is an `OtlpError` with the HTTP status and a message
that says what was wrong.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# google.rpc.Code values used in error bodies.
_CODE_INVALID_ARGUMENT = 3
_CODE_PERMISSION_DENIED = 7
_CODE_RESOURCE_EXHAUSTED = 8
_CODE_UNAVAILABLE = 14
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_CODE_UNAUTHENTICATED = 16


@dataclass(frozen=True)
class BodyLimits:
    """Largest accepted request body, as sent and after decompression."""

    max_body_bytes: int = 16 * 1024 * 1024
    max_decompressed_bytes: int = 64 * 1024 * 1024


class OtlpError(Exception):
    """A request refused before any span was stored."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)  # both in args, so it survives pickling from a worker process
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return self.message


def media_type(content_type: str | None) -> str:
    """The content type without parameters, or raise 415."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind not in (PROTOBUF, JSON):
        raise OtlpError(
            415, f"unsupported content type {content_type or '(none)'!r}: send {PROTOBUF} or {JSON}"
        )
    return kind


def decompress(body: bytes, encoding: str | None, limits: BodyLimits) -> bytes:
    """The body with its Content-Encoding undone, refusing what would grow past the limit."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding != "gzip":
        raise OtlpError(415, f"unsupported content encoding {encoding!r}: send gzip or none")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limits.max_decompressed_bytes + 1)
    except zlib.error as exc:
        raise OtlpError(400, f"body is not valid gzip: {exc}") from None
    if len(data) > limits.max_decompressed_bytes or inflater.unconsumed_tail:
        raise OtlpError(
            413, f"decompressed body exceeds the limit of {limits.max_decompressed_bytes} bytes"
        )
    if not inflater.eof:
        raise OtlpError(400, "body is not valid gzip: stream is truncated")
    return data


def decode_body(body: bytes, kind: str, encoding: str | None, limits: BodyLimits) -> ExportTraceServiceRequest:
    """An OTLP/HTTP body (content type `kind`, Content-Encoding `encoding`) as a request message."""
    return parse_request(decompress(body, encoding, limits), kind)


def parse_request(data: bytes, kind: str) -> ExportTraceServiceRequest:
    """Decode an ExportTraceServiceRequest from protobuf or OTLP JSON bytes."""
    if kind == PROTOBUF:
        try:
            return ExportTraceServiceRequest.FromString(data)
        except DecodeError as exc:
            raise OtlpError(400, f"malformed protobuf ExportTraceServiceRequest: {exc}") from None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise OtlpError(400, f"malformed JSON: {exc}") from None
    if not isinstance(document, dict):
        raise OtlpError(400, "malformed OTLP JSON: the body must be an object with resourceSpans")
    _check_json_types(document)
    _hex_ids_to_base64(document)
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise OtlpError(400, f"malformed OTLP JSON: {exc}") from None
    return request


def _check_json_types(document: dict) -> None:
    """Refuse values of a JSON type that the protobuf JSON mapping does not allow where Python's
    parser would take them anyway (found by tests/test_api_fuzz.py): a string where a message
    is expected, read as an object of unknown fields and dropped, so `{"resourceSpans": ["AAA"]}`
    was a request with one empty ResourceSpans; true or false where a number is, read as 1 or 0;
    an enum's number that is a fraction or past 32 bits.
    """
    pending: list[tuple[dict, Any, str]] = [(document, ExportTraceServiceRequest.DESCRIPTOR, "")]
    while pending:
        node, descriptor, where = pending.pop()
        for key, value in node.items():
            field = descriptor.fields_by_camelcase_name.get(key) or descriptor.fields_by_name.get(key)
            if field is None:
                continue
            path = f"{where}.{key}" if where else key
            # A list where one value is expected, or a null item, the parser refuses itself.
            items = ([(f"{path}[{i}]", item) for i, item in enumerate(value)] if isinstance(value, list)
                     else [(path, value)])
            for at, item in items:
                if field.message_type is None:
                    problem = _scalar_problem(field, item)
                    if problem:
                        raise OtlpError(400, f"malformed OTLP JSON: {at}: {problem}")
                elif isinstance(item, dict):
                    pending.append((item, field.message_type, at))
                elif item is not None:
                    expected = "an object" if at != path else "an object or an array of objects"
                    raise OtlpError(400, f"malformed OTLP JSON: {at}: must be {expected}")


def _scalar_problem(field: Any, value: object) -> str | None:
    """What is wrong with `value` for the scalar `field`, among what Python's parser would take."""
    if field.enum_type is not None:  # a name, or the value's number: an int32
        if isinstance(value, bool) or (isinstance(value, int | float) and not (
                float(value).is_integer() and _INT32_MIN <= value <= _INT32_MAX)):
            return f"must be a 32-bit integer or a name, not {orjson.dumps(value).decode()}"
    elif isinstance(value, bool) and field.cpp_type not in (field.CPPTYPE_BOOL, field.CPPTYPE_STRING):
        return f"must be a number, not {orjson.dumps(value).decode()}"
    return None


def _hex_ids_to_base64(document: dict) -> None:
    """OTLP JSON writes ids as hex; protobuf's JSON mapping expects base64 for bytes fields."""
    for r, resource_spans in enumerate(_list(document, "resourceSpans", "resource_spans")):
        for s, scope_spans in enumerate(_list(resource_spans, "scopeSpans", "scope_spans")):
            for n, span in enumerate(_list(scope_spans, "spans")):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{n}]"
                _convert_ids(span, where, ("traceId", "spanId", "parentSpanId",
                                           "trace_id", "span_id", "parent_span_id"))
                for k, link in enumerate(_list(span, "links")):
                    _convert_ids(link, f"{where}.links[{k}]", ("traceId", "spanId", "trace_id", "span_id"))


def _list(node: object, *keys: str) -> list:
    if not isinstance(node, dict):
        return []
    for key in keys:
        value = node.get(key)
        if isinstance(value, list):
            return value
    return []


def _convert_ids(node: object, where: str, keys: tuple[str, ...]) -> None:
    if not isinstance(node, dict):
        return
    for key in keys:
        value = node.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise OtlpError(400, f"malformed OTLP JSON: {where}.{key}: must be a hex string")
        try:
            node[key] = base64.b64encode(bytes.fromhex(value)).decode()
        except ValueError:
            raise OtlpError(400, f"malformed OTLP JSON: {where}.{key}: {value!r} is not a hex string") from None


def encode_response(rejected: int, message: str, kind: str) -> bytes:
    """ExportTraceServiceResponse, with partial success when spans were rejected."""
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if kind == PROTOBUF:
        return response.SerializeToString()
    return json_format.MessageToJson(response, indent=None).encode()


def encode_status(status: int, message: str, kind: str) -> bytes:
    """A google.rpc.Status error body, as OTLP/HTTP prescribes for failed requests."""
    code = {401: _CODE_UNAUTHENTICATED, 403: _CODE_PERMISSION_DENIED, 429: _CODE_RESOURCE_EXHAUSTED,
            503: _CODE_UNAVAILABLE}.get(status, _CODE_INVALID_ARGUMENT)
    body = status_pb2.Status(code=code, message=message)
    if kind == PROTOBUF:
        return body.SerializeToString()
    return json_format.MessageToJson(body, indent=None).encode()
