"""Fixtures shared by the whole suite.

chDB runs one data directory per process, so the suite uses one directory for
the session and isolates tests by database. The server backend is exercised
through a loopback ClickHouse HTTP endpoint that runs queries on that same chDB.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ground.storage import Storage, StorageSpec, open_storage
from tests.support.clickhouse_http import ClickHouseHttpServer

SERVER_USER = "agentslo"
SERVER_PASSWORD = "test-password"


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(scope="session")
def clickhouse_server(chdb_dir: Path) -> Iterator[ClickHouseHttpServer]:
    with ClickHouseHttpServer(str(chdb_dir), user=SERVER_USER, password=SERVER_PASSWORD) as server:
        yield server


def storage_spec(backend: str, database: str, server: ClickHouseHttpServer | None, chdb_dir: Path) -> StorageSpec:
    """A StorageSpec for `backend` ("embedded" or "server") on a database of its own."""
    if backend == "embedded":
        return StorageSpec(data_dir=chdb_dir, database=database)
    assert server is not None
    return StorageSpec(
        clickhouse_url=f"http://{SERVER_USER}@127.0.0.1:{server.port}",
        password_env="TEST_CLICKHOUSE_PASSWORD",
        database=database,
    )


SERVER_ENV = {"TEST_CLICKHOUSE_PASSWORD": SERVER_PASSWORD}
# A service in this process reads its secrets from the environment, as `agentslo serve` does.
os.environ.update(SERVER_ENV)


@pytest.fixture(params=["embedded", "server"])
def backend(request: pytest.FixtureRequest) -> str:
    """Runs a test once per storage backend."""
    return request.param


@pytest.fixture
def storage(backend: str, chdb_dir: Path, request: pytest.FixtureRequest) -> Iterator[Storage]:
    """A Storage on a fresh database, dropped afterwards."""
    database = f"test_{uuid.uuid4().hex[:12]}"
    server = request.getfixturevalue("clickhouse_server") if backend == "server" else None
    opened = open_storage(storage_spec(backend, database, server, chdb_dir), env=SERVER_ENV)
    yield opened
    opened.command(f"DROP DATABASE IF EXISTS {database}")
    opened.close()
