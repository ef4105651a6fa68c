"""The service's burn-rate and spend-budget alerts as Grafana alert rules, in Grafana's file-provisioning format.

The SDK's alerting builders emit the HTTP API's shape; file provisioning wants
`apiVersion: 1` with `groups`, `contactPoints` and `policies`, so this module
writes that document as plain data.

- One rule per alert of `alerts.slo_alerts(slo, policy)`, the list the service
  evaluates itself: the burn-rate pairs of the severities the SLO's policy
  keeps, then its no-data and budget-exhausted alerts. Each reads the latest
  evaluation in slo_status and decides as the service does: the pair's factor
  over both windows, at least `min_events` events in the long window and one
  in the short; the policy's `for` as the rule's; an SLO whose repeat interval
  is not the default gets a route of its own. What SQL here cannot say: the
  service's annotations (burn rates, budget left) are computed text, Grafana's
  summaries are fixed.
- One rule per spend budget and level: it fires while the period's spend
  (the engine's own `slo.spend_sql`) has reached the level, one instance per
  member of a group budget. As the service does, it tells of a crossed level
  once per period: its notifications go to a contact point that sends no
  resolved message, and repeat only after a period.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, assert_never

from dashboards._budget_queries import budget_reached, sql_string
from dashboards._dashboards import DATASOURCE_UID, PLUGIN
from dashboards._queries import Format, PanelQuery
from alerts import AlertKind, AlertPolicy, SloAlert, slo_alerts
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
def burn_rate_query(slo: SLO, alert: AlertWindow, min_events: int = AlertPolicy().min_events) -> PanelQuery:
    """1 while the SLO's latest status burns at least the factor over both windows of `alert`, with at
    least `min_events` events in the long window and one in the short, else 0 (alerts.burning)."""
    long_label, short_label = format_duration(alert.long_window), format_duration(alert.short_window)
    return _latest(slo, f"""argMax(BurnRates['{long_label}'], Timestamp) >= {alert.burn_factor!r}
       AND argMax(BurnRates['{short_label}'], Timestamp) >= {alert.burn_factor!r}
       AND argMax(WindowEvents['{long_label}'], Timestamp) >= {max(min_events, 1)}
       AND argMax(WindowEvents['{short_label}'], Timestamp) > 0""")


def _no_data_query(slo: SLO, quiet_window: timedelta) -> PanelQuery:
    """1 while the SLO's latest status has no event in its shortest burn window."""
    return _latest(slo, f"argMax(WindowEvents['{format_duration(quiet_window)}'], Timestamp) = 0")


def _exhausted_query(slo: SLO, min_events: int) -> PanelQuery:
    """1 while the SLO's latest status has spent its window's budget, over at least `min_events` events."""
    return _latest(slo, f"""argMax(ErrorBudgetRemaining, Timestamp) <= 0
       AND argMax(TotalEvents, Timestamp) >= {min_events}""")


def _latest(slo: SLO, condition: str) -> PanelQuery:
    sql = f"""SELECT toFloat64({condition}) AS holds
FROM {SLO_STATUS}
WHERE SloName = {sql_string(slo.name)} AND Timestamp >= $__fromTime AND Timestamp <= $__toTime"""
    return PanelQuery(sql, Format.TABLE, ("holds",))


def _uid(key: str) -> str:
    """`kind/identity` as a rule uid: Grafana caps them at 40 characters, and a digest of the rule's
    identity stays unique and stable."""
    kind, identity = key.split("/", 1)
    return f"{kind}-" + hashlib.sha256(identity.encode()).hexdigest()[:16]


def _rule(key: str, title: str, query: PanelQuery, labels: Mapping[str, str], annotations: dict[str, str],
          pending_for: timedelta = timedelta(0)) -> dict[str, Any]:
    """A rule firing while query A gives a value above 0 (1 while its condition holds), per row,
    after holding for `pending_for` (the service's `for`; a spend level has none)."""
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
        "for": _duration(pending_for),
        "noDataState": "OK",
        "execErrState": "Error",
        "labels": dict(labels),
        "annotations": annotations,
    }


