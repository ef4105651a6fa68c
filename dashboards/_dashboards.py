"""The Grafana dashboards, built with grafana-foundation-sdk from the queries of `dashboards._queries`."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import common, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    DataTransformerConfig,
    DynamicConfigValue,
    FieldColorModeId,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)

from dashboards import _budget_queries as bq
from dashboards import _queries as q
from dashboards._queries import Format, PanelQuery
from slo import SpendBudget, SpendPeriod

PLUGIN = "grafana-clickhouse-datasource"
# The uids of the SLO and Spend dashboards: alert annotations link to them (alerts.DashboardLinks).
SLO_DASHBOARD_UID = "agentslo-slos"
SPEND_DASHBOARD_UID = "agentslo-spend"
DATASOURCE_UID = "agentslo-clickhouse"
DATASOURCE = DataSourceRef(type_val=PLUGIN, uid=DATASOURCE_UID)


@dataclass(frozen=True)
class ClickHouseQuery(cogvariants.Dataquery):
    """A raw-SQL target of the ClickHouse plugin (its v4 query model)."""

    query: PanelQuery
    ref_id: str = "A"

    def to_json(self) -> dict[str, Any]:
        return {
            "datasource": {"type": PLUGIN, "uid": DATASOURCE_UID},
            "editorType": "sql",
            "format": int(self.query.format),
            "queryType": "timeseries" if self.query.format is Format.TIME_SERIES else "table",
            "rawSql": self.query.sql,
            "refId": self.ref_id,
        }


class _Target(cogbuilder.Builder[ClickHouseQuery]):
    def __init__(self, query: PanelQuery, ref_id: str = "A") -> None:
        self._query = ClickHouseQuery(query, ref_id)

    def build(self) -> ClickHouseQuery:
        return self._query


@dataclass(frozen=True)
class PanelSpec:
    """A query a panel runs: which dashboard, the panel's title, the query and its refId (A, B, ...)."""

    dashboard_uid: str
    title: str
    query: PanelQuery
    ref_id: str = "A"


def _thresholds(*steps: tuple[float | None, str]) -> db.ThresholdsConfig:
    return db.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
        [Threshold(value=value, color=color) for value, color in steps])


def _variable(name: str, label: str, query: PanelQuery) -> db.QueryVariable:
    """A multi-value variable with All, listing the values seen in the time range."""
    return (db.QueryVariable(name).label(label).datasource(DATASOURCE).query(query.sql)
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True).include_all(True))


# Template variables of the span dashboards, and the column each filters.
SPAN_VARIABLES = {"service": "ServiceName", "agent": "AgentName", "model": "RequestModel",
                  "environment": "Environment"}


def _span_variables(dashboard: db.Dashboard, names: tuple[str, ...]) -> db.Dashboard:
    for name in names:
        dashboard = dashboard.with_variable(
            _variable(name, name.capitalize(), q.variable_values(SPAN_VARIABLES[name])))
    return dashboard


# Grafana Explore on the plugin's trace view of the clicked trace id (its builder in trace-id mode).
_TRACE_PANE = {"trace": {
    "datasource": DATASOURCE_UID,
    "queries": [{"refId": "A", "datasource": {"type": PLUGIN, "uid": DATASOURCE_UID}, "editorType": "builder",
                 "queryType": "traces", "format": 3,
                 "builderOptions": {"queryType": "traces", "meta": {"isTraceIdMode": True, "traceId": "${__value.raw}"}}}],
    "range": {"from": "${__from}", "to": "${__to}"},
}}
_TRACE_LINK = "/explore?schemaVersion=1&panes=" + json.dumps(_TRACE_PANE, sort_keys=True, separators=(",", ":"))


def _unit(unit: str) -> DynamicConfigValue:
    return DynamicConfigValue(id_val="unit", value=unit)


def _links() -> DynamicConfigValue:
    """A data link from a trace id cell to the plugin's trace view of that trace."""
    return DynamicConfigValue(id_val="links", value=[{"title": "Open trace", "url": _TRACE_LINK, "targetBlank": True}])


class _Built:
    """Collects panels and the queries they run while a dashboard is assembled; numbers panels and rows in order."""

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self.panels: list[PanelSpec] = []
        self._ids = 0

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def add(self, panel: Any, title: str, query: PanelQuery, *more: PanelQuery) -> Any:
        panel = panel.id(self._next_id()).title(title).datasource(DATASOURCE)
        for ref_id, each in zip("ABCDEFGH", (query, *more)):
            self.panels.append(PanelSpec(self.uid, title, each, ref_id))
            panel = panel.with_target(_Target(each, ref_id))
        return panel

    def row(self, title: str) -> db.Row:
        return db.Row(title).id(self._next_id())


