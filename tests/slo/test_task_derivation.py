"""Specification of agent_tasks: one row per finished task, derived from its spans, on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector import MappingPolicy, PriceTable, SpanMapper, spans_insert_body
from ground.storage import AGENT_TASKS, TRACES, Storage
from slo.engine import derive_tasks, read_watermarks, run_cycle, sync_tasks
from tests.collector.otlp_requests import attr
from tests.slo.traces import MINUTE, SECOND, T0, agent, chat, insert, make_slo, span, tool

TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
T0_NS = int(T0.timestamp()) * 1_000_000_000


def otlp_span(index: int, name: str, attributes: dict[str, object], *, at_s: float, lasts_s: float,
              **fields: object) -> Span:
    return Span(
        trace_id=TRACE,
        span_id=bytes([0, 0, 0, 0, 0, 0, 0, index + 1]),
        parent_span_id=b"" if index == 0 else bytes([0, 0, 0, 0, 0, 0, 0, 1]),
        name=name,
        start_time_unix_nano=T0_NS + int(at_s * 1e9),
        end_time_unix_nano=T0_NS + int((at_s + lasts_s) * 1e9),
        attributes=[attr(k, v) for k, v in attributes.items()],
        **fields,
    )


def agent_run() -> ExportTraceServiceRequest:
    """A refund task: two model calls (one served by the fallback model), a tool that works, one that times out."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend([attr("service.name", "support-agent"), attr("agentslo.tenant", "acme")])
    resource_spans.scope_spans.add().spans.extend([
        otlp_span(0, "invoke_agent triage", {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage",
                                             "agentslo.task.type": "refund"},
                  at_s=0, lasts_s=20, kind=Span.SPAN_KIND_SERVER),
        otlp_span(1, "chat gpt-4o-mini", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
                                          "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 200,
                                          "gen_ai.usage.cache_read.input_tokens": 400, "gen_ai.usage.cost": 0.01,
                                          "user.id": "u-42"},
                  at_s=1, lasts_s=2),
        otlp_span(2, "chat gpt-4o", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                                     "gen_ai.usage.input_tokens": 500, "gen_ai.usage.output_tokens": 100,
                                     "gen_ai.usage.cost": 0.02, "agentslo.fallback.source": "secondary"},
                  at_s=4, lasts_s=2),
        otlp_span(3, "execute_tool lookup_order", {"gen_ai.operation.name": "execute_tool"}, at_s=7, lasts_s=1),
        otlp_span(4, "execute_tool refund", {"gen_ai.operation.name": "execute_tool", "error.type": "timeout"},
                  at_s=9, lasts_s=5, status=Status(code=Status.STATUS_CODE_ERROR, message="payments timed out")),
        otlp_span(5, "retrieve context", {}, at_s=15, lasts_s=1),
    ])
    return request


COLUMNS = ("TaskId", "Duration", "Success", "ErrorType", "LlmCalls", "ToolCalls", "ToolErrors", "InputTokens",
           "OutputTokens", "CacheReadTokens", "CacheWriteTokens", "CostUsd", "Degraded", "ServiceName",
           "AgentName", "TaskType", "UserId", "Tenant", "Feature", "Spans")


def tasks(store: Storage, *columns: str) -> list[dict[str, Any]]:
    """The current rows of agent_tasks (FINAL: latest derivation, deleted rows left out)."""
    return store.query(f"SELECT {', '.join(columns or COLUMNS)} FROM {AGENT_TASKS} FINAL ORDER BY TaskId").dicts()


def derive(store: Storage) -> None:
    derive_tasks(store, start=T0, end=T0 + 10 * MINUTE)


def test_an_agent_run_mapped_by_ingest_becomes_one_task_with_its_calls_tokens_cost_and_degradation(
        store: Storage) -> None:
    batch = SpanMapper(MappingPolicy(), PriceTable.default()).map(agent_run())
    store.insert_arrow_stream(TRACES, spans_insert_body([batch.block]))
    derive(store)
    [task] = tasks(store, "TraceId", "Timestamp", *COLUMNS)
    assert task.pop("CostUsd") == pytest.approx(0.03)
    assert task == {
        "TraceId": TRACE.hex(), "Timestamp": "2026-03-02 12:00:00.000000000", "TaskId": "0000000000000001",
        "Duration": 20_000_000_000, "Success": 1, "ErrorType": "", "LlmCalls": 2, "ToolCalls": 2, "ToolErrors": 1,
        "InputTokens": 1500, "OutputTokens": 300, "CacheReadTokens": 400, "CacheWriteTokens": 0, "Degraded": 1,
        "ServiceName": "support-agent", "AgentName": "triage", "TaskType": "refund", "UserId": "u-42",
        "Tenant": "acme", "Feature": "", "Spans": 6,
    }


