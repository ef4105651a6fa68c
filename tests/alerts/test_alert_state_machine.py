"""Specification of the alert state machine: phases, and exactly which moves notify."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts import AlertCondition, NotificationStatus, Phase, advance, step
from tests.support.slo_status import NOW, M

LABELS = {"alertname": "SloErrorBudgetBurn", "slo": "checkout", "severity": "page"}
FIRING, RESOLVED = NotificationStatus.FIRING, NotificationStatus.RESOLVED


def run(timeline: list[tuple[int, bool]], *, pending_for: timedelta = timedelta(0),
        repeat_interval: timedelta = 60 * M) -> tuple[list[tuple[int, NotificationStatus]], Phase]:
    """Feed (minute, condition holds) steps through the machine; return (minute, notification) and the last phase."""
    state = None
    sent = []
    for minute, active in timeline:
        condition = AlertCondition(LABELS, {"summary": f"at {minute}"}, active, pending_for, repeat_interval)
        state, notification = step(state, condition, NOW + minute * M)
        if notification is not None:
            sent.append((minute, notification.status))
    assert state is not None
    return sent, state.phase


@pytest.mark.parametrize(
    ("timeline", "pending_for", "expected_sent", "expected_phase"),
    [
        pytest.param([(0, False), (1, False)], timedelta(0), [], Phase.INACTIVE, id="quiet stays inactive and silent"),
        pytest.param([(0, True)], timedelta(0), [(0, FIRING)], Phase.FIRING, id="without a for it fires at once"),
        pytest.param([(0, True), (1, True), (2, True)], timedelta(0), [(0, FIRING)], Phase.FIRING,
                     id="firing on is not notified again before the repeat interval"),
        pytest.param([(0, True), (1, True), (5, False)], timedelta(0), [(0, FIRING), (5, RESOLVED)],
                     Phase.RESOLVED, id="it resolves once, when the condition stops"),
        pytest.param([(0, True), (1, False), (2, False)], timedelta(0), [(0, FIRING), (1, RESOLVED)],
                     Phase.RESOLVED, id="resolved stays silent"),
        pytest.param([(0, True), (1, True)], 5 * M, [], Phase.PENDING, id="with a for it waits pending"),
        pytest.param([(0, True), (3, True), (5, True), (6, True)], 5 * M, [(5, FIRING)], Phase.FIRING,
                     id="held for the whole for, it fires"),
        pytest.param([(0, True), (3, False), (4, True), (8, True), (9, True)], 5 * M, [(9, FIRING)], Phase.FIRING,
                     id="a break while pending restarts the for"),
        pytest.param([(0, True), (3, False)], 5 * M, [], Phase.INACTIVE,
                     id="pending that stops goes back to inactive without a resolved notification"),
        pytest.param([(0, True), (59, True), (60, True), (61, True), (120, True)], timedelta(0),
                     [(0, FIRING), (60, FIRING), (120, FIRING)], Phase.FIRING,
                     id="still firing, it repeats every repeat interval"),
        pytest.param([(0, True), (1, False), (2, True), (3, False)], timedelta(0),
                     [(0, FIRING), (1, RESOLVED), (2, FIRING), (3, RESOLVED)], Phase.RESOLVED,
                     id="a resolved alert that holds again fires anew"),
    ],
)
def test_transitions(timeline, pending_for, expected_sent, expected_phase) -> None:
    assert run(timeline, pending_for=pending_for) == (expected_sent, expected_phase)


def test_a_notification_carries_when_the_alert_started_and_ended() -> None:
    condition = AlertCondition(LABELS, {}, True)
    state, firing = step(None, condition, NOW)
    state, _ = step(state, condition, NOW + 3 * M)
    _, resolved = step(state, AlertCondition(LABELS, {}, False), NOW + 7 * M)
    assert firing is not None and resolved is not None
    assert (firing.starts_at, firing.ends_at) == (NOW, None)
    assert (resolved.starts_at, resolved.ends_at, resolved.status) == (NOW, NOW + 7 * M, RESOLVED)
    assert resolved.fingerprint == firing.fingerprint == condition.fingerprint


def test_an_instance_whose_rule_disappeared_resolves() -> None:
    states, _ = advance({}, [AlertCondition(LABELS, {}, True)], NOW)
    states, notifications = advance(states, [], NOW + M)
    assert [n.status for n in notifications] == [RESOLVED]
    assert [s.phase for s in states.values()] == [Phase.RESOLVED]


def test_advance_keeps_each_instance_apart() -> None:
    other = {**LABELS, "severity": "ticket"}
    states, notifications = advance({}, [AlertCondition(LABELS, {}, True), AlertCondition(other, {}, False)], NOW)
    assert [dict(n.labels) for n in notifications] == [LABELS]
    assert sorted(s.phase.value for s in states.values()) == ["firing", "inactive"]
