"""Every provisioned panel, template variable and alert query answers the same through the interface as directly.

The queries are the dashboards' own, expanded by the plugin's macro expansion (dashboards.expand_macros) for
the hour the scenario's spans cover; "directly" is the service's Storage on the same engine.
"""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from dashboards import ALL, Format, PanelQuery, budget_reached, expand_macros, variable_queries
from tests.clickhouse_http.conftest import NOW, START, Interface
from tests.dashboards.test_panel_queries import PANELS, SLO_RULES, SPEND_ALERTS

# The scenario's own values, so that the filtered variants select rows too.
SOME = {"service": ["support-desk"], "agent": ["triage"], "model": ["gpt-4o-mini"], "environment": ["prod"],
        "slo": ["model-availability"]}
EVERY = {"service": ALL, "agent": ALL, "model": ALL, "environment": ALL, "slo": ["checkout-availability"]}

QUERIES = (
    [pytest.param(panel.query, values, id=f"{panel.dashboard_uid}: {panel.title} [{panel.ref_id}] {name}")
     for panel in PANELS for name, values in (("all", EVERY), ("some", SOME))]
    + [pytest.param(query, EVERY, id=f"variable: {query.sql.splitlines()[0]}") for query in variable_queries()]
    + [pytest.param(PanelQuery(rule["data"][0]["model"]["rawSql"], Format.TABLE, ("holds",)), {},
                    id=f"alert: {rule['title']}") for rule in SLO_RULES]
    + [pytest.param(budget_reached(budget, level), {}, id=f"spend alert: {budget.name} {level.label}")
       for budget, level in SPEND_ALERTS]
)


def expanded(query: PanelQuery, values: dict[str, object]) -> str:
    return expand_macros(query.sql, start=START - timedelta(hours=1), end=NOW + timedelta(minutes=1),
                         interval=timedelta(minutes=1), variables=values)


@pytest.mark.parametrize(("query", "values"), QUERIES)
def test_a_provisioned_query_answers_as_it_does_directly(interface: Interface, query: PanelQuery,
                                                         values: dict[str, object]) -> None:
    sql = expanded(query, values)
    direct = interface.service.server.service.storage.query(sql)
    client = interface.client()
    answer = orjson.loads(client.raw_query(sql, fmt="JSONCompact",
                                           settings={"output_format_json_quote_64bit_integers": 0,
                                                     "output_format_json_quote_denormals": 0}))
    assert tuple(column["name"] for column in answer["meta"]) == direct.columns == query.columns
    assert [tuple(row) for row in answer["data"]] == direct.rows
    # And in Native, as the Grafana plugin reads answers: the same columns, as many rows.
    native = client.query(sql)
    assert (tuple(native.column_names), len(native.result_rows)) == (direct.columns, len(direct.rows))


def test_the_scenario_gives_most_panels_rows(interface: Interface) -> None:
    storage = interface.service.server.service.storage
    empty = [panel.title for panel in PANELS if not storage.query(expanded(panel.query, EVERY)).rows]
    assert len(empty) < len(PANELS) / 4, empty
