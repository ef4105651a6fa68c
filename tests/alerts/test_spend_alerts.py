"""Spend-budget alerts: one instance per budget, member and level, each notified once per period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts import (
    SPEND_BUDGET_ALERT,
    AlertPolicy,
    DashboardLinks,
    advance,
    alert_conditions,
    cap_members,
    spend_conditions,
)
from slo import SpendStatus, parse_spend_budgets, spend_budget_from_spec
from tests.support.slo_status import status

DAY = datetime(2026, 3, 2, tzinfo=UTC)
USER_DAILY = spend_budget_from_spec(parse_spend_budgets(
    [{"name": "per-user-daily", "period": "day", "limit_usd": 5, "per": "user", "service": "support-agent"}],
    where="test")[0])


def alice(spent_usd: float, at: datetime) -> SpendStatus:
    return SpendStatus(USER_DAILY, "alice", spent_usd, at)


def test_each_level_is_an_instance_labelled_with_budget_member_and_level() -> None:
    eighty, hundred = spend_conditions(alice(4.5, DAY + timedelta(hours=6)))
    assert dict(eighty.labels) == {"alertname": SPEND_BUDGET_ALERT, "budget": "per-user-daily", "period": "day",
                                   "user": "alice", "service": "support-agent", "level": "80%", "severity": "ticket"}
    assert (hundred.labels["level"], hundred.labels["severity"]) == ("100%", "page")
    assert (eighty.active, hundred.active) == (True, False)
    assert eighty.annotations["summary"] == (
        "Spend budget per-user-daily for user alice: $4.50 spent today, 90.0% of the $5.00 cap (alert at 80%); "
        "projected $18.00 by the end of the day")
    assert {k: eighty.annotations[k] for k in ("projected_usd", "remaining_usd", "period_start", "period_end")} == {
        "projected_usd": "18.00", "remaining_usd": "0.50",
        "period_start": "2026-03-02T00:00:00Z", "period_end": "2026-03-03T00:00:00Z"}
    assert (eighty.repeat_interval, eighty.send_resolved) == (None, False)


def test_a_level_fires_once_per_period_and_resets_silently_when_the_period_starts_afresh() -> None:
    states: dict = {}
    sent, quiet = [], []
    timeline = [
        (DAY + timedelta(hours=1), [alice(4.1, DAY + timedelta(hours=1))]),    # 82%: 80% fires
        (DAY + timedelta(hours=2), [alice(4.5, DAY + timedelta(hours=2))]),    # still 90%: nothing new
        (DAY + timedelta(hours=7), [alice(5.2, DAY + timedelta(hours=7))]),    # 104%: 100% fires, no 80% repeat
        (DAY + timedelta(hours=23), [alice(5.9, DAY + timedelta(hours=23))]),  # hours later: no repeats
        (DAY + timedelta(days=1, hours=1), []),                                # next day, no spend: silent reset
        (DAY + timedelta(days=1, hours=2), [alice(4.0, DAY + timedelta(days=1, hours=2))]),  # 80% again
    ]
    for now, spend in timeline:
        conditions = [c for status in spend for c in spend_conditions(status)]
        states, notifications = advance(states, conditions, now)
        sent += [(now - DAY, n.status.value, n.labels["level"]) for n in notifications if not n.quiet]
        quiet += [(now - DAY, n.status.value, n.labels["level"]) for n in notifications if n.quiet]
    assert sent == [(timedelta(hours=1), "firing", "80%"), (timedelta(hours=7), "firing", "100%"),
                    (timedelta(days=1, hours=2), "firing", "80%")]
    # The reset is quiet: owed only to receivers that keep incidents open (PagerDuty).
    assert sorted(quiet) == [(timedelta(days=1, hours=1), "resolved", "100%"),
                             (timedelta(days=1, hours=1), "resolved", "80%")]
    assert sorted(s.phase.value for s in states.values()) == ["firing", "resolved"]


def test_alerts_link_to_the_dashboard_they_are_about() -> None:
    links = DashboardLinks("https://grafana.example.com/", "agentslo-slos", "agentslo-spend")
    [eighty, _] = [links.add_to(c) for c in spend_conditions(alice(1, DAY))]
    assert eighty.annotations["dashboard"] == "https://grafana.example.com/d/agentslo-spend"


def test_slo_alerts_link_to_the_slo_dashboard_showing_their_slo() -> None:
    links = DashboardLinks("https://grafana.example.com", "agentslo-slos", "agentslo-spend")
    [first, *_] = [links.add_to(c) for c in alert_conditions(status(), AlertPolicy())]
    assert first.annotations["dashboard"] == "https://grafana.example.com/d/agentslo-slos?var-slo=checkout-availability"


def test_small_spends_and_caps_are_written_with_the_precision_they_need() -> None:
    budget = spend_budget_from_spec(parse_spend_budgets([{"name": "tiny", "period": "day", "limit_usd": 0.0062}],
                                                        where="test")[0])
    [eighty, _] = spend_conditions(SpendStatus(budget, None, 0.0049352, DAY + timedelta(hours=12)))
    assert eighty.annotations["summary"].startswith(
        "Spend budget tiny: $0.0049 spent today, 79.6% of the $0.0062 cap (alert at 80%)")


TENANT_DAILY = spend_budget_from_spec(parse_spend_budgets(
    [{"name": "per-tenant-daily", "period": "day", "limit_usd": 5, "per": "tenant", "max_members": 3}],
    where="test")[0])
ALL_DAILY = spend_budget_from_spec(parse_spend_budgets(
    [{"name": "all-daily", "period": "day", "limit_usd": 100}], where="test")[0])


def tenants(*spend: tuple[str, float]) -> list[SpendStatus]:
    return [SpendStatus(TENANT_DAILY, member, spent_usd, DAY) for member, spent_usd in spend]


@pytest.mark.parametrize(("spend", "alerted", "over_cap"), [
    pytest.param(tenants(("a", 1), ("b", 2), ("c", 3)), ["a", "b", "c"], [], id="up to the cap every member alerts"),
    pytest.param(tenants(("a", 1), ("b", 9), ("c", 3), ("d", 4), ("e", 0.5)), ["b", "c", "d"], ["a", "e"],
                 id="beyond it the top spenders keep their alerts"),
    pytest.param(tenants(("d", 2), ("c", 2), ("b", 2), ("a", 2)), ["a", "b", "c"], ["d"],
                 id="equal spend goes by member name, so the choice never flaps"),
])
def test_a_group_budget_alerts_for_its_top_max_members_spenders(spend: list[SpendStatus], alerted: list[str],
                                                                over_cap: list[str]) -> None:
    everyone = [SpendStatus(ALL_DAILY, None, 40, DAY), *spend]
    capped = cap_members(everyone)
    assert [(s.budget.name, s.member) for s in capped.alerted] == [("all-daily", None)] + [
        ("per-tenant-daily", m) for m in sorted(alerted, key=lambda m: [s.member for s in spend].index(m))]
    assert sorted(s.member for s in capped.over_cap) == over_cap
    assert (capped.members_over_cap("per-tenant-daily"), capped.members_over_cap("all-daily")) == (len(over_cap), 0)
    assert [capped.alerts(s) for s in everyone] == [True] + [s.member in alerted for s in spend]
