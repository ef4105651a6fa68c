"""The console's pages, rendered on the server with Jinja2 from the same reads and the same API forms as the
JSON API (`/api/v1/...`): what a page shows is what its API call answers.

Times go into the page as UTC ISO `<time datetime>` elements, which the page's script shows in
the browser's time zone; money through slo.format_usd, with the precision it needs.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from markupsafe import Markup
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from agentslo.access import requires_in_browser
from agentslo.alerts_api import alerts_out
from agentslo.config import Config
from agentslo.console._api import DEFAULT_DIMENSIONS, DEFAULT_SPEND_DAYS, TRACE_ID, ConsoleReads, answer
from agentslo.console._charts import budget_burn_down, daily_spend, sli_history
from agentslo.console._queries import TASK_FILTER_COLUMNS, TaskStatus
from agentslo.slo_api import SloStatusOut, current, latest_slos, spend_out
from alerts import AlertStore
from ground.auth import KeyRing, Scope
from slo import SpendPeriod, SpendStatus, format_duration, format_usd

__all__ = ["console_pages_router"]

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))
TEMPLATES.env.filters["usd"] = format_usd
TEMPLATES.env.filters["iso"] = lambda moment: (
    "" if moment is None else moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"))
TEMPLATES.env.filters["pct"] = lambda ratio, digits=2: "–" if ratio is None else f"{100 * ratio:.{digits}f}%"
# JSON inside <script>: "</" would end the element early.
TEMPLATES.env.filters["script_json"] = lambda text: Markup(text.replace("</", "<\\/"))
TEMPLATES.env.filters["count"] = lambda n: f"{n:,.0f}"
TEMPLATES.env.filters["ms"] = lambda ms: f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.1f} ms"

# Members of a budget per user, tenant or agent the spend page lists (the most used); the API lists all.
TOP_MEMBERS = 10

# The ranges the tasks page offers, and the one it opens with.
TASK_RANGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7),
               "30d": timedelta(days=30)}
# The spend page's ranges: so many UTC days, today included; it opens with the API's default.
SPEND_RANGES = {"7d": 7, "30d": DEFAULT_SPEND_DAYS, "90d": 90}
# A range picker's choice when the page is given `start` or `end`.
CUSTOM = "custom"


def console_pages_router(reads: ConsoleReads, store: AlertStore, config: Config, keys: KeyRing) -> APIRouter:
    """The console's HTML pages (a read key, from a header or as a Basic password); not in the API
    description, whose JSON routes answer the same."""
    router = APIRouter(include_in_schema=False, dependencies=[requires_in_browser(keys, Scope.READ)])
    evaluator = reads.evaluator

    def page(request: Request, template: str, **context: Any) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, template, {"page": template.removesuffix(".html"), **context})

    @router.get("/", response_class=HTMLResponse)
    async def slos_page(request: Request) -> HTMLResponse:
        statuses = await answer(latest_slos(evaluator))
        rows = sorted(statuses, key=_worst_budget_first)
        windows = {slo.name: _window_pairs(slo) for slo in evaluator.slos}
        return page(request, "slos.html", slos=rows, windows=windows, burn_rates=_burn_rates(rows))

    @router.get("/slos/{name}", response_class=HTMLResponse)
    async def slo_page(request: Request, name: str) -> HTMLResponse:
        slo = next((slo for slo in evaluator.slos if slo.name == name), None)
        if slo is None:
            raise HTTPException(404, f"no SLO named {name!r}")
        statuses = {status.name: status for status in await answer(latest_slos(evaluator))}
        history = await answer(reads.slo_history(name))
        alerts = await answer(asyncio.to_thread(alerts_out, store, 200))
        spec = next(spec for spec in config.slos if spec.name == name)
        return page(
            request, "slo.html", slo=statuses.get(name), name=name, windows=_window_pairs(slo), history=history,
            burn_down=budget_burn_down(history, "Error budget remaining"),
            sli_chart=sli_history(history, slo.target, "SLI against the objective"),
            config_yaml=yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False),
            alerts=[a for a in alerts.alerts if a.labels.get("slo") == name],
            deliveries=[d for d in alerts.deliveries if d.slo == name],
        )

    @router.get("/spend", response_class=HTMLResponse)
    async def spend_page(
        request: Request,
        range: Annotated[str, Query(pattern=_choice(SPEND_RANGES))] = "30d",  # noqa: A002
        start: datetime | None = None, end: datetime | None = None,
    ) -> HTMLResponse:
        chosen = CUSTOM if start is not None or end is not None else range
        if chosen in SPEND_RANGES:
            end = reads.clock()
            start = _utc_day(end) - timedelta(days=SPEND_RANGES[chosen] - 1)
        start, end = await answer(_checked(reads.spend_range, start, end))
        daily_caps = [(b.name, b.limit_usd) for b in _whole_spend_budgets(evaluator, SpendPeriod.DAY)]
        monthly_caps = [(b.name, b.limit_usd) for b in _whole_spend_budgets(evaluator, SpendPeriod.MONTH)]
        month_start = _utc_day(start).replace(day=1)
        # The month-to-date line counts the first days of the range's first month too, read alongside.
        earlier = (answer(reads.spend(start=month_start, end=start, dimensions=()))
                   if monthly_caps and month_start < start else None)
        latest, spent, *before = await asyncio.gather(
            current(evaluator), answer(reads.spend(start=start, end=end, dimensions=DEFAULT_DIMENSIONS)),
            *([earlier] if earlier else []))
        spent_before_usd = sum(day.cost_usd for day in before[0].daily) if before else 0.0
        models = spent.breakdowns[0]
        shown, hidden = _top_members(latest.spend)
        return page(request, "spend.html", budgets=[spend_out(status, latest.cap) for status in shown],
                    hidden_members=hidden, spend=spent,
                    chart_json=daily_spend(spent.daily, daily_caps, monthly_caps, spent_before_usd,
                                           "Spend per UTC day against the caps"),
                    unpriced=[row for row in models.rows if row.unpriced_calls],
                    range=chosen, ranges=list(SPEND_RANGES))

    @router.get("/tasks", response_class=HTMLResponse)
    async def tasks_page(
        request: Request,
        range: Annotated[str, Query(pattern=_choice(TASK_RANGES))] = "24h",  # noqa: A002
        start: datetime | None = None, end: datetime | None = None,
        service: str = "", agent: str = "", user: str = "", tenant: str = "", task_type: str = "",
        environment: str = "", status: Annotated[str, Query(pattern="^(|ok|error)$")] = "",  # the form's "any": ""
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> HTMLResponse:
        values = {"service": service, "agent": agent, "user": user, "tenant": tenant, "task_type": task_type,
                  "environment": environment}
        picked = CUSTOM if start is not None or end is not None else range
        if picked in TASK_RANGES:
            end = reads.clock()
            start = end - TASK_RANGES[picked]
        chosen = TaskStatus(status) if status else None
        found = await answer(reads.tasks(start=start, end=end, equals=values, status=chosen, cursor=cursor,
                                         limit=limit))
        kept = {"range": picked, "start": _iso(found.start), "end": _iso(found.end),
                **{k: v for k, v in values.items() if v}, "limit": limit}
        if chosen is not None:
            kept["status"] = chosen.value
        return page(request, "tasks.html", page_of=found, filters=values, status=chosen, range=picked,
                    ranges=list(TASK_RANGES), columns=TASK_FILTER_COLUMNS, kept=kept, paged=cursor is not None)

    @router.get("/traces", response_class=RedirectResponse, status_code=303)
    async def trace_lookup(trace_id: Annotated[str, Query(max_length=64)] = "") -> RedirectResponse:
        """The header's look-up box: a trace id as pasted from a log line (spaces around, any case)."""
        wanted = trace_id.strip().lower()
        if not _is_trace_id(wanted):
            raise HTTPException(422, "a trace id is 32 hex digits")
        return RedirectResponse(f"/traces/{wanted}", status_code=303)

    @router.get("/traces/{trace_id}", response_class=HTMLResponse)
    async def trace_page(request: Request, trace_id: str) -> HTMLResponse:
        if not _is_trace_id(trace_id):
            raise HTTPException(422, "a trace id is 32 hex digits")
        found = await answer(reads.trace(trace_id))
        if found is None:
            raise HTTPException(404, f"no span of trace {trace_id.lower()} is stored")
        return page(request, "trace.html", trace=found)

    @router.get("/alerts", response_class=HTMLResponse)
    async def alerts_page(request: Request) -> HTMLResponse:
        alerts = await answer(asyncio.to_thread(alerts_out, store, 200))
        return page(request, "alerts.html", alerts=alerts)

    return router