def _timeseries(built: _Built, title: str, query: PanelQuery, unit: str, *, span: int = 12) -> timeseries.Panel:
    return built.add(timeseries.Panel(), title, query).unit(unit).height(8).span(span)


def _table(built: _Built, title: str, query: PanelQuery, *, span: int = 12) -> table.Panel:
    return built.add(table.Panel(), title, query).height(8).span(span)


def _stat(built: _Built, title: str, query: PanelQuery, unit: str, *, span: int = 6) -> stat.Panel:
    return built.add(stat.Panel(), title, query).unit(unit).height(4).span(span)


def _objective_thresholds(panel: timeseries.Panel) -> timeseries.Panel:
    """Draw the SLI against its SLO's objective: query B's `objective` becomes the panel's threshold
    (Grafana's config-from-query transformation), so each repeated SLO row gets its own."""
    return (panel.thresholds(_thresholds((None, "red"), (0.99, "green")))
            .thresholds_style(common.GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED))
            .color_scheme(db.FieldColor().mode(FieldColorModeId.THRESHOLDS))
            .with_transformation(DataTransformerConfig(id_val="configFromData", options={
                "configRefId": "B",
                "mappings": [{"fieldName": "objective", "handlerKey": "threshold1"}],
                "applyTo": {"id": "byFrameRefID", "options": "A"},
            })))


def _cap_thresholds(budgets: Sequence[SpendBudget], period: SpendPeriod) -> db.ThresholdsConfig:
    """Green under the lowest alert level of the tightest global cap for `period`, orange from it, red at the cap.

    Without such a budget everything is green: there is no cap to compare with.
    """
    caps = [b for b in budgets if b.period is period and b.per is None and b.service is None]
    if not caps:
        return _thresholds((None, "green"))
    tightest = min(caps, key=lambda b: b.limit_usd)
    warn = min(level.ratio for level in tightest.levels)
    if warn >= 1:
        return _thresholds((None, "green"), (tightest.limit_usd, "red"))
    return _thresholds((None, "green"), (warn * tightest.limit_usd, "orange"), (tightest.limit_usd, "red"))


def _base(uid: str, title: str, tags: list[str]) -> db.Dashboard:
    return (db.Dashboard(title).uid(uid).tags(["agentslo", *tags]).time("now-24h", "now").refresh("1m")
            .timezone("utc").editable())


def llm_overview(budgets: Sequence[SpendBudget] = ()) -> tuple[db.Dashboard, list[PanelSpec]]:
    """Requests, errors, latency, tokens, cost by attribution, cache hits, degradation, top traces."""
    built = _Built("agentslo-llm-overview")
    board = _span_variables(_base(built.uid, "AgentSLO / LLM overview", ["llm"]),
                            ("service", "agent", "model", "environment"))
    board = (board
             .with_row(built.row("Traffic"))
             .with_panel(_timeseries(built, "Model calls by service / model", q.requests_by_service_model(),
                                     "short"))
             .with_panel(_timeseries(built, "Errors by service / model", q.errors_by_service_model(), "short"))
             .with_panel(_timeseries(built, "Latency p50 / p95 / p99", q.latency_quantiles(), "s"))
             .with_panel(_timeseries(built, "Tokens in / out", q.tokens_in_out(), "short"))
             .with_panel(_timeseries(built, "Agent tasks", q.task_outcomes(), "short"))
             .with_panel(_timeseries(built, "Retries and circuit-breaker events", q.retries_and_breaker_events(),
                                     "short"))
             .with_row(built.row("Cost"))
             .with_panel(_timeseries(built, "Cost over time by model", q.cost_over_time_by_model(), "currencyUSD",
                                     span=24)))
    board = board.with_panel(_table(built, "Cost by model", q.cost_by_model(), span=8)
                             .override_by_name("cost_usd", [_unit("currencyUSD")]))
    for dimension in ("user", "task_type", "agent", "feature"):
        board = board.with_panel(
            _table(built, f"Cost by {dimension.replace('_', ' ')}", q.cost_by(dimension), span=8)
            .override_by_name("cost_usd", [_unit("currencyUSD")]))
    board = (board
             .with_row(built.row("Cache and degradation"))
             .with_panel(_timeseries(built, "Cache hit rate", q.cache_hit_rate(), "percentunit", span=8)
                         .min(0).max(1))
             .with_panel(_timeseries(built, "Degraded answers", q.degraded_share(), "percentunit", span=8)
                         .min(0).max(1))
             .with_panel(_timeseries(built, "Fallback sources", q.fallback_sources(), "short", span=8))
             .with_row(built.row("Traces"))
             .with_panel(_table(built, "Slowest traces", q.slowest_traces())
                         .override_by_name("trace_id", [_links()]).override_by_name("duration_s", [_unit("s")]))
             .with_panel(_table(built, "Most expensive traces", q.most_expensive_traces())
                         .override_by_name("trace_id", [_links()]).override_by_name("cost_usd", [_unit("currencyUSD")])))
    return board, built.panels


