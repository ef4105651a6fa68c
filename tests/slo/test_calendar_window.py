"""Specification of calendar-month window bounds for a given `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from slo import calendar_month_bounds

UTC = UTC


@pytest.mark.parametrize(
    ("now", "start", "end"),
    [
        pytest.param(datetime(2025, 3, 17, 9, 30, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC),
                     datetime(2025, 4, 1, tzinfo=UTC), id="mid-month"),
        pytest.param(datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC),
                     datetime(2026, 1, 1, tzinfo=UTC), id="December ends on the first of January of the next year"),
        pytest.param(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC),
                     datetime(2026, 2, 1, tzinfo=UTC), id="the first instant of a month belongs to it"),
        pytest.param(datetime(2024, 2, 29, 12, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC),
                     datetime(2024, 3, 1, tzinfo=UTC), id="a leap February has 29 days"),
        pytest.param(datetime(2025, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))), datetime(2025, 2, 1, tzinfo=UTC),
                     datetime(2025, 3, 1, tzinfo=UTC), id="now is read in UTC, where months are"),
    ],
)
def test_calendar_month_bounds(now: datetime, start: datetime, end: datetime) -> None:
    assert calendar_month_bounds(now) == (start, end)


def test_month_lengths_follow_the_calendar() -> None:
    lengths = [end - start for start, end in (calendar_month_bounds(datetime(y, 2, 10, tzinfo=UTC)) for y in (2023, 2024))]
    assert lengths == [timedelta(days=28), timedelta(days=29)]


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        calendar_month_bounds(datetime(2025, 3, 17))
