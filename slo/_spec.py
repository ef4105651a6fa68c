"""The `slos:` section of the config file, version 1: what users write.

An SLO names its objective in percent, a window, how its budget is counted and
an SLI of one kind, over one set of events, narrowed by structured matchers::

    slos:
      - name: checkout-availability
        description: Checkout tasks finish without error
        objective: 99.5                 # percent of good events, 0 < x < 100
        window: 28d                     # Nd or Nh rolling, or `month` (calendar, UTC)
        budgeting: occurrences          # or {method: timeslices, slice: 1m, slice_objective: 95}
        sli:
          kind: availability            # error_rate, latency, cost, cache_hit_rate, tool_success
          over: tasks                   # llm_calls, tool_calls, spans
          filter:
            - {column: AgentName, op: eq, value: checkout}
            - {resource_attribute: deployment.environment, op: in, values: [prod, canary]}

These types stop at `slo_from_spec`; nothing past it reads them. Problems are
reported as `agentslo.yaml: slos[1] (checkout-availability).objective: must be below 100`.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal, Protocol, TypeVar, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ground.errors import ConfigError


class _HasName(Protocol):
    @property
    def name(self) -> str: ...


_Named = TypeVar("_Named", bound=_HasName)

Loc = tuple[int | str, ...]

EventsName = Literal["tasks", "llm_calls", "tool_calls", "spans"]

_ALL_EVENTS: tuple[EventsName, ...] = ("tasks", "llm_calls", "tool_calls", "spans")

# The events each SLI kind can be measured over; the first is its default.
EVENTS_BY_KIND: dict[str, tuple[EventsName, ...]] = {
    "availability": _ALL_EVENTS,
    "error_rate": _ALL_EVENTS,
    "latency": _ALL_EVENTS,
    # Only a task (the sum of its calls) and a model call carry a cost.
    "cost": ("tasks", "llm_calls"),
    # Cache-read and input tokens are reported on model calls.
    "cache_hit_rate": ("llm_calls",),
    "tool_success": ("tool_calls",),
}

# Typed columns a `column:` matcher may name. Span-level events read otel_traces
# (DESIGN.md, Tables: the Collector exporter's columns, then AgentSLO's LLM columns).
SPAN_COLUMNS: tuple[str, ...] = (
    "ServiceName", "SpanName", "SpanKind", "StatusCode",
    "GenAiOperation", "GenAiProvider", "RequestModel", "ResponseModel", "CostSource", "ErrorType",
    "UserId", "Tenant", "AgentName", "TaskType", "Feature", "FallbackSource",
)
# A task row carries its dimensions only (issue 4: service, agent, task type, user,
# tenant, feature) and its error type; models and span names vary inside one task.
TASK_COLUMNS: tuple[str, ...] = ("ServiceName", "AgentName", "TaskType", "UserId", "Tenant", "Feature", "ErrorType")

# Columns with a closed set of values, spelt as the Collector exporter writes them.
CLOSED_COLUMN_VALUES: dict[str, tuple[str, ...]] = {
    "StatusCode": ("Unset", "Ok", "Error"),
    "SpanKind": ("Server", "Client", "Internal", "Producer", "Consumer"),
}

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_UNIT = {"ms": timedelta(milliseconds=1), "s": timedelta(seconds=1), "m": timedelta(minutes=1),
         "h": timedelta(hours=1), "d": timedelta(days=1)}
# A rolling window from one hour (shorter leaves the alert windows under a minute)
# to a year (a longer one is more likely a typo than an objective).
_MIN_WINDOW = timedelta(hours=1)
_MAX_WINDOW = timedelta(days=365)


def parse_duration(text: object, *, units: tuple[str, ...], whole: bool) -> timedelta | None:
    """`text` such as "30s" or "500ms" in one of `units` as a timedelta, or None if it is not one."""
    if isinstance(text, timedelta):
        return text
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None or match.group(2) not in units or (whole and "." in match.group(1)):
        return None
    return float(match.group(1)) * _UNIT[match.group(2)]


def format_duration(duration: timedelta) -> str:
    """The shortest spelling of `duration` in one unit: 28d, 12h, 5m, 30s, 500ms."""
    for unit in ("d", "h", "m", "s", "ms"):
        count = duration / _UNIT[unit]
        if count == int(count) and count:
            return f"{int(count)}{unit}"
    return f"{duration.total_seconds()}s"


def _window(value: object) -> object:
    if value == "month":
        return value
    length = parse_duration(value, units=("d", "h"), whole=True)
    if length is None or length % timedelta(hours=1):
        raise ValueError(f"must be a rolling window like 28d or 12h, or month, got {value!r}")
    if not _MIN_WINDOW <= length <= _MAX_WINDOW:
        raise ValueError(f"must be between 1h and 365d, got {value!r}")
    return length


def _slice(value: object) -> timedelta:
    length = parse_duration(value, units=("m", "h"), whole=True)
    if length is None or length <= timedelta(0):
        raise ValueError(f"must be a whole number of minutes or hours like 1m or 5m, got {value!r}")
    return length


def _threshold(value: object) -> timedelta:
    length = parse_duration(value, units=("ms", "s", "m"), whole=False)
    if length is None:
        raise ValueError(f"must be a duration like 500ms, 30s or 2m, got {value!r}")
    if length <= timedelta(0):
        raise ValueError("must be above 0")
    return length


# Durations dump to JSON as they are written (28d, 500ms), so a dumped spec reads back.
_AS_WRITTEN = PlainSerializer(lambda value: value if value == "month" else format_duration(value), when_used="json")


def _percent(value: float) -> float:
    if value <= 0:
        raise ValueError("must be above 0")
    if value >= 100:
        raise ValueError("must be below 100")
    return value


def _slice_percent(value: float) -> float:
    if value <= 0:
        raise ValueError("must be above 0")
    if value > 100:
        raise ValueError("must be at most 100")
    return value


def _problems(found: list[tuple[Loc, str]]) -> PydanticCustomError:
    """Several problems found by one model validator, each at its path inside the model."""
    text = "; ".join(f"{format_path(loc)}: {message}" for loc, message in found)
    return PydanticCustomError("slo_problems", "{text}", {"text": text, "problems": tuple(found)})


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class MatcherSpec(_Spec):
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
            raise _problems(found)
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


class _SliSpec(_Spec):
    """What every SLI kind has: the events it reads and a filter on them."""

    kind: str
    over: EventsName
    filter: tuple[MatcherSpec, ...] = ()

    @model_validator(mode="after")
    def _check_events(self) -> _SliSpec:
        found: list[tuple[Loc, str]] = []
        allowed = EVENTS_BY_KIND[self.kind]
        if self.over not in allowed:
            only = " only" if len(allowed) == 1 else ""
            found.append((("over",), f"{self.kind} is measured over {' or '.join(allowed)}{only}, got {self.over!r}"))
        for field in ("filter", "errors"):
            found.extend(_matcher_problems(field, getattr(self, field, ()), self.over))
        if found:
            raise _problems(found)
        return self


def _matcher_problems(field: str, matchers: tuple[MatcherSpec, ...], over: str) -> list[tuple[Loc, str]]:
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


class AvailabilitySpec(_SliSpec):
    """Good events are the successful ones (status not Error; a task that succeeded)."""

    kind: Literal["availability"]
    over: EventsName = EVENTS_BY_KIND["availability"][0]


class ErrorRateSpec(_SliSpec):
    """Availability said from the other side: bad events are failures matching every `errors` matcher."""

    kind: Literal["error_rate"]
    over: EventsName = EVENTS_BY_KIND["error_rate"][0]
    errors: tuple[MatcherSpec, ...] = ()


class LatencySpec(_SliSpec):
    """Good events last at most `threshold` ("p95 under 30s" is objective 95, threshold 30s)."""

    kind: Literal["latency"]
    over: EventsName = EVENTS_BY_KIND["latency"][0]
    threshold: Annotated[timedelta, BeforeValidator(_threshold), _AS_WRITTEN]


class CostSpec(_SliSpec):
    """Good events cost at most `threshold_usd`."""

    kind: Literal["cost"]
    over: EventsName = EVENTS_BY_KIND["cost"][0]
    threshold_usd: float

    @field_validator("threshold_usd")
    @classmethod
    def _check_threshold(cls, usd: float) -> float:
        if usd <= 0:
            raise ValueError("must be above 0")
        return usd


class CacheHitRateSpec(_SliSpec):
    """Good are cache-read input tokens, total all input tokens, of model calls."""

    kind: Literal["cache_hit_rate"]
    over: EventsName = EVENTS_BY_KIND["cache_hit_rate"][0]


class ToolSuccessSpec(_SliSpec):
    """Good events are tool calls that did not fail."""

    kind: Literal["tool_success"]
    over: EventsName = EVENTS_BY_KIND["tool_success"][0]


SliSpec = Annotated[
    AvailabilitySpec | ErrorRateSpec | LatencySpec | CostSpec | CacheHitRateSpec | ToolSuccessSpec,
    Field(discriminator="kind"),
]


class OccurrencesSpec(_Spec):
    """The budget is a share of the events: every bad event spends some."""

    method: Literal["occurrences"] = "occurrences"


class TimeslicesSpec(_Spec):
    """The budget is a share of time: a slice is bad when its own SLI is under `slice_objective`."""

    method: Literal["timeslices"]
    slice: Annotated[timedelta, BeforeValidator(_slice), _AS_WRITTEN]
    slice_objective: float

    @field_validator("slice_objective")
    @classmethod
    def _check_slice_objective(cls, percent: float) -> float:
        return _slice_percent(percent)


def _budgeting(value: object) -> object:
    # `budgeting: occurrences` is short for `budgeting: {method: occurrences}`.
    return {"method": value} if isinstance(value, str) else value


BudgetingSpec = Annotated[
    OccurrencesSpec | TimeslicesSpec,
    Field(discriminator="method"),
    BeforeValidator(_budgeting),
]


class SloSpec(_Spec):
    """One SLO as written in the config file, version 1."""

    name: str
    description: str = ""
    objective: float
    window: Annotated[timedelta | Literal["month"], BeforeValidator(_window), _AS_WRITTEN]
    budgeting: BudgetingSpec = OccurrencesSpec()
    sli: SliSpec

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError("must start with a lowercase letter and hold only a-z, 0-9, '-' and '_' "
                             f"(at most 63 characters), got {name!r}")
        return name

    @field_validator("objective")
    @classmethod
    def _check_objective(cls, percent: float) -> float:
        return _percent(percent)

    @model_validator(mode="after")
    def _check_slice(self) -> SloSpec:
        if not isinstance(self.budgeting, TimeslicesSpec):
            return self
        # A calendar month is whole days, so a slice dividing a day divides every month.
        span = self.window if isinstance(self.window, timedelta) else timedelta(days=1)
        slice_ = self.budgeting.slice
        if slice_ % timedelta(minutes=1):
            raise _problems([(("budgeting", "slice"), "must be whole minutes (rollups are per minute)")])
        if slice_ >= span or span % slice_:
            what = "a day" if self.window == "month" else f"the window ({format_duration(span)})"
            raise _problems([(("budgeting", "slice"),
                              f"must divide {what} into whole slices, got {format_duration(slice_)}")])
        return self


# ----------------------------------------------------------------------------- parsing


def parse_slo_specs(items: object, *, where: str) -> tuple[SloSpec, ...]:
    """Validate the `slos:` list as read from YAML; `where` prefixes each problem.

    With `where="agentslo.yaml: slos"` a problem reads
    `agentslo.yaml: slos[1] (checkout-availability).objective: must be below 100`.
    Raises ConfigError listing every problem of every SLO, duplicate names included.
    """
    return parse_named_list(items, where=where, noun=("SLO", "SLOs"), validate=validate_slo_spec)


def parse_named_list(items: object, *, where: str, noun: tuple[str, str],
                     validate: Callable[[object], _Named | list[tuple[Loc, str]]]) -> tuple[_Named, ...]:
    """Validate a YAML list of named specs (SLOs, spend budgets): each item with `validate`,
    which returns the spec or its problems; names must be unique. `noun` is (singular, plural).

    Raises ConfigError listing every problem, each prefixed `where[index] (name)`.
    """
    if not isinstance(items, list):
        raise ConfigError([f"{where}: must be a list of {noun[1]}, got {type(items).__name__}"])
    problems: list[str] = []
    specs: list[_Named] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(items):
        name = item.get("name") if isinstance(item, Mapping) else None
        label = f"{where}[{index}]" + (f" ({name})" if isinstance(name, str) and name else "")
        result = validate(item)
        if isinstance(result, list):
            problems.extend(_join(label, loc, message) for loc, message in result)
            continue
        specs.append(result)
        if result.name in first_index:
            problems.append(f"{label}.name: must be unique; the {noun[0]} at index {first_index[result.name]} has it too")
        first_index.setdefault(result.name, index)
    if problems:
        raise ConfigError(problems)
    return tuple(specs)


def validate_slo_spec(item: object) -> SloSpec | list[tuple[Loc, str]]:
    """`item` as an SloSpec, or its problems, each as (path in the spec, message)."""
    if not isinstance(item, Mapping):
        return [((), f"must be a mapping with name, objective, window and sli, got {type(item).__name__}")]
    try:
        return SloSpec.model_validate(item)
    except ValidationError as exc:
        return [problem for err in exc.errors() for problem in _describe(err)]


def _join(label: str, loc: Loc, message: str) -> str:
    path = format_path(loc)
    if not path:
        return f"{label}: {message}"
    return f"{label}{path if path.startswith('[') else '.' + path}: {message}"


def format_path(loc: Loc) -> str:
    """A field path as written in messages: sli.filter[0].value."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# Fields holding a discriminated union, with their discriminator and tags: pydantic
