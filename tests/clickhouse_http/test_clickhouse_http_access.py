"""Who may use the ClickHouse interface: a read key when keys are configured, loopback clients unless
`remote`, and only over the embedded store."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path

import clickhouse_connect
import httpx
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from agentslo.config import Config, load_config
from agentslo.http_api import create_app
from ground.errors import ConfigError
from tests.clickhouse_http.conftest import ADMIN_KEY, INGEST_KEY, PATH, READ_KEY, interface_config, start
from tests.support.service import ServiceThread


@pytest.fixture(scope="module")
def keyed(chdb_dir: Path) -> Iterator[ServiceThread]:
    yield from start(interface_config(), chdb_dir, keys=True)


def post(service: ServiceThread, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(service.http_url + PATH, params={"query": "SELECT 1"}, headers=headers)


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"grafana:{key}".encode()).decode()


@pytest.mark.parametrize("headers", [
    pytest.param({"authorization": basic(READ_KEY)}, id="the datasource's password, as HTTP Basic"),
    pytest.param({"x-clickhouse-user": "grafana", "x-clickhouse-key": READ_KEY}, id="X-ClickHouse-Key"),
    pytest.param({"authorization": f"Bearer {READ_KEY}"}, id="a Bearer token"),
    pytest.param({"x-api-key": READ_KEY}, id="x-api-key"),
    pytest.param({"authorization": basic(ADMIN_KEY)}, id="an admin key reads too"),
])
def test_a_read_key_opens_the_interface(keyed: ServiceThread, headers: dict[str, str]) -> None:
    answer = post(keyed, headers)
    assert (answer.status_code, answer.text) == (200, "1\n")


@pytest.mark.parametrize(("headers", "status", "code", "message"), [
    pytest.param({}, 401, 516, "no API key: send Authorization: Bearer <key> or x-api-key: <key>: send an API key "
                 "of scope read as the password", id="no key"),
    pytest.param({"authorization": basic("not-a-key-of-this-service")}, 401, 516, "unknown API key", id="a wrong key"),
    pytest.param({"authorization": basic(INGEST_KEY)}, 403, 497, "this API key's scope is ingest; this needs a key "
                 "of scope read", id="an agent's ingest key reads nothing"),
])
def test_without_a_read_key_the_interface_answers_as_clickhouse_refuses(keyed: ServiceThread, headers: dict[str, str],
                                                                       status: int, code: int, message: str) -> None:
    answer = post(keyed, headers)
    assert (answer.status_code, answer.headers["x-clickhouse-exception-code"]) == (status, str(code))
    assert answer.text.startswith(f"Code: {code}. DB::Exception: {message}")


def test_clickhouse_connect_sends_the_key_as_its_password(keyed: ServiceThread) -> None:
    port = keyed.config.server.http_port
    database = keyed.config.storage.database
    client = clickhouse_connect.get_client(host="127.0.0.1", port=port, proxy_path=PATH, database=database,
                                           username="grafana", password=READ_KEY)
    assert client.query("SELECT 1").result_rows == [(1,)]
    with pytest.raises(DatabaseError, match="Code: 516"):
        clickhouse_connect.get_client(host="127.0.0.1", port=port, proxy_path=PATH, database=database,
                                      username="grafana", password="wrong-key-0000000000")


def test_ping_needs_no_key(keyed: ServiceThread) -> None:
    assert httpx.get(keyed.http_url + PATH + "/ping").text == "Ok.\n"


def request_from(service: ServiceThread, client: tuple[str, int], *, remote: bool) -> httpx.Response:
    """A request to the running service's app (built again with `remote` as given), as if from `client`'s address."""
    inner = service.server.service
    original = inner.config
    inner.config = original.model_copy(update={
        "clickhouse_http": original.clickhouse_http.model_copy(update={"remote": remote})})
    try:
        app = create_app(inner)
    finally:
        inner.config = original

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=client),
                                     base_url="http://agentslo") as http:
            return await http.post(PATH, params={"query": "SELECT 1"}, headers={"x-api-key": READ_KEY})

    return asyncio.run(send())


def test_only_loopback_clients_are_answered_unless_remote_is_set(keyed: ServiceThread) -> None:
    refused = request_from(keyed, ("192.0.2.7", 50000), remote=False)
    assert (refused.status_code, refused.text) == (403, "Code: 497. DB::Exception: this ClickHouse interface answers "
                                                        "loopback clients only, not 192.0.2.7: set "
                                                        "clickhouse_http.remote to serve others. (ACCESS_DENIED)\n")
    assert request_from(keyed, ("127.0.0.1", 50000), remote=False).text == "1\n"
    assert request_from(keyed, ("192.0.2.7", 50000), remote=True).text == "1\n"


def test_it_is_off_by_default(chdb_dir: Path) -> None:
    assert Config().clickhouse_http.enabled is False
    for running in start(load_config(None, env={}), chdb_dir):
        assert httpx.post(running.http_url + PATH, params={"query": "SELECT 1"}).status_code == 404


@pytest.mark.parametrize(("yaml", "problem"), [
    pytest.param("clickhouse_http: {enabled: true}\nstorage: {clickhouse_url: 'http://ch:8123/agentslo'}\n",
                 "agentslo.yaml: clickhouse_http.enabled: the ClickHouse interface serves the embedded store only; "
                 "with storage.clickhouse_url, point Grafana's ClickHouse datasource at that server instead",
                 id="on a ClickHouse server, Grafana reads the server"),
    pytest.param("clickhouse_http: {path: /api/clickhouse}\n",
                 "agentslo.yaml: clickhouse_http.path: /api/clickhouse is taken by the API; choose "
                 "another, such as /clickhouse", id="a path the API answers under"),
    pytest.param("clickhouse_http: {path: clickhouse}\n",
                 "agentslo.yaml: clickhouse_http.path: must be a path such as /clickhouse: '/' and "
                 "letters, digits, '_' or '-'", id="a path without its slash"),
])
def test_a_config_the_interface_cannot_serve_is_refused(tmp_path: Path, yaml: str, problem: str) -> None:
    (tmp_path / "agentslo.yaml").write_text(yaml)
    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path / "agentslo.yaml", env={})
    assert refused.value.problems == [problem]
