"""Task spend over any range adds whole UTC days from task_spend_daily and reads the rest from agent_tasks,
the same sums as the tasks' own at every moment: before a day is summed again, after, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from agentslo.console._queries import Dimension
from agentslo.console._reads import spend
from ground.storage import AGENT_TASKS, TASK_SPEND_DAILY, Storage, migrate
from slo.engine import sync_task_spend

DAY = datetime(2026, 5, 4, tzinfo=UTC)


def task(task_id: str, at: timedelta, user: str, agent: str, cost_usd: float, *, derived: int = 1,
         deleted: bool = False) -> dict[str, object]:
    return {"TaskId": task_id, "TraceId": "trace-" + task_id, "Timestamp": (DAY + at).strftime("%Y-%m-%d %H:%M:%S"),
            "UserId": user, "AgentName": agent, "CostUsd": cost_usd, "InputTokens": 10, "Spans": 1,
            "Version": derived, "Deleted": int(deleted)}


TASKS = [
    task("a", timedelta(hours=1), "alice", "support", 0.5),
    task("b", timedelta(hours=20), "bob", "support", 0.25),
    task("c", timedelta(days=1, hours=3), "alice", "research", 1.0),
    task("c", timedelta(days=1, hours=3), "carol", "research", 1.0, derived=2),  # derived again: carol's
    task("d", timedelta(days=1, hours=12), "", "triage", 0.125),
    task("e", timedelta(days=2, hours=6), "dave", "support", 2.0),
    task("e", timedelta(days=2, hours=6), "dave", "support", 2.0, derived=2, deleted=True),  # gone
    task("f", timedelta(days=2, hours=23), "bob", "research", 0.0625),
]

# Ranges a spend read may ask for, by what they cut.
RANGES = {
    "whole days": (DAY, DAY + timedelta(days=3)),
    "part days at both ends": (DAY + timedelta(hours=10), DAY + timedelta(days=2, hours=12)),
    "inside one day": (DAY + timedelta(days=1, hours=1), DAY + timedelta(days=1, hours=4)),
}


def store(storage: Storage, rows: list[dict[str, object]]) -> None:
    """Store tasks as a derivation does, stamped DerivedAt by the clock the server shares (a later version
    a millisecond later)."""
    now = datetime.now(UTC)
    storage.insert_json_rows(AGENT_TASKS, b"\n".join(orjson.dumps({
        **{k: v for k, v in row.items() if k != "Version"},
        "DerivedAt": (now + timedelta(milliseconds=int(row["Version"]))).strftime("%Y-%m-%d %H:%M:%S.%f")})  # type: ignore[call-overload]
        for row in rows))


def expected(rows: list[dict[str, object]], start: datetime, end: datetime) -> dict[tuple[str, str], tuple]:
    """Cost and tasks by user and by agent, summed here from each task's latest derivation."""
    latest: dict[str, dict[str, object]] = {}
    for row in rows:
        if row["TaskId"] not in latest or int(row["Version"]) > int(latest[str(row["TaskId"])]["Version"]):  # type: ignore[call-overload]
            latest[str(row["TaskId"])] = row
    sums: dict[tuple[str, str], list[float]] = {}
    for row in latest.values():
        at = datetime.strptime(str(row["Timestamp"]), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        if row["Deleted"] or not start <= at < end:
            continue
        for dimension, column in (("user", "UserId"), ("agent", "AgentName")):
            into = sums.setdefault((dimension, str(row[column])), [0.0, 0])
            into[0] += float(row["CostUsd"])  # type: ignore[arg-type]
            into[1] += 1
    return {key: (round(cost, 12), int(count)) for key, (cost, count) in sums.items()}


def spent(storage: Storage, start: datetime, end: datetime) -> dict[tuple[str, str], tuple]:
    found = spend(storage, [Dimension.USER, Dimension.AGENT], start, end, limit=100).breakdowns
    return {(b.dimension, "" if r.key == "(none)" else r.key): (round(r.cost_usd, 12), r.calls)
            for b in found for r in b.rows}


def test_task_spend_is_the_tasks_own_before_and_after_their_days_are_summed(storage: Storage) -> None:
    migrate(storage)
    store(storage, TASKS[:3])
    for name, (start, end) in RANGES.items():
        assert spent(storage, start, end) == expected(TASKS[:3], start, end), ("none summed", name)
    assert sync_task_spend(storage) == 2
    assert sync_task_spend(storage) == 0
    store(storage, TASKS[3:])  # a summed day gets a task derived again, and two days new tasks
    for name, (start, end) in RANGES.items():
        assert spent(storage, start, end) == expected(TASKS, start, end), ("tasks derived since", name)
    assert sync_task_spend(storage) == 2
    for name, (start, end) in RANGES.items():
        assert spent(storage, start, end) == expected(TASKS, start, end), ("all summed", name)
    # A day in the middle gets a task derived again: the days on either side still come from their sums.
    again = [task("d", timedelta(days=1, hours=12), "erin", "triage", 0.375, derived=3)]
    store(storage, again)
    for name, (start, end) in RANGES.items():
        assert spent(storage, start, end) == expected(TASKS + again, start, end), ("a middle day derived", name)
    assert sync_task_spend(storage) == 1
    # A day's latest sum holds what its tasks do now: alice, whose task became carol's, is not in it.
    latest = storage.query(
        f"SELECT Dimension, Key, CostUsd, Tasks FROM {TASK_SPEND_DAILY} WHERE Day = '2026-05-05' AND Dimension "
        f"IN ('', 'user') AND ComputedAt = (SELECT max(ComputedAt) FROM {TASK_SPEND_DAILY} WHERE Day = '2026-05-05') "
        "ORDER BY Dimension, Key").rows
    assert latest == [("", "", 0.0, 0), ("user", "carol", 1.0, 1), ("user", "erin", 0.375, 1)]
    # Whole days are read from the sums: a row added to a day's latest sum shows in the spend.
    storage.command(
        f"INSERT INTO {TASK_SPEND_DAILY} (Day, Dimension, Key, CostUsd, Tasks, ComputedAt) "
        f"SELECT Day, 'user', 'zed', 7, 1, max(ComputedAt) FROM {TASK_SPEND_DAILY} WHERE Day = '2026-05-04' GROUP BY Day")
    assert spent(storage, *RANGES["whole days"])[("user", "zed")] == (7.0, 1)
    assert ("user", "zed") not in spent(storage, *RANGES["part days at both ends"])  # 05-04 is a part day there