def _slo_rule(slo: SLO, alert: SloAlert) -> dict[str, Any]:
    """The Grafana rule of one of the SLO's alerts. Grafana names a rule's alerts by its title, so the
    service's alertname is the `kind` label here."""
    labels = {**{k: v for k, v in alert.labels.items() if k != "alertname"}, "kind": alert.kind.value}
    match alert.kind:
        case AlertKind.BURN_RATE:
            window = alert.window
            assert window is not None
            long_label, short_label = labels["long_window"], labels["short_window"]
            return _rule(
                f"slo/{slo.name}/{long_label}/{short_label}",
                f"{slo.name}: burn rate {window.burn_factor:g}x over {long_label} and {short_label}",
                burn_rate_query(slo, window, alert.min_events), labels,
                {"summary": f"SLO {slo.name} is burning its error budget at {window.burn_factor:g}x or more",
                 "description": (f"Over both {long_label} and {short_label}, at least {window.burn_factor:g}x "
                                 f"with {alert.min_events} events or more: {window.budget_share:.0%} of the "
                                 f"budget spent in {long_label} at this rate.")},
                alert.pending_for)
        case AlertKind.NO_DATA:
            assert alert.quiet_window is not None
            after = format_duration(alert.quiet_window + alert.pending_for)
            return _rule(f"slo/{slo.name}/no-data", f"{slo.name}: no events for {after}",
                         _no_data_query(slo, alert.quiet_window), labels,
                         {"summary": f"SLO {slo.name} has received no events for {after}; "
                                     "its SLI cannot be evaluated"}, alert.pending_for)
        case AlertKind.BUDGET_EXHAUSTED:
            return _rule(f"slo/{slo.name}/budget-exhausted", f"{slo.name}: error budget exhausted",
                         _exhausted_query(slo, alert.min_events), labels,
                         {"summary": f"SLO {slo.name} has used up its error budget over {slo.window}"},
                         alert.pending_for)
        case _:
            assert_never(alert.kind)


def _duration(duration: timedelta) -> str:
    """A duration as Grafana's provisioning writes one: 0s, 90s, 2m, 4h."""
    return "0s" if not duration else format_duration(duration)


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


def alert_rules(slos: Sequence[SLO], budgets: Sequence[SpendBudget] = (), *,
                policies: Mapping[str, AlertPolicy] | None = None,
                default_policy: AlertPolicy = AlertPolicy()) -> dict[str, Any]:
    """The file-provisioning document: rule groups for the SLOs' alerts and spend budgets, webhook contact
    points, a notification policy. `default_policy` and `policies` (per SLO name) are the config's
    `alerts.defaults` and `alerts.slos`, as the service applies them."""
    policies = policies or {}
    policy = {slo.name: policies.get(slo.name, default_policy) for slo in slos}
    groups = [{"orgId": 1, "name": "agentslo-burn-rate", "folder": FOLDER, "interval": "1m",
               "rules": [_slo_rule(slo, alert) for slo in slos for alert in slo_alerts(slo, policy[slo.name])]}]
    # An SLO repeating its notifications at another pace than the default has a route of its own.
    slo_routes = [{"receiver": CONTACT_POINT, "object_matchers": [["slo", "=", slo.name]],
                   "repeat_interval": _duration(policy[slo.name].repeat_interval)}
                  for slo in slos if policy[slo.name].repeat_interval != default_policy.repeat_interval]
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
            "routes": spend_routes + slo_routes + [
                {"receiver": CONTACT_POINT, "object_matchers": [["severity", "=", "page"]],
                 "group_wait": "30s", "repeat_interval": _duration(default_policy.repeat_interval)},
                {"receiver": CONTACT_POINT, "object_matchers": [["severity", "=", "ticket"]],
                 "group_wait": "5m", "repeat_interval": _duration(default_policy.repeat_interval)},
            ],
        }],
    }
