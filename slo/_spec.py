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

The `sli:` member of each kind lives with the rest of its kind in `slo._kinds`,
matchers in `slo._filters`. These types stop at `slo_from_spec`; nothing past it
reads them. Problems are reported as
`agentslo.yaml: slos[1] (checkout-availability).objective: must be below 100`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from ground.spec import Loc, Spec, parse_named_list, problems, problems_of
from slo._durations import format_duration, parse_duration
from slo._kinds import SliSpec

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
# A rolling window from one hour (shorter leaves the alert windows under a minute)
# to a year (a longer one is more likely a typo than an objective).
_MIN_WINDOW = timedelta(hours=1)
_MAX_WINDOW = timedelta(days=365)


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


# Durations dump to JSON as they are written (28d, 5m), so a dumped spec reads back.
_AS_WRITTEN = PlainSerializer(lambda value: value if value == "month" else format_duration(value), when_used="json")


def _percent(value: float) -> float:
    if value <= 0:
        raise ValueError("must be above 0")
    if value >= 100:
        raise ValueError("must be below 100")
    if value < 1:
        # A ratio where a percent belongs: 0.99 would ask for 0.99 % good events.
        raise ValueError(f"is a percent: {value:g} would mean {value:g} %; write {value * 100:g} for {value * 100:g} %")
    return value


def _slice_percent(value: float) -> float:
    if value <= 0:
        raise ValueError("must be above 0")
    if value > 100:
        raise ValueError("must be at most 100")
    return value


class OccurrencesSpec(Spec):
    """The budget is a share of the events: every bad event spends some."""

    method: Literal["occurrences"] = "occurrences"


class TimeslicesSpec(Spec):
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


class SloSpec(Spec):
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
            raise problems([(("budgeting", "slice"), "must be whole minutes (rollups are per minute)")])
        if slice_ >= span or span % slice_:
            what = "a day" if self.window == "month" else f"the window ({format_duration(span)})"
            raise problems([(("budgeting", "slice"),
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


def validate_slo_spec(item: object) -> SloSpec | list[tuple[Loc, str]]:
    """`item` as an SloSpec, or its problems, each as (path in the spec, message)."""
    if not isinstance(item, Mapping):
        return [((), f"must be a mapping with name, objective, window and sli, got {type(item).__name__}")]
    try:
        return SloSpec.model_validate(item)
    except ValidationError as exc:
        return [problem for err in exc.errors() for problem in problems_of(err, SloSpec)]
