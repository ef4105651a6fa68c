"""A filtered page of tasks comes from the newest hours that hold it, and is the same page as a read of
the whole range, superseded derivations included, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from agentslo.console._queries import TaskCursor, TaskFilter, TaskStatus
from agentslo.console._reads import tasks
from ground.storage import AGENT_TASKS, TRACES, Storage, migrate

NOW = datetime(2026, 5, 31, 12, tzinfo=UTC)


def task(task_id: str, hours_ago: float, user: str, *, derived: int = 1, deleted: bool = False,
         success: bool = True) -> dict[str, object]:
    start = NOW - timedelta(hours=hours_ago)
    return {"TaskId": task_id, "TraceId": "trace-" + task_id, "Timestamp": start.strftime("%Y-%m-%d %H:%M:%S"),
            "UserId": user, "Success": int(success), "Spans": 1, "DerivedAt": f"2026-06-01 00:00:0{derived}",
            "Deleted": int(deleted)}


ROWS = [
    task("a1", 700, "alice"), task("a2", 300, "alice"), task("a3", 200, "alice", success=False),
    task("b1", 100, "bob"),
    # Derived for alice first, then again for carol (a late span named the user): carol's.
    task("c1", 50, "alice"), task("c1", 50, "carol", derived=2),
    # Derived for alice, then deleted (an outer agent span arrived): gone.
    task("d1", 10, "alice"), task("d1", 10, "alice", derived=2, deleted=True),
]


def test_a_filtered_page_is_the_newest_matching_tasks_whatever_was_derived_again(storage: Storage) -> None:
    migrate(storage)
    storage.insert_json_rows(AGENT_TASKS, b"\n".join(orjson.dumps(row) for row in ROWS))
    everything = TaskFilter(NOW - timedelta(days=30), NOW)
    for equals, status, limit, ids in [
        ({"user": "alice"}, None, 2, ["a3", "a2"]),
        ({"user": "alice"}, None, 3, ["a3", "a2", "a1"]),
        ({"user": "alice"}, TaskStatus.OK, 1, ["a2"]),
        ({"user": "carol"}, None, 5, ["c1"]),
        ({"user": "nobody"}, None, 5, []),
        ({}, None, 3, ["c1", "b1", "a3"]),
    ]:
        page = tasks(storage, TaskFilter(everything.start, everything.end, equals, status), after=None, limit=limit)
        assert [t.task_id for t in page.tasks] == ids, (equals, status, limit)
    first = tasks(storage, TaskFilter(everything.start, everything.end, {"user": "alice"}), after=None, limit=2)
    cursor = TaskCursor.decode(first.next_cursor or "")
    rest = tasks(storage, TaskFilter(everything.start, everything.end, {"user": "alice"}), after=cursor, limit=2)
    assert ([t.task_id for t in rest.tasks], rest.next_cursor) == (["a1"], None)


def test_a_task_derived_before_tasks_listed_their_models_shows_its_traces(storage: Storage) -> None:
    migrate(storage)
    listed = {**task("new", 2, "alice"), "LlmCalls": 1, "Models": ["gpt-4o"], "FallbackSources": ["primary"]}
    unlisted = {**task("old", 3, "alice"), "LlmCalls": 1}
    storage.insert_json_rows(AGENT_TASKS, b"\n".join(orjson.dumps(row) for row in (listed, unlisted)))
    at = (NOW - timedelta(hours=3, seconds=-1)).strftime("%Y-%m-%d %H:%M:%S")
    storage.insert_json_rows(TRACES, orjson.dumps({"TraceId": "trace-old", "SpanId": "s1", "Timestamp": at,
                                                   "RequestModel": "claude-haiku-4-5", "CostSource": "priced",
                                                   "FallbackSource": "cache"}))
    page = tasks(storage, TaskFilter(NOW - timedelta(days=1), NOW), after=None, limit=5)
    assert [(t.task_id, t.models, t.fallback_sources) for t in page.tasks] == [
        ("new", ["gpt-4o"], ["primary"]), ("old", ["claude-haiku-4-5"], ["cache"])]
