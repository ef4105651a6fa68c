"""Alert rules: which alerts an SLO has under its policy, and from its status each one's condition. Pure.

`slo_alerts(slo, policy)` is the one list of an SLO's alerts: the service
evaluates it on each status (`alert_conditions`), and the Grafana alert rules
are generated from it (dashboards), so the two cannot disagree on what exists,
its labels, its thresholds, its minimum events or its `for`.

Per SLO there is one alert per burn-rate window pair of `SLO.alert_windows`
(the SRE Workbook table scaled to the SLO's window) of a severity the policy
keeps, plus the optional no-data and budget-exhausted alerts. A pair's
condition holds when the budget burns at least its factor over BOTH its long
and its short window, and stops as soon as EITHER drops below: the short window
makes a fixed outage resolve within minutes instead of after the long window
drains. A long window with fewer events than the policy's minimum does not
count as burning: one failure among three requests is not a page.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import assert_never

from slo import (
    SLO,
    AlertWindow,
    MatchOp,
    MatchSource,
    Severity,
    SloStatus,
    burn_windows,
    format_duration,
    human_duration,
)

BURN_RATE_ALERT = "SloErrorBudgetBurn"
NO_DATA_ALERT = "SloNoData"
BUDGET_EXHAUSTED_ALERT = "SloErrorBudgetExhausted"

# Alertmanager's default repeat_interval: a firing alert is sent again after it.
DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)


@dataclass(frozen=True)
class AlertPolicy:
    """How one SLO alerts: which tiers, the event minimum, `for`, repeats and no-data.

    `min_events` gates each window pair on its long window's events (under
    timeslice budgeting, its slices). `no_data_after`, when set, raises a no-data
    alert once no events arrived for that long; None leaves it off.
    `budget_exhausted` adds an alert that holds while the error budget of the
    SLO's window is used up.
    """

    page: bool = True
    ticket: bool = True
    min_events: int = 10
    pending_for: timedelta = timedelta(0)
    repeat_interval: timedelta = DEFAULT_REPEAT_INTERVAL
    no_data_after: timedelta | None = None
    budget_exhausted: bool = False


@dataclass(frozen=True)
class AlertCondition:
    """One alert instance as of an evaluation: its identity (labels), whether it holds, and its text.

    A firing instance is notified again every `repeat_interval` (never when
    None), and notified when it resolves unless `send_resolved` is false.
    """

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    active: bool
    pending_for: timedelta = timedelta(0)
    repeat_interval: timedelta | None = DEFAULT_REPEAT_INTERVAL
    send_resolved: bool = True
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fingerprint", fingerprint(self.labels))


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set: FNV-1a 64 over sorted name, value pairs, 16 hex digits.

    The same function as Prometheus' `model.LabelSet.Fingerprint`, so receivers
    that key on it see the same identity as from Alertmanager.
    """
    digest = 14695981039346656037
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode() + b"\xff":
                digest = ((digest ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return f"{digest:016x}"


class AlertKind(enum.Enum):
    """What an SLO's alert watches."""

    BURN_RATE = BURN_RATE_ALERT
    NO_DATA = NO_DATA_ALERT
    BUDGET_EXHAUSTED = BUDGET_EXHAUSTED_ALERT


@dataclass(frozen=True)
class SloAlert:
    """One alert of an SLO under its policy: its identity (labels) and what makes it hold.

    BURN_RATE holds while `window`'s pair burns at its factor with at least
    `min_events` events in the long window; NO_DATA while `quiet_window` (the
    shortest burn window) has no event, for `pending_for` more; BUDGET_EXHAUSTED
    while the SLO window's budget is spent with at least `min_events` events.
    """

    kind: AlertKind
    labels: Mapping[str, str]
    min_events: int
    pending_for: timedelta
    repeat_interval: timedelta
    window: AlertWindow | None = None
    quiet_window: timedelta | None = None


def slo_alerts(slo: SLO, policy: AlertPolicy) -> tuple[SloAlert, ...]:
    """Every alert the SLO has under `policy`: burn-rate pairs of the kept severities, then no-data and
    budget-exhausted when the policy asks for them."""
    base = _slo_labels(slo)
    alerts = [
        SloAlert(AlertKind.BURN_RATE,
                 {**base, "alertname": BURN_RATE_ALERT, "severity": window.severity.value,
                  "long_window": format_duration(window.long_window),
                  "short_window": format_duration(window.short_window)},
                 policy.min_events, policy.pending_for, policy.repeat_interval, window=window)
        for window in slo.alert_windows
        if (policy.page if window.severity is Severity.PAGE else policy.ticket)
    ]
    if policy.no_data_after is not None:
        # The condition is "no events in the shortest burn window"; waiting out the
        # rest of `no_data_after` is the state machine's `for`, so no extra window is read.
        shortest = min(burn_windows(slo))
        alerts.append(SloAlert(AlertKind.NO_DATA,
                               {**base, "alertname": NO_DATA_ALERT, "severity": Severity.TICKET.value},
                               policy.min_events, max(policy.no_data_after - shortest, timedelta(0)),
                               policy.repeat_interval, quiet_window=shortest))
    if policy.budget_exhausted:
        alerts.append(SloAlert(AlertKind.BUDGET_EXHAUSTED,
                               {**base, "alertname": BUDGET_EXHAUSTED_ALERT, "severity": Severity.TICKET.value,
                                "window": str(slo.window)},
                               policy.min_events, policy.pending_for, policy.repeat_interval))
    return tuple(alerts)


def alert_conditions(status: SloStatus, policy: AlertPolicy) -> tuple[AlertCondition, ...]:
    """Every alert instance of the status's SLO, each with whether its condition holds now."""
    conditions = []
    for alert in slo_alerts(status.slo, policy):
        match alert.kind:
            case AlertKind.BURN_RATE:
                conditions.append(_burn_condition(status, alert))
            case AlertKind.NO_DATA:
                conditions.append(_no_data_condition(status, alert))
            case AlertKind.BUDGET_EXHAUSTED:
                conditions.append(_exhausted_condition(status, alert))
            case _:
                assert_never(alert.kind)
    return tuple(conditions)


def burning(status: SloStatus, window: AlertWindow, min_events: int) -> bool:
    """Whether the budget burns at least the pair's factor over both windows, with enough events.

    Events, not slices: under timeslice budgeting too, `min_events` counts the
    long window's events, and a short window without events does not burn.
    """
    if _events(status, window.long_window) < max(min_events, 1) or not _events(status, window.short_window):
        return False
    long_rate = status.burn_rate(window.long_window)
    short_rate = status.burn_rate(window.short_window)
    return (long_rate is not None and short_rate is not None
            and long_rate >= window.burn_factor and short_rate >= window.burn_factor)


def _burn_condition(status: SloStatus, alert: SloAlert) -> AlertCondition:
    slo, window, labels = status.slo, alert.window, alert.labels
    assert window is not None
    long_rate = status.burn_rate(window.long_window)
    short_rate = status.burn_rate(window.short_window)
    summary = (
        f"{slo.name} burns its error budget at {_rate(long_rate)} over {human_duration(window.long_window)} and "
        f"{_rate(short_rate)} over {human_duration(window.short_window)} (alert at {window.burn_factor:g}x); "
        f"{_budget_left(status)}"
    )
    return AlertCondition(
        labels=labels,
        annotations={
            "summary": summary,
            "burn_rate_long": _rate(long_rate),
            "burn_rate_short": _rate(short_rate),
            "burn_factor": f"{window.burn_factor:g}",
            "error_budget_remaining": _percent(status.error_budget_remaining),
            "time_to_exhaustion": _exhaustion(status.time_to_exhaustion),
        },
        active=burning(status, window, alert.min_events),
        pending_for=alert.pending_for,
        repeat_interval=alert.repeat_interval,
    )


def _no_data_condition(status: SloStatus, alert: SloAlert) -> AlertCondition:
    assert alert.quiet_window is not None
    after = alert.quiet_window + alert.pending_for
    return AlertCondition(
        labels=alert.labels,
        annotations={"summary": f"{status.slo.name} has received no events for {format_duration(after)}; "
                                "its SLI cannot be evaluated"},
        active=not _events(status, alert.quiet_window),
        pending_for=alert.pending_for,
        repeat_interval=alert.repeat_interval,
    )


def _exhausted_condition(status: SloStatus, alert: SloAlert) -> AlertCondition:
    # Only with enough events in the window: an empty window has no budget to exhaust.
    slo = status.slo
    remaining = status.error_budget_remaining
    return AlertCondition(
        labels=alert.labels,
        annotations={"summary": f"{slo.name} has used up its error budget over {slo.window}: "
                                f"{_budget_left(status)}",
                     "error_budget_remaining": _percent(remaining)},
        active=remaining is not None and remaining <= 0 and status.counts.total_events >= alert.min_events,
        pending_for=alert.pending_for,
        repeat_interval=alert.repeat_interval,
    )


def _slo_labels(slo: SLO) -> dict[str, str]:
    labels = {"slo": slo.name}
    service = _service(slo)
    if service is not None:
        labels["service"] = service
    return labels


def _service(slo: SLO) -> str | None:
    """The service an SLO is about, when its filter pins exactly one ServiceName."""
    for matcher in slo.indicator.filter:
        if (matcher.source is MatchSource.COLUMN and matcher.name == "ServiceName"
                and matcher.op in (MatchOp.EQ, MatchOp.IN) and len(matcher.values) == 1):
            return matcher.values[0]
    return None


def _events(status: SloStatus, window: timedelta) -> float:
    for rate in status.burn_rates:
        if rate.window == window:
            return rate.events.total_events
    raise KeyError(f"{status.slo.name}: no burn rate over {window}")


def _budget_left(status: SloStatus) -> str:
    if status.error_budget_remaining is None:
        return "no events in the SLO window"
    text = f"{_percent(status.error_budget_remaining)} of the error budget left"
    if status.error_budget_remaining <= 0:
        text += ", already exhausted"
    elif status.time_to_exhaustion is not None:
        text += f", exhausted in {_exhaustion(status.time_to_exhaustion)} at the last hour's rate"
    return text


def _rate(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.2f}x"


def _percent(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio * 100:.1f}%"


def _exhaustion(duration: timedelta | None) -> str:
    """Time to exhaustion for people (2d 3h, 45m); empty when the budget is not burning."""
    if duration is None:
        return ""
    return human_duration(duration)


