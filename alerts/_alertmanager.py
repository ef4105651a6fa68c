"""Webhook messages: the Prometheus Alertmanager webhook JSON, and its signature. Pure.

Each message carries one notification (one alert instance firing or
resolved), in Alertmanager's webhook format version "4", so receivers written
for Alertmanager (PagerDuty, Slack bridges, incident tools) work unchanged:

    {"version": "4", "groupKey": "{}:{alertname=\\"SloErrorBudgetBurn\\", slo=\\"checkout\\"}",
     "truncatedAlerts": 0, "status": "firing", "receiver": "oncall",
     "groupLabels": {...}, "commonLabels": {...}, "commonAnnotations": {...},
     "externalURL": "http://agentslo:4318",
     "alerts": [{"status": "firing", "labels": {...}, "annotations": {...},
                 "startsAt": "2026-11-23T12:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                 "generatorURL": "http://agentslo:4318/api/v1/alerts", "fingerprint": "9c2a..."}]}

Signature. When the receiver has a secret, each request carries two headers:

    X-AgentSLO-Timestamp: 1795435200                  (Unix seconds at sending)
    X-AgentSLO-Signature: sha256=<hex of HMAC-SHA256(secret, timestamp + "." + body)>

To verify, a receiver recomputes the HMAC over the timestamp header's value, a
dot, and the raw request body bytes (before any JSON parsing), compares it in
constant time, and rejects a timestamp more than a few minutes from its clock
(a replay). `verify_signature` does exactly that::

    verify_signature(secret, body, timestamp=headers["X-AgentSLO-Timestamp"],
                     signature=headers["X-AgentSLO-Signature"], now=time.time())
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from alerts._state import Notification

TIMESTAMP_HEADER = "X-AgentSLO-Timestamp"
SIGNATURE_HEADER = "X-AgentSLO-Signature"
# How far a signed timestamp may be from the verifier's clock.
DEFAULT_TOLERANCE_S = 300
# Alertmanager's endsAt for an alert still firing: Go's zero time.
_NOT_ENDED = "0001-01-01T00:00:00Z"
# The labels a message's group is keyed on: one SLO's (or one spend budget's) alerts of one kind.
GROUP_BY = ("alertname", "slo", "budget")


def webhook_payload(notifications: Sequence[Notification], *, receiver: str, external_url: str) -> dict[str, Any]:
    """The Alertmanager webhook message (version 4) telling `receiver` about `notifications`.

    `notifications` share their group labels (alertname, slo or budget); the message is
    firing when any of them fires.
    """
    if not notifications:
        raise ValueError("a webhook message needs at least one notification")
    alerts = [_alert(n, external_url) for n in notifications]
    group = {name: notifications[0].labels[name] for name in GROUP_BY if name in notifications[0].labels}
    firing = any(alert["status"] == "firing" for alert in alerts)
    return {
        "version": "4",
        "groupKey": "{}:{" + ", ".join(f'{name}="{value}"' for name, value in group.items()) + "}",
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": receiver,
        "groupLabels": group,
        "commonLabels": _common([n.labels for n in notifications]),
        "commonAnnotations": _common([n.annotations for n in notifications]),
        "externalURL": external_url,
        "alerts": alerts,
    }


def encode(payload: Mapping[str, Any]) -> bytes:
    """The payload as the bytes sent (and signed): compact JSON, keys in payload order."""
    return orjson.dumps(payload)


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header's value: sha256=<hex HMAC-SHA256 of `timestamp.body` keyed by `secret`>."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signature_headers(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The two headers a signed request carries."""
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, body, timestamp)}


def verify_signature(secret: str, body: bytes, *, timestamp: str, signature: str, now: float,
                     tolerance_s: float = DEFAULT_TOLERANCE_S) -> bool:
    """Whether `signature` signs `body` at `timestamp` with `secret`, within `tolerance_s` of `now`."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{sent}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + expected, signature)


def rfc3339(moment: datetime) -> str:
    """A moment as Alertmanager writes it: UTC, seconds, fraction only when there is one, Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _alert(notification: Notification, external_url: str) -> dict[str, Any]:
    return {
        "status": notification.status.value,
        "labels": dict(sorted(notification.labels.items())),
        "annotations": dict(sorted(notification.annotations.items())),
        "startsAt": rfc3339(notification.starts_at),
        "endsAt": _NOT_ENDED if notification.ends_at is None else rfc3339(notification.ends_at),
        "generatorURL": f"{external_url.rstrip('/')}/api/v1/alerts?fingerprint={notification.fingerprint}",
        "fingerprint": notification.fingerprint,
    }


def _common(mappings: Sequence[Mapping[str, str]]) -> dict[str, str]:
    first = mappings[0]
    return {key: value for key, value in sorted(first.items())
            if all(other.get(key) == value for other in mappings[1:])}
