"""Spend-budget alert rules: from what a budget's scope spent to the condition of each level. Pure.

One alert instance per budget, member and level: `per-user-daily` with levels
80% and 100% gives user alice two instances. A level's instance fires once
when the period's spend reaches it and stays quiet for the rest of the period
(no repeats); when a new period starts, the spend is back under the level and
the instance resolves without a notification (a quiet one, sent only to
receivers that keep incidents open until resolved: PagerDuty), ready to fire again. So traffic
that crosses 80% then 100% of a daily cap sends exactly two notifications a
day per member, the way cloud billing alerts behave.

Ingest clients name their users (and, without API keys, their tenants), so a group
budget has instances for its `max_members` top spenders only (`cap_members`): the
members beyond are counted, not alerted for. An instance whose member drops out of
the top resolves silently, as at a period's end, and fires again if it comes back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from alerts._rules import AlertCondition
from slo import SpendStatus, format_usd

SPEND_BUDGET_ALERT = "SpendBudget"


def spend_conditions(status: SpendStatus) -> tuple[AlertCondition, ...]:
    """Every level's alert instance of one budget scope (the budget, or one member of it)."""
    budget = status.budget
    labels = {"alertname": SPEND_BUDGET_ALERT, "budget": budget.name, "period": budget.period.value}
    scope = budget.name
    if budget.per is not None and status.member is not None:
        labels[budget.per.value] = status.member
        scope = f"{budget.name} for {budget.per.value} {status.member}"
    if budget.service is not None:
        labels["service"] = budget.service
    start, end = status.period_bounds
    period = "today" if budget.period.value == "day" else "this month"
    return tuple(
        AlertCondition(
            labels={**labels, "level": level.label, "severity": level.severity.value},
            annotations={
                "summary": (f"Spend budget {scope}: {format_usd(status.spent_usd)} spent {period}, "
                            f"{status.used * 100:.1f}% of the {format_usd(budget.limit_usd)} cap "
                            f"(alert at {level.label}); projected {format_usd(status.projected_usd)} "
                            f"by the end of the {budget.period.value}"),
                "spent_usd": f"{status.spent_usd:.6f}",
                "limit_usd": f"{budget.limit_usd:g}",
                "used": f"{status.used * 100:.1f}%",
                "projected_usd": f"{status.projected_usd:.2f}",
                "remaining_usd": f"{status.remaining_usd:.2f}",
                "period_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "period_end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            active=status.reached(level),
            repeat_interval=None,
            send_resolved=False,
        )
        for level in budget.levels
    )


class CappedSpend:
    """Spend scopes split by whether they have alert instances of their own (`cap_members`)."""

    def __init__(self, spend: tuple[SpendStatus, ...], left_out: frozenset[tuple[str, str | None]]) -> None:
        self._left_out = left_out
        # Global budgets and each group budget's top spenders, in the order given.
        self.alerted = tuple(s for s in spend if (s.budget.name, s.member) not in left_out)
        # Members beyond their budget's max_members.
        self.over_cap = tuple(s for s in spend if (s.budget.name, s.member) in left_out)
        self._over = Counter(s.budget.name for s in self.over_cap)

    def members_over_cap(self, budget: str) -> int:
        """How many members of `budget` have spend but no alert instance of their own."""
        return self._over[budget]

    def alerts(self, status: SpendStatus) -> bool:
        """Whether this scope has alert instances of its own."""
        return (status.budget.name, status.member) not in self._left_out


def cap_members(spend: Iterable[SpendStatus]) -> CappedSpend:
    """Keep each group budget's `max_members` highest spenders (equal spend: by member name), so the
    choice is the same every cycle; the members beyond get no alert instance of their own."""
    spend = tuple(spend)
    members: dict[str, list[SpendStatus]] = {}
    for status in spend:
        if status.budget.per is not None:
            members.setdefault(status.budget.name, []).append(status)
    left_out: set[tuple[str, str | None]] = set()
    for budget, scopes in members.items():
        ranked = sorted(scopes, key=lambda s: (-s.spent_usd, s.member or ""))
        left_out.update((budget, s.member) for s in ranked[scopes[0].budget.max_members:])
    return CappedSpend(spend, frozenset(left_out))
