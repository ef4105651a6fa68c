"""A read-only ClickHouse HTTP interface over the embedded store, for Grafana's ClickHouse plugin.

Mounted under a path of the API port when `clickhouse_http.enabled` (agentslo.config):

    app.include_router(clickhouse_http_router(storage, keys, statements, path="/clickhouse", limits=..., remote=False,
                                              max_query_bytes=262144, max_concurrent_queries=4))
"""

from agentslo.clickhouse_http._native import for_protocol
from agentslo.clickhouse_http._policy import Limits
from agentslo.clickhouse_http._router import clickhouse_http_router

__all__ = ["Limits", "clickhouse_http_router", "for_protocol"]
