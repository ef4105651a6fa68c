"""Specification of SLI and error-budget arithmetic, with the SRE Workbook's hand-computed cases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slo import (
    EventCounts,
    budget_consumed,
    burn_rate,
    error_budget,
    error_budget_duration,
    error_budget_remaining,
    error_budget_remaining_events,
    sli,
    sum_counts,
    time_to_exhaustion,
)

THIRTY_DAYS = timedelta(days=30)

# ----------------------------------------------------------------------------- the Workbook's 99.9% over 30 days


def test_a_999_objective_over_30_days_allows_43_2_minutes_of_full_outage() -> None:
    assert error_budget(0.999) == pytest.approx(0.001)
    assert error_budget_duration(0.999, THIRTY_DAYS) == timedelta(minutes=43, seconds=12)


@pytest.mark.parametrize(
    ("rate", "duration", "share"),
    [
        pytest.param(14.4, timedelta(hours=1), 0.02, id="14.4x for 1 hour spends 2 percent"),
        pytest.param(6, timedelta(hours=6), 0.05, id="6x for 6 hours spends 5 percent"),
        pytest.param(3, timedelta(days=1), 0.10, id="3x for 1 day spends 10 percent"),
        pytest.param(1, timedelta(days=3), 0.10, id="1x for 3 days spends 10 percent"),
        pytest.param(1, THIRTY_DAYS, 1.0, id="1x for the whole window spends all of it"),
    ],
)
def test_budget_consumed_by_a_burn_rate(rate: float, duration: timedelta, share: float) -> None:
    assert budget_consumed(rate, duration, THIRTY_DAYS) == pytest.approx(share)


@pytest.mark.parametrize(
    ("error_ratio", "rate"),
    [
        pytest.param(0.001, 1.0, id="an error ratio equal to the budget burns at 1x"),
        pytest.param(0.0144, 14.4, id="1.44 percent errors burn a 0.1 percent budget at 14.4x"),
        pytest.param(0.0, 0.0, id="no errors burn nothing"),
        pytest.param(1.0, 1000.0, id="a full outage burns at 1 / budget"),
    ],
)
def test_burn_rate_is_the_error_ratio_over_the_budget(error_ratio: float, rate: float) -> None:
    assert burn_rate(error_ratio, 0.999) == pytest.approx(rate)


# ----------------------------------------------------------------------------- the SLI


def test_the_sli_is_a_ratio_of_sums_not_an_average_of_ratios() -> None:
    # A quiet minute with one failure of two events, then a busy minute with one failure in a thousand.
    minutes = [EventCounts(good_events=1, total_events=2), EventCounts(good_events=999, total_events=1000)]
    average_of_ratios = sum(m.sli for m in minutes if m.sli is not None) / len(minutes)
    assert average_of_ratios == pytest.approx(0.7495)
    assert sum_counts(minutes).sli == pytest.approx(1000 / 1002)
    assert sum_counts(minutes) == EventCounts(good_events=1000, total_events=1002)


@pytest.mark.parametrize(
    ("good", "total", "expected"),
    [
        pytest.param(0, 0, None, id="no events is no data, not 100 percent and not NaN"),
        pytest.param(0, 10, 0.0, id="all events bad"),
        pytest.param(10, 10, 1.0, id="all events good"),
        pytest.param(995, 1000, 0.995, id="a plain ratio"),
    ],
)
def test_sli(good: float, total: float, expected: float | None) -> None:
    assert sli(good, total) == expected
    assert EventCounts(good, total).sli == expected


def test_a_window_without_events_has_no_sli_no_error_ratio_and_no_budget_figure() -> None:
    empty = sum_counts([EventCounts(), EventCounts()])
    assert (empty.sli, empty.error_ratio, error_budget_remaining(empty, 0.999)) == (None, None, None)


def test_counts_cannot_have_more_good_than_total_events() -> None:
    with pytest.raises(ValueError, match="need 0 <= good_events <= total_events, got 3 and 2"):
        EventCounts(good_events=3, total_events=2)


# ----------------------------------------------------------------------------- budget remaining


@pytest.mark.parametrize(
    ("good", "total", "fraction", "events"),
    [
        pytest.param(100_000, 100_000, 1.0, 100.0, id="no bad events leave the whole budget"),
        pytest.param(99_950, 100_000, 0.5, 50.0, id="half the allowed bad events leave half"),
        pytest.param(99_900, 100_000, 0.0, 0.0, id="exactly the allowed bad events leave nothing"),
        pytest.param(99_800, 100_000, -1.0, -100.0, id="twice the allowed bad events overspend by a whole budget"),
    ],
)
def test_budget_remaining_as_fraction_and_events(good: int, total: int, fraction: float, events: float) -> None:
    counts = EventCounts(good, total)
    assert error_budget_remaining(counts, 0.999) == pytest.approx(fraction)
    assert error_budget_remaining_events(counts, 0.999) == pytest.approx(events)


# ----------------------------------------------------------------------------- time to exhaustion


@pytest.mark.parametrize(
    ("remaining", "rate", "expected"),
    [
        pytest.param(1.0, 14.4, timedelta(hours=50), id="a whole 30-day budget lasts 50 hours at 14.4x"),
        pytest.param(1.0, 1.0, THIRTY_DAYS, id="at 1x the budget lasts the window"),
        pytest.param(0.5, 6.0, timedelta(days=2.5), id="half the budget at 6x lasts 2.5 days"),
        pytest.param(0.5, 0.0, None, id="nothing burning never exhausts"),
        pytest.param(0.0, 2.0, timedelta(0), id="a spent budget is exhausted now"),
        pytest.param(-0.3, 0.0, timedelta(0), id="an overspent budget is exhausted now even if nothing burns"),
    ],
)
def test_time_to_exhaustion(remaining: float, rate: float, expected: timedelta | None) -> None:
    assert time_to_exhaustion(remaining, rate, THIRTY_DAYS) == expected


# ----------------------------------------------------------------------------- properties

targets = st.decimals(min_value="0.5", max_value="0.99999", places=5).map(float)
windows = st.integers(min_value=1, max_value=365).map(lambda days: timedelta(days=days))


@given(target=targets, window=windows, total=st.integers(min_value=1, max_value=10**9))
def test_erring_at_exactly_the_budget_for_the_whole_window_burns_at_1x_and_spends_it_all(
    target: float, window: timedelta, total: int
) -> None:
    rate = burn_rate(1 - target, target)
    assert rate == pytest.approx(1.0)
    assert budget_consumed(rate, window, window) == pytest.approx(1.0)
    bad = total * (1 - target)
    assert error_budget_remaining(EventCounts(total - bad, total), target) == pytest.approx(0.0, abs=1e-9)


@given(
    target=targets,
    counts=st.integers(min_value=1, max_value=10**9).flatmap(
        lambda total: st.integers(min_value=0, max_value=total).map(lambda good: EventCounts(good, total))
    ),
)
def test_budget_remaining_never_exceeds_one(target: float, counts: EventCounts) -> None:
    remaining = error_budget_remaining(counts, target)
    assert remaining is not None and remaining <= 1.0


@given(
    remaining=st.floats(min_value=0.01, max_value=1.0),
    rate=st.floats(min_value=0.01, max_value=1000.0),
    window=windows,
)
def test_burning_until_exhaustion_spends_exactly_what_remained(remaining: float, rate: float, window: timedelta) -> None:
    until = time_to_exhaustion(remaining, rate, window)
    assert until is not None
    assert budget_consumed(rate, until, window) == pytest.approx(remaining, rel=1e-6)
