"""The schema on a ClickHouse cluster (`storage.cluster`): its statements, golden, parse with the real engine.

No cluster runs here. Every statement of the cluster form is checked against a golden file
(AGENTSLO_REGENERATE=1 rewrites it), parsed by chDB's parser (formatQuery), and run on chDB in a
process of its own as far as one engine can (tests/support/cluster_shape.py: the Distributed tables
for real over a one-shard cluster, without ON CLUSTER, Replicated engines as their plain ones), where
the SLO engine's queries must give the SLIs they give on one server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ground.storage import (
    CLUSTER_SETTINGS,
    Storage,
    StorageSpec,
    cluster_form,
    migrate,
    open_storage,
    schema_on_cluster,
)
from ground.tables import AGENT_TASKS, LEASES, SLO_ROLLUPS, TRACES
from tests.support.cluster_shape import late_spans_counts
from tests.support.golden import check_golden

GOLDEN = Path(__file__).parent / "golden" / "cluster_schema.json"
ROOT = Path(__file__).resolve().parents[2]
STEPS = schema_on_cluster("agentslo", "agentslo")
STATEMENTS = [statement for _, statements in STEPS for statement in statements]


def test_the_cluster_schema_is_the_golden_one() -> None:
    check_golden(GOLDEN, [{"step": step, "statements": list(statements)} for step, statements in STEPS])


@pytest.fixture(scope="module")
def parser(chdb_dir: Path) -> Iterator[Storage]:
    database = f"parse_{uuid.uuid4().hex[:10]}"
    storage = open_storage(StorageSpec(data_dir=chdb_dir, database=database))
    yield storage
    storage.command(f"DROP DATABASE IF EXISTS {database}")
    storage.close()


@pytest.mark.parametrize("statement", STATEMENTS, ids=[f"{i}: {s.split('(')[0][:70]}" for i, s in enumerate(STATEMENTS)])
def test_every_cluster_statement_parses_with_the_engines_parser(parser: Storage, statement: str) -> None:
    formatted = parser.query("SELECT formatQuery({statement:String})", {"statement": statement}).scalar()
    assert " ON CLUSTER agentslo" in formatted


def test_the_settings_of_queries_on_a_cluster_are_the_engines(parser: Storage) -> None:
    settings = ", ".join(f"{name} = {value!r}" for name, value in CLUSTER_SETTINGS.items())
    names = ", ".join(f"toString(getSetting('{name}'))" for name in CLUSTER_SETTINGS)
    assert parser.query(f"SELECT {names} SETTINGS {settings}").rows == [("true", "local", "in_order")]


def test_on_the_cluster_layout_the_engines_queries_give_the_slis_they_give_on_one_server(
        tmp_path: Path, parser: Storage) -> None:
    run = subprocess.run([sys.executable, "-m", "tests.support.cluster_shape", str(tmp_path / "chdb"), "agentslo"],
                         input=json.dumps(STATEMENTS), capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    migrate(parser)
    one_server = late_spans_counts(parser)
    assert json.loads(run.stdout) == one_server
    assert one_server == {"tasks": [324, 360], "tools": [925, 1080], "tasks-fresh": [324, 360],
                          "tools-fresh": [925, 1080]}


@pytest.mark.parametrize(("statement", "forms"), [
    pytest.param(
        f"CREATE TABLE IF NOT EXISTS {AGENT_TASKS} (\n    TraceId String\n) ENGINE = ReplacingMergeTree(DerivedAt)\n"
        "ORDER BY TraceId\n",
        [f"CREATE TABLE IF NOT EXISTS db.{AGENT_TASKS}_local ON CLUSTER c (\n    TraceId String\n) ENGINE = "
         f"ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/db/{AGENT_TASKS}_local', '{{replica}}', DerivedAt)"
         "\nORDER BY TraceId",
         f"CREATE TABLE IF NOT EXISTS db.{AGENT_TASKS} ON CLUSTER c AS db.{AGENT_TASKS}_local "
         f"ENGINE = Distributed(c, db, {AGENT_TASKS}_local, cityHash64(TraceId))"],
        id="a contract table: replicated on each shard, Distributed under its own name"),
    pytest.param(
        f"CREATE TABLE IF NOT EXISTS {TRACES} (\n    TraceId String,\n    SpanId String\n) ENGINE = MergeTree\n"
        "ORDER BY (ServiceName, SpanName)\nSETTINGS index_granularity = 8192\n",
        [f"CREATE TABLE IF NOT EXISTS db.{TRACES}_local ON CLUSTER c (\n    TraceId String,\n    SpanId String\n) "
         f"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/db/{TRACES}_local', '{{replica}}')\n"
         "ORDER BY (ServiceName, SpanName, TraceId, SpanId)\nSETTINGS index_granularity = 8192,\n"
         "    deduplicate_merge_projection_mode = 'rebuild'",
         f"CREATE TABLE IF NOT EXISTS db.{TRACES} ON CLUSTER c AS db.{TRACES}_local "
         f"ENGINE = Distributed(c, db, {TRACES}_local, cityHash64(TraceId))"],
        id="otel_traces keeps one row per span when its parts merge, its projections rebuilt by them"),
    pytest.param(
        f"ALTER TABLE {TRACES} ADD PROJECTION IF NOT EXISTS p (SELECT RequestModel, sum(CostUsd) GROUP BY RequestModel)",
        [f"ALTER TABLE db.{TRACES}_local ON CLUSTER c ADD PROJECTION IF NOT EXISTS p "
         "(SELECT RequestModel, sum(CostUsd) GROUP BY RequestModel)"],
        id="a projection: on the local tables only"),
    pytest.param(
        f"CREATE TABLE IF NOT EXISTS {SLO_ROLLUPS} (\n    SloName String\n) ENGINE = MergeTree ORDER BY SloName\n",
        [f"CREATE TABLE IF NOT EXISTS db.{SLO_ROLLUPS} ON CLUSTER c (\n    SloName String\n) "
         f"ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/db/{SLO_ROLLUPS}', '{{replica}}')\nORDER BY SloName"],
        id="engine state: one table with a replica on every node"),
    pytest.param(
        f"CREATE TABLE IF NOT EXISTS {LEASES} (\n    Key String\n) ENGINE = ReplacingMergeTree(RenewedAt)\n"
        "ORDER BY Key\nSETTINGS non_replicated_deduplication_window = 1000\n",
        [f"CREATE TABLE IF NOT EXISTS db.{LEASES} ON CLUSTER c (\n    Key String\n) "
         f"ENGINE = KeeperMap('/agentslo/db/{LEASES}') PRIMARY KEY Key"],
        id="the evaluator lease: in Keeper"),
    pytest.param(
        f"ALTER TABLE {TRACES} ADD COLUMN IF NOT EXISTS X UInt8",
        [f"ALTER TABLE db.{TRACES}_local ON CLUSTER c ADD COLUMN IF NOT EXISTS X UInt8",
         f"ALTER TABLE db.{TRACES} ON CLUSTER c ADD COLUMN IF NOT EXISTS X UInt8"],
        id="a new column of a contract table: its local tables and its Distributed table"),
    pytest.param(
        f"ALTER TABLE {TRACES} MODIFY SETTING merge_selector_base = 20",
        [f"ALTER TABLE db.{TRACES}_local ON CLUSTER c MODIFY SETTING merge_selector_base = 20"],
        id="a merge setting: the local tables"),
    pytest.param(
        f"ALTER TABLE {SLO_ROLLUPS} ADD INDEX i SloName TYPE minmax",
        [f"ALTER TABLE db.{SLO_ROLLUPS} ON CLUSTER c ADD INDEX i SloName TYPE minmax"],
        id="engine state: its one table"),
])
def test_each_statement_becomes_its_cluster_form(statement: str, forms: list[str]) -> None:
    assert list(cluster_form(statement, cluster="c", database="db")) == forms


@pytest.mark.parametrize(("statement", "error"), [
    pytest.param(f"ALTER TABLE {TRACES} DELETE WHERE 1", f"no cluster form for ALTER TABLE {TRACES} DELETE WHERE",
                 id="an ALTER this module does not know"),
    pytest.param(f"ALTER TABLE {LEASES} ADD COLUMN X UInt8",
                 f"no cluster form for an ALTER of {LEASES}, a KeeperMap table on a cluster", id="an ALTER of KeeperMap"),
    pytest.param("DROP TABLE x", "no cluster form for: DROP TABLE x", id="another kind of statement"),
])
def test_a_statement_without_a_cluster_form_is_refused(statement: str, error: str) -> None:
    with pytest.raises(ValueError) as refused:
        cluster_form(statement, cluster="c", database="db")
    assert str(refused.value) == error
