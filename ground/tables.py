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

# What finished tasks cost per UTC day, broken down by each task dimension (migration 12), kept by the
# SLO engine as it derives tasks: Dimension names the breakdown (a key of TASK_SPEND_DIMENSIONS), Key
# its value. The console adds up whole days from it instead of reading every task.
TASK_SPEND_DAILY = "task_spend_daily"

# task_spend_daily's breakdowns: the Dimension value -> the agent_tasks column it groups tasks by.
TASK_SPEND_DIMENSIONS = {
    "service": "ServiceName",
    "agent": "AgentName",
    "user": "UserId",
    "tenant": "Tenant",
    "task_type": "TaskType",
    "feature": "Feature",
}
