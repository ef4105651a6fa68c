"""Specification of late data: spans stored after their minute was rolled up count, within the lateness horizon.

An exporter's queue replayed after a restart of the service, or a collector's
retry queue draining, brings hours of spans at once. The SLIs they give must
not depend on when they arrived.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ground.storage import AGENT_TASKS, Storage
from slo import EventCounts
from slo.engine import catch_up, evaluate, run_cycle
from tests.slo.traces import MINUTE, SECOND, T0, agent, insert, make_slo, tool

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
TASKS = make_slo("tasks", objective=99, window="1d", sli={"kind": "availability", "over": "tasks"})
TOOLS = make_slo("tools", objective=95, window="1d", sli={"kind": "tool_success"})
# The same SLIs under other names, new at the cycle that compares: backfilled from scratch, as if on time.
FRESH = (make_slo("tasks-fresh", objective=99, window="1d", sli={"kind": "availability", "over": "tasks"}),
         make_slo("tools-fresh", objective=95, window="1d", sli={"kind": "tool_success"}))


def history(start: timedelta, minutes: int) -> tuple[list[dict[str, Any]], EventCounts, EventCounts]:
    """Two agent tasks a minute for `minutes` from T0 + `start`, three tool calls each; every tenth task
    and every seventh tool call fails. Returns the spans and the tasks' and tool calls' exact counts."""
    spans, tasks, tools = [], EventCounts(), EventCounts()
    for n in range(minutes * 2):
        at = start + n * 30 * SECOND
        trace, failed = f"trace-{start}-{n}", n % 10 == 0
        spans.append(agent(trace, "root", at=at, lasts=20 * SECOND, StatusCode="Error" if failed else "Unset"))
        tasks += EventCounts(0 if failed else 1, 1)
        for k in range(3):
            bad = (3 * n + k) % 7 == 0
            spans.append(tool(trace, f"tool-{k}", "root", at=at + (1 + 5 * k) * SECOND, lasts=2 * SECOND,
                              StatusCode="Error" if bad else "Unset"))
            tools += EventCounts(0 if bad else 1, 1)
    return spans, tasks, tools


def by_name(statuses) -> dict[str, EventCounts]:
    return {status.slo.name: status.counts for status in statuses}


def test_a_three_hour_backlog_replayed_after_the_first_cycle_gives_the_slis_it_would_have_on_time(
        store: Storage) -> None:
    now = T0 + 3 * HOUR + 10 * MINUTE
    run_cycle(store, [TASKS, TOOLS], now)                       # the first cycle: nothing stored yet
    spans, tasks, tools = history(timedelta(0), 180)            # then three hours of history arrive at once
    insert(store, spans)
    later = now + MINUTE
    caught = catch_up(store, [TASKS, TOOLS, *FRESH], later)
    counts = by_name(evaluate(store, [TASKS, TOOLS, *FRESH], later))
    assert counts["tasks"] == counts["tasks-fresh"] == tasks == EventCounts(324, 360)
    assert counts["tools"] == counts["tools-fresh"] == tools == EventCounts(925, 1080)
    assert caught.late_spans == len(spans) == 1440
    assert caught.beyond_horizon_spans == 0


def test_a_late_child_derives_its_task_again(store: Storage) -> None:
    tasks_and_tools = [TASKS, TOOLS]
    insert(store, [agent("t", "root", at=0 * SECOND, lasts=30 * SECOND),
                   tool("t", "lookup", "root", at=1 * SECOND, lasts=SECOND)])
    run_cycle(store, tasks_and_tools, T0 + 10 * MINUTE)
    # The failed refund call arrives long after its task was derived, from a collector's retry queue.
    insert(store, [tool("t", "refund", "root", at=5 * SECOND, lasts=SECOND, StatusCode="Error")])
    [task_row] = store.query(f"SELECT ToolCalls, ToolErrors FROM {AGENT_TASKS} FINAL").rows
    assert task_row == (1, 0)
    counts = by_name(run_cycle(store, tasks_and_tools, T0 + 30 * MINUTE))
    assert store.query(f"SELECT ToolCalls, ToolErrors FROM {AGENT_TASKS} FINAL").rows == [(2, 1)]
    assert counts == {"tasks": EventCounts(1, 1), "tools": EventCounts(1, 2)}


def test_spans_later_than_the_horizon_are_stored_and_counted_apart_but_in_no_sli(store: Storage) -> None:
    now = T0 + 3 * DAY
    run_cycle(store, [TOOLS], now)
    spans, _, _ = history(timedelta(0), 10)                      # three days late: beyond the one-day horizon
    insert(store, spans)
    caught = catch_up(store, [TOOLS], now + MINUTE)
    assert (caught.late_spans, caught.beyond_horizon_spans) == (0, len(spans))
    assert by_name(evaluate(store, [TOOLS], now + MINUTE)) == {"tools": EventCounts()}


def test_a_cycle_as_of_another_time_neither_looks_for_late_spans_nor_moves_the_live_mark(store: Storage) -> None:
    now = T0 + 3 * HOUR
    run_cycle(store, [TOOLS], now)
    spans, _, tools = history(timedelta(0), 60)
    insert(store, spans)
    past = catch_up(store, [TOOLS], now - HOUR, live=False)
    assert (past.late_spans, past.rerolled_minutes) == (0, 0)
    live = catch_up(store, [TOOLS], now + MINUTE)                # the live cycle still finds all of them
    assert live.late_spans == len(spans)
    assert by_name(evaluate(store, [TOOLS], now + MINUTE))["tools"] == tools


