"""OTLP/HTTP receiver: POST /v1/traces.

Answers as the OTLP specification says: 200 with an ExportTraceServiceResponse
(partial success when some spans were invalid) in the request's encoding;
400/413/415 with a google.rpc.Status body for bad requests; 503 with
Retry-After when the spans could not be stored and the client should retry.
With API keys configured, a request needs an ingest key (401 without a valid
key, 403 for a key of another scope), checked before its body is read; the
key's tenant is stamped on every span it writes. A tenant over its rate limit
gets 429 with Retry-After, also before its body is read.

At most `max_concurrent_bodies` requests are received and stored at once: each
holds its body in memory until it is answered, so beyond the cap a request is
answered 503 before its body is read. 5xx messages say what happened in our
words: what the storage driver said (hosts, ports, settings) stays in the log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import Counter
from starlette.requests import ClientDisconnect

from collector._ingest import Ingest, retry_reason
from collector._openapi import EXPORT_REQUEST_BODY
from collector._otlp import JSON, PROTOBUF, BodyLimits, OtlpError, encode_response, encode_status, media_type
from ground.auth import KeyRing, Scope
from ground.errors import Forbidden, Overloaded, RateLimited, StorageError, StorageUnavailable, Unauthenticated

# RFC 6750: a 401 names the scheme to authenticate with; a 403 says the key's scope is short.
_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="agentslo"'}
_FORBIDDEN = {"WWW-Authenticate": 'Bearer realm="agentslo", error="insufficient_scope"'}

_RESPONSES = {
    200: {"description": "stored; partialSuccess lists spans rejected as invalid",
          "content": {PROTOBUF: {}, JSON: {}}},
    400: {"description": "malformed protobuf, JSON or gzip (google.rpc.Status body)"},
    401: {"description": "API keys are configured and the request has none, or an unknown one"},
    403: {"description": "the request's API key is not an ingest key"},
    413: {"description": "body or decompressed body larger than the configured limit"},
    415: {"description": "content type other than application/x-protobuf or application/json"},
    429: {"description": "the tenant is over its rate limit; retry after Retry-After seconds"},
    503: {"description": "storage unavailable or ingest saturated (or too many bodies in flight); "
                         "retry after Retry-After seconds"},
}


def otlp_http_router(ingest: Ingest, limits: BodyLimits, keys: KeyRing, *, max_concurrent_bodies: int) -> APIRouter:
    """The router serving POST /v1/traces into `ingest`, to requests with an ingest key of `keys`."""
    router = APIRouter()
    bodies = _BodiesInFlight(max_concurrent_bodies, refused=ingest.metrics.requests.labels("http", "unavailable"))

    @router.post("/v1/traces", tags=["ingest"], responses=_RESPONSES, response_class=Response,
                 openapi_extra={"requestBody": EXPORT_REQUEST_BODY})
    async def export_traces(request: Request) -> Response:
        """Receive spans as OTLP/HTTP (protobuf or JSON, optionally gzip)."""
        headers = request.headers
        # The answer's encoding until the request's type is checked: protobuf for protobuf clients,
        # JSON for the rest (a 415 for text/plain is read by a person).
        kind = PROTOBUF if headers.get("content-type", "").startswith(PROTOBUF) else JSON
        try:
            tenant = keys.authorize(headers.get("authorization"), headers.get("x-api-key"), Scope.INGEST).tenant
            kind = media_type(headers.get("content-type"))
            ingest.admit(tenant, "http")
            with bodies.admit():
                body = await _read_body(request, limits)
                batch = await ingest.export_http(body, kind, headers.get("content-encoding"), tenant=tenant)
        except Unauthenticated as exc:
            return _status(401, str(exc), kind, headers=_UNAUTHORIZED)
        except Forbidden as exc:
            return _status(403, str(exc), kind, headers=_FORBIDDEN)
        except ClientDisconnect:  # counted by the HTTP server; this answer reaches nobody
            return _status(400, "client disconnected before its body was received", kind)
        except OtlpError as exc:
            ingest.metrics.requests.labels("http", "invalid").inc()
            return _status(exc.status, exc.message, kind)
        except RateLimited as exc:
            return _status(429, f"spans not stored, retry later: {retry_reason(exc)}", kind,
                           headers={"Retry-After": str(exc.retry_after_s)})
        except (StorageUnavailable, Overloaded) as exc:
            return _status(503, f"spans not stored, retry later: {retry_reason(exc)}", kind,
                           headers={"Retry-After": str(exc.retry_after_s)})
        except StorageError:
            return _status(500, "spans not stored: storage error", kind)
        return Response(encode_response(batch.rejected, batch.error_message(), kind), media_type=kind)

    return router


class _BodiesInFlight:
    """Counts requests whose body is being received or stored, up to a cap (one event loop: no lock)."""

    def __init__(self, limit: int, *, refused: Counter) -> None:
        self._limit = limit
        self._refused = refused
        self._count = 0

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Hold a place while the body is received and stored; Overloaded when none is free."""
        if self._count >= self._limit:
            self._refused.inc()
            raise Overloaded(f"{self._count} request bodies are being received or stored")
        self._count += 1
        try:
            yield
        finally:
            self._count -= 1


async def _read_body(request: Request, limits: BodyLimits) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise OtlpError(413, f"body of {declared} bytes exceeds the limit of {limits.max_body_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.max_body_bytes:
            raise OtlpError(413, f"body exceeds the limit of {limits.max_body_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _status(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> Response:
    return Response(encode_status(status, message, kind), status_code=status, media_type=kind, headers=headers)
