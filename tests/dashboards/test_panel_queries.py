"""Every panel, variable and alert query runs on the real engine (chDB) after macro expansion.

The dataset goes through the ingest path: hand-built OTLP requests mapped by
`collector.SpanMapper`, stored, then one SLO engine cycle (`slo.run_cycle`) so
agent_tasks, slo_rollups and slo_status hold rows.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from agentslo.config import load_config
from collector import MappingPolicy, PriceTable, SpanMapper, spans_insert_body
from dashboards import (
    ALL,
    DASHBOARDS,
    EXAMPLE_CONFIG,
    Format,
    PanelQuery,
    PanelSpec,
    alert_rules,
    budget_reached,
    burn_rate_query,
    expand_macros,
    variable_queries,
)
from ground.storage import SLO_ROLLUPS, SLO_STATUS, TRACES, Storage, migrate, open_storage
from slo import SLO, slo_from_spec, spend_budget_from_spec
from slo import format_duration as window_label
from slo.engine import evaluate_spend, run_cycle
from tests.collector.otlp_requests import attr
from tests.conftest import SERVER_ENV, storage_spec

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
SLOS: list[SLO] = [slo_from_spec(spec) for spec in load_config(EXAMPLE_CONFIG, env={}).slos]
BUDGETS = [spend_budget_from_spec(spec) for spec in load_config(EXAMPLE_CONFIG, env={}).budgets]
TRACE_IDS = [bytes([trace + 1] * 16) for trace in range(6)]


def otlp_span(trace: int, index: int, name: str, attributes: dict[str, object], *, at_s: float, lasts_s: float,
              **fields: object) -> Span:
    start_ns = int(T0.timestamp() * 1e9 + (trace * 300 + at_s) * 1e9)
    return Span(
        trace_id=TRACE_IDS[trace], span_id=bytes([0, 0, 0, 0, 0, 0, trace + 1, index + 1]),
        parent_span_id=b"" if index == 0 else bytes([0, 0, 0, 0, 0, 0, trace + 1, 1]),
        name=name, start_time_unix_nano=start_ns, end_time_unix_nano=start_ns + int(lasts_s * 1e9),
        attributes=[attr(key, value) for key, value in attributes.items()], **fields,
    )


def agent_run(trace: int, *, service: str, agent: str, model: str, user: str, fails: bool) -> ExportTraceServiceRequest:
    """A task: an agent span, a model call, a fallback call served by a cheaper model, a tool call."""
    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    resource.resource.attributes.extend([attr("service.name", service), attr("deployment.environment", "prod"),
                                         attr("agentslo.tenant", "acme" if trace % 2 else "globex")])
    error = Status(code=Status.STATUS_CODE_ERROR, message="failed") if fails else Status()
    chat = otlp_span(trace, 1, f"chat {model}", {
        "gen_ai.operation.name": "chat", "gen_ai.request.model": model, "gen_ai.usage.input_tokens": 1000 + trace,
        "gen_ai.usage.output_tokens": 200, "gen_ai.usage.cache_read.input_tokens": 300, "user.id": user,
        "agentslo.feature": "refunds", "agentslo.fallback.source": "primary"}, at_s=1, lasts_s=2 + trace)
    chat.events.add(time_unix_nano=chat.start_time_unix_nano + 5, name="retry", attributes=[attr("attempt", 2)])
    resource.scope_spans.add().spans.extend([
        otlp_span(trace, 0, f"invoke_agent {agent}", {"gen_ai.operation.name": "invoke_agent",
                                                      "gen_ai.agent.name": agent, "agentslo.task.type": "refund"},
                  at_s=0, lasts_s=30, kind=Span.SPAN_KIND_SERVER, status=error),
        chat,
        otlp_span(trace, 2, "chat mystery-model", {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "mystery-model",
            "gen_ai.usage.input_tokens": 50, "gen_ai.usage.output_tokens": 5, "agentslo.fallback.source": "secondary",
            "user.id": user}, at_s=5, lasts_s=1),
        otlp_span(trace, 3, "execute_tool lookup", {"gen_ai.operation.name": "execute_tool"}, at_s=7, lasts_s=1,
                  status=error),
    ])
    return request


@pytest.fixture(scope="module")
def store(chdb_dir: Path) -> Iterator[Storage]:
    """An embedded store with six agent runs ingested and one SLO cycle evaluated; shared by the module."""
    database = f"test_{uuid.uuid4().hex[:12]}"
    storage = open_storage(storage_spec("embedded", database, None, chdb_dir), env=SERVER_ENV)
    migrate(storage)
    mapper = SpanMapper(MappingPolicy(), PriceTable.default())
    for trace in range(6):
        batch = mapper.map(agent_run(trace, service="support-agent" if trace < 4 else "billing-agent",
                                     agent="triage" if trace % 2 else "checkout", model="gpt-4o-mini",
                                     user=f"u-{trace % 3}", fails=trace == 5))
        storage.insert_arrow_stream(TRACES, spans_insert_body([batch.block]))
    run_cycle(storage, SLOS, now=NOW)
    yield storage
    storage.command(f"DROP DATABASE IF EXISTS {database}")
    storage.close()


ALL_VALUES = {"service": ALL, "agent": ALL, "model": ALL, "environment": ALL, "slo": ["model-availability"]}
SOME_VALUES = {"service": ["support-agent"], "agent": ["triage"], "model": ["gpt-4o-mini"], "environment": ["prod"],
               "slo": ["checkout-availability"]}


def run(store: Storage, query: PanelQuery, variables: dict[str, object]) -> tuple[tuple[str, ...], list[tuple]]:
    """The query's columns and rows over the hour before NOW (the dataset's), at a one-minute interval."""
    sql = expand_macros(query.sql, start=T0 - timedelta(hours=1), end=NOW, interval=timedelta(minutes=1),
                        variables=variables)
    result = store.query(sql)
    return result.columns, result.rows


PANELS = [panel for build in DASHBOARDS.values() for panel in build(BUDGETS)[1]]


@pytest.mark.parametrize("panel", PANELS, ids=[f"{panel.dashboard_uid}: {panel.title} [{panel.ref_id}]"
                                               for panel in PANELS])
def test_every_panel_query_returns_the_columns_the_panel_reads(store: Storage, panel: PanelSpec) -> None:
    columns, rows = run(store, panel.query, ALL_VALUES)
    assert columns == panel.query.columns
    assert rows, "the dataset should give every panel something to show"
    columns, rows = run(store, panel.query, SOME_VALUES)
    assert columns == panel.query.columns
    assert rows, "the dataset has rows for the values chosen"


@pytest.mark.parametrize("query", variable_queries(), ids=lambda query: query.sql.split("\n")[0])
def test_every_template_variable_lists_values(store: Storage, query: PanelQuery) -> None:
    columns, rows = run(store, query, ALL_VALUES)
    assert columns == ("value",) and rows


SLO_PANELS = [panel for panel in PANELS if "${slo" in panel.query.sql]


@pytest.mark.parametrize("panel", SLO_PANELS, ids=[f"{panel.title} [{panel.ref_id}]" for panel in SLO_PANELS])
def test_an_slo_panel_shows_an_slo_whose_name_has_a_quote_as_any_other(store: Storage, panel: PanelSpec) -> None:
    quoted = "o'brien-availability"
    for table in (SLO_STATUS, SLO_ROLLUPS):
        if not store.query(f"SELECT count() FROM {table} WHERE SloName = {{name:String}}", {"name": quoted}).scalar():
            store.command(f"INSERT INTO {table} SELECT * REPLACE ({{name:String}} AS SloName) "
                          f"FROM (SELECT * FROM {table} WHERE SloName = 'model-availability')", {"name": quoted})
    assert run(store, panel.query, {**ALL_VALUES, "slo": [quoted]}) == run(store, panel.query, ALL_VALUES)


def test_the_spend_panels_price_what_ingest_priced_and_list_what_it_could_not(store: Storage) -> None:
    [panel] = [p for p in PANELS if p.title == "Unpriced model calls by model"]
    _, rows = run(store, panel.query, ALL_VALUES)
    assert rows == [("mystery-model", 6, 300, 30)]


EXAMPLE = load_config(EXAMPLE_CONFIG, env={})
SLO_RULES = alert_rules(SLOS, BUDGETS, policies=EXAMPLE.alerts.policies(),
                        default_policy=EXAMPLE.alerts.default_policy())["groups"][0]["rules"]


@pytest.mark.parametrize("rule", SLO_RULES, ids=[rule["title"] for rule in SLO_RULES])
def test_every_slo_alert_rule_runs_on_the_status_the_engine_wrote(store: Storage, rule: dict) -> None:
    query = PanelQuery(rule["data"][0]["model"]["rawSql"], Format.TABLE, ("holds",))
    columns, rows = run(store, query, {})
    assert columns == ("holds",) and len(rows) == 1


def test_an_alert_rule_fires_only_when_both_windows_burn_at_its_factor(store: Storage) -> None:
    slo = SLOS[2]
    page = slo.alert_windows[0]
    row = {"Timestamp": NOW.strftime("%Y-%m-%d %H:%M:%S"), "SloName": "burning-slo", "Objective": 0.999,
           "BurnRates": {"1h": 20.0, "5m": 20.0, "6h": 2.0, "30m": 20.0},
           "WindowEvents": {"1h": 100, "5m": 10, "6h": 600, "30m": 50}}
    store.insert_json_rows(SLO_STATUS, orjson.dumps(row))
    burning = dataclasses.replace(slo, name="burning-slo")
    [(page_1h,)] = run(store, burn_rate_query(burning, page), {})[1]
    [(page_6h,)] = run(store, burn_rate_query(burning, slo.alert_windows[1]), {})[1]
    assert (page.burn_factor, page_1h, page_6h) == (14.4, 1.0, 0.0)


def test_the_alert_rules_name_the_burn_windows_as_the_engine_writes_them(store: Storage) -> None:
    [(keys,)] = store.query(f"SELECT groupUniqArrayArray(mapKeys(BurnRates)) FROM {SLO_STATUS} "
                            "WHERE SloName = 'model-availability'").rows
    long_windows = {window_label(alert.long_window) for alert in SLOS[2].alert_windows}
    assert long_windows == {"1h", "6h", "1d", "3d"} and long_windows <= set(keys)


SPEND_ALERTS = [(budget, level) for budget in BUDGETS for level in budget.levels]


@pytest.mark.parametrize(("budget", "level"), SPEND_ALERTS,
                         ids=[f"{budget.name} {level.label}" for budget, level in SPEND_ALERTS])
def test_every_spend_alert_query_runs_with_a_label_column_per_group_member(store: Storage, budget, level) -> None:
    query = budget_reached(budget, level)
    columns, rows = run(store, query, {})
    assert columns == query.columns and rows


def test_the_spend_alerts_and_budget_panel_count_what_the_engine_counts(store: Storage) -> None:
    """The dashboards' spend SQL is the engine's: the same period, the same members, the same dollars."""
    [panel] = [p for p in PANELS if p.title == "Spend budgets this period"]
    _, rows = run(store, panel.query, {})
    shown = {(budget, member): spent for budget, _, member, _, spent, _, _ in rows}
    engine = {(s.budget.name, s.member or "(all)"): s.spent_usd for s in evaluate_spend(store, BUDGETS, NOW)}
    assert shown.keys() == engine.keys() and len(shown) == 2 + 3 + 2   # two global; users u-0..u-2; two tenants
    assert all(shown[key] == pytest.approx(engine[key]) for key in engine)
    # With the 80% level between the two lowest users' spend, the two higher spenders have reached it.
    per_user = next(b for b in BUDGETS if b.name == "per-user-daily")
    [eighty] = [level for level in per_user.levels if level.ratio == 0.8]
    lowest, second, _ = sorted((engine["per-user-daily", f"u-{n}"], f"u-{n}") for n in range(3))
    capped = dataclasses.replace(per_user, limit_usd=(lowest[0] + second[0]) / 2 / 0.8)
    reached = sorted(run(store, budget_reached(capped, eighty), {})[1])
    assert reached == sorted((user, float(user != lowest[1])) for user in ("u-0", "u-1", "u-2"))
