"""Specification of the SLIs: every kind over every event source it allows, and the filters, on both backends.

One hand-built set of three agent tasks is stored once per backend; every case
is an SLO evaluated by one engine cycle, and its good and total events are
compared with the numbers counted by hand below.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ground.storage import migrate, open_storage
from slo import SLO, Availability, Events, Matcher, MatchOp, MatchSource, SloStatus, compile_sli
from slo.engine import run_cycle
from tests.conftest import SERVER_ENV, storage_spec
from tests.slo.traces import MINUTE, SECOND, T0, agent, chat, insert, make_slo, tool

MS = timedelta(milliseconds=1)
GPT_MINI = {"SpanAttributes": {"gen_ai.request.model": "gpt-4o-mini"}}
GPT = {"SpanAttributes": {"gen_ai.request.model": "gpt-4o"}}
PROD = {"ResourceAttributes": {"deployment.environment": "prod"}}
CANARY = {"ResourceAttributes": {"deployment.environment": "canary"}}

# Task A (triage, acme): 10 s, succeeded; its second model call and a tool call failed.
# Task B (triage, acme): 40 s, failed (RateLimited).
# Task C (billing, globex, canary): 5 s, succeeded; its model call was exported twice.
# Per task: cost A 0.002 + 0.001, B 0.02, C 0.0005 USD.
SPANS = [
    agent("ta", "a", at=timedelta(0), lasts=10 * SECOND, AgentName="triage", Tenant="acme", **PROD),
    chat("ta", "a-c1", "a", at=SECOND, lasts=SECOND, InputTokens=1000, CacheReadTokens=600, CostUsd=0.002,
         **GPT_MINI, **PROD),
    chat("ta", "a-c2", "a", at=2 * SECOND, lasts=4 * SECOND, InputTokens=500, CostUsd=0.001,
         StatusCode="Error", ErrorType="_OTHER", **GPT, **PROD),
    tool("ta", "a-t1", "a", at=6 * SECOND, lasts=500 * MS, SpanAttributes={"gen_ai.tool.name": "search_docs"}, **PROD),
    tool("ta", "a-t2", "a", at=7 * SECOND, lasts=2 * SECOND, StatusCode="Error", ErrorType="timeout",
         SpanAttributes={"gen_ai.tool.name": "lookup_order"}, **PROD),
    agent("tb", "b", at=MINUTE, lasts=40 * SECOND, AgentName="triage", Tenant="acme", StatusCode="Error",
          ErrorType="RateLimited", **PROD),
    chat("tb", "b-c3", "b", at=MINUTE + SECOND, lasts=30 * SECOND, InputTokens=2000, CacheReadTokens=2000,
         CostUsd=0.02, **GPT, **PROD),
    tool("tb", "b-t3", "b", at=MINUTE + 32 * SECOND, lasts=SECOND, SpanAttributes={"gen_ai.tool.name": "search_web"},
         **PROD),
    agent("tc", "c", at=2 * MINUTE, lasts=5 * SECOND, AgentName="billing", Tenant="globex", **CANARY),
    chat("tc", "c-c4", "c", at=2 * MINUTE + SECOND, lasts=SECOND, InputTokens=100, CostUsd=0.0005,
         **GPT_MINI, **CANARY),
    chat("tc", "c-c4", "c", at=2 * MINUTE + SECOND, lasts=SECOND, InputTokens=100, CostUsd=0.0005,
         **GPT_MINI, **CANARY),
]
NOW = T0 + 10 * MINUTE


def matcher(**fields: Any) -> dict[str, Any]:
    return fields


KINDS = [
    pytest.param({"kind": "availability", "over": "tasks"}, 2, 3, id="availability over tasks: A and C succeeded"),
    pytest.param({"kind": "availability", "over": "llm_calls"}, 3, 4,
                 id="availability over model calls: one of four failed, the duplicate counted once"),
    pytest.param({"kind": "availability", "over": "tool_calls"}, 2, 3, id="availability over tool calls"),
    pytest.param({"kind": "availability", "over": "spans"}, 7, 10,
                 id="availability over spans: task B's root, a model call and a tool call failed"),
    pytest.param({"kind": "error_rate", "over": "tasks"}, 2, 3, id="error rate over tasks: every failure is bad"),
    pytest.param({"kind": "error_rate", "over": "tasks",
                  "errors": [matcher(column="ErrorType", op="eq", value="Timeout")]}, 3, 3,
                 id="error rate over tasks: only failures matching errors are bad"),
    pytest.param({"kind": "error_rate", "over": "spans",
                  "errors": [matcher(column="ErrorType", op="eq", value="timeout")]}, 9, 10,
                 id="error rate over spans: one failed span timed out"),
    pytest.param({"kind": "error_rate", "over": "llm_calls"}, 3, 4, id="error rate over model calls"),
    pytest.param({"kind": "error_rate", "over": "tool_calls"}, 2, 3, id="error rate over tool calls"),
    pytest.param({"kind": "latency", "over": "tasks", "threshold": "30s"}, 2, 3,
                 id="latency over tasks: B took 40 s"),
    pytest.param({"kind": "latency", "over": "llm_calls", "threshold": "2s"}, 2, 4,
                 id="latency over model calls: 4 s and 30 s are slow"),
    pytest.param({"kind": "latency", "over": "tool_calls", "threshold": "1s"}, 2, 3,
                 id="latency over tool calls: exactly the threshold is good"),
    pytest.param({"kind": "latency", "over": "spans", "threshold": "5s"}, 7, 10,
                 id="latency over spans: two roots and one model call are slow"),
    pytest.param({"kind": "cost", "over": "tasks", "threshold_usd": 0.005}, 2, 3,
                 id="cost over tasks: B's calls cost 0.02 USD"),
    pytest.param({"kind": "cost", "over": "llm_calls", "threshold_usd": 0.0015}, 2, 4,
                 id="cost over model calls: 0.002 and 0.02 USD are over"),
    pytest.param({"kind": "cache_hit_rate"}, 2600, 3600,
                 id="cache hit rate: cache-read tokens over input tokens of model calls"),
    pytest.param({"kind": "tool_success"}, 2, 3, id="tool success: one tool call failed"),
]

FILTERS = [
    pytest.param("tasks", [matcher(column="AgentName", op="eq", value="triage")], 1, 2, id="column eq"),
    pytest.param("tasks", [matcher(column="AgentName", op="ne", value="triage")], 1, 1, id="column ne"),
    pytest.param("tasks", [matcher(column="Tenant", op="in", values=["globex", "initech"])], 1, 1, id="column in"),
    pytest.param("tasks", [matcher(column="AgentName", op="regex", value="^tri")], 1, 2,
                 id="column regex, unanchored unless anchored"),
    pytest.param("tasks", [matcher(column="AgentName", op="eq", value="triage"),
                           matcher(column="Tenant", op="eq", value="globex")], 0, 0,
                 id="matchers all apply: none left is no data"),
    pytest.param("llm_calls", [matcher(column="ResponseModel", op="eq", value="")], 3, 4,
                 id="an empty value matches the column's default"),
    pytest.param("llm_calls", [matcher(attribute="gen_ai.request.model", op="eq", value="gpt-4o")], 1, 2,
                 id="attribute eq"),
    pytest.param("llm_calls", [matcher(attribute="gen_ai.request.model", op="ne", value="gpt-4o")], 2, 2,
                 id="attribute ne"),
    pytest.param("llm_calls", [matcher(attribute="gen_ai.request.model", op="in", values=["gpt-4o-mini", "o3"])], 2, 2,
                 id="attribute in"),
    pytest.param("llm_calls", [matcher(attribute="gen_ai.request.model", op="regex", value="^gpt-4o$")], 1, 2,
                 id="attribute regex"),
    pytest.param("spans", [matcher(attribute="gen_ai.tool.name", op="regex", value="^search_")], 2, 2,
                 id="attribute regex over spans"),
    pytest.param("spans", [matcher(resource_attribute="deployment.environment", op="eq", value="canary")], 2, 2,
                 id="resource attribute eq, duplicate counted once"),
    pytest.param("tasks", [matcher(column="Tenant", op="eq", value="acme' OR '1'='1")], 0, 0,
                 id="a value shaped like SQL is compared as text"),
    pytest.param("llm_calls", [matcher(attribute="x'] = '' OR SpanAttributes['gen_ai.request.model", op="eq",
                                       value="")], 3, 4,
                 id="an attribute key shaped like SQL is one key (missing, so empty)"),
    pytest.param("spans", [matcher(attribute="gen_ai.tool.name", op="in", values=["') OR 1=1 --", "search_web"])],
                 1, 1, id="in with a value shaped like SQL"),
    pytest.param("spans", [matcher(column="SpanName", op="regex", value="' OR 1=1 --|.*")], 7, 10,
                 id="a regex shaped like SQL is a regex"),
]


def kind_slo(index: int) -> SLO:
    return make_slo(f"kind-{index}", objective=50, window="1h", sli=KINDS[index].values[0])


def filter_slo(index: int) -> SLO:
    over, matchers = FILTERS[index].values[:2]
    return make_slo(f"filter-{index}", objective=50, window="1h",
                    sli={"kind": "availability", "over": over, "filter": matchers})


@pytest.fixture(scope="module", params=["embedded", "server"])
def evaluated(request: pytest.FixtureRequest, chdb_dir: Path) -> Iterator[dict[str, SloStatus]]:
    """Every case's status as of NOW, by SLO name, over SPANS stored once on each backend."""
    server = request.getfixturevalue("clickhouse_server") if request.param == "server" else None
    database = f"sli_{uuid.uuid4().hex[:12]}"
    store = open_storage(storage_spec(request.param, database, server, chdb_dir), env=SERVER_ENV)
    try:
        migrate(store)
        insert(store, SPANS)
        slos = [kind_slo(i) for i in range(len(KINDS))] + [filter_slo(i) for i in range(len(FILTERS))]
        yield {status.slo.name: status for status in run_cycle(store, slos, NOW)}
    finally:
        store.command(f"DROP DATABASE IF EXISTS {database}")
        store.close()


