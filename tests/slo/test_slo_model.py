"""Specification of the spec -> model conversion: percent becomes a ratio, text becomes types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from slo import (
    SLO,
    Availability,
    CacheHitRate,
    CalendarMonth,
    Cost,
    ErrorRate,
    Events,
    Latency,
    Matcher,
    MatchOp,
    MatchSource,
    Occurrences,
    RollingWindow,
    Severity,
    SloSpec,
    Timeslices,
    ToolSuccess,
    slo_from_spec,
)

BASELINE: dict[str, Any] = {
    "name": "checkout-availability",
    "objective": 99.9,
    "window": "30d",
    "sli": {"kind": "availability"},
}


def convert(**changes: Any) -> SLO:
    return slo_from_spec(SloSpec.model_validate({**BASELINE, **changes}))


def test_the_baseline_becomes_a_plain_value() -> None:
    assert convert() == SLO(
        name="checkout-availability",
        description="",
        target=0.999,
        window=RollingWindow(timedelta(days=30)),
        budgeting=Occurrences(),
        indicator=Availability(Events.TASKS),
    )


@pytest.mark.parametrize(
    ("percent", "ratio"),
    [
        pytest.param(99.9, 0.999, id="99.9 percent is 0.999 exactly, not 0.9990000000000001"),
        pytest.param(99.95, 0.9995, id="99.95 percent is 0.9995"),
        pytest.param(95, 0.95, id="a whole percent"),
        pytest.param(1.5, 0.015, id="a percent and a half"),
    ],
)
def test_percent_becomes_a_ratio_at_the_boundary(percent: float, ratio: float) -> None:
    assert convert(objective=percent).target == ratio


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({"window": "28d"}, RollingWindow(timedelta(days=28)), id="a rolling window in days"),
        pytest.param({"window": "36h"}, RollingWindow(timedelta(hours=36)), id="a rolling window in hours"),
        pytest.param({"window": "month"}, CalendarMonth(), id="the calendar month"),
    ],
)
def test_windows(changes: dict[str, Any], expected: object) -> None:
    assert convert(**changes).window == expected


def test_timeslices_carry_their_slice_target_as_a_ratio() -> None:
    slo = convert(budgeting={"method": "timeslices", "slice": "5m", "slice_objective": 99.5})
    assert slo.budgeting == Timeslices(slice=timedelta(minutes=5), slice_target=0.995)


TOOL_NAME = {"attribute": "gen_ai.tool.name", "op": "in", "values": ["search", "fetch"]}


@pytest.mark.parametrize(
    ("sli", "indicator"),
    [
        pytest.param({"kind": "availability", "over": "spans"}, Availability(Events.SPANS), id="availability"),
        pytest.param(
            {"kind": "error_rate", "over": "llm_calls", "errors": [{"column": "ErrorType", "op": "eq", "value": "timeout"}]},
            ErrorRate(Events.LLM_CALLS, errors=(Matcher(MatchSource.COLUMN, "ErrorType", MatchOp.EQ, ("timeout",)),)),
            id="error rate keeps which failures count",
        ),
        pytest.param({"kind": "latency", "threshold": "30s"}, Latency(Events.TASKS, timedelta(seconds=30)),
                     id="latency over tasks with its threshold as a timedelta"),
        pytest.param({"kind": "cost", "over": "llm_calls", "threshold_usd": 0.02}, Cost(Events.LLM_CALLS, 0.02),
                     id="cost per model call"),
        pytest.param({"kind": "cache_hit_rate"}, CacheHitRate(), id="cache hit rate"),
        pytest.param(
            {"kind": "tool_success", "filter": [TOOL_NAME]},
            ToolSuccess((Matcher(MatchSource.ATTRIBUTE, "gen_ai.tool.name", MatchOp.IN, ("search", "fetch")),)),
            id="tool success with a span attribute matcher",
        ),
        pytest.param(
            {"kind": "availability", "over": "spans",
             "filter": [{"resource_attribute": "deployment.environment", "op": "regex", "value": "^prod"}]},
            Availability(Events.SPANS, (Matcher(MatchSource.RESOURCE_ATTRIBUTE, "deployment.environment",
                                                MatchOp.REGEX, ("^prod",)),)),
            id="a resource attribute matcher",
        ),
    ],
)
def test_each_sli_kind_becomes_its_own_indicator_type(sli: dict[str, Any], indicator: object) -> None:
    assert convert(sli=sli).indicator == indicator


@pytest.mark.parametrize(
    ("indicator", "events"),
    [
        pytest.param(CacheHitRate(), Events.LLM_CALLS, id="cache hit rate always reads model calls"),
        pytest.param(ToolSuccess(), Events.TOOL_CALLS, id="tool success always reads tool calls"),
        pytest.param(Latency(Events.SPANS, timedelta(seconds=1)), Events.SPANS, id="other kinds read what they say"),
    ],
)
def test_every_indicator_says_which_events_it_reads(indicator: Any, events: Events) -> None:
    assert indicator.events == events


def test_the_error_budget_is_one_minus_the_target() -> None:
    assert convert(objective=99.9).error_budget == pytest.approx(0.001)


def test_a_calendar_month_scales_alert_windows_from_thirty_days() -> None:
    assert convert(window="month").alert_windows == convert(window="30d").alert_windows
    assert convert(window="month").alert_windows[0].long_window == timedelta(hours=1)
    assert convert(window="28d").alert_windows[0].severity is Severity.PAGE


def test_window_bounds_for_a_given_now() -> None:
    now = datetime(2025, 3, 17, 12, 0, tzinfo=UTC)
    assert RollingWindow(timedelta(days=7)).bounds(now) == (datetime(2025, 3, 10, 12, 0, tzinfo=UTC), now)
    assert CalendarMonth().bounds(now) == (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))
    assert (str(RollingWindow(timedelta(days=28))), str(RollingWindow(timedelta(hours=12))), str(CalendarMonth())) == (
        "28d", "12h", "month")
