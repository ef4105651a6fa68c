"""The running service: its parts and their start-up and shutdown order.

`agentslo serve` builds one `Service`; the HTTP app, and later the gRPC
receiver and the scheduler, read from it. Storage calls block, so they run in
worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from agentslo.config import Config, Secrets, resolve_secrets
from agentslo.election import Election
from agentslo.evaluation import Evaluator
from agentslo.lease import LeaseTiming
from agentslo.metrics import Metrics
from alerts import Alerting, AlertStore, DashboardLinks, Delivery
from collector import (
    BatchWriter,
    BodyLimits,
    Ingest,
    IngestMetrics,
    MappingPolicy,
    MappingPool,
    PriceTable,
    TenantRateLimiter,
    spans_insert_body,
    stored_span_keys,
)
from dashboards import SLO_DASHBOARD_UID, SPEND_DASHBOARD_UID
from ground.auth import KeyRing
from ground.errors import StorageError, StorageUnavailable
from ground.storage import SCHEMA, TRACES, Storage, apply_retention, migrate
from slo import slo_from_spec, spend_budget_from_spec

__all__ = ["Service"]

log = logging.getLogger("agentslo")


class Service:
    """Config, storage, ingest and metrics of one running AgentSLO, and whether it is ready.

    `secrets` are the config's, read from the environment (by default, os.environ's, resolved here:
    ConfigError when a variable is missing). `clock` is the time of evaluations and alerts,
    `monotonic` the clock of ingest rate limits.

    The replica's role (`server.role`) says what runs: roles `all` and `ingest` receive spans,
    roles `all` and `evaluator` compete for the evaluator lease (`election`), and the one
    holding it evaluates and delivers notifications.
    """

    def __init__(self, config: Config, storage: Storage, *, secrets: Secrets | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        secrets = secrets or resolve_secrets(config, os.environ)
        self.config = config
        self.storage = storage
        self.clock = clock
        server = config.server
        self.metrics = Metrics(storage_backend="server" if config.storage.clickhouse_url else "embedded",
                               replica=server.replica, role=server.role)
        failures = self.metrics.auth_failures
        self.keys = KeyRing(secrets.keys,
                            on_refused=lambda reason: failures.labels(reason).inc())
        self.schema_ready = False
        self._unready_because: str | None = None
        self.stopping = asyncio.Event()
        self.prices = PriceTable.default().with_overrides(config.pricing.models)
        self.body_limits = BodyLimits(
            max_body_bytes=config.ingest.max_body_bytes,
            max_decompressed_bytes=config.ingest.max_decompressed_bytes,
        )
        mapping = MappingPool(
            MappingPolicy(
                dimensions=config.attributes.aliases(),
                capture_content=config.ingest.capture_content,
                max_attribute_length=config.ingest.max_attribute_length,
            ),
            self.prices,
            self.body_limits,
            workers=config.ingest.resolved_workers(),
        )
        ingest_metrics = IngestMetrics(self.metrics.registry)
        writer = BatchWriter(
            self._insert_spans,
            spans_insert_body,
            max_batch_rows=config.ingest.max_batch_spans,
            max_pending_rows=config.ingest.max_pending_spans,
            on_insert=ingest_metrics.observe_insert,
        )
        rate_limit = config.ingest.rate_limit
        self.ingest = Ingest(mapping, writer, ingest_metrics, rate_limiter=None if rate_limit is None
                             else TenantRateLimiter(rate_limit.limit(), clock=monotonic))
        # An embedded store belongs to one process (its data directory is locked): whoever held the
        # lease on it before is gone, so this replica claims it at once.
        self.election = Election(storage, replica=server.replica,
                                 timing=LeaseTiming.for_interval(config.evaluation.interval_s),
                                 registry=self.metrics.registry, candidate=server.evaluates,
                                 exclusive=not config.storage.clickhouse_url, on_change=self._lease_changed)
        alerts = config.alerts
        self.alert_store = AlertStore(storage)
        receivers = secrets.receivers
        links = (None if alerts.grafana_url is None
                 else DashboardLinks(alerts.grafana_url, SLO_DASHBOARD_UID, SPEND_DASHBOARD_UID))
        alerting = Alerting(self.alert_store, receivers, policies=alerts.policies(),
                            default_policy=alerts.default_policy(), external_url=alerts.external_url,
                            dashboard_links=links)
        self.delivery = Delivery(self.alert_store, receivers, registry=self.metrics.registry,
                                 retry=alerts.retry_policy(), clock=clock)
        self.evaluator = Evaluator(
            storage, tuple(slo_from_spec(spec) for spec in config.slos), config.evaluation, self.metrics.registry,
            budgets=tuple(spend_budget_from_spec(spec) for spec in config.budgets), alerting=alerting,
            queued=self.delivery.wake, clock=clock, retention=timedelta(days=config.retention.traces_days),
            lease=self.election,
        )

    @property
    def evaluating(self) -> bool:
        """Whether this replica evaluates and delivers now: migrations done, evaluator lease held."""
        return self.schema_ready and self.election.held

    def _lease_changed(self, held: bool) -> None:
        """This replica came to hold the lease (run a cycle now: the previous holder's schedule is gone,
        and deliver what it left queued) or stopped holding it (show the holder's results, not ours)."""
        if held and self.schema_ready:
            self.evaluator.wake()
            self.delivery.wake()
        elif not held:
            self.evaluator.forget()

    def replica_status(self) -> dict[str, str]:
        """This replica's name and role, and the replica evaluating ('' when none does, as last read)."""
        return {"replica": self.election.replica, "role": self.config.server.role,
                "evaluator": self.election.holder}

    def _insert_spans(self, body: bytes, dedup_token: str) -> None:
        if not self.schema_ready:
            raise StorageUnavailable("schema migrations are not done yet")
        self.storage.insert_arrow_stream(TRACES, body, dedup_token=dedup_token)

    async def prepare_schema(self) -> None:
        """Run migrations, apply retention and recall the spans stored last, retrying while storage
        is unavailable. Writes are refused until this is done.

        The backoff sleeps on the shutdown event, so a SIGTERM during an outage
        ends the wait at once.
        """
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(StorageUnavailable),
            wait=wait_exponential_jitter(multiplier=0.5, max=30),
            sleep=self._sleep_unless_stopping,
            before_sleep=lambda state: log.warning(
                "storage unavailable, retrying migrations: %s", state.outcome.exception()
            ),
        )
        async for attempt in retrying:
            with attempt:
                if self.stopping.is_set():
                    return
                applied = await asyncio.to_thread(migrate, self.storage)
                await asyncio.to_thread(
                    apply_retention, self.storage, traces_days=self.config.retention.traces_days
                )
                writer = self.ingest.writer
                stored = (await asyncio.to_thread(stored_span_keys, self.storage, limit=writer.dedup_window)
                          if self.config.server.ingests else [])
                await asyncio.to_thread(self.election.round)
        if applied:
            log.info("schema migrated to version %d", applied[-1])
        # A process killed after an insert and before its answer left an exporter to send those spans
        # again: remembered as stored, they are dropped as the killed process would have dropped them.
        writer.remember(stored)
        if stored:
            log.info("remembering the %d spans stored last, to drop them if sent again", len(stored))
        self.metrics.schema_version.set(max(m.version for m in SCHEMA))
        self.schema_ready = True

    async def readiness(self) -> tuple[bool, str]:
        """Whether the service can take writes: storage answers and migrations are done."""
        if not self.schema_ready:
            self.metrics.storage_ready.set(0)
            return False, "migrations not done yet"
        try:
            await asyncio.to_thread(self.storage.ping)
        except StorageError as exc:
            self.metrics.storage_ready.set(0)
            # The driver's words name hosts, ports and settings: for the log, not the answer.
            # Logged when they change, not at every probe.
            if str(exc) != self._unready_because:
                log.warning("not ready: %s", exc)
                self._unready_because = str(exc)
            return False, "storage unavailable"
        self._unready_because = None
        self.metrics.storage_ready.set(1)
        return True, "ready"

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
        except TimeoutError:
            return
