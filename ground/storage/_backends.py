"""The two ways to reach ClickHouse: chDB in-process, or a server over HTTP.

A backend runs one statement and returns the raw bytes of its answer; the
`Storage` above it owns the dialect, the formats and the parsing, so both
backends see exactly the same SQL. Driver errors become our StorageError tree
here, at the boundary.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver import exceptions as ch_errors

from ground.errors import ConfigError, StorageError, StorageUnavailable

# Settings every query runs with, on both backends, so that answers parse alike.
QUERY_SETTINGS: dict[str, Any] = {
    "output_format_json_quote_64bit_integers": 0,
    "output_format_json_quote_denormals": 0,
    "date_time_input_format": "best_effort",
}
# And on a cluster (ground/storage/_cluster.py), so that its queries mean what they mean on one server:
CLUSTER_SETTINGS: dict[str, Any] = {
    # An insert into a Distributed table answers once every shard stored its rows (the default
    # queues them on the node and answers at once): a 2xx to an exporter means stored.
    "distributed_foreground_insert": 1,
    # `TraceId IN (SELECT TraceId FROM otel_traces ...)` runs on each shard against its own rows:
    # a trace's spans and tasks share a shard. The default refuses the query.
    "distributed_product_mode": "local",
    # Every query of a shard goes to its first live replica (the local one first), so that the
    # evaluator reads back the tasks and rollups it wrote before the other replica fetched them.
    "load_balancing": "in_order",
}

# ClickHouse error codes that mean "overloaded or unreachable, try again later"
# rather than "this statement is wrong" (ClickHouse src/Common/ErrorCodes.cpp).
_RETRYABLE_CODES = frozenset({
    159,  # TIMEOUT_EXCEEDED
    202,  # TOO_MANY_SIMULTANEOUS_QUERIES
    209,  # SOCKET_TIMEOUT
    210,  # NETWORK_ERROR
    241,  # MEMORY_LIMIT_EXCEEDED
    252,  # TOO_MANY_PARTS
    242,  # TABLE_IS_READ_ONLY (replica lost its keeper session)
})
_CODE = re.compile(r"Code: (\d+)\.")
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# ClickHouse reads a query parameter's value as text in its escaped format, the
# TabSeparated one: a backslash starts an escape sequence, a tab or a line feed ends
# the value (docs: Formats, TabSeparated, "Data formatting"). Values sent over HTTP
# must be written so, and clickhouse-connect does it (driver/binding.py, escape_str);
# chDB passes a value to the same parser as it gets it. So the embedded backend
# writes each value as TabSeparated output writes a string (the escapes that page
# lists), and both backends bind the very same strings.
_ESCAPES = str.maketrans({
    "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0", "\b": "\\b", "\f": "\\f",
    "'": "\\'",
})


class Backend(Protocol):
    """Runs statements on one ClickHouse, in the given database.

    `params` are the values of the statement's `{name:Type}` placeholders as
    Python text or numbers; each backend binds them so that ClickHouse reads
    exactly those values.
    """

    def command(self, sql: str, params: Mapping[str, Any]) -> None: ...
    def query(self, sql: str, params: Mapping[str, Any], fmt: str) -> bytes: ...
    def read_only(self, statements: Sequence[tuple[str, Mapping[str, str]]], fmt: str,
                  settings: Mapping[str, str]) -> list[bytes]: ...
    def insert(self, table: str, body: bytes, fmt: str, dedup_token: str | None) -> None: ...
    def close(self) -> None: ...


def classify(message: str) -> StorageError:
    """The StorageError subclass for an engine error message."""
    match = _CODE.search(message)
    if match and int(match.group(1)) in _RETRYABLE_CODES:
        return StorageUnavailable(message)
    return StorageError(message)


class ChdbBackend:
    """chDB, the ClickHouse engine in this process, with its data in one directory.

    A chDB connection runs one statement at a time, so each statement borrows
    a connection from a small pool: concurrent inserts and queries run side by
    side, as they would on a server. The directory belongs to one process at a
    time: a second one gets a clear error instead of two engines writing the
    same parts.
    """

    def __init__(self, data_dir: Path, database: str) -> None:
        self.data_dir = data_dir.resolve()
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unusable_directory(self.data_dir, exc) from None
        self._database = database
        self._idle: list[Any] = []
        self._all: list[Any] = []
        self._pool_lock = threading.Lock()
        _acquire_directory(self.data_dir)
        try:
            with self._session() as first:
                _run_on(first, f"CREATE DATABASE IF NOT EXISTS {database}", {}, "TabSeparated")
        except BaseException:
            self.close()
            raise

    def command(self, sql: str, params: Mapping[str, Any]) -> None:
        with self._session() as connection:
            _run_on(connection, sql, params, "TabSeparated")

    def query(self, sql: str, params: Mapping[str, Any], fmt: str) -> bytes:
        with self._session() as connection:
            return _run_on(connection, sql, params, fmt)

    def read_only(self, statements: Sequence[tuple[str, Mapping[str, str]]], fmt: str,
                  settings: Mapping[str, str]) -> list[bytes]:
        """Run `statements` in a session of their own, with `settings` and then readonly=1 set, so that
        nothing they say changes data, files or settings; parameters are bound as given (already in
        ClickHouse's escaped text form, as an HTTP client sends them)."""
        from chdb import session

        connection = session.Session(str(self.data_dir))
        try:
            _run_raw(connection, f"USE {self._database}", {}, "TabSeparated")
            for name, value in settings.items():
                if not _SETTING_NAME.match(name):
                    raise StorageError(f"not a setting name: {name!r}")
                _run_raw(connection, f"SET {name} = {{value:String}}", {"value": _escaped(value)}, "TabSeparated")
            _run_raw(connection, "SET readonly = 1", {}, "TabSeparated")
            return [_run_raw(connection, sql, params, fmt) for sql, params in statements]
        finally:
            connection.close()

    def insert(self, table: str, body: bytes, fmt: str, dedup_token: str | None) -> None:
        statement = f"INSERT INTO {table}"
        if dedup_token:
            statement += f" SETTINGS insert_deduplication_token = '{dedup_token}'"
        with self._session() as connection:
            try:
                inserter = connection.send_insert(statement, fmt)
                inserter.append(body)
                inserter.finish()
            except RuntimeError as exc:
                raise classify(str(exc)) from exc

    def close(self) -> None:
        with self._pool_lock:
            for connection in self._all:
                connection.close()
            self._all.clear()
            self._idle.clear()
        _release_directory(self.data_dir)

    @contextmanager
    def _session(self) -> Iterator[Any]:
        with self._pool_lock:
            connection = self._idle.pop() if self._idle else None
        if connection is None:
            connection = self._connect()
        try:
            yield connection
        finally:
            with self._pool_lock:
                self._idle.append(connection)

    def _connect(self) -> Any:
        from chdb import session  # imported here: the engine is large and only this backend needs it

        connection = session.Session(str(self.data_dir))
        with self._pool_lock:
            self._all.append(connection)
        _run_on(connection, f"CREATE DATABASE IF NOT EXISTS {self._database}", {}, "TabSeparated")
        _run_on(connection, f"USE {self._database}", {}, "TabSeparated")
        for name, value in QUERY_SETTINGS.items():
            _run_on(connection, f"SET {name} = {value!r}", {}, "TabSeparated")
        return connection


def _escaped(value: Any) -> str:
    """A query parameter's value in ClickHouse's escaped text format: a backslash doubled, a tab as `\\t`, ..."""
    return str(value).translate(_ESCAPES)


def _run_on(connection: Any, sql: str, params: Mapping[str, Any], fmt: str) -> bytes:
    return _run_raw(connection, sql, {name: _escaped(value) for name, value in params.items()}, fmt)


def _run_raw(connection: Any, sql: str, bound: Mapping[str, str], fmt: str) -> bytes:
    try:
        result = connection.query(sql, fmt, params=dict(bound) or None)
    except RuntimeError as exc:  # chdb.ChdbError is a RuntimeError
        raise classify(str(exc)) from exc
    return result.bytes()


# Data directories this process holds, with how many backends use each: chDB runs
# one engine per process, so several Storage objects (one per database) may
# share a directory here, while another process is kept out by the file lock.
_held_directories: dict[Path, tuple[TextIO, int]] = {}
_held_lock = threading.Lock()


def _acquire_directory(data_dir: Path) -> None:
    with _held_lock:
        if data_dir in _held_directories:
            handle, users = _held_directories[data_dir]
            _held_directories[data_dir] = (handle, users + 1)
            return
        if _held_directories:
            other = next(iter(_held_directories))
            raise StorageError(
                f"cannot open {data_dir}: this process already runs the embedded engine on {other}, "
                "and chDB runs one data directory per process"
            )
        try:
            handle = open(data_dir / ".agentslo.lock", "a+")
        except OSError as exc:
            raise _unusable_directory(data_dir, exc) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise StorageError(
                f"data directory {data_dir} is in use by another process (pid {owner}); "
                "an embedded store belongs to one process: stop it, or use another --data directory"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        _held_directories[data_dir] = (handle, 1)


def _unusable_directory(data_dir: Path, exc: OSError) -> ConfigError:
    # mkdir(exist_ok=True) on a file says "File exists", which reads as though all were well.
    reason = os.strerror(errno.ENOTDIR) if isinstance(exc, FileExistsError) else exc.strerror
    return ConfigError([f"cannot use {data_dir} as the data directory: {reason}; change --data (storage.data_dir)"])


def _release_directory(data_dir: Path) -> None:
    with _held_lock:
        handle, users = _held_directories.pop(data_dir)
        if users > 1:
            _held_directories[data_dir] = (handle, users - 1)
        else:
            handle.close()


class HttpBackend:
    """A ClickHouse server reached with clickhouse-connect over HTTP(S), alone or a node of `cluster`.

    The client is created on first use and again after a failed connection,
    so that the service starts (and reports not-ready) while the server is down.
    """

    connect_timeout_s = 5
    send_receive_timeout_s = 60

    def __init__(self, url: str, database: str, *, password: str | None = None, cluster: str | None = None) -> None:
        parts = urlsplit(url)
        self._options: dict[str, Any] = {
            "host": parts.hostname,
            "port": parts.port or (8443 if parts.scheme == "https" else 8123),
            "username": unquote(parts.username) if parts.username else "default",
            "password": password or "",
            "secure": parts.scheme == "https",
            "database": "default",
            "connect_timeout": self.connect_timeout_s,
            "send_receive_timeout": self.send_receive_timeout_s,
            # Several threads share the client: a server session would serialise them.
            "autogenerate_session_id": False,
            "settings": {**QUERY_SETTINGS, **(CLUSTER_SETTINGS if cluster else {})},
        }
        self._database = database
        self._on_cluster = f" ON CLUSTER {cluster}" if cluster else ""
        self._client: Any = None
        self._lock = threading.Lock()

    def command(self, sql: str, params: Mapping[str, Any]) -> None:
        client = self._connected()
        with _converted():
            client.command(sql, parameters=dict(params) or None)

    def query(self, sql: str, params: Mapping[str, Any], fmt: str) -> bytes:
        client = self._connected()
        with _converted():
            return client.raw_query(sql, parameters=dict(params) or None, fmt=fmt)

    def read_only(self, statements: Sequence[tuple[str, Mapping[str, str]]], fmt: str,
                  settings: Mapping[str, str]) -> list[bytes]:
        raise StorageError("read-only SQL sessions are offered on the embedded store only: "
                           "query the ClickHouse server directly")

    def insert(self, table: str, body: bytes, fmt: str, dedup_token: str | None) -> None:
        client = self._connected()
        settings = {"insert_deduplication_token": dedup_token} if dedup_token else None
        with _converted():
            client.raw_insert(table, insert_block=body, fmt=fmt, settings=settings)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _connected(self) -> Any:
        with self._lock:
            if self._client is None:
                with _converted():
                    client = clickhouse_connect.get_client(**self._options)
                    client.command(f"CREATE DATABASE IF NOT EXISTS {self._database}{self._on_cluster}")
                client.database = self._database
                self._client = client
            return self._client


@contextmanager
def _converted() -> Iterator[None]:
    """Turn clickhouse-connect errors into our StorageError tree."""
    try:
        yield
    except ch_errors.OperationalError as exc:  # refused, timed out, or 429/503 after its retries
        raise StorageUnavailable(f"ClickHouse server unavailable: {exc}") from exc
    except ch_errors.Error as exc:
        code = getattr(exc, "code", None)
        if code in _RETRYABLE_CODES:
            raise StorageUnavailable(str(exc)) from exc
        raise classify(str(exc)) from exc
