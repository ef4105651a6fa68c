"""A real webhook receiver on loopback (stdlib http.server in a thread) that records what it gets.

It can be "down" (the port closed) and brought up later on the same port, to
test retries against a receiver that comes back.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request as received: headers and raw body."""

    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """Records POSTed bodies; answers `status` (200 by default) with `answer` as its body (none by default)
    and `headers`, after `delay_s` (a slow receiver).

    `received` holds the requests it accepted, `requests` every request.
    """

    def __init__(self, *, status: int = 200, answer: bytes = b"", delay_s: float = 0,
                 headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.answer = answer
        self.headers = headers or {}
        self.delay_s = delay_s
        self.received: list[Received] = []
        self.requests: list[Received] = []
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> WebhookReceiver:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = Received(dict(self.headers.items()), body)
                owner.requests.append(request)
                time.sleep(owner.delay_s)
                if owner.status < 300:
                    owner.received.append(request)
                self.send_response(owner.status)
                self.send_header("Content-Length", str(len(owner.answer)))
                for name, value in owner.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(owner.answer)

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
