"""`agentslo serve`: one process running the HTTP app, the gRPC receiver, storage and background work.

Shutdown order on SIGTERM or Ctrl-C: stop accepting HTTP and let in-flight
requests finish, let in-flight gRPC exports finish, let a running evaluation
finish, stop the delivery loop (webhook sends in flight get a few seconds,
then are cut and stay in the outbox), store what ingest still holds, close
storage; then exit 0. Nothing writes to storage after it is closed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import uvicorn

from agentslo.config import Config
from agentslo.http_api import create_app
from agentslo.service import Service
from collector import create_grpc_server
from ground.storage import Storage, open_storage

__all__ = ["AgentSloServer", "serve"]

log = logging.getLogger("agentslo")

# How long in-flight gRPC exports may take to finish at shutdown.
_GRPC_GRACE_S = 30


async def serve(config: Config) -> None:
    """Run the service until SIGTERM or SIGINT, then shut down cleanly."""
    storage = await asyncio.to_thread(open_storage, config.storage)
    await AgentSloServer(config, storage).run()


class AgentSloServer:
    """The service's listeners and background work around one Storage, which it closes at the end."""

    def __init__(self, config: Config, storage: Storage, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.config = config
        self.service = Service(config, storage, clock=clock)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self) -> None:
        """Serve until `stop()` or a signal; then shut down in order and close storage."""
        config, service = self.config, self.service
        self._loop = asyncio.get_running_loop()
        if threading.current_thread() is threading.main_thread():
            _keep_signals_for_graceful_exit(service)
        http = uvicorn.Server(
            uvicorn.Config(
                create_app(service),
                host=config.server.host,
                port=config.server.http_port,
                lifespan="off",
                access_log=False,
                log_config=None,
            )
        )
        grpc_server, grpc_port = create_grpc_server(
            service.ingest,
            host=config.server.host,
            port=config.server.grpc_port,
            max_message_bytes=config.ingest.max_decompressed_bytes,
        )
        log.info("storage: %s", service.storage.description)
        schema = asyncio.create_task(service.prepare_schema())
        service.ingest.writer.start()
        service.evaluator.start(ready=lambda: service.schema_ready)
        service.delivery.start(ready=lambda: service.schema_ready)
        await grpc_server.start()
        log.info("OTLP/gRPC on %s:%d", config.server.host, grpc_port)
        log.info("OTLP/HTTP and API on http://%s:%d", config.server.host, config.server.http_port)
        watcher = asyncio.create_task(self._exit_when_stopping(http))
        try:
            await http.serve()
        finally:
            log.info("shutting down")
            service.stopping.set()
            await watcher
            await grpc_server.stop(_GRPC_GRACE_S)
            await service.evaluator.stop()
            await service.delivery.stop()
            await service.ingest.writer.close()
            await asyncio.to_thread(service.ingest.mapping.close)
            await schema
            await asyncio.to_thread(service.storage.close)
            log.info("stopped")

    def stop(self) -> None:
        """Ask the server to shut down; callable from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.service.stopping.set)

    async def _exit_when_stopping(self, http: uvicorn.Server) -> None:
        await self.service.stopping.wait()
        http.should_exit = True


def _keep_signals_for_graceful_exit(service: Service) -> None:
    """Handle SIGTERM/SIGINT ourselves outside uvicorn's serving window.

    uvicorn handles both while it serves, then re-raises the signal it caught
    to whatever handler was there before it started; with the default handler
    that would kill the process during the shutdown above, and exit non-zero.
    """
    loop = asyncio.get_running_loop()

    def on_signal(signum: int, frame: object) -> None:
        loop.call_soon_threadsafe(service.stopping.set)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
