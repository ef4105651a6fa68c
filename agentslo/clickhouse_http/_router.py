"""The read-only ClickHouse HTTP interface over the embedded store, under a path of the API port.

What the Grafana ClickHouse plugin (clickhouse-go over HTTP) and clickhouse-connect send,
as ClickHouse's HTTP interface answers it:

- `GET|POST <path>/?query=...`, the statement in `query`, the body, or both (joined by a
  line feed); `param_<name>` values for `{name:Type}` placeholders; settings as URL
  parameters (agentslo.clickhouse_http._policy decides which);
- the answer in `default_format` or the statement's FORMAT clause (TabSeparated when
  neither says), Native re-framed for the client's `client_protocol_version` (an empty answer still names
  its columns, as a server's does); the statement runs as the engine formats it, without its FORMAT clause;
- a request body compressed with gzip or deflate (`Content-Encoding`), and the answer
  compressed so when `enable_http_compression=1` and `Accept-Encoding` asks, or in
  ClickHouse's own LZ4 blocks with `compress=1` (clickhouse-go's LZ4 over HTTP);
- `GET <path>/ping` and `GET <path>/` answer `Ok.`;
- errors as `Code: N. DB::Exception: ... (NAME)` with `X-ClickHouse-Exception-Code`.

`decompress=1` (a compressed body to insert) is refused. A key of scope read is required
when keys are configured, sent as the datasource's password (HTTP Basic, any user name),
`X-ClickHouse-Key`, a Bearer token or `x-api-key`. Clients beyond loopback are refused unless `remote` is set.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import ipaddress
import re
import uuid
import zlib
from collections.abc import Mapping

from fastapi import APIRouter, Request, Response
from prometheus_client import Counter

from agentslo.clickhouse_http._compressed import compressed_blocks
from agentslo.clickhouse_http._native import UnsupportedType, for_protocol, header_block
from agentslo.clickhouse_http._policy import ACCESS_DENIED, Limits, Refused, check_statement, request_settings
from ground.auth import KeyRing, Scope
from ground.errors import Forbidden, StorageError, Unauthenticated
from ground.storage import Storage

__all__ = ["clickhouse_http_router"]

_ENGINE_ERROR = re.compile(r"Code: (\d+)\. DB::Exception: (.*?)(?: \((\w+)\))?(?: \(version [^)]*\))?\.?\s*$", re.DOTALL)
# Storage.parse has the engine format the statement to refuse several at once: not the client's words.
_WRAPPER = re.compile(r"\s*:? In scope SELECT formatQuerySingleLine\(.*\)\.?$", re.DOTALL)
# HTTP statuses for ClickHouse error codes, as its HTTP handler maps them (src/Server/HTTPHandler.cpp).
_STATUS = {
    164: 403, 497: 403, 516: 401, 194: 401, 60: 404, 81: 404, 46: 404, 62: 400, 47: 400, 115: 400, 456: 400,
    73: 400, 27: 400, 36: 400, 43: 400, 53: 400, 48: 501, 202: 503, 159: 500, 396: 500,
}
_CONTENT_TYPES = {
    "Native": "application/octet-stream", "RowBinary": "application/octet-stream",
    "RowBinaryWithNamesAndTypes": "application/octet-stream", "Parquet": "application/octet-stream",
    "Arrow": "application/octet-stream", "ArrowStream": "application/octet-stream",
    "TabSeparated": "text/tab-separated-values; charset=UTF-8", "TSV": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8", "CSVWithNames": "text/csv; charset=UTF-8",
}


# What became of a statement, by the status of its answer (agentslo.metrics: STATEMENT_OUTCOMES).
_OUTCOMES = {200: "answered", 403: "refused", 503: "busy"}


def clickhouse_http_router(storage: Storage, keys: KeyRing, statements: Counter, *, path: str, limits: Limits,
                           remote: bool, max_query_bytes: int, max_concurrent_queries: int) -> APIRouter:
    """Routes answering ClickHouse HTTP requests under `path`, reading `storage` read-only; each statement
    counted in `statements` by outcome."""
    router = APIRouter(include_in_schema=False)
    running = asyncio.Semaphore(max_concurrent_queries)

    async def ping(request: Request) -> Response:
        # As ClickHouse's /ping, and /healthz here: no key needed, since it says nothing of the data.
        refusal = _admission(request, None, remote)
        if refusal is not None:
            return _error(refusal)
        return Response("Ok.\n", media_type="text/plain; charset=UTF-8")

    async def query(request: Request) -> Response:
        refusal = _admission(request, keys, remote)
        if refusal is not None:
            return _error(refusal)
        answer = await statement(request)
        statements.labels(_OUTCOMES.get(answer.status_code, "failed")).inc()
        return answer

    async def statement(request: Request) -> Response:
        parameters = dict(request.query_params)
        try:
            sql = await _statement(request, parameters, max_query_bytes)
        except Refused as exc:
            return _error(exc)
        if not sql.strip() and request.method == "GET":
            return Response("Ok.\n", media_type="text/plain; charset=UTF-8")
        if running.locked():
            return _error(Refused(202, "TOO_MANY_SIMULTANEOUS_QUERIES",
                                  f"Too many simultaneous queries. Maximum: {max_concurrent_queries}"))
        async with running:
            return await asyncio.to_thread(_answer, storage, request.headers, parameters, sql, limits)

    router.add_api_route(path + "/ping", ping, methods=["GET", "HEAD"])
    router.add_api_route(path, query, methods=["GET", "POST"])
    router.add_api_route(path + "/", query, methods=["GET", "POST"])
    return router


def _admission(request: Request, keys: KeyRing | None, remote: bool) -> Refused | None:
    """Why this client may not ask at all: beyond loopback when not `remote`, or without a read key (when `keys`)."""
    client = request.client.host if request.client else ""
    if not remote and not _loopback(client):
        return Refused(*ACCESS_DENIED, f"this ClickHouse interface answers loopback clients only, not {client}: "
                                       "set clickhouse_http.remote to serve others")
    if keys is None:
        return None
    headers = request.headers
    authorization = headers.get("authorization")
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    if scheme.lower() == "basic":
        try:
            authorization = "Bearer " + base64.b64decode(credentials.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            authorization = "Basic"
    if authorization is None and headers.get("x-clickhouse-key"):
        authorization = "Bearer " + headers["x-clickhouse-key"]
    try:
        keys.authorize(authorization, headers.get("x-api-key"), Scope.READ)
    except Unauthenticated as exc:
        return Refused(516, "AUTHENTICATION_FAILED", f"{exc}: send an API key of scope read as the password")
    except Forbidden as exc:
        return Refused(*ACCESS_DENIED, str(exc))
    return None


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.removeprefix("::ffff:")).is_loopback
    except ValueError:
        return False


async def _statement(request: Request, parameters: Mapping[str, str], max_query_bytes: int) -> str:
    """The statement: the `query` parameter, then the body (uncompressed), joined by a line feed."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_query_bytes:
            raise _too_large(max_query_bytes)
    if parameters.get("decompress") == "1":
        raise Refused(48, "NOT_IMPLEMENTED", "decompress=1 sends data to insert, and this interface inserts nothing")
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "deflate"):
        inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
        try:
            plain = inflater.decompress(bytes(body), max_query_bytes + 1)
        except zlib.error as exc:
            raise Refused(354, "CANNOT_DECOMPRESS", f"request body is not valid {encoding}: {exc}") from None
        if len(plain) > max_query_bytes or inflater.unconsumed_tail:
            raise _too_large(max_query_bytes)
        body = bytearray(plain)
    elif encoding not in ("", "identity"):
        raise Refused(48, "NOT_IMPLEMENTED", f"Content-Encoding {encoding} is not offered here: use gzip or deflate")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise Refused(27, "CANNOT_PARSE_INPUT_ASSERTION_FAILED", "the query is not UTF-8 text") from None
    given = parameters.get("query", "")
    return f"{given}\n{text}" if given and text else given or text


