"""Grafana provisioning files: the ClickHouse datasource, the dashboard provider, dashboards and alert rules.

`provisioning_files` is pure (file name -> text, byte-stable: sorted keys, fixed
ids) so the checked-in tree can be compared with what it builds;
`write_provisioning` is the edge that writes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards._alert_rules import alert_rules
from alerts import AlertPolicy
from dashboards._dashboards import DASHBOARDS, DATASOURCE_UID, PLUGIN
from ground.storage import TRACES
from slo import SLO, SpendBudget

PACKAGE_DIR = Path(__file__).parent
# The checked-in tree, and the config its alert rules are built for.
PROVISIONING_DIR = PACKAGE_DIR / "provisioning"
EXAMPLE_CONFIG = PACKAGE_DIR / "example.yaml"

DATABASE = "agentslo"
# Where docker-compose mounts this tree in the Grafana container.
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"
# Grafana expands $NAME in provisioning files from its environment: the secrets stay out of the files.
CLICKHOUSE_HOST_ENV = "CLICKHOUSE_HOST"
CLICKHOUSE_USER_ENV = "CLICKHOUSE_USER"
CLICKHOUSE_PASSWORD_ENV = "CLICKHOUSE_PASSWORD"
# The embedded variant: the AgentSLO service's API port, and an API key of scope read as the password.
AGENTSLO_HOST_ENV = "AGENTSLO_API_HOST"
AGENTSLO_PORT_ENV = "AGENTSLO_API_PORT"
AGENTSLO_READ_KEY_ENV = "AGENTSLO_READ_KEY"
# Where the service answers ClickHouse's HTTP protocol (agentslo.config.ClickHouseHttpSpec.path's default).
EMBEDDED_PATH = "/clickhouse"
DATASOURCE_KINDS = ("server", "embedded")

# The plugin's OTel trace settings, naming otel_traces' Collector-exporter columns,
# so Grafana's trace view opens any trace by id.
_TRACE_SETTINGS = {
    "defaultDatabase": DATABASE,
    "defaultTable": TRACES,
    "otelEnabled": True,
    "otelVersion": "latest",
    "traceIdColumn": "TraceId",
    "spanIdColumn": "SpanId",
    "operationNameColumn": "SpanName",
    "parentSpanIdColumn": "ParentSpanId",
    "serviceNameColumn": "ServiceName",
    "durationTimeColumn": "Duration",
    "durationUnit": "nanoseconds",
    "startTimeColumn": "Timestamp",
    "tagsColumn": "SpanAttributes",
    "serviceTagsColumn": "ResourceAttributes",
    "kindColumn": "SpanKind",
    "statusCodeColumn": "StatusCode",
    "statusMessageColumn": "StatusMessage",
    "stateColumn": "TraceState",
    "instrumentationLibraryNameColumn": "ScopeName",
    "instrumentationLibraryVersionColumn": "ScopeVersion",
    "flattenNested": False,
    "traceEventsColumnPrefix": "Events",
    "traceLinksColumnPrefix": "Links",
}


def datasource(kind: str = "server") -> dict[str, Any]:
    """The ClickHouse datasource, with its trace settings on otel_traces: a ClickHouse server over the native
    protocol (`server`), or the AgentSLO service's read-only ClickHouse interface over HTTP (`embedded`), for a
    service on its embedded store (`clickhouse_http.enabled`)."""
    if kind == "server":
        connection: dict[str, Any] = {"host": f"${CLICKHOUSE_HOST_ENV}", "port": 9000, "protocol": "native",
                                      "username": f"${CLICKHOUSE_USER_ENV}"}
        password = f"${CLICKHOUSE_PASSWORD_ENV}"
        name = "AgentSLO ClickHouse"
    elif kind == "embedded":
        # The plugin sends gzip's Accept-Encoding over HTTP; ClickHouse, and so the service, compress
        # only when this setting asks.
        connection = {"host": f"${AGENTSLO_HOST_ENV}", "port": f"${AGENTSLO_PORT_ENV}", "protocol": "http",
                      "path": EMBEDDED_PATH, "username": "grafana",
                      "customSettings": [{"setting": "enable_http_compression", "value": "1"}]}
        password = f"${AGENTSLO_READ_KEY_ENV}"
        name = "AgentSLO (embedded store)"
    else:
        raise ValueError(f"datasource kind must be one of {', '.join(DATASOURCE_KINDS)}, got {kind!r}")
    return {
        "apiVersion": 1,
        "datasources": [{
            "name": name,
            "type": PLUGIN,
            "uid": DATASOURCE_UID,
            "isDefault": True,
            "editable": False,
            "jsonData": {**connection, "secure": False, "defaultDatabase": DATABASE, "traces": _TRACE_SETTINGS},
            "secureJsonData": {"password": password},
        }],
    }


def dashboard_provider() -> dict[str, Any]:
    """The file provider that loads the dashboards' JSON into the AgentSLO folder."""
    return {
        "apiVersion": 1,
        "providers": [{
            "name": "agentslo",
            "folder": "AgentSLO",
            "type": "file",
            "disableDeletion": True,
            "allowUiUpdates": False,
            "updateIntervalSeconds": 60,
            "options": {"path": f"{GRAFANA_PROVISIONING}/dashboards", "foldersFromFilesStructure": False},
        }],
    }


def _yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=True, default_flow_style=False, allow_unicode=True, width=120)


def _json(document: Any) -> str:
    return json.dumps(document, cls=JSONEncoder, sort_keys=True, indent=2) + "\n"


def provisioning_files(slos: Sequence[SLO], budgets: Sequence[SpendBudget] = (), *,
                       policies: Mapping[str, AlertPolicy] | None = None,
                       default_policy: AlertPolicy = AlertPolicy(), datasource_kind: str = "server") -> dict[str, str]:
    """Every provisioning file, by path relative to the provisioning directory: alert rules for these
    SLOs (under their alerting policies) and spend budgets, the budgets' caps on the Spend dashboard, and
    the datasource of `datasource_kind` (see `datasource`)."""
    files = {
        "datasources/clickhouse.yaml": _yaml(datasource(datasource_kind)),
        "dashboards/provider.yaml": _yaml(dashboard_provider()),
        "alerting/agentslo.yaml": _yaml(alert_rules(slos, budgets, policies=policies,
                                                    default_policy=default_policy)),
    }
    for name, build in DASHBOARDS.items():
        board, _ = build(budgets)
        files[f"dashboards/{name}.json"] = _json(board.build())
    return dict(sorted(files.items()))


def write_provisioning(directory: Path, slos: Sequence[SLO], budgets: Sequence[SpendBudget] = (), *,
                       policies: Mapping[str, AlertPolicy] | None = None,
                       default_policy: AlertPolicy = AlertPolicy(), datasource_kind: str = "server") -> list[Path]:
    """Write the provisioning tree under `directory`, removing generated files it no longer builds."""
    files = provisioning_files(slos, budgets, policies=policies, default_policy=default_policy,
                               datasource_kind=datasource_kind)
    for stale in sorted(directory.glob("*/*")):
        if stale.is_file() and stale.relative_to(directory).as_posix() not in files:
            stale.unlink()
    written = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
