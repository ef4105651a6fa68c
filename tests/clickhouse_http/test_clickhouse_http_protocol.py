"""The interface speaks ClickHouse's HTTP protocol as the Grafana plugin and clickhouse-connect use it,
reads only, within its bounds."""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

import clickhouse_connect
import httpx
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.clickhouse_http.conftest import Interface


def test_ping_and_an_empty_get_answer_ok(interface: Interface) -> None:
    assert httpx.get(interface.url + "/ping").text == "Ok.\n"
    assert httpx.get(interface.url + "/").text == "Ok.\n"


def test_the_plugins_connect_queries_answer_what_the_engine_says(interface: Interface) -> None:
    client = interface.client()
    [(version, timezone)] = client.query("SELECT version(), timezone()").result_rows
    assert (version, client.server_version, timezone) == (version, version, "Etc/UTC")
    assert client.protocol_version == 54405   # it found the block-info header its probe looks for
    [(name, _, revision, _)] = client.query("SELECT displayName(), version(), revision(), timezone()").result_rows
    assert name and revision > 54454


def test_the_statement_comes_in_the_url_the_body_or_both(interface: Interface) -> None:
    assert interface.post(query="SELECT 1").text == "1\n"
    assert interface.post(b"SELECT 2").text == "2\n"
    assert interface.post(b"+ 1", query="SELECT 2").text == "3\n"


def test_parameters_bind_as_escaped_text_as_clickhouse_reads_them(interface: Interface) -> None:
    answer = interface.post(query="SELECT {text:String}, {n:UInt8} + 1", param_text="a\\tb'c", param_n="41")
    assert answer.text == "a\\tb\\'c\t42\n"   # read as a tab; TabSeparated escapes it, and the quote
    client = interface.client()
    assert client.query("SELECT {text:String}", parameters={"text": "it's\ta\\test"}).result_rows == [("it's\ta\\test",)]


@pytest.mark.parametrize(("fmt", "content_type", "body"), [
    pytest.param("JSONEachRow", "application/json; charset=UTF-8", b'{"x":1}\n', id="JSON as JSON"),
    pytest.param("CSV", "text/csv; charset=UTF-8", b"1\n", id="CSV as CSV"),
    pytest.param("TabSeparated", "text/tab-separated-values; charset=UTF-8", b"1\n", id="TSV as TSV"),
])
def test_the_format_comes_from_default_format_or_the_format_clause(interface: Interface, fmt: str, content_type: str,
                                                                   body: bytes) -> None:
    for answer in (interface.post(query="SELECT 1 AS x", default_format=fmt),
                   interface.post(query=f"SELECT 1 AS x FORMAT {fmt}", default_format="Native")):
        assert (answer.content, answer.headers["content-type"], answer.headers["x-clickhouse-format"]) == (
            body, content_type, fmt)


def test_native_carries_block_info_and_serialization_flags_for_the_clients_protocol(interface: Interface) -> None:
    sql = "SELECT toUInt8(7) AS x"
    plain = interface.post(query=sql, default_format="Native").content
    assert plain == b"\x01\x01\x01x\x05UInt8\x07"
    assert interface.post(query=sql, default_format="Native", client_protocol_version="54405").content == (
        b"\x01\x00\x02\xff\xff\xff\xff\x00" + plain)
    # clickhouse-go sends its TCP protocol version: a flag (no custom serialization) follows each type.
    assert interface.post(query=sql, default_format="Native", client_protocol_version="54478").content == (
        b"\x01\x00\x02\xff\xff\xff\xff\x00" + b"\x01\x01\x01x\x05UInt8\x00\x07")


def test_a_type_native_framing_cannot_walk_is_refused_not_garbled(interface: Interface) -> None:
    sql = "SELECT quantileState(0.5)(number) AS state FROM numbers(10)"
    answer = interface.post(sql, default_format="Native", client_protocol_version="54478")
    assert (answer.status_code, answer.text) == (501, (
        "Code: 48. DB::Exception: cannot send this answer as Native: AggregateFunction(quantile(0.5), UInt64); "
        "ask for another format. (NOT_IMPLEMENTED)\n"))
    assert interface.post(sql, default_format="Native").status_code == 200   # unframed, it goes as the engine wrote it
    assert interface.post(sql, default_format="JSONEachRow").status_code == 200


