"""Spend budgets: USD caps per day or month, global or per member of a group. Pure.

What users write, in the `budgets:` section of the config file::

    budgets:
      - name: llm-daily                 # a global cap: all model calls
        period: day                     # day or month, in UTC
        limit_usd: 200
      - name: per-user-daily            # a cap for each user: every user gets $5 a day
        period: day
        limit_usd: 5
        per: user                       # user, tenant or agent
        service: support-agent          # optional: only this service's spend
        levels: [80, 100]               # percent of the cap that alert (the default)
      - name: tenant-monthly
        period: month
        limit_usd: 1000
        per: tenant
        levels: [50, {percent: 90, severity: page}, 100]
        max_members: 200                # members with alerts of their own (default 1000)

A level alerts once per period when the spend reaches it: `ticket` below 100%,
`page` from 100% on, unless the level names its severity. A global budget
counts every model call's cost in `otel_traces`; a group budget counts each
finished agent task's cost (`agent_tasks`) for the member the task carries,
on the day (or month) the task started, the way the Spend dashboard's top
spenders do. Ingest clients name their users, so a group budget alerts for its
`max_members` top spenders only (alerts.cap_members): members beyond are counted,
and have no alert instance of their own.

Spec types stop at `spend_budget_from_spec`; the engine and alerting read the
frozen `SpendBudget` and the `SpendStatus` it evaluates to.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator

from ground.spec import Loc, Spec, parse_named_list, problems_of
from slo._budget import Severity, calendar_month_bounds

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# 80% warns while there is room to act, 100% says the cap is reached.
DEFAULT_SPEND_LEVELS = (80.0, 100.0)
# Members of a group budget with alert instances of their own: two notifications a day each
# at most, a bounded outbox and alert-state table whatever users ingest clients invent (issue 13).
DEFAULT_MAX_MEMBERS = 1000


class SpendPeriod(enum.Enum):
    """The period a cap applies to, in UTC."""

    DAY = "day"
    MONTH = "month"

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        """The period holding `now`: its first instant and the next period's first (UTC)."""
        if self is SpendPeriod.MONTH:
            return calendar_month_bounds(now)
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return day, day + timedelta(days=1)


class SpendGroup(enum.Enum):
    """Who a per-member cap applies to, and the task column that names the member."""

    USER = "user"
    TENANT = "tenant"
    AGENT = "agent"

    @property
    def column(self) -> str:
        """The `agent_tasks` column holding the member."""
        return {SpendGroup.USER: "UserId", SpendGroup.TENANT: "Tenant", SpendGroup.AGENT: "AgentName"}[self]


@dataclass(frozen=True)
class SpendLevel:
    """A share of the cap that alerts, as a 0-1 ratio (1.0 is the cap), and how loudly."""

    ratio: float
    severity: Severity

    @property
    def label(self) -> str:
        """The level as users wrote it: `80%`."""
        return f"{self.ratio * 100:g}%"


@dataclass(frozen=True)
class SpendBudget:
    """A USD cap over a period, global (`per` None) or for each member of a group."""

    name: str
    period: SpendPeriod
    limit_usd: float
    levels: tuple[SpendLevel, ...]
    per: SpendGroup | None = None
    service: str | None = None
    max_members: int = DEFAULT_MAX_MEMBERS


@dataclass(frozen=True)
class SpendStatus:
    """What a budget's scope spent so far in the period holding `at`.

    `member` is the user, tenant or agent of a group budget; None for a global one.
    """

    budget: SpendBudget
    member: str | None
    spent_usd: float
    at: datetime

    @property
    def period_bounds(self) -> tuple[datetime, datetime]:
        """The period this spend is in."""
        return self.budget.period.bounds(self.at)

    @property
    def used(self) -> float:
        """The spend as a share of the cap (1.0 at the cap)."""
        return self.spent_usd / self.budget.limit_usd

    @property
    def remaining_usd(self) -> float:
        """What is left of the cap; negative once over it."""
        return self.budget.limit_usd - self.spent_usd

    @property
    def projected_usd(self) -> float:
        """The spend at the period's end if the pace so far holds."""
        return projected_spend(self.spent_usd, *self.period_bounds, self.at)

    def reached(self, level: SpendLevel) -> bool:
        """Whether the spend is at or past the level."""
        return self.spent_usd >= level.ratio * self.budget.limit_usd


