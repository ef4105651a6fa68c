"""Specification of the burn-rate alert rules: which instances exist, and when each one's condition holds."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alerts import BUDGET_EXHAUSTED_ALERT, BURN_RATE_ALERT, NO_DATA_ALERT, AlertPolicy, alert_conditions
from slo import Availability, EventCounts, Events, Timeslices, burn_windows, occurrences_status, timeslices_status
from tests.support.slo_status import CHECKOUT, NOW, D, H, M, status

S = M / 60

PAGE_1H, PAGE_6H, TICKET_1D, TICKET_3D = ("1h", "5m"), ("6h", "30m"), ("1d", "2h"), ("3d", "6h")


def active_pairs(conditions) -> set[tuple[str, str]]:
    return {(c.labels["long_window"], c.labels["short_window"]) for c in conditions
            if c.active and c.labels["alertname"] == BURN_RATE_ALERT}


@pytest.mark.parametrize(
    ("burn", "window_events", "policy", "expected"),
    [
        pytest.param({}, {}, AlertPolicy(), set(), id="nothing burns, nothing holds"),
        pytest.param({H: 14.5, 5 * M: 14.5}, {}, AlertPolicy(), {PAGE_1H},
                     id="14.5x over 1h and 5m holds the fast page"),
        pytest.param({H: 14.5, 5 * M: 14.3}, {}, AlertPolicy(), set(),
                     id="the short window under 14.4x keeps the fast page off"),
        pytest.param({H: 14.3, 5 * M: 30}, {}, AlertPolicy(), set(),
                     id="the long window under 14.4x keeps the fast page off"),
        pytest.param({H: 20, 5 * M: 0}, {}, AlertPolicy(), set(),
                     id="an outage that stopped resolves by the short window while the long one still burns"),
        pytest.param({6 * H: 6.5, 30 * M: 6.5}, {}, AlertPolicy(), {PAGE_6H},
                     id="6.5x over 6h and 30m holds the slow page"),
        pytest.param({D: 3.5, 2 * H: 3.5}, {}, AlertPolicy(), {TICKET_1D}, id="3.5x over 1d and 2h holds a ticket"),
        pytest.param({3 * D: 1.5, 6 * H: 1.5}, {}, AlertPolicy(), {TICKET_3D},
                     id="1.5x over 3d and 6h holds the slow ticket"),
        pytest.param({w: 20 for w in (5 * M, 30 * M, H, 2 * H, 6 * H, D, 3 * D)}, {}, AlertPolicy(),
                     {PAGE_1H, PAGE_6H, TICKET_1D, TICKET_3D}, id="a burn over every window holds every pair"),
        pytest.param({w: 20 for w in (5 * M, 30 * M, H, 2 * H, 6 * H, D, 3 * D)}, {}, AlertPolicy(ticket=False),
                     {PAGE_1H, PAGE_6H}, id="tickets switched off leaves only the pages"),
        pytest.param({H: 1000, 5 * M: 1000}, {H: 9, 5 * M: 1}, AlertPolicy(), set(),
                     id="under the minimum events in the long window nothing pages"),
        pytest.param({H: 1000, 5 * M: 1000}, {H: 10, 5 * M: 1}, AlertPolicy(), {PAGE_1H},
                     id="at the minimum events in the long window it pages"),
        pytest.param({H: 1000, 5 * M: 1000}, {H: 9, 5 * M: 1}, AlertPolicy(min_events=5), {PAGE_1H},
                     id="the minimum is set per policy"),
        pytest.param({H: 1000}, {5 * M: 0}, AlertPolicy(), set(), id="a short window without events does not burn"),
    ],
)
def test_burn_rate_conditions(burn, window_events, policy, expected) -> None:
    assert active_pairs(alert_conditions(status(burn, window_events=window_events), policy)) == expected


def test_one_instance_per_window_pair_labelled_with_its_tier_and_windows() -> None:
    conditions = alert_conditions(status(), AlertPolicy())
    assert [dict(c.labels) for c in conditions] == [
        {"slo": "checkout-availability", "service": "checkout", "alertname": BURN_RATE_ALERT,
         "severity": severity, "long_window": long, "short_window": short}
        for severity, (long, short) in [("page", PAGE_1H), ("page", PAGE_6H), ("ticket", TICKET_1D),
                                        ("ticket", TICKET_3D)]
    ]
    assert len({c.fingerprint for c in conditions}) == 4


def test_an_slo_not_filtered_to_one_service_has_no_service_label() -> None:
    slo = replace(CHECKOUT, indicator=Availability(Events.TASKS))
    assert all("service" not in c.labels for c in alert_conditions(status(slo=slo), AlertPolicy()))


def test_windows_scale_with_the_slo_window() -> None:
    slo = replace(CHECKOUT, window=replace(CHECKOUT.window, length=7 * D))
    conditions = alert_conditions(status(slo=slo), AlertPolicy())
    labels = [(c.labels["long_window"], c.labels["short_window"]) for c in conditions]
    assert labels == [("14m", "1m"), ("84m", "7m"), ("336m", "28m"), ("1008m", "84m")]


def test_the_summary_gives_burn_rates_budget_left_and_time_to_exhaustion() -> None:
    condition = alert_conditions(status({H: 15, 5 * M: 20}), AlertPolicy())[0]
    assert condition.annotations["summary"] == (
        "checkout-availability burns its error budget at 15.00x over 1h and 20.00x over 5m (alert at 14.4x); "
        "100.0% of the error budget left, exhausted in 2d at the last hour's rate"
    )
    assert condition.annotations["time_to_exhaustion"] == "2d"
    assert condition.annotations["burn_factor"] == "14.4"


@pytest.mark.parametrize(
    ("policy", "events_5m", "expected"),
    [
        pytest.param(AlertPolicy(), 0, None, id="no data alerting is off by default"),
        pytest.param(AlertPolicy(no_data_after=30 * M), 0, (True, 25 * M),
                     id="no events in the last 5m holds, and waits out the rest of 30m as its for"),
        pytest.param(AlertPolicy(no_data_after=30 * M), 3, (False, 25 * M), id="events arriving do not hold"),
    ],
)
def test_no_data(policy, events_5m, expected) -> None:
    conditions = [c for c in alert_conditions(status(window_events={5 * M: events_5m}), policy)
                  if c.labels["alertname"] == NO_DATA_ALERT]
    assert [(c.active, c.pending_for) for c in conditions] == ([] if expected is None else [expected])


def exhausted_status(bad: float, total: float = 10_000):
    """CHECKOUT (objective 99.9%) with `bad` of `total` events bad over its window."""
    quiet = {window: EventCounts(100, 100) for window in burn_windows(CHECKOUT)}
    return occurrences_status(CHECKOUT, NOW, EventCounts(total - bad, total), quiet)


@pytest.mark.parametrize(("bad", "total", "policy", "active"), [
    pytest.param(11, 10_000, AlertPolicy(budget_exhausted=True), True, id="past the budget (10 bad events) it holds"),
    pytest.param(9, 10_000, AlertPolicy(budget_exhausted=True), False, id="with budget left it does not"),
    pytest.param(5, 5, AlertPolicy(budget_exhausted=True), False, id="under the minimum events it does not"),
])
def test_the_budget_exhausted_alert_holds_while_the_windows_budget_is_used_up(bad, total, policy, active) -> None:
    [condition] = [c for c in alert_conditions(exhausted_status(bad, total), policy)
                   if c.labels["alertname"] == BUDGET_EXHAUSTED_ALERT]
    assert condition.active is active
    assert dict(condition.labels) == {"slo": "checkout-availability", "service": "checkout",
                                      "alertname": BUDGET_EXHAUSTED_ALERT, "severity": "ticket", "window": "30d"}


def test_the_budget_exhausted_alert_is_off_unless_asked_for() -> None:
    names = {c.labels["alertname"] for c in alert_conditions(exhausted_status(50), AlertPolicy())}
    assert names == {BURN_RATE_ALERT}


def test_the_minimum_events_counts_events_under_timeslice_budgeting_not_slices() -> None:
    # A rare tool: one failure among three calls in five minutes, objective 99.9 with 5-minute slices.
    # Every burn window holds a bad slice, and many empty slices, which are not events.
    slo = replace(CHECKOUT, budgeting=Timeslices(5 * M, 0.999))
    slices = [(NOW - 5 * M, EventCounts(2, 3))]
    rare = timeslices_status(slo, NOW + 30 * S, EventCounts(2, 3), slices)
    assert active_pairs(alert_conditions(rare, AlertPolicy(min_events=10))) == set()
    busy = timeslices_status(slo, NOW + 30 * S, EventCounts(20, 30), [(NOW - 5 * M, EventCounts(20, 30))])
    assert active_pairs(alert_conditions(busy, AlertPolicy(min_events=10))) == {PAGE_1H, PAGE_6H, TICKET_1D, TICKET_3D}


def test_an_exhausted_budget_says_so_rather_than_exhausted_in_0m() -> None:
    condition = alert_conditions(exhausted_status(50), AlertPolicy())[0]
    assert condition.annotations["summary"].endswith("-400.0% of the error budget left, already exhausted")


def test_windows_in_the_summary_read_for_people() -> None:
    slo = replace(CHECKOUT, window=replace(CHECKOUT.window, length=28 * D))
    ticket = alert_conditions(status({w: 20 for w in burn_windows(slo)}, slo=slo), AlertPolicy())[2]
    assert ticket.labels["long_window"] == "1344m"     # labels stay as the API writes windows
    assert "over 22h 24m and" in ticket.annotations["summary"] and "over 1h 52m (alert at 3x)" in ticket.annotations["summary"]
