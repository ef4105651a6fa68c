"""Spend budgets as panel and alert-rule SQL: each budget's spend this period against its cap. Pure.

A budget's spend is `slo.spend_sql`, the text the engine runs, with the period
written in the plugin's macros: the period holding the range's end
(`$__toTime`), in UTC, as the service counts it. Budget names are validated
identifiers; a service name is user text and is quoted.
"""

from __future__ import annotations

from collections.abc import Sequence

from dashboards._queries import Format, PanelQuery
from slo import SpendBudget, SpendLevel, SpendPeriod, spend_sql

# The period holding the range's end, and its length in seconds, per period kind.
_PERIOD_START = {SpendPeriod.DAY: "toStartOfDay($__toTime, 'UTC')",
                 SpendPeriod.MONTH: "toDateTime(toStartOfMonth($__toTime, 'UTC'), 'UTC')"}
_PERIOD_END = {SpendPeriod.DAY: f"{_PERIOD_START[SpendPeriod.DAY]} + INTERVAL 1 DAY",
               SpendPeriod.MONTH: f"{_PERIOD_START[SpendPeriod.MONTH]} + INTERVAL 1 MONTH"}


def sql_string(text: str) -> str:
    """`text` as a ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _spend(budget: SpendBudget) -> str:
    service = None if budget.service is None else sql_string(budget.service)
    return spend_sql(budget, start=_PERIOD_START[budget.period], end="$__toTime", service=service)


def budget_spend(budgets: Sequence[SpendBudget]) -> PanelQuery:
    """Every budget's spend this period against its cap, the projection at the same pace, most used first.

    One row per global budget and one per member with spend of a group budget.
    """
    parts = []
    for budget in budgets:
        start, end = _PERIOD_START[budget.period], _PERIOD_END[budget.period]
        parts.append(f"""SELECT {sql_string(budget.name)} AS budget, {sql_string(budget.period.value)} AS period,
       member, {budget.limit_usd!r} AS cap_usd, spent_usd, spent_usd / cap_usd AS used,
       spent_usd * dateDiff('second', {start}, {end}) / greatest(dateDiff('second', {start}, $__toTime), 60)
           AS projected_usd
FROM ({_spend(budget)}
)""")
    union = "\nUNION ALL\n".join(parts)
    return PanelQuery(f"""SELECT budget, period, if(member = '', '(all)', member) AS member, cap_usd, spent_usd, used,
       projected_usd
FROM (
{union}
)
ORDER BY used DESC, budget, member
LIMIT 50""", Format.TABLE, ("budget", "period", "member", "cap_usd", "spent_usd", "used", "projected_usd"))


def budget_reached(budget: SpendBudget, level: SpendLevel) -> PanelQuery:
    """1 for each scope of the budget whose spend this period reached `level` of the cap, else 0.

    A group budget gives a row per member, labelled by the group's name
    (`user`, `tenant`, `agent`): Grafana alerting makes one instance per member.
    """
    label = "" if budget.per is None else f"member AS {budget.per.value}, "
    sql = f"""SELECT {label}toFloat64(spent_usd >= {level.ratio * budget.limit_usd!r}) AS reached
FROM ({_spend(budget)}
)"""
    columns = ("reached",) if budget.per is None else (budget.per.value, "reached")
    return PanelQuery(sql, Format.TABLE, columns)
