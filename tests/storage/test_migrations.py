"""Migrations create the contract tables, once, the same on both backends."""

from __future__ import annotations

import orjson
import pytest

from ground.storage import MIGRATIONS, SCHEMA, TRACES, Migration, Storage, apply_retention, migrate

# The OpenTelemetry Collector ClickHouse exporter's traces columns, which Grafana's
# ClickHouse plugin and users' SQL read (DESIGN.md, Tables).
COLLECTOR_COLUMNS = [
    ("Timestamp", "DateTime64(9)"),
    ("TraceId", "String"),
    ("SpanId", "String"),
    ("ParentSpanId", "String"),
    ("TraceState", "String"),
    ("SpanName", "LowCardinality(String)"),
    ("SpanKind", "LowCardinality(String)"),
    ("ServiceName", "LowCardinality(String)"),
    ("ResourceAttributes", "Map(LowCardinality(String), String)"),
    ("ScopeName", "String"),
    ("ScopeVersion", "String"),
    ("SpanAttributes", "Map(LowCardinality(String), String)"),
    ("Duration", "UInt64"),
    ("StatusCode", "LowCardinality(String)"),
    ("StatusMessage", "String"),
    ("Events.Timestamp", "Array(DateTime64(9))"),
    ("Events.Name", "Array(LowCardinality(String))"),
    ("Events.Attributes", "Array(Map(LowCardinality(String), String))"),
    ("Links.TraceId", "Array(String)"),
    ("Links.SpanId", "Array(String)"),
    ("Links.TraceState", "Array(String)"),
    ("Links.Attributes", "Array(Map(LowCardinality(String), String))"),
]

# AgentSLO's typed LLM columns (DESIGN.md, Typed LLM columns on otel_traces).
LLM_COLUMNS = [
    ("GenAiOperation", "LowCardinality(String)"),
    ("GenAiProvider", "LowCardinality(String)"),
    ("RequestModel", "LowCardinality(String)"),
    ("ResponseModel", "LowCardinality(String)"),
    ("InputTokens", "UInt64"),
    ("OutputTokens", "UInt64"),
    ("CacheReadTokens", "UInt64"),
    ("CacheWriteTokens", "UInt64"),
    ("CostUsd", "Float64"),
    ("CostSource", "LowCardinality(String)"),
    ("ErrorType", "LowCardinality(String)"),
    ("UserId", "String"),
    ("Tenant", "LowCardinality(String)"),
    ("AgentName", "LowCardinality(String)"),
    ("TaskType", "LowCardinality(String)"),
    ("Feature", "LowCardinality(String)"),
    ("FallbackSource", "LowCardinality(String)"),
    ("Degraded", "UInt8"),
    ("Environment", "LowCardinality(String)"),
    ("InsertedAt", "DateTime64(3, 'UTC')"),
]


def schema_snapshot(storage: Storage) -> dict[str, str]:
    rows = storage.query(
        "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase() ORDER BY name"
    ).rows
    return dict(rows)


def test_first_run_applies_every_migration_in_order(storage: Storage) -> None:
    assert migrate(storage) == [m.version for m in SCHEMA]
    recorded = storage.query(f"SELECT version, description FROM {MIGRATIONS} ORDER BY version").rows
    assert recorded == [(m.version, m.description) for m in SCHEMA]


def test_running_migrations_twice_leaves_the_schema_unchanged(storage: Storage) -> None:
    migrate(storage)
    before = schema_snapshot(storage)
    assert migrate(storage) == []
    assert schema_snapshot(storage) == before
    assert storage.query(f"SELECT count() FROM {MIGRATIONS}").scalar() == len(SCHEMA)


def test_traces_table_has_the_collector_columns_then_the_llm_columns(storage: Storage) -> None:
    migrate(storage)
    columns = storage.query(
        "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String} "
        "ORDER BY position",
        {"t": TRACES},
    ).rows
    assert columns == COLLECTOR_COLUMNS + LLM_COLUMNS


def test_the_environment_column_is_computed_from_either_semantic_conventions_name(storage: Storage) -> None:
    migrate(storage)
    rows = [{"TraceId": str(i), "SpanId": str(i), "ResourceAttributes": attributes} for i, attributes in enumerate([
        {"deployment.environment.name": "prod", "deployment.environment": "old"},   # the current name wins
        {"deployment.environment": "staging"},
        {"service.name": "none-set"},
    ])]
    storage.insert_json_rows(TRACES, b"\n".join(orjson.dumps(row) for row in rows))
    assert storage.query(f"SELECT Environment FROM {TRACES} ORDER BY TraceId").rows == [("prod",), ("staging",), ("",)]


def test_spans_stored_before_inserted_at_existed_read_as_stored_at_the_epoch(storage: Storage) -> None:
    # A default computed at read time would make every old span look just stored, every cycle.
    migrate(storage, schema=tuple(m for m in SCHEMA if m.version < 7))
    storage.insert_json_rows(TRACES, orjson.dumps({"TraceId": "old", "SpanId": "1"}))
    migrate(storage)
    storage.insert_json_rows(TRACES, orjson.dumps({"TraceId": "new", "SpanId": "2"}))
    stored = dict(storage.query(f"SELECT TraceId, toYear(InsertedAt) FROM {TRACES}").rows)
    assert stored["old"] == 1970
    assert stored["new"] >= 2026


def test_traces_are_partitioned_by_day_and_sorted_as_the_exporter_does(storage: Storage) -> None:
    migrate(storage)
    engine = storage.query(
        "SELECT engine, partition_key, sorting_key FROM system.tables "
        "WHERE database = currentDatabase() AND name = {t:String}",
        {"t": TRACES},
    ).rows
    assert engine == [("MergeTree", "toDate(Timestamp)", "ServiceName, SpanName, toDateTime(Timestamp)")]


def test_raw_span_parts_merge_wide(storage: Storage) -> None:
    migrate(storage)
    engine = ttl_of(storage)
    assert "merge_selector_base = 20" in engine
    assert "min_parts_to_merge_at_once" not in engine


def test_a_later_migration_applies_only_itself(storage: Storage) -> None:
    migrate(storage)
    later = SCHEMA + (Migration(999, "test table", ("CREATE TABLE IF NOT EXISTS later (x UInt8) "
                                                     "ENGINE = MergeTree ORDER BY x",)),)
    assert migrate(storage, schema=later) == [999]
    assert migrate(storage, schema=later) == []
    assert "later" in schema_snapshot(storage)


def ttl_of(storage: Storage) -> str:
    return storage.query(
        "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {t:String}",
        {"t": TRACES},
    ).scalar()


@pytest.mark.parametrize("days", [1, 30, 400])
def test_retention_sets_the_ttl_once(storage: Storage, days: int) -> None:
    migrate(storage)
    assert apply_retention(storage, traces_days=days) is True
    assert f"TTL toDateTime(Timestamp) + toIntervalDay({days}) " in ttl_of(storage)
    assert apply_retention(storage, traces_days=days) is False


def test_changing_retention_replaces_the_ttl(storage: Storage) -> None:
    migrate(storage)
    apply_retention(storage, traces_days=30)
    assert apply_retention(storage, traces_days=7) is True
    engine = ttl_of(storage)
    assert "toIntervalDay(7)" in engine and "toIntervalDay(30)" not in engine
