"""The step the scheduler runs after each evaluation: statuses in, alert states and outbox entries out.

    alerting = Alerting(AlertStore(storage), receivers, policies=..., external_url=...)
    notifications = alerting.process(statuses, now)   # after run_cycle
    delivery.deliver_due(now)                          # sends what the outbox holds

Notifications are written to the outbox before the new states are saved: a
crash in between sends a notification again on the next cycle rather than
never (at least once, never lost).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from alerts._payload import encode, webhook_payload
from alerts._receiver import Receiver
from alerts._rules import AlertCondition, AlertPolicy, alert_conditions
from alerts._state import AlertState, Notification, advance
from alerts._store import AlertStore, OutboxEntry
from slo import SloStatus


@dataclass(frozen=True)
class AlertingResult:
    """What one alerting step did: the states after it and the notifications it queued."""

    states: Mapping[str, AlertState]
    notifications: tuple[Notification, ...]
    queued: tuple[OutboxEntry, ...]


class Alerting:
    """Turns SLO statuses into alert state changes and outbox entries, durably."""

    def __init__(self, store: AlertStore, receivers: Sequence[Receiver], *,
                 policies: Mapping[str, AlertPolicy] | None = None,
                 default_policy: AlertPolicy = AlertPolicy(), external_url: str) -> None:
        self._store = store
        self._receivers = tuple(receivers)
        self._policies = dict(policies or {})
        self._default = default_policy
        self._external_url = external_url

    def policy(self, slo_name: str) -> AlertPolicy:
        """The policy an SLO alerts by: its override, else the default."""
        return self._policies.get(slo_name, self._default)

    def conditions(self, statuses: Iterable[SloStatus]) -> tuple[AlertCondition, ...]:
        """Every alert instance's condition for these statuses."""
        return tuple(c for status in statuses for c in alert_conditions(status, self.policy(status.slo.name)))

    def process(self, statuses: Iterable[SloStatus], now: datetime) -> AlertingResult:
        """Advance every alert instance to `now`, queue the notifications owed, save the states."""
        previous = self._store.load_states()
        states, notifications = advance(previous, self.conditions(statuses), now)
        queued = tuple(self._entries(notifications))
        self._store.enqueue(queued)
        self._store.save_states(state for key, state in states.items() if previous.get(key) != state)
        return AlertingResult(states, notifications, queued)

    def _entries(self, notifications: Iterable[Notification]) -> Iterable[OutboxEntry]:
        for notification in notifications:
            for receiver in self._receivers:
                if not receiver.wants(notification.labels):
                    continue
                body = encode(webhook_payload([notification], receiver=receiver.name,
                                              external_url=self._external_url))
                yield OutboxEntry(
                    id=OutboxEntry.entry_id(receiver.name, notification.fingerprint, notification.status,
                                            notification.created_at),
                    receiver=receiver.name,
                    fingerprint=notification.fingerprint,
                    status=notification.status,
                    slo=notification.labels.get("slo", ""),
                    alertname=notification.labels.get("alertname", ""),
                    body=body,
                    created_at=notification.created_at,
                    next_attempt_at=notification.created_at,
                )
