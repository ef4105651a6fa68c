"""`agentslo serve`: one process running the HTTP app, its storage and background work.

Shutdown order on SIGTERM or Ctrl-C: stop accepting, let in-flight requests
finish, stop background work, close storage; then exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal

import uvicorn

from agentslo.config import Config
from agentslo.http_api import create_app
from agentslo.service import Service
from agentslo.storage import open_storage

__all__ = ["serve"]

log = logging.getLogger("agentslo")


async def serve(config: Config) -> None:
    """Run the service until SIGTERM or SIGINT, then shut down cleanly."""
    storage = await asyncio.to_thread(open_storage, config.storage)
    service = Service(config, storage)
    _keep_signals_for_graceful_exit(service)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(service),
            host=config.server.host,
            port=config.server.http_port,
            lifespan="off",
            access_log=False,
            log_config=None,
        )
    )
    log.info("storage: %s", storage.description)
    log.info("OTLP/HTTP and API on http://%s:%d", config.server.host, config.server.http_port)
    schema = asyncio.create_task(service.prepare_schema())
    try:
        await server.serve()
    finally:
        log.info("shutting down")
        service.stopping.set()
        await schema
        await asyncio.to_thread(storage.close)
        log.info("stopped")


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
