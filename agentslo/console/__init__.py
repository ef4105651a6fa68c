"""The console's reads: the JSON API behind its views (tasks, a trace, an SLO's history, spend).

    reads = ConsoleReads(service.storage, service.evaluator, service.clock)
    app.include_router(console_api_router(reads, service.keys))
"""

from agentslo.console._api import ConsoleReads, console_api_router

__all__ = ["ConsoleReads", "console_api_router"]
