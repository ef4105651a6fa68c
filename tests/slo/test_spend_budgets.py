"""Spend budgets: the spec, the period math, and what each budget's scope spent, read on the real engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ground.errors import ConfigError
from ground.storage import Storage
from slo import (
    Severity,
    SpendGroup,
    SpendLevel,
    SpendPeriod,
    format_usd,
    parse_spend_budgets,
    projected_spend,
    spend_budget_from_spec,
)
from slo.engine import evaluate_spend, sync_tasks
from tests.slo.traces import MINUTE, T0, agent, chat, insert


def budget(**fields):
    spec = {"name": "b", "period": "day", "limit_usd": 5, **fields}
    return spend_budget_from_spec(parse_spend_budgets([spec], where="test")[0])


# ----------------------------------------------------------------------------- spec

def test_a_budget_defaults_to_alerts_at_80_and_100_percent_ticket_then_page() -> None:
    parsed = budget(per="user", service="support-agent")
    assert (parsed.period, parsed.limit_usd, parsed.per, parsed.service) == (
        SpendPeriod.DAY, 5, SpendGroup.USER, "support-agent")
    assert parsed.levels == (SpendLevel(0.8, Severity.TICKET), SpendLevel(1.0, Severity.PAGE))
    assert [level.label for level in parsed.levels] == ["80%", "100%"]


def test_a_group_budget_alerts_for_1000_members_at_most_unless_it_says_otherwise() -> None:
    assert (budget(per="user").max_members, budget(per="tenant", max_members=50).max_members) == (1000, 50)


def test_levels_are_configurable_with_their_severity_and_sorted() -> None:
    parsed = budget(levels=[100, {"percent": 90, "severity": "page"}, 50])
    assert parsed.levels == (SpendLevel(0.5, Severity.TICKET), SpendLevel(0.9, Severity.PAGE),
                             SpendLevel(1.0, Severity.PAGE))


@pytest.mark.parametrize(("fields", "problem"), [
    pytest.param({"limit_usd": 0}, "test[0] (b).limit_usd: must be greater than 0", id="a cap must be positive"),
    pytest.param({"period": "week"}, "test[0] (b).period: must be 'day' or 'month'", id="periods are day or month"),
    pytest.param({"per": "team"}, "test[0] (b).per: must be 'user', 'tenant' or 'agent'", id="groups are named"),
    pytest.param({"levels": []}, "test[0] (b).levels: must name at least one percent of the cap, e.g. [80, 100]",
                 id="levels cannot be empty"),
    pytest.param({"levels": [80, 80]}, "test[0] (b).levels: levels must be distinct", id="levels are distinct"),
    pytest.param({"levels": [0]}, "test[0] (b).levels: each level must be a percent of the cap above 0 and at most 1000",
                 id="levels are positive"),
    pytest.param({"cap": 5}, "test[0] (b).cap: unknown field (expected one of: name, description, period, limit_usd, "
                             "per, service, levels, max_members)", id="unknown fields are named with the known ones"),
    pytest.param({"per": "user", "max_members": 0}, "test[0] (b).max_members: must be greater than or equal to 1",
                 id="a cap on members keeps one at least"),
    pytest.param({"max_members": 10}, "test[0] (b).max_members: only a budget per user, tenant or agent has members",
                 id="a global budget has no members to cap"),
    pytest.param({"name": "a b"}, "test[0] (a b).name: must be 1-64 letters, digits, '.', '_' or '-', starting with "
                                  "a letter or digit", id="names are identifiers"),
])
def test_invalid_budgets_are_reported_with_their_path(fields: dict, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_spend_budgets([{"name": "b", "period": "day", "limit_usd": 5, **fields}], where="test")
    assert raised.value.problems == [problem]


def test_every_problem_is_listed_duplicates_included() -> None:
    items = [{"name": "b", "period": "day", "limit_usd": 5}, {"name": "b", "period": "month", "limit_usd": -1}, 7]
    with pytest.raises(ConfigError) as raised:
        parse_spend_budgets(items, where="agentslo.yaml: budgets")
    assert raised.value.problems == [
        "agentslo.yaml: budgets[1] (b).limit_usd: must be greater than 0",
        "agentslo.yaml: budgets[2]: must be a mapping with name, period and limit_usd, got int",
    ]
    with pytest.raises(ConfigError) as raised:
        parse_spend_budgets(items[:1] * 2, where="agentslo.yaml: budgets")
    assert raised.value.problems == ["agentslo.yaml: budgets[1] (b).name: must be unique; the budget at index 0 has it too"]


# ----------------------------------------------------------------------------- periods and projection

@pytest.mark.parametrize(("period", "now", "bounds"), [
    pytest.param(SpendPeriod.DAY, datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
                 (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)), id="a day is a UTC day"),
    pytest.param(SpendPeriod.MONTH, datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
                 (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)), id="December ends the year"),
])
def test_periods_are_utc_days_and_calendar_months(period: SpendPeriod, now: datetime, bounds: tuple) -> None:
    assert period.bounds(now) == bounds


def test_projection_extrapolates_the_pace_so_far_to_the_end_of_the_period() -> None:
    day = datetime(2026, 3, 2, tzinfo=UTC)
    assert projected_spend(3.0, day, day + timedelta(days=1), day + timedelta(hours=6)) == pytest.approx(12.0)
    assert projected_spend(3.0, day, day + timedelta(days=1), day + timedelta(seconds=30)) == 3.0


# ----------------------------------------------------------------------------- spend on the engine

def task(trace: str, user: str, cost_usd: float, *, at: timedelta, tenant: str = "acme",
         service: str = "support-agent") -> list[dict]:
    """An agent task of `user` whose one model call cost `cost_usd`."""
    return [agent(trace, "a", at=at, UserId=user, Tenant=tenant, AgentName="triage", ServiceName=service),
            chat(trace, "c", "a", at=at, CostUsd=cost_usd, ServiceName=service)]


def test_a_global_budget_counts_every_model_call_of_its_period(store: Storage) -> None:
    insert(store, [*task("t1", "alice", 1.25, at=-MINUTE), *task("t2", "bob", 2.0, at=-2 * MINUTE),
                   *task("t0", "bob", 10.0, at=-13 * 60 * MINUTE)])   # yesterday: another period
    insert(store, [{**chat("t3", "c", "", at=-MINUTE, CostUsd=0.5), "CostSource": "reported"},
                   agent("t4", "a", at=-MINUTE, CostUsd=9.0)])  # not a model call: not spend
    [status] = evaluate_spend(store, [budget(limit_usd=5)], T0)
    assert (status.member, status.spent_usd, status.used) == (None, pytest.approx(3.75), pytest.approx(0.75))
    assert status.projected_usd == pytest.approx(7.5)          # half the day gone at noon


def test_a_group_budget_counts_each_members_tasks_by_when_they_started(store: Storage) -> None:
    insert(store, [*task("t1", "alice", 1.25, at=-10 * MINUTE), *task("t2", "alice", 2.0, at=-20 * MINUTE),
                   *task("t3", "bob", 4.0, at=-30 * MINUTE, tenant="globex"),
                   *task("t4", "carol", 8.0, at=-10 * MINUTE, service="billing-agent"),
                   *task("t5", "", 3.0, at=-10 * MINUTE)])
    sync_tasks(store, T0, since=T0 - timedelta(hours=2))
    by_user = {s.member: s.spent_usd for s in evaluate_spend(store, [budget(per="user")], T0)}
    assert by_user == {"alice": pytest.approx(3.25), "bob": pytest.approx(4.0), "carol": pytest.approx(8.0)}
    by_tenant = {s.member: s.spent_usd for s in evaluate_spend(store, [budget(per="tenant", service="support-agent")], T0)}
    assert by_tenant == {"acme": pytest.approx(6.25), "globex": pytest.approx(4.0)}


@pytest.mark.parametrize(("amount", "text"), [
    pytest.param(0, "$0.00", id="nothing"),
    pytest.param(0.0062, "$0.0062", id="a cap under a cent keeps two significant digits"),
    pytest.param(0.0031, "$0.0031", id="a spend under a cent is not $0.00"),
    pytest.param(0.796, "$0.80", id="under a dollar, two significant digits"),
    pytest.param(1234.5, "$1,234.50", id="from a dollar on, cents and thousands"),
])
def test_money_is_written_with_the_precision_it_needs(amount: float, text: str) -> None:
    assert format_usd(amount) == text
