"""Receivers: where notifications go, and which ones each takes. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Receiver:
    """A webhook endpoint and the alerts routed to it.

    It takes a notification whose severity is in `severities` and whose labels
    carry every name, value pair of `match`. `secret`, when set, signs each
    request (see alerts._alertmanager); it is the value, resolved from the
    environment when the config is loaded, as are the values of `headers`
    the config names in `headers_env` (an Authorization token, say).
    """

    name: str
    url: str
    secret: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0
    severities: frozenset[str] = frozenset({"page", "ticket"})
    match: Mapping[str, str] = field(default_factory=dict)

    def wants(self, labels: Mapping[str, str]) -> bool:
        """Whether a notification with `labels` is routed to this receiver."""
        if labels.get("severity") not in self.severities:
            return False
        return all(labels.get(name) == value for name, value in self.match.items())

    def __repr__(self) -> str:
        # Never print the secret or the headers, in logs or in test failures.
        return f"Receiver(name={self.name!r}, url={self.url!r}, signed={self.secret is not None})"
