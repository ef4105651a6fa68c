"""The `pagerduty` receiver kind: PagerDuty Events API v2 events. Pure.

    receivers:
      - name: pagerduty
        kind: pagerduty
        routing_key_env: PAGERDUTY_ROUTING_KEY   # the integration key of an Events API v2 integration
        severities: [page]

Events go to `url`, https://events.pagerduty.com/v2/enqueue unless set
(https://events.eu.pagerduty.com/v2/enqueue for an EU account). A firing
notification is a `trigger` event, a resolved one a `resolve` event, both with
the alert instance's fingerprint as `dedup_key`: PagerDuty opens one alert per
instance, folds repeated triggers into it, and the resolve closes it::

    {"event_action": "trigger", "dedup_key": "e8628870a69916ba",
     "payload": {"summary": "checkout-availability burns its error budget at 15.00x over 1h and ...",
                 "timestamp": "2026-11-23T12:00:00Z", "severity": "critical", "source": "checkout",
                 "component": "checkout-availability", "group": "slo", "class": "SloErrorBudgetBurn",
                 "custom_details": {"labels": {...}, "annotations": {...}}},
     "client": "AgentSLO", "client_url": "http://agentslo.example:4318",
     "links": [{"href": "https://grafana.example.com/d/...", "text": "SLO dashboard"}, ...]}
    {"event_action": "resolve", "dedup_key": "e8628870a69916ba"}

The payload's fields, from the alert:

| field          | value                                                                      |
|----------------|----------------------------------------------------------------------------|
| summary        | the `summary` annotation, clipped to PagerDuty's 1024 characters           |
| timestamp      | when the alert started firing (startsAt)                                   |
| severity       | `critical` for a page, `warning` for a ticket                              |
| source         | the `service` label; else the host of `alerts.external_url`               |
| component      | the SLO, or the spend budget                                               |
| group          | `slo` or `spend`                                                           |
| class          | the alertname (SloErrorBudgetBurn, SloNoData, SloErrorBudgetExhausted, SpendBudget) |
| custom_details | every label and annotation                                                 |

The routing key is added when the event is sent, like a webhook's signature:
the outbox keeps the event without it, so no credential is stored.

Answers, as PagerDuty's Events API v2 reference lists them: 202 accepted; 400
an invalid event, refused for good (sending it again is refused again); 429
too many events and 5xx, retried with backoff, as is no answer at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, assert_never
from urllib.parse import urlsplit

import orjson
from pydantic import field_validator

from alerts._message import clip, links, rfc3339
from alerts._receiver import Receiver
from alerts._receiver_spec import ReceiverSpecBase, http_url, variable_name
from alerts._retry import Verdict, http_verdict
from alerts._state import Notification, NotificationStatus
from slo import Severity

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
# PagerDuty's limit on payload.summary.
SUMMARY_LIMIT = 1024
CLIENT = "AgentSLO"


class PagerDutyReceiverSpec(ReceiverSpecBase):
    """A PagerDuty service (`kind: pagerduty`): events to `url`, with the routing key `routing_key_env` names."""

    kind: Literal["pagerduty"]
    routing_key_env: str
    url: str = EVENTS_URL

    @field_validator("routing_key_env")
    @classmethod
    def _check_env_name(cls, name: str) -> str:
        return variable_name(name)

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        return http_url(url)

    def variables(self) -> dict[str, str]:
        return {"routing_key_env": self.routing_key_env}

    def check_value(self, path: str, value: str) -> str | None:
        return "is empty" if not value.strip() else None

    def receiver(self, env: Mapping[str, str]) -> Receiver:
        return self._receiver(self.url, secret=env[self.routing_key_env].strip())


def pagerduty_event(notification: Notification, *, external_url: str) -> dict[str, Any]:
    """The Events API v2 event for `notification`, without its routing key: a trigger while it fires, else a
    resolve."""
    if notification.status is NotificationStatus.RESOLVED:
        return {"event_action": "resolve", "dedup_key": notification.fingerprint}
    labels, annotations = notification.labels, notification.annotations
    return {
        "event_action": "trigger",
        "dedup_key": notification.fingerprint,
        "payload": {
            "summary": clip(annotations.get("summary") or labels.get("alertname", ""), SUMMARY_LIMIT),
            "timestamp": rfc3339(notification.starts_at),
            "severity": severity(Severity(labels["severity"])),
            "source": labels.get("service") or urlsplit(external_url).hostname or CLIENT,
            "component": labels.get("slo") or labels.get("budget", ""),
            "group": "slo" if "slo" in labels else "spend",
            "class": labels.get("alertname", ""),
            "custom_details": {"labels": dict(sorted(labels.items())),
                               "annotations": dict(sorted(annotations.items()))},
        },
        "client": CLIENT,
        "client_url": external_url,
        "links": [{"href": link.url, "text": link.text} for link in links(notification, external_url)],
    }


def severity(of: Severity) -> str:
    """PagerDuty's severity of an alert's: a page is `critical` (it wakes someone), a ticket `warning`."""
    match of:
        case Severity.PAGE:
            return "critical"
        case Severity.TICKET:
            return "warning"
        case _:
            assert_never(of)


def render(notification: Notification, receiver: Receiver, external_url: str) -> bytes:
    """The body queued for a PagerDuty receiver: the event without its routing key, compact JSON."""
    return orjson.dumps(pagerduty_event(notification, external_url=external_url))


def request(receiver: Receiver, body: bytes, sent_at: int) -> tuple[dict[str, str], bytes]:
    """The headers and content sent: the queued event with the receiver's routing key first."""
    return {"Content-Type": "application/json"}, orjson.dumps({"routing_key": receiver.secret, **orjson.loads(body)})


def verdict(status_code: int | None, body: str) -> Verdict:
    """PagerDuty's answer is its status: 2xx (202) accepted; no answer, 429 and 5xx retried (and 408 and 425,
    a proxy's timeouts); 400 and the other statuses refused."""
    return http_verdict(status_code)
