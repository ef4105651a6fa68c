"""The spend chart's month-to-date line: each day's month so far, restarting with each UTC month."""

from __future__ import annotations

import pytest

from agentslo.console._charts import month_to_date
from agentslo.console._reads import DaySpend


@pytest.mark.parametrize(("days", "before", "expected"), [
    pytest.param([("2026-03-30", 1.0), ("2026-03-31", 2.0), ("2026-04-01", 4.0), ("2026-04-02", 8.0)], 0.0,
                 [1.0, 3.0, 4.0, 12.0], id="a new month starts from nothing"),
    pytest.param([("2026-03-30", 1.0), ("2026-03-31", 2.0)], 10.0, [11.0, 13.0],
                 id="the first month starts from what it spent before the range"),
    pytest.param([], 5.0, [], id="no days"),
])
def test_month_to_date(days: list[tuple[str, float]], before: float, expected: list[float]) -> None:
    assert month_to_date([DaySpend(day, cost, 1) for day, cost in days], before) == expected
