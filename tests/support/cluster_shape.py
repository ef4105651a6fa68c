"""Runs a cluster schema's statements on chDB as far as one process can, then the engine's queries on it.

    python -m tests.support.cluster_shape DATA_DIR CLUSTER < statements.json   (a JSON list of statements)

chDB has no Keeper and no distributed DDL queue, so each statement runs without
`ON CLUSTER`, and a Replicated*MergeTree as its plain engine; a KeeperMap table,
which needs Keeper, is left out. The Distributed tables are created, altered and
queried for real, over a CLUSTER of one shard whose replica is this engine (a
replica at the engine's own address and tcp_port is local: the Distributed
engine reads and writes its local table through the same plans it sends to a
remote shard). Then the late-data scenario of tests/slo/test_late_spans.py runs
on it, with the settings AgentSLO sends on a cluster (CLUSTER_SETTINGS), and its
SLI counts are printed as JSON, to compare with one server's. A fresh process,
because chDB starts one engine per process and reads its config file at that start.

Exits 0 when every statement ran; else prints the statement and ClickHouse's error and exits 1.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from chdb import session

from ground.storage import CLUSTER_SETTINGS, Storage
from ground.storage._backends import ChdbBackend, _run_on

_CONFIG = """<clickhouse>
  <tcp_port>9000</tcp_port>
  <remote_servers>
    <{cluster}>
      <shard><replica><host>127.0.0.1</host><port>9000</port></replica></shard>
    </{cluster}>
  </remote_servers>
</clickhouse>
"""
_ON_CLUSTER = re.compile(r" ON CLUSTER \w+")
# ReplicatedXMergeTree('<path>', '<replica>'[, arguments]) -> XMergeTree([arguments])
_REPLICATED = re.compile(r"ENGINE = Replicated(\w*MergeTree)\('[^']*', '[^']*'(?:, )?")


class _OnCluster(ChdbBackend):
    """The embedded engine, each connection with the settings of AgentSLO's queries on a cluster."""

    def _connect(self) -> Any:
        connection = super()._connect()
        for name, value in CLUSTER_SETTINGS.items():
            _run_on(connection, f"SET {name} = {value!r}", {}, "TabSeparated")
        return connection


def late_spans_counts(store: Storage) -> dict[str, list[float]]:
    """The late-data scenario's SLI counts on `store`: a first cycle, three hours of spans, a second cycle."""
    from slo.engine import catch_up, evaluate, run_cycle
    from tests.slo.test_late_spans import FRESH, HOUR, MINUTE, TASKS, TOOLS, history
    from tests.slo.traces import T0, insert

    now = T0 + 3 * HOUR + 10 * MINUTE
    run_cycle(store, [TASKS, TOOLS], now)
    insert(store, history(timedelta(0), 180)[0])
    later = now + MINUTE
    catch_up(store, [TASKS, TOOLS, *FRESH], later)
    return {status.slo.name: [status.counts.good_events, status.counts.total_events]
            for status in run_cycle(store, [TASKS, TOOLS, *FRESH], later)}


def main(data_dir: str, cluster: str) -> int:
    config = Path(data_dir) / "config.xml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(_CONFIG.format(cluster=cluster))
    engine = session.Session(f"{data_dir}?config-file={config}")
    statements = json.load(sys.stdin)
    databases = sorted({name for statement in statements
                        for name in re.findall(r"TABLE IF NOT EXISTS (\w+)\.", statement)})
    for database in databases:
        engine.query(f"CREATE DATABASE IF NOT EXISTS {database}")
    for statement in statements:
        if "ENGINE = KeeperMap(" in statement:
            continue
        runnable = _REPLICATED.sub(r"ENGINE = \1(", _ON_CLUSTER.sub("", statement))
        try:
            engine.query(runnable)
        except Exception as exc:  # chDB raises its own error classes, all RuntimeErrors or worse
            print(f"{runnable}\n-> {exc}")
            return 1
    [database] = databases
    store = Storage(_OnCluster(Path(data_dir), database), database=database, description="one-shard cluster",
                    cluster=cluster)
    print(json.dumps(late_spans_counts(store)))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
