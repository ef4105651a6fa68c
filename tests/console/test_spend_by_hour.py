"""Spend over any range reads otel_traces' hourly projection for whole hours and the spans for the rest,
and adds up to the spans' own sums, late spans included, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from agentslo.console._queries import traces_spend_query
from ground.storage import SCHEMA, TRACES, Storage, migrate

DAY = datetime(2026, 5, 4, tzinfo=UTC)


def call(at: datetime, model: str, cost_usd: float, *, source: str = "priced", span: str = "") -> dict[str, object]:
    return {"Timestamp": at.strftime("%Y-%m-%d %H:%M:%S.%f"), "TraceId": "t" + (span or at.isoformat()),
            "SpanId": span or at.isoformat() + model, "RequestModel": model, "CostUsd": cost_usd,
            "CostSource": source, "InputTokens": 100, "OutputTokens": 10, "CacheReadTokens": 5}


# Model calls on two days, in and around the hours the ranges below cut; and a span that is no model call.
CALLS = [
    call(DAY + timedelta(hours=9, minutes=5), "gpt-4o", 0.25),
    call(DAY + timedelta(hours=9, minutes=40), "gpt-4o-mini", 0.0125),
    call(DAY + timedelta(hours=10, minutes=30), "gpt-4o", 1.5),
    call(DAY + timedelta(hours=11, minutes=59, seconds=59), "llama-local", 0.0, source="unpriced"),
    call(DAY + timedelta(hours=23, minutes=30), "gpt-4o-mini", 0.5),
    call(DAY + timedelta(days=1, hours=0, minutes=10), "gpt-4o", 2.0),
    {**call(DAY + timedelta(hours=10), "", 9.0), "CostSource": ""},
]
# Stored after the others, in hours their parts already summed.
LATE = [call(DAY + timedelta(hours=9, minutes=30), "gpt-4o", 0.75, span="late-1"),
        call(DAY + timedelta(days=1, minutes=5), "gpt-4o-mini", 0.125, span="late-2")]


def store(storage: Storage, rows: list[dict[str, object]]) -> None:
    storage.insert_json_rows(TRACES, b"\n".join(orjson.dumps(row) for row in rows))


def expected(rows: list[dict[str, object]], start: datetime, end: datetime) -> tuple[dict, dict]:
    """Cost, calls and unpriced calls by day and by model, summed here from the spans."""
    days: dict[str, list[float]] = {}
    models: dict[str, list[float]] = {}
    for row in rows:
        at = datetime.strptime(str(row["Timestamp"]), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
        if not row["CostSource"] or not start <= at < end:
            continue
        for key, into in ((at.date().isoformat(), days), (row["RequestModel"], models)):
            sums = into.setdefault(str(key), [0.0, 0, 0])
            sums[0] += float(row["CostUsd"])  # type: ignore[arg-type]
            sums[1] += 1
            sums[2] += row["CostSource"] == "unpriced"
    return ({k: (round(c, 12), n, u) for k, (c, n, u) in days.items()},
            {k: (round(c, 12), n, u) for k, (c, n, u) in models.items()})


# Ranges a spend read may ask for, by what they cut.
RANGES = {
    "whole days": (DAY, DAY + timedelta(days=2)),
    "starting and ending inside an hour": (DAY + timedelta(hours=9, minutes=20), DAY + timedelta(days=1, minutes=7)),
    "inside one hour": (DAY + timedelta(hours=9, minutes=10), DAY + timedelta(hours=9, minutes=45)),
    "end excluded": (DAY + timedelta(hours=10), DAY + timedelta(hours=11, minutes=59, seconds=59)),
}


def test_spend_by_hour_adds_up_to_the_spans_late_ones_included(storage: Storage) -> None:
    # Spans stored before the projection existed are summed when the migration materializes it.
    migrate(storage, schema=tuple(m for m in SCHEMA if m.version < 10))
    store(storage, CALLS[:3])
    migrate(storage)
    store(storage, CALLS[3:])
    store(storage, LATE)
    for name, (start, end) in RANGES.items():
        statement = traces_spend_query(start, end, limit=10)
        rows = storage.query(statement.sql, statement.params).dicts()
        days, models = expected(CALLS + LATE, start, end)
        for dimension, sums in (("day", days), ("model", models)):
            assert {r["Key"]: (round(r["Cost"], 12), r["Calls"], r["Unpriced"])
                    for r in rows if r["Dimension"] == dimension} == sums, (name, dimension)


def test_whole_hours_are_read_from_the_projection(storage: Storage) -> None:
    migrate(storage)
    store(storage, CALLS)
    statement = traces_spend_query(DAY + timedelta(minutes=30), DAY + timedelta(days=1, minutes=30), limit=10)
    plan = "\n".join(row[0] for row in storage.query("EXPLAIN projections = 1 " + statement.sql,
                                                      statement.params).rows)
    assert "ReadFromMergeTree (spend_per_hour)" in plan
