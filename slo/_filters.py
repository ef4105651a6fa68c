"""Which events an SLI counts: the kinds of events, and the matchers that narrow them. Pure.

One unit per concept, spec to SQL: `Events` and the columns a filter over each
may name; a matcher as users write it (`MatcherSpec`), as a value
(`Matcher`), and as parameterised SQL (`filter_sql`).

    filter:
      - {column: AgentName, op: eq, value: checkout}
      - {resource_attribute: deployment.environment, op: in, values: [prod, canary]}

Values never enter the SQL text: each value, and each attribute key, becomes a
query parameter; the only names spliced in are the allow-listed columns.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from ground.spec import Loc, problems
from ground.tables import AGENT_TASKS, TRACES


class Events(enum.Enum):
    """The events an SLI counts."""

    TASKS = "tasks"
    LLM_CALLS = "llm_calls"
    TOOL_CALLS = "tool_calls"
    SPANS = "spans"


EventsName = Literal["tasks", "llm_calls", "tool_calls", "spans"]

ALL_EVENTS: tuple[EventsName, ...] = ("tasks", "llm_calls", "tool_calls", "spans")

# Typed columns a `column:` matcher may name. Span-level events read otel_traces
# (DESIGN.md, Tables: the Collector exporter's columns, then AgentSLO's LLM columns).
SPAN_COLUMNS: tuple[str, ...] = (
    "ServiceName", "SpanName", "SpanKind", "StatusCode",
    "GenAiOperation", "GenAiProvider", "RequestModel", "ResponseModel", "CostSource", "ErrorType",
    "UserId", "Tenant", "AgentName", "TaskType", "Feature", "FallbackSource", "Environment",
)
# A task row carries its dimensions (service, agent, task type, user, tenant, feature,
# deployment environment) and its error type; models and span names vary inside one task.
TASK_COLUMNS: tuple[str, ...] = ("ServiceName", "AgentName", "TaskType", "UserId", "Tenant", "Feature", "Environment",
                                 "ErrorType")

# Columns with a closed set of values, spelt as the Collector exporter writes them.
CLOSED_COLUMN_VALUES: dict[str, tuple[str, ...]] = {
    "StatusCode": ("Unset", "Ok", "Error"),
    "SpanKind": ("Server", "Client", "Internal", "Producer", "Consumer"),
}


# ----------------------------------------------------------------------------- spec


class MatcherSpec(BaseModel):
    """One structured matcher: a column or attribute, an operator and its value(s)."""

    # Attribute values are strings in storage; a YAML number is read as its text.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    column: str | None = None
    attribute: str | None = None
    resource_attribute: str | None = None
    op: Literal["eq", "ne", "in", "regex"]
    value: str | None = None
    values: tuple[str, ...] | None = None

    @field_validator("column")
    @classmethod
    def _check_column(cls, name: str | None) -> str | None:
        if name is not None and name not in SPAN_COLUMNS:
            raise ValueError(f"must be one of the typed columns: {', '.join(SPAN_COLUMNS)}; got {name!r}")
        return name

    @field_validator("attribute", "resource_attribute")
    @classmethod
    def _check_key(cls, key: str | None) -> str | None:
        if key is not None and not key.strip():
            raise ValueError("must be a non-empty attribute key")
        return key

    @model_validator(mode="after")
    def _check_operands(self) -> MatcherSpec:
        found: list[tuple[Loc, str]] = []
        targets = [name for name in ("column", "attribute", "resource_attribute") if getattr(self, name) is not None]
        if not targets:
            raise ValueError("must name one of column, attribute or resource_attribute")
        if len(targets) > 1:
            raise ValueError(f"must name one of column, attribute or resource_attribute, not {' and '.join(targets)}")
        if self.op == "in":
            if self.value is not None:
                found.append((("value",), "op in takes a list under values, not value"))
            elif not self.values:
                found.append((("values",), "must be a non-empty list for op in"))
        else:
            if self.values is not None:
                found.append((("values",), f"op {self.op} takes one value under value, not values"))
            elif self.value is None:
                found.append((("value",), f"missing (op {self.op} compares with one value)"))
        if self.op == "regex" and self.value is not None:
            problem = _regex_problem(self.value)
            if problem:
                found.append((("value",), problem))
        closed = CLOSED_COLUMN_VALUES.get(self.column or "")
        if closed and self.op != "regex":
            for index, value in enumerate(self.operands):
                if value not in closed:
                    loc: Loc = ("values", index) if self.op == "in" else ("value",)
                    found.append((loc, f"{self.column} is one of {', '.join(closed)}; got {value!r}"))
        if found:
            raise problems(found)
        return self

    @property
    def operands(self) -> tuple[str, ...]:
        """The values compared with: one for eq, ne and regex, several for in."""
        if self.values is not None:
            return self.values
        return () if self.value is None else (self.value,)


# Constructs ClickHouse's regex engine (RE2) refuses though Python's accepts them.
_NOT_RE2 = (("(?=", "lookahead"), ("(?!", "lookahead"), ("(?<=", "lookbehind"), ("(?<!", "lookbehind"),
            ("(?P=", "backreference"))
_BACKREFERENCE = re.compile(r"\\[1-9]")


def _regex_problem(pattern: str) -> str | None:
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"must be a valid regular expression: {exc}"
    for marker, construct in _NOT_RE2:
        if marker in pattern:
            return f"must be an RE2 regular expression (ClickHouse's engine): {construct} is not supported"
    if _BACKREFERENCE.search(pattern):
        return "must be an RE2 regular expression (ClickHouse's engine): backreference is not supported"
    return None


def matcher_problems(field: str, matchers: Sequence[MatcherSpec], over: str) -> list[tuple[Loc, str]]:
    """What `matchers` under `field` may not do over these events: over tasks, name span-only columns
    or attributes."""
    if over != "tasks":
        return []
    found: list[tuple[Loc, str]] = []
    for index, matcher in enumerate(matchers):
        if matcher.column is not None and matcher.column not in TASK_COLUMNS:
            found.append(((field, index, "column"),
                          f"over tasks, filter on one of: {', '.join(TASK_COLUMNS)}; got {matcher.column!r}"))
        for name in ("attribute", "resource_attribute"):
            if getattr(matcher, name) is not None:
                found.append(((field, index, name),
                              "over tasks, filter on the task's columns; attributes belong to spans, llm_calls and tool_calls"))
    return found


# ----------------------------------------------------------------------------- model


class MatchSource(enum.Enum):
    """Where a matcher reads its value."""

    COLUMN = "column"
    ATTRIBUTE = "attribute"
    RESOURCE_ATTRIBUTE = "resource_attribute"


class MatchOp(enum.Enum):
    """How a matcher compares."""

    EQ = "eq"
    NE = "ne"
    IN = "in"
    REGEX = "regex"


@dataclass(frozen=True)
class Matcher:
    """A condition on a typed column or an attribute; `values` holds one value except for IN."""

    source: MatchSource
    name: str
    op: MatchOp
    values: tuple[str, ...]


Filter = tuple[Matcher, ...]


def filter_from_spec(matchers: Sequence[MatcherSpec]) -> Filter:
    """The domain value of validated matchers."""
    return tuple(_matcher(m) for m in matchers)


def _matcher(spec: MatcherSpec) -> Matcher:
    for source in MatchSource:
        name = getattr(spec, source.value)
        if name is not None:
            return Matcher(source, name, MatchOp(spec.op), spec.operands)
    raise ValueError(f"matcher names no column or attribute: {spec!r}")


# ----------------------------------------------------------------------------- SQL

_COLUMNS: dict[str, tuple[str, ...]] = {AGENT_TASKS: TASK_COLUMNS, TRACES: SPAN_COLUMNS}
_MAPS: dict[MatchSource, str] = {MatchSource.ATTRIBUTE: "SpanAttributes",
                                 MatchSource.RESOURCE_ATTRIBUTE: "ResourceAttributes"}


def filter_sql(matchers: Filter, table: str, prefix: str, params: dict[str, str]) -> list[str]:
    """One condition per matcher over `table` (all must hold); each value, and each attribute key,
    becomes a parameter named `prefix`... in `params`."""
    return [_matcher_sql(matcher, table, f"{prefix}{index}", params) for index, matcher in enumerate(matchers)]


def _matcher_sql(matcher: Matcher, table: str, name: str, params: dict[str, str]) -> str:
    if matcher.source is MatchSource.COLUMN:
        if matcher.name not in _COLUMNS[table]:
            raise ValueError(f"column {matcher.name!r} is not one a filter over {table} may name")
        operand = matcher.name
    else:
        if table != TRACES:
            raise ValueError(f"{matcher.source.value} matchers apply to spans, not to {table}")
        params[f"{name}_key"] = matcher.name
        operand = f"{_MAPS[matcher.source]}[{{{name}_key:String}}]"
    values = [f"{name}_{i}" for i in range(len(matcher.values))]
    params.update(zip(values, matcher.values))
    placeholders = [f"{{{value}:String}}" for value in values]
    match matcher.op:
        case MatchOp.EQ:
            return f"{operand} = {placeholders[0]}"
        case MatchOp.NE:
            return f"{operand} != {placeholders[0]}"
        case MatchOp.IN:
            return f"{operand} IN ({', '.join(placeholders)})"
        case MatchOp.REGEX:
            # RE2, unanchored as ClickHouse's match() is: anchor with ^ and $ to match the whole value.
            return f"match({operand}, {placeholders[0]})"
    raise ValueError(f"unknown match operator {matcher.op!r}")


def and_sql(*conditions: str) -> str:
    """The conjunction of SQL conditions, `true` standing for none."""
    kept = [c for c in conditions if c != "true"]
    return " AND ".join(f"({c})" for c in kept) if kept else "true"
