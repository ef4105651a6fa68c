"""A service fed the agent scenario over OTLP (tests/support/agent_scenario.py), once per module and backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from agentslo.config import load_config
from ground.storage import open_storage
from tests.conftest import SERVER_ENV, storage_spec
from tests.support.agent_scenario import send
from tests.support.clock import Clock
from tests.support.service import ServiceThread

CONFIG = """
slos:
  - name: support-tasks
    description: Support tasks finish without error
    objective: 99
    window: 7d
    sli:
      kind: availability
      over: tasks
      filter: [{column: ServiceName, op: eq, value: support-desk}]
  - name: model-calls
    objective: 90
    window: 1d
    sli: {kind: availability, over: llm_calls}
budgets:
  - {name: llm-daily, period: day, limit_usd: 0.05}
  - {name: tenant-daily, period: day, limit_usd: 0.01, per: tenant}
"""

# The service's clock: now, on a whole minute; the scenario's tasks start an hour before it.
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
START = NOW - timedelta(hours=1)


@dataclass(frozen=True)
class Fed:
    """A running service that holds the scenario, evaluated once; `trace_ids` by task index."""

    service: ServiceThread
    trace_ids: dict[int, str]

    def get(self, path: str, **params: object) -> httpx.Response:
        return httpx.get(self.service.http_url + path, params=params, timeout=60)


def feed(backend: str, directory: Path, chdb_dir: Path, request: pytest.FixtureRequest) -> Iterator[Fed]:
    (directory / "agentslo.yaml").write_text(CONFIG)
    server = request.getfixturevalue("clickhouse_server") if backend == "server" else None
    spec = storage_spec(backend, f"console_{uuid.uuid4().hex[:10]}", server, chdb_dir)
    config = load_config(directory / "agentslo.yaml", env={}).model_copy(update={"storage": spec})
    running = ServiceThread(config, open_storage(spec, env=SERVER_ENV), clock=Clock(NOW)).start()
    try:
        trace_ids = send(running.http_url, START)
        # Two evaluations as of earlier times (backfills), then a live one: three rows of slo_status each.
        for at in (START + timedelta(minutes=30), START + timedelta(minutes=45), None):
            params = {} if at is None else {"at": at.isoformat()}
            evaluated = httpx.post(running.http_url + "/api/v1/evaluate", params=params, timeout=120)
            assert evaluated.status_code == 200, evaluated.text
        yield Fed(running, trace_ids)
    finally:
        running.stop()