def format_usd(amount: float) -> str:
    """Money with the precision it needs: cents from a dollar up ($1,234.50), two significant digits
    below ($0.0062, $0.80), so that a small spend or cap never reads as $0.00."""
    if amount == 0 or abs(amount) >= 1:
        return f"${amount:,.2f}"
    digits = max(2, 1 - math.floor(math.log10(abs(amount))))
    return f"${amount:.{digits}f}"


def projected_spend(spent_usd: float, start: datetime, end: datetime, now: datetime) -> float:
    """`spent_usd` over [start, now) extrapolated linearly to `end`.

    Less than a minute into the period the pace means nothing yet; the spend so
    far is the projection then.
    """
    elapsed = (now - start).total_seconds()
    if elapsed < 60:
        return spent_usd
    return spent_usd * (end - start).total_seconds() / elapsed


# ----------------------------------------------------------------------------- spec


class SpendLevelSpec(Spec):
    """A level with its severity spelt out."""

    percent: float = Field(gt=0, le=1000)
    severity: Literal["page", "ticket"]


class SpendBudgetSpec(Spec):
    """One entry of `budgets:`."""

    name: str
    description: str = ""
    period: Literal["day", "month"]
    limit_usd: float = Field(gt=0)
    per: Literal["user", "tenant", "agent"] | None = None
    service: str | None = None
    levels: tuple[float | SpendLevelSpec, ...] = DEFAULT_SPEND_LEVELS
    max_members: int = Field(default=DEFAULT_MAX_MEMBERS, ge=1)

    @field_validator("max_members")
    @classmethod
    def _check_members(cls, max_members: int, info: ValidationInfo) -> int:
        if info.data.get("per") is None:
            raise ValueError("only a budget per user, tenant or agent has members")
        return max_members

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError("must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        return name

    @field_validator("levels")
    @classmethod
    def _check_levels(cls, levels: tuple[float | SpendLevelSpec, ...]) -> tuple[float | SpendLevelSpec, ...]:
        if not levels:
            raise ValueError("must name at least one percent of the cap, e.g. [80, 100]")
        percents = [level.percent if isinstance(level, SpendLevelSpec) else level for level in levels]
        if any(not 0 < p <= 1000 for p in percents):
            raise ValueError("each level must be a percent of the cap above 0 and at most 1000")
        if len(set(percents)) != len(percents):
            raise ValueError("levels must be distinct")
        return levels


def parse_spend_budgets(items: object, *, where: str) -> tuple[SpendBudgetSpec, ...]:
    """Validate the `budgets:` list as read from YAML; `where` prefixes each problem.

    With `where="agentslo.yaml: budgets"` a problem reads
    `agentslo.yaml: budgets[0] (per-user-daily).limit_usd: must be greater than 0`.
    Raises ConfigError listing every problem, duplicate names included.
    """
    return parse_named_list(items, where=where, noun=("budget", "budgets"), validate=_validate_budget)


def _validate_budget(item: object) -> SpendBudgetSpec | list[tuple[Loc, str]]:
    """`item` as a SpendBudgetSpec, or its problems, each as (path in the spec, message)."""
    if not isinstance(item, Mapping):
        return [((), f"must be a mapping with name, period and limit_usd, got {type(item).__name__}")]
    try:
        return SpendBudgetSpec.model_validate(item)
    except ValidationError as exc:
        return [problem for err in exc.errors() for problem in problems_of(err, SpendBudgetSpec)]


def spend_budget_from_spec(spec: SpendBudgetSpec) -> SpendBudget:
    """The domain value of a validated spec: percents become ratios, levels get their severity."""
    levels = []
    for level in spec.levels:
        if isinstance(level, SpendLevelSpec):
            levels.append(SpendLevel(level.percent / 100, Severity(level.severity)))
        else:
            levels.append(SpendLevel(level / 100, Severity.PAGE if level >= 100 else Severity.TICKET))
    return SpendBudget(
        name=spec.name,
        period=SpendPeriod(spec.period),
        limit_usd=spec.limit_usd,
        levels=tuple(sorted(levels, key=lambda level: level.ratio)),
        per=None if spec.per is None else SpendGroup(spec.per),
        service=spec.service,
        max_members=spec.max_members,
    )
