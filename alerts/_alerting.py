"""The step the evaluation pipeline runs after each evaluation: statuses in, alert states and outbox entries out.

    alerting = Alerting(AlertStore(storage), receivers, policies=..., external_url=...)
    result = alerting.plan(statuses, now, spend=spend)      # reads the states; writes nothing
    write_status(storage, statuses, result.slo_alert_states)
    alerting.commit(result)                                  # queues the notifications, saves the states
    delivery.wake()                                          # the delivery loop sends them

Notifications are written to the outbox before the new states are saved: a
crash in between sends a notification again on the next cycle rather than
never (at least once, never lost). Times are kept to the millisecond, as
stored, so that an alert's startsAt is the same in every message about it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import quote

from alerts._formats import receiver_kind
from alerts._receiver import Receiver
from alerts._rules import NO_DATA_ALERT, AlertCondition, AlertPolicy, alert_conditions
from alerts._spend_rules import cap_members, spend_conditions
from alerts._state import AlertState, Notification, Phase, advance
from alerts._store import AlertStore, OutboxEntry
from slo import SloStatus, SpendStatus


@dataclass(frozen=True)
class AlertingResult:
    """What one alerting step did: the states after it and the notifications it queued."""

    states: Mapping[str, AlertState]
    notifications: tuple[Notification, ...]
    queued: tuple[OutboxEntry, ...]
    previous: Mapping[str, AlertState] = field(default_factory=dict)

    @property
    def changed(self) -> tuple[AlertState, ...]:
        """The states to save: those that changed, except instances that never held.

        An instance that never held has nothing to remember: not writing it keeps
        every member of a group budget from costing a row each cycle.
        """
        return tuple(state for key, state in self.states.items()
                     if self.previous.get(key) != state and (key in self.previous or state.phase is not Phase.INACTIVE))

    @property
    def slo_alert_states(self) -> dict[str, str]:
        """Each SLO's loudest alert after this step, for slo_status.AlertState (`loudest_alert_states`)."""
        return loudest_alert_states(self.states.values())


def loudest_alert_states(states: Iterable[AlertState]) -> dict[str, str]:
    """Each SLO's loudest alert among `states`, for slo_status.AlertState.

    `page` or `ticket` when a burn-rate (or budget-exhausted) alert of that
    severity fires, `no_data` when only the no-data alert does, `pending`
    while one waits out its `for`; SLOs with none are absent ('' in slo_status).
    """
    loudest: dict[str, str] = {}
    for state in states:
        slo = state.labels.get("slo")
        if slo is None or state.phase not in (Phase.FIRING, Phase.PENDING):
            continue
        if state.phase is Phase.PENDING:
            value = "pending"
        elif state.labels.get("alertname") == NO_DATA_ALERT:
            value = "no_data"
        else:
            value = state.labels.get("severity", "ticket")
        if _LOUDNESS[value] > _LOUDNESS[loudest.get(slo, "")]:
            loudest[slo] = value
    return loudest


# slo_status.AlertState values, quietest first.
_LOUDNESS = {"": 0, "pending": 1, "no_data": 2, "ticket": 3, "page": 4}


class Alerting:
    """Turns SLO statuses into alert state changes and outbox entries, durably."""

    def __init__(self, store: AlertStore, receivers: Sequence[Receiver], *,
                 policies: Mapping[str, AlertPolicy] | None = None,
                 default_policy: AlertPolicy = AlertPolicy(), external_url: str,
                 dashboard_links: DashboardLinks | None = None) -> None:
        self._store = store
        self._receivers = tuple(receivers)
        self._policies = dict(policies or {})
        self._default = default_policy
        self._external_url = external_url
        self._links = dashboard_links

    def policy(self, slo_name: str) -> AlertPolicy:
        """The policy an SLO alerts by: its override, else the default."""
        return self._policies.get(slo_name, self._default)

    def conditions(self, statuses: Iterable[SloStatus],
                   spend: Iterable[SpendStatus] = ()) -> tuple[AlertCondition, ...]:
        """Every alert instance's condition for these SLO statuses and spend-budget scopes (of a group
        budget, its `max_members` top spenders')."""
        conditions = [c for status in statuses for c in alert_conditions(status, self.policy(status.slo.name))]
        conditions += [c for status in cap_members(spend).alerted for c in spend_conditions(status)]
        if self._links is not None:
            conditions = [self._links.add_to(c) for c in conditions]
        return tuple(conditions)

    def plan(self, statuses: Iterable[SloStatus], now: datetime, *,
             spend: Iterable[SpendStatus] = ()) -> AlertingResult:
        """Every alert instance advanced to `now` and the outbox entries owed, from the saved states.

        Reads storage, writes nothing: `commit` does.
        """
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # the precision states are stored with
        previous = self._store.load_states()
        states, notifications = advance(previous, self.conditions(statuses, spend), now)
        return AlertingResult(states, notifications, tuple(self._entries(notifications)), previous)

    def saved_slo_alert_states(self) -> dict[str, str]:
        """Each SLO's loudest alert as the saved states have it: what the last committed step left."""
        return loudest_alert_states(self._store.load_states().values())

    def commit(self, result: AlertingResult) -> None:
        """Queue the planned notifications, then save the changed states."""
        self._store.enqueue(result.queued)
        self._store.save_states(result.changed)

    def process(self, statuses: Iterable[SloStatus], now: datetime, *,
                spend: Iterable[SpendStatus] = ()) -> AlertingResult:
        """`plan` then `commit`: advance every alert instance to `now`, queue what is owed, save the states."""
        result = self.plan(statuses, now, spend=spend)
        self.commit(result)
        return result

    def _entries(self, notifications: Iterable[Notification]) -> Iterable[OutboxEntry]:
        for notification in notifications:
            for receiver in self._receivers:
                kind = receiver_kind(receiver)
                if not receiver.wants(notification.labels) or (notification.quiet and not kind.closes_incidents):
                    continue
                # Written now, in the receiver's format, and kept: every attempt sends this body.
                body = kind.render(notification, receiver, self._external_url)
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


@dataclass(frozen=True)
class DashboardLinks:
    """Where a receiver's reader clicks through: the Grafana dashboards of SLOs and of spend.

    Adds a `dashboard` annotation: the SLO dashboard showing the alert's SLO,
    or the Spend dashboard for a spend budget. The uids are the dashboards
    package's (`dashboards.SLO_DASHBOARD_UID`), passed in by the service.
    """

    grafana_url: str
    slo_dashboard_uid: str
    spend_dashboard_uid: str

    def add_to(self, condition: AlertCondition) -> AlertCondition:
        """The condition with its dashboard link among its annotations."""
        base = self.grafana_url.rstrip("/")
        slo = condition.labels.get("slo")
        if slo is not None:
            url = f"{base}/d/{self.slo_dashboard_uid}?var-slo={quote(slo, safe='')}"
        elif "budget" in condition.labels:
            url = f"{base}/d/{self.spend_dashboard_uid}"
        else:
            return condition
        return replace(condition, annotations={**condition.annotations, "dashboard": url})
