"""The console: read-only web pages at / on the API port, and the JSON API behind them.

Pages (server-rendered with Jinja2): SLOs, one SLO, spend, tasks, a trace's waterfall, alerts.
JSON (under /api/v1, in the OpenAPI description): tasks (keyset-paged), a trace, an SLO's
history, spend. Every asset, /docs's Swagger UI included, is served by the service itself.

    reads = ConsoleReads(service.storage, service.evaluator, service.clock)
    app.include_router(console_api_router(reads, service.keys))
    app.include_router(console_pages_router(reads, service.alert_store, service.config, service.keys))
    serve_assets(app)
"""

from agentslo.console._api import ConsoleReads, console_api_router
from agentslo.console._assets import serve_assets
from agentslo.console._pages import console_pages_router

__all__ = ["ConsoleReads", "console_api_router", "console_pages_router", "serve_assets"]
