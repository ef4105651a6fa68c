"""OTLP/gRPC receiver: opentelemetry.proto.collector.trace.v1.TraceService/Export.

Retryable failures answer UNAVAILABLE with a RetryInfo delay in the trailers
(`google.rpc.retryinfo-bin`, read by the OTel exporters, and the same detail
inside `grpc-status-details-bin`); gzip-compressed requests are handled by grpc.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from agentslo.errors import Overloaded, StorageError, StorageUnavailable
from collector._ingest import Ingest


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, ingest: Ingest) -> None:
        self._ingest = ingest

    async def Export(  # noqa: N802 - the name is the gRPC method's
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        try:
            batch = await self._ingest.export(request, "grpc")
        except (StorageUnavailable, Overloaded) as exc:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"spans not stored, retry later: {exc}",
                trailing_metadata=_retry_trailers(exc.retry_after_s, str(exc)),
            )
        except StorageError as exc:
            await context.abort(grpc.StatusCode.INTERNAL, f"spans not stored: {exc}")
        response = trace_service_pb2.ExportTraceServiceResponse()
        if batch.rejected:
            response.partial_success.rejected_spans = batch.rejected
            response.partial_success.error_message = batch.error_message()
        return response


def _retry_trailers(retry_after_s: int, message: str) -> tuple[tuple[str, bytes], ...]:
    retry_info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=retry_after_s))
    detail = any_pb2.Any()
    detail.Pack(retry_info)
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message, details=[detail])
    return (
        ("google.rpc.retryinfo-bin", retry_info.SerializeToString()),
        ("grpc-status-details-bin", status.SerializeToString()),
    )


def create_grpc_server(ingest: Ingest, *, host: str, port: int, max_message_bytes: int) -> tuple[grpc.aio.Server, int]:
    """A grpc.aio server with the TraceService bound to host:port; returns it and the bound port."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(ingest), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen for OTLP/gRPC on {host}:{port}")
    return server, bound