def test_native_reads_back_every_column_type_of_the_tables(interface: Interface) -> None:
    client = interface.client()
    for table in ("otel_traces", "agent_tasks", "slo_status", "slo_rollups", "alert_state", "alert_deliveries"):
        result = client.query(f"SELECT * FROM {table} ORDER BY tuple() LIMIT 5")
        direct = interface.service.server.service.storage.query(f"SELECT count() FROM (SELECT * FROM {table} LIMIT 5)")
        assert len(result.result_rows) == direct.scalar(), table


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compressed_body_is_read_and_the_answer_compressed_when_asked(interface: Interface, encoding: str) -> None:
    body = gzip.compress(b"SELECT 40 + 2") if encoding == "gzip" else zlib.compress(b"SELECT 40 + 2")
    answer = httpx.post(interface.url, content=body, params={"enable_http_compression": "1"},
                        headers={"content-encoding": encoding, "accept-encoding": encoding})
    assert (answer.headers["content-encoding"], answer.text) == (encoding, "42\n")   # httpx decompresses it
    plain = httpx.post(interface.url, content=body, headers={"content-encoding": encoding, "accept-encoding": encoding})
    assert ("content-encoding" not in plain.headers, plain.text) == (True, "42\n")   # ClickHouse's default


def test_clickhouse_connect_reads_gzip_answers(interface: Interface) -> None:
    client = interface.client(compress="gzip")
    assert client.query("SELECT number FROM numbers(3)").result_rows == [(0,), (1,), (2,)]


@pytest.mark.parametrize(("params", "headers", "code", "message"), [
    pytest.param({"decompress": "1"}, {}, 48, "decompress=1 sends data to insert, and this interface inserts "
                 "nothing", id="a compressed body to insert"),
    pytest.param({}, {"content-encoding": "br"}, 48, "Content-Encoding br is not offered here: use gzip or deflate",
                 id="an encoding not offered"),
    pytest.param({}, {"content-encoding": "gzip"}, 354, "request body is not valid gzip: Error -3 while decompressing "
                 "data: incorrect header check", id="a body that is not what it says"),
])
def test_what_cannot_be_decoded_is_refused_clearly(interface: Interface, params: dict[str, str],
                                                   headers: dict[str, str], code: int, message: str) -> None:
    answer = httpx.post(interface.url, content=b"SELECT 1", params=params, headers=headers)
    assert answer.headers["x-clickhouse-exception-code"] == str(code)
    assert answer.text.startswith(f"Code: {code}. DB::Exception: {message}.")


def test_a_query_larger_than_the_limit_is_refused(interface: Interface) -> None:
    answer = interface.post(b"SELECT '" + b"x" * 300_000 + b"'")
    assert (answer.status_code, answer.headers["x-clickhouse-exception-code"]) == (500, "393")
    bomb = gzip.compress(b"SELECT 1 -- " + b" " * 10_000_000)
    answer = httpx.post(interface.url, content=bomb, headers={"content-encoding": "gzip"})
    assert answer.headers["x-clickhouse-exception-code"] == "393"


@pytest.mark.parametrize(("sql", "status", "code", "name"), [
    pytest.param("SELECT * FROM no_such_table", 404, 60, "UNKNOWN_TABLE", id="an unknown table is a 404"),
    pytest.param("SELEC 1", 400, 62, "SYNTAX_ERROR", id="a syntax error is a 400"),
    pytest.param("SELECT nosuchfunction(1)", 404, 46, "UNKNOWN_FUNCTION", id="an unknown function is a 404"),
])
def test_engine_errors_come_as_clickhouse_writes_them(interface: Interface, sql: str, status: int, code: int,
                                                      name: str) -> None:
    answer = interface.post(query=sql)
    assert (answer.status_code, answer.headers["x-clickhouse-exception-code"]) == (status, str(code))
    assert answer.text.startswith(f"Code: {code}. DB::Exception: ") and answer.text.endswith(f"({name})\n")
    with pytest.raises(DatabaseError, match=f"Code: {code}"):
        interface.client().query(sql)


