"""Grafana provisioning: dashboards, the ClickHouse datasource and alert rules, built with grafana-foundation-sdk.

Regenerate the checked-in tree with `agentslo dashboards build`, which loads a config and calls:

    write_provisioning(PROVISIONING_DIR, slos, budgets)
"""

from dashboards._alert_rules import alert_rules, burn_rate_query
from dashboards._budget_queries import budget_reached, budget_spend
from dashboards._dashboards import (
    DASHBOARDS,
    DATASOURCE_UID,
    PLUGIN,
    SLO_DASHBOARD_UID,
    SPEND_DASHBOARD_UID,
    ClickHouseQuery,
    PanelSpec,
    variable_queries,
)
from dashboards._macros import ALL, expand_macros
from dashboards._provisioning import (
    EXAMPLE_CONFIG,
    PROVISIONING_DIR,
    datasource,
    provisioning_files,
    write_provisioning,
)
from dashboards._queries import Format, PanelQuery

__all__ = [
    "ALL",
    "DASHBOARDS",
    "DATASOURCE_UID",
    "EXAMPLE_CONFIG",
    "PLUGIN",
    "PROVISIONING_DIR",
    "SLO_DASHBOARD_UID",
    "SPEND_DASHBOARD_UID",
    "ClickHouseQuery",
    "Format",
    "PanelQuery",
    "PanelSpec",
    "alert_rules",
    "budget_reached",
    "budget_spend",
    "burn_rate_query",
    "datasource",
    "expand_macros",
    "provisioning_files",
    "variable_queries",
    "write_provisioning",
]
