"""`agentslo serve`: one process running the HTTP app, the gRPC receiver, storage and background work.

What runs depends on the replica's role (`server.role`): the OTLP receivers in
roles `all` and `ingest` (an `evaluator` opens no gRPC port and serves no
/v1/traces), the evaluator lease's rounds in every role (an `ingest` replica only
reads it), and the evaluation scheduler and the delivery loop in roles `all` and
`evaluator`, which act only while the replica holds the lease.

Shutdown order on SIGTERM or Ctrl-C: stop accepting HTTP and gRPC and let
in-flight requests and exports finish, for at most `server.shutdown_timeout_s`
(then cut them: a client still trickling a body cannot hold the process); let a
running evaluation finish; stop the delivery loop (webhook sends in flight get a
few seconds, then are cut and stay in the outbox); release the evaluator lease
(another replica takes over at once); store what ingest still holds; close
storage; then exit 0. Nothing writes to storage after it is closed.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from agentslo.config import Config, Secrets, describe, resolve_secrets
from agentslo.http_api import create_app
from agentslo.http_server import BoundedServer, HttpMetrics, bounded_server
from agentslo.service import Service
from collector import create_grpc_server
from ground.errors import ConfigError
from ground.storage import Storage, open_storage

if TYPE_CHECKING:
    import grpc

__all__ = ["AgentSloServer", "ServerThread", "serve"]

log = logging.getLogger("agentslo")


async def serve(config: Config, *, source: str = "no config file (the defaults)") -> None:
    """Run the service until SIGTERM or SIGINT, then shut down cleanly; `source` says where the
    config came from, for the start-up log.

    Refuses (ConfigError) to listen beyond loopback without API keys, unless
    `server.insecure_no_auth` says the exposure is meant.
    """
    problems = [problem for problem in (config.exposure_problem(), config.clickhouse_http_problem()) if problem]
    if problems:
        raise ConfigError(problems)
    secrets = resolve_secrets(config, os.environ, where=source)
    storage = await asyncio.to_thread(open_storage, config.storage)
    await AgentSloServer(config, storage, source=source, secrets=secrets).run()


class AgentSloServer:
    """The service's listeners and background work around one Storage, which it closes at the end."""

    def __init__(self, config: Config, storage: Storage, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 monotonic: Callable[[], float] = time.monotonic,
                 source: str = "no config file (the defaults)", secrets: Secrets | None = None) -> None:
        self.config = config
        self._source = source
        self.service = Service(config, storage, secrets=secrets, clock=clock, monotonic=monotonic)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self) -> None:
        """Serve until `stop()` or a signal; then shut down in order and close storage.

        Both ports are bound before anything starts or is logged: a port in use ends
        start-up with a ConfigError naming the setting to change.
        """
        config, service = self.config, self.service
        self._loop = asyncio.get_running_loop()
        host = config.server.host
        try:
            http_sockets, grpc_server, grpc_port = self._bind()
        except ConfigError:
            await asyncio.to_thread(service.ingest.mapping.close)
            await asyncio.to_thread(service.storage.close)
            raise
        if threading.current_thread() is threading.main_thread():
            _keep_signals_for_graceful_exit(service)
        http = bounded_server(create_app(service), limits=config.server.http_limits(),
                              metrics=HttpMetrics(service.metrics.registry))
        log.info("config: %s: %s", self._source, describe(config))
        log.info("storage: %s", service.storage.description)
        _log_access(config, service)
        schema = asyncio.create_task(service.prepare_schema())
        service.ingest.writer.start()
        service.election.start(ready=lambda: service.schema_ready)
        if config.server.evaluates:
            service.evaluator.start(ready=lambda: service.schema_ready)
            service.delivery.start(ready=lambda: service.evaluating)
        log.info("replica %s, role %s", config.server.replica, config.server.role)
        if grpc_server is not None:
            await grpc_server.start()
            log.info("OTLP/gRPC on %s:%d", host, grpc_port)
        log.info("OTLP/HTTP and API on http://%s:%d", host, http_sockets[0].getsockname()[1])
        serving = asyncio.create_task(http.serve(sockets=http_sockets))
        stop_asked = asyncio.create_task(service.stopping.wait())
        try:
            await asyncio.wait({serving, stop_asked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            log.info("shutting down")
            service.stopping.set()
            await self._close_listeners(http, serving, grpc_server)
            await service.evaluator.stop()
            await service.delivery.stop()
            await service.election.stop()
            await service.ingest.writer.close()
            await asyncio.to_thread(service.ingest.mapping.close)
            await schema
            await asyncio.to_thread(service.storage.close)
            log.info("stopped")
        serving.result()  # uvicorn's own failure, if it failed

    def _bind(self) -> tuple[list[socket.socket], grpc.aio.Server | None, int]:
        """The HTTP sockets, and the gRPC server on its port (none for an evaluator, which receives no
        spans); ConfigError if either cannot listen."""
        server = self.config.server
        http_sockets = _listen(server.host, server.http_port, serving="OTLP/HTTP and the API",
                               setting=("--http-port", "server.http_port"))
        if not server.ingests:
            return http_sockets, None, 0
        try:
            if server.grpc_port:
                # Tried here first: grpc prints lines of its own before it raises.
                for sock in _listen(server.host, server.grpc_port, serving="OTLP/gRPC",
                                    setting=("--grpc-port", "server.grpc_port")):
                    sock.close()
            try:
                grpc_server, grpc_port = create_grpc_server(
                    self.service.ingest, self.service.keys, host=server.host, port=server.grpc_port,
                    max_message_bytes=self.config.ingest.max_decompressed_bytes,
                    max_concurrent_calls=self.config.ingest.max_concurrent_grpc_calls,
                    read_timeout_s=server.read_timeout_s)
            except OSError:  # the port was taken since
                raise _cannot_listen("OTLP/gRPC", server.host, server.grpc_port, "grpc could not bind it",
                                     ("--grpc-port", "server.grpc_port")) from None
        except ConfigError:
            for sock in http_sockets:
                sock.close()
            raise
        return http_sockets, grpc_server, grpc_port

    def stop(self) -> None:
        """Ask the server to shut down; callable from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.service.stopping.set)

    async def _close_listeners(self, http: BoundedServer, serving: asyncio.Task[None],
                               grpc_server: grpc.aio.Server | None) -> None:
        """Stop both listeners at once; cut what is still open at the shutdown deadline."""
        timeout_s = self.config.server.shutdown_timeout_s
        http.should_exit = True
        # grpc's stop cancels the exports still running at its deadline.
        grpc_stopped = None if grpc_server is None else asyncio.create_task(grpc_server.stop(timeout_s))
        if not (await asyncio.wait({serving}, timeout=timeout_s))[0]:
            cut = http.cut_open_connections()
            log.warning("shutdown: cut %d HTTP request(s) still open after %g s", cut, timeout_s)
            await asyncio.wait({serving})
        if grpc_stopped is not None:
            await grpc_stopped


class ServerThread:
    """An AgentSloServer running in a thread of this process until `stop()`: `agentslo demo`'s own
    service, and the tests' (they read the very storage it writes: chDB opens a directory once a process)."""

    def __init__(self, server: AgentSloServer) -> None:
        self.server = server
        self.url = f"http://127.0.0.1:{server.config.server.http_port}"
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="agentslo")

    def _run(self) -> None:
        try:
            asyncio.run(self.server.run())
        except BaseException as exc:  # handed to start(), which the caller waits in
            self._failure = exc

    def start(self, timeout_s: float = 60) -> None:
        """Start it and wait until /readyz answers 200; RuntimeError if it stops or is not ready in time."""
        import httpx

        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if not self._thread.is_alive():
                raise RuntimeError(f"AgentSLO did not start: {self._failure}") from self._failure
            if time.monotonic() > deadline:
                raise RuntimeError(f"AgentSLO was not ready within {timeout_s:g} s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop it gracefully and wait for its thread."""
        self.server.stop()
        self._thread.join(timeout=60)


def _log_access(config: Config, service: Service) -> None:
    """Say who may come in: the keys by scope, or, in one warning, that anyone may."""
    if service.keys.enabled:
        counts = ", ".join(f"{scope.value} {count}" for scope, count in service.keys.scopes().items())
        log.info("API keys: %d (%s)", len(service.keys), counts)
        return
    asked = "" if config.server.on_loopback else " (server.insecure_no_auth)"
    log.warning("no API keys configured (auth.keys, auth.keys_file): anyone who reaches %s can write spans "
                "and call the API%s", config.server.host, asked)


def _keep_signals_for_graceful_exit(service: Service) -> None:
    """Handle SIGTERM/SIGINT ourselves, from start to exit.

    The HTTP server installs none of its own (agentslo.http_server.BoundedServer):
    uvicorn's would stop HTTP alone, then re-raise the signal to the default
    handler, which would kill the process during the shutdown above.
    """
    loop = asyncio.get_running_loop()

    def on_signal(signum: int, frame: object) -> None:
        loop.call_soon_threadsafe(service.stopping.set)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)


def _listen(host: str, port: int, *, serving: str, setting: tuple[str, str]) -> list[socket.socket]:
    """Sockets bound to host:port as asyncio's create_server binds them (one per address the host
    resolves to), or a ConfigError naming the flag and field to change."""
    try:
        addresses = dict.fromkeys(socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                     flags=socket.AI_PASSIVE))
    except socket.gaierror as exc:
        raise _cannot_listen(serving, host, port, exc.strerror, ("--host", "server.host")) from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        wrong = ("--host", "server.host") if exc.errno == errno.EADDRNOTAVAIL else setting
        raise _cannot_listen(serving, host, port, exc.strerror, wrong) from None
    return sockets


def _cannot_listen(serving: str, host: str, port: int, reason: str | None, setting: tuple[str, str]) -> ConfigError:
    flag, field = setting
    return ConfigError([f"cannot listen for {serving} on {host}:{port}: {reason}; change {flag} ({field})"])
