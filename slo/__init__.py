"""SLOs: the spec users write, the domain model it becomes, error-budget math, and the engine.

`import slo` brings the pure core only: no storage, no clock; `now` and counts
come in as values. SLIs and task derivation compile to parameterised SQL
(`compile_sli`); `slo.engine` (`catch_up`, `evaluate`, `write_status`) is the
edge that runs it on a Storage.

    specs = parse_slo_specs(yaml_data["slos"], where="agentslo.yaml: slos")
    slos = [slo_from_spec(spec) for spec in specs]

    from slo.engine import catch_up, evaluate
    catch_up(storage, slos, now)                 # derive tasks, roll up, count late spans
    statuses = evaluate(storage, slos, now)
"""


from slo._budget import (
    WORKBOOK_ALERT_WINDOWS,
    WORKBOOK_WINDOW,
    AlertWindow,
    EventCounts,
    Severity,
    SliceCounts,
    alert_windows,
    budget_consumed,
    burn_factor,
    burn_rate,
    calendar_month_bounds,
    count_slices,
    error_budget,
    error_budget_duration,
    error_budget_remaining,
    error_budget_remaining_events,
    sli,
    slices_in,
    sum_counts,
    time_to_exhaustion,
    timeslice_budget,
)
from slo._durations import format_duration, human_duration, parse_duration
from slo._evaluation import (
    DEFAULT_GRACE,
    SloStatus,
    burn_windows,
    data_through,
    occurrences_status,
    timeslices_status,
    window_bounds,
)
from slo._filters import Events, Matcher, MatchOp, MatchSource
from slo._kinds import (
    KINDS,
    Availability,
    CacheHitRate,
    Cost,
    ErrorRate,
    Latency,
    ToolSuccess,
    kind_of,
)
from slo._model import (
    SLO,
    Budgeting,
    CalendarMonth,
    Occurrences,
    RollingWindow,
    Timeslices,
    Window,
    slo_from_spec,
)
from slo._openslo import slo_spec_from_openslo
from slo._spec import SloSpec, parse_slo_specs
from slo._spend import (
    SpendBudget,
    SpendBudgetSpec,
    SpendGroup,
    SpendLevel,
    SpendPeriod,
    SpendStatus,
    format_usd,
    parse_spend_budgets,
    projected_spend,
    spend_budget_from_spec,
)
from slo._sql import DEGRADED_SPAN, compile_sli, spend_sql

__all__ = [
    "DEFAULT_GRACE",
    "DEGRADED_SPAN",
    "KINDS",
    "SLO",
    "WORKBOOK_ALERT_WINDOWS",
    "WORKBOOK_WINDOW",
    "AlertWindow",
    "Availability",
    "Budgeting",
    "CacheHitRate",
    "CalendarMonth",
    "Cost",
    "ErrorRate",
    "EventCounts",
    "Events",
    "Latency",
    "MatchOp",
    "MatchSource",
    "Matcher",
    "Occurrences",
    "RollingWindow",
    "Severity",
    "SliceCounts",
    "SloSpec",
    "SloStatus",
    "SpendBudget",
    "SpendBudgetSpec",
    "SpendGroup",
    "SpendLevel",
    "SpendPeriod",
    "SpendStatus",
    "Timeslices",
    "ToolSuccess",
    "Window",
    "alert_windows",
    "budget_consumed",
    "burn_factor",
    "burn_rate",
    "burn_windows",
    "calendar_month_bounds",
    "compile_sli",
    "count_slices",
    "data_through",
    "error_budget",
    "error_budget_duration",
    "error_budget_remaining",
    "error_budget_remaining_events",
    "format_duration",
    "format_usd",
    "human_duration",
    "kind_of",
    "occurrences_status",
    "parse_duration",
    "parse_slo_specs",
    "parse_spend_budgets",
    "projected_spend",
    "sli",
    "slices_in",
    "slo_from_spec",
    "slo_spec_from_openslo",
    "spend_budget_from_spec",
    "spend_sql",
    "sum_counts",
    "time_to_exhaustion",
    "timeslice_budget",
    "timeslices_status",
    "window_bounds",
]
