"""The service's burn-rate and spend-budget alerts as Grafana alert rules, in Grafana's file-provisioning format.

The SDK's alerting builders emit the HTTP API's shape; file provisioning wants
`apiVersion: 1` with `groups`, `contactPoints` and `policies`, so this module
writes that document as plain data.

- One rule per SLO and window pair of `SLO.alert_windows` (the SRE Workbook
  table scaled to the SLO's window): it fires while the latest evaluation in
  slo_status burns the budget at least the pair's factor over both windows, as
  the service's own rules decide.
- One rule per spend budget and level: it fires while the period's spend
  (the engine's own `slo.spend_sql`) has reached the level, one instance per
  member of a group budget. As the service does, it tells of a crossed level
  once per period: its notifications go to a contact point that sends no
  resolved message, and repeat only after a period.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from dashboards._budget_queries import budget_reached, sql_string
from dashboards._dashboards import DATASOURCE_UID, PLUGIN
from dashboards._queries import Format, PanelQuery
from ground.storage import SLO_STATUS
from slo import SLO, AlertWindow, SpendBudget, SpendLevel, SpendPeriod, format_duration

FOLDER = "AgentSLO"
CONTACT_POINT = "agentslo-webhook"
# Spend alerts' own contact point: the same webhook, without resolved messages.
SPEND_CONTACT_POINT = "agentslo-webhook-spend"
# A crossed spend level is told once per period: repeats wait for the next one.
_SPEND_REPEAT = {SpendPeriod.DAY: "24h", SpendPeriod.MONTH: "744h"}
# The webhook URL is read by Grafana from its environment when it provisions the contact point.
WEBHOOK_URL_ENV = "AGENTSLO_ALERT_WEBHOOK_URL"
# slo_status is written every evaluation (a minute by default): a status older than this is no data.
_FRESH = timedelta(minutes=10)
def burn_rate_query(slo: SLO, alert: AlertWindow) -> PanelQuery:
    """1 while the SLO's latest status burns at least the factor over both windows of `alert`, else 0."""
    long_label, short_label = format_duration(alert.long_window), format_duration(alert.short_window)
    sql = f"""SELECT toFloat64(argMax(BurnRates['{long_label}'], Timestamp) >= {alert.burn_factor!r}
       AND argMax(BurnRates['{short_label}'], Timestamp) >= {alert.burn_factor!r}) AS burning
FROM {SLO_STATUS}
WHERE SloName = {sql_string(slo.name)} AND Timestamp >= $__fromTime AND Timestamp <= $__toTime"""
    return PanelQuery(sql, Format.TABLE, ("burning",))


def _uid(key: str) -> str:
    """`kind/identity` as a rule uid: Grafana caps them at 40 characters, and a digest of the rule's
    identity stays unique and stable."""
    kind, identity = key.split("/", 1)
    return f"{kind}-" + hashlib.sha256(identity.encode()).hexdigest()[:16]


def _rule(key: str, title: str, query: PanelQuery, labels: dict[str, str], annotations: dict[str, str],
          ) -> dict[str, Any]:
    """A rule firing while query A gives a value above 0 (1 while its condition holds), per row.

    No pending time, as the service's default: burn rates are already over
    long windows, and a spend level once reached stays reached in its period.
    """
    return {
        "uid": _uid(key),
        "title": title,
        "condition": "C",
        "data": [
            {"refId": "A", "datasourceUid": DATASOURCE_UID,
             "relativeTimeRange": {"from": int(_FRESH.total_seconds()), "to": 0},
             "model": {"refId": "A", "datasource": {"type": PLUGIN, "uid": DATASOURCE_UID}, "editorType": "sql",
                       "format": int(query.format), "queryType": "table", "rawSql": query.sql}},
            {"refId": "B", "datasourceUid": "__expr__",
             "model": {"refId": "B", "type": "reduce", "expression": "A", "reducer": "last",
                       "settings": {"mode": "replaceNN", "replaceWithValue": 0}}},
            {"refId": "C", "datasourceUid": "__expr__",
             "model": {"refId": "C", "type": "threshold", "expression": "B",
                       "conditions": [{"evaluator": {"type": "gt", "params": [0]}}]}},
        ],
        "for": "0s",
        "noDataState": "OK",
        "execErrState": "Error",
        "labels": labels,
        "annotations": annotations,
    }


