"""A service with the ClickHouse interface on, fed the agent scenario with the OpenTelemetry SDK and evaluated once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import clickhouse_connect
import httpx
import pytest

from agentslo.config import ApiKeySpec, AuthSpec, ClickHouseHttpSpec, Config, load_config
from dashboards import EXAMPLE_CONFIG
from ground.storage import open_storage
from tests.conftest import storage_spec
from tests.support.agent_scenario import send
from tests.support.clock import Clock
from tests.support.service import ServiceThread

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
START = NOW - timedelta(hours=1)
PATH = "/clickhouse"
READ_KEY = "read-key-for-grafana-0001"
INGEST_KEY = "ingest-key-for-agents-0001"
ADMIN_KEY = "admin-key-for-operators-01"
KEYS_ENV = {"CH_READ_KEY": READ_KEY, "CH_INGEST_KEY": INGEST_KEY, "CH_ADMIN_KEY": ADMIN_KEY}


@dataclass(frozen=True)
class Interface:
    """A running service and the URL of its ClickHouse interface."""

    service: ServiceThread

    @property
    def url(self) -> str:
        return self.service.http_url + PATH

    @property
    def database(self) -> str:
        return self.service.config.storage.database

    @property
    def port(self) -> int:
        return self.service.config.server.http_port

    def post(self, sql: str | bytes = b"", **params: str) -> httpx.Response:
        return httpx.post(self.url, params=params, content=sql, timeout=60, headers=self.service.headers)

    def client(self, **options: object) -> clickhouse_connect.driver.Client:
        """clickhouse-connect over HTTP, as a Grafana-less user would point it at the service."""
        return clickhouse_connect.get_client(host="127.0.0.1", port=self.port, proxy_path=PATH,
                                             database=self.database, **options)


def start(config: Config, chdb_dir: Path, *, keys: bool = False) -> Iterator[ServiceThread]:
    """A service on `config` and a fresh database of the shared embedded store; with `keys`, the three keys above."""
    spec = storage_spec("embedded", f"chhttp_{uuid.uuid4().hex[:10]}", None, chdb_dir)
    update: dict[str, object] = {"storage": spec}
    if keys:
        update["auth"] = AuthSpec(keys=(ApiKeySpec(key_env="CH_READ_KEY", tenant="ops", scope="read"),
                                        ApiKeySpec(key_env="CH_INGEST_KEY", tenant="acme", scope="ingest"),
                                        ApiKeySpec(key_env="CH_ADMIN_KEY", tenant="ops", scope="admin")))
    config = config.model_copy(update=update)
    with pytest.MonkeyPatch.context() as env:
        for name, value in KEYS_ENV.items():
            env.setenv(name, value)
        running = ServiceThread(config, open_storage(spec), clock=Clock(NOW), api_key=ADMIN_KEY if keys else None)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def interface_config(**options: object) -> Config:
    """The example config (its SLOs give the SLO panels and alert rules rows) with the interface on."""
    config = load_config(EXAMPLE_CONFIG, env={})
    return config.model_copy(update={"clickhouse_http": ClickHouseHttpSpec(enabled=True, **options)})


@pytest.fixture(scope="module")
def interface(chdb_dir: Path) -> Iterator[Interface]:
    """The scenario's spans, sent with the OpenTelemetry SDK, evaluated as of NOW; the interface on, without keys."""
    for running in start(interface_config(max_execution_time_s=2, max_result_rows=100_000,
                                          max_memory_bytes=512 * 1024 * 1024), chdb_dir):
        send(running.http_url, START)
        evaluated = httpx.post(running.http_url + "/api/v1/evaluate", timeout=120)
        assert evaluated.status_code == 200, evaluated.text
        yield Interface(running)
