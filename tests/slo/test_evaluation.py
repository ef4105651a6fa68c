"""Specification of SLO evaluation: status from rollup counts (pure), and cycles on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ground.storage import SLO_ROLLUPS, SLO_STATUS, Storage
from slo import (
    SLO,
    EventCounts,
    SliceCounts,
    burn_windows,
    compile_sli,
    format_duration,
    occurrences_status,
    timeslices_status,
    window_bounds,
)
from slo.engine import evaluate, read_watermarks, run_cycle
from tests.slo.traces import MINUTE, SECOND, T0, chat, insert, make_slo

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
AVAILABILITY = {"kind": "availability", "over": "llm_calls"}


def day_slo(**fields: Any) -> SLO:
    return make_slo("checkout", objective=99, window="1d", sli=AVAILABILITY, **fields)


def burn_counts(slo: SLO, given: dict[timedelta, EventCounts]) -> dict[timedelta, EventCounts]:
    """Counts for every burn window of `slo`: as given, else none."""
    return {window: given.get(window, EventCounts()) for window in burn_windows(slo)}


# ----------------------------------------------------------------------------- pure: status from counts


def test_occurrences_status_from_hand_computed_counts() -> None:
    slo = day_slo()
    now = T0 + 30 * SECOND
    # 50 bad of 10,000: half of the 100-event budget spent. The last hour: 12 bad of 600, burning at 2x.
    status = occurrences_status(slo, now, EventCounts(9950, 10_000),
                                burn_counts(slo, {HOUR: EventCounts(588, 600), 5 * MINUTE: EventCounts(50, 50)}))
    assert (status.window_start, status.window_end) == (T0 - DAY, T0)
    assert status.sli == 0.995
    assert status.error_budget == pytest.approx(0.01)
    assert status.error_budget_remaining == pytest.approx(0.5)
    assert status.error_budget_remaining_events == pytest.approx(50)
    assert status.burn_rate(HOUR) == pytest.approx(2.0)
    assert status.burn_rate(5 * MINUTE) == 0
    assert status.burn_rate(6 * HOUR) is None
    # Half the budget left at 2x a 1-day budget: 0.5 * 24 h / 2 = 6 hours.
    assert status.time_to_exhaustion == pytest.approx(6 * HOUR, abs=SECOND)
    assert status.enough_data


def test_no_events_is_no_data_not_a_perfect_sli() -> None:
    slo = day_slo()
    status = occurrences_status(slo, T0, EventCounts(), burn_counts(slo, {}))
    assert (status.sli, status.error_budget_remaining, status.error_budget_remaining_events) == (None, None, None)
    assert all(rate.burn_rate is None for rate in status.burn_rates)
    assert status.time_to_exhaustion is None
    assert not status.enough_data


@pytest.mark.parametrize(
    ("total", "enough"),
    [
        pytest.param(100, True, id="100 events at 99 percent allow one bad event: enough"),
        pytest.param(99, False, id="99 events at 99 percent: one bad event spends more than the budget"),
    ],
)
def test_enough_data_means_the_budget_allows_one_bad_event(total: int, enough: bool) -> None:
    slo = day_slo()
    assert occurrences_status(slo, T0, EventCounts(total, total), burn_counts(slo, {})).enough_data is enough


def test_burn_rates_cover_the_fixed_windows_and_the_slos_own_alert_windows() -> None:
    # A 1-day SLO scales the Workbook's windows by 1/30: 1h becomes 2m, 6h 12m, 1d 48m, 3d 144m, and so on.
    assert burn_windows(day_slo()) == (
        1 * MINUTE, 2 * MINUTE, 4 * MINUTE, 5 * MINUTE, 12 * MINUTE, 30 * MINUTE, 48 * MINUTE, HOUR,
        2 * HOUR, 144 * MINUTE, 6 * HOUR, DAY, 3 * DAY,
    )


def test_timeslices_status_counts_bad_slices_against_the_windows_slices() -> None:
    slo = day_slo(budgeting={"method": "timeslices", "slice": "5m", "slice_objective": 90})
    now = T0 + 10 * MINUTE + 30 * SECOND  # evaluates up to T0 + 10m
    slices = [
        (T0 - 2 * DAY, EventCounts(0, 10)),             # before the window: not judged
        (T0 - 3 * HOUR, EventCounts(10, 10)),
        (T0 - 50 * MINUTE, EventCounts(8, 10)),          # bad, in the last hour
        (T0, EventCounts(9, 10)),                        # exactly at the slice objective: good
        (T0 + 5 * MINUTE, EventCounts(1, 2)),            # bad, the slice in progress
    ]
    status = timeslices_status(slo, now, EventCounts(28, 32), slices)
    assert status.slices == SliceCounts(good_slices=2, bad_slices=2)
    assert status.sli == 0.5
    # 288 five-minute slices a day, 1% of them (2.88) may be bad; 2 are.
    assert status.error_budget_remaining == pytest.approx(1 - 2 / 2.88)
    assert status.error_budget_remaining_events == pytest.approx(0.88)
    # The last hour holds 12 slices, 2 bad: 1/6 of them, at a 1% budget a burn rate of 16.7.
    assert status.burn_rate(HOUR) == pytest.approx((2 / 12) / 0.01)
    # A 1-minute window judges the one slice in progress.
    assert status.burn_rate(MINUTE) == pytest.approx(100)
    assert not status.enough_data  # 4 slices with data allow no bad one at 1%


def test_a_calendar_month_window_starts_on_the_first() -> None:
    slo = make_slo("monthly", window="month", sli=AVAILABILITY)
    assert window_bounds(slo, datetime(2026, 2, 14, 9, 30, 45, tzinfo=UTC)) == (
        datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 2, 14, 9, 30, tzinfo=UTC))


# ----------------------------------------------------------------------------- cycles on storage


def calls(*ends: tuple[timedelta, bool]) -> list[dict[str, Any]]:
    """One-second model calls ending at each offset from T0, failed when the flag says so.

    Their parent is in another service's part of the trace, so they make no task.
    """
    return [chat("t", f"s{i}", "caller", at=end - SECOND, StatusCode="Error" if failed else "Unset")
            for i, (end, failed) in enumerate(ends)]


def test_evaluation_as_of_a_time_reads_only_the_minutes_before_it(store: Storage) -> None:
    slo = make_slo("calls", objective=90, window="1h", sli=AVAILABILITY)
    insert(store, calls(*[(k * MINUTE + 30 * SECOND, False) for k in range(30)],   # 30 good, T0 to T0 + 30m
                        (50 * MINUTE + 30 * SECOND, True), (56 * MINUTE + 30 * SECOND, True),
                        (57 * MINUTE, False), (61 * MINUTE, True)))              # the last one ends after now
    [late] = run_cycle(store, [slo], T0 + 60 * MINUTE + 59 * SECOND)
    assert (late.window_start, late.window_end) == (T0, T0 + HOUR)
    assert late.counts == EventCounts(31, 33)
    assert late.burn_rate(5 * MINUTE) == pytest.approx((1 / 2) / 0.1)
    assert late.burn_rate(30 * MINUTE) == pytest.approx((2 / 3) / 0.1)
    assert late.burn_rate(HOUR) == pytest.approx((2 / 33) / 0.1)
    # 2 bad of 33 against a budget of 3.3: 1.3 events, 0.39 of it left; at the last hour's rate it lasts
    # 0.39 * 1 h / 0.606 = 0.65 h.
    assert late.error_budget_remaining == pytest.approx(1 - 2 / 3.3)
    assert late.time_to_exhaustion == pytest.approx((1 - 2 / 3.3) * HOUR / ((2 / 33) / 0.1), abs=SECOND)

    [early] = run_cycle(store, [slo], T0 + 40 * MINUTE)
    assert (early.window_start, early.window_end) == (T0 - 20 * MINUTE, T0 + 40 * MINUTE)
    assert early.counts == EventCounts(30, 30)
    assert early.burn_rate(5 * MINUTE) is None


def test_a_span_exported_late_within_the_grace_period_is_counted_by_the_next_cycle(store: Storage) -> None:
    slo = make_slo("calls", objective=90, window="1h", sli=AVAILABILITY)
    insert(store, calls((10 * MINUTE, False)))
    [first] = run_cycle(store, [slo], T0 + 12 * MINUTE)
    assert first.counts == EventCounts(1, 1)
    insert(store, [chat("t", "late", "caller", at=11 * MINUTE, StatusCode="Error")])  # ended at 12:11:01
    [second] = run_cycle(store, [slo], T0 + 13 * MINUTE)
    assert second.counts == EventCounts(1, 2)


def test_a_changed_sli_is_rolled_up_again_from_the_start_of_its_window(store: Storage) -> None:
    insert(store, calls(*[(k * MINUTE, k % 2 == 0) for k in range(1, 11)]))
    before = make_slo("calls", objective=90, window="1h", sli=AVAILABILITY)
    [status] = run_cycle(store, [before], T0 + 20 * MINUTE)
    assert status.counts == EventCounts(5, 10)
    after = make_slo("calls", objective=90, window="1h", sli={**AVAILABILITY, "filter": [
        {"column": "StatusCode", "op": "eq", "value": "Unset"}]})
    [status] = run_cycle(store, [after], T0 + 21 * MINUTE)
    assert status.counts == EventCounts(5, 5)
    mark = read_watermarks(store)["slo_rollups/calls"]
    assert mark.fingerprint == compile_sli(after.indicator).fingerprint
    series = store.query(f"SELECT DISTINCT Fingerprint FROM {SLO_ROLLUPS} FINAL ORDER BY Fingerprint").rows
    assert len(series) == 2  # the old series stays, unread


def test_each_cycle_appends_one_status_row_per_slo_for_grafana(store: Storage) -> None:
    insert(store, calls((10 * MINUTE, False), (11 * MINUTE, True)))
    slos = [make_slo("calls", objective=90, window="1h", sli=AVAILABILITY),
            make_slo("tasks", objective=99.5, window="1d", sli={"kind": "availability"})]
    run_cycle(store, slos, T0 + 15 * MINUTE)
    rows = store.query(f"SELECT * FROM {SLO_STATUS} ORDER BY SloName").dicts()
    # Both calls fall in every window of 5 minutes or more; one of the two failed, against a 10% budget.
    with_data = ("5m", "6m", "30m", "1h", "2h", "6h", "1d", "3d")
    assert rows[0] == {
        "Timestamp": "2026-03-02 12:15:00.000", "SloName": "calls", "Kind": "availability", "Events": "llm_calls",
        "Window": "1h", "Budgeting": "occurrences", "Objective": 0.9, "Sli": 0.5, "GoodEvents": 1,
        "TotalEvents": 2, "GoodSlices": None, "BadSlices": None, "ErrorBudget": pytest.approx(0.1),
        "ErrorBudgetRemaining": pytest.approx(-4), "ErrorBudgetRemainingEvents": pytest.approx(-0.8),
        "BurnRates": {window: pytest.approx(5.0) for window in with_data},
        "TimeToExhaustionSeconds": 0, "EnoughData": 0, "AlertState": "",
        "DataThrough": "2026-03-02 12:15:00",
        "WindowEvents": {format_duration(w): 2 if format_duration(w) in with_data else 0 for w in burn_windows(slos[0])},
    }
    assert rows[1] == {
        "Timestamp": "2026-03-02 12:15:00.000", "SloName": "tasks", "Kind": "availability", "Events": "tasks",
        "Window": "1d", "Budgeting": "occurrences", "Objective": 0.995, "Sli": None, "GoodEvents": 0,
        "TotalEvents": 0, "GoodSlices": None, "BadSlices": None, "ErrorBudget": pytest.approx(0.005),
        "ErrorBudgetRemaining": None, "ErrorBudgetRemainingEvents": None, "BurnRates": {},
        "TimeToExhaustionSeconds": None, "EnoughData": 0, "AlertState": "",
        # Tasks are derived two minutes (the grace period) behind: their data ends there.
        "DataThrough": "2026-03-02 12:13:00",
        "WindowEvents": {format_duration(w): 0 for w in burn_windows(slos[1])},
    }


def test_evaluating_reads_the_rollups_it_is_given_and_nothing_else(store: Storage) -> None:
    slo = make_slo("calls", objective=90, window="1h", sli=AVAILABILITY)
    insert(store, calls((10 * MINUTE, False)))
    assert evaluate(store, [slo], T0 + 15 * MINUTE)[0].sli is None  # not rolled up yet: no data
    run_cycle(store, [slo], T0 + 15 * MINUTE)
    assert evaluate(store, [slo], T0 + 15 * MINUTE)[0].sli == 1.0
