"""Runs a cluster schema's statements on chDB as far as one process can: a check of their shape.

    python -m tests.support.cluster_shape DATA_DIR CLUSTER < statements.json   (a JSON list of statements)

chDB has no Keeper and no distributed DDL queue, so each statement runs without
`ON CLUSTER`, and a Replicated*MergeTree as its plain engine; a KeeperMap table,
which needs Keeper, is left out. The Distributed tables are created and altered
for real, over a two-shard CLUSTER on loopback that the engine's config names
(nothing connects to it: creating and altering a Distributed table reads only
its local table and the cluster's definition). A fresh process, because chDB
starts one engine per process and reads its config file at that start.

Exits 0 when every statement ran; else prints the statement and ClickHouse's error and exits 1.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from chdb import session

_CONFIG = """<clickhouse>
  <remote_servers>
    <{cluster}>
      <shard><replica><host>127.0.0.1</host><port>9000</port></replica></shard>
      <shard><replica><host>127.0.0.2</host><port>9000</port></replica></shard>
    </{cluster}>
  </remote_servers>
</clickhouse>
"""
_ON_CLUSTER = re.compile(r" ON CLUSTER \w+")
# ReplicatedXMergeTree('<path>', '<replica>'[, arguments]) -> XMergeTree([arguments])
_REPLICATED = re.compile(r"ENGINE = Replicated(\w*MergeTree)\('[^']*', '[^']*'(?:, )?")


def main(data_dir: str, cluster: str) -> int:
    config = Path(data_dir) / "config.xml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(_CONFIG.format(cluster=cluster))
    engine = session.Session(f"{data_dir}?config-file={config}")
    statements = json.load(sys.stdin)
    databases = {match for statement in statements for match in re.findall(r"TABLE IF NOT EXISTS (\w+)\.", statement)}
    for database in sorted(databases):
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
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
