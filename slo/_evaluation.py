"""An SLO's status as of a moment, from counts read out of the rollups: pure.

Evaluation covers whole minutes whose events are all known, and says up to
where (`data_through`). Spans count once their minute is over: as of `now`, a
span SLO's windows end at the start of the current minute. A task is known only
once it is derived, `grace` after it ends (its late children still count), so a
task SLO's windows end at the start of the minute holding `now - grace`. Every
window, short alert windows included, ends there: a 1-minute window then holds
a whole minute of tasks, never the minute not derived yet. The same `now`
always reads the same minutes.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from slo._budget import (
    EventCounts,
    SliceCounts,
    burn_rate,
    count_slices,
    error_budget_remaining,
    error_budget_remaining_events,
    slices_in,
    sum_counts,
    time_to_exhaustion,
    timeslice_budget,
)
from slo._filters import Events
from slo._model import SLO, Timeslices

_MINUTE = timedelta(minutes=1)

# How long after a task's span ends its last spans may still arrive and be
# counted: the OTel SDK's batch span processor exports every 5 s, and a
# collector between agent and AgentSLO batches again; two minutes leaves room.
DEFAULT_GRACE = timedelta(minutes=2)

# Burn rates reported for every SLO, besides its own alert windows: the
# SRE Workbook's long and short alert windows for a 30-day SLO (ch. 5, table of
# multiwindow, multi-burn-rate alerts), so that dashboards compare SLOs alike.
REPORTED_BURN_WINDOWS: tuple[timedelta, ...] = (
    timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=1), timedelta(hours=2),
    timedelta(hours=6), timedelta(days=1), timedelta(days=3),
)

# Time to exhaustion projects the burn rate of the last hour: recent
# enough to follow an incident, long enough not to swing with every minute.
EXHAUSTION_BURN_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class BurnRate:
    """How fast the budget burned over the last `window`; None without events in it.

    `events` are the good and total events in the window. The rate is computed
    from `counts`: the events, or under timeslice budgeting the window's slices.
    """

    window: timedelta
    counts: EventCounts
    burn_rate: float | None
    events: EventCounts


@dataclass(frozen=True)
class SloStatus:
    """An SLO evaluated as of `evaluated_at`, over the minutes [window_start, window_end).

    `window_end` is where the data is complete (`data_through`): the start of
    the current minute for span SLOs, the task watermark's minute for task SLOs.
    `sli`, `error_budget_remaining` and `error_budget_remaining_events` are None
    when the window had no events: no data is not good data. Under timeslice
    budgeting the SLI is the share of good slices, `slices` says how many, and the
    remaining budget counts slices rather than events.
    """

    slo: SLO
    evaluated_at: datetime
    window_start: datetime
    window_end: datetime
    counts: EventCounts
    slices: SliceCounts | None
    sli: float | None
    error_budget_remaining: float | None
    error_budget_remaining_events: float | None
    burn_rates: tuple[BurnRate, ...]
    time_to_exhaustion: timedelta | None
    enough_data: bool

    @property
    def error_budget(self) -> float:
        """The share of events (or slices) allowed to be bad: 1 - target."""
        return self.slo.error_budget

    @property
    def data_through(self) -> datetime:
        """Up to where the SLI counts every event: the end of every window."""
        return self.window_end

    def burn_rate(self, window: timedelta) -> float | None:
        """The burn rate over the last `window`, one of `burn_windows(slo)`."""
        for rate in self.burn_rates:
            if rate.window == window:
                return rate.burn_rate
        raise KeyError(f"{self.slo.name}: no burn rate over {window}")


def evaluation_end(now: datetime) -> datetime:
    """Where span windows evaluated at `now` end: the start of its minute, in UTC."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC).replace(second=0, microsecond=0)


def data_through(slo: SLO, now: datetime, grace: timedelta = DEFAULT_GRACE) -> datetime:
    """Where the SLO's windows end as of `now`: the last minute boundary up to which every event is known.

    Tasks are derived up to `now - grace` (the task watermark), spans are known
    once their minute is over.
    """
    if slo.indicator.events is Events.TASKS:
        return evaluation_end(now - grace)
    return evaluation_end(now)


def window_bounds(slo: SLO, now: datetime, grace: timedelta = DEFAULT_GRACE) -> tuple[datetime, datetime]:
    """The minutes of the SLO's window as of `now`: [start, end), end on a minute (`data_through`)."""
    end = data_through(slo, now, grace)
    start, _ = slo.window.bounds(end)
    return start, end


def burn_windows(slo: SLO) -> tuple[timedelta, ...]:
    """Every window a burn rate is reported over: the fixed set and the SLO's alert windows, shortest first."""
    own = {w for alert in slo.alert_windows for w in (alert.long_window, alert.short_window)}
    return tuple(sorted(set(REPORTED_BURN_WINDOWS) | own))