# A task: an agent root running a model call and a tool call, 30 s long.
ROOT = agent("t1", "root", at=timedelta(0), lasts=30 * SECOND, AgentName="triage")
CALL = chat("t1", "call", "root", at=SECOND, InputTokens=100, CostUsd=0.25)
TOOL = tool("t1", "tool", "root", at=2 * SECOND)


def test_a_span_arriving_after_its_task_was_derived_counts_when_the_task_is_derived_again(store: Storage) -> None:
    insert(store, [ROOT, CALL])
    derive(store)
    assert tasks(store, "TaskId", "LlmCalls", "ToolCalls", "Spans") == [
        {"TaskId": "root", "LlmCalls": 1, "ToolCalls": 0, "Spans": 2}]
    insert(store, [TOOL])
    derive(store)
    assert tasks(store, "TaskId", "LlmCalls", "ToolCalls", "Spans") == [
        {"TaskId": "root", "LlmCalls": 1, "ToolCalls": 1, "Spans": 3}]


def test_a_span_stored_twice_counts_once(store: Storage) -> None:
    insert(store, [ROOT, CALL, CALL, TOOL, ROOT])
    derive(store)
    assert tasks(store, "TaskId", "LlmCalls", "InputTokens", "CostUsd", "Spans") == [
        {"TaskId": "root", "LlmCalls": 1, "InputTokens": 100, "CostUsd": 0.25, "Spans": 3}]


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        pytest.param(
            [span("t2", "http", at=timedelta(0), lasts=MINUTE, SpanName="POST /tickets"),
             chat("t2", "route", "http", at=SECOND),
             agent("t2", "a", "http", at=2 * SECOND, lasts=20 * SECOND, AgentName="triage"),
             chat("t2", "a1", "a", at=3 * SECOND),
             agent("t2", "sub", "a", at=4 * SECOND, lasts=5 * SECOND, AgentName="lookup"),
             tool("t2", "sub1", "sub", at=5 * SECOND, StatusCode="Error"),
             agent("t2", "b", "http", at=30 * SECOND, lasts=10 * SECOND, AgentName="billing",
                   StatusCode="Error", ErrorType="RateLimited"),
             chat("t2", "b1", "b", at=31 * SECOND)],
            [{"TaskId": "a", "AgentName": "triage", "Success": 1, "ErrorType": "", "LlmCalls": 1, "ToolErrors": 1,
              "Spans": 4},
             {"TaskId": "b", "AgentName": "billing", "Success": 0, "ErrorType": "RateLimited", "LlmCalls": 1,
              "ToolErrors": 0, "Spans": 2}],
            id="under a root that is not an agent each outermost invoke_agent span is a task, "
               "a nested agent part of its outer one",
        ),
        pytest.param(
            [span("t3", "job", at=timedelta(0), lasts=MINUTE, StatusCode="Error", ErrorType="_OTHER"),
             chat("t3", "c1", "job", at=SECOND, AgentName="batch"),
             tool("t3", "c2", "job", at=2 * SECOND, StatusCode="Error")],
            [{"TaskId": "job", "AgentName": "batch", "Success": 0, "ErrorType": "_OTHER", "LlmCalls": 1,
              "ToolErrors": 1, "Spans": 3}],
            id="a trace with no invoke_agent span is one task, its root; a dimension set on a child is the task's",
        ),
        pytest.param(
            [agent("t4", "outer", "remote-caller", at=timedelta(0), lasts=MINUTE, AgentName="planner"),
             chat("t4", "o1", "outer", at=SECOND),
             agent("t4", "inner", "outer", at=2 * SECOND, AgentName="writer"),
             chat("t4", "i1", "inner", at=3 * SECOND)],
            [{"TaskId": "outer", "AgentName": "planner", "Success": 1, "ErrorType": "", "LlmCalls": 2,
              "ToolErrors": 0, "Spans": 4}],
            id="an agent span whose parent is in another service's trace is a task",
        ),
    ],
)
def test_which_spans_are_tasks(store: Storage, spans: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    insert(store, spans)
    derive(store)
    assert tasks(store, "TaskId", "AgentName", "Success", "ErrorType", "LlmCalls", "ToolErrors", "Spans") == expected


def test_each_task_lists_the_models_and_fallback_sources_of_its_own_model_calls(store: Storage) -> None:
    insert(store, [
        span("t6", "http", at=timedelta(0), lasts=MINUTE, SpanName="POST /tickets"),
        chat("t6", "route", "http", at=SECOND, RequestModel="router-small"),
        agent("t6", "a", "http", at=2 * SECOND, lasts=20 * SECOND, AgentName="triage"),
        chat("t6", "a1", "a", at=3 * SECOND, RequestModel="gpt-4o", FallbackSource="primary"),
        chat("t6", "a2", "a", at=4 * SECOND, RequestModel="claude-sonnet-4-5", FallbackSource="secondary"),
        chat("t6", "a3", "a", at=5 * SECOND, RequestModel="gpt-4o", FallbackSource="primary"),
        span("t6", "a4", "a", at=6 * SECOND, RequestModel="not-a-call"),
        agent("t6", "b", "http", at=30 * SECOND, lasts=10 * SECOND, AgentName="billing"),
        chat("t6", "b1", "b", at=31 * SECOND, RequestModel="gpt-4o-mini"),
    ])
    derive(store)
    assert tasks(store, "TaskId", "Models", "FallbackSources") == [
        {"TaskId": "a", "Models": ["claude-sonnet-4-5", "gpt-4o"], "FallbackSources": ["primary", "secondary"]},
        {"TaskId": "b", "Models": ["gpt-4o-mini"], "FallbackSources": []},
    ]


def test_an_inner_agent_taken_for_a_task_before_its_outer_agent_arrived_is_deleted_when_it_does(
        store: Storage) -> None:
    inner = [agent("t5", "inner", "outer", at=2 * SECOND, AgentName="writer"), chat("t5", "i1", "inner", at=3 * SECOND)]
    outer = [agent("t5", "outer", at=timedelta(0), lasts=5 * MINUTE, AgentName="planner")]
    insert(store, inner)
    derive(store)
    assert tasks(store, "TaskId", "Spans") == [{"TaskId": "inner", "Spans": 2}]
    insert(store, outer)
    derive(store)
    assert tasks(store, "TaskId", "Spans") == [{"TaskId": "outer", "Spans": 3}]
    latest = f"SELECT TaskId, argMax(Deleted, DerivedAt) FROM {AGENT_TASKS} GROUP BY TaskId ORDER BY TaskId"
    assert store.query(latest).rows == [("inner", 1), ("outer", 0)]


def test_each_cycle_derives_the_tasks_that_ended_at_least_grace_ago_and_not_yet_derived(store: Storage) -> None:
    insert(store, [ROOT, CALL])  # the task ends at T0 + 30 s
    grace = 2 * MINUTE
    sync_tasks(store, T0 + 2 * MINUTE, since=T0 - MINUTE, grace=grace)
    assert tasks(store) == []
    insert(store, [TOOL])  # late, yet within the grace period
    sync_tasks(store, T0 + 3 * MINUTE, since=T0 - MINUTE, grace=grace)
    assert tasks(store, "TaskId", "ToolCalls") == [{"TaskId": "root", "ToolCalls": 1}]
    mark = read_watermarks(store)["agent_tasks"]
    assert (mark.since, mark.through) == (T0 - MINUTE, T0 + MINUTE)


def test_a_task_carries_its_environment_and_a_task_slo_can_be_limited_to_one(store: Storage) -> None:
    insert(store, [agent("prod-trace", "root", at=0 * SECOND, StatusCode="Error",
                         ResourceAttributes={"deployment.environment.name": "prod"}),
                   agent("staging-trace", "root", at=1 * SECOND,
                         ResourceAttributes={"deployment.environment": "staging"})])
    production = make_slo("prod-tasks", objective=99, window="1d", sli={
        "kind": "availability", "over": "tasks", "filter": [{"column": "Environment", "op": "eq", "value": "prod"}]})
    [status] = run_cycle(store, [production], T0 + 10 * MINUTE)
    rows = store.query(f"SELECT TraceId, Environment FROM {AGENT_TASKS} FINAL ORDER BY TraceId").rows
    assert rows == [("prod-trace", "prod"), ("staging-trace", "staging")]
    assert (status.counts.good_events, status.counts.total_events) == (0, 1)
