"""Receivers: where notifications go, and which ones each takes. Pure.

A receiver's `kind` (alerts._formats) says how its messages are written, sent
and answered: `webhook` (the Alertmanager format), `slack`, `pagerduty`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Receiver:
    """An endpoint of one kind and the alerts routed to it.

    It takes a notification whose severity is in `severities` and whose labels
    carry every name, value pair of `match`. `secret` is the credential its
    kind sends: a webhook's signing key (see alerts._alertmanager), PagerDuty's
    routing key; a Slack incoming webhook's credential is its `url`. Secrets
    and the values of `headers` the config names in `headers_env` (an
    Authorization token, say) are read from the environment when the config
    is loaded.
    """

    name: str
    url: str
    secret: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0
    severities: frozenset[str] = frozenset({"page", "ticket"})
    match: Mapping[str, str] = field(default_factory=dict)
    kind: str = "webhook"

    def wants(self, labels: Mapping[str, str]) -> bool:
        """Whether a notification with `labels` is routed to this receiver."""
        if labels.get("severity") not in self.severities:
            return False
        return all(labels.get(name) == value for name, value in self.match.items())

    def redact(self, text: str) -> str:
        """`text` (an error to log or record) without this receiver's secret and URL (a Slack incoming
        webhook's URL is its credential)."""
        for credential in (self.url, self.secret):
            if credential:
                text = text.replace(credential, "<redacted>")
        return text

    def __repr__(self) -> str:
        # Never print the secret, the headers or the URL's path (a Slack webhook's path is its credential),
        # in logs or in test failures.
        parts = urlsplit(self.url)
        origin = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return (f"Receiver(name={self.name!r}, kind={self.kind!r}, url='{origin}/…', "
                f"secret={'set' if self.secret is not None else None})")
