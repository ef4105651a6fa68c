"""A loopback ClickHouse HTTP endpoint backed by chDB, for tests.

The product talks to ClickHouse through clickhouse-connect's HTTP client. No
ClickHouse server runs on the test machines, so :class:`ClickHouseHttpServer`
answers the part of the ClickHouse HTTP interface that clickhouse-connect uses
and runs every query on chDB, the ClickHouse engine embedded in this process.

Each request runs in its own chDB session on the shared engine. USE and SET are
per session, so a request's database and URL settings cannot leak into another
request, and requests run concurrently (chDB releases the GIL). The flip side:
HTTP sessions (``session_id``) are accepted but not kept, so SET statements and
temporary tables do not outlive their request.

chDB opens a single data path per process. Every server in one test process
must therefore share the same ``chdb_path``.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import re
import socket
import sys
import threading
import uuid
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import lz4.frame
from chdb import session as chdb_session

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

__all__ = ["ClickHouseHttpServer"]

_log = logging.getLogger(__name__)

HOST = "127.0.0.1"
DISPLAY_NAME = "chdb-test-server"
# Real deployments run in UTC; pinning session_timezone keeps DateTime results
# independent of the test machine's local zone. A request may still override it.
SERVER_TIMEZONE = "UTC"

# URL parameters the ClickHouse HTTP handler consumes itself; every other
# parameter is a setting (see reserved_param_names in ClickHouse's HTTPHandler).
_HANDLER_PARAMS = frozenset(
    (
        "query database default_format compress decompress user password quota_key query_id stacktrace role"
        " buffer_size wait_end_of_query session_id session_timeout session_check client_protocol_version"
        " close_session"
    ).split()
)

# HTTP status per error name, as in ClickHouse's exceptionCodeToHTTPStatus.cpp.
# One deliberate difference: ClickHouse 26.x answers AUTHENTICATION_FAILED with
# 403; this server answers 401, as the AgentSLO tests specify. clickhouse-connect
# only looks at the X-ClickHouse-Exception-Code header, so it sees no difference.
_HTTP_STATUS: dict[str, int] = {
    name: status
    for status, names in (
        (401, "REQUIRED_PASSWORD AUTHENTICATION_FAILED"),
        (403, "UNKNOWN_USER WRONG_PASSWORD SET_NON_GRANTED_ROLE ACCESS_DENIED"),
        (
            400,
            "BAD_ARGUMENTS CANNOT_COMPILE_REGEXP CANNOT_PARSE_TEXT CANNOT_PARSE_ESCAPE_SEQUENCE"
            " CANNOT_PARSE_QUOTED_STRING CANNOT_PARSE_DATE CANNOT_PARSE_DATETIME CANNOT_PARSE_NUMBER"
            " CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING CANNOT_PARSE_IPV4 CANNOT_PARSE_IPV6"
            " CANNOT_PARSE_INPUT_ASSERTION_FAILED CANNOT_PARSE_UUID DUPLICATE_COLUMN ILLEGAL_COLUMN"
            " UNKNOWN_ELEMENT_IN_AST UNKNOWN_TYPE_OF_AST_NODE THERE_IS_NO_COLUMN TOO_DEEP_AST TOO_BIG_AST"
            " UNEXPECTED_AST_STRUCTURE SYNTAX_ERROR INCORRECT_DATA TYPE_MISMATCH VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
        ),
        (
            404,
            "UNKNOWN_TABLE UNKNOWN_FUNCTION UNKNOWN_IDENTIFIER UNKNOWN_TYPE UNKNOWN_STORAGE UNKNOWN_DATABASE"
            " UNKNOWN_SETTING UNKNOWN_DIRECTION_OF_SORTING UNKNOWN_AGGREGATE_FUNCTION UNKNOWN_FORMAT"
            " UNKNOWN_DATABASE_ENGINE UNKNOWN_TYPE_OF_QUERY UNKNOWN_ROLE",
        ),
        (408, "TIMEOUT_EXCEEDED"),
        (411, "HTTP_LENGTH_REQUIRED"),
        (413, "QUERY_IS_TOO_LARGE"),
        (415, "UNSUPPORTED_MEDIA_TYPE"),
        (501, "NOT_IMPLEMENTED"),
        (503, "SOCKET_TIMEOUT CANNOT_OPEN_FILE CANNOT_SCHEDULE_TASK"),
    )
    for name in names.split()
}

_CODE_RE = re.compile(r"Code: (\d+)\.")
_ERROR_NAME_RE = re.compile(r"\(([A-Z][A-Z0-9_]+)\)")
_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_FIELD_NAME_RE = re.compile(rb'\bname="([^"]*)"')
# An INSERT whose data follows its FORMAT clause, as in the bodies of
# clickhouse-connect's inserts. Like ClickHouse, the data starts after the
# format name, blanks and at most one line break. The statement part may not
# hold quotes, SELECT or VALUES, so a FORMAT inside a literal or an
# INSERT ... SELECT is not mistaken for one; such statements (and any with a
# quoted SETTINGS value) run as plain queries, which chDB handles for inline
# text data but not for binary formats such as Native.
_INSERT_WITH_DATA_RE = re.compile(
    rb"\s*(?P<statement>INSERT\s+INTO\s(?:(?!\b(?:SELECT|VALUES)\b)[^'])*?)\s*\bFORMAT\s+(?P<format>\w+)[ \t]*(?:\r?\n)?",
    re.IGNORECASE,
)
# The table an INSERT writes, without its database or quotes.
_INSERT_TABLE_RE = re.compile(rb"\s*INSERT\s+INTO\s+(?:[`\"]?\w+[`\"]?\.)?[`\"]?(\w+)", re.IGNORECASE)
_TRAILING_FORMAT_RE = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*\Z", re.IGNORECASE)
# Statements that produce a result set even when it has no rows or bytes.
_RESULT_STATEMENT_RE = re.compile(
    r"\s*\(*\s*(?:SELECT|WITH|SHOW|DESC|DESCRIBE|EXISTS|EXPLAIN|CHECK)\b", re.IGNORECASE
)


class _ClickHouseError(Exception):
    """An error as the ClickHouse HTTP interface reports it: code, name and a
    ``Code: N. DB::Exception: ... (NAME)`` text."""

    def __init__(self, code: int, name: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.name = name
        self.text = text

    @classmethod
    def new(cls, code: int, name: str, message: str) -> _ClickHouseError:
        return cls(code, name, f"Code: {code}. DB::Exception: {message}. ({name})")

    @classmethod
    def from_exception(cls, exc: Exception) -> _ClickHouseError:
        """Wrap an exception; chDB's carry ClickHouse's own error text, after
        an optional prefix such as 'Streaming insert finish failed: '."""
        text = str(exc)
        match = _CODE_RE.search(text)
        if match is None:
            return cls.new(1001, "STD_EXCEPTION", f"{type(exc).__name__}: {text}")
        text = text[match.start() :].strip()
        names = _ERROR_NAME_RE.findall(text)
        return cls(int(match[1]), names[-1] if names else "", text)

    @property
    def status(self) -> int:
        return _HTTP_STATUS.get(self.name, 500)


@dataclass(frozen=True)
class _Hold:
    """Answers to inserts into one table, held: `written` once rows are in, answered once `released`."""

    written: threading.Event
    released: threading.Event


@dataclass(frozen=True)
class _Query:
    """One query request, decoded from the HTTP layer."""

    sql: bytes  # the query text, followed by the data of an INSERT
    params: dict[str, str]  # {name: value} for {name:Type} placeholders
    settings: dict[str, str]
    database: str
    default_format: str
    readonly: bool


@dataclass(frozen=True)
class _Result:
    body: bytes
    result_format: str | None  # None for statements without a result set
    summary: dict[str, str]


def _quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _apply_settings(chdb: chdb_session.Session, settings: Mapping[str, str]) -> None:
    """SET the settings on a session. The values are quoted: the HTTP
    interface passes settings as strings, and ClickHouse converts a string
    literal to the setting's type the same way."""
    if not settings:
        return
    for name in settings:
        if not _IDENTIFIER_RE.match(name):
            raise _ClickHouseError.new(115, "UNKNOWN_SETTING", f"Unknown setting '{name}'")
    assignments = ", ".join(f"{name} = {_quote_string(value)}" for name, value in settings.items())
    chdb.query(f"SET {assignments}", "TabSeparated")