# puts the tag in the error path (sli.latency.threshold), the file does not (sli.threshold).
_UNIONS = {"sli": "kind", "budgeting": "method"}
_TAGS = {"sli": tuple(EVENTS_BY_KIND), "budgeting": ("occurrences", "timeslices")}


def _describe(err: Any) -> list[tuple[Loc, str]]:
    raw: Loc = tuple(err["loc"])
    loc: Loc = tuple(part for i, part in enumerate(raw) if not (i == 1 and raw[0] in _UNIONS))
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "slo_problems":
        return [(loc + sub, message) for sub, message in ctx["problems"]]
    if kind == "union_tag_invalid":
        return [(loc + (_UNIONS[str(loc[0])],), f"must be one of: {', '.join(_TAGS[str(loc[0])])}; got {ctx['tag']!r}")]
    if kind == "union_tag_not_found":
        return [(loc + (_UNIONS[str(loc[0])],), f"missing (one of: {', '.join(_TAGS[str(loc[0])])})")]
    if kind == "extra_forbidden":
        known = _known_fields(raw[:-1])
        return [(loc, "unknown field" + (f" (expected one of: {', '.join(known)})" if known else ""))]
    if kind == "missing":
        return [(loc, "missing")]
    if kind == "literal_error":
        return [(loc, "must be " + ctx["expected"])]
    if kind == "value_error":
        return [(loc, str(ctx["error"]))]
    if kind in ("tuple_type", "list_type"):
        return [(loc, "must be a list")]
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return [(loc, "must be a mapping")]
    message = err["msg"]
    return [(loc, (message[:1].lower() + message[1:]).replace("input should be", "must be"))]


def _known_fields(raw: Loc) -> list[str]:
    """Field names of the model at `raw` (a pydantic error path, union tags included)."""
    current: Any = SloSpec
    for part in raw:
        current = _unwrap(current)
        if isinstance(part, int):
            if typing.get_origin(current) is not tuple:
                return []
            current = typing.get_args(current)[0]
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            if field is None:
                return []
            current = field.annotation
        else:
            current = next((member for member in _members(current) if _has_tag(member, part)), None)
            if current is None:
                return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    members = [m for m in _members(annotation) if m is not type(None)]
    return members[0] if len(members) == 1 else annotation


def _members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _has_tag(model: Any, tag: str) -> bool:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return False
    return any(
        typing.get_origin(field.annotation) is Literal and tag in typing.get_args(field.annotation)
        for field in model.model_fields.values()
    )
