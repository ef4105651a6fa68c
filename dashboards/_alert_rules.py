"""The service's burn-rate alerts as Grafana alert rules, in Grafana's file-provisioning format.

The SDK's alerting builders emit the HTTP API's shape; file provisioning wants
`apiVersion: 1` with `groups`, `contactPoints` and `policies`, so this module
writes that document as plain data. One rule per SLO and window pair of
`SLO.alert_windows` (the SRE Workbook table scaled to the SLO's window): it
fires while the latest evaluation in slo_status burns the budget at least the
pair's factor over both windows, as the service's own rules decide.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from agentslo.storage import SLO_STATUS
from dashboards._dashboards import DATASOURCE_UID, PLUGIN
from dashboards._queries import Format, PanelQuery
from slo import SLO, AlertWindow, format_duration

FOLDER = "AgentSLO"
CONTACT_POINT = "agentslo-webhook"
# The webhook URL is read by Grafana from its environment when it provisions the contact point.
WEBHOOK_URL_ENV = "AGENTSLO_ALERT_WEBHOOK_URL"
# slo_status is written every evaluation (a minute by default): a status older than this is no data.
_FRESH = timedelta(minutes=10)
def burn_rate_query(slo: SLO, alert: AlertWindow) -> PanelQuery:
    """1 while the SLO's latest status burns at least the factor over both windows of `alert`, else 0."""
    name = slo.name.replace("\\", "\\\\").replace("'", "\\'")
    long_label, short_label = format_duration(alert.long_window), format_duration(alert.short_window)
    sql = f"""SELECT toFloat64(argMax(BurnRates['{long_label}'], Timestamp) >= {alert.burn_factor!r}
       AND argMax(BurnRates['{short_label}'], Timestamp) >= {alert.burn_factor!r}) AS burning
FROM {SLO_STATUS}
WHERE SloName = '{name}' AND Timestamp >= $__fromTime AND Timestamp <= $__toTime"""
    return PanelQuery(sql, Format.TABLE, ("burning",))


def _rule(slo: SLO, alert: AlertWindow) -> dict[str, Any]:
    long_label, short_label = format_duration(alert.long_window), format_duration(alert.short_window)
    query = burn_rate_query(slo, alert)
    return {
        # Grafana caps rule uids at 40 characters: a digest of the rule's identity stays unique and stable.
        "uid": "slo-" + hashlib.sha256(f"{slo.name}/{long_label}/{short_label}".encode()).hexdigest()[:16],
        "title": f"{slo.name}: burn rate {alert.burn_factor:g}x over {long_label} and {short_label}",
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
        # The burn rates are already over long windows: no extra pending time, as the service's default.
        "for": "0s",
        "noDataState": "OK",
        "execErrState": "Error",
        "labels": {"slo": slo.name, "severity": alert.severity.value,
                   "long_window": long_label, "short_window": short_label},
        "annotations": {
            "summary": f"SLO {slo.name} is burning its error budget at {alert.burn_factor:g}x or more",
            "description": (f"Over both {long_label} and {short_label}, at least {alert.burn_factor:g}x: "
                            f"{alert.budget_share:.0%} of the budget spent in {long_label} at this rate."),
        },
    }


def alert_rules(slos: Sequence[SLO]) -> dict[str, Any]:
    """The file-provisioning document: one rule group of burn-rate rules, a webhook contact point, a policy."""
    return {
        "apiVersion": 1,
        "groups": [{
            "orgId": 1,
            "name": "agentslo-burn-rate",
            "folder": FOLDER,
            "interval": "1m",
            "rules": [_rule(slo, alert) for slo in slos for alert in slo.alert_windows],
        }],
        "contactPoints": [{
            "orgId": 1,
            "name": CONTACT_POINT,
            "receivers": [{"uid": CONTACT_POINT, "type": "webhook", "disableResolveMessage": False,
                           "settings": {"url": f"${WEBHOOK_URL_ENV}", "httpMethod": "POST"}}],
        }],
        "policies": [{
            "orgId": 1,
            "receiver": CONTACT_POINT,
            "group_by": ["grafana_folder", "alertname", "slo"],
            "routes": [
                {"receiver": CONTACT_POINT, "object_matchers": [["severity", "=", "page"]],
                 "group_wait": "30s", "repeat_interval": "4h"},
                {"receiver": CONTACT_POINT, "object_matchers": [["severity", "=", "ticket"]],
                 "group_wait": "5m", "repeat_interval": "24h"},
            ],
        }],
    }
