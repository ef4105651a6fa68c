"""The alert state machine, one per alert instance. Pure: `now` comes in as a value.

    inactive --condition--> pending --held for `for`--> firing --condition stops--> resolved
        ^                      |                          |  ^                        |
        +----condition stops---+                          +--+ repeat after           +--> pending/firing
                                                           repeat_interval               when it holds again

Notifications come only from transitions: one when an instance starts firing,
one when it resolves (unless its rule says not to), and a repeat of the firing
one each `repeat_interval` while it keeps firing (unless its rule has none). A pending instance whose condition stops goes back to
inactive silently: nobody was told. An instance whose rule disappeared (its SLO
or tier removed from the config) is treated as no longer holding.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from alerts._rules import AlertCondition


class Phase(enum.Enum):
    """Where an alert instance is in its life."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class AlertState:
    """An alert instance's state: its phase and the moments that make up its history.

    `active_since` is when the condition last started holding (the start of
    pending); `fired_at` when it last started firing (Alertmanager's startsAt);
    `resolved_at` when it last resolved; `notified_at` when a firing
    notification last went out, to time repeats. `send_resolved` is its rule's:
    kept with the state so that an instance whose rule vanished (a spend
    budget's member with no spend in a new period) resolves as its rule says.
    """

    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    phase: Phase = Phase.INACTIVE
    active_since: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    notified_at: datetime | None = None
    send_resolved: bool = True


class NotificationStatus(enum.Enum):
    """What a notification says, in Alertmanager's words."""

    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Notification:
    """A message owed to receivers: an instance fired (or still fires, on repeat) or resolved.

    `ends_at` is None while firing; `created_at` is the evaluation that produced it.
    `quiet`: a resolution its rule does not announce (`send_resolved` false), owed only
    to receivers that keep incidents open until told (ReceiverKind.closes_incidents).
    """

    fingerprint: str
    status: NotificationStatus
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None
    created_at: datetime
    quiet: bool = False


def step(state: AlertState | None, condition: AlertCondition, now: datetime,
         ) -> tuple[AlertState, Notification | None]:
    """The instance's next state given its condition as of `now`, and the notification the move owes."""
    if state is None:
        state = AlertState(condition.fingerprint, condition.labels, condition.annotations)
    state = replace(state, labels=condition.labels, annotations=condition.annotations,
                    send_resolved=condition.send_resolved)
    if condition.active:
        return _holding(state, condition, now)
    return _not_holding(state, now)


def advance(states: Mapping[str, AlertState], conditions: Iterable[AlertCondition], now: datetime,
            ) -> tuple[dict[str, AlertState], tuple[Notification, ...]]:
    """Step every instance: those with a condition by it, those without as no longer holding.

    Returns the new states by fingerprint (unchanged ones included) and the
    notifications owed, in the order of `conditions`, vanished instances last.
    """
    new_states: dict[str, AlertState] = {}
    notifications: list[Notification] = []
    for condition in conditions:
        state, notification = step(states.get(condition.fingerprint), condition, now)
        new_states[condition.fingerprint] = state
        if notification is not None:
            notifications.append(notification)
    for key, state in states.items():
        if key in new_states:
            continue
        state, notification = _not_holding(state, now)
        new_states[key] = state
        if notification is not None:
            notifications.append(notification)
    return new_states, tuple(notifications)


def _holding(state: AlertState, condition: AlertCondition, now: datetime) -> tuple[AlertState, Notification | None]:
    match state.phase:
        case Phase.INACTIVE | Phase.RESOLVED:
            pending = replace(state, phase=Phase.PENDING, active_since=now)
            if condition.pending_for <= timedelta(0):
                return _fire(pending, now)
            return pending, None
        case Phase.PENDING:
            assert state.active_since is not None
            if now - state.active_since >= condition.pending_for:
                return _fire(state, now)
            return state, None
        case Phase.FIRING:
            assert state.notified_at is not None and state.fired_at is not None
            if condition.repeat_interval is not None and now - state.notified_at >= condition.repeat_interval:
                return replace(state, notified_at=now), _firing(state, now)
            return state, None


def _not_holding(state: AlertState, now: datetime) -> tuple[AlertState, Notification | None]:
    match state.phase:
        case Phase.PENDING:
            return replace(state, phase=Phase.INACTIVE, active_since=None), None
        case Phase.FIRING:
            assert state.fired_at is not None
            resolved = replace(state, phase=Phase.RESOLVED, resolved_at=now, active_since=None)
            return resolved, Notification(state.fingerprint, NotificationStatus.RESOLVED, state.labels,
                                          state.annotations, state.fired_at, now, now,
                                          quiet=not state.send_resolved)
    return state, None


def _fire(state: AlertState, now: datetime) -> tuple[AlertState, Notification]:
    firing = replace(state, phase=Phase.FIRING, fired_at=now, resolved_at=None, notified_at=now)
    return firing, _firing(firing, now)


def _firing(state: AlertState, now: datetime) -> Notification:
    assert state.fired_at is not None
    return Notification(state.fingerprint, NotificationStatus.FIRING, state.labels, state.annotations,
                        state.fired_at, None, now)
