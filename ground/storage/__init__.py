"""ClickHouse access: the only package that talks to the database.

Example::

    storage = open_storage(config.storage)
    migrate(storage)
    storage.query("SELECT count() FROM otel_traces").scalar()
"""

from ground.storage._backends import CLUSTER_SETTINGS
from ground.storage._cluster import cluster_form, local_table
from ground.storage._migrations import SCHEMA, Migration, apply_retention, migrate, schema_on_cluster
from ground.storage._spec import StorageSpec
from ground.storage._storage import ParsedStatement, QueryResult, Storage, open_storage, server_password
from ground.tables import (
    AGENT_TASKS,
    ALERT_DELIVERIES,
    ALERT_STATE,
    LEASES,
    MIGRATIONS,
    SLO_ROLLUPS,
    SLO_STATUS,
    TASK_SPEND_DAILY,
    TASK_SPEND_DIMENSIONS,
    TRACES,
    WATERMARKS,
)

__all__ = [
    "AGENT_TASKS",
    "ALERT_DELIVERIES",
    "ALERT_STATE",
    "CLUSTER_SETTINGS",
    "LEASES",
    "MIGRATIONS",
    "SCHEMA",
    "SLO_ROLLUPS",
    "SLO_STATUS",
    "TASK_SPEND_DAILY",
    "TASK_SPEND_DIMENSIONS",
    "TRACES",
    "WATERMARKS",
    "Migration",
    "ParsedStatement",
    "QueryResult",
    "Storage",
    "StorageSpec",
    "apply_retention",
    "cluster_form",
    "local_table",
    "migrate",
    "open_storage",
    "schema_on_cluster",
    "server_password",
]
