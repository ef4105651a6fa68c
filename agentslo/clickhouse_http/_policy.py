"""What the read-only ClickHouse interface lets a statement and a request do. Pure.

The engine's readonly=1 refuses writes, DDL, settings changes and most table
functions; chDB, an engine inside a client process, still runs some things a server
would refuse or that reach beyond the store: the `file()` function reads the machine's
files, `INTO OUTFILE` writes them, `KILL QUERY` and `SHOW PROCESSLIST` reach the
service's own queries, `system` tables describe the machine, and `merge()` reads any
database. So a statement is also checked here, on the engine's own parse of it
(`EXPLAIN AST`, after the engine has refused more than one statement):

- it is a SELECT (UNION, INTERSECT, EXCEPT), SHOW TABLES / DATABASES / COLUMNS / CREATE,
  DESCRIBE or EXISTS;
- it reads tables of the store's database, the schema tables the Grafana plugin's query
  builder lists (`system.databases`, `system.tables`, `system.columns`, ...) and
  INFORMATION_SCHEMA, and no other;
- its table functions generate rows (`numbers`, `values`, ...) and read nothing else;
- it calls no function that reads files or the machine's state (`DENIED_FUNCTIONS`);
- it writes no file (`INTO OUTFILE`).

Request settings are checked against `SETTINGS`: harmless ones pass, the bounds are
capped by the configured limits, `readonly` may only be asked to stay 1, and anything
else is refused as a read-only ClickHouse user is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Limits", "Refused", "Statement", "check_statement", "request_settings"]


@dataclass(frozen=True)
class Refused(Exception):
    """A request refused as ClickHouse refuses one: its error code, name and message."""

    code: int
    name: str
    message: str


READONLY = (164, "READONLY")
ACCESS_DENIED = (497, "ACCESS_DENIED")

_STATEMENTS = frozenset({"SelectWithUnionQuery", "ShowTables", "ShowColumns", "DescribeQuery",
                         "ExistsTableQuery", "ShowCreateTableQuery"})
# What the plugin's query builder and clickhouse-connect's start-up read, and tables of constants.
SYSTEM_TABLES = frozenset({"databases", "tables", "columns", "one", "numbers", "numbers_mt", "zeros", "zeros_mt",
                           "settings", "functions", "table_functions", "formats", "data_type_families",
                           "time_zones", "contributors"})
TABLE_FUNCTIONS = frozenset({"numbers", "numbers_mt", "zeros", "zeros_mt", "values", "null", "view",
                             "generate_series", "generateSeries"})
# Functions that read files, load models from paths, or report on the machine rather than the data.
DENIED_FUNCTIONS = frozenset(name.lower() for name in (
    "file", "catboostEvaluate", "modelEvaluate", "evalMLMethod", "naiveBayesClassifier", "getServerSetting",
    "filesystemAvailable", "filesystemCapacity", "filesystemUnreserved", "joinGet", "joinGetOrNull",
    "getClientHTTPHeader", "getMacro", "serverUUID", "addressToLine", "addressToLineWithInlines",
    "addressToSymbol", "demangle", "getSubcolumn",
))
_TABLE = re.compile(r"^(?:(\w+)\.)?(\w+)$")


@dataclass(frozen=True)
class Statement:
    """A statement found readable, with the format its FORMAT clause asks for, if any."""

    output_format: str | None


@dataclass
class _Node:
    text: str
    children: list[_Node] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.text.split(" ", 1)[0]

    @property
    def argument(self) -> str:
        """What follows the kind, without the `(children N)` and `(alias x)` notes."""
        rest = self.text.split(" ", 1)[1] if " " in self.text else ""
        return re.sub(r"\s*\((?:children \d+|alias [^)]*)\)", "", rest).strip()


def check_statement(tree: str, *, database: str) -> Statement:
    """The statement whose `EXPLAIN AST` is `tree`, if it only reads what it may; else Refused."""
    root = _parse(tree)
    if root.kind not in _STATEMENTS:
        raise Refused(*READONLY, f"{_readable(root.kind)} is not a read: this interface runs SELECT, SHOW, "
                                 "DESCRIBE and EXISTS only")
    output_format = None
    if root.kind == "SelectWithUnionQuery":
        for child in root.children[1:]:
            if child.kind == "Identifier":
                output_format = child.argument
            elif child.kind == "Literal":
                raise Refused(*ACCESS_DENIED, "INTO OUTFILE writes a file: this interface only answers over HTTP")
    if root.kind == "ShowCreateTableQuery":
        names = [child.argument for child in root.children if child.kind == "Identifier"]
        _check_table(".".join(names), database)
    _check_tree(root, database)
    return Statement(output_format)


def _check_tree(node: _Node, database: str) -> None:
    for child in node.children:
        if child.kind == "TableIdentifier":
            _check_table(child.argument, database)
        elif child.kind == "Function":
            name = child.argument
            if node.kind == "TableExpression" and name not in TABLE_FUNCTIONS:
                raise Refused(*ACCESS_DENIED, f"table function {name}() is not available here: it reads beyond "
                                              f"the store (available: {', '.join(sorted(TABLE_FUNCTIONS))})")
            if name.lower() in DENIED_FUNCTIONS:
                raise Refused(*ACCESS_DENIED, f"function {name}() is not available here: it reads the machine, "
                                              "not the store")
        _check_tree(child, database)


def _check_table(name: str, database: str) -> None:
    match = _TABLE.match(name)
    if match is None:
        raise Refused(*ACCESS_DENIED, f"table {name!r} is not readable here")
    schema, table = match[1], match[2]
    if schema is None or schema == database or schema.lower() == "information_schema":
        return
    if schema == "system" and table in SYSTEM_TABLES:
        return
    raise Refused(*ACCESS_DENIED, f"table {schema}.{table} is not readable here: this interface reads the "
                                  f"{database} database and the schema tables of system")


def _parse(tree: str) -> _Node:
    lines = [line for line in tree.splitlines() if line.strip()]
    if not lines:
        raise Refused(62, "SYNTAX_ERROR", "empty query")
    root = _Node(lines[0].strip())
    stack: list[tuple[int, _Node]] = [(0, root)]
    for line in lines[1:]:
        depth = len(line) - len(line.lstrip(" "))
        node = _Node(line.strip())
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if not stack:
            raise Refused(62, "SYNTAX_ERROR", "more than one statement")
        stack[-1][1].children.append(node)
        stack.append((depth, node))
    return root


def _readable(kind: str) -> str:
    """`KillQueryQuery` as `KILL QUERY`."""
    words = re.findall(r"[A-Z][a-z]+|[A-Z]+(?![a-z])", kind.removesuffix("Query"))
    return " ".join(words).upper() or kind


@dataclass(frozen=True)
class Limits:
    """The most a statement may take: seconds, result rows and result bytes (each also capped per request), and
    memory."""

    max_execution_time_s: int
    max_result_rows: int
    max_result_bytes: int
    max_memory_bytes: int

    def settings(self) -> dict[str, str]:
        """The engine settings that hold a statement to these limits, failing it when one is passed."""
        return {"max_execution_time": str(self.max_execution_time_s), "max_result_rows": str(self.max_result_rows),
                "max_result_bytes": str(self.max_result_bytes), "result_overflow_mode": "throw",
                "max_memory_usage": str(self.max_memory_bytes)}


# Settings a request may set: they shape the answer or lower a bound, and change nothing stored.
SETTINGS = frozenset({
    "log_comment", "limit", "offset", "extremes", "max_block_size", "session_timezone", "date_time_output_format",
    "date_time_input_format", "send_profile_events", "cast_string_to_dynamic_use_inference", "join_use_nulls",
    "output_format_decimal_trailing_zeros",
})
_PREFIXES = ("output_format_json_", "output_format_csv_", "output_format_tsv_", "output_format_pretty_",
             "format_csv_", "format_tsv_")
_BOUNDS = {"max_execution_time": "max_execution_time_s", "max_result_rows": "max_result_rows",
           "max_result_bytes": "max_result_bytes"}
# Parameters of the HTTP interface itself, read by the interface rather than passed to the engine.
TRANSPORT = frozenset({"query", "database", "default_format", "client_protocol_version", "query_id", "quota_key",
                       "session_id", "session_timeout", "session_check", "user", "enable_http_compression",
                       "wait_end_of_query", "send_progress_in_http_headers", "http_headers_progress_interval_ms",
                       "compress", "decompress", "buffer_size", "readonly"})
_VALUE = re.compile(r"^[\w .:/+-]{0,256}$")


def request_settings(parameters: Mapping[str, str], limits: Limits) -> dict[str, str]:
    """The engine settings for a request's URL parameters (not its `param_*` values): the limits, lowered where
    the request asks, and the harmless settings it sets. Refused for a setting that is not harmless, a
    `readonly` other than 1, or a value that is not plain text."""
    settings = limits.settings()
    for name, value in parameters.items():
        if name.startswith("param_"):
            continue
        if name == "readonly":
            if value != "1":
                raise Refused(*READONLY, f"Cannot modify 'readonly' setting in readonly mode: this interface is "
                                         f"read-only, so readonly stays 1 (got {value!r})")
            continue
        if name in TRANSPORT:
            continue
        if name in _BOUNDS:
            cap = getattr(limits, _BOUNDS[name])
            if not value.isdigit():
                raise Refused(*READONLY, f"setting {name} must be a whole number, got {value!r}")
            asked = int(value)
            settings[name] = str(cap if asked == 0 else min(asked, cap))
            continue
        if name == "result_overflow_mode" and value in ("throw", "break"):
            settings[name] = value
            continue
        if not (name in SETTINGS or name.startswith(_PREFIXES)):
            raise Refused(*READONLY, f"Cannot modify '{name}' setting in readonly mode: this interface accepts "
                                     "the settings that shape an answer, not ones that change the engine")
        if not _VALUE.match(value):
            raise Refused(*READONLY, f"setting {name}: value not accepted: {value[:64]!r}")
        settings[name] = value
    return settings
