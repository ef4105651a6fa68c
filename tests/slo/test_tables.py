"""The SLO engine's tables, as Grafana panels and users' SQL read them (DESIGN.md, Tables)."""

from __future__ import annotations

from ground.storage import AGENT_TASKS, SLO_ROLLUPS, SLO_STATUS, WATERMARKS, Storage

AGENT_TASKS_COLUMNS = [
    ("TaskId", "String"), ("TraceId", "String"), ("Timestamp", "DateTime64(9, 'UTC')"), ("Duration", "UInt64"),
    ("Success", "UInt8"), ("ErrorType", "LowCardinality(String)"), ("LlmCalls", "UInt32"), ("ToolCalls", "UInt32"),
    ("ToolErrors", "UInt32"), ("InputTokens", "UInt64"), ("OutputTokens", "UInt64"), ("CacheReadTokens", "UInt64"),
    ("CacheWriteTokens", "UInt64"), ("CostUsd", "Float64"), ("Degraded", "UInt8"),
    ("ServiceName", "LowCardinality(String)"), ("AgentName", "LowCardinality(String)"),
    ("TaskType", "LowCardinality(String)"), ("UserId", "String"), ("Tenant", "LowCardinality(String)"),
    ("Feature", "LowCardinality(String)"), ("Environment", "LowCardinality(String)"), ("Spans", "UInt32"), ("DerivedAt", "DateTime64(9, 'UTC')"),
    ("Deleted", "UInt8"), ("Models", "Array(LowCardinality(String))"),
    ("FallbackSources", "Array(LowCardinality(String))"),
]


def test_each_table_keeps_the_latest_row_per_identity_and_sorts_for_its_reads(store: Storage) -> None:
    rows = store.query(
        "SELECT name, engine, partition_key, sorting_key FROM system.tables "
        "WHERE database = currentDatabase() AND name IN ({a:String}, {b:String}, {c:String}, {d:String}) "
        "ORDER BY name",
        {"a": AGENT_TASKS, "b": SLO_ROLLUPS, "c": SLO_STATUS, "d": WATERMARKS},
    ).rows
    assert rows == [
        ("agent_tasks", "ReplacingMergeTree", "toYYYYMM(Timestamp)", "toStartOfHour(Timestamp), TraceId, TaskId"),
        ("agentslo_watermarks", "ReplacingMergeTree", "", "Name"),
        ("slo_rollups", "ReplacingMergeTree", "toYYYYMM(Minute)", "SloName, Fingerprint, Minute"),
        ("slo_status", "MergeTree", "toYYYYMM(Timestamp)", "SloName, Timestamp"),
    ]


def test_agent_tasks_has_one_column_per_task_fact(store: Storage) -> None:
    columns = store.query(
        "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String} "
        "ORDER BY position",
        {"t": AGENT_TASKS},
    ).rows
    assert columns == AGENT_TASKS_COLUMNS
