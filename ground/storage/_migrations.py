"""Versioned schema migrations, run at start-up.

Each migration runs once per database and is recorded in the migrations table;
its statements are idempotent too (IF NOT EXISTS), so replicas starting
together, or a run interrupted half-way, converge on the same schema.
Migrations are append-only: a released one is never edited, a change is a new
version.
"""

from __future__ import annotations

from dataclasses import dataclass

from ground.storage._cluster import cluster_form, local_table
from ground.storage._storage import Storage
from ground.tables import (
    AGENT_TASKS,
    ALERT_DELIVERIES,
    ALERT_STATE,
    LEASES,
    MIGRATIONS,
    SLO_ROLLUPS,
    SLO_STATUS,
    TASK_SPEND_DAILY,
    TRACES,
    TRACES_SPEND_HOUR,
    WATERMARKS,
)


@dataclass(frozen=True)
class Migration:
    """One schema version: the statements that take the previous version to this one."""

    version: int
    description: str
    statements: tuple[str, ...]


# Columns, codecs and indexes of the OpenTelemetry Collector ClickHouse exporter's
# traces table (exporter/clickhouseexporter, internal/sqltemplates/traces_table.sql),
# so that Grafana's ClickHouse plugin trace view and users' SQL read it unchanged;
# then AgentSLO's typed LLM columns, filled at ingest (DESIGN.md, Tables).
# Plain MergeTree with the exporter's sort key: ReplacingMergeTree cost a third
# more CPU per inserted span (bench/ingest). Spans an exporter sends again are
# dropped at ingest (collector's RecentSpans); readers that must be exact over
# longer horizons deduplicate by (TraceId, SpanId). The deduplication window
# lets ingest retry an insert whose outcome it could not know with the same token.
# Group commits make parts of a few thousand spans; merging them 20 at a time
# rather than 5 rewrites each span fewer times (a 30 s bench/ingest run: +27%;
# 60 s runs: within noise, with a better worst 5 s window).
_TRACES_V1 = f"""
CREATE TABLE IF NOT EXISTS {TRACES} (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    GenAiOperation LowCardinality(String) CODEC(ZSTD(1)),
    GenAiProvider LowCardinality(String) CODEC(ZSTD(1)),
    RequestModel LowCardinality(String) CODEC(ZSTD(1)),
    ResponseModel LowCardinality(String) CODEC(ZSTD(1)),
    InputTokens UInt64 CODEC(T64, ZSTD(1)),
    OutputTokens UInt64 CODEC(T64, ZSTD(1)),
    CacheReadTokens UInt64 CODEC(T64, ZSTD(1)),
    CacheWriteTokens UInt64 CODEC(T64, ZSTD(1)),
    CostUsd Float64 CODEC(Gorilla, ZSTD(1)),
    CostSource LowCardinality(String) CODEC(ZSTD(1)),
    ErrorType LowCardinality(String) CODEC(ZSTD(1)),
    UserId String CODEC(ZSTD(1)),
    Tenant LowCardinality(String) CODEC(ZSTD(1)),
    AgentName LowCardinality(String) CODEC(ZSTD(1)),
    TaskType LowCardinality(String) CODEC(ZSTD(1)),
    Feature LowCardinality(String) CODEC(ZSTD(1)),
    FallbackSource LowCardinality(String) CODEC(ZSTD(1)),
    Degraded UInt8 CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000,
    min_parts_to_merge_at_once = 20
"""

