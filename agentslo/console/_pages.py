"""The console's pages, rendered on the server with Jinja2 from the same reads and the same API forms as the
JSON API (`/api/v1/...`): what a page shows is what its API call answers.

Times go into the page as UTC ISO `<time datetime>` elements, which the page's script shows in
the browser's time zone; money through slo.format_usd, with the precision it needs.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from markupsafe import Markup
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from agentslo.access import requires_in_browser
from agentslo.alerts_api import alerts_out
from agentslo.config import Config
from agentslo.console._api import DEFAULT_DIMENSIONS, TRACE_ID, ConsoleReads, answer
from agentslo.console._charts import budget_burn_down, daily_spend, sli_history
from agentslo.console._queries import TASK_FILTER_COLUMNS, TaskStatus
from agentslo.slo_api import SloStatusOut, SpendStatusOut, latest_budgets, latest_slos
from alerts import AlertStore
from ground.auth import KeyRing, Scope
from slo import SpendPeriod, format_duration, format_usd

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
    async def spend_page(request: Request) -> HTMLResponse:
        budgets, spent = await asyncio.gather(answer(latest_budgets(evaluator)),
                                              answer(reads.spend(dimensions=DEFAULT_DIMENSIONS)))
        caps = [(b.name, b.limit_usd) for b in evaluator.budgets if b.per is None and b.period is SpendPeriod.DAY]
        models = spent.breakdowns[0]
        shown, hidden = _top_members(budgets)
        return page(request, "spend.html", budgets=shown, hidden_members=hidden,
                    spend=spent, chart_json=daily_spend(spent.daily, caps, "Spend per UTC day"),
                    unpriced=[row for row in models.rows if row.unpriced_calls])

    @router.get("/tasks", response_class=HTMLResponse)
    async def tasks_page(
        request: Request,
        range: Annotated[str, Query(pattern="^(" + "|".join(TASK_RANGES) + ")$")] = "24h",  # noqa: A002
        start: datetime | None = None, end: datetime | None = None,
        service: str = "", agent: str = "", user: str = "", tenant: str = "", task_type: str = "",
        environment: str = "", status: Annotated[str, Query(pattern="^(|ok|error)$")] = "",  # the form's "any": ""
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> HTMLResponse:
        values = {"service": service, "agent": agent, "user": user, "tenant": tenant, "task_type": task_type,
                  "environment": environment}
        if start is None and end is None:
            end = reads.clock()
            start = end - TASK_RANGES[range]
        chosen = TaskStatus(status) if status else None
        found = await answer(reads.tasks(start=start, end=end, equals=values, status=chosen, cursor=cursor,
                                         limit=limit))
        kept = {"range": range, "start": _iso(found.start), "end": _iso(found.end),
                **{k: v for k, v in values.items() if v}, "limit": limit}
        if chosen is not None:
            kept["status"] = chosen.value
        return page(request, "tasks.html", page_of=found, filters=values, status=chosen, range=range,
                    ranges=list(TASK_RANGES), columns=TASK_FILTER_COLUMNS, kept=kept, paged=cursor is not None)

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


def _top_members(budgets: list[SpendStatusOut]) -> tuple[list[SpendStatusOut], dict[str, int]]:
    """The budgets, most used first, keeping a group budget's TOP_MEMBERS most used members; how many
    members of each group budget are left out."""
    ordered = sorted(budgets, key=lambda b: (-b.used, b.budget, b.member or ""))
    kept: dict[str, int] = {}
    shown = []
    for budget in ordered:
        if budget.member is not None:
            kept[budget.budget] = kept.get(budget.budget, 0) + 1
            if kept[budget.budget] > TOP_MEMBERS:
                continue
        shown.append(budget)
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

