"""Alerts: multi-window burn-rate rules, their state machine, and delivery from a durable outbox.

The core is pure (`alert_conditions`, `spend_conditions`, `cap_members`, `advance`,
the messages of each receiver kind, `webhook_payload`, `slack_message` and
`pagerduty_event`, and the retry decision): values and `now` in, values out.
`Alerting` and `Delivery` are the edges, on Storage and on HTTP. After each
evaluation cycle::

    result = alerting.plan(statuses, now, spend=spend)   # the states and notifications owed
    write_status(storage, statuses, result.slo_alert_states)
    alerting.commit(result)                              # notifications in the outbox, states saved
    delivery.wake()                                      # the delivery loop sends them (and retries on its timer)

Receivers verify webhook signatures as `alerts._alertmanager`'s docstring describes
(`verify_signature` does it).
"""

from alerts._alerting import Alerting, AlertingResult, DashboardLinks
from alerts._delivery import DELIVERY_ID_HEADER, Delivery, DeliveryReport
from alerts._alertmanager import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    encode,
    signature,
    signature_headers,
    verify_signature,
    webhook_payload,
)
from alerts._formats import RECEIVER_KINDS, ReceiverKind, ReceiverSpec, receiver_kind
from alerts._pagerduty import EVENTS_URL as PAGERDUTY_EVENTS_URL
from alerts._pagerduty import pagerduty_event
from alerts._receiver import Receiver
from alerts._retry import DEFAULT_GIVE_UP_AFTER, RetryPolicy, Verdict, retryable
from alerts._rules import (
    BUDGET_EXHAUSTED_ALERT,
    BURN_RATE_ALERT,
    DEFAULT_REPEAT_INTERVAL,
    NO_DATA_ALERT,
    AlertCondition,
    AlertKind,
    AlertPolicy,
    SloAlert,
    alert_conditions,
    burning,
    fingerprint,
    slo_alerts,
)
from alerts._slack import slack_message
from alerts._spec import AlertingSpec, AlertsSpec
from alerts._spend_rules import SPEND_BUDGET_ALERT, CappedSpend, cap_members, spend_conditions
from alerts._state import AlertState, Notification, NotificationStatus, Phase, advance, step
from alerts._store import AlertStore, DeliveryState, OutboxEntry

__all__ = [
    "BUDGET_EXHAUSTED_ALERT",
    "BURN_RATE_ALERT",
    "DEFAULT_GIVE_UP_AFTER",
    "DEFAULT_REPEAT_INTERVAL",
    "DELIVERY_ID_HEADER",
    "NO_DATA_ALERT",
    "PAGERDUTY_EVENTS_URL",
    "RECEIVER_KINDS",
    "SIGNATURE_HEADER",
    "SPEND_BUDGET_ALERT",
    "TIMESTAMP_HEADER",
    "AlertCondition",
    "AlertKind",
    "AlertPolicy",
    "AlertState",
    "AlertStore",
    "Alerting",
    "AlertingResult",
    "AlertingSpec",
    "AlertsSpec",
    "CappedSpend",
    "DashboardLinks",
    "Delivery",
    "DeliveryReport",
    "DeliveryState",
    "Notification",
    "NotificationStatus",
    "OutboxEntry",
    "Phase",
    "Receiver",
    "ReceiverKind",
    "ReceiverSpec",
    "RetryPolicy",
    "SloAlert",
    "Verdict",
    "advance",
    "alert_conditions",
    "burning",
    "cap_members",
    "encode",
    "fingerprint",
    "pagerduty_event",
    "receiver_kind",
    "retryable",
    "signature",
    "signature_headers",
    "slack_message",
    "slo_alerts",
    "spend_conditions",
    "step",
    "verify_signature",
    "webhook_payload",
]