def earliest_read(slo: SLO, now: datetime, grace: timedelta = DEFAULT_GRACE) -> datetime:
    """The oldest minute an evaluation at `now` reads: the window's start or the longest burn window's."""
    start, end = window_bounds(slo, now, grace)
    longest = max(burn_windows(slo))
    if isinstance(slo.budgeting, Timeslices):
        longest = max(longest, slo.budgeting.slice)
    return min(start, end - longest)


def occurrences_status(slo: SLO, now: datetime, counts: EventCounts,
                       burn_counts: Mapping[timedelta, EventCounts], *,
                       grace: timedelta = DEFAULT_GRACE) -> SloStatus:
    """The status of an SLO budgeted by occurrences from the window's counts and each burn window's."""
    start, end = window_bounds(slo, now, grace)
    remaining = error_budget_remaining(counts, slo.target)
    rates = tuple(_burn(slo, window, burn_counts[window], burn_counts[window]) for window in burn_windows(slo))
    return SloStatus(
        slo=slo,
        evaluated_at=now,
        window_start=start,
        window_end=end,
        counts=counts,
        slices=None,
        sli=counts.sli,
        error_budget_remaining=remaining,
        error_budget_remaining_events=(None if remaining is None
                                       else error_budget_remaining_events(counts, slo.target)),
        burn_rates=rates,
        time_to_exhaustion=_exhaustion(slo, remaining, rates),
        enough_data=_enough(counts.total_events, slo),
    )


def timeslices_status(slo: SLO, now: datetime, counts: EventCounts,
                      slices: Sequence[tuple[datetime, EventCounts]], *,
                      grace: timedelta = DEFAULT_GRACE) -> SloStatus:
    """The status of an SLO budgeted by timeslices.

    `slices` holds each slice with events from `earliest_read` on, in order of
    start (slices lie on multiples of their length since the epoch). The window's
    slices are those starting in it; a burn window over w judges the slices
    starting in its last max(w, slice), slices without events counting as good;
    its `events` are those of the slices it judges.
    """
    if not isinstance(slo.budgeting, Timeslices):
        raise ValueError(f"{slo.name}: not budgeted by timeslices")
    length, target = slo.budgeting.slice, slo.budgeting.slice_target
    start, end = window_bounds(slo, now, grace)
    starts = [slice_start for slice_start, _ in slices]

    def in_range(since: datetime) -> list[EventCounts]:
        return [c for _, c in slices[bisect_left(starts, since):bisect_left(starts, end)]]

    def judged(since: datetime) -> SliceCounts:
        return count_slices(in_range(since), target)

    in_window = judged(start)
    whole_window = slo.window.bounds(end)
    budget = timeslice_budget(in_window, slices_in(whole_window[1] - whole_window[0], length))
    remaining = None if in_window.sli is None else error_budget_remaining(budget, slo.target)
    rates = []
    for window in burn_windows(slo):
        since = end - max(window, length)
        grid = _grid_starts(since, end, length)
        rates.append(_burn(slo, window, EventCounts(grid - judged(since).bad_slices, grid),
                           sum_counts(in_range(since))))
    return SloStatus(
        slo=slo,
        evaluated_at=now,
        window_start=start,
        window_end=end,
        counts=counts,
        slices=in_window,
        sli=in_window.sli,
        error_budget_remaining=remaining,
        error_budget_remaining_events=(None if remaining is None
                                       else error_budget_remaining_events(budget, slo.target)),
        burn_rates=tuple(rates),
        time_to_exhaustion=_exhaustion(slo, remaining, tuple(rates)),
        enough_data=_enough(in_window.good_slices + in_window.bad_slices, slo),
    )


def _burn(slo: SLO, window: timedelta, counts: EventCounts, events: EventCounts) -> BurnRate:
    ratio = counts.error_ratio
    return BurnRate(window, counts, None if ratio is None else burn_rate(ratio, slo.target), events)


def _exhaustion(slo: SLO, remaining: float | None, rates: tuple[BurnRate, ...]) -> timedelta | None:
    rate = next(r.burn_rate for r in rates if r.window == EXHAUSTION_BURN_WINDOW)
    if remaining is None or rate is None:
        return None
    return time_to_exhaustion(remaining, rate, slo.window.nominal_length)


def _enough(events: float, slo: SLO) -> bool:
    """Enough data when the budget allows at least one whole bad event (or slice).

    Under that, one bad event spends more than the whole budget and the SLI
    says more about chance than about the service.
    """
    return round(events * slo.error_budget, 9) >= 1  # 10 events at 90% are enough, float error aside


def _grid_starts(since: datetime, end: datetime, length: timedelta) -> int:
    """How many slices (on multiples of `length` since the epoch) start in [since, end)."""
    step = int(length.total_seconds())
    return -(-int(end.timestamp()) // step) - -(-int(since.timestamp()) // step)
