"""Specification of OpenSLO v1 import: the `agentslo` metric source convention and what cannot be mapped."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
import yaml

from ground.errors import ConfigError
from slo import (
    SLO,
    Availability,
    CalendarMonth,
    Events,
    Latency,
    Matcher,
    MatchOp,
    MatchSource,
    Occurrences,
    RollingWindow,
    Timeslices,
    slo_from_spec,
    slo_spec_from_openslo,
)

RATIO_DOC = yaml.safe_load("""
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-availability
  displayName: Checkout availability
  labels: {team: [payments]}
spec:
  description: Checkout tasks finish without error
  service: checkout
  indicator:
    metadata: {name: checkout-success}
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: agentslo
            spec: {kind: availability}
        total:
          metricSource:
            type: agentslo
            spec:
              over: tasks
              filter: [{column: AgentName, op: eq, value: checkout}]
  timeWindow:
    - duration: 4w
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: Good
      target: 0.995
  alertPolicies: [page-on-fast-burn]
""")

THRESHOLD_DOC = yaml.safe_load("""
apiVersion: openslo/v1
kind: SLO
metadata:
  name: answer-latency
spec:
  indicator:
    metadata: {name: answer-latency}
    spec:
      thresholdMetric:
        metricSource:
          type: agentslo
          spec:
            kind: latency
            over: llm_calls
            filter: [{column: RequestModel, op: regex, value: "^gpt-4o"}]
  timeWindow:
    - duration: 1M
      isRolling: false
      calendar: {startTime: "2024-01-01 00:00:00", timeZone: UTC}
  budgetingMethod: Timeslices
  objectives:
    - op: lte
      value: 2.5
      targetPercent: 95
      timeSliceTarget: 0.9
      timeSliceWindow: 5
""")


def imported(document: Any) -> SLO:
    return slo_from_spec(slo_spec_from_openslo(document, where="openslo.yaml[0]"))


def test_a_ratio_metric_of_agentslo_sources() -> None:
    assert imported(RATIO_DOC) == SLO(
        name="checkout-availability",
        description="Checkout tasks finish without error",
        target=0.995,
        window=RollingWindow(timedelta(days=28)),
        budgeting=Occurrences(),
        indicator=Availability(Events.TASKS, (Matcher(MatchSource.COLUMN, "AgentName", MatchOp.EQ, ("checkout",)),)),
    )


def test_a_threshold_metric_with_timeslices_over_a_calendar_month() -> None:
    assert imported(THRESHOLD_DOC) == SLO(
        name="answer-latency",
        description="",
        target=0.95,
        window=CalendarMonth(),
        budgeting=Timeslices(slice=timedelta(minutes=5), slice_target=0.9),
        indicator=Latency(Events.LLM_CALLS, timedelta(seconds=2.5),
                          (Matcher(MatchSource.COLUMN, "RequestModel", MatchOp.REGEX, ("^gpt-4o",)),)),
    )


def edited(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `document` with the value at a dotted path (list items as numbers) replaced; None removes it."""
    copied = copy.deepcopy(document)
    node: Any = copied
    *parents, last = path.split(".")
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    key: Any = int(last) if isinstance(node, list) else last
    if value is None:
        del node[key]
    else:
        node[key] = value
    return copied


RATIO = "spec.indicator.spec.ratioMetric"
GOOD_SPEC = f"{RATIO}.good.metricSource.spec"
TOTAL_SPEC = f"{RATIO}.total.metricSource.spec"
R = "openslo.yaml[0] (checkout-availability)"


@pytest.mark.parametrize(
    ("path", "value", "check"),
    [
        pytest.param("spec.objectives.0", {"targetPercent": 99.9}, lambda s: s.target == 0.999,
                     id="targetPercent instead of target"),
        pytest.param("spec.timeWindow.0", {"duration": "720m", "isRolling": True},
                     lambda s: s.window == RollingWindow(timedelta(hours=12)), id="a rolling window of whole hours in minutes"),
        pytest.param("spec.timeWindow.0", {"duration": "30d", "isRolling": True},
                     lambda s: s.window == RollingWindow(timedelta(days=30)), id="a rolling window in days"),
        pytest.param(f"{RATIO}.good.metricSource.type", "AgentSLO", lambda s: s.target == 0.995,
                     id="the source type is read regardless of case"),
        pytest.param(f"{RATIO}.good.metricSource.spec", {}, lambda s: isinstance(s.indicator, Availability),
                     id="good events without a kind are the successful ones"),
    ],
)
def test_accepted_variants(path: str, value: Any, check: Any) -> None:
    assert check(imported(edited(RATIO_DOC, path, value)))