def _burn_rule(slo: SLO, alert: AlertWindow) -> dict[str, Any]:
    long_label, short_label = format_duration(alert.long_window), format_duration(alert.short_window)
    return _rule(
        f"slo/{slo.name}/{long_label}/{short_label}",
        f"{slo.name}: burn rate {alert.burn_factor:g}x over {long_label} and {short_label}",
        burn_rate_query(slo, alert),
        {"slo": slo.name, "severity": alert.severity.value, "long_window": long_label, "short_window": short_label},
        {"summary": f"SLO {slo.name} is burning its error budget at {alert.burn_factor:g}x or more",
         "description": (f"Over both {long_label} and {short_label}, at least {alert.burn_factor:g}x: "
                         f"{alert.budget_share:.0%} of the budget spent in {long_label} at this rate.")},
    )


def _spend_rule(budget: SpendBudget, level: SpendLevel) -> dict[str, Any]:
    scope = budget.name if budget.per is None else f"{budget.name} (each {budget.per.value})"
    return _rule(
        f"spend/{budget.name}/{level.label}",
        f"{scope}: spend reached {level.label} of ${budget.limit_usd:g} per {budget.period.value}",
        budget_reached(budget, level),
        {"budget": budget.name, "period": budget.period.value, "level": level.label,
         "severity": level.severity.value, **({"service": budget.service} if budget.service else {})},
        {"summary": f"Spend budget {scope} reached {level.label} of its ${budget.limit_usd:g} cap "
                    f"this {budget.period.value} (UTC)"},
    )


def _webhook(name: str, *, send_resolved: bool) -> dict[str, Any]:
    return {"orgId": 1, "name": name,
            "receivers": [{"uid": name, "type": "webhook", "disableResolveMessage": not send_resolved,
                           "settings": {"url": f"${WEBHOOK_URL_ENV}", "httpMethod": "POST"}}]}


def alert_rules(slos: Sequence[SLO], budgets: Sequence[SpendBudget] = ()) -> dict[str, Any]:
    """The file-provisioning document: rule groups for burn rates and spend budgets, webhook contact
    points, a notification policy."""
    groups = [{"orgId": 1, "name": "agentslo-burn-rate", "folder": FOLDER, "interval": "1m",
               "rules": [_burn_rule(slo, alert) for slo in slos for alert in slo.alert_windows]}]
    spend_routes = []
    if budgets:
        groups.append({"orgId": 1, "name": "agentslo-spend", "folder": FOLDER, "interval": "1m",
                       "rules": [_spend_rule(budget, level) for budget in budgets for level in budget.levels]})
        spend_routes = [{"receiver": SPEND_CONTACT_POINT, "group_by": ["grafana_folder", "alertname", "budget"],
                         "object_matchers": [["budget", "=~", ".+"], ["period", "=", period.value]],
                         "group_wait": "30s", "repeat_interval": _SPEND_REPEAT[period]}
                        for period in SpendPeriod if any(b.period is period for b in budgets)]
    return {
        "apiVersion": 1,
        "groups": groups,
        "contactPoints": [_webhook(CONTACT_POINT, send_resolved=True)]
        + [_webhook(SPEND_CONTACT_POINT, send_resolved=False)] * bool(budgets),
        "policies": [{
            "orgId": 1,
            "receiver": CONTACT_POINT,
            "group_by": ["grafana_folder", "alertname", "slo"],
            "routes": spend_routes + [
                {"receiver": CONTACT_POINT, "object_matchers": [["severity", "=", "page"]],
                 "group_wait": "30s", "repeat_interval": "4h"},
                {"receiver": CONTACT_POINT, "object_matchers": [["severity", "=", "ticket"]],
                 "group_wait": "5m", "repeat_interval": "24h"},
            ],
        }],
    }
