"""OTLP/gRPC receiver: opentelemetry.proto.collector.trace.v1.TraceService/Export.

The request arrives as raw bytes (no deserializer) so that decoding happens in
the mapping workers with the rest of the span work. Retryable failures answer
UNAVAILABLE (RESOURCE_EXHAUSTED for a tenant over its rate limit) with a RetryInfo
delay in the trailers (`google.rpc.retryinfo-bin`, read by the OTel exporters, and
the same detail inside `grpc-status-details-bin`); gzip-compressed requests are handled by grpc.
Messages say what happened in our words, as on OTLP/HTTP: what the storage
driver said (hosts, ports, settings) stays in the log. With API keys configured,
a call needs an ingest key in its metadata (`authorization: Bearer <key>` or
`x-api-key: <key>`): UNAUTHENTICATED without a valid one, PERMISSION_DENIED for
a key of another scope; the key's tenant is stamped on every span it writes.

Bounded as OTLP/HTTP is. At most `max_concurrent_calls` Export calls are received
or stored at once: each holds a message of up to `max_message_bytes` until it is
answered, so beyond the cap a call is answered UNAVAILABLE with RetryInfo before
its message is read. That is why Export is served as a client-streaming method
(a unary call is one message on the wire, read when the handler asks for it),
and not with grpc's `maximum_concurrent_rpcs`, which answers RESOURCE_EXHAUSTED
without RetryInfo: not retryable by the OTLP specification, so spans lost. A
call's message must arrive within `read_timeout_s` (DEADLINE_EXCEEDED); a
connection that does not finish its HTTP/2 handshake, or that carries no call,
for that long is closed (grpc's handshake timeout and max_connection_idle; a
client reconnects on its next call).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector._ingest import Ingest, retry_reason
from collector._otlp import OtlpError
from ground.auth import KeyRing, Scope
from ground.errors import Forbidden, Overloaded, RateLimited, StorageError, StorageUnavailable, Unauthenticated

_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def create_grpc_server(ingest: Ingest, keys: KeyRing, *, host: str, port: int, max_message_bytes: int,
                       max_concurrent_calls: int, read_timeout_s: float) -> tuple[grpc.aio.Server, int]:
    """A grpc.aio server with the TraceService bound to host:port, serving calls with an ingest key of
    `keys`; returns it and the bound port."""
    calls = _CallsInFlight(max_concurrent_calls)

    async def export(messages: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> ExportTraceServiceResponse:
        try:
            tenant = _authorize(keys, context)
            ingest.admit(tenant, "grpc")
            with calls.admit():
                body = await _request_message(messages, context, read_timeout_s)
                batch = await ingest.export_protobuf(body, "grpc", tenant=tenant)
        except Unauthenticated as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        except Forbidden as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        except OtlpError as exc:
            ingest.metrics.requests.labels("grpc", "invalid").inc()
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.message)
        except RateLimited as exc:
            message = f"spans not stored, retry later: {retry_reason(exc)}"
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, message,
                                trailing_metadata=_retry_trailers(exc.retry_after_s, message,
                                                                  code=code_pb2.RESOURCE_EXHAUSTED))
        except (StorageUnavailable, Overloaded) as exc:
            if isinstance(exc, _TooManyCalls):
                ingest.metrics.requests.labels("grpc", "unavailable").inc()
            message = f"spans not stored, retry later: {retry_reason(exc)}"
            await context.abort(grpc.StatusCode.UNAVAILABLE, message,
                                trailing_metadata=_retry_trailers(exc.retry_after_s, message))
        except StorageError:
            await context.abort(grpc.StatusCode.INTERNAL, "spans not stored: storage error")
        response = ExportTraceServiceResponse()
        if batch.rejected:
            response.partial_success.rejected_spans = batch.rejected
            response.partial_success.error_message = batch.error_message()
        return response

    read_timeout_ms = int(read_timeout_s * 1000)
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", max_message_bytes),
                                      ("grpc.so_reuseport", 0),
                                      ("grpc.server_handshake_timeout_ms", read_timeout_ms),
                                      ("grpc.max_connection_idle_ms", read_timeout_ms)])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(_SERVICE, {
        "Export": grpc.stream_unary_rpc_method_handler(
            export, request_deserializer=None, response_serializer=ExportTraceServiceResponse.SerializeToString,
        ),
    }),))
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:  # grpcio >= 1.49 raises where it used to return 0
        bound = 0
    if bound == 0:
        raise OSError(f"cannot listen for OTLP/gRPC on {host}:{port}")
    return server, bound


class _TooManyCalls(Overloaded):
    """As many Export calls are being received or stored as may be."""


class _CallsInFlight:
    """Counts Export calls whose message is being received or stored, up to a cap (one event loop: no lock)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._count = 0

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Hold a place while the message is received and stored; _TooManyCalls when none is free."""
        if self._count >= self._limit:
            raise _TooManyCalls(f"{self._count} export calls are being received or stored")
        self._count += 1
        try:
            yield
        finally:
            self._count -= 1


async def _request_message(messages: AsyncIterator[bytes], context: grpc.aio.ServicerContext,
                           read_timeout_s: float) -> bytes:
    """The call's one request message, or the call aborted if it does not come within the timeout."""
    try:
        return await asyncio.wait_for(anext(messages), read_timeout_s)
    except TimeoutError:
        await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                            f"request message not received within {read_timeout_s:g} s")
    except StopAsyncIteration:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the call carried no request message")


def _authorize(keys: KeyRing, context: grpc.aio.ServicerContext) -> str | None:
    """The tenant of the call's ingest key (None with keys off); raises Unauthenticated or Forbidden."""
    if not keys.enabled:
        return None
    metadata = dict(context.invocation_metadata() or ())
    return keys.authorize(metadata.get("authorization"), metadata.get("x-api-key"), Scope.INGEST).tenant


def _retry_trailers(retry_after_s: int, message: str, *,
                    code: int = code_pb2.UNAVAILABLE) -> tuple[tuple[str, bytes], ...]:
    retry_info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=retry_after_s))
    detail = any_pb2.Any()
    detail.Pack(retry_info)
    status = status_pb2.Status(code=code, message=message, details=[detail])
    return (
        ("google.rpc.retryinfo-bin", retry_info.SerializeToString()),
        ("grpc-status-details-bin", status.SerializeToString()),
    )
