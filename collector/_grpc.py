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
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector._ingest import Ingest, retry_reason
from collector._otlp import OtlpError
from ground.auth import KeyRing, Scope
from ground.errors import Forbidden, Overloaded, RateLimited, StorageError, StorageUnavailable, Unauthenticated

_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def create_grpc_server(ingest: Ingest, keys: KeyRing, *, host: str, port: int,
                       max_message_bytes: int) -> tuple[grpc.aio.Server, int]:
    """A grpc.aio server with the TraceService bound to host:port, serving calls with an ingest key of
    `keys`; returns it and the bound port."""

    async def export(body: bytes, context: grpc.aio.ServicerContext) -> ExportTraceServiceResponse:
        try:
            tenant = _authorize(keys, context)
            ingest.admit(tenant, "grpc")
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

    server = grpc.aio.server(options=[("grpc.max_receive_message_length", max_message_bytes),
                                      ("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(_SERVICE, {
        "Export": grpc.unary_unary_rpc_method_handler(
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
