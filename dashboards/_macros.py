"""The Grafana ClickHouse plugin's macro expansion, as a pure function, so panel SQL can run without Grafana.

The order is the plugin's: `$__conditionalAll` is resolved against the
variables first (frontend), then Grafana interpolates template variables, then
the backend expands the time macros (times as Unix seconds).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

ALL = "$__all"
"""The value of a template variable set to All."""

_CONDITIONAL_ALL = "$__conditionalAll("
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")
_TIME_FILTER = re.compile(r"\$__timeFilter\(([^()]*(?:\([^()]*\))?[^()]*)\)")
_TIME_INTERVAL = re.compile(r"\$__timeInterval\(([^()]*(?:\([^()]*\))?[^()]*)\)")


def expand_macros(sql: str, *, start: datetime, end: datetime, interval: timedelta,
                  variables: Mapping[str, str | Sequence[str]]) -> str:
    """`sql` as the plugin sends it to ClickHouse for the time range [start, end] and these variable values.

    A variable's value is a list of values, or `ALL`. Example::

        expand_macros("$__conditionalAll(ServiceName IN (${service:singlequote}), $service)",
                      start=t0, end=t1, interval=timedelta(minutes=1), variables={"service": ALL})
        == "1=1"
    """
    sql = _conditional_all(sql, variables)
    sql = _VARIABLE.sub(lambda match: _interpolate(match, variables), sql)
    from_s, to_s, interval_s = int(start.timestamp()), int(end.timestamp()), max(int(interval.total_seconds()), 1)
    sql = _TIME_FILTER.sub(lambda m: f"{m[1]} >= toDateTime({from_s}) AND {m[1]} <= toDateTime({to_s})", sql)
    sql = _TIME_INTERVAL.sub(lambda m: f"toStartOfInterval(toDateTime({m[1]}), INTERVAL {interval_s} second)", sql)
    return (sql.replace("$__fromTime", f"toDateTime({from_s})").replace("$__toTime", f"toDateTime({to_s})")
            .replace("$__interval_s", str(interval_s)))


def _conditional_all(sql: str, variables: Mapping[str, str | Sequence[str]]) -> str:
    """Each `$__conditionalAll(condition, $var)` becomes `1=1` when var is All (or empty), else the condition.

    As the plugin does, arguments are split at commas outside parentheses and
    there must be exactly two: the plugin leaves any other call unexpanded.
    """
    while (begin := sql.find(_CONDITIONAL_ALL)) >= 0:
        args, depth, index = [""], 1, begin + len(_CONDITIONAL_ALL)
        while True:
            char = sql[index]
            index += 1
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0:
                break
            if char == "," and depth == 1:
                args.append("")
            else:
                args[-1] += char
        if len(args) != 2:
            raise ValueError(f"$__conditionalAll takes a condition and a $variable, got {len(args)} arguments")
        condition, variable = args
        values = variables[variable.strip().removeprefix("$")]
        replacement = "1=1" if values == ALL or not values else condition
        sql = sql[:begin] + replacement + sql[index:]
    return sql


def _interpolate(match: re.Match[str], variables: Mapping[str, str | Sequence[str]]) -> str:
    name = match[1] or match[3]
    if name not in variables:
        return match[0]
    values = variables[name]
    if values == ALL:
        raise ValueError(f"variable {name!r} is All outside $__conditionalAll: the panel would read every value")
    if match[2] == "singlequote":
        # Grafana's formatter escapes quotes only, not backslashes (grafana/scenes, formatRegistry.ts).
        return ",".join("'" + value.replace("'", "\\'") + "'" for value in values)
    return ",".join(values)