async def _checked(resolve: Any, *args: Any) -> Any:
    """`resolve(*args)` as an awaitable, for `answer` to turn its BadParameter into a 422."""
    return resolve(*args)


def _choice(ranges: dict[str, Any]) -> str:
    """The pattern of a page's `range`: one of its presets, or from / to."""
    return "^(" + "|".join([*ranges, CUSTOM]) + ")$"


def _utc_day(moment: datetime) -> datetime:
    """The start of the UTC day holding `moment`."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _whole_spend_budgets(evaluator: Any, period: SpendPeriod) -> list[Any]:
    """The budgets over all spend (no member, no service) of this period: what the daily chart can show."""
    return [b for b in evaluator.budgets if b.per is None and b.service is None and b.period is period]


def _top_members(statuses: Sequence[SpendStatus]) -> tuple[list[SpendStatus], dict[str, int]]:
    """The budgets' scopes, most used first, keeping a group budget's TOP_MEMBERS most used members; how
    many members of each group budget are left out. (Picked before the API form is made: a group budget
    can have thousands of members.)"""
    ordered = sorted(statuses, key=lambda s: (-s.used, s.budget.name, s.member or ""))
    kept: dict[str, int] = {}
    shown = []
    for status in ordered:
        if status.member is not None:
            name = status.budget.name
            kept[name] = kept.get(name, 0) + 1
            if kept[name] > TOP_MEMBERS:
                continue
        shown.append(status)
    return shown, {name: count - TOP_MEMBERS for name, count in kept.items() if count > TOP_MEMBERS}


def _worst_budget_first(status: SloStatusOut) -> tuple[int, float, str]:
    """Least error budget left first; SLOs without data after those with."""
    remaining = status.error_budget_remaining
    return (remaining is None, remaining if remaining is not None else 0.0, status.name)


def _burn_rates(statuses: list[SloStatusOut]) -> dict[str, dict[str, float | None]]:
    """Each SLO's burn rates by window label."""
    return {status.name: {rate.window: rate.burn_rate for rate in status.burn_rates} for status in statuses}


def _window_pairs(slo: Any) -> list[dict[str, Any]]:
    """The SLO's alert window pairs: severity, long and short window labels (as the API's burn_rates
    name them) and the burn rate both must exceed."""
    return [{"severity": w.severity.value, "long": format_duration(w.long_window),
             "short": format_duration(w.short_window), "factor": w.burn_factor} for w in slo.alert_windows]


def _is_trace_id(text: str) -> bool:
    return re.fullmatch(TRACE_ID, text) is not None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")

