"""Table names: the contract that Grafana panels and users' SQL read.

Every other module names tables through these constants; queries use them
unqualified because each connection's current database is the configured one.
"""

TRACES = "otel_traces"
MIGRATIONS = "agentslo_schema_migrations"
AGENT_TASKS = "agent_tasks"
SLO_ROLLUPS = "slo_rollups"
SLO_STATUS = "slo_status"
WATERMARKS = "agentslo_watermarks"
ALERT_STATE = "alert_state"
ALERT_DELIVERIES = "alert_deliveries"
LEASES = "agentslo_leases"

# The UTC hour otel_traces' spend projection aggregates model calls by (migration 10): a query that
# filters and groups spans by this expression (text for text), and by RequestModel and CostSource
# only, reads the projection's hourly sums instead of the spans.
TRACES_SPEND_HOUR = "toStartOfHour(Timestamp, 'UTC')"
