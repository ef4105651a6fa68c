"""Specification of the ClickHouse plugin's macro expansion, as dashboards' queries rely on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboards import ALL, expand_macros

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # 1772452800
END = START + timedelta(hours=1)  # 1772456400


@pytest.mark.parametrize(
    ("sql", "variables", "expected"),
    [
        pytest.param("WHERE $__timeFilter(Timestamp)", {},
                     "WHERE Timestamp >= toDateTime(1772452800) AND Timestamp <= toDateTime(1772456400)",
                     id="timeFilter bounds the column by the range in Unix seconds"),
        pytest.param("SELECT $__timeInterval(Minute)", {},
                     "SELECT toStartOfInterval(toDateTime(Minute), INTERVAL 60 second)",
                     id="timeInterval buckets the column by the panel's interval"),
        pytest.param("$__fromTime, $__toTime, $__interval_s", {},
                     "toDateTime(1772452800), toDateTime(1772456400), 60",
                     id="fromTime, toTime and interval_s are the range's ends and the interval in seconds"),
        pytest.param("$__conditionalAll(ServiceName IN (${service:singlequote}), $service)", {"service": ALL},
                     "1=1", id="conditionalAll drops the condition when the variable is All"),
        pytest.param("$__conditionalAll(ServiceName IN (${service:singlequote}), $service)",
                     {"service": ["a", "b"]}, "ServiceName IN ('a','b')",
                     id="conditionalAll keeps the condition, with the values quoted, otherwise"),
        pytest.param("$__conditionalAll(ServiceName IN (${service:singlequote}), $service)", {"service": []},
                     "1=1", id="conditionalAll treats an empty selection as All, as the plugin does"),
        pytest.param("$__conditionalAll(TraceId IN (SELECT TraceId FROM t WHERE a IN ($v)), $v)", {"v": ["x"]},
                     "TraceId IN (SELECT TraceId FROM t WHERE a IN (x))",
                     id="conditionalAll splits its arguments outside parentheses"),
        pytest.param("SloName = '${slo}'", {"slo": ["checkout"]}, "SloName = 'checkout'",
                     id="a template variable is replaced by its value"),
        pytest.param("x IN (${v:singlequote})", {"v": ["it's"]}, "x IN ('it\\'s')",
                     id="singlequote escapes quotes in values"),
        pytest.param("x IN (${v:singlequote})", {"v": ["a\\b", "c"]}, "x IN ('a\\b','c')",
                     id="singlequote leaves a backslash as it is, as Grafana does"),
    ],
)
def test_macro_expansion(sql: str, variables: dict[str, object], expected: str) -> None:
    assert expand_macros(sql, start=START, end=END, interval=timedelta(minutes=1), variables=variables) == expected


def test_a_variable_set_to_all_outside_conditional_all_is_an_error() -> None:
    with pytest.raises(ValueError, match="variable 'service' is All outside \\$__conditionalAll"):
        expand_macros("ServiceName IN (${service:singlequote})", start=START, end=END,
                      interval=timedelta(minutes=1), variables={"service": ALL})


def test_conditional_all_with_a_comma_outside_parentheses_is_an_error() -> None:
    with pytest.raises(ValueError, match="^\\$__conditionalAll takes a condition and a \\$variable, got 3 arguments$"):
        expand_macros("$__conditionalAll(a = 1, b = 2, $v)", start=START, end=END,
                      interval=timedelta(minutes=1), variables={"v": ["x"]})
