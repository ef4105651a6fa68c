"""Error budgets and burn rates: pure arithmetic on counts, ratios and durations.

Targets are 0-1 ratios (99.9% is 0.999). An SLI over a window is a ratio of sums,
total good events over total events, never an average of per-minute ratios; with
no events there is no data, reported as None, never as 100% and never as NaN.

Worked example (SRE Workbook, ch. 5 "Alerting on SLOs"): a 99.9% objective over
30 days has an error budget of 0.1%, i.e. 43.2 minutes of full outage. Burning at
14.4x for one hour spends 14.4 * 1h / 720h = 2% of it; at that rate the whole
budget lasts 720h / 14.4 = 50 hours.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class EventCounts:
    """Good and total events (or tokens, for cache hit rate) over some span of time."""

    good_events: float = 0
    total_events: float = 0

    def __post_init__(self) -> None:
        if not 0 <= self.good_events <= self.total_events:
            raise ValueError(f"need 0 <= good_events <= total_events, got {self.good_events} and {self.total_events}")

    def __add__(self, other: EventCounts) -> EventCounts:
        return EventCounts(self.good_events + other.good_events, self.total_events + other.total_events)

    @property
    def bad_events(self) -> float:
        """Events that were not good."""
        return self.total_events - self.good_events

    @property
    def sli(self) -> float | None:
        """Good over total; None when there were no events."""
        return sli(self.good_events, self.total_events)

    @property
    def error_ratio(self) -> float | None:
        """Bad over total; None when there were no events."""
        return None if not self.total_events else self.bad_events / self.total_events


def sli(good_events: float, total_events: float) -> float | None:
    """The SLI as good / total: None (no data) when total is zero, never NaN or infinity."""
    return None if not total_events else good_events / total_events


def sum_counts(counts: Iterable[EventCounts]) -> EventCounts:
    """The counts of a window from the counts of its parts (e.g. per-minute rollups).

    Take the SLI of the sum, not the mean of the parts' SLIs: a quiet minute with
    one failed event must not weigh as much as a busy one.
    """
    total = EventCounts()
    for part in counts:
        total = total + part
    return total


def error_budget(target: float) -> float:
    """The share of events allowed to be bad: 1 - target (0.001 for 99.9%)."""
    return 1 - target


def error_budget_duration(target: float, window: timedelta) -> timedelta:
    """The budget as time of full outage: 99.9% over 30 days allows 43.2 minutes."""
    return error_budget(target) * window


def error_budget_remaining(counts: EventCounts, target: float) -> float | None:
    """The fraction of the window's budget left: 1 untouched, 0 spent, negative overspent.

    Equals 1 - bad / (total * (1 - target)); None when there were no events.
    Never above 1, since bad events cannot be fewer than none.
    """
    if not counts.total_events:
        return None
    return 1 - counts.bad_events / (counts.total_events * error_budget(target))


def error_budget_remaining_events(counts: EventCounts, target: float) -> float:
    """How many more bad events the budget allows: total * (1 - target) - bad; negative when overspent."""
    return counts.total_events * error_budget(target) - counts.bad_events


def burn_rate(error_ratio: float, target: float) -> float:
    """How fast the budget burns: the error ratio over the budget, error_ratio / (1 - target).

    1.0 spends exactly the budget by the end of the window; 14.4 spends a 30-day
    budget in 50 hours.
    """
    return error_ratio / error_budget(target)


def budget_consumed(burn_rate: float, duration: timedelta, window: timedelta) -> float:
    """The fraction of the window's budget spent by burning at `burn_rate` for `duration`."""
    return burn_rate * (duration / window)


def time_to_exhaustion(budget_remaining: float, burn_rate: float, window: timedelta) -> timedelta | None:
    """How long the remaining budget lasts at `burn_rate`: remaining * window / burn_rate.

    None when nothing burns (rate zero: it lasts forever); zero when the budget is already spent.
    """
    if budget_remaining <= 0:
        return timedelta(0)
    if burn_rate <= 0:
        return None
    return budget_remaining * window / burn_rate


# ----------------------------------------------------------------------------- timeslices


@dataclass(frozen=True)
class SliceCounts:
    """Slices judged good and bad; slices without events are neither."""

    good_slices: int = 0
    bad_slices: int = 0

    @property
    def sli(self) -> float | None:
        """Good slices over slices with data; None when no slice had data."""
        return sli(self.good_slices, self.good_slices + self.bad_slices)


def count_slices(slices: Iterable[EventCounts], slice_target: float) -> SliceCounts:
    """Judge each slice by its own SLI: good when at least `slice_target`, bad when under.

    A slice without events is no data, counted neither good nor bad.
    """
    good = bad = 0
    for counts in slices:
        ratio = counts.sli
        if ratio is None:
            continue
        if ratio >= slice_target:
            good += 1
        else:
            bad += 1
    return SliceCounts(good, bad)


