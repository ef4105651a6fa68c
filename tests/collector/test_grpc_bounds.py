"""OTLP/gRPC is bounded: calls at once, how long a call's message may take, idle and silent connections.

Real grpc clients on loopback, against a service whose read timeout is 1 s.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from agentslo.config import ServerSpec
from tests.collector.conftest import StartService
from tests.collector.otlp_requests import agent_request
from tests.support.service import ServiceThread

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
READ_TIMEOUT_S = 1.0


@pytest.fixture
def backend() -> str:
    """The bounds hold before storage: one backend is enough."""
    return "embedded"


@pytest.fixture
def service(start_service: StartService) -> ServiceThread:
    return start_service(server_spec=ServerSpec(read_timeout_s=READ_TIMEOUT_S), max_concurrent_grpc_calls=2)


class StalledCall:
    """An Export call whose request message never comes, until `release()` (a client gone quiet)."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._released = threading.Event()
        export = channel.stream_unary(EXPORT, request_serializer=None,
                                      response_deserializer=ExportTraceServiceResponse.FromString)
        self.future = export.future(self._messages(), timeout=30)

    def _messages(self) -> Iterator[bytes]:
        self._released.wait(30)
        yield agent_request().SerializeToString()

    def release(self) -> None:
        self._released.set()


def export(channel: grpc.Channel, timeout_s: float = 10) -> ExportTraceServiceResponse:
    call = channel.unary_unary(EXPORT, request_serializer=None,
                               response_deserializer=ExportTraceServiceResponse.FromString)
    return call(agent_request().SerializeToString(), timeout=timeout_s)


def test_a_call_beyond_the_cap_is_unavailable_with_retry_info(service: ServiceThread) -> None:
    with grpc.insecure_channel(service.grpc_endpoint) as channel:
        stalled = [StalledCall(channel) for _ in range(2)]
        time.sleep(0.3)  # both calls are in the server, waiting for their messages
        with pytest.raises(grpc.RpcError) as refused:
            export(channel, timeout_s=READ_TIMEOUT_S / 2)
        for call in stalled:
            call.release()
    trailers = dict(refused.value.trailing_metadata())
    retry = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
    assert (refused.value.code(), refused.value.details(), retry.retry_delay.seconds) == (
        grpc.StatusCode.UNAVAILABLE, "spans not stored, retry later: 2 export calls are being received or stored", 1)
    assert 'agentslo_ingest_requests_total{outcome="unavailable",protocol="grpc"} 1.0' in service.metrics


def test_a_call_whose_message_stalls_is_cut_after_the_read_timeout_and_frees_its_place(
    service: ServiceThread,
) -> None:
    with grpc.insecure_channel(service.grpc_endpoint) as channel:
        started = time.monotonic()
        stalled = [StalledCall(channel) for _ in range(2)]
        errors = [call.future.exception(timeout=10) for call in stalled]
        waited_s = time.monotonic() - started
        for call in stalled:
            call.release()
        assert [(error.code(), error.details()) for error in errors] == [
            (grpc.StatusCode.DEADLINE_EXCEEDED, "request message not received within 1 s")] * 2
        assert READ_TIMEOUT_S <= waited_s < READ_TIMEOUT_S + 3
        assert export(channel).partial_success.rejected_spans == 0  # the places are free again


def test_a_connection_without_calls_is_closed_after_the_read_timeout(service: ServiceThread) -> None:
    states: list[grpc.ChannelConnectivity] = []
    with grpc.insecure_channel(service.grpc_endpoint) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        channel.subscribe(states.append)
        time.sleep(READ_TIMEOUT_S + 1.5)
        channel.unsubscribe(states.append)
        assert export(channel).partial_success.rejected_spans == 0  # the client just connects again
    # The server's GOAWAY sends the channel from READY back to IDLE.
    assert grpc.ChannelConnectivity.IDLE in states


def test_a_connection_that_never_speaks_http2_is_closed_after_the_read_timeout(service: ServiceThread) -> None:
    host, port = service.grpc_endpoint.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=READ_TIMEOUT_S + 5) as sock:
        started = time.monotonic()
        while sock.recv(4096):  # the server's settings, maybe; then the end of the connection
            pass
        assert time.monotonic() - started < READ_TIMEOUT_S + 3


def test_a_call_without_a_message_is_invalid_argument(service: ServiceThread) -> None:
    with grpc.insecure_channel(service.grpc_endpoint) as channel:
        call = channel.stream_unary(EXPORT, request_serializer=None,
                                    response_deserializer=ExportTraceServiceResponse.FromString)
        with pytest.raises(grpc.RpcError) as refused:
            call(iter(()), timeout=10)
    assert (refused.value.code(), refused.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT, "the call carried no request message")
