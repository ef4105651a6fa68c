"""Spend-budget alert rules: from what a budget's scope spent to the condition of each level. Pure.

One alert instance per budget, member and level: `per-user-daily` with levels
80% and 100% gives user alice two instances. A level's instance fires once
when the period's spend reaches it and stays quiet for the rest of the period
(no repeats); when a new period starts, the spend is back under the level and
the instance resolves without a notification, ready to fire again. So traffic
that crosses 80% then 100% of a daily cap sends exactly two notifications a
day per member, the way cloud billing alerts behave.
"""

from __future__ import annotations

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