def slos(budgets: Sequence[SpendBudget] = ()) -> tuple[db.Dashboard, list[PanelSpec]]:
    """One row per SLO (repeated by the `slo` variable): SLI vs objective, budget, burn rates, alert state."""
    built = _Built(SLO_DASHBOARD_UID)
    board = (_base(built.uid, "AgentSLO / SLOs", ["slo"])
             .with_variable(_variable("slo", "SLO", q.slo_names()))
             .with_row(built.row("SLO $slo").repeat("slo"))
             .with_panel(_stat(built, "Budget remaining", q.budget_remaining(), "percentunit")
                         .thresholds(_thresholds((None, "red"), (0.25, "orange"), (0.5, "green"))))
             .with_panel(_stat(built, "Time to exhaustion", q.time_to_exhaustion(), "s").no_value("not burning"))
             .with_panel(_objective_thresholds(
                 built.add(timeseries.Panel(), "SLI vs objective", q.sli_vs_objective(), q.slo_objective())
                 .unit("percentunit").height(8).span(12)))
             .with_panel(_timeseries(built, "Burn rate per window", q.burn_rates(), "short")
                         .thresholds(_thresholds((None, "green"), (1, "orange"), (6, "red"))))
             .with_panel(_timeseries(built, "Error budget burn-down", q.budget_burn_down(), "percentunit"))
             .with_panel(built.add(statetimeline.Panel(), "Alert state", q.alert_state_history()).height(4).span(24))
             .with_panel(_timeseries(built, "Good and bad events", q.slo_events(), "short", span=24)))
    return board, built.panels


def spend(budgets: Sequence[SpendBudget] = ()) -> tuple[db.Dashboard, list[PanelSpec]]:
    """Today's and this month's spend against the caps, projected month end, daily spend, the spend
    budgets, top spenders, unpriced calls."""
    built = _Built(SPEND_DASHBOARD_UID)
    daily = _cap_thresholds(budgets, SpendPeriod.DAY)
    board = (_span_variables(_base(built.uid, "AgentSLO / Spend", ["spend"]), ("service", "agent"))
             .with_panel(_stat(built, "Spend today", q.spend_today(), "currencyUSD", span=8).thresholds(daily))
             .with_panel(_stat(built, "Spend this month / projected month end", q.spend_month(), "currencyUSD",
                               span=16).thresholds(_cap_thresholds(budgets, SpendPeriod.MONTH)))
             .with_panel(_timeseries(built, "Daily spend", q.daily_spend(), "currencyUSD", span=24)
                         .thresholds(daily)
                         .thresholds_style(common.GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED))))
    if budgets:
        used = _thresholds((None, "green"), (min(level.ratio for b in budgets for level in b.levels), "orange"),
                           (1, "red"))
        board = board.with_panel(
            _table(built, "Spend budgets this period", bq.budget_spend(budgets), span=24)
            .override_by_name("cap_usd", [_unit("currencyUSD")])
            .override_by_name("spent_usd", [_unit("currencyUSD")])
            .override_by_name("projected_usd", [_unit("currencyUSD")])
            .override_by_name("used", [_unit("percentunit"), DynamicConfigValue(id_val="thresholds", value=used.build()),
                                       DynamicConfigValue(id_val="custom.cellOptions",
                                                          value={"type": "color-background"})]))
    for spender in ("user", "tenant", "agent"):
        board = board.with_panel(_table(built, f"Top spenders by {spender}", q.cost_by(spender), span=8)
                                 .override_by_name("cost_usd", [_unit("currencyUSD")]))
    board = board.with_panel(_table(built, "Unpriced model calls by model", q.unpriced_by_model(), span=24))
    return board, built.panels


DASHBOARDS: dict[str, Callable[[Sequence[SpendBudget]], tuple[db.Dashboard, list[PanelSpec]]]] = {
    "llm-overview": llm_overview,
    "slos": slos,
    "spend": spend,
}
"""Each dashboard's file name (without .json) and its builder, given the config's spend budgets."""


def variable_queries() -> list[PanelQuery]:
    """Every template variable's query."""
    return [q.variable_values(column) for column in SPAN_VARIABLES.values()] + [q.slo_names()]