def _run(chdb_path: str, query: _Query) -> _Result:
    """Run one request in a fresh chDB session."""
    with chdb_session.Session(chdb_path) as chdb:
        if query.database:
            chdb.query(f"USE {_quote_identifier(query.database)}", "TabSeparated")
        if query.readonly:
            # ClickHouse runs GET requests with readonly=2, set before the URL's settings.
            _apply_settings(chdb, {"readonly": "2"})
        _apply_settings(chdb, query.settings)

        insert = _INSERT_WITH_DATA_RE.match(query.sql)
        if insert is not None:
            # chDB's query() takes str, which cannot carry binary data such as
            # Native blocks; its streaming insert takes the statement and the
            # data apart.
            data = query.sql[insert.end() :]
            with chdb.send_insert(insert["statement"].decode(), insert["format"].decode()) as inserter:
                if data:
                    inserter.append(data)
                written = inserter.finish()
            return _Result(
                b"",
                None,
                {
                    "written_rows": str(written.rows_written),
                    "written_bytes": str(written.bytes_written),
                    "elapsed_ns": str(int(written.elapsed * 1e9)),
                },
            )

        sql = query.sql.decode()
        # chDB takes parameter values in the escaped text form the HTTP
        # interface uses (strings unquoted with backslash escapes, arrays as
        # quoted literals), which is what clickhouse-connect sends: no conversion.
        result = chdb.query(sql, query.default_format, params=query.params)
        body = result.bytes()
        explicit_format = _TRAILING_FORMAT_RE.search(sql)
        has_result = bool(body) or bool(_RESULT_STATEMENT_RE.match(sql))
        return _Result(
            body,
            (explicit_format[1] if explicit_format else query.default_format) if has_result else None,
            {
                "read_rows": str(result.rows_read()),
                "read_bytes": str(result.bytes_read()),
                "written_rows": str(result.rows_written()),
                "written_bytes": str(result.bytes_written()),
                "elapsed_ns": str(int(result.elapsed() * 1e9)),
            },
        )


