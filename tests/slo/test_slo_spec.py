"""Specification of the `slos:` config section: what is accepted, and the exact text of each refusal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ground.errors import ConfigError
from slo import SloSpec, human_duration, parse_slo_specs

WHERE = "agentslo.yaml: slos"

# A valid SLO; each case below edits one thing.
BASELINE: dict[str, Any] = {
    "name": "checkout-availability",
    "description": "Checkout tasks finish without error",
    "objective": 99.5,
    "window": "28d",
    "sli": {
        "kind": "availability",
        "over": "tasks",
        "filter": [{"column": "AgentName", "op": "eq", "value": "checkout"}],
    },
}


def edit(**changes: Any) -> dict[str, Any]:
    """BASELINE with top-level fields replaced; a value of None removes the field."""
    slo = {**BASELINE, **changes}
    return {key: value for key, value in slo.items() if value is not None}


def sli(**fields: Any) -> dict[str, Any]:
    return edit(sli=fields)


def matcher(**fields: Any) -> dict[str, Any]:
    return sli(kind="availability", over="spans", filter=[fields])


def problems_of(items: Any) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_slo_specs(items, where=WHERE)
    return raised.value.problems


def test_the_baseline_is_valid() -> None:
    (spec,) = parse_slo_specs([BASELINE], where=WHERE)
    assert (spec.name, spec.objective, spec.window, spec.sli.kind, spec.budgeting.method) == (
        "checkout-availability", 99.5, timedelta(days=28), "availability", "occurrences")


@pytest.mark.parametrize(
    ("slo", "check"),
    [
        pytest.param(edit(window="30d"), lambda s: s.window == timedelta(days=30), id="a window in days"),
        pytest.param(edit(window="12h"), lambda s: s.window == timedelta(hours=12), id="a window in hours"),
        pytest.param(edit(window="month"), lambda s: s.window == "month", id="the calendar month"),
        pytest.param(edit(budgeting="occurrences"), lambda s: s.budgeting.method == "occurrences",
                     id="budgeting may be written as a bare method name"),
        pytest.param(edit(budgeting={"method": "timeslices", "slice": "5m", "slice_objective": 95}),
                     lambda s: (s.budgeting.slice, s.budgeting.slice_objective) == (timedelta(minutes=5), 95),
                     id="timeslices take a slice length and a slice objective"),
        pytest.param(sli(kind="latency", threshold="500ms"), lambda s: s.sli.threshold == timedelta(milliseconds=500),
                     id="a latency threshold in milliseconds"),
        pytest.param(sli(kind="latency", threshold="1.5s"), lambda s: s.sli.threshold == timedelta(seconds=1.5),
                     id="a latency threshold in fractional seconds"),
        pytest.param(sli(kind="cost", threshold_usd=0.25), lambda s: s.sli.over == "tasks",
                     id="cost is over tasks by default"),
        pytest.param(sli(kind="cache_hit_rate"), lambda s: s.sli.over == "llm_calls",
                     id="cache hit rate is over llm_calls by default"),
        pytest.param(sli(kind="tool_success"), lambda s: s.sli.over == "tool_calls",
                     id="tool success is over tool_calls by default"),
        pytest.param(sli(kind="error_rate", errors=[{"column": "ErrorType", "op": "in", "values": ["timeout"]}]),
                     lambda s: s.sli.errors[0].values == ("timeout",), id="error rate may narrow which failures count"),
        pytest.param(matcher(attribute="http.status_code", op="eq", value=200), lambda s: s.sli.filter[0].value == "200",
                     id="a number compared with an attribute is read as its text"),
        pytest.param(matcher(column="StatusCode", op="regex", value="^(Ok|Unset)$"), lambda s: s.sli.filter[0].op == "regex",
                     id="a regex on a closed column is not checked against its values"),
    ],
)
def test_accepted(slo: dict[str, Any], check: Any) -> None:
    (spec,) = parse_slo_specs([slo], where=WHERE)
    assert check(spec)


P = "agentslo.yaml: slos[0] (checkout-availability)"


@pytest.mark.parametrize(
    ("slo", "expected"),
    [
        pytest.param(edit(objective=100), f"{P}.objective: must be below 100", id="a 100% objective leaves no budget"),
        pytest.param(edit(objective=0.99), f"{P}.objective: is a percent: 0.99 would mean 0.99 %; write 99 for 99 %",
                     id="a ratio where a percent belongs"),
        pytest.param(edit(objective=0), f"{P}.objective: must be above 0", id="a zero objective is refused"),
        pytest.param(edit(objective="high"), f"{P}.objective: must be a valid number, unable to parse string as a number",
                     id="the objective is a number"),
        pytest.param(edit(objective=None), f"{P}.objective: missing", id="the objective is required"),
        pytest.param(edit(name="Checkout SLO"),
                     "agentslo.yaml: slos[0] (Checkout SLO).name: must start with a lowercase letter and hold only "
                     "a-z, 0-9, '-' and '_' (at most 63 characters), got 'Checkout SLO'",
                     id="a name is identifier-like"),
        pytest.param(edit(objectiv=99), f"{P}.objectiv: unknown field "
                     "(expected one of: name, description, objective, window, budgeting, sli)",
                     id="a misspelt field is reported with the known ones"),
        pytest.param(edit(window="4w"), f"{P}.window: must be a rolling window like 28d or 12h, or month, got '4w'",
                     id="weeks are written as days"),
        pytest.param(edit(window="400d"), f"{P}.window: must be between 1h and 365d, got '400d'",
                     id="a window longer than a year is refused"),
        pytest.param(edit(budgeting={"method": "timeslices", "slice_objective": 95}), f"{P}.budgeting.slice: missing",
                     id="timeslices need a slice length"),
        pytest.param(edit(budgeting={"method": "sliced"}),
                     f"{P}.budgeting.method: must be one of: occurrences, timeslices; got 'sliced'",
                     id="an unknown budgeting method"),
        pytest.param(edit(budgeting={"method": "timeslices", "slice": "30s", "slice_objective": 95}),
                     f"{P}.budgeting.slice: must be a whole number of minutes or hours like 1m or 5m, got '30s'",
                     id="slices are whole minutes, the rollup grain"),
        pytest.param(edit(window="12h", budgeting={"method": "timeslices", "slice": "7m", "slice_objective": 95}),
                     f"{P}.budgeting.slice: must divide the window (12h) into whole slices, got 7m",
                     id="slices divide the window"),
        pytest.param(edit(window="month", budgeting={"method": "timeslices", "slice": "7m", "slice_objective": 95}),
                     f"{P}.budgeting.slice: must divide a day into whole slices, got 7m",
                     id="slices of a calendar month divide a day"),
        pytest.param(edit(budgeting={"method": "timeslices", "slice": "1m", "slice_objective": 101}),
                     f"{P}.budgeting.slice_objective: must be at most 100", id="a slice objective is a percent"),
        pytest.param(sli(over="tasks"),
                     f"{P}.sli.kind: missing (one of: availability, error_rate, latency, cost, cache_hit_rate, tool_success)",
                     id="an SLI names its kind"),
        pytest.param(sli(kind="throughput"), f"{P}.sli.kind: must be one of: availability, error_rate, latency, cost, "
                     "cache_hit_rate, tool_success; got 'throughput'", id="an unknown SLI kind"),
        pytest.param(sli(kind="latency"), f"{P}.sli.threshold: missing", id="latency needs a threshold"),
        pytest.param(sli(kind="latency", threshold="30"), f"{P}.sli.threshold: must be a duration like 500ms, 30s or 2m, "
                     "got '30'", id="a latency threshold has a unit"),
        pytest.param(sli(kind="latency", threshold="0s"), f"{P}.sli.threshold: must be above 0",
                     id="a zero latency threshold is refused"),
        pytest.param(sli(kind="cost", threshold_usd=-1), f"{P}.sli.threshold_usd: must be above 0",
                     id="a cost threshold is positive"),
        pytest.param(sli(kind="availability", threshold="30s"),
                     f"{P}.sli.threshold: unknown field (expected one of: kind, over, filter)",
                     id="fields of another kind are refused with the kind's own"),
        pytest.param(sli(kind="cost", threshold_usd=1, over="tool_calls"),
                     f"{P}.sli.over: cost is measured over tasks or llm_calls, got 'tool_calls'",
                     id="cost over tool calls is meaningless"),
        pytest.param(sli(kind="cache_hit_rate", over="tasks"),
                     f"{P}.sli.over: cache_hit_rate is measured over llm_calls only, got 'tasks'",
                     id="cache hit rate is over model calls only"),
        pytest.param(sli(kind="availability", over="requests"),
                     f"{P}.sli.over: must be 'tasks', 'llm_calls', 'tool_calls' or 'spans'", id="an unknown event set"),
        pytest.param(sli(kind="availability", filter={"column": "AgentName"}), f"{P}.sli.filter: must be a list",
                     id="a filter is a list of matchers"),
        pytest.param(sli(kind="availability", over="tasks", filter=[{"column": "RequestModel", "op": "eq", "value": "x"}]),
                     f"{P}.sli.filter[0].column: over tasks, filter on one of: ServiceName, AgentName, TaskType, UserId, "
                     "Tenant, Feature, Environment, ErrorType; got 'RequestModel'", id="a task has no single model"),
        pytest.param(sli(kind="availability", over="tasks", filter=[{"attribute": "a", "op": "eq", "value": "x"}]),
                     f"{P}.sli.filter[0].attribute: over tasks, filter on the task's columns; attributes belong to "
                     "spans, llm_calls and tool_calls", id="tasks are not filtered on attributes"),
        pytest.param(sli(kind="error_rate", errors=[{"column": "SpanName", "op": "eq", "value": "x"}]),
                     f"{P}.sli.errors[0].column: over tasks, filter on one of: ServiceName, AgentName, TaskType, UserId, "
                     "Tenant, Feature, Environment, ErrorType; got 'SpanName'", id="error matchers follow the same rule"),
        pytest.param(matcher(column="Model", op="eq", value="x"),
                     f"{P}.sli.filter[0].column: must be one of the typed columns: ServiceName, SpanName, SpanKind, "
                     "StatusCode, GenAiOperation, GenAiProvider, RequestModel, ResponseModel, CostSource, ErrorType, "
                     "UserId, Tenant, AgentName, TaskType, Feature, FallbackSource, Environment; got 'Model'",
                     id="a column is one of the typed columns"),
        pytest.param(matcher(op="eq", value="x"),
                     f"{P}.sli.filter[0]: must name one of column, attribute or resource_attribute",
                     id="a matcher names what it reads"),
        pytest.param(matcher(column="Tenant", attribute="tenant", op="eq", value="x"),
                     f"{P}.sli.filter[0]: must name one of column, attribute or resource_attribute, not column and attribute",
                     id="a matcher reads one thing"),
        pytest.param(matcher(column="Tenant", op="like", value="x"),
                     f"{P}.sli.filter[0].op: must be 'eq', 'ne', 'in' or 'regex'", id="an unknown operator"),
        pytest.param(matcher(column="Tenant", op="in", value="acme"),
                     f"{P}.sli.filter[0].value: op in takes a list under values, not value", id="in takes values"),
        pytest.param(matcher(column="Tenant", op="in", values=[]),
                     f"{P}.sli.filter[0].values: must be a non-empty list for op in", id="in takes at least one value"),
        pytest.param(matcher(column="Tenant", op="eq", values=["a"]),
                     f"{P}.sli.filter[0].values: op eq takes one value under value, not values", id="eq takes one value"),
        pytest.param(matcher(column="Tenant", op="ne"),
                     f"{P}.sli.filter[0].value: missing (op ne compares with one value)", id="ne needs its value"),
        pytest.param(matcher(attribute="gen_ai.tool.name", op="regex", value="search("),
                     f"{P}.sli.filter[0].value: must be a valid regular expression: missing ), unterminated subpattern "
                     "at position 6", id="a regex must compile"),
        pytest.param(matcher(attribute="gen_ai.tool.name", op="regex", value="^(?!internal_)"),
                     f"{P}.sli.filter[0].value: must be an RE2 regular expression (ClickHouse's engine): "
                     "lookahead is not supported", id="a regex must be one ClickHouse can run"),
        pytest.param(matcher(column="StatusCode", op="in", values=["Ok", "ERROR"]),
                     f"{P}.sli.filter[0].values[1]: StatusCode is one of Unset, Ok, Error; got 'ERROR'",
                     id="a closed column's values are spelt as stored"),
        pytest.param(matcher(resource_attribute=" ", op="eq", value="x"),
                     f"{P}.sli.filter[0].resource_attribute: must be a non-empty attribute key", id="an empty key"),
    ],
)
def test_refused(slo: dict[str, Any], expected: str) -> None:
    assert problems_of([slo]) == [expected]


def test_errors_name_the_slo_by_index_and_name() -> None:
    other = edit(name="answer-latency", sli={"kind": "latency", "threshold": "30s"})
    assert problems_of([other, edit(objective=100)]) == [
        "agentslo.yaml: slos[1] (checkout-availability).objective: must be below 100",
    ]


def test_every_problem_of_every_slo_is_listed() -> None:
    assert problems_of([edit(objective=100, window="2w"), 7, {"name": "x"}, BASELINE, BASELINE]) == [
        f"{P}.objective: must be below 100",
        f"{P}.window: must be a rolling window like 28d or 12h, or month, got '2w'",
        "agentslo.yaml: slos[1]: must be a mapping with name, objective, window and sli, got int",
        "agentslo.yaml: slos[2] (x).objective: missing",
        "agentslo.yaml: slos[2] (x).window: missing",
        "agentslo.yaml: slos[2] (x).sli: missing",
        "agentslo.yaml: slos[4] (checkout-availability).name: must be unique; the SLO at index 3 has it too",
    ]


def test_every_problem_of_one_sli_is_listed() -> None:
    slo = sli(kind="error_rate", over="tasks",
              filter=[{"column": "RequestModel", "op": "eq", "value": "x"}],
              errors=[{"resource_attribute": "host.name", "op": "eq", "value": "a"}])
    assert problems_of([slo]) == [
        f"{P}.sli.filter[0].column: over tasks, filter on one of: ServiceName, AgentName, TaskType, UserId, Tenant, "
        "Feature, Environment, ErrorType; got 'RequestModel'",
        f"{P}.sli.errors[0].resource_attribute: over tasks, filter on the task's columns; attributes belong to "
        "spans, llm_calls and tool_calls",
    ]


def test_the_section_is_a_list() -> None:
    assert problems_of({"checkout": BASELINE}) == ["agentslo.yaml: slos: must be a list of SLOs, got dict"]


@pytest.mark.parametrize(
    "slo",
    [
        pytest.param(BASELINE, id="a rolling window"),
        pytest.param(edit(window="month", budgeting={"method": "timeslices", "slice": "5m", "slice_objective": 99},
                          sli={"kind": "latency", "threshold": "1.5s"}), id="a calendar month, slices and a threshold"),
    ],
)
def test_a_spec_dumped_to_json_reads_back_as_written(slo: dict[str, Any]) -> None:
    spec = SloSpec.model_validate(slo)
    dumped = spec.model_dump(mode="json")
    assert SloSpec.model_validate(dumped) == spec
    assert dumped["window"] == slo["window"]


def test_the_spec_is_frozen() -> None:
    spec = SloSpec.model_validate(BASELINE)
    with pytest.raises(Exception, match="frozen"):
        spec.objective = 90  # type: ignore[misc]


@pytest.mark.parametrize(("duration", "text"), [
    pytest.param(timedelta(minutes=1344), "22h 24m", id="a 28-day SLO's ticket window"),
    pytest.param(timedelta(minutes=112), "1h 52m", id="its short window"),
    pytest.param(timedelta(days=2, hours=19, minutes=12), "2d 19h", id="the two largest units"),
    pytest.param(timedelta(seconds=45), "45s", id="seconds"),
])
def test_durations_for_people_read_in_their_two_largest_units(duration: timedelta, text: str) -> None:
    assert human_duration(duration) == text