def slices_in(window: timedelta, slice_length: timedelta) -> int:
    """How many slices make up `window` (the spec guarantees they divide it)."""
    return window // slice_length


def timeslice_budget(slices: SliceCounts, slices_in_window: int) -> EventCounts:
    """The window's slices as events for the budget functions: only bad slices spend budget.

    With timeslices the budget is time: (1 - target) * slices_in_window slices may
    be bad. Slices without data, and those still to come in a calendar month,
    spend nothing, so they count as good here (the SLI itself is `SliceCounts.sli`).
    """
    return EventCounts(good_events=slices_in_window - slices.bad_slices, total_events=slices_in_window)


# ----------------------------------------------------------------------------- alert windows


class Severity(enum.Enum):
    """Who an alert goes to: a page wakes someone now, a ticket waits for working hours."""

    PAGE = "page"
    TICKET = "ticket"


@dataclass(frozen=True)
class AlertWindow:
    """One multi-window burn-rate alert: fire when both windows burn faster than `burn_factor`."""

    severity: Severity
    long_window: timedelta
    short_window: timedelta
    budget_share: float
    burn_factor: float


# The window the SRE Workbook's table is written for.
WORKBOOK_WINDOW = timedelta(days=30)

# Multiwindow, multi-burn-rate alerts for a 30-day window: (severity, long window,
# short window, share of the budget spent when the long window fires). Other windows
# scale both alert windows and keep the share, so the burn factors stay the same.
WORKBOOK_ALERT_WINDOWS: tuple[tuple[Severity, timedelta, timedelta, float], ...] = (
    # SRE Workbook ch. 5, "Multiwindow, Multi-Burn-Rate Alerts", 99.9% table: page, 2% in 1h (14.4x), short window 5m.
    (Severity.PAGE, timedelta(hours=1), timedelta(minutes=5), 0.02),
    # Same table: page, 5% in 6h (6x), short window 30m.
    (Severity.PAGE, timedelta(hours=6), timedelta(minutes=30), 0.05),
    # The Workbook's 10% ticket share over 1d (3x), short window 2h, as Sloth's default 30d windows add it.
    (Severity.TICKET, timedelta(days=1), timedelta(hours=2), 0.10),
    # Same Workbook table: ticket, 10% in 3d (1x), short window 6h.
    (Severity.TICKET, timedelta(days=3), timedelta(hours=6), 0.10),
)


def burn_factor(budget_share: float, window: timedelta, long_window: timedelta) -> float:
    """The burn rate that spends `budget_share` of the window's budget in `long_window`.

    budget_share * window / long_window: 2% of a 30-day budget in one hour is
    0.02 * 720 = 14.4. Rounded to 6 decimals, so thresholds read as the Workbook
    writes them (14.4, not 14.399999999999999).
    """
    return round(budget_share * (window / long_window), 6)


def alert_windows(window: timedelta) -> tuple[AlertWindow, ...]:
    """The Workbook's alert windows scaled from 30 days to `window`, whole minutes each.

    Rollups are per minute, so each alert window is rounded to the nearest minute
    (at least one), and the burn factor is computed from the rounded long window
    so that it still spends the row's share of the budget. For 28 days the page
    windows are 56m and 5m at 14.4x; for 7 days 14m and 1m. Under about 8 hours
    both pages round to the same windows: they are one alert (its labels are its
    windows), at the lower factor, which fires first.
    """
    scale = window / WORKBOOK_WINDOW
    rows: list[AlertWindow] = []
    for severity, long_window, short_window, share in WORKBOOK_ALERT_WINDOWS:
        long_scaled = _whole_minutes(long_window * scale)
        row = AlertWindow(
            severity=severity,
            long_window=long_scaled,
            short_window=_whole_minutes(short_window * scale),
            budget_share=share,
            burn_factor=burn_factor(share, window, long_scaled),
        )
        same = [i for i, kept in enumerate(rows) if (kept.severity, kept.long_window, kept.short_window)
                == (row.severity, row.long_window, row.short_window)]
        if not same:
            rows.append(row)
        elif row.burn_factor < rows[same[0]].burn_factor:
            rows[same[0]] = row
    return tuple(rows)


def _whole_minutes(duration: timedelta) -> timedelta:
    return max(math.floor(duration / _MINUTE + 0.5), 1) * _MINUTE


# ----------------------------------------------------------------------------- calendar


def calendar_month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) holding `now`: its first instant and the next month's first.

    `now` must carry a time zone; it is read in UTC, where AgentSLO's months are.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return start, end