# One row per finished agent task, derived from its spans by the SLO engine
# (slo/_sql.py says how). Re-deriving a task, when late spans arrived, inserts
# it again with a later DerivedAt; a span that stopped being a task (an outer
# agent span arrived after it) gets a row with Deleted = 1. ReplacingMergeTree
# keeps the latest row per sort key, so read it with FINAL: FINAL drops the
# superseded and the deleted rows, filters still prune by the sort key, and
# the merge is only over the parts a query selects. (argMax per key would need
# every reader to group by task; FINAL keeps users' SQL plain.)
# The sort key is the task's identity, (TraceId, TaskId), behind the hour its
# span started: the start never changes between derivations, and it lets
# time-range reads skip whole hours.
_AGENT_TASKS_V2 = f"""
CREATE TABLE IF NOT EXISTS {AGENT_TASKS} (
    TaskId String CODEC(ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    Timestamp DateTime64(9, 'UTC') CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    Success UInt8 CODEC(ZSTD(1)),
    ErrorType LowCardinality(String) CODEC(ZSTD(1)),
    LlmCalls UInt32 CODEC(ZSTD(1)),
    ToolCalls UInt32 CODEC(ZSTD(1)),
    ToolErrors UInt32 CODEC(ZSTD(1)),
    InputTokens UInt64 CODEC(T64, ZSTD(1)),
    OutputTokens UInt64 CODEC(T64, ZSTD(1)),
    CacheReadTokens UInt64 CODEC(T64, ZSTD(1)),
    CacheWriteTokens UInt64 CODEC(T64, ZSTD(1)),
    CostUsd Float64 CODEC(Gorilla, ZSTD(1)),
    Degraded UInt8 CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    AgentName LowCardinality(String) CODEC(ZSTD(1)),
    TaskType LowCardinality(String) CODEC(ZSTD(1)),
    UserId String CODEC(ZSTD(1)),
    Tenant LowCardinality(String) CODEC(ZSTD(1)),
    Feature LowCardinality(String) CODEC(ZSTD(1)),
    Spans UInt32 CODEC(ZSTD(1)),
    DerivedAt DateTime64(9, 'UTC') CODEC(ZSTD(1)),
    Deleted UInt8 CODEC(ZSTD(1))
) ENGINE = ReplacingMergeTree(DerivedAt, Deleted)
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (toStartOfHour(Timestamp), TraceId, TaskId)
"""

# Per-minute good and total events of each SLO, so that evaluating 30 days reads
# 43,200 rows per SLO whatever the span count. Fingerprint identifies the SLI's
# SQL: a changed SLO writes a new series rather than mixing two definitions.
# A recomputed minute replaces the earlier row (latest UpdatedAt); read with FINAL.
_SLO_ROLLUPS_V2 = f"""
CREATE TABLE IF NOT EXISTS {SLO_ROLLUPS} (
    SloName LowCardinality(String),
    Fingerprint LowCardinality(String),
    Minute DateTime('UTC') CODEC(Delta, ZSTD(1)),
    GoodEvents UInt64 CODEC(T64, ZSTD(1)),
    TotalEvents UInt64 CODEC(T64, ZSTD(1)),
    UpdatedAt DateTime64(9, 'UTC') CODEC(ZSTD(1))
) ENGINE = ReplacingMergeTree(UpdatedAt)
PARTITION BY toYYYYMM(Minute)
ORDER BY (SloName, Fingerprint, Minute)
"""

# One row per SLO per evaluation, for Grafana and the status API. Burn rates are
# a map from window (as written: 5m, 1h, 3d, and the SLO's own alert windows) to
# rate; a window without events has no entry. AlertState is filled by alerting.
_SLO_STATUS_V2 = f"""
CREATE TABLE IF NOT EXISTS {SLO_STATUS} (
    Timestamp DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    SloName LowCardinality(String),
    Kind LowCardinality(String),
    Events LowCardinality(String),
    Window LowCardinality(String),
    Budgeting LowCardinality(String),
    Objective Float64,
    Sli Nullable(Float64),
    GoodEvents Float64,
    TotalEvents Float64,
    GoodSlices Nullable(UInt32),
    BadSlices Nullable(UInt32),
    ErrorBudget Float64,
    ErrorBudgetRemaining Nullable(Float64),
    ErrorBudgetRemainingEvents Nullable(Float64),
    BurnRates Map(LowCardinality(String), Float64),
    TimeToExhaustionSeconds Nullable(Float64),
    EnoughData UInt8,
    AlertState LowCardinality(String)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (SloName, Timestamp)
"""

