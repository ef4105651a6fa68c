"""The HTTP app on the OTLP/HTTP port: health, readiness, metrics, and the API.

Served with an OpenAPI description at /openapi.json (browsable at /docs, from files the
service serves itself), and the console's pages at /. Which routes need which key:
agentslo.access.
"""

from __future__ import annotations

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from agentslo import __version__
from agentslo.access import documents_keys, requires
from agentslo.service import Service
from agentslo.alerts_api import alerts_router
from agentslo.clickhouse_http import Limits, clickhouse_http_router
from agentslo.console import ConsoleReads, console_api_router, console_pages_router, serve_assets
from agentslo.slo_api import slo_router
from collector import otlp_http_router
from ground.auth import Scope

__all__ = ["create_app"]


class Health(BaseModel):
    """Answer of /healthz and /readyz."""

    status: str
    detail: str = ""


class Readiness(Health):
    """Answer of /readyz: also this replica's name and role, and the replica holding the evaluator
    lease as this one last read it ('' when none does)."""

    replica: str
    role: str
    evaluator: str


def create_app(service: Service) -> FastAPI:
    """The FastAPI app serving `service`."""
    app = FastAPI(
        title="AgentSLO",
        version=__version__,
        description="SLOs, error budgets and spend for LLM agents, from their OpenTelemetry spans.",
        docs_url=None, redoc_url=None,  # their defaults load Swagger UI and ReDoc from a CDN: serve_assets
    )

    @app.get("/healthz", response_model=Health, tags=["operations"])
    async def healthz() -> Health:
        """Alive: the process serves requests. Says nothing about storage."""
        return Health(status="ok")

    @app.get(
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "storage unreachable or migrations pending"}},
        tags=["operations"],
    )
    async def readyz() -> Response:
        """Ready: storage answers and the schema is migrated, so writes will be stored."""
        ready, detail = await service.readiness()
        body = Readiness(status="ready" if ready else "not ready", detail=detail, **service.replica_status())
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    @app.get("/metrics", response_class=Response, tags=["operations"],
             dependencies=[requires(service.keys, Scope.READ)])
    async def metrics() -> Response:
        """Our own metrics in the Prometheus text format."""
        return Response(service.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    if service.config.server.ingests:
        app.include_router(otlp_http_router(service.ingest, service.body_limits, service.keys,
                                            max_concurrent_bodies=service.config.ingest.max_concurrent_bodies),
                           dependencies=[documents_keys()])
    if (interface := service.config.clickhouse_http).enabled:
        limits = Limits(interface.max_execution_time_s, interface.max_result_rows, interface.max_result_bytes,
                        interface.max_memory_bytes)
        app.include_router(clickhouse_http_router(
            service.storage, service.keys, service.metrics.clickhouse_http_statements, path=interface.path, limits=limits, remote=interface.remote,
            max_query_bytes=interface.max_query_bytes, max_concurrent_queries=interface.max_concurrent_queries))
    app.include_router(slo_router(service.evaluator, service.keys))
    app.include_router(alerts_router(service.alert_store, service.keys))
    reads = ConsoleReads(service.storage, service.evaluator, service.clock)
    app.include_router(console_api_router(reads, service.keys))
    app.include_router(console_pages_router(reads, service.alert_store, service.config, service.keys))
    serve_assets(app)
    return app