# Each a statement an attacker with a read key would try; each refused with the code a read-only user gets.
REFUSED = [
    ("INSERT INTO otel_traces (SpanName) VALUES ('x')", 164, "INSERT is not a read"),
    ("CREATE TABLE t (a UInt8) ENGINE = Memory", 164, "CREATE is not a read"),
    ("DROP TABLE otel_traces", 164, "DROP is not a read"),
    ("ALTER TABLE otel_traces DELETE WHERE 1", 164, "ALTER is not a read"),
    ("TRUNCATE TABLE otel_traces", 164, "TRUNCATE is not a read"),
    ("SET readonly = 0", 164, "SET is not a read"),
    ("OPTIMIZE TABLE otel_traces FINAL", 164, "OPTIMIZE is not a read"),
    ("SYSTEM FLUSH LOGS", 164, "SYSTEM is not a read"),
    ("KILL QUERY WHERE 1", 164, "KILL QUERY is not a read"),
    ("SHOW PROCESSLIST", 164, "SHOW PROCESSLIST is not a read"),
    ("SELECT 1 SETTINGS readonly = 0", 164, "Cannot modify 'readonly' setting in readonly mode"),
    ("SELECT number FROM numbers(10) SETTINGS max_result_rows = 0", 164,
     "Cannot modify 'max_result_rows' setting in readonly mode"),
    ("SELECT file('/etc/hostname')", 497, "function file() is not available here"),
    ("SELECT * FROM file('/etc/passwd', 'LineAsString')", 497, "table function file() is not available here"),
    ("SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')", 497, "table function url() is not available here"),
    ("SELECT * FROM s3('http://127.0.0.1:9/b/k.csv')", 497, "table function s3() is not available here"),
    ("SELECT * FROM remote('127.0.0.1:9', system.one)", 497, "table function remote() is not available here"),
    ("SELECT * FROM merge('system', '^proc')", 497, "table function merge() is not available here"),
    ("SELECT * FROM view(SELECT * FROM system.processes)", 497, "table system.processes is not readable here"),
    ("SELECT * FROM system.processes", 497, "table system.processes is not readable here"),
    ("SELECT * FROM system.disks", 497, "table system.disks is not readable here"),
    ("SELECT * FROM default.anything", 497, "table default.anything is not readable here"),
    ("SELECT * FROM {t:Identifier}", 497, "table system.processes is not readable here"),
    ("SHOW CREATE TABLE system.processes", 497, "table system.processes is not readable here"),
    ("SELECT 1; SELECT 2", 62, "Syntax error (Multi-statements are not allowed)"),
]


@pytest.mark.parametrize(("sql", "code", "message"), REFUSED, ids=[sql for sql, _, _ in REFUSED])
def test_anything_but_a_read_of_the_store_is_refused(interface: Interface, sql: str, code: int, message: str) -> None:
    answer = interface.post(query=sql, param_t="system.processes")
    assert answer.headers["x-clickhouse-exception-code"] == str(code), answer.text
    assert answer.text.startswith(f"Code: {code}. DB::Exception: {message}")


def test_into_outfile_writes_no_file(interface: Interface, tmp_path: Path) -> None:
    target = tmp_path / "out.tsv"
    answer = interface.post(query=f"SELECT 1 INTO OUTFILE '{target}'")
    assert answer.text == ("Code: 497. DB::Exception: INTO OUTFILE writes a file: this interface only answers over "
                           "HTTP. (ACCESS_DENIED)\n")
    assert not target.exists()


def test_the_store_is_unchanged_after_the_attempts(interface: Interface) -> None:
    storage = interface.service.server.service.storage
    before = storage.query("SELECT count() FROM otel_traces").scalar()
    for sql, _, _ in REFUSED:
        interface.post(query=sql, param_t="system.processes")
    assert storage.query("SELECT count() FROM otel_traces").scalar() == before > 0


