"""A real AgentSLO server on loopback ports, running in a thread of the test process.

In-process so that tests can read the very storage it writes (chDB runs one
data directory per process); its HTTP and gRPC listeners are real sockets.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from datetime import datetime

import httpx

from agentslo.config import Config
from agentslo.serve import AgentSloServer, ServerThread
from ground.storage import Storage


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceThread:
    """Runs AgentSloServer(config, storage) until `stop()`; `http_url` and `grpc_endpoint` reach it.

    `clock`, when given, is the service's time (a tests.support.clock.Clock moved by the test);
    `monotonic` its clock for rate limits. `api_key` is sent by `metrics` and `delivered`.
    """

    def __init__(self, config: Config, storage: Storage, *, clock: Callable[[], datetime] | None = None,
                 monotonic: Callable[[], float] | None = None, api_key: str | None = None) -> None:
        self.clock = clock
        self.headers = {} if api_key is None else {"authorization": f"Bearer {api_key}"}
        config = config.model_copy(update={
            "server": config.server.model_copy(update={"http_port": free_port(), "grpc_port": free_port()}),
        })
        self.config = config
        injected = {name: value for name, value in (("clock", clock), ("monotonic", monotonic)) if value is not None}
        self.server = AgentSloServer(config, storage, **injected)
        self._running = ServerThread(self.server)
        self.http_url = self._running.url
        self.grpc_endpoint = f"127.0.0.1:{config.server.grpc_port}"

    def start(self, timeout_s: float = 30) -> ServiceThread:
        self._running.start(timeout_s)
        return self

    def stop(self) -> None:
        self._running.stop()

    @property
    def metrics(self) -> str:
        response = httpx.get(self.http_url + "/metrics", headers=self.headers, timeout=5)
        response.raise_for_status()
        return response.text

    def delivered(self, timeout_s: float = 30) -> None:
        """Wait until the delivery loop has tried every notification queued so far."""
        def tried() -> bool:
            deliveries = httpx.get(self.http_url + "/api/v1/alerts", params={"limit": 1000}, headers=self.headers,
                                   timeout=10).json()
            return all(d["attempts"] or d["state"] != "pending" for d in deliveries["deliveries"])
        wait_for(tried, timeout_s)


def wait_for(condition: Callable[[], bool], timeout_s: float = 30) -> None:
    """Poll `condition` until it holds; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s} s: {condition}")
        time.sleep(0.02)
