"""The SLI kinds: each one whole in one place, from what users write to its SQL. Pure.

A kind is one registry entry (`SliKind`, after Sloth's SLI plugins registered
by id): its config spec (pydantic, one member of the `sli:` discriminated
union), its frozen domain value, the events it may be measured over, and the
per-event SQL of its good and total amounts. Adding a kind is one spec class,
one value class, one SQL function and one entry in `KINDS`, plus its tests;
a kind missing from `KINDS` is an error at load, never a silent default.

    sli: {kind: latency, over: tasks, threshold: 30s, filter: [...]}

compiles (slo._sql.compile_sli) to agent_tasks rows with good amount
`Duration <= {threshold_ns:UInt64}` and total amount `1`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator, model_validator

from ground.spec import Loc, problems
from slo._durations import format_duration, parse_duration
from slo._filters import (
    ALL_EVENTS,
    Events,
    EventsName,
    Filter,
    MatcherSpec,
    and_sql,
    filter_from_spec,
    filter_sql,
    matcher_problems,
)

# ----------------------------------------------------------------------------- what every kind has


class SliSpecBase(BaseModel):
    """What every SLI kind's spec has: the events it reads and a filter on them."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    kind: str
    over: EventsName
    filter: tuple[MatcherSpec, ...] = ()

    @model_validator(mode="after")
    def _check_events(self) -> SliSpecBase:
        found: list[tuple[Loc, str]] = []
        allowed = KINDS[self.kind].events
        if self.over not in allowed:
            only = " only" if len(allowed) == 1 else ""
            found.append((("over",), f"{self.kind} is measured over {' or '.join(allowed)}{only}, got {self.over!r}"))
        for field in ("filter", "errors"):
            found.extend(matcher_problems(field, getattr(self, field, ()), self.over))
        if found:
            raise problems(found)
        return self


def _threshold(value: object) -> timedelta:
    length = parse_duration(value, units=("ms", "s", "m"), whole=False)
    if length is None:
        raise ValueError(f"must be a duration like 500ms, 30s or 2m, got {value!r}")
    if length <= timedelta(0):
        raise ValueError("must be above 0")
    return length


# Durations dump to JSON as they are written (500ms, 30s), so a dumped spec reads back.
_AS_WRITTEN = PlainSerializer(format_duration, when_used="json")


# ----------------------------------------------------------------------------- availability


class AvailabilitySpec(SliSpecBase):
    """Good events are the successful ones (status not Error; a task that succeeded)."""

    kind: Literal["availability"]
    over: EventsName = "tasks"


@dataclass(frozen=True)
class Availability:
    """Good events are the successful ones."""

    events: Events
    filter: Filter = ()


def _availability_sql(indicator: Availability, table: str, success: str, params: dict[str, str]) -> tuple[str, str]:
    return success, "1"


# ----------------------------------------------------------------------------- error rate


class ErrorRateSpec(SliSpecBase):
    """Availability said from the other side: bad events are failures matching every `errors` matcher."""

    kind: Literal["error_rate"]
    over: EventsName = "tasks"
    errors: tuple[MatcherSpec, ...] = ()


@dataclass(frozen=True)
class ErrorRate:
    """Bad events are failed events matching every matcher in `errors` (all failures when empty)."""

    events: Events
    filter: Filter = ()
    errors: Filter = ()


def _error_rate_sql(indicator: ErrorRate, table: str, success: str, params: dict[str, str]) -> tuple[str, str]:
    bad = and_sql(f"NOT ({success})", *filter_sql(indicator.errors, table, "e", params))
    return f"NOT ({bad})", "1"


# ----------------------------------------------------------------------------- latency


class LatencySpec(SliSpecBase):
    """Good events last at most `threshold` ("p95 under 30s" is objective 95, threshold 30s)."""

    kind: Literal["latency"]
    over: EventsName = "tasks"
    threshold: Annotated[timedelta, BeforeValidator(_threshold), _AS_WRITTEN]


@dataclass(frozen=True)
class Latency:
    """Good events last at most `threshold`."""

    events: Events
    threshold: timedelta
    filter: Filter = ()


