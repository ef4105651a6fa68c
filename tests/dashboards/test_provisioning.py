"""The checked-in provisioning tree is exactly what the builders produce.

After changing a dashboard, a query or the example SLOs, regenerate it with
`AGENTSLO_REGENERATE=1 .venv/bin/python -m pytest tests/dashboards` (or `agentslo dashboards build`).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import yaml

from agentslo.config import load_config
from dashboards import DASHBOARDS, EXAMPLE_CONFIG, PROVISIONING_DIR, provisioning_files, write_provisioning
from slo import SLO, SpendBudget, slo_from_spec, spend_budget_from_spec

REGENERATE = os.environ.get("AGENTSLO_REGENERATE") == "1"


def example_model() -> tuple[list[SLO], list[SpendBudget], dict[str, Any]]:
    """The example config's SLOs, budgets and alerting policies, as `agentslo dashboards build` reads them."""
    config = load_config(EXAMPLE_CONFIG, env={})
    return ([slo_from_spec(spec) for spec in config.slos], [spend_budget_from_spec(spec) for spec in config.budgets],
            {"policies": config.alerts.policies(), "default_policy": config.alerts.default_policy()})


def example_files() -> dict[str, str]:
    slos, budgets, policies = example_model()
    return provisioning_files(slos, budgets, **policies)


def test_the_checked_in_provisioning_files_are_what_the_builder_produces() -> None:
    if REGENERATE:
        slos, budgets, policies = example_model()
        write_provisioning(PROVISIONING_DIR, slos, budgets, **policies)
    on_disk = {path.relative_to(PROVISIONING_DIR).as_posix(): path.read_text(encoding="utf-8")
               for path in sorted(PROVISIONING_DIR.rglob("*")) if path.is_file()}
    expected = example_files()
    assert sorted(on_disk) == sorted(expected), "regenerate with AGENTSLO_REGENERATE=1"
    for name, text in expected.items():
        assert on_disk[name] == text, f"{name} is stale: regenerate with AGENTSLO_REGENERATE=1"


def test_building_twice_gives_the_same_bytes() -> None:
    assert example_files() == example_files()


def test_the_datasource_is_the_clickhouse_plugin_with_traces_on_otel_traces() -> None:
    [source] = yaml.safe_load(example_files()["datasources/clickhouse.yaml"])["datasources"]
    assert source["type"] == "grafana-clickhouse-datasource"
    assert source["jsonData"]["defaultDatabase"] == "agentslo"
    assert {key: source["jsonData"]["traces"][key] for key in ("defaultDatabase", "defaultTable", "otelEnabled")} == {
        "defaultDatabase": "agentslo", "defaultTable": "otel_traces", "otelEnabled": True}
    assert source["secureJsonData"] == {"password": "$CLICKHOUSE_PASSWORD"}


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_has_a_unique_id_and_queries_the_clickhouse_datasource(name: str) -> None:
    board = json.loads(example_files()[f"dashboards/{name}.json"])
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "grafana-clickhouse-datasource", "uid": "agentslo-clickhouse"}
            assert target["editorType"] == "sql" and target["rawSql"]


def test_the_span_dashboards_filter_by_service_agent_and_model() -> None:
    board = json.loads(example_files()["dashboards/llm-overview.json"])
    assert [variable["name"] for variable in board["templating"]["list"]] == [
        "service", "agent", "model", "environment"]


def panel(board: dict, title: str) -> dict:
    [found] = [p for p in board["panels"] if p.get("title") == title]
    return found


def test_the_spend_dashboard_colours_spend_by_the_configs_global_caps() -> None:
    board = json.loads(example_files()["dashboards/spend.json"])
    steps = panel(board, "Spend today")["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(step["value"], step["color"]) for step in steps] == [(None, "green"), (160.0, "orange"), (200, "red")]
    steps = panel(board, "Spend this month / projected month end")["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(step["value"], step["color"]) for step in steps] == [(None, "green"), (4000.0, "orange"), (5000, "red")]
    assert "per-tenant-monthly" in panel(board, "Spend budgets this period")["targets"][0]["rawSql"]


def test_the_sli_is_drawn_against_its_own_slos_objective() -> None:
    board = json.loads(example_files()["dashboards/slos.json"])
    sli = panel(board, "SLI vs objective")
    assert [target["refId"] for target in sli["targets"]] == ["A", "B"]
    [transformation] = sli["transformations"]
    assert transformation["id"] == "configFromData"
    assert transformation["options"]["mappings"] == [{"fieldName": "objective", "handlerKey": "threshold1"}]