def _too_large(limit: int) -> Refused:
    return Refused(393, "QUERY_IS_TOO_LARGE", f"the query is larger than {limit} bytes (clickhouse_http.max_query_bytes)")


def _answer(storage: Storage, headers: Mapping[str, str], parameters: Mapping[str, str], sql: str,
            limits: Limits) -> Response:
    """Run `sql` read-only and answer as ClickHouse would; blocking (run in a worker thread)."""
    query_id = parameters.get("query_id") or str(uuid.uuid4())
    values = {name.removeprefix("param_"): value for name, value in parameters.items() if name.startswith("param_")}
    try:
        database = parameters.get("database")
        if database not in (None, "", storage.database):
            raise Refused(81, "UNKNOWN_DATABASE", f"Database {database} does not exist here: this interface reads "
                                                  f"{storage.database}")
        settings = request_settings(parameters, limits)
        revision = parameters.get("client_protocol_version", "0") or "0"
        if not revision.isdigit():
            raise Refused(36, "BAD_ARGUMENTS", f"client_protocol_version must be a whole number, got {revision[:32]!r}")
        parsed = storage.parse(sql, values)
        statement = check_statement(parsed.tree, database=storage.database)
        fmt = statement.output_format or parameters.get("default_format") or "TabSeparated"
        # The canonical text ends with its FORMAT clause: without it, the answer's format is ours to choose.
        text = parsed.text.removesuffix(f" FORMAT {statement.output_format}") if statement.output_format else parsed.text
        body = storage.read_only(text, values, fmt=fmt, settings=settings)
        if fmt == "Native" and not body and not text.endswith(" FORMAT Native"):
            body = header_block(storage.read_only(text, values, fmt="RowBinaryWithNamesAndTypes", settings=settings))
        if len(body) > (most := int(settings["max_result_bytes"])):
            # The engine counts a block's bytes in memory, where a constant column is one value.
            raise Refused(396, "TOO_MANY_ROWS_OR_BYTES", f"Limit for result exceeded, max bytes: {most}, "
                                                         f"the answer has {len(body)}")
        if fmt == "Native":
            body = for_protocol(body, int(revision))
        if parameters.get("compress") == "1":
            body = compressed_blocks(body)
    except Refused as exc:
        return _error(exc, query_id)
    except StorageError as exc:
        return _error(_engine_refusal(str(exc)), query_id)
    except UnsupportedType as exc:
        return _error(Refused(48, "NOT_IMPLEMENTED", f"cannot send this answer as Native: {exc}; "
                                                     "ask for another format"), query_id)
    response_headers = {"X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Format": fmt}
    encoding = _response_encoding(headers.get("accept-encoding", ""), parameters)
    if encoding == "gzip":
        body = gzip.compress(body, compresslevel=3)
    elif encoding == "deflate":
        body = zlib.compress(body, 3)
    if encoding:
        response_headers["Content-Encoding"] = encoding
    media = _CONTENT_TYPES.get(fmt, "application/json; charset=UTF-8" if fmt.startswith("JSON") else
                               "text/plain; charset=UTF-8")
    return Response(body, media_type=media, headers=response_headers)


