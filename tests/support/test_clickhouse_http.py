"""ClickHouseHttpServer, exercised through the real clickhouse-connect client."""

from __future__ import annotations

import base64
import gzip
import json
import sys
import threading
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from email.message import Message
from pathlib import Path
from typing import Any

import clickhouse_connect
import lz4.frame
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from tests.support.clickhouse_http import ClickHouseHttpServer

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

USER = "agentslo"
PASSWORD = "s3cr3t"
COLUMNS = ["id", "name", "kind", "note", "tags", "at", "score", "amount"]

Connect = Callable[..., Client]


@pytest.fixture
def server(chdb_dir: Path) -> Iterator[ClickHouseHttpServer]:
    """A server of the test's own, free to stop or fail. It runs on the
    suite's session-wide chDB directory (conftest's chdb_dir): chDB opens one
    data path per process."""
    with ClickHouseHttpServer(str(chdb_dir), user=USER, password=PASSWORD) as srv:
        yield srv


@pytest.fixture
def connect(server: ClickHouseHttpServer) -> Iterator[Connect]:
    """Make clickhouse-connect clients of the server, with its default
    settings unless overridden; they are closed after the test."""
    clients: list[Client] = []

    def make(**options: Any) -> Client:
        credentials = {"host": server.host, "port": server.port, "username": USER, "password": PASSWORD}
        client = clickhouse_connect.get_client(**{**credentials, **options})
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def database(connect: Connect) -> Iterator[str]:
    """A fresh database holding an ``events`` table, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = connect()
    admin.command(f"CREATE DATABASE {name}")
    admin.command(
        f"CREATE TABLE {name}.events (id UInt32, name String, kind LowCardinality(String), note Nullable(String),"
        " tags Array(String), at DateTime64(3, 'UTC'), score Float64, amount Decimal(10, 2))"
        " ENGINE = MergeTree ORDER BY id"
    )
    yield name
    admin.command(f"DROP DATABASE {name}")


def http(server: ClickHouseHttpServer, path: str, *, data: bytes | None = None, password: str = PASSWORD) -> tuple[int, Message, bytes]:
    """A plain HTTP request to the server: (status, headers, body)."""
    request = urllib.request.Request(f"http://{server.host}:{server.port}{path}", data=data)
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{USER}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_client_connects_and_reads_server_info(server: ClickHouseHttpServer, connect: Connect) -> None:
    client = connect()
    assert client.server_version == server.version
    assert client.server_tz.tzname(None) == "UTC"
    assert client.command("SELECT 1") == 1
    assert client.command("SELECT 'a', 'b'") == ["a", "b"]
    assert client.ping()
    assert server.url == f"http://{USER}:{PASSWORD}@127.0.0.1:{server.port}"


def test_inserts_and_queries_round_trip(connect: Connect, database: str) -> None:
    client = connect()
    table = f"{database}.events"
    raw_rows = [
        {"id": 1, "name": "it's \\ raw", "kind": "llm", "tags": ["a"], "at": "2024-05-01 10:00:00.123", "amount": "1.25"},
        {"id": 2, "name": "ünïcødé ✓", "kind": "tool", "note": "n", "at": "2024-05-01 10:00:01", "score": -2.0},
    ]
    client.raw_insert(
        table,
        COLUMNS,
        insert_block="".join(json.dumps(row) + "\n" for row in raw_rows).encode(),
        fmt="JSONEachRow",
    )
    at = datetime(2024, 5, 2, 8, 30, 15, 250000)
    name = 'quote \' and "double" \\ backslash'
    client.insert(table, [[3, name, "llm", None, ["x", "y'z"], at, 1e300, Decimal("12345678.99")]], column_names=COLUMNS)
    # With the default compress settings, Native insert blocks travel as LZ4 frames.
    assert client.write_compression == "lz4"

    result = client.query(f"SELECT * FROM {table} ORDER BY id")
    assert result.column_names == tuple(COLUMNS)
    rows = result.result_rows
    assert [row[:5] for row in rows] == [
        (1, "it's \\ raw", "llm", None, ["a"]),
        (2, "ünïcødé ✓", "tool", "n", []),
        (3, name, "llm", None, ["x", "y'z"]),
    ]
    assert [row[5].replace(tzinfo=None) for row in rows] == [
        datetime(2024, 5, 1, 10, 0, 0, 123000),
        datetime(2024, 5, 1, 10, 0, 1),
        at,
    ]
    assert [row[6:] for row in rows] == [(0.0, Decimal("1.25")), (-2.0, Decimal(0)), (1e300, Decimal("12345678.99"))]
    assert client.command(f"SELECT count() FROM {table} WHERE id > {{min:UInt32}}", parameters={"min": 1}) == 2


def test_inserts_many_blocks(connect: Connect, database: str) -> None:
    client = connect()
    rows = [[i, f"name {i}", "k", None, [str(i)], datetime(2024, 1, 1), i / 2, Decimal(i)] for i in range(50_000)]
    summary = client.insert(f"{database}.events", rows)
    assert summary.written_rows == 50_000
    assert client.command(f"SELECT count(), sum(id) FROM {database}.events") == ["50000", str(sum(range(50_000)))]


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("lz4", lambda data: lz4.frame.compress(data[:10]) + lz4.frame.compress(data[10:])),
        ("zstd", zstd.compress),
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
    ],
)
def test_raw_insert_accepts_compressed_bodies(
    connect: Connect, database: str, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    client = connect()
    data = b'{"id": 7, "name": "packed"}\n{"id": 8, "name": "twice"}\n'
    client.raw_insert(f"{database}.events", ["id", "name"], insert_block=compress(data), fmt="JSONEachRow", compression=encoding)
    assert client.query(f"SELECT name FROM {database}.events ORDER BY id").result_columns == [["packed", "twice"]]


@pytest.mark.parametrize("compress", ["zstd", "gzip", False])
def test_client_compression_options(connect: Connect, database: str, compress: str | bool) -> None:
    client = connect(compress=compress)
    client.insert(f"{database}.events", [[1, "one"], [2, "two"]], column_names=["id", "name"])
    assert client.query(f"SELECT name FROM {database}.events ORDER BY id").result_columns == [["one", "two"]]


def test_server_side_parameters(connect: Connect) -> None:
    client = connect()
    tricky = "it's a \\ backslash, \"double\", tab\there, newline\nthere, ünï ✓ \\N"
    body = client.raw_query(
        "SELECT {s:String} AS s, {i:Int64} AS i, {f:Float64} AS f, {at:DateTime64(3)} AS at,"
        " {tags:Array(String)} AS tags, {missing:Nullable(String)} AS missing",
        parameters={
            "s": tricky,
            "i": -9_007_199_254_740_993,
            "f": 2.5,
            "at": datetime(2024, 5, 1, 10, 0, 0, 123000),
            "tags": ["a'b", "c\\d", ""],
            "missing": None,
        },
        fmt="JSONCompact",
    )
    assert json.loads(body)["data"] == [
        [tricky, -9_007_199_254_740_993, 2.5, "2024-05-01 10:00:00.123", ["a'b", "c\\d", ""], None]
    ]


def test_long_parameters_travel_as_form_data(connect: Connect) -> None:
    client = connect()
    long_value = "x'\\" * 3000  # past clickhouse-connect's URL budget for parameters
    assert client.command("SELECT length({v:String})", parameters={"v": long_value}) == len(long_value)


def test_database_parameter(connect: Connect, database: str) -> None:
    client = connect(database=database)
    client.insert("events", [[5, "five"]], column_names=["id", "name"])
    assert client.query("SELECT currentDatabase(), name FROM events").result_rows == [(database, "five")]


def test_settings_apply_per_request(connect: Connect) -> None:
    client = connect()
    query = "SELECT toInt64(5) AS n, getSetting('max_threads') AS t"
    settings = {"output_format_json_quote_64bit_integers": 1, "max_threads": 3}
    assert json.loads(client.raw_query(query, fmt="JSON", settings=settings))["data"] == [{"n": "5", "t": 3}]
    plain = json.loads(client.raw_query(query, fmt="JSON"))["data"][0]
    assert plain["n"] == 5
    assert plain["t"] != 3
    # A setting clickhouse-connect adds to every request on its own.
    assert client.command("SELECT getSetting('date_time_input_format')") == "best_effort"


def test_query_errors_raise_database_error(connect: Connect) -> None:
    client = connect()
    with pytest.raises(DatabaseError) as missing:
        client.query("SELECT * FROM default.no_such_table")
    assert missing.value.code == 60
    assert "UNKNOWN_TABLE" in str(missing.value)
    assert "no_such_table" in str(missing.value)

    with pytest.raises(DatabaseError) as syntax:
        client.command("SELEKT 1")
    assert syntax.value.code == 62
    assert "Syntax error" in str(syntax.value)

    with pytest.raises(DatabaseError, match="UNKNOWN_SETTING"):
        client.query("SELECT 1", settings={"no_such_setting": 1})


def test_wrong_password_is_refused(connect: Connect) -> None:
    with pytest.raises(DatabaseError) as refused:
        connect(password="wrong")
    assert refused.value.code == 516
    assert "AUTHENTICATION_FAILED" in str(refused.value)


def test_http_responses(server: ClickHouseHttpServer) -> None:
    assert http(server, "/ping")[2] == b"Ok.\n"

    status, headers, body = http(server, "/?query=SELECT%201%20AS%20x%20FORMAT%20JSONEachRow")
    assert (status, body) == (200, b'{"x":1}\n')
    assert headers["X-ClickHouse-Format"] == "JSONEachRow"
    assert headers["X-ClickHouse-Timezone"] == "UTC"
    assert "read_rows" in json.loads(headers["X-ClickHouse-Summary"])

    status, headers, body = http(server, "/", data=b"SELECT 1", password="wrong")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (401, "516")
    assert body.startswith(b"Code: 516. DB::Exception: agentslo: Authentication failed")

    status, headers, body = http(server, "/", data=b"SELECT * FROM default.nope")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (404, "60")
    assert body.startswith(b"Code: 60. DB::Exception:")
    assert body.endswith(f"(UNKNOWN_TABLE) (version {server.version})\n".encode())

    # Like ClickHouse, GET requests run read-only.
    status, headers, _ = http(server, "/?query=CREATE%20DATABASE%20from_get")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (500, "164")


def test_set_unavailable_fails_fast_and_recovers(server: ClickHouseHttpServer, connect: Connect) -> None:
    client = connect()
    server.set_unavailable(True)
    with pytest.raises(OperationalError, match="503"):
        client.query("SELECT 1")
    with pytest.raises(OperationalError, match="503"):
        client.command("CREATE DATABASE IF NOT EXISTS never_created")
    assert not client.ping()

    server.set_unavailable(False)
    assert client.command("SELECT 2") == 2
    assert client.command("EXISTS DATABASE never_created") == 0


def test_held_insert_answers_come_after_the_rows_are_written(
    server: ClickHouseHttpServer, connect: Connect, database: str
) -> None:
    writer, reader = connect(database=database), connect(database=database)
    with server.holding_insert_answers("events") as written:
        insert = threading.Thread(target=writer.raw_insert, args=("events",),
                                  kwargs={"insert_block": b"1\tone\tk\t\\N\t[]\t2024-01-02 03:04:05\t1\t2\n",
                                          "fmt": "TabSeparated"})
        insert.start()
        assert written.wait(10)
        assert reader.command("SELECT count() FROM events") == 1  # stored, and not yet answered
        assert reader.command("SELECT 2") == 2  # other statements are answered
        insert.join(0.2)
        assert insert.is_alive()
    insert.join(10)
    assert not insert.is_alive()


def test_stop_and_start_reuse_the_port(server: ClickHouseHttpServer, connect: Connect) -> None:
    client = connect()
    assert client.command("SELECT 1") == 1  # leaves a pooled keep-alive connection
    port = server.port

    server.stop()
    with pytest.raises(OperationalError):
        client.command("SELECT 1")
    assert not client.ping()

    server.start()
    assert server.port == port
    assert client.command("SELECT 3") == 3


def test_servers_in_one_process_share_the_chdb_path(server: ClickHouseHttpServer, chdb_dir: Path, tmp_path: Path) -> None:
    with ClickHouseHttpServer(str(chdb_dir)) as second:
        assert second.port != server.port
    with pytest.raises(RuntimeError):
        ClickHouseHttpServer(str(tmp_path / "other")).start()
