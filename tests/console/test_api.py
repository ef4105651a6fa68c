"""The console's JSON API on a service fed the agent scenario over OTLP, on both storage backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.console.conftest import NOW, START, Fed, feed
from tests.support.agent_scenario import KNOWN, TASKS


@pytest.fixture(scope="module", params=["embedded", "server"])
def fed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, chdb_dir: Path) -> Iterator[Fed]:
    yield from feed(request.param, tmp_path_factory.mktemp("console"), chdb_dir, request)


def test_tasks_come_newest_first_with_what_their_spans_used(fed: Fed) -> None:
    page = fed.get("/api/v1/tasks").json()
    assert [(t["user"], t["task_type"]) for t in page["tasks"]] == [
        (task.user, task.task_type) for task in sorted(TASKS, key=lambda task: -task.minute)]
    assert page["next_cursor"] is None
    assert (page["start"], page["end"]) == (
        (NOW - timedelta(days=7)).isoformat().replace("+00:00", "Z"), NOW.isoformat().replace("+00:00", "Z"))
    known = next(t for t in page["tasks"] if t["trace_id"] == fed.trace_ids[0])
    assert {k: v for k, v in known.items() if k not in ("task_id", "cost_usd")} == {
        "trace_id": fed.trace_ids[0], "start": (START + timedelta(minutes=10)).isoformat().replace("+00:00", "Z"),
        "duration_ms": 9000.0, "status": "ok", "error_type": "", "service": "support-desk", "agent": "support",
        "user": "alice", "tenant": "acme", "task_type": "refund", "feature": "refunds", "environment": "prod",
        "llm_calls": 3, "tool_calls": 1, "tool_errors": 0, "input_tokens": 2900, "output_tokens": 800,
        "cache_read_tokens": 400, "cache_write_tokens": 0, "degraded": True, "spans": 5,
        "models": ["claude-sonnet-4-5", "gpt-4o", "gpt-4o-mini"], "fallback_sources": ["primary", "secondary"]}
    assert known["cost_usd"] > 0
    failed = next(t for t in page["tasks"] if t["user"] == "carol")
    assert (failed["status"], failed["error_type"], failed["tool_errors"]) == ("error", "tool_failure", 1)


@pytest.mark.parametrize(("params", "users"), [
    pytest.param({"agent": "researcher"}, ["dave", "alice"], id="an agent"),
    pytest.param({"user": "alice"}, ["alice", "alice"], id="a user, in two services"),
    pytest.param({"status": "error"}, ["carol"], id="failed tasks"),
    pytest.param({"status": "ok", "task_type": "answer"}, ["bob"], id="a task type that succeeded"),
    pytest.param({"tenant": "globex", "service": "research"}, ["dave"], id="a tenant in a service"),
    pytest.param({"environment": "staging"}, ["carol"], id="an environment"),
    pytest.param({"start": (START + timedelta(minutes=20)).isoformat(),
                  "end": (START + timedelta(minutes=30)).isoformat()}, ["alice", "carol"],
                 id="a time range: start included, end not"),
    pytest.param({"user": "nobody"}, [], id="no match"),
])
def test_filters_narrow_the_tasks(fed: Fed, params: dict[str, str], users: list[str]) -> None:
    response = fed.get("/api/v1/tasks", **params)
    assert response.status_code == 200, response.text
    assert [t["user"] for t in response.json()["tasks"]] == users


def test_keyset_pages_walk_every_task_once(fed: Fed) -> None:
    first = fed.get("/api/v1/tasks", limit=4).json()
    second = fed.get("/api/v1/tasks", limit=4, cursor=first["next_cursor"]).json()
    assert (len(first["tasks"]), len(second["tasks"]), second["next_cursor"]) == (4, 2, None)
    everything = [t["task_id"] for t in fed.get("/api/v1/tasks").json()["tasks"]]
    assert [t["task_id"] for t in first["tasks"] + second["tasks"]] == everything


def test_a_trace_comes_in_tree_order_with_its_bars(fed: Fed) -> None:
    trace = fed.get(f"/api/v1/traces/{fed.trace_ids[0].upper()}").json()
    spans = trace["spans"]
    assert [(s["name"], s["depth"], s["offset_pct"], s["width_pct"]) for s in spans] == [
        ("invoke_agent support", 0, 0.0, 100.0),
        ("chat gpt-4o-mini", 1, 1.111, 13.333),
        ("execute_tool lookup_order", 1, 15.556, 6.667),
        ("chat gpt-4o", 1, 23.333, 10.0),
        ("chat claude-sonnet-4-5", 1, 34.444, 44.444),
    ]
    assert (trace["trace_id"], trace["duration_ms"], trace["input_tokens"], trace["output_tokens"]) == (
        fed.trace_ids[0], 9000.0, 2900, 800)
    first_call = spans[1]
    assert {k: first_call[k] for k in ("operation", "provider", "request_model", "input_tokens", "output_tokens",
                                        "cache_read_tokens", "cost_source", "fallback_source", "degraded")} == {
        "operation": "chat", "provider": "openai", "request_model": "gpt-4o-mini", "input_tokens": 1200,
        "output_tokens": 300, "cache_read_tokens": 400, "cost_source": "priced", "fallback_source": "primary",
        "degraded": False}
    assert [(e["name"], e["attributes"]) for e in first_call["events"]] == [("retry", {"attempt": "2"})]
    failed = spans[3]
    assert (failed["status_code"], failed["error_type"], [e["name"] for e in failed["events"]]) == (
        "Error", "429", ["circuit_breaker.open"])
    assert spans[4]["degraded"] is True
    task = next(t for t in fed.get("/api/v1/tasks").json()["tasks"] if t["trace_id"] == fed.trace_ids[0])
    assert trace["cost_usd"] == pytest.approx(task["cost_usd"], rel=1e-12)
    assert trace["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in spans), rel=1e-12)


def test_slo_history_is_each_evaluation_in_slo_status(fed: Fed) -> None:
    # 2,000 points over 7 days: intervals of 5 minutes, finer than the evaluations' 15 (the default 500
    # would give 20-minute intervals, each the last evaluation in it).
    history = fed.get("/api/v1/slos/support-tasks/history", points=2000).json()
    assert [point["at"] for point in history] == [
        (at).isoformat().replace("+00:00", "Z")
        for at in (START + timedelta(minutes=30), START + timedelta(minutes=45), NOW)]
    assert [(p["good_events"], p["total_events"]) for p in history] == [(2, 3), (3, 4), (3, 4)]
    latest = fed.get("/api/v1/slos/support-tasks").json()
    assert history[-1]["sli"] == latest["sli"] == 0.75
    assert history[-1]["error_budget_remaining"] == latest["error_budget_remaining"]
    assert {r["window"]: r["burn_rate"] for r in latest["burn_rates"] if r["burn_rate"] is not None} == \
        history[-1]["burn_rates"]
    # At most `points`: the last evaluation of each interval (7 days / (points - 1), from the epoch).
    two = fed.get("/api/v1/slos/support-tasks/history", points=2).json()
    assert len(two) <= 2 and two[-1] == history[-1]


def test_spend_breaks_cost_down_by_model_and_by_the_tasks_attribution(fed: Fed) -> None:
    spend = fed.get("/api/v1/spend").json()
    tasks = fed.get("/api/v1/tasks").json()["tasks"]
    total = sum(t["cost_usd"] for t in tasks)
    assert len(spend["daily"]) in (30, 31)  # 30 UTC days with today; 31 when the scenario began yesterday
    assert sum(d["cost_usd"] for d in spend["daily"]) == pytest.approx(total, rel=1e-9)
    assert sum(d["calls"] for d in spend["daily"]) == 9
    by = {b["dimension"]: b for b in spend["breakdowns"]}
    assert list(by) == ["model", "agent", "user", "task_type", "feature"]
    models = {r["key"]: (r["calls"], r["unpriced_calls"], r["input_tokens"], r["output_tokens"])
              for r in by["model"]["rows"]}
    assert models == {"gpt-4o-mini": (4, 0, 2700, 590), "gpt-4o": (1, 0, 800, 0),
                      "claude-sonnet-4-5": (2, 0, 4900, 2500), "llama-local": (2, 2, 5500, 2100)}
    assert [r["key"] for r in by["model"]["rows"]][-1] == "llama-local"  # the cheapest: unpriced, $0
    assert by["model"]["total_cost_usd"] == pytest.approx(total, rel=1e-9)
    agents = {r["key"]: (r["calls"], r["cost_usd"]) for r in by["agent"]["rows"]}
    assert {k: v[0] for k, v in agents.items()} == {"support": 3, "researcher": 2, "triage": 1}
    assert agents["researcher"][1] == pytest.approx(sum(t["cost_usd"] for t in tasks if t["agent"] == "researcher"))
    assert (by["user"]["keys"], by["user"]["total_calls"]) == (4, 6)
    only_two = fed.get("/api/v1/spend", by=["tenant", "model"], limit=1).json()["breakdowns"]
    assert [(b["dimension"], len(b["rows"]), b["keys"]) for b in only_two] == [("tenant", 1, 2), ("model", 1, 4)]


Z = "2026-11-23T12:00:00Z"


@pytest.mark.parametrize(("path", "params", "status", "detail"), [
    pytest.param("/api/v1/tasks", {"start": "2026-11-23T12:00:00"}, 422,
                 "start must carry a time zone, e.g. 2026-11-23T12:00:00Z", id="a time without a zone"),
    pytest.param("/api/v1/tasks", {"start": Z, "end": Z}, 422,
                 "start must be before end: got start 2026-11-23T12:00:00Z, end 2026-11-23T12:00:00Z",
                 id="an empty range"),
    pytest.param("/api/v1/spend", {"start": "2024-01-01T00:00:00Z", "end": Z}, 422,
                 "start to end may span 366 days at most: got 1057 days", id="a range over a year"),
    pytest.param("/api/v1/tasks", {"cursor": "bm90IGEgY3Vyc29y"}, 422,
                 "cursor: not a cursor this API gave (take next_cursor from the previous page)", id="a bad cursor"),
    pytest.param("/api/v1/tasks", {"end": "0.5"}, 422, None, id="a number for a time: not read as Unix seconds"),
    pytest.param("/api/v1/tasks", {"limit": 501}, 422, None, id="too many tasks a page"),
    pytest.param("/api/v1/tasks", {"status": "broken"}, 422, None, id="an unknown status"),
    pytest.param("/api/v1/spend", {"by": "colour"}, 422, None, id="an unknown breakdown"),
    pytest.param("/api/v1/traces/not-a-trace", {}, 422, None, id="a trace id that is not 32 hex digits"),
    pytest.param("/api/v1/traces/" + "ab" * 16, {}, 404, f"no span of trace {'ab' * 16} is stored",
                 id="a trace with no span stored"),
    pytest.param("/api/v1/slos/nope/history", {}, 404,
                 "no SLO named 'nope'; configured: support-tasks, model-calls", id="an unknown SLO"),
    pytest.param("/api/v1/slos/support-tasks/history", {"points": 1}, 422, None, id="a history of one point"),
])
def test_parameters_out_of_range_get_a_clear_4xx(fed: Fed, path: str, params: dict[str, object], status: int,
                                                 detail: str | None) -> None:
    response = fed.get(path, **params)
    assert response.status_code == status, response.text
    if detail is not None:
        assert response.json() == {"detail": detail}


def test_every_console_read_is_in_the_api_description(fed: Fed) -> None:
    paths = fed.get("/openapi.json").json()["paths"]
    assert {"/api/v1/tasks", "/api/v1/traces/{trace_id}", "/api/v1/slos/{name}/history", "/api/v1/spend"} <= set(paths)
    assert not {"/", "/tasks", "/spend", "/alerts"} & set(paths)
    assert all(not p.get("required") for p in paths["/api/v1/tasks"]["get"]["parameters"])
