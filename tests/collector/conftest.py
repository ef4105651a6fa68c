"""Fixtures for ingest tests: a real server on loopback and a reader of its storage."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentslo.config import Config, IngestSpec, ServerSpec
from ground.storage import Storage, open_storage
from tests.conftest import SERVER_ENV, storage_spec
from tests.support.service import ServiceThread

StartService = Callable[..., ServiceThread]


@pytest.fixture
def start_service(backend: str, chdb_dir: Path, request: pytest.FixtureRequest) -> Iterator[StartService]:
    """Starts servers on a fresh database of `backend`; stops them after the test."""
    started: list[ServiceThread] = []
    server = request.getfixturevalue("clickhouse_server") if backend == "server" else None

    def start(database: str | None = None, *, server_spec: ServerSpec = ServerSpec(),
              **ingest: object) -> ServiceThread:
        spec = storage_spec(backend, database or f"ingest_{uuid.uuid4().hex[:10]}", server, chdb_dir)
        config = Config(server=server_spec, storage=spec, ingest=IngestSpec(**ingest))
        service = ServiceThread(config, open_storage(spec, env=SERVER_ENV)).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def reader(backend: str, chdb_dir: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[ServiceThread], Storage]]:
    """Opens a Storage on the database a service writes, for assertions."""
    opened: list[Storage] = []
    server = request.getfixturevalue("clickhouse_server") if backend == "server" else None

    def open_for(service: ServiceThread) -> Storage:
        storage = open_storage(storage_spec(backend, service.config.storage.database, server, chdb_dir),
                               env=SERVER_ENV)
        opened.append(storage)
        return storage

    yield open_for
    for storage in opened:
        storage.close()
