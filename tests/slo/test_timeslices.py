"""Specification of timeslice budgeting: bad slices against the budget of slices."""

from __future__ import annotations

from datetime import timedelta

import pytest

from slo import (
    EventCounts,
    SliceCounts,
    count_slices,
    error_budget_remaining,
    error_budget_remaining_events,
    slices_in,
    timeslice_budget,
)


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        pytest.param([EventCounts(95, 100)], SliceCounts(1, 0), id="a slice exactly at its target is good"),
        pytest.param([EventCounts(94, 100)], SliceCounts(0, 1), id="a slice under its target is bad"),
        pytest.param([EventCounts(0, 0)], SliceCounts(0, 0), id="a slice without events is neither"),
        pytest.param([EventCounts(1, 1), EventCounts(0, 1), EventCounts(), EventCounts(999, 1000)], SliceCounts(2, 1),
                     id="each slice is judged on its own counts"),
    ],
)
def test_count_slices(minutes: list[EventCounts], expected: SliceCounts) -> None:
    assert count_slices(minutes, slice_target=0.95) == expected


def test_a_slice_target_read_from_percent_matches_its_own_ratio() -> None:
    # 0.999 is what 99.9 percent converts to; 999 of 1000 good is at the target, not under it.
    assert count_slices([EventCounts(999, 1000)], slice_target=0.999) == SliceCounts(1, 0)


def test_the_timeslice_sli_counts_only_slices_with_data() -> None:
    assert SliceCounts(good_slices=3, bad_slices=1).sli == 0.75
    assert SliceCounts().sli is None


def test_a_28_day_window_of_1_minute_slices_at_99_9_percent_allows_40_bad_minutes() -> None:
    slices = slices_in(timedelta(days=28), timedelta(minutes=1))
    assert slices == 40_320
    # Budget: 0.1% of 40320 slices = 40.32 bad minutes. 10 are bad, some minutes had no data.
    budget = timeslice_budget(SliceCounts(good_slices=30_000, bad_slices=10), slices)
    assert budget == EventCounts(good_events=40_310, total_events=40_320)
    assert error_budget_remaining(budget, 0.999) == pytest.approx(1 - 10 / 40.32)
    assert error_budget_remaining_events(budget, 0.999) == pytest.approx(30.32)


def test_a_calendar_month_counts_the_whole_months_slices_not_only_those_elapsed() -> None:
    # February 2024 (29 days) in 5-minute slices; 3 bad slices so far spend 3 of 8.352.
    slices = slices_in(timedelta(days=29), timedelta(minutes=5))
    assert slices == 8352
    assert error_budget_remaining(timeslice_budget(SliceCounts(100, 3), slices), 0.999) == pytest.approx(1 - 3 / 8.352)
