"""`Storage`: the one place AgentSLO talks to ClickHouse.

The same SQL runs on both backends. Values never enter SQL text: they travel
as ClickHouse query parameters (`{name:Type}` placeholders), which chDB and
the HTTP interface both bind server-side.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from ground.errors import ConfigError, StorageError
from ground.storage._backends import _ESCAPES, Backend, ChdbBackend, HttpBackend
from ground.storage._spec import StorageSpec

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows of a SELECT, values as JSON gives them (numbers stay numbers)."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        """The rows as dicts keyed by column name."""
        return [dict(zip(self.columns, row)) for row in self.rows]

    def scalar(self) -> Any:
        """The single value of a one-row, one-column answer."""
        if len(self.rows) != 1 or len(self.columns) != 1:
            raise StorageError(f"expected one value, got {len(self.rows)} rows of {len(self.columns)} columns")
        return self.rows[0][0]


@dataclass(frozen=True)
class ParsedStatement:
    """One statement as the engine reads it: canonical text on one line, and its `EXPLAIN AST` tree."""

    text: str
    tree: str


class Storage:
    """Runs statements on the configured ClickHouse, embedded or server.

    Example::

        storage = open_storage(config.storage)
        storage.query("SELECT count() FROM otel_traces WHERE ServiceName = {service:String}",
                      {"service": "checkout-agent"}).scalar()
    """

    def __init__(self, backend: Backend, *, database: str, description: str, cluster: str | None = None) -> None:
        self._backend = backend
        self.database = database
        self.description = description
        # The ClickHouse cluster the schema is laid out on (ground.storage._cluster), or None: one server.
        self.cluster = cluster

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns nothing (DDL, ALTER, INSERT ... SELECT)."""
        self._backend.command(sql, _bindable(params))

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Run a SELECT and return its rows."""
        raw = self._backend.query(sql, _bindable(params), "JSONCompact")
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise StorageError(f"unreadable answer from ClickHouse: {raw[:200]!r}") from exc
        columns = tuple(column["name"] for column in answer["meta"])
        return QueryResult(columns, [tuple(row) for row in answer["data"]])

    def read_only(self, sql: str, params: Mapping[str, str] | None = None, *, fmt: str,
                  settings: Mapping[str, str] | None = None) -> bytes:
        """Run one statement of someone else's in a read-only session of its own (embedded store only), its
        answer in `fmt` (a FORMAT clause in `sql` wins), after setting `settings` (names checked by the
        caller: each may bound or shape the answer). The session sets readonly=1 last, so the statement can
        change neither data nor settings. `params` are text in ClickHouse's escaped form, bound as given.
        StorageError carries the engine's message (`Code: 60. DB::Exception: ...`).
        """
        [answer] = self._backend.read_only([(sql, dict(params or {}))], fmt, dict(settings or {}))
        return answer

    def parse(self, sql: str, params: Mapping[str, str] | None = None) -> ParsedStatement:
        """The engine's reading of `sql`, which must be exactly one statement (else StorageError, SYNTAX_ERROR):
        its canonical text on one line (placeholders kept) and its syntax tree (`EXPLAIN AST`, with `params`
        substituted). Nothing of it runs."""
        canonical, tree = self._backend.read_only(
            [("SELECT formatQuerySingleLine({sql:String})", {"sql": _escaped_text(sql)}), ("EXPLAIN AST " + sql, dict(params or {}))],
            "TabSeparatedRaw", {})
        return ParsedStatement(canonical.decode().rstrip("\n"), tree.decode())

    def insert_json_rows(self, table: str, body: bytes, *, dedup_token: str | None = None) -> None:
        """Insert rows serialised as JSONEachRow (one JSON object per line) into `table`.

        Inserting the same body again with the same `dedup_token` stores it once
        (on tables with a deduplication window): the way to retry an insert whose
        outcome is unknown.
        """
        self._insert(table, body, "JSONEachRow", dedup_token)

    def insert_arrow_stream(self, table: str, body: bytes, *, dedup_token: str | None = None) -> None:
        """Insert rows given as an Arrow IPC stream (columns matched by name), e.g. ingest's spans.

        Columnar, so ClickHouse parses it at about half the CPU of JSONEachRow.
        `dedup_token` as for insert_json_rows.
        """
        self._insert(table, body, "ArrowStream", dedup_token)

    def _insert(self, table: str, body: bytes, fmt: str, dedup_token: str | None) -> None:
        if dedup_token is not None and not _TOKEN.match(dedup_token):
            raise ValueError("dedup_token must be 1-64 letters, digits, '-' or '_'")
        self._backend.insert(table, body, fmt, dedup_token)

    def ping(self) -> None:
        """Raise StorageUnavailable unless ClickHouse answers a trivial query."""
        self.query("SELECT 1")

    def close(self) -> None:
        """Release the engine or the connection pool (and the data directory lock)."""
        self._backend.close()


def _escaped_text(text: str) -> str:
    """`text` as a String parameter's value in ClickHouse's escaped form (a backslash doubled, ...)."""
    return text.translate(_ESCAPES)


def _bindable(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Parameters in the text form both backends bind the same way."""
    if not params:
        return {}
    return {name: _text(value) for name, value in params.items()}


def _text(value: Any) -> Any:
    if isinstance(value, datetime):
        # DateTime64 parameters parse 'YYYY-MM-DD hh:mm:ss.ffffff' on both backends; always UTC.
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


def server_password(spec: StorageSpec, env: Mapping[str, str]) -> str | None:
    """The ClickHouse server's password, from the variable `password_env` names (None when it names none);
    ConfigError naming the variable when it is not set."""
    if not spec.password_env:
        return None
    if spec.password_env not in env:
        raise ConfigError([f"storage.password_env: environment variable {spec.password_env} is not set"])
    return env[spec.password_env]


def open_storage(spec: StorageSpec, *, env: Mapping[str, str] | None = None) -> Storage:
    """Open the store the config names: the ClickHouse server at its URL, else chDB in `data_dir`."""
    env = os.environ if env is None else env
    if spec.clickhouse_url:
        password = server_password(spec, env)
        database = spec.server_database
        backend: Backend = HttpBackend(spec.clickhouse_url, database, password=password, cluster=spec.cluster)
        where = f"ClickHouse server {spec.clickhouse_url}" + (f", cluster {spec.cluster}" if spec.cluster else "")
    else:
        database = spec.database
        backend = ChdbBackend(spec.data_dir, database)
        where = f"embedded chDB in {spec.data_dir}"
    return Storage(backend, database=database, description=f"{where}, database {database}", cluster=spec.cluster)