# How far the SLO engine has derived tasks and rolled up each SLO: [Since, Through).
# The latest row per name wins, by the server's clock at insert.
_WATERMARKS_V2 = f"""
CREATE TABLE IF NOT EXISTS {WATERMARKS} (
    Name String,
    Fingerprint String,
    Since DateTime64(9, 'UTC'),
    Through DateTime64(9, 'UTC'),
    UpdatedAt DateTime64(9, 'UTC') DEFAULT now64(9)
) ENGINE = ReplacingMergeTree(UpdatedAt)
ORDER BY Name
"""

# Each alert instance's state machine (alerts/_state.py), so that a restart
# neither sends a firing alert again nor forgets it. One row per instance,
# rewritten on every change; the latest (UpdatedAt, by the server's clock) wins:
# read with FINAL. Labels are the instance's identity, Fingerprint their hash.
_ALERT_STATE_V3 = f"""
CREATE TABLE IF NOT EXISTS {ALERT_STATE} (
    Fingerprint String,
    SloName LowCardinality(String),
    AlertName LowCardinality(String),
    Labels Map(LowCardinality(String), String),
    Annotations Map(LowCardinality(String), String),
    Phase LowCardinality(String),
    ActiveSince Nullable(DateTime64(3, 'UTC')),
    FiredAt Nullable(DateTime64(3, 'UTC')),
    ResolvedAt Nullable(DateTime64(3, 'UTC')),
    NotifiedAt Nullable(DateTime64(3, 'UTC')),
    UpdatedAt DateTime64(9, 'UTC') DEFAULT now64(9)
) ENGINE = ReplacingMergeTree(UpdatedAt)
ORDER BY Fingerprint
"""

# The outbox: one row per notification per receiver, written before any send,
# then rewritten after each attempt (Attempts, NextAttemptAt, LastError) until
# State is delivered or given_up. The latest row per Id wins: read with FINAL.
# Body is the exact JSON sent; the signature is made at each attempt, over its
# own timestamp. It doubles as the log of alert events (DESIGN.md, Tables).
_ALERT_DELIVERIES_V3 = f"""
CREATE TABLE IF NOT EXISTS {ALERT_DELIVERIES} (
    Id String,
    Receiver LowCardinality(String),
    Fingerprint String,
    SloName LowCardinality(String),
    AlertName LowCardinality(String),
    Status LowCardinality(String),
    Body String CODEC(ZSTD(1)),
    CreatedAt DateTime64(3, 'UTC'),
    State LowCardinality(String),
    Attempts UInt32,
    NextAttemptAt DateTime64(3, 'UTC'),
    LastAttemptAt Nullable(DateTime64(3, 'UTC')),
    LastError String,
    UpdatedAt DateTime64(9, 'UTC') DEFAULT now64(9)
) ENGINE = ReplacingMergeTree(UpdatedAt)
PARTITION BY toYYYYMM(CreatedAt)
ORDER BY Id
"""

# Spend-budget alerts tell of a crossed level once per period and do not send a
# resolved notification when the period (and so the spend) starts afresh; the
# state keeps that rule, for instances whose member has no spend in a new period.
_ALERT_STATE_SEND_RESOLVED_V4 = f"ALTER TABLE {ALERT_STATE} ADD COLUMN IF NOT EXISTS SendResolved UInt8 DEFAULT 1"

# The deployment environment as a column: filtering or listing environments
# through the ResourceAttributes map read every span's map (the Grafana
# environment variable took 0.95 s over 10M spans, bench/dashboards). Computed
# by ClickHouse at insert from the current semantic-conventions name, then the
# deprecated one; parts written before this migration compute it on read.
_TRACES_ENVIRONMENT_V5 = f"""
ALTER TABLE {TRACES} ADD COLUMN IF NOT EXISTS Environment LowCardinality(String)
    MATERIALIZED if(ResourceAttributes['deployment.environment.name'] != '',
                    ResourceAttributes['deployment.environment.name'],
                    ResourceAttributes['deployment.environment']) CODEC(ZSTD(1))
"""

