"""Specification of the multi-window burn-rate table and its scaling to other SLO windows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from slo import WORKBOOK_ALERT_WINDOWS, WORKBOOK_WINDOW, AlertWindow, Severity, alert_windows, burn_factor

PAGE, TICKET = Severity.PAGE, Severity.TICKET
M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


def rows(window: timedelta) -> list[tuple[Severity, timedelta, timedelta, float]]:
    return [(w.severity, w.long_window, w.short_window, w.burn_factor) for w in alert_windows(window)]


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        pytest.param(30 * D, [(PAGE, 1 * H, 5 * M, 14.4), (PAGE, 6 * H, 30 * M, 6.0),
                              (TICKET, 1 * D, 2 * H, 3.0), (TICKET, 3 * D, 6 * H, 1.0)],
                     id="30 days is the Workbook's own table"),
        pytest.param(28 * D, [(PAGE, 56 * M, 5 * M, 14.4), (PAGE, 336 * M, 28 * M, 6.0),
                              (TICKET, 1344 * M, 112 * M, 3.0), (TICKET, 4032 * M, 336 * M, 1.0)],
                     id="28 days scales every window by 28/30 and keeps the factors"),
        pytest.param(7 * D, [(PAGE, 14 * M, 1 * M, 14.4), (PAGE, 84 * M, 7 * M, 6.0),
                             (TICKET, 336 * M, 28 * M, 3.0), (TICKET, 1008 * M, 84 * M, 1.0)],
                     id="7 days scales by 7/30, a 5-minute short window becoming 1 minute"),
        pytest.param(6 * H, [(PAGE, 1 * M, 1 * M, 7.2), (PAGE, 3 * M, 1 * M, 6.0),
                             (TICKET, 12 * M, 1 * M, 3.0), (TICKET, 36 * M, 3 * M, 1.0)],
                     id="a window too short to scale keeps the budget share, not the factor"),
        pytest.param(1 * H, [(PAGE, 1 * M, 1 * M, 1.2), (TICKET, 2 * M, 1 * M, 3.0), (TICKET, 6 * M, 1 * M, 1.0)],
                     id="two pages on the same windows are one alert, at the lower factor"),
    ],
)
def test_alert_windows(window: timedelta, expected: list[tuple[Severity, timedelta, timedelta, float]]) -> None:
    assert rows(window) == expected


@pytest.mark.parametrize("window", [30 * D, 28 * D, 7 * D, 90 * D, 6 * H], ids=lambda w: f"{w.days}d {w.seconds // 3600}h")
def test_every_alert_spends_its_rows_share_of_the_budget_in_its_long_window(window: timedelta) -> None:
    for alert in alert_windows(window):
        assert alert.burn_factor * (alert.long_window / window) == pytest.approx(alert.budget_share, rel=1e-6)


def test_the_table_keeps_the_workbook_shares() -> None:
    assert WORKBOOK_WINDOW == 30 * D
    assert [share for *_, share in WORKBOOK_ALERT_WINDOWS] == [0.02, 0.05, 0.10, 0.10]


@pytest.mark.parametrize(
    ("share", "long_window", "factor"),
    [
        pytest.param(0.02, 1 * H, 14.4, id="2 percent in an hour of 30 days is 14.4x"),
        pytest.param(0.05, 6 * H, 6.0, id="5 percent in 6 hours is 6x"),
        pytest.param(0.10, 1 * D, 3.0, id="10 percent in a day is 3x"),
        pytest.param(0.10, 3 * D, 1.0, id="10 percent in 3 days is 1x"),
    ],
)
def test_burn_factor(share: float, long_window: timedelta, factor: float) -> None:
    assert burn_factor(share, 30 * D, long_window) == factor


def test_an_alert_window_is_a_plain_value() -> None:
    assert alert_windows(30 * D)[0] == AlertWindow(PAGE, 1 * H, 5 * M, budget_share=0.02, burn_factor=14.4)
