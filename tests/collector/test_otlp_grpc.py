"""OTLP/gRPC refusals: malformed requests and partial success."""

from __future__ import annotations

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.collector.conftest import StartService
from tests.collector.otlp_requests import agent_request

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture
def backend() -> str:
    return "embedded"


def call(service, body: bytes) -> ExportTraceServiceResponse:
    with grpc.insecure_channel(service.grpc_endpoint) as channel:
        export = channel.unary_unary(EXPORT, request_serializer=None,
                                     response_deserializer=ExportTraceServiceResponse.FromString)
        return export(body, timeout=30)


def test_malformed_protobuf_is_invalid_argument(start_service: StartService) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call(start_service(), b"\xff\xff\xff\xff")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("malformed protobuf ExportTraceServiceRequest")


def test_invalid_spans_are_partial_success(start_service: StartService, reader) -> None:
    service = start_service()
    request = agent_request()
    request.resource_spans[0].scope_spans[0].spans[3].trace_id = bytes(16)
    response = call(service, request.SerializeToString())
    assert response.partial_success.rejected_spans == 1
    assert response.partial_success.error_message == (
        "1 spans rejected: span 'chat claude': trace_id must not be all zero"
    )
    assert reader(service).query("SELECT count() FROM otel_traces").scalar() == 3
