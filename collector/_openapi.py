"""The request body of POST /v1/traces in the OpenAPI description.

FastAPI cannot see it (the receiver reads the raw body to keep protobuf and JSON on one path),
so it is written out here: an ExportTraceServiceRequest as protobuf bytes, or as OTLP JSON
(opentelemetry-proto, opentelemetry/proto/trace/v1/trace.proto), which is protobuf's JSON
mapping with ids as hex (protocol/otlp.md). As that mapping reads it: any field may be null
(its default), enums are numbers or names, 64-bit integers numbers or decimal strings, doubles
numbers or strings, and unknown fields are ignored.
"""

from __future__ import annotations

from typing import Any

from collector._otlp import JSON, PROTOBUF


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    """An object whose every property may also be null, as the protobuf JSON mapping reads it."""
    return {"type": "object", "properties": {
        name: {"anyOf": [schema, {"type": "null"}]} for name, schema in properties.items()}}


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


_STRING = {"type": "string"}
_ENUM = {"anyOf": [{"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}, {"type": "string"}],
         "description": "the value's number or name"}
_HEX_ID = {"type": "string", "pattern": "^([0-9a-fA-F]{2})*$",
           "description": "hex; a span whose id has another length than the protocol's is rejected "
                          "(partial success)"}
_UINT32 = {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}
_UINT64 = {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 2**64 - 1},
                     {"type": "string", "pattern": "^[0-9]{1,19}$"}]}
_INT64 = {"anyOf": [{"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
                    {"type": "string", "pattern": "^-?[0-9]{1,18}$"}]}
_DOUBLE = {"anyOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]}
_BASE64 = {"type": "string", "pattern": "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"}
# AnyValue nests arrays and maps of AnyValues: one level is described, deeper ones are any object.
_LEAF_VALUE = _object(stringValue=_STRING, boolValue={"type": "boolean"}, intValue=_INT64, doubleValue=_DOUBLE,
                      bytesValue=_BASE64)
_NESTED = {"type": "object"}
_ANY_VALUE = {**_object(stringValue=_STRING, boolValue={"type": "boolean"}, intValue=_INT64, doubleValue=_DOUBLE,
                        bytesValue=_BASE64, arrayValue=_object(values=_array(_NESTED)),
                        kvlistValue=_object(values=_array(_NESTED))),
              "description": "at most one of stringValue, boolValue, intValue, doubleValue, bytesValue, arrayValue, "
                             "kvlistValue"}
_ATTRIBUTES = _array(_object(key=_STRING, value=_ANY_VALUE))
_SPAN = _object(
    traceId=_HEX_ID, spanId=_HEX_ID, parentSpanId=_HEX_ID, traceState=_STRING, flags=_UINT32, name=_STRING,
    kind={**_ENUM, "description": "SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer"},
    startTimeUnixNano=_UINT64, endTimeUnixNano=_UINT64, attributes=_ATTRIBUTES, droppedAttributesCount=_UINT32,
    events=_array(_object(timeUnixNano=_UINT64, name=_STRING, attributes=_ATTRIBUTES,
                          droppedAttributesCount=_UINT32)),
    droppedEventsCount=_UINT32,
    links=_array(_object(traceId=_HEX_ID, spanId=_HEX_ID, traceState=_STRING, attributes=_ATTRIBUTES,
                         droppedAttributesCount=_UINT32, flags=_UINT32)),
    droppedLinksCount=_UINT32,
    status=_object(message=_STRING, code={**_ENUM, "description": "StatusCode: 0 unset, 1 ok, 2 error"}),
)
_EXPORT_REQUEST_JSON = {
    **_object(resourceSpans=_array(_object(
        resource=_object(attributes=_ATTRIBUTES, droppedAttributesCount=_UINT32),
        scopeSpans=_array(_object(
            scope=_object(name=_STRING, version=_STRING, attributes=_ATTRIBUTES, droppedAttributesCount=_UINT32),
            spans=_array(_SPAN), schemaUrl=_STRING)),
        schemaUrl=_STRING))),
    "title": "ExportTraceServiceRequest",
}

EXPORT_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "description": "An ExportTraceServiceRequest, optionally gzip-compressed (Content-Encoding: gzip).",
    "content": {
        PROTOBUF: {"schema": {"type": "string", "format": "binary",
                              "description": "ExportTraceServiceRequest in the protobuf binary encoding"}},
        JSON: {"schema": _EXPORT_REQUEST_JSON},
    },
}
