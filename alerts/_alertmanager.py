"""The `webhook` receiver kind: the Prometheus Alertmanager webhook JSON, and its signature. Pure.

    receivers:
      - name: oncall
        url: https://hooks.example.com/agentslo
        secret_env: ONCALL_WEBHOOK_SECRET          # signs each request
        headers: {X-Team: payments}                # plain values only
        headers_env: {Authorization: ONCALL_TOKEN} # header -> the variable holding its value

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
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
from pydantic import field_validator, model_validator

from alerts._message import generator_url, rfc3339
from alerts._receiver import Receiver
from alerts._receiver_spec import NOT_A_VARIABLE, ReceiverSpecBase, http_url, is_variable_name, variable_name
from alerts._retry import Verdict, http_verdict
from alerts._state import Notification

TIMESTAMP_HEADER = "X-AgentSLO-Timestamp"
SIGNATURE_HEADER = "X-AgentSLO-Signature"
# How far a signed timestamp may be from the verifier's clock.
DEFAULT_TOLERANCE_S = 300
# Alertmanager's endsAt for an alert still firing: Go's zero time.
_NOT_ENDED = "0001-01-01T00:00:00Z"
# The labels a message's group is keyed on: one SLO's (or one spend budget's) alerts of one kind.
GROUP_BY = ("alertname", "slo", "budget")
# Header names that carry credentials, matched as parts of the name: their values come
# from the environment (headers_env), never from the file. Authorization and
# Proxy-Authorization (RFC 9110), Cookie, and the usual API key, token and session spellings.
_CREDENTIAL_HEADER_PARTS = ("auth", "cookie", "token", "secret", "key", "passw", "credential", "session",
                            "signature")


class WebhookReceiverSpec(ReceiverSpecBase):
    """A webhook receiver (`kind: webhook`, the default): Alertmanager's JSON to `url`, signed with the
    secret named by `secret_env`, with plain `headers` and the secret ones named in `headers_env`."""

    kind: Literal["webhook"] = "webhook"
    url: str
    secret_env: str | None = None
    headers: dict[str, str] = {}
    headers_env: dict[str, str] = {}

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        if urlsplit(http_url(url)).password:
            raise ValueError("must not contain a password; put a token in headers_env or sign with secret_env")
        return url

    @field_validator("secret_env")
    @classmethod
    def _check_env_name(cls, name: str | None) -> str | None:
        return None if name is None else variable_name(name)

    @field_validator("headers")
    @classmethod
    def _check_plain_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        credentials = [name for name in headers if any(part in name.lower() for part in _CREDENTIAL_HEADER_PARTS)]
        if credentials:
            raise ValueError(f"{', '.join(credentials)} may carry a credential; "
                             "name the environment variable that holds it in headers_env")
        return headers

    @field_validator("headers_env")
    @classmethod
    def _check_header_variables(cls, variables: dict[str, str]) -> dict[str, str]:
        values = [header for header, name in variables.items() if not is_variable_name(name)]
        if values:
            raise ValueError(f"{', '.join(values)}: {NOT_A_VARIABLE}")
        return variables

    @model_validator(mode="after")
    def _check_headers_set_once(self) -> WebhookReceiverSpec:
        plain = {name.lower() for name in self.headers}
        twice = [name for name in self.headers_env if name.lower() in plain]
        if twice:
            raise ValueError(f"headers {', '.join(twice)} set in both headers and headers_env")
        return self

    def variables(self) -> dict[str, str]:
        found = {} if self.secret_env is None else {"secret_env": self.secret_env}
        return found | {f"headers_env.{header}": name for header, name in self.headers_env.items()}

    def receiver(self, env: Mapping[str, str]) -> Receiver:
        return self._receiver(self.url, secret=None if self.secret_env is None else env[self.secret_env],
                              headers={**self.headers, **{header: env[name] for header, name in self.headers_env.items()}})


def render(notification: Notification, receiver: Receiver, external_url: str) -> bytes:
    """The body queued for a webhook receiver: the Alertmanager message of one notification."""
    return encode(webhook_payload([notification], receiver=receiver.name, external_url=external_url))


def request(receiver: Receiver, body: bytes, sent_at: int) -> tuple[dict[str, str], bytes]:
    """The headers and content sent: JSON, the receiver's headers, signed at `sent_at` when it has a secret."""
    headers = {"Content-Type": "application/json", **receiver.headers}
    if receiver.secret is not None:
        headers.update(signature_headers(receiver.secret, body, sent_at))
    return headers, body


def verdict(status_code: int | None, body: str) -> Verdict:
    """A webhook's answer is its status: 2xx received; no answer, 408, 425, 429 and 5xx retried; the rest refused."""
    return http_verdict(status_code)


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


def _alert(notification: Notification, external_url: str) -> dict[str, Any]:
    return {
        "status": notification.status.value,
        "labels": dict(sorted(notification.labels.items())),
        "annotations": dict(sorted(notification.annotations.items())),
        "startsAt": rfc3339(notification.starts_at),
        "endsAt": _NOT_ENDED if notification.ends_at is None else rfc3339(notification.ends_at),
        "generatorURL": generator_url(external_url, notification.fingerprint),
        "fingerprint": notification.fingerprint,
    }


def _common(mappings: Sequence[Mapping[str, str]]) -> dict[str, str]:
    first = mappings[0]
    return {key: value for key, value in sorted(first.items())
            if all(other.get(key) == value for other in mappings[1:])}
