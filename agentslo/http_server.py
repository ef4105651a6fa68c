"""Bounded HTTP/1.1: uvicorn, with the limits it lacks.

What uvicorn offers (0.3x, as its source reads) and why most of it does not fit:

- It parses with httptools, installed with uvicorn[standard]; `h11_max_incomplete_event_size`
  bounds a head only under h11, and answers 400 there, not 431. httptools buffers any head.
- `timeout_keep_alive` (kept, 5 s) runs only between a response and the next request's first
  byte: a connection that sends nothing, or trickles its head or body, is held forever.
- `limit_concurrency` counts connections and requests alike and answers every route, /healthz
  included, 503 without Retry-After. Bodies are capped where they are read, by the OTLP
  receiver (`ingest.max_concurrent_bodies`), which answers 503 the way OTLP says.
- `timeout_graceful_shutdown` cancels the requests still running, logging each as an error
  with a traceback, and leaves their connections open.

So `BoundedHttpProtocol` (uvicorn's httptools protocol) answers 431 to a head larger than
`max_header_bytes` or with more than `max_headers` headers, without buffering more than the
limit and one read; cuts a connection whose head is not in within `read_timeout_s` of its
start, or whose body falls silent for that long, with a 408 when nothing else was answered;
and counts clients that leave before their answer. `BoundedServer` cuts the connections
still open at the shutdown deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

import uvicorn
from prometheus_client import CollectorRegistry, Counter
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["BoundedServer", "HttpLimits", "HttpMetrics", "Refusal", "bounded_server"]


@dataclass(frozen=True)
class Refusal:
    """An answer given instead of the app's, and the reason it is counted under."""

    status: int
    reason: str
    message: str

    def response(self) -> bytes:
        """The whole HTTP/1.1 response; the connection closes after it."""
        body = self.message.encode()
        retry = "retry-after: 1\r\n" if self.status == 503 else ""
        return (f"HTTP/1.1 {self.status} {HTTPStatus(self.status).phrase}\r\n"
                f"content-type: text/plain; charset=utf-8\r\ncontent-length: {len(body)}\r\n{retry}"
                "connection: close\r\n\r\n").encode() + body


@dataclass(frozen=True)
class HttpLimits:
    """How large a request head may be, and how long a client may take to send its request."""

    max_header_bytes: int
    max_headers: int
    read_timeout_s: float

    def refuse_head(self, size: int, count: int) -> Refusal | None:
        """The answer to a head of `size` bytes and `count` headers, if the limits refuse it."""
        if size > self.max_header_bytes:
            return Refusal(431, "head_too_large", f"request head larger than {self.max_header_bytes} bytes")
        if count > self.max_headers:
            return Refusal(431, "too_many_headers", f"more than {self.max_headers} request headers")
        return None

    def head_timeout(self) -> Refusal:
        """The answer to a head still incomplete after the read timeout."""
        return Refusal(408, "read_timeout", f"request head not received within {self.read_timeout_s:g} s")

    def body_timeout(self) -> Refusal:
        """The answer to a body silent for the read timeout."""
        return Refusal(408, "read_timeout", f"request body stalled for {self.read_timeout_s:g} s")


SHUTTING_DOWN = Refusal(503, "shutdown", "shutting down; retry later")