# How raw-span parts merge. Group commits make a part of a few thousand spans every
# fraction of a second, and every merge rewrites its spans at about the CPU cost of
# inserting them. With the default merge_selector_base (5) each span was rewritten
# several times in its first minute; base 20 lets parts gather into wider merges,
# rewriting each about once, for more active parts per size level (bench/README.md,
# Columnar inserts and wider merges, has the figures).
_TRACES_MERGE_SELECTOR_V6 = f"ALTER TABLE {TRACES} MODIFY SETTING merge_selector_base = 20"
_TRACES_MIN_PARTS_V6 = f"ALTER TABLE {TRACES} RESET SETTING min_parts_to_merge_at_once"

# When each span was stored, by the server's clock, so that the SLO engine finds
# the spans that arrived after their minute was rolled up (an exporter's backlog
# replayed, a collector's retry queue draining) and counts them: slo/_engine.py.
# Parts stored before this migration get the epoch, written into them (MATERIALIZE),
# before the default becomes now64(3): a default computed at read time would make
# every old span look just stored. A minmax index lets the engine's scan for the
# spans stored since its last cycle skip the granules stored before.
# Derived tasks carry their DerivedAt already; they get the same index.
_TRACES_INSERTED_AT_V7 = (
    f"ALTER TABLE {TRACES} ADD COLUMN IF NOT EXISTS InsertedAt DateTime64(3, 'UTC') "
    f"DEFAULT toDateTime64(0, 3, 'UTC') CODEC(Delta, ZSTD(1))",
    f"ALTER TABLE {TRACES} MATERIALIZE COLUMN InsertedAt SETTINGS mutations_sync = 2",
    f"ALTER TABLE {TRACES} MODIFY COLUMN InsertedAt DEFAULT now64(3)",
    f"ALTER TABLE {TRACES} ADD INDEX IF NOT EXISTS idx_inserted_at InsertedAt TYPE minmax GRANULARITY 1",
    f"ALTER TABLE {TRACES} MATERIALIZE INDEX idx_inserted_at SETTINGS mutations_sync = 2",
    f"ALTER TABLE {AGENT_TASKS} ADD INDEX IF NOT EXISTS idx_derived_at DerivedAt TYPE minmax GRANULARITY 1",
    f"ALTER TABLE {AGENT_TASKS} MATERIALIZE INDEX idx_derived_at SETTINGS mutations_sync = 2",
)

# Where each evaluation's data ends (tasks lag spans by the grace period), and the
# events in each burn window: Grafana's alert rules gate on them as the service does
# (alerts' min_events).
_SLO_STATUS_WINDOWS_V7 = (
    f"ALTER TABLE {SLO_STATUS} ADD COLUMN IF NOT EXISTS DataThrough Nullable(DateTime('UTC'))",
    f"ALTER TABLE {SLO_STATUS} ADD COLUMN IF NOT EXISTS WindowEvents Map(LowCardinality(String), Float64)",
)

# A task's deployment environment, as its spans' Environment says, so that a task SLO can
# be limited to production. Tasks derived before this migration have none ('').
_AGENT_TASKS_ENVIRONMENT_V8 = (
    f"ALTER TABLE {AGENT_TASKS} ADD COLUMN IF NOT EXISTS Environment LowCardinality(String) CODEC(ZSTD(1)) "
    "AFTER Feature",
)

# The evaluator lease (agentslo/election.py): one row per term and claimer, written again by
# each renewal; read by term and claimer (min ClaimedAt, max RenewedAt), which needs no FINAL
# and reads the cluster layout's KeeperMap form alike. A term's claim is kept once whoever
# inserts it: every claimer of a term sends the same deduplication token, and the window
# keeps the tokens of the last 1,000 inserts (claims and renewals, three per lease time), far
# longer than a claimer takes between reading the lease and claiming. Key ('<name>/<term>')
# is the KeeperMap key on a cluster, kept on both layouts so that the statements are the same.
_LEASES_V9 = f"""
CREATE TABLE IF NOT EXISTS {LEASES} (
    Key String,
    Name LowCardinality(String),
    Term UInt64,
    Holder String,
    Nonce String,
    ClaimedAt DateTime64(3, 'UTC') DEFAULT now64(3),
    RenewedAt DateTime64(3, 'UTC') DEFAULT now64(3),
    Released UInt8 DEFAULT 0
) ENGINE = ReplacingMergeTree(RenewedAt)
ORDER BY (Name, Term, Nonce)
SETTINGS non_replicated_deduplication_window = 1000
"""