@pytest.mark.parametrize("sql", [
    "SHOW TABLES", "SHOW DATABASES", "DESCRIBE TABLE otel_traces", "EXISTS TABLE otel_traces",
    "SELECT name, type, table FROM system.columns WHERE table = 'otel_traces'",
    "SELECT name FROM system.databases", "SELECT name FROM system.tables WHERE database = currentDatabase()",
    "SELECT count() FROM INFORMATION_SCHEMA.COLUMNS", "SELECT * FROM numbers(3)",
])
def test_the_schema_reads_the_plugins_query_builder_makes_are_answered(interface: Interface, sql: str) -> None:
    answer = interface.post(query=sql)
    assert answer.status_code == 200 and answer.content, answer.text


@pytest.mark.parametrize(("params", "code", "message"), [
    pytest.param({"readonly": "0"}, 164, "Cannot modify 'readonly' setting in readonly mode: this interface is "
                 "read-only, so readonly stays 1 (got '0')", id="readonly stays 1"),
    pytest.param({"readonly": "2"}, 164, "Cannot modify 'readonly' setting in readonly mode", id="readonly 2 too"),
    pytest.param({"max_threads": "64"}, 164, "Cannot modify 'max_threads' setting in readonly mode",
                 id="a setting that tunes the engine"),
    pytest.param({"allow_introspection_functions": "1"}, 164, "Cannot modify 'allow_introspection_functions'",
                 id="introspection"),
    pytest.param({"database": "system"}, 81, "Database system does not exist here", id="another database"),
    pytest.param({"max_execution_time": "soon"}, 164, "setting max_execution_time must be a whole number",
                 id="a bound that is not a number"),
    pytest.param({"client_protocol_version": "new"}, 36, "client_protocol_version must be a whole number, got 'new'",
                 id="a protocol version that is not a number"),
])
def test_settings_that_would_change_the_engine_are_refused(interface: Interface, params: dict[str, str], code: int,
                                                           message: str) -> None:
    answer = interface.post(query="SELECT 1", **params)
    assert answer.headers["x-clickhouse-exception-code"] == str(code)
    assert answer.text.startswith(f"Code: {code}. DB::Exception: {message}")


def test_the_settings_clients_send_are_accepted(interface: Interface) -> None:
    # What clickhouse-go sends on every request over HTTP, a row limit the plugin's datasource may set, and
    # a session id clickhouse-connect makes up (each request is a session of its own here).
    answer = interface.post(query="SELECT number FROM numbers(10)", default_format="TabSeparated",
                            client_protocol_version="54478", database=interface.database, limit="3",
                            session_id="abc", query_id="q-1", log_comment="grafana", max_execution_time="35",
                            wait_end_of_query="1", readonly="1")
    assert (answer.status_code, answer.text, answer.headers["x-clickhouse-query-id"]) == (200, "0\n1\n2\n", "q-1")


def test_results_are_bounded_in_rows_and_a_request_may_only_lower_the_bound(interface: Interface) -> None:
    over = interface.post(query="SELECT number FROM numbers(200000)", max_result_rows="0")   # 0: "no limit", capped
    assert over.headers["x-clickhouse-exception-code"] == "396"
    assert "Limit for result exceeded, max rows: 100.00 thousand" in over.text
    lowered = interface.post(query="SELECT number FROM numbers(10)", max_result_rows="5")
    assert "max rows: 5.00" in lowered.text
    assert interface.post(query="SELECT number FROM numbers(10)", max_result_rows="5",
                          result_overflow_mode="break").status_code == 200


def test_results_are_bounded_in_bytes(interface: Interface) -> None:
    answer = interface.post(query="SELECT repeat(toString(number % 10), 1000) FROM numbers(90000)")
    assert answer.headers["x-clickhouse-exception-code"] == "396" and "max bytes: 64.00 MiB" in answer.text
    # A constant column is one value in the engine's count, and its every row in the answer: bounded too.
    answer = interface.post(query="SELECT repeat('x', 1000) FROM numbers(90000)")
    assert answer.text == ("Code: 396. DB::Exception: Limit for result exceeded, max bytes: 67108864, the answer has "
                           "90090000. (TOO_MANY_ROWS_OR_BYTES)\n")