class HttpMetrics:
    """Counters of the bounded HTTP server, in the service's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.refused = Counter(
            "agentslo_http_refused", "Requests refused and connections cut by the HTTP limits, by reason: "
            "head_too_large and too_many_headers (431), read_timeout (408, or closed when nothing was sent), "
            "shutdown (cut at the shutdown deadline).", ["reason"], registry=registry,
        )
        self.client_disconnects = Counter(
            "agentslo_http_client_disconnects", "Connections the client closed before the answer to its request.",
            registry=registry,
        )


class _Phase(enum.Enum):
    IDLE = "idle"  # no request coming in: none yet, or the last one is all in
    HEAD = "head"
    BODY = "body"


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounded heads, read timeouts and counted disconnects.

    `bounded_server` makes a subclass with `limits` and `metrics` set, since uvicorn
    creates one protocol per connection with its own arguments.
    """

    limits: ClassVar[HttpLimits]
    metrics: ClassVar[HttpMetrics]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = _Phase.IDLE
        self._head_bytes = 0
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._peer_closed = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._last_read = self.loop.time()
        self._start_timer()  # a connection that never sends a request is closed too

    def data_received(self, data: bytes) -> None:
        self._last_read = self.loop.time()
        if self._phase is not _Phase.BODY:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still in the head after this read: everything read since it began is head. Checked after
        # parsing, since one read may carry the end of a head and the start of its body.
        if (self._phase is _Phase.HEAD and self._head_bytes > self.limits.max_header_bytes
                and not self.transport.is_closing()):
            refusal = self.limits.refuse_head(self._head_bytes, 0)
            assert refusal is not None
            self._cut(refusal)

    def eof_received(self) -> None:
        self._peer_closed = True
        super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        if (exc is not None or self._peer_closed) and self._answer_owed():
            self.metrics.client_disconnects.inc()
        super().connection_lost(exc)

    # Parser callbacks.

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = _Phase.HEAD
        if self._timer is None:
            self._start_timer()  # the head is due within the timeout of its first byte

    def on_headers_complete(self) -> None:
        self._phase = _Phase.BODY
        self._start_timer()
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        refusal = self.limits.refuse_head(size, len(self.headers))
        if refusal is None:
            super().on_headers_complete()
            return
        self.metrics.refused.labels(refusal.reason).inc()
        # uvicorn starts this request's cycle with `self.app`: give it one that answers the refusal.
        app, self.app = self.app, _answering(refusal)
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._phase = _Phase.IDLE
        self._head_bytes = 0
        self._stop_timer()

    # Cutting.

    def cut_for_shutdown(self) -> bool:
        """Close this connection now; answer 503 if a request still waits for its answer. Whether one did."""
        owed = self._answer_owed()
        if owed:
            self._cut(SHUTTING_DOWN, abort=True)
        else:
            self._close(abort=True)
        return owed

    def _answer_owed(self) -> bool:
        """Whether a request has begun on this connection and has not been answered."""
        return self._phase is _Phase.HEAD or (self.cycle is not None and not self.cycle.response_complete)

    def _cut(self, refusal: Refusal, *, abort: bool = False) -> None:
        """Count `refusal`, send it if no other answer has begun, and close."""
        self.metrics.refused.labels(refusal.reason).inc()
        cycle = self.cycle
        if self._phase is _Phase.BODY:
            answerable = not cycle.response_started
        else:
            answerable = cycle is None or not cycle.response_started or cycle.response_complete
        if answerable:
            self.transport.write(refusal.response())
        self._close(abort=abort)

    def _close(self, *, abort: bool = False) -> None:
        """Close the connection; with `abort`, without waiting for a client that reads nothing
        to take what is left to send (the kernel still sends what it holds)."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app reads a disconnect, and what it answers goes nowhere
            cycle.message_event.set()
        self._stop_timer()
        if abort:
            self.transport.abort()
        else:
            self.transport.close()

    def _start_timer(self) -> None:
        self._stop_timer()
        self._timer = self.loop.call_later(self.limits.read_timeout_s, self._on_timeout)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timeout(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        timeout = self.limits.read_timeout_s
        if self.flow.read_paused:  # uvicorn stopped reading (the app is behind): not the client's doing
            self._timer = self.loop.call_later(timeout, self._on_timeout)
            return
        if self._phase is _Phase.BODY:
            silent = self.loop.time() - self._last_read
            if silent < timeout:  # the body moved since: wait for the rest of the silence
                self._timer = self.loop.call_later(timeout - silent, self._on_timeout)
                return
            self._cut(self.limits.body_timeout())
        elif self._phase is _Phase.HEAD:
            self._cut(self.limits.head_timeout())
        else:  # nothing sent: nothing to answer
            self.metrics.refused.labels("read_timeout").inc()
            self._close()


def _answering(refusal: Refusal) -> Any:
    """An ASGI app that answers `refusal` and closes the connection."""
    body = refusal.message.encode()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": refusal.status, "headers": [
            (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]})
        await send({"type": "http.response.body", "body": body})

    return app


class BoundedServer(uvicorn.Server):
    """uvicorn's server on bounded connections, without signal handlers of its own.

    The service's handlers stop everything, HTTP included (agentslo.serve); uvicorn's
    would stop HTTP alone, and re-raise the signal when it is done.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def cut_open_connections(self) -> int:
        """Stop waiting for open connections and close them, answering 503 to requests not yet answered.

        Returns how many requests were cut.
        """
        self.force_exit = True
        return sum(connection.cut_for_shutdown() for connection in list(self.server_state.connections))


def bounded_server(app: Any, *, limits: HttpLimits, metrics: HttpMetrics) -> BoundedServer:
    """A server for `app` with `limits`, counted in `metrics`; serve it with `serve(sockets=...)`."""
    protocol = type("BoundedHttpProtocol", (BoundedHttpProtocol,), {"limits": limits, "metrics": metrics})
    # No WebSockets: the app has no WebSocket route, and an upgraded connection would leave these limits.
    return BoundedServer(uvicorn.Config(app, http=protocol, ws="none", lifespan="off", access_log=False,
                                        log_config=None))
