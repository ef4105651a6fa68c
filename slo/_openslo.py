"""Import of OpenSLO v1 `SLO` documents onto the AgentSLO spec.

OpenSLO leaves what a metric source says to the source's type. AgentSLO reads
sources of `type: agentslo`, whose `spec` holds the fields of our own `sli:`
section, split the way OpenSLO splits a ratio:

    indicator:
      spec:
        ratioMetric:
          counter: true
          good:                       # which events are good: the SLI kind and its parameters
            metricSource:
              type: agentslo
              spec: {kind: latency, threshold: 30s}
          total:                      # which events count: over and filter
            metricSource:
              type: agentslo
              spec:
                over: tasks
                filter: [{column: AgentName, op: eq, value: checkout}]

- `good` holds `kind` (availability when absent) and that kind's parameters
  (`threshold`, `threshold_usd`); `bad` instead of `good` is the error_rate kind,
  with its optional `errors` matchers; `total` holds `over` and `filter`.
- `thresholdMetric` maps onto latency or cost: its source's spec holds
  `kind: latency` (or `cost`), `over` and `filter`; the objective's `op` must be
  `lte` and its `value` is the threshold, in seconds for latency, in USD for cost.
- `timeWindow`: one rolling window in minutes (whole hours), hours, days or weeks,
  or the calendar month `1M` starting on the 1st at midnight, in UTC.
- `budgetingMethod`: Occurrences, or Timeslices with the objective's
  `timeSliceTarget` (0-1) and `timeSliceWindow` (a plain number is minutes).
- One objective per SLO (`target` 0-1, or `targetPercent`).

Not mapped, and refused with a message: `indicatorRef`, `metricSourceRef`, other
source types, `raw` ratios, RatioTimeslices, several objectives, calendar windows
other than one month. Ignored, as they do not change what is measured:
`displayName`, `labels`, `annotations`, `service`, `alertPolicies` (alerting
follows AgentSLO's burn-rate table), `counter`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeGuard

from ground.errors import ConfigError
from ground.spec import Loc, format_path
from slo._spec import SloSpec, validate_slo_spec

SOURCE_TYPE = "agentslo"

_SHORTHAND = re.compile(r"^(\d+)([mhdwMQY])$")
_UTC_ZONES = ("UTC", "Etc/UTC")
_TOTAL_FIELDS = ("over", "filter")


class _Import:
    """The spec being built, where each of its fields came from, and the problems met."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.origins: dict[Loc, str] = {(): "spec"}
        self.problems: list[tuple[str, str]] = []

    def put(self, loc: Loc, value: Any, origin: str) -> None:
        node = self.data
        for key in loc[:-1]:
            node = node.setdefault(str(key), {})
        node[str(loc[-1])] = value
        self.origins[loc] = origin

    def problem(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def origin_of(self, loc: Loc) -> str:
        """The OpenSLO path of our field at `loc`, from its longest recorded prefix."""
        for size in range(len(loc), -1, -1):
            if loc[:size] in self.origins:
                rest = format_path(loc[size:])
                base = self.origins[loc[:size]]
                return base + (rest if rest.startswith("[") or not rest else "." + rest)
        raise AssertionError("the empty path is always recorded")


def slo_spec_from_openslo(document: object, *, where: str) -> SloSpec:
    """The AgentSLO spec of one OpenSLO v1 `SLO` document (as read from YAML).

    `where` names the document in problems, e.g. "slos.openslo.yaml[0]"; a problem reads
    `slos.openslo.yaml[0] (checkout): spec.budgetingMethod: must be Occurrences or Timeslices, got 'Ratio'`.
    Raises ConfigError listing every problem; see the module docstring for the mapping.
    """
    if not isinstance(document, Mapping):
        raise ConfigError([f"{where}: must be an OpenSLO document (a mapping), got {type(document).__name__}"])
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    label = where + (f" ({name})" if isinstance(name, str) and name else "")
    imp = _Import()
    _read_document(imp, document)
    if not imp.problems:
        result = validate_slo_spec(imp.data)
        if isinstance(result, SloSpec):
            return result
        imp.problems.extend((imp.origin_of(loc), message) for loc, message in result)
    raise ConfigError([f"{label}: {path}: {message}" for path, message in imp.problems])


def _read_document(imp: _Import, document: Mapping[str, Any]) -> None:
    if document.get("apiVersion") != "openslo/v1":
        imp.problem("apiVersion", f"must be openslo/v1, got {document.get('apiVersion')!r}")
        return
    if document.get("kind") != "SLO":
        imp.problem("kind", f"must be SLO (other kinds are not imported), got {document.get('kind')!r}")
        return
    metadata = _mapping(imp, document, "metadata", "metadata")
    spec = _mapping(imp, document, "spec", "spec")
    if metadata is None or spec is None:
        return
    if "name" not in metadata:
        imp.problem("metadata.name", "missing")
    else:
        imp.put(("name",), metadata["name"], "metadata.name")
    if "description" in spec:
        imp.put(("description",), spec["description"], "spec.description")
    objective = _read_objective(imp, spec)
    _read_window(imp, spec)
    _read_budgeting(imp, spec, objective)
    _read_indicator(imp, spec, objective)


def _read_objective(imp: _Import, spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    objectives = spec.get("objectives")
    if not isinstance(objectives, list) or not objectives:
        imp.problem("spec.objectives", "must be a list with one objective")
        return None
    if len(objectives) > 1:
        imp.problem("spec.objectives", f"AgentSLO takes one objective per SLO, got {len(objectives)}: "
                                       "write one document per objective")
        return None
    path = "spec.objectives[0]"
    objective = objectives[0]
    if not isinstance(objective, Mapping):
        imp.problem(path, "must be a mapping")
        return None
    if "target" in objective and "targetPercent" in objective:
        imp.problem(path, "must give target or targetPercent, not both")
    elif "target" in objective:
        target = objective["target"]
        if not _is_number(target) or not 0 < target < 1:
            imp.problem(f"{path}.target", f"must be a number above 0 and below 1, got {target!r}")
        else:
            imp.put(("objective",), _percent(target), f"{path}.target")
    elif "targetPercent" in objective:
        imp.put(("objective",), objective["targetPercent"], f"{path}.targetPercent")
    else:
        imp.problem(f"{path}.target", "missing (or targetPercent)")
    return objective


def _read_window(imp: _Import, spec: Mapping[str, Any]) -> None:
    windows = spec.get("timeWindow")
    if not isinstance(windows, list) or len(windows) != 1 or not isinstance(windows[0], Mapping):
        imp.problem("spec.timeWindow", "must be a list of exactly one window")
        return
    path = "spec.timeWindow[0]"
    window = windows[0]
    duration = window.get("duration")
    match = _SHORTHAND.match(duration) if isinstance(duration, str) else None
    if match is None:
        imp.problem(f"{path}.duration", f"must be a duration shorthand like 28d or 1M, got {duration!r}")
        return
    count, unit = int(match.group(1)), match.group(2)
    rolling = window.get("isRolling")
    if rolling is True:
        text = {"h": f"{count}h", "d": f"{count}d", "w": f"{count * 7}d"}.get(unit)
        if unit == "m" and count % 60 == 0:
            text = f"{count // 60}h"
        if text is None:
            imp.problem(f"{path}.duration", "a rolling window must be whole hours, days or weeks "
                                            f"(months, quarters and years vary in length), got {duration!r}")
            return
        imp.put(("window",), text, f"{path}.duration")
        return
    calendar = window.get("calendar")
    if rolling is None and calendar is None:
        imp.problem(f"{path}.isRolling", "missing: true for a rolling window, or give calendar for a calendar month")
        return
    if duration != "1M":
        imp.problem(f"{path}.duration", f"a calendar window must be one month (1M), got {duration!r}")
        return
    if isinstance(calendar, Mapping):
        zone = calendar.get("timeZone")
        if zone is not None and zone not in _UTC_ZONES:
            imp.problem(f"{path}.calendar.timeZone", f"must be UTC (AgentSLO's months are in UTC), got {zone!r}")
        start = calendar.get("startTime")
        if start is not None and not _starts_a_month(start):
            imp.problem(f"{path}.calendar.startTime",
                        f"must be midnight on the 1st of a month (months run from the 1st), got {str(start)!r}")
    imp.put(("window",), "month", f"{path}.duration")


def _read_budgeting(imp: _Import, spec: Mapping[str, Any], objective: Mapping[str, Any] | None) -> None:
    path = "spec.budgetingMethod"
    method = spec.get("budgetingMethod")
    if method == "Occurrences":
        imp.put(("budgeting",), "occurrences", path)
    elif method == "Timeslices":
        imp.put(("budgeting", "method"), "timeslices", path)
        imp.origins[("budgeting",)] = path
        if objective is None:
            return
        at = "spec.objectives[0]"
        target = objective.get("timeSliceTarget")
        if target is None:
            imp.problem(f"{at}.timeSliceTarget", "missing (required with Timeslices)")
        elif not _is_number(target) or not 0 < target <= 1:
            imp.problem(f"{at}.timeSliceTarget", f"must be a number above 0 and at most 1, got {target!r}")
        else:
            imp.put(("budgeting", "slice_objective"), _percent(target), f"{at}.timeSliceTarget")
        length = objective.get("timeSliceWindow")
        if length is None:
            imp.problem(f"{at}.timeSliceWindow", "missing (required with Timeslices)")
        else:
            imp.put(("budgeting", "slice"), _slice_text(length), f"{at}.timeSliceWindow")
    elif method == "RatioTimeslices":
        imp.problem(path, "RatioTimeslices is not supported (it averages per-slice ratios): "
                          "use Occurrences or Timeslices")
    elif method is None:
        imp.problem(path, "missing (Occurrences or Timeslices)")
    else:
        imp.problem(path, f"must be Occurrences or Timeslices, got {method!r}")


def _read_indicator(imp: _Import, spec: Mapping[str, Any], objective: Mapping[str, Any] | None) -> None:
    if "indicatorRef" in spec:
        imp.problem("spec.indicatorRef", "not supported: give the SLI inline under spec.indicator")
        return
    indicator = _mapping(imp, spec, "indicator", "spec.indicator")
    if indicator is None:
        return
    sli = _mapping(imp, indicator, "spec", "spec.indicator.spec")
    if sli is None:
        return
    if ("ratioMetric" in sli) == ("thresholdMetric" in sli):
        imp.problem("spec.indicator.spec", "must give one of ratioMetric or thresholdMetric")
    elif "ratioMetric" in sli:
        _read_ratio(imp, sli["ratioMetric"], "spec.indicator.spec.ratioMetric")
    elif objective is not None:
        _read_threshold(imp, sli["thresholdMetric"], "spec.indicator.spec.thresholdMetric", objective)


def _read_ratio(imp: _Import, ratio: object, path: str) -> None:
    if not isinstance(ratio, Mapping):
        imp.problem(path, "must be a mapping")
        return
    imp.origins[("sli",)] = path
    if "raw" in ratio or "rawType" in ratio:
        imp.problem(f"{path}.raw", "not supported: a precomputed ratio cannot be summed over a window; "
                                   "give good (or bad) and total")
        return
    if "good" in ratio and "bad" in ratio:
        imp.problem(path, "must give good or bad, not both")
        return
    part = "bad" if "bad" in ratio else "good"
    if part not in ratio:
        imp.problem(f"{path}.good", "missing (or bad)")
    if "total" not in ratio:
        imp.problem(f"{path}.total", "missing")
    total = _source(imp, ratio.get("total"), f"{path}.total") if "total" in ratio else None
    numerator = _source(imp, ratio.get(part), f"{path}.{part}") if part in ratio else None
    if total is not None:
        where = f"{path}.total.metricSource.spec"
        for key, value in total.items():
            if key in _TOTAL_FIELDS:
                imp.put(("sli", key), value, f"{where}.{key}")
            else:
                imp.problem(f"{where}.{key}", f"unknown field (expected one of: {', '.join(_TOTAL_FIELDS)}); "
                                              f"the SLI kind and its parameters go under {part}")
    if numerator is None:
        return
    where = f"{path}.{part}.metricSource.spec"
    # The kind's parameters are the numerator's: a missing threshold is missing there.
    imp.origins[("sli",)] = where
    kind = numerator.get("kind", "error_rate" if part == "bad" else "availability")
    if part == "bad" and kind != "error_rate":
        imp.problem(f"{where}.kind", f"must be error_rate under bad (bad events are errors), got {kind!r}; "
                                     "give other kinds under good")
    elif part == "good" and kind == "error_rate":
        imp.problem(f"{where}.kind", "error_rate counts bad events: give it under bad")
    imp.put(("sli", "kind"), kind, f"{where}.kind")
    for key, value in numerator.items():
        if key in _TOTAL_FIELDS:
            imp.problem(f"{where}.{key}", f"belongs under total ({path}.total.metricSource.spec.{key})")
        elif key != "kind":
            imp.put(("sli", key), value, f"{where}.{key}")


def _read_threshold(imp: _Import, metric: object, path: str, objective: Mapping[str, Any]) -> None:
    source = _source(imp, metric, path)
    if source is None:
        return
    where = f"{path}.metricSource.spec"
    imp.origins[("sli",)] = where
    kind = source.get("kind")
    if kind not in ("latency", "cost"):
        imp.problem(f"{where}.kind", f"must be latency or cost for a thresholdMetric, got {kind!r}; "
                                     "other kinds are ratios: use ratioMetric")
        return
    for key, value in source.items():
        if key in ("threshold", "threshold_usd"):
            imp.problem(f"{where}.{key}", "comes from spec.objectives[0].value with a thresholdMetric")
        else:
            imp.put(("sli", key), value, f"{where}.{key}")
    at = "spec.objectives[0]"
    op = objective.get("op")
    if op != "lte":
        imp.problem(f"{at}.op", f"must be lte (events at or under the threshold are good), got {op!r}")
    value = objective.get("value")
    if not _is_number(value):
        imp.problem(f"{at}.value", f"must be a number ({'seconds' if kind == 'latency' else 'USD'}), got {value!r}")
    elif kind == "latency":
        imp.put(("sli", "threshold"), timedelta(seconds=value), f"{at}.value")
    else:
        imp.put(("sli", "threshold_usd"), value, f"{at}.value")


def _source(imp: _Import, node: object, path: str) -> Mapping[str, Any] | None:
    """The `spec` of an `agentslo` metric source under `node`, or None after reporting why not."""
    source = node.get("metricSource") if isinstance(node, Mapping) else None
    if not isinstance(source, Mapping):
        imp.problem(f"{path}.metricSource", "missing")
        return None
    if "metricSourceRef" in source:
        imp.problem(f"{path}.metricSource.metricSourceRef",
                    f"not supported: give type: {SOURCE_TYPE} and its spec inline")
        return None
    kind = source.get("type")
    if not isinstance(kind, str) or kind.lower() != SOURCE_TYPE:
        imp.problem(f"{path}.metricSource.type", f"must be {SOURCE_TYPE} (AgentSLO measures its own spans), got {kind!r}")
        return None
    return _mapping(imp, source, "spec", f"{path}.metricSource.spec")


def _mapping(imp: _Import, parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any] | None:
    value = parent.get(key)
    if not isinstance(value, Mapping):
        imp.problem(path, "missing" if value is None else f"must be a mapping, got {type(value).__name__}")
        return None
    return value


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _percent(ratio: float) -> float:
    # Through the decimal text, so that 0.995 becomes 99.5 and not 99.49999999999999.
    return float(Decimal(str(ratio)) * 100)


def _slice_text(length: object) -> object:
    # OpenSLO reads a bare number as minutes; our slices are spelt in minutes or hours.
    if _is_number(length):
        return f"{length}m"
    match = _SHORTHAND.match(length) if isinstance(length, str) else None
    if match and match.group(2) == "d":
        return f"{int(match.group(1)) * 24}h"
    return length


def _starts_a_month(start: object) -> bool:
    if isinstance(start, datetime):
        return start.day == 1 and start.time() == datetime.min.time()
    if isinstance(start, date):
        return start.day == 1
    return isinstance(start, str) and re.fullmatch(r"\d{4}-\d{2}-01(?:[ T]00:00(?::00)?)?", start) is not None