@pytest.mark.parametrize("index", range(len(KINDS)), ids=[case.id for case in KINDS])
def test_sli_kinds(evaluated: dict[str, SloStatus], index: int) -> None:
    good, total = KINDS[index].values[1:]
    counts = evaluated[f"kind-{index}"].counts
    assert (counts.good_events, counts.total_events) == (good, total)


@pytest.mark.parametrize("index", range(len(FILTERS)), ids=[case.id for case in FILTERS])
def test_filters(evaluated: dict[str, SloStatus], index: int) -> None:
    good, total = FILTERS[index].values[2:]
    status = evaluated[f"filter-{index}"]
    assert (status.counts.good_events, status.counts.total_events) == (good, total)
    assert status.sli == (good / total if total else None)


def test_filter_values_and_attribute_keys_travel_as_parameters_never_as_sql_text() -> None:
    key, value = "k'] OR 1=1 --", "v' OR '1'='1"
    sli = compile_sli(Availability(Events.SPANS, (
        Matcher(MatchSource.ATTRIBUTE, key, MatchOp.EQ, (value,)),
        Matcher(MatchSource.RESOURCE_ATTRIBUTE, key, MatchOp.IN, (value, "b")),
        Matcher(MatchSource.COLUMN, "Tenant", MatchOp.REGEX, (value,)),
    )))
    assert sli.condition == ("(SpanAttributes[{f0_key:String}] = {f0_0:String}) "
                             "AND (ResourceAttributes[{f1_key:String}] IN ({f1_0:String}, {f1_1:String})) "
                             "AND (match(Tenant, {f2_0:String}))")
    assert sli.params == {"f0_key": key, "f0_0": value, "f1_key": key, "f1_0": value, "f1_1": "b", "f2_0": value}


@pytest.mark.parametrize(
    ("matcher_", "message"),
    [
        pytest.param(Matcher(MatchSource.COLUMN, "1; DROP TABLE otel_traces", MatchOp.EQ, ("x",)),
                     "column '1; DROP TABLE otel_traces' is not one a filter over otel_traces may name",
                     id="a column outside the allow-list"),
        pytest.param(Matcher(MatchSource.COLUMN, "SpanName", MatchOp.EQ, ("x",)),
                     "column 'SpanName' is not one a filter over agent_tasks may name",
                     id="a span column over tasks"),
        pytest.param(Matcher(MatchSource.ATTRIBUTE, "user.id", MatchOp.EQ, ("x",)),
                     "attribute matchers apply to spans, not to agent_tasks", id="an attribute over tasks"),
    ],
)
def test_a_model_the_spec_would_refuse_does_not_compile(matcher_: Matcher, message: str) -> None:
    events = Events.SPANS if "DROP" in matcher_.name else Events.TASKS
    with pytest.raises(ValueError) as raised:
        compile_sli(Availability(events, (matcher_,)))
    assert str(raised.value) == message
