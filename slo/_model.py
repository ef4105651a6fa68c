"""The SLO as a value: target ratio, window, budgeting and indicator, frozen.

The spec (`SloSpec`) converts once, in `slo_from_spec`; past that point objectives
are 0-1 ratios and durations are timedeltas. An indicator is the value of exactly
one SLI kind (slo._kinds), told apart by its type (`match indicator: case Latency(): ...`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from slo._budget import AlertWindow, alert_windows, calendar_month_bounds, error_budget
from slo._durations import format_duration
from slo._kinds import Indicator, indicator_from_spec
from slo._spec import SloSpec, TimeslicesSpec


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
        indicator=indicator_from_spec(spec.sli),
    )


def _ratio(percent: float) -> float:
    # Through the decimal text, so that 99.9 becomes 0.999 and not 0.9990000000000001.
    return float(Decimal(str(percent)) / 100)