def _response_encoding(accept: str, parameters: Mapping[str, str]) -> str:
    """gzip or deflate when the client accepts it and asked for HTTP compression, as ClickHouse does; else ''."""
    if parameters.get("enable_http_compression") != "1":
        return ""
    offered = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    return next((encoding for encoding in ("gzip", "deflate") if encoding in offered), "")


def _engine_refusal(message: str) -> Refused:
    match = _ENGINE_ERROR.search(message.strip())
    if match is None:
        return Refused(1000, "UNKNOWN_EXCEPTION", message.strip())
    code, text, name = int(match[1]), _WRAPPER.sub("", match[2]), match[3] or "UNKNOWN_EXCEPTION"
    # A failure inside a setting or a subquery arrives wrapped in another: report the innermost.
    inner = _ENGINE_ERROR.search(text)
    if inner is not None and text.startswith("Code: "):
        return _engine_refusal(text)
    return Refused(code, name, text)


def _error(refusal: Refused, query_id: str | None = None) -> Response:
    message = refusal.message.rstrip(".")
    body = f"Code: {refusal.code}. DB::Exception: {message}. ({refusal.name})\n"
    headers = {"X-ClickHouse-Exception-Code": str(refusal.code)}
    if query_id is not None:
        headers["X-ClickHouse-Query-Id"] = query_id
    if refusal.code == 516:
        headers["WWW-Authenticate"] = 'Basic realm="agentslo: an API key of scope read as the password"'
    return Response(body, status_code=_STATUS.get(refusal.code, 500), media_type="text/plain; charset=UTF-8",
                    headers=headers)