# Spend per UTC hour, requested model and cost source, kept by ClickHouse inside otel_traces as
# an aggregate projection: every part, as it is written or merged, carries its spans' hourly sums,
# so the sums are those of the spans stored, late spans included, and a part dropped by the TTL
# takes its sums with it. A month of spend reads a few thousand sums instead of millions of model
# calls (bench/console); a query reads them when it filters and groups by the projection's key
# (ground.tables.TRACES_SPEND_HOUR), and reads the spans of parts not materialized yet.
_TRACES_SPEND_PROJECTION_V10 = (
    f"""ALTER TABLE {TRACES} ADD PROJECTION IF NOT EXISTS spend_per_hour (
    SELECT {TRACES_SPEND_HOUR}, RequestModel, CostSource, sum(CostUsd), count(), sum(InputTokens),
           sum(OutputTokens), sum(CacheReadTokens), sum(CacheWriteTokens)
    GROUP BY {TRACES_SPEND_HOUR}, RequestModel, CostSource)""",
    f"ALTER TABLE {TRACES} MATERIALIZE PROJECTION spend_per_hour SETTINGS mutations_sync = 2",
)

# Each task's models and fallback sources, those of its own model calls (slo/_sql.py): a trace can
# hold several tasks, and the task list shows them without reading the spans again. Tasks derived
# before this migration have none until they are derived again.
_AGENT_TASKS_MODELS_V11 = (
    f"ALTER TABLE {AGENT_TASKS} ADD COLUMN IF NOT EXISTS Models Array(LowCardinality(String)) CODEC(ZSTD(1))",
    f"ALTER TABLE {AGENT_TASKS} ADD COLUMN IF NOT EXISTS FallbackSources Array(LowCardinality(String)) "
    "CODEC(ZSTD(1))",
)

# Each UTC day's task spend per dimension and key (ground.tables.TASK_SPEND_DAILY), summed by the SLO
# engine from agent_tasks FINAL whenever tasks of the day were derived after its last sum. A day is
# summed whole, in one INSERT whose rows share ComputedAt, with a row of Dimension '' marking the sum
# even when the day has no task: readers take each day's rows of its latest ComputedAt, so a key that
# a later sum no longer has drops out; older rows of a key are replaced on merge.
_TASK_SPEND_DAILY_V12 = f"""
CREATE TABLE IF NOT EXISTS {TASK_SPEND_DAILY} (
    Day Date,
    Dimension LowCardinality(String),
    Key String,
    CostUsd Float64,
    Tasks UInt64,
    InputTokens UInt64,
    OutputTokens UInt64,
    CacheReadTokens UInt64,
    ComputedAt DateTime64(9, 'UTC')
) ENGINE = ReplacingMergeTree(ComputedAt)
PARTITION BY toYYYYMM(Day)
ORDER BY (Day, Dimension, Key)
"""

MIGRATIONS_TABLE_DDL = f"""
CREATE TABLE IF NOT EXISTS {MIGRATIONS} (
    version UInt32,
    description String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree ORDER BY version
"""

