"""Property: SLIs read from the per-minute rollups equal a brute-force count over the raw spans and tasks.

For random agent traces (duplicated spans, failures, late starts, events after
`now`), every SLI kind over every event source, rolling windows and both
budgeting methods: one engine cycle at a random `now`, against a count in
Python over the generated rows, for the window and for every burn window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ground.storage import AGENT_TASKS, SLO_ROLLUPS, TRACES, WATERMARKS, Storage
from slo import DEFAULT_GRACE, SLO, EventCounts, SliceCounts, Timeslices, count_slices, window_bounds
from slo.engine import run_cycle
from tests.slo.traces import SECOND, T0, insert, make_slo, span

# (SLI as the config file writes it, a brute-force test of one event: (good, total) or None when not an event).
SLIS: list[tuple[dict[str, Any], Any]] = [
    ({"kind": "availability", "over": "tasks"}, lambda e: e.task and (not e.failed, 1)),
    ({"kind": "availability", "over": "spans"}, lambda e: not e.task and (not e.failed, 1)),
    ({"kind": "error_rate", "over": "tool_calls"}, lambda e: e.op == "execute_tool" and (not e.failed, 1)),
    ({"kind": "latency", "over": "tasks", "threshold": "40s"}, lambda e: e.task and (e.lasts <= 40 * SECOND, 1)),
    ({"kind": "latency", "over": "llm_calls", "threshold": "2s"},
     lambda e: e.op == "chat" and (e.lasts <= 2 * SECOND, 1)),
    ({"kind": "cost", "over": "tasks", "threshold_usd": 4 / 1024}, lambda e: e.task and (e.cost <= 4 / 1024, 1)),
    ({"kind": "cost", "over": "llm_calls", "threshold_usd": 2 / 1024},
     lambda e: e.op == "chat" and (e.cost <= 2 / 1024, 1)),
    ({"kind": "cache_hit_rate"}, lambda e: e.op == "chat" and (min(e.cache, e.tokens), e.tokens)),
    ({"kind": "tool_success"}, lambda e: e.op == "execute_tool" and (not e.failed, 1)),
]


@dataclass(frozen=True)
class Event:
    """A span (task False) or a task, with what the SLIs test."""

    task: bool
    op: str
    end: datetime
    lasts: timedelta
    failed: bool
    cost: float = 0
    tokens: int = 0
    cache: int = 0


child = st.fixed_dictionaries({
    "op": st.sampled_from(["chat", "execute_tool", "other"]),
    "at_s": st.integers(0, 30),
    "lasts_s": st.integers(0, 5),
    "failed": st.booleans(),
    "tokens": st.integers(0, 1000),
    "cache": st.integers(0, 1200),  # now and then more than the input tokens: a producer counting them apart
    "cost": st.integers(0, 4).map(lambda k: k / 1024),  # binary fractions: sums are exact in any order
    "copies": st.integers(1, 2),
})
trace = st.fixed_dictionaries({
    "start_s": st.integers(-2 * 3600, 600),
    "lasts_s": st.integers(1, 60),
    "failed": st.booleans(),
    "children": st.lists(child, max_size=3),
})


def rows_and_events(traces: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Event]]:
    rows, events = [], []
    for t, tr in enumerate(traces):
        root_at, root_lasts = tr["start_s"] * SECOND, tr["lasts_s"] * SECOND
        rows.append(span(f"t{t}", "root", at=root_at, lasts=root_lasts, GenAiOperation="invoke_agent",
                         StatusCode="Error" if tr["failed"] else "Unset"))
        events.append(Event(False, "invoke_agent", T0 + root_at + root_lasts, root_lasts, tr["failed"]))
        task_cost = 0.0
        for c, ch in enumerate(tr["children"]):
            at, lasts = root_at + ch["at_s"] * SECOND, ch["lasts_s"] * SECOND
            model = ch["op"] == "chat"
            row = span(f"t{t}", f"c{c}", "root", at=at, lasts=lasts, GenAiOperation=ch["op"],
                       StatusCode="Error" if ch["failed"] else "Unset", CostSource="priced" if model else "",
                       InputTokens=ch["tokens"], CacheReadTokens=ch["cache"], CostUsd=ch["cost"] if model else 0)
            rows.extend([row] * ch["copies"])
            events.append(Event(False, ch["op"], T0 + at + lasts, lasts, ch["failed"], ch["cost"] if model else 0,
                                ch["tokens"], ch["cache"]))
            task_cost += ch["cost"] if model else 0
        events.append(Event(True, "", T0 + root_at + root_lasts, root_lasts, tr["failed"], task_cost))
    return rows, events


def brute_force(test: Any, events: list[Event], start: datetime, end: datetime) -> EventCounts:
    good = total = 0
    for event in events:
        counted = test(event) if start <= event.end < end else False
        if counted:
            good, total = good + counted[0], total + counted[1]
    return EventCounts(good, total)


def clear(store: Storage) -> None:
    for table in (TRACES, AGENT_TASKS, SLO_ROLLUPS, WATERMARKS):
        store.command(f"TRUNCATE TABLE {table}")


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    traces=st.lists(trace, min_size=1, max_size=8),
    sli_index=st.integers(0, len(SLIS) - 1),
    window=st.sampled_from(["1h", "2h"]),
    slices=st.sampled_from([None, "1m", "5m"]),
    now_s=st.integers(0, 900),
)
def test_rollups_give_the_same_counts_as_brute_force(store: Storage, traces: list[dict[str, Any]], sli_index: int,
                                                      window: str, slices: str | None, now_s: int) -> None:
    clear(store)
    rows, events = rows_and_events(traces)
    if rows:
        insert(store, rows)
    sli, test = SLIS[sli_index]
    budgeting = {"method": "timeslices", "slice": slices, "slice_objective": 75} if slices else "occurrences"
    slo = make_slo("property", objective=90, window=window, budgeting=budgeting, sli=sli)
    now = T0 + now_s * SECOND
    # Tasks are derived once their span ended `grace` ago: those ending later are not counted yet.
    settled = [e for e in events if not e.task or e.end < now - DEFAULT_GRACE]

    [status] = run_cycle(store, [slo], now)

    start, end = window_bounds(slo, now)
    assert status.counts == brute_force(test, settled, start, end)
    if isinstance(slo.budgeting, Timeslices):
        assert status.slices == judged_slices(slo, test, settled, start, end)
    else:
        for rate in status.burn_rates:
            assert rate.counts == brute_force(test, settled, end - rate.window, end), rate.window


def judged_slices(slo: SLO, test: Any, events: list[Event], start: datetime, end: datetime) -> SliceCounts:
    assert isinstance(slo.budgeting, Timeslices)
    length = slo.budgeting.slice
    first = datetime.fromtimestamp(-(-int(start.timestamp()) // int(length.total_seconds()))
                                   * length.total_seconds(), start.tzinfo)
    slices = []
    while first < end:
        slices.append(brute_force(test, events, first, min(first + length, end)))
        first += length
    return count_slices(slices, slo.budgeting.slice_target)