def _latency_sql(indicator: Latency, table: str, success: str, params: dict[str, str]) -> tuple[str, str]:
    params["threshold_ns"] = str(indicator.threshold // timedelta(microseconds=1) * 1000)
    return "Duration <= {threshold_ns:UInt64}", "1"


# ----------------------------------------------------------------------------- cost


class CostSpec(SliSpecBase):
    """Good events cost at most `threshold_usd`."""

    kind: Literal["cost"]
    over: EventsName = "tasks"
    threshold_usd: float

    @field_validator("threshold_usd")
    @classmethod
    def _check_threshold(cls, usd: float) -> float:
        if usd <= 0:
            raise ValueError("must be above 0")
        return usd


@dataclass(frozen=True)
class Cost:
    """Good events cost at most `threshold_usd`."""

    events: Events
    threshold_usd: float
    filter: Filter = ()


def _cost_sql(indicator: Cost, table: str, success: str, params: dict[str, str]) -> tuple[str, str]:
    params["threshold_usd"] = repr(indicator.threshold_usd)
    return "CostUsd <= {threshold_usd:Float64}", "1"


# ----------------------------------------------------------------------------- cache hit rate


class CacheHitRateSpec(SliSpecBase):
    """Good are cache-read input tokens, total all input tokens, of model calls."""

    kind: Literal["cache_hit_rate"]
    over: EventsName = "llm_calls"


@dataclass(frozen=True)
class CacheHitRate:
    """Good are cache-read input tokens, total all input tokens, of model calls."""

    filter: Filter = ()

    @property
    def events(self) -> Events:
        """Always model calls: they carry the token counts."""
        return Events.LLM_CALLS


def _cache_hit_rate_sql(indicator: CacheHitRate, table: str, success: str,
                        params: dict[str, str]) -> tuple[str, str]:
    # Input tokens include cache reads (GenAI conventions); a producer that
    # counts them apart must not push the SLI over 1.
    return "least(CacheReadTokens, InputTokens)", "InputTokens"


# ----------------------------------------------------------------------------- tool success


class ToolSuccessSpec(SliSpecBase):
    """Good events are tool calls that did not fail."""

    kind: Literal["tool_success"]
    over: EventsName = "tool_calls"


@dataclass(frozen=True)
class ToolSuccess:
    """Good events are tool calls that did not fail."""

    filter: Filter = ()

    @property
    def events(self) -> Events:
        """Always tool calls."""
        return Events.TOOL_CALLS


# ----------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class SliKind:
    """One SLI kind: its name in the config, its spec and value types, the events it may be measured
    over (the first is the default), the value of a validated spec, and its SQL.

    `sql(indicator, table, success, params)` gives the per-event good and total
    amounts as SQL over `table` (`success` is the table's success condition),
    adding the parameters it uses to `params`.
    """

    name: str
    spec: type[SliSpecBase]
    value: type
    events: tuple[EventsName, ...]
    from_spec: Callable[[Any], Any]
    sql: Callable[[Any, str, str, dict[str, str]], tuple[str, str]]


KINDS: dict[str, SliKind] = {kind.name: kind for kind in (
    SliKind("availability", AvailabilitySpec, Availability, ALL_EVENTS,
            lambda s: Availability(Events(s.over), filter_from_spec(s.filter)), _availability_sql),
    SliKind("error_rate", ErrorRateSpec, ErrorRate, ALL_EVENTS,
            lambda s: ErrorRate(Events(s.over), filter_from_spec(s.filter), filter_from_spec(s.errors)),
            _error_rate_sql),
    SliKind("latency", LatencySpec, Latency, ALL_EVENTS,
            lambda s: Latency(Events(s.over), s.threshold, filter_from_spec(s.filter)), _latency_sql),
    # Only a task (the sum of its calls) and a model call carry a cost.
    SliKind("cost", CostSpec, Cost, ("tasks", "llm_calls"),
            lambda s: Cost(Events(s.over), s.threshold_usd, filter_from_spec(s.filter)), _cost_sql),
    # Cache-read and input tokens are reported on model calls.
    SliKind("cache_hit_rate", CacheHitRateSpec, CacheHitRate, ("llm_calls",),
            lambda s: CacheHitRate(filter_from_spec(s.filter)), _cache_hit_rate_sql),
    SliKind("tool_success", ToolSuccessSpec, ToolSuccess, ("tool_calls",),
            lambda s: ToolSuccess(filter_from_spec(s.filter)), _availability_sql),
)}

Indicator = Availability | ErrorRate | Latency | Cost | CacheHitRate | ToolSuccess

# The `sli:` section: one member per kind, told apart by `kind`.
SliSpec = Annotated[Union[tuple(kind.spec for kind in KINDS.values())], Field(discriminator="kind")]  # noqa: UP007

_BY_VALUE = {kind.value: kind for kind in KINDS.values()}


def kind_of(indicator: object) -> SliKind:
    """The registry entry of an indicator value; TypeError for a value no kind declares."""
    try:
        return _BY_VALUE[type(indicator)]
    except KeyError:
        raise TypeError(f"not an SLI kind's value: {indicator!r}") from None


def indicator_from_spec(spec: SliSpecBase) -> Indicator:
    """The domain value of a validated `sli:` spec."""
    return KINDS[spec.kind].from_spec(spec)