def test_bad_events_map_onto_the_error_rate_kind() -> None:
    document = edited(RATIO_DOC, f"{RATIO}.good", None)
    document = edited(document, f"{RATIO}.bad", {"metricSource": {"type": "agentslo", "spec": {
        "errors": [{"column": "ErrorType", "op": "in", "values": ["timeout"]}]}}})
    indicator = imported(document).indicator
    assert (type(indicator).__name__, indicator.errors) == (
        "ErrorRate", (Matcher(MatchSource.COLUMN, "ErrorType", MatchOp.IN, ("timeout",)),))


def test_cost_as_a_threshold_metric_takes_the_value_in_usd() -> None:
    document = edited(THRESHOLD_DOC, "spec.indicator.spec.thresholdMetric.metricSource.spec",
                      {"kind": "cost", "over": "tasks"})
    assert imported(document).indicator.threshold_usd == 2.5


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(edited(RATIO_DOC, "apiVersion", "openslo/v1alpha"),
                     [f"{R}: apiVersion: must be openslo/v1, got 'openslo/v1alpha'"], id="only v1 documents"),
        pytest.param(edited(RATIO_DOC, "kind", "Service"),
                     [f"{R}: kind: must be SLO (other kinds are not imported), got 'Service'"], id="only SLO documents"),
        pytest.param(edited(RATIO_DOC, "spec.objectives.0.target", 99.5),
                     [f"{R}: spec.objectives[0].target: must be a number above 0 and below 1, got 99.5"],
                     id="a target is a 0-1 ratio"),
        pytest.param(edited(RATIO_DOC, "spec.objectives.0", {"targetPercent": 100}),
                     [f"{R}: spec.objectives[0].targetPercent: must be below 100"],
                     id="our own validation names the OpenSLO field"),
        pytest.param(edited(RATIO_DOC, "spec.objectives", [{"target": 0.99}, {"target": 0.999}]),
                     [f"{R}: spec.objectives: AgentSLO takes one objective per SLO, got 2: write one document per objective"],
                     id="one objective per SLO"),
        pytest.param(edited(RATIO_DOC, "spec.timeWindow.0", {"duration": "1Q", "isRolling": False}),
                     [f"{R}: spec.timeWindow[0].duration: a calendar window must be one month (1M), got '1Q'"],
                     id="calendar windows are months"),
        pytest.param(edited(RATIO_DOC, "spec.timeWindow.0", {"duration": "1M", "isRolling": True}),
                     [f"{R}: spec.timeWindow[0].duration: a rolling window must be whole hours, days or weeks "
                      "(months, quarters and years vary in length), got '1M'"], id="rolling months are ambiguous"),
        pytest.param(edited(RATIO_DOC, "spec.timeWindow.0",
                            {"duration": "1M", "calendar": {"startTime": "2022-01-15 00:00:00", "timeZone": "America/New_York"}}),
                     [f"{R}: spec.timeWindow[0].calendar.timeZone: must be UTC (AgentSLO's months are in UTC), "
                      "got 'America/New_York'",
                      f"{R}: spec.timeWindow[0].calendar.startTime: must be midnight on the 1st of a month "
                      "(months run from the 1st), got '2022-01-15 00:00:00'"], id="months are UTC, from the 1st"),
        pytest.param(edited(RATIO_DOC, "spec.budgetingMethod", "RatioTimeslices"),
                     [f"{R}: spec.budgetingMethod: RatioTimeslices is not supported (it averages per-slice ratios): "
                      "use Occurrences or Timeslices"], id="no average of ratios"),
        pytest.param(edited(RATIO_DOC, "spec.budgetingMethod", "Timeslices"),
                     [f"{R}: spec.objectives[0].timeSliceTarget: missing (required with Timeslices)",
                      f"{R}: spec.objectives[0].timeSliceWindow: missing (required with Timeslices)"],
                     id="timeslices need their slice target and window"),
        pytest.param(edited(RATIO_DOC, "spec.indicator", None),
                     [f"{R}: spec.indicator: missing"], id="an inline indicator is required"),
        pytest.param(edited(RATIO_DOC, "spec.indicatorRef", "checkout-success"),
                     [f"{R}: spec.indicatorRef: not supported: give the SLI inline under spec.indicator"],
                     id="no references to SLI documents"),
        pytest.param(edited(RATIO_DOC, f"{RATIO}.good.metricSource", {"type": "Prometheus", "spec": {"query": "up"}}),
                     [f"{R}: {RATIO}.good.metricSource.type: must be agentslo (AgentSLO measures its own spans), "
                      "got 'Prometheus'"], id="only agentslo sources"),
        pytest.param(edited(RATIO_DOC, f"{RATIO}.good.metricSource", {"metricSourceRef": "my-source"}),
                     [f"{R}: {RATIO}.good.metricSource.metricSourceRef: not supported: give type: agentslo and its spec inline"],
                     id="no references to data sources"),
        pytest.param(edited(RATIO_DOC, RATIO, {"rawType": "success", "raw": {}}),
                     [f"{R}: {RATIO}.raw: not supported: a precomputed ratio cannot be summed over a window; "
                      "give good (or bad) and total"], id="no precomputed ratios"),
        pytest.param(edited(RATIO_DOC, f"{RATIO}.bad", {}),
                     [f"{R}: {RATIO}: must give good or bad, not both"], id="good or bad, not both"),
        pytest.param(edited(RATIO_DOC, f"{TOTAL_SPEC}.kind", "latency"),
                     [f"{R}: {TOTAL_SPEC}.kind: unknown field (expected one of: over, filter); "
                      "the SLI kind and its parameters go under good"], id="total holds the events only"),
        pytest.param(edited(RATIO_DOC, f"{GOOD_SPEC}.over", "spans"),
                     [f"{R}: {GOOD_SPEC}.over: belongs under total ({TOTAL_SPEC}.over)"], id="good holds the kind only"),
        pytest.param(edited(RATIO_DOC, f"{GOOD_SPEC}.kind", "error_rate"),
                     [f"{R}: {GOOD_SPEC}.kind: error_rate counts bad events: give it under bad"],
                     id="error rate is a bad-events ratio"),
        pytest.param(edited(RATIO_DOC, f"{GOOD_SPEC}.kind", "latency"),
                     [f"{R}: {GOOD_SPEC}.threshold: missing"], id="a kind's own parameters are required where it is given"),
        pytest.param(edited(RATIO_DOC, f"{TOTAL_SPEC}.filter.0.column", "RequestModel"),
                     [f"{R}: {TOTAL_SPEC}.filter[0].column: over tasks, filter on one of: ServiceName, AgentName, "
                      "TaskType, UserId, Tenant, Feature, Environment, ErrorType; got 'RequestModel'"],
                     id="filter problems point into the total source"),
    ],
)
def test_refused_ratio_documents(document: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as raised:
        slo_spec_from_openslo(document, where="openslo.yaml[0]")
    assert raised.value.problems == expected


THRESHOLD = "spec.indicator.spec.thresholdMetric.metricSource.spec"
T = "openslo.yaml[0] (answer-latency)"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        pytest.param("spec.objectives.0.op", "lt",
                     [f"{T}: spec.objectives[0].op: must be lte (events at or under the threshold are good), got 'lt'"],
                     id="good events are at or under the threshold"),
        pytest.param("spec.objectives.0.value", None,
                     [f"{T}: spec.objectives[0].value: must be a number (seconds), got None"], id="the threshold is required"),
        pytest.param("spec.objectives.0.value", -1, [f"{T}: spec.objectives[0].value: must be above 0"],
                     id="a negative threshold is refused where it is written"),
        pytest.param(f"{THRESHOLD}.kind", "availability",
                     [f"{T}: {THRESHOLD}.kind: must be latency or cost for a thresholdMetric, got 'availability'; "
                      "other kinds are ratios: use ratioMetric"], id="a threshold metric is latency or cost"),
        pytest.param(f"{THRESHOLD}.threshold", "3s",
                     [f"{T}: {THRESHOLD}.threshold: comes from spec.objectives[0].value with a thresholdMetric"],
                     id="the threshold is the objective's value"),
        pytest.param("spec.objectives.0.timeSliceTarget", 1.5,
                     [f"{T}: spec.objectives[0].timeSliceTarget: must be a number above 0 and at most 1, got 1.5"],
                     id="a slice target is a 0-1 ratio"),
        pytest.param("spec.objectives.0.timeSliceWindow", "30s",
                     [f"{T}: spec.objectives[0].timeSliceWindow: must be a whole number of minutes or hours "
                      "like 1m or 5m, got '30s'"], id="slice problems point at timeSliceWindow"),
    ],
)
def test_refused_threshold_documents(path: str, value: Any, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as raised:
        slo_spec_from_openslo(edited(THRESHOLD_DOC, path, value), where="openslo.yaml[0]")
    assert raised.value.problems == expected


def test_a_document_that_is_not_a_mapping() -> None:
    with pytest.raises(ConfigError) as raised:
        slo_spec_from_openslo(["SLO"], where="openslo.yaml[3]")
    assert raised.value.problems == ["openslo.yaml[3]: must be an OpenSLO document (a mapping), got list"]