def _lz4_decompress(data: bytes) -> bytes:
    """Decompress concatenated LZ4 frames; lz4.frame.decompress stops after the first."""
    chunks = []
    while data:
        decompressor = lz4.frame.LZ4FrameDecompressor()
        chunks.append(decompressor.decompress(data))
        data = decompressor.unused_data
    return b"".join(chunks)


def _decompress(body: bytes, encoding: str) -> bytes:
    """Undo a request's Content-Encoding. clickhouse-connect compresses each
    insert block on its own, so a body may hold several frames or members."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity", "none"):
        return body
    if encoding == "lz4":
        return _lz4_decompress(body)
    if encoding == "zstd":
        return zstd.decompress(body)
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":  # zlib-wrapped, as ClickHouse and clickhouse-connect mean it
        return zlib.decompress(body)
    raise _ClickHouseError.new(48, "NOT_IMPLEMENTED", f"Unknown compression method '{encoding}'")


def _form_fields(boundary: str | None, body: bytes) -> dict[str, str]:
    """The fields of a multipart/form-data body. clickhouse-connect moves the
    query and its parameters there when the parameters are too long for a URL."""
    if not boundary:
        raise _ClickHouseError.new(36, "BAD_ARGUMENTS", "multipart/form-data without a boundary")
    fields = {}
    for part in body.split(b"--" + boundary.encode())[1:-1]:
        head, _, value = part.partition(b"\r\n\r\n")
        name = _FIELD_NAME_RE.search(head)
        if name is None or b"filename=" in head:
            raise _ClickHouseError.new(48, "NOT_IMPLEMENTED", "External data is not supported by the chDB test server")
        fields[name[1].decode()] = value.removesuffix(b"\r\n").decode()
    return fields


def _credentials(headers: Message, params: Mapping[str, str]) -> tuple[str, str]:
    """The user and password of a request, from wherever ClickHouse accepts them."""
    authorization = headers.get("Authorization", "")
    if authorization.startswith("Basic "):
        try:
            user, _, password = base64.b64decode(authorization[6:], validate=True).decode().partition(":")
        except ValueError:
            return "", ""
        return user, password
    if "X-ClickHouse-User" in headers or "X-ClickHouse-Key" in headers:
        return headers.get("X-ClickHouse-User", "default"), headers.get("X-ClickHouse-Key", "")
    return params.get("user", "default"), params.get("password", "")


class _Handler(BaseHTTPRequestHandler):
    """Serves /ping and ClickHouse queries on /."""

    protocol_version = "HTTP/1.1"  # keep-alive: clickhouse-connect pools its connections
    server: _HttpServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug(format, *args)

    def _dispatch(self) -> None:
        app = self.server.app
        try:
            # Read the body even when the request will be refused, so that the
            # next request on this keep-alive connection starts at its start.
            body = self._read_body()
            if app.unavailable:
                self._reply(503, b"Service Unavailable: simulated ClickHouse outage\n")
                return
            url = urlsplit(self.path)
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            if url.path == "/ping" or (url.path == "/" and self.command == "GET" and not params and not body):
                self._reply(200, b"Ok.\n")
            elif url.path == "/":
                self._query(params, body)
            else:
                self._reply(404, f"There is no handle {url.path}\n".encode())
        except _ClickHouseError as exc:
            self._reply_error(exc)
        except Exception as exc:
            # chDB raises ChdbError or plain RuntimeErrors holding ClickHouse's
            # error text; anything else is reported to the client the same way
            # rather than dropping the connection.
            _log.debug("request %s failed", self.path, exc_info=True)
            self._reply_error(_ClickHouseError.from_exception(exc))

    def _query(self, params: dict[str, str], body: bytes) -> None:
        app = self.server.app
        user, password = _credentials(self.headers, params)
        if (user, password) != (app.user, app.password):
            raise _ClickHouseError.new(
                516,
                "AUTHENTICATION_FAILED",
                f"{user}: Authentication failed: password is incorrect, or there is no user with such name",
            )
        if self.headers.get_content_type() == "multipart/form-data":
            params = {**params, **_form_fields(self.headers.get_boundary(), body)}
            body = b""
        else:
            body = _decompress(body, self.headers.get("Content-Encoding", ""))
        for flag in ("compress", "decompress"):
            # ClickHouse's own block compression of the response/request body.
            if params.get(flag, "0").lower() not in ("0", "false"):
                raise _ClickHouseError.new(48, "NOT_IMPLEMENTED", f"{flag}=1 is not supported by the chDB test server")

        # ClickHouse joins the query parameter and the body with a line break.
        text = params.get("query", "")
        settings = {"session_timezone": SERVER_TIMEZONE}
        settings.update((k, v) for k, v in params.items() if k not in _HANDLER_PARAMS and not k.startswith("param_"))
        query = _Query(
            sql=text.encode() + b"\n" + body if text else body,
            params={k.removeprefix("param_"): v for k, v in params.items() if k.startswith("param_")},
            settings=settings,
            database=self.headers.get("X-ClickHouse-Database") or params.get("database", ""),
            default_format=self.headers.get("X-ClickHouse-Format") or params.get("default_format") or "TabSeparated",
            readonly=self.command == "GET",
        )
        query_id = params.get("query_id") or self.headers.get("X-ClickHouse-Query-Id") or str(uuid.uuid4())
        result = _run(app.chdb_path, query)
        app.hold_answer(query.sql)
        headers = {
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Timezone": settings["session_timezone"],
            "X-ClickHouse-Summary": json.dumps(result.summary, separators=(",", ":")),
        }
        if result.result_format is not None:
            headers["X-ClickHouse-Format"] = result.result_format
        self._reply(200, result.body, headers)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is not None:
            return self.rfile.read(int(length))
        if self.command == "POST":
            raise _ClickHouseError.new(
                381,
                "HTTP_LENGTH_REQUIRED",
                "The Transfer-Encoding is not chunked and there is no Content-Length header for POST request",
            )
        return b""

    def _read_chunked(self) -> bytes:
        """Read a chunked body; urllib3 sends streamed inserts this way, and
        http.server does not decode it."""
        chunks = []
        while size := int(self.rfile.readline().split(b";", 1)[0], 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF closing the chunk
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailer fields
            pass
        return b"".join(chunks)

    def _reply_error(self, exc: _ClickHouseError) -> None:
        # Real servers end the text with their version, as clickhouse-connect expects.
        text = exc.text if "(version " in exc.text else f"{exc.text} (version {self.server.app.version})"
        self._reply(exc.status, f"{text}\n".encode(), {"X-ClickHouse-Exception-Code": str(exc.code)})

    def _reply(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-ClickHouse-Server-Display-Name", DISPLAY_NAME)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _HttpServer(ThreadingHTTPServer):
    """A threading HTTP server that can cut its open connections, so that a
    stopped server does not go on answering on pooled keep-alive connections."""

    def __init__(self, address: tuple[str, int], app: ClickHouseHttpServer) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    # A TCP server's requests are sockets, narrower than socketserver's annotation.
    def process_request(self, request: socket.socket, client_address: Any) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Mostly clients that went away, or connections cut by stop().
        _log.debug("connection from %s failed", client_address, exc_info=True)


class ClickHouseHttpServer:
    """A ClickHouse HTTP endpoint on 127.0.0.1 that runs queries on chDB.

    Use it as a context manager or with start()/stop(). The port is picked on
    the first start() and kept across stop()/start(), so clients can outlive
    a simulated outage; set_unavailable() simulates one without closing the
    port. Requests authenticate as ``user``/``password`` (HTTP basic auth,
    X-ClickHouse-User/Key headers or URL parameters, as ClickHouse accepts).
    """

    host = HOST

    def __init__(self, chdb_path: str, *, user: str = "default", password: str = "") -> None:
        self.chdb_path = chdb_path
        self.user = user
        self.password = password
        self.version = ""  # the chDB engine's ClickHouse version, known once started
        self._port: int | None = None
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._engine: chdb_session.Session | None = None
        self._unavailable = threading.Event()
        self._holds: dict[str, _Hold] = {}
        self._holds_lock = threading.Lock()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server has not been started")
        return self._port

    @property
    def url(self) -> str:
        """``http://user:password@127.0.0.1:port``."""
        return f"http://{quote(self.user, safe='')}:{quote(self.password, safe='')}@{self.host}:{self.port}"

    @property
    def unavailable(self) -> bool:
        return self._unavailable.is_set()

    def set_unavailable(self, unavailable: bool) -> None:
        """While set, answer every request at once with HTTP 503."""
        if unavailable:
            self._unavailable.set()
        else:
            self._unavailable.clear()

    @contextmanager
    def holding_insert_answers(self, table: str) -> Iterator[threading.Event]:
        """Within the block, an INSERT into `table` writes its rows, then answers only when the block ends.

        A client killed meanwhile never learns that its rows were stored, as when a
        process dies between its insert and the answer. Yields an Event set once the
        rows of such an insert are written.
        """
        hold = _Hold(written=threading.Event(), released=threading.Event())
        with self._holds_lock:
            self._holds[table] = hold
        try:
            yield hold.written
        finally:
            with self._holds_lock:
                del self._holds[table]
            hold.released.set()

    def hold_answer(self, sql: bytes) -> None:
        """Wait before answering `sql` if it inserted into a table whose answers are held."""
        match = _INSERT_TABLE_RE.match(sql)
        if match is None:
            return
        with self._holds_lock:
            hold = self._holds.get(match[1].decode())
        if hold is not None:
            hold.written.set()
            hold.released.wait()

    def start(self) -> ClickHouseHttpServer:
        """Start serving, on the port of the previous start() if there was one."""
        if self._httpd is not None:
            raise RuntimeError("the server is already running")
        # A session held for the server's lifetime keeps the chDB engine up
        # between requests (starting it costs tens of milliseconds) and fails
        # here if this process already has chDB open on another path.
        engine = chdb_session.Session(self.chdb_path)
        try:
            self.version = engine.query("SELECT version()", "TabSeparated").bytes().decode().strip()
            httpd = _HttpServer((self.host, self._port or 0), self)
        except BaseException:
            engine.close()
            raise
        self._engine, self._httpd = engine, httpd
        self._port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"chdb-http-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open connections; the next start() binds the
        same port again. Does nothing if the server is not running."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def __enter__(self) -> ClickHouseHttpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
