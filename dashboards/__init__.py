"""Grafana provisioning: dashboards, the ClickHouse datasource and alert rules, built with grafana-foundation-sdk.

Regenerate the checked-in tree with `agentslo dashboards build` (`build()`):

    build(Path("agentslo.yaml"), Path("dashboards/provisioning"))
"""

from dashboards._alert_rules import alert_rules, burn_rate_query
from dashboards._budget_queries import budget_reached, budget_spend
from dashboards._build import EXAMPLE_CONFIG, PROVISIONING_DIR, build
from dashboards._dashboards import DASHBOARDS, DATASOURCE_UID, PLUGIN, ClickHouseQuery, PanelSpec, variable_queries
from dashboards._macros import ALL, expand_macros
from dashboards._provisioning import provisioning_files, write_provisioning
from dashboards._queries import Format, PanelQuery

__all__ = [
    "ALL",
    "DASHBOARDS",
    "DATASOURCE_UID",
    "EXAMPLE_CONFIG",
    "PLUGIN",
    "PROVISIONING_DIR",
    "ClickHouseQuery",
    "Format",
    "PanelQuery",
    "PanelSpec",
    "alert_rules",
    "budget_reached",
    "budget_spend",
    "build",
    "burn_rate_query",
    "expand_macros",
    "provisioning_files",
    "variable_queries",
    "write_provisioning",
]
