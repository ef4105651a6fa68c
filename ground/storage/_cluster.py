"""The schema on a ClickHouse cluster (`storage.cluster`): each migration's statements in their cluster form.

Migrations are written once, for a single server; on a cluster each statement
becomes its cluster form here, by the table it names (`LAYOUT`):

- a sharded table (the contract tables, which grow with the spans) is a
  Replicated*MergeTree `<name>_local` on every shard, its replicas kept by Keeper,
  under a Distributed table with the contract's name, so that every query reads
  and writes `otel_traces`, `agent_tasks` and `slo_status` as on one server;
- a replicated table (the SLO engine's and alerting's state, small) is one
  Replicated*MergeTree with a replica on every node, read and written on the
  node AgentSLO talks to, so that the evaluator reads back what it wrote;
- the evaluator lease is a KeeperMap table in Keeper, the same for every node:
  a claim is an insert in keeper_map_strict_mode, which only one claimer of a
  term wins, and reads are Keeper's, without replication lag.

Every statement runs `ON CLUSTER`, on every node. An ALTER of a sharded table
changes its local tables, and its Distributed table too when it changes columns.
The node macros `{shard}` and `{replica}` name each node's shard and replica
(unique over the cluster); the Replicated tables keep their parts under
`/clickhouse/tables/`, the lease under the KeeperMap prefix.

    cluster_form(statement, cluster="agentslo", database="agentslo")   # the statements to run
"""

from __future__ import annotations

import re

from ground.tables import AGENT_TASKS, LEASES, SLO_STATUS, TRACES

# Sharded tables and the key that sends a row to its shard. A trace's spans and tasks share a
# shard (cityHash64(TraceId)), so that a task is derived from one shard's spans, `IN (SELECT
# TraceId ...)` and FINAL stay on each shard (distributed_product_mode = 'local'), and a span
# sent twice lands twice on the same shard, where merges keep one (`_UNIQUE_BY`).
SHARDED: dict[str, str] = {
    TRACES: "cityHash64(TraceId)",
    AGENT_TASKS: "cityHash64(TraceId)",
    SLO_STATUS: "cityHash64(SloName)",
}
# Tables in Keeper, by their primary key.
IN_KEEPER: dict[str, str] = {LEASES: "Key"}
# Sharded tables that keep one row per key on a cluster: otel_traces, whose spans an exporter
# may send again through another replica of AgentSLO (the first stored them and died before
# answering), which no replica's memory of recent spans catches. ReplacingMergeTree keeps one
# row of those that share the sort key, the exporter's key followed by these columns, when
# their parts merge; the SLO engine counts each (TraceId, SpanId) once before that.
_UNIQUE_BY: dict[str, str] = {TRACES: "TraceId, SpanId"}
_PROJECTIONS_ON_REPLACING = "deduplicate_merge_projection_mode = 'rebuild'"

# ALTER operations that change columns: a Distributed table mirrors its local table's columns
# (and their defaults, which it computes for what an insert leaves out).
_COLUMN_OPERATIONS = ("ADD COLUMN", "MODIFY COLUMN", "DROP COLUMN", "RENAME COLUMN", "COMMENT COLUMN")
# ALTER operations on the stored parts only: indexes, mutations, merge settings, TTL.
_PART_OPERATIONS = ("ADD INDEX", "MATERIALIZE COLUMN", "MATERIALIZE INDEX", "MODIFY SETTING", "RESET SETTING",
                    "MODIFY TTL", "ADD PROJECTION", "MATERIALIZE PROJECTION")

_CREATE = re.compile(r"\s*CREATE TABLE IF NOT EXISTS (?P<name>\w+) \((?P<columns>.*)\n\) ENGINE = "
                     r"(?P<engine>\w+)(?:\((?P<arguments>[^)]*)\))?\s+(?P<rest>.*)", re.S)
_ALTER = re.compile(r"\s*ALTER TABLE (?P<name>\w+) (?P<operation>.*)", re.S)
_ORDER_BY = re.compile(r"^ORDER BY \((?P<key>.*)\)$", re.M)


def local_table(table: str) -> str:
    """The name of a sharded table's tables on each shard; other tables have one name."""
    return f"{table}_local" if table in SHARDED else table


def cluster_form(statement: str, *, cluster: str, database: str) -> tuple[str, ...]:
    """The statements that do on `cluster` what `statement` does on a single server.

    Raises ValueError for a statement of a kind this module has no cluster form for:
    a new kind of migration statement must be given one here.
    """
    if (create := _CREATE.fullmatch(statement)) is not None:
        return _create(create, cluster, database)
    if (alter := _ALTER.fullmatch(statement)) is not None:
        return _alter(alter["name"], alter["operation"].strip(), cluster, database)
    raise ValueError(f"no cluster form for: {statement.strip().splitlines()[0]}")


def _create(match: re.Match[str], cluster: str, database: str) -> tuple[str, ...]:
    name, columns, engine, rest = match["name"], match["columns"], match["engine"], match["rest"].strip()
    arguments = match["arguments"] or ""
    on = f"{database}.{{table}} ON CLUSTER {cluster}"
    if name in IN_KEEPER:
        table = on.format(table=name)
        return (f"CREATE TABLE IF NOT EXISTS {table} ({columns}\n) "
                f"ENGINE = KeeperMap('/agentslo/{database}/{name}') PRIMARY KEY {IN_KEEPER[name]}",)
    if name in _UNIQUE_BY:
        engine = "ReplacingMergeTree"
        rest = _ORDER_BY.sub(lambda key: f"ORDER BY ({key['key']}, {_UNIQUE_BY[name]})", rest)
        # Its projections (sums per hour) are rebuilt when a merge drops a duplicate, so they sum
        # what the table keeps; ReplacingMergeTree refuses projections otherwise.
        rest += (",\n    " if "\nSETTINGS " in f"\n{rest}" else "\nSETTINGS ") + _PROJECTIONS_ON_REPLACING
    local = local_table(name)
    shard = "{shard}" if name in SHARDED else "all"
    replicated = ", ".join(filter(None, (f"'/clickhouse/tables/{shard}/{database}/{local}'", "'{replica}'", arguments)))
    statements = [f"CREATE TABLE IF NOT EXISTS {on.format(table=local)} ({columns}\n) "
                  f"ENGINE = Replicated{engine}({replicated})\n{rest}"]
    if name in SHARDED:
        statements.append(f"CREATE TABLE IF NOT EXISTS {on.format(table=name)} AS {database}.{local} "
                          f"ENGINE = Distributed({cluster}, {database}, {local}, {SHARDED[name]})")
    return tuple(statements)


def _alter(name: str, operation: str, cluster: str, database: str) -> tuple[str, ...]:
    if name in IN_KEEPER:
        raise ValueError(f"no cluster form for an ALTER of {name}, a KeeperMap table on a cluster")
    if operation.startswith(_COLUMN_OPERATIONS):
        tables = (local_table(name), name) if name in SHARDED else (name,)
    elif operation.startswith(_PART_OPERATIONS):
        tables = (local_table(name),)
    else:
        raise ValueError(f"no cluster form for ALTER TABLE {name} {' '.join(operation.split()[:2])}")
    return tuple(f"ALTER TABLE {database}.{table} ON CLUSTER {cluster} {operation}" for table in tables)
