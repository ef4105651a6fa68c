"""The SLO as a value: target ratio, window, budgeting and indicator, frozen.

The spec (`SloSpec`) converts once, in `slo_from_spec`; past that point objectives
are 0-1 ratios and durations are timedeltas. An indicator is exactly one of the
kinds below, told apart by its type (`match indicator: case Latency(): ...`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from slo._budget import AlertWindow, alert_windows, calendar_month_bounds, error_budget
from slo._spec import (
    AvailabilitySpec,
    CacheHitRateSpec,
    CostSpec,
    ErrorRateSpec,
    LatencySpec,
    MatcherSpec,
    SloSpec,
    TimeslicesSpec,
    ToolSuccessSpec,
    format_duration,
)


class Events(enum.Enum):
    """The events an SLI counts."""

    TASKS = "tasks"
    LLM_CALLS = "llm_calls"
    TOOL_CALLS = "tool_calls"
    SPANS = "spans"


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


@dataclass(frozen=True)
class Availability:
    """Good events are the successful ones."""

    events: Events
    filter: Filter = ()


@dataclass(frozen=True)
class ErrorRate:
    """Bad events are failed events matching every matcher in `errors` (all failures when empty)."""

    events: Events
    filter: Filter = ()
    errors: Filter = ()


@dataclass(frozen=True)
class Latency:
    """Good events last at most `threshold`."""

    events: Events
    threshold: timedelta
    filter: Filter = ()


@dataclass(frozen=True)
class Cost:
    """Good events cost at most `threshold_usd`."""

    events: Events
    threshold_usd: float
    filter: Filter = ()


@dataclass(frozen=True)
class CacheHitRate:
    """Good are cache-read input tokens, total all input tokens, of model calls."""

    filter: Filter = ()

    @property
    def events(self) -> Events:
        """Always model calls: they carry the token counts."""
        return Events.LLM_CALLS


@dataclass(frozen=True)
class ToolSuccess:
    """Good events are tool calls that did not fail."""

    filter: Filter = ()

    @property
    def events(self) -> Events:
        """Always tool calls."""
        return Events.TOOL_CALLS


Indicator = Availability | ErrorRate | Latency | Cost | CacheHitRate | ToolSuccess


@dataclass(frozen=True)
class RollingWindow:
    """The last `length` up to now."""

    length: timedelta

    @property
    def nominal_length(self) -> timedelta:
        """The length alert windows are scaled from."""
        return self.length

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        """The window ending at `now`."""
        return now - self.length, now

    def __str__(self) -> str:
        return format_duration(self.length)


@dataclass(frozen=True)
class CalendarMonth:
    """The calendar month (UTC) holding now; its budget starts afresh on the 1st."""

    @property
    def nominal_length(self) -> timedelta:
        """30 days, the Workbook's month, so that alert windows do not change from month to month."""
        return timedelta(days=30)

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        """The whole month holding `now`, which may still be running."""
        return calendar_month_bounds(now)

    def __str__(self) -> str:
        return "month"


Window = RollingWindow | CalendarMonth


@dataclass(frozen=True)
class Occurrences:
    """The budget is a share of the events."""


@dataclass(frozen=True)
class Timeslices:
    """The budget is a share of the window's slices; a slice is good when its SLI reaches `slice_target`."""

    slice: timedelta
    slice_target: float


Budgeting = Occurrences | Timeslices


@dataclass(frozen=True)
class SLO:
    """A service level objective: `target` (0-1) of the indicator's events good over `window`."""

    name: str
    description: str
    target: float
    window: Window
    budgeting: Budgeting
    indicator: Indicator

    @property
    def error_budget(self) -> float:
        """The share of events (or slices) allowed to be bad: 1 - target."""
        return error_budget(self.target)

    @property
    def alert_windows(self) -> tuple[AlertWindow, ...]:
        """The multi-window burn-rate alerts for this SLO's window."""
        return alert_windows(self.window.nominal_length)


def slo_from_spec(spec: SloSpec) -> SLO:
    """The domain value of a validated spec: percent becomes a ratio, text becomes types."""
    budgeting: Budgeting = Occurrences()
    if isinstance(spec.budgeting, TimeslicesSpec):
        budgeting = Timeslices(spec.budgeting.slice, _ratio(spec.budgeting.slice_objective))
    return SLO(
        name=spec.name,
        description=spec.description,
        target=_ratio(spec.objective),
        window=CalendarMonth() if spec.window == "month" else RollingWindow(spec.window),
        budgeting=budgeting,
        indicator=_indicator(spec.sli),
    )


def _indicator(sli: object) -> Indicator:
    match sli:
        case AvailabilitySpec():
            return Availability(Events(sli.over), _filter(sli.filter))
        case ErrorRateSpec():
            return ErrorRate(Events(sli.over), _filter(sli.filter), _filter(sli.errors))
        case LatencySpec():
            return Latency(Events(sli.over), sli.threshold, _filter(sli.filter))
        case CostSpec():
            return Cost(Events(sli.over), sli.threshold_usd, _filter(sli.filter))
        case CacheHitRateSpec():
            return CacheHitRate(_filter(sli.filter))
        case ToolSuccessSpec():
            return ToolSuccess(_filter(sli.filter))
    raise TypeError(f"not an SLI spec: {sli!r}")


def _filter(matchers: tuple[MatcherSpec, ...]) -> Filter:
    return tuple(_matcher(m) for m in matchers)


def _matcher(spec: MatcherSpec) -> Matcher:
    for source in MatchSource:
        name = getattr(spec, source.value)
        if name is not None:
            return Matcher(source, name, MatchOp(spec.op), spec.operands)
    raise ValueError(f"matcher names no column or attribute: {spec!r}")


def _ratio(percent: float) -> float:
    # Through the decimal text, so that 99.9 becomes 0.999 and not 0.9990000000000001.
    return float(Decimal(str(percent)) / 100)