SCHEMA: tuple[Migration, ...] = (
    Migration(1, "otel_traces: Collector exporter columns plus typed LLM columns", (_TRACES_V1,)),
    Migration(2, "agent_tasks, slo_rollups, slo_status and the SLO engine's watermarks",
              (_AGENT_TASKS_V2, _SLO_ROLLUPS_V2, _SLO_STATUS_V2, _WATERMARKS_V2)),
    Migration(3, "alert_state and alert_deliveries: alert state machines and the webhook outbox",
              (_ALERT_STATE_V3, _ALERT_DELIVERIES_V3)),
    Migration(4, "alert_state.SendResolved: whether an instance's rule notifies when it resolves",
              (_ALERT_STATE_SEND_RESOLVED_V4,)),
    Migration(5, "otel_traces.Environment: deployment.environment(.name) as a column", (_TRACES_ENVIRONMENT_V5,)),
    Migration(6, "otel_traces merges wider (merge_selector_base = 20): fewer rewrites of each span",
              (_TRACES_MERGE_SELECTOR_V6, _TRACES_MIN_PARTS_V6)),
    Migration(7, "otel_traces.InsertedAt, slo_status.DataThrough and WindowEvents: late spans, Grafana's gates",
              _TRACES_INSERTED_AT_V7 + _SLO_STATUS_WINDOWS_V7),
    Migration(8, "agent_tasks.Environment: task SLOs can filter on the deployment environment",
              _AGENT_TASKS_ENVIRONMENT_V8),
    Migration(9, "agentslo_leases: the evaluator lease, so that one replica evaluates at a time", (_LEASES_V9,)),
    Migration(10, "otel_traces projection spend_per_hour: model calls' cost per hour, model and cost source",
              _TRACES_SPEND_PROJECTION_V10),
    Migration(11, "agent_tasks.Models and FallbackSources: each task's own models, not its trace's",
              _AGENT_TASKS_MODELS_V11),
    Migration(12, "task_spend_daily: task spend per UTC day and dimension, summed as tasks are derived",
              (_TASK_SPEND_DAILY_V12,)),
)


def statements_for(migration_statements: tuple[str, ...], *, cluster: str | None, database: str) -> tuple[str, ...]:
    """What to run for these statements: themselves on one server, their cluster form on `cluster`."""
    if cluster is None:
        return migration_statements
    return tuple(form for statement in migration_statements
                 for form in cluster_form(statement, cluster=cluster, database=database))


def schema_on_cluster(cluster: str, database: str) -> list[tuple[str, tuple[str, ...]]]:
    """Every statement the migrations run on `cluster`, in order: the migrations table's, then each
    migration's, headed by its version and description."""
    steps = [("migrations table", statements_for((MIGRATIONS_TABLE_DDL,), cluster=cluster, database=database))]
    steps += [(f"{m.version}: {m.description}", statements_for(m.statements, cluster=cluster, database=database))
              for m in sorted(SCHEMA, key=lambda m: m.version)]
    return steps


def applied_versions(storage: Storage) -> set[int]:
    """Schema versions already applied to the storage's database."""
    for statement in statements_for((MIGRATIONS_TABLE_DDL,), cluster=storage.cluster, database=storage.database):
        storage.command(statement)
    return {row[0] for row in storage.query(f"SELECT DISTINCT version FROM {MIGRATIONS}").rows}


def migrate(storage: Storage, *, schema: tuple[Migration, ...] = SCHEMA) -> list[int]:
    """Apply the migrations not yet applied, in order, in the layout of the storage (one server or
    its cluster); return the versions applied now."""
    done = applied_versions(storage)
    applied: list[int] = []
    for migration in sorted(schema, key=lambda m: m.version):
        if migration.version in done:
            continue
        for statement in statements_for(migration.statements, cluster=storage.cluster, database=storage.database):
            storage.command(statement)
        storage.command(
            f"INSERT INTO {MIGRATIONS} (version, description) VALUES ({{version:UInt32}}, {{description:String}})",
            {"version": migration.version, "description": migration.description},
        )
        applied.append(migration.version)
    return applied


def apply_retention(storage: Storage, *, traces_days: int) -> bool:
    """Set the raw-span TTL to `traces_days` unless already so; return whether it changed.

    Day partitions and ttl_only_drop_parts make expiry drop whole parts rather
    than rewrite them. On a cluster, the TTL is the local tables' on every shard.
    """
    expression = f"toDateTime(Timestamp) + toIntervalDay({int(traces_days)})"
    table = TRACES if storage.cluster is None else local_table(TRACES)
    engine = storage.query(
        "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {name:String}",
        {"name": table},
    ).scalar()
    if f"TTL {expression} " in engine + " ":
        return False
    for statement in statements_for((f"ALTER TABLE {TRACES} MODIFY TTL {expression}",), cluster=storage.cluster,
                                    database=storage.database):
        storage.command(statement)
    return True
