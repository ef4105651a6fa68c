"""Our own Prometheus metrics, in one registry per service instance.

A registry per instance (not the global default) keeps tests that start
several services in one process apart.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Info, generate_latest
from prometheus_client import PlatformCollector, ProcessCollector

from agentslo import __version__
from ground.auth import REFUSAL_REASONS

__all__ = ["STATEMENT_OUTCOMES", "Metrics"]

STATEMENT_OUTCOMES = ("answered", "refused", "busy", "failed")


class Metrics:
    """The metrics AgentSLO exports at /metrics."""

    def __init__(self, *, storage_backend: str, replica: str, role: str) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes and friends
        PlatformCollector(registry=self.registry)
        Info("agentslo_build", "AgentSLO version and storage backend.", registry=self.registry).info(
            {"version": __version__, "storage": storage_backend}
        )
        Info("agentslo_replica", "This replica's name and role (all, ingest or evaluator).",
             registry=self.registry).info({"replica": replica, "role": role})
        self.storage_ready = Gauge(
            "agentslo_storage_ready",
            "1 when storage answered the last readiness check and migrations are done, else 0.",
            registry=self.registry,
        )
        self.schema_version = Gauge(
            "agentslo_schema_version", "Highest schema migration applied.", registry=self.registry
        )
        self.auth_failures = Counter(
            "agentslo_auth_failures", "Requests refused for their API key: missing, malformed or unknown "
            "(401 / UNAUTHENTICATED), or of another scope (403 / PERMISSION_DENIED).", ["reason"],
            registry=self.registry,
        )
        for reason in REFUSAL_REASONS:
            self.auth_failures.labels(reason)
        self.clickhouse_http_statements = Counter(
            "agentslo_clickhouse_http_statements", "Statements sent to the ClickHouse interface by a client it "
            "admits, by outcome: answered, refused (not a read of the store, or a setting it does not take), busy "
            "(max_concurrent_queries reached) or failed (the engine's error, a bound included).", ["outcome"],
            registry=self.registry,
        )
        for outcome in STATEMENT_OUTCOMES:
            self.clickhouse_http_statements.labels(outcome)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)