def test_statements_are_bounded_in_time(interface: Interface) -> None:
    answer = interface.post(query="SELECT sleepEachRow(0.5) FROM numbers(10)", max_block_size="1")
    assert answer.headers["x-clickhouse-exception-code"] == "159", answer.text
    assert "Timeout exceeded: elapsed" in answer.text and "maximum: 2000.000 ms" in answer.text


def test_statements_are_bounded_in_memory(interface: Interface) -> None:
    answer = interface.post(query="SELECT count() FROM (SELECT groupArray(repeat(toString(number), 100)) AS held "
                                  "FROM numbers(10000000))")
    assert answer.headers["x-clickhouse-exception-code"] == "241", answer.text
    assert "Query memory limit exceeded" in answer.text and "maximum: 512.00 MiB" in answer.text


def test_clickhouse_connect_refuses_to_send_a_setting_the_interface_would_refuse(interface: Interface) -> None:
    with pytest.raises(Exception, match="Setting max_threads is readonly"):
        interface.client().query("SELECT 1", settings={"max_threads": 1})


def test_a_client_with_the_wrong_database_gets_a_clear_error(interface: Interface) -> None:
    with pytest.raises(DatabaseError, match="Database agentslo_other does not exist here"):
        clickhouse_connect.get_client(host="127.0.0.1", port=interface.port, proxy_path="/clickhouse",
                                      database="agentslo_other").query("SELECT 1")


TYPED = """SELECT NULL AS nothing, [] AS empty, toDateTime('2026-01-01 00:00:00', 'Europe/Paris') AS paris,
    CAST('b,c', 'Enum8(\\'a\\' = 1, \\'b,c\\' = 2)') AS enum, toDecimal128(1.5, 3) AS decimal, (1, 'x') AS pair,
    CAST((1, 'a'), 'Tuple(a UInt8, b String)') AS named, [NULL, 1] AS nullables, toIPv4('1.2.3.4') AS ip,
    map('k', [toLowCardinality('v')]) AS nested, [[toLowCardinality('a')], []] AS arrays,
    toLowCardinality(toNullable('z')) AS optional, toFixedString('ab', 2) AS fixed,
    toDateTime64('2026-01-01 00:00:00.5', 3) AS precise FROM numbers(2)"""


def test_native_carries_nested_and_low_cardinality_types_across_blocks(interface: Interface) -> None:
    client = interface.client()
    [row, _] = client.query(TYPED).result_rows
    direct = interface.service.server.service.storage.query(TYPED).rows[0]
    assert (row[3], str(row[4]), row[6], row[7], str(row[8]), row[9], row[10], row[11], row[12]) == (
        "b,c", "1.500", {"a": 1, "b": "a"}, [None, 1], "1.2.3.4", {"k": ["v"]}, [["a"], []], "z", b"ab")
    assert (row[0], row[1], row[2].isoformat(), direct[2]) == (None, [], "2025-12-31T23:00:00", "2026-01-01 00:00:00")
    # Many blocks: each one's header is found only by walking the one before it, value by value.
    sql = ("SELECT number, toString(number) AS text, toLowCardinality(toString(number % 7)) AS low, "
           "[toString(number)] AS list FROM numbers(90000)")
    rows = client.query(sql).result_rows   # two blocks: 65409 rows (max_block_size), then the rest
    assert (len(rows), rows[-1]) == (90000, (89999, "89999", str(89999 % 7), ["89999"]))


def statements(interface: Interface) -> dict[str, float]:
    return {outcome: float(value) for outcome, value in re.findall(
        r'^agentslo_clickhouse_http_statements_total\{outcome="(\w+)"\} (\S+)$', interface.service.metrics, re.M)}


def test_statements_are_counted_by_outcome_in_the_metrics(interface: Interface) -> None:
    before = statements(interface)
    interface.post(query="SELECT 1")
    interface.post(query="DROP TABLE otel_traces")
    interface.post(query="SELECT * FROM no_such_table")
    after = statements(interface)
    assert {outcome: after[outcome] - before[outcome] for outcome in after} == {
        "answered": 1, "refused": 1, "busy": 0, "failed": 1}
