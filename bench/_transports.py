"""Sending one pre-serialized ExportTraceServiceRequest, over OTLP/HTTP or OTLP/gRPC.

Each transport holds one persistent connection and does no encoding per send:
HTTP posts the bytes as they are, gRPC passes them through a method with no
serializer. Answers are sorted into `Outcome`s by the pure `http_outcome` and
`grpc_outcome`, following the OTLP specification's reading of them:

- 2xx / OK: acknowledged, less any `partial_success.rejected_spans`;
- 429 or 503 with Retry-After / RESOURCE_EXHAUSTED or UNAVAILABLE with
  RetryInfo: throttled, to be sent again after the delay;
- other 4xx / client-fault status: refused; other 5xx / server-fault status:
  failed; no answer at all (reset, refused, timeout): transport error.
"""

from __future__ import annotations

import enum
import http.client
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import urlsplit

import grpc

from bench import _wire

__all__ = ["GrpcTransport", "HttpTransport", "Outcome", "Result", "Transport", "grpc_outcome", "http_outcome"]

REQUEST_TIMEOUT_S = 30.0
EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
_GRPC_CLIENT_FAULTS = {
    grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.CANCELLED,
}


class Result(enum.Enum):
    """How the server answered one export request."""

    ACKNOWLEDGED = "acknowledged"
    THROTTLED = "throttled"
    REFUSED = "refused"  # 4xx, or a gRPC status that blames the request
    FAILED = "failed"  # 5xx, or a gRPC status that blames the server
    TRANSPORT_ERROR = "transport error"  # no answer: connection refused or reset, timeout


@dataclass(frozen=True)
class Outcome:
    """One answer: its `Result`, spans the server rejected in a partial success, delay asked for."""

    result: Result
    detail: str
    rejected_spans: int = 0
    retry_after_s: float | None = None


class Transport(Protocol):
    """One connection to the server's trace receiver."""

    def send(self, body: bytes) -> Outcome:
        """Export one serialized ExportTraceServiceRequest and read the answer."""

    def close(self) -> None:
        """Close the connection."""


def http_outcome(status: int, reason: str, retry_after: str | None, body: bytes, *, now_s: float) -> Outcome:
    """Sort an OTLP/HTTP answer (`now_s`, epoch seconds, reads an HTTP-date Retry-After)."""
    detail = f"HTTP {status} {reason}"
    if 200 <= status < 300:
        try:
            return Outcome(Result.ACKNOWLEDGED, detail, rejected_spans=_wire.rejected_spans(body))
        except ValueError as exc:
            return Outcome(Result.FAILED, f"{detail} with a body that is no ExportTraceServiceResponse: {exc}")
    delay_s = _retry_after_s(retry_after, now_s) if status in (429, 503) else None
    if delay_s is not None:
        return Outcome(Result.THROTTLED, f"{detail}, Retry-After: {retry_after}", retry_after_s=delay_s)
    text = body[:300].decode("utf-8", "replace").strip()
    detail = f"{detail}: {text}" if text else detail
    return Outcome(Result.REFUSED if 400 <= status < 500 else Result.FAILED, detail)


def _retry_after_s(value: str | None, now_s: float) -> float | None:
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now_s)
    except (TypeError, ValueError):
        return None


def grpc_outcome(code: grpc.StatusCode, message: str, status_details: bytes | None, response: bytes) -> Outcome:
    """Sort an OTLP/gRPC answer; `status_details` is the grpc-status-details-bin trailer."""
    detail = f"gRPC {code.name}" + (f": {message}" if message else "")
    if code is grpc.StatusCode.OK:
        try:
            return Outcome(Result.ACKNOWLEDGED, detail, rejected_spans=_wire.rejected_spans(response))
        except ValueError as exc:
            return Outcome(Result.FAILED, f"{detail} with a response that is no ExportTraceServiceResponse: {exc}")
    if code in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE) and status_details:
        try:
            delay_s = _wire.retry_delay_s(status_details)
        except ValueError:
            delay_s = None
        if delay_s is not None:
            return Outcome(Result.THROTTLED, f"{detail}, RetryInfo {delay_s:g} s", retry_after_s=delay_s)
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return Outcome(Result.TRANSPORT_ERROR, detail)
    return Outcome(Result.REFUSED if code in _GRPC_CLIENT_FAULTS else Result.FAILED, detail)


class HttpTransport:
    """POST /v1/traces over one keep-alive HTTP/1.1 connection (reopened after an error), with
    `api_key` as a Bearer token if given."""

    def __init__(self, url: str, api_key: str | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"--url {url!r}: expected http://HOST:PORT")
        self._connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=REQUEST_TIMEOUT_S)
        self._path = parts.path.rstrip("/") + "/v1/traces"
        self._headers = {"Content-Type": "application/x-protobuf"}
        if api_key is not None:
            self._headers["Authorization"] = f"Bearer {api_key}"

    def send(self, body: bytes) -> Outcome:
        try:
            # bytes (not bytearray): http.client then sends headers and body in one write
            self._connection.request("POST", self._path, body, self._headers)
            response = self._connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._connection.close()
            return Outcome(Result.TRANSPORT_ERROR, f"{type(exc).__name__}: {exc}")
        if response.will_close:
            self._connection.close()
        return http_outcome(response.status, response.reason, response.getheader("Retry-After"), answer,
                            now_s=time.time())

    def close(self) -> None:
        self._connection.close()


class GrpcTransport:
    """TraceService/Export over one gRPC channel of its own (its own HTTP/2 connection), with
    `api_key` as `authorization` metadata if given."""

    def __init__(self, target: str, api_key: str | None = None) -> None:
        # A local subchannel pool keeps channels with equal arguments from sharing one connection.
        self._channel = grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        self._export = self._channel.unary_unary(EXPORT_METHOD)  # no serializers: bytes in, bytes out
        self._metadata = () if api_key is None else (("authorization", f"Bearer {api_key}"),)

    def send(self, body: bytes) -> Outcome:
        try:
            response, call = self._export.with_call(body, timeout=REQUEST_TIMEOUT_S, metadata=self._metadata)
        except grpc.RpcError as exc:
            details = dict(exc.trailing_metadata() or ()).get("grpc-status-details-bin")
            return grpc_outcome(exc.code(), exc.details() or "", details, b"")
        return grpc_outcome(call.code(), "", None, response)

    def close(self) -> None:
        self._channel.close()
