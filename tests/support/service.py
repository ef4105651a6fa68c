"""A real AgentSLO server on loopback ports, running in a thread of the test process.

In-process so that tests can read the very storage it writes (chDB runs one
data directory per process); its HTTP and gRPC listeners are real sockets.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx

from agentslo.config import Config
from agentslo.serve import AgentSloServer
from ground.storage import Storage


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceThread:
    """Runs AgentSloServer(config, storage) until `stop()`; `http_url` and `grpc_endpoint` reach it."""

    def __init__(self, config: Config, storage: Storage) -> None:
        config = config.model_copy(update={
            "server": config.server.model_copy(update={"http_port": free_port(), "grpc_port": free_port()}),
        })
        self.config = config
        self.server = AgentSloServer(config, storage)
        self.http_url = f"http://127.0.0.1:{config.server.http_port}"
        self.grpc_endpoint = f"127.0.0.1:{config.server.grpc_port}"
        self._thread = threading.Thread(target=lambda: asyncio.run(self.server.run()), daemon=True)

    def start(self, timeout_s: float = 30) -> ServiceThread:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(self.http_url + "/readyz", timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("service did not become ready")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.stop()
        self._thread.join(timeout=60)

    @property
    def metrics(self) -> str:
        return httpx.get(self.http_url + "/metrics", timeout=5).text
