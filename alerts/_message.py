"""What every receiver format reads off a notification: its title, its links, its times. Pure.

The webhook (alerts._alertmanager), Slack (alerts._slack) and PagerDuty
(alerts._pagerduty) messages say the same things in their own shapes; what
they share is read here once, so that a Slack message and a PagerDuty
incident about one alert name it and link to it alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from alerts._rules import BUDGET_EXHAUSTED_ALERT, BURN_RATE_ALERT, NO_DATA_ALERT
from alerts._spend_rules import SPEND_BUDGET_ALERT
from alerts._state import Notification
from slo import SpendGroup

# How a message names an alert, by alertname: read as "Firing: <title>" and "Resolved: <title>".
_TITLES = {
    BURN_RATE_ALERT: "{subject} error budget burn",
    NO_DATA_ALERT: "{subject} has no data",
    BUDGET_EXHAUSTED_ALERT: "{subject} error budget exhausted",
    SPEND_BUDGET_ALERT: "{subject} at {level} of its cap",
}


@dataclass(frozen=True)
class Link:
    """A link a message carries: where it goes and what it says."""

    text: str
    url: str


def subject(labels: Mapping[str, str]) -> str:
    """What an alert is about: its SLO, or its spend budget and member (`per-user-daily for user alice`)."""
    if "slo" in labels:
        return labels["slo"]
    budget = labels.get("budget", labels.get("alertname", ""))
    member = next((f"{group.value} {labels[group.value]}" for group in SpendGroup if group.value in labels), None)
    return budget if member is None else f"{budget} for {member}"


def title(labels: Mapping[str, str]) -> str:
    """An alert's name for people: `checkout-availability error budget burn`, `daily at 80% of its cap`."""
    template = _TITLES.get(labels.get("alertname", ""), "{subject} {alertname}")
    return template.format_map({**labels, "subject": subject(labels)})


def generator_url(external_url: str, fingerprint: str) -> str:
    """Where AgentSLO shows the alert instance (Alertmanager's generatorURL)."""
    return f"{external_url.rstrip('/')}/api/v1/alerts?fingerprint={fingerprint}"


def links(notification: Notification, external_url: str) -> tuple[Link, ...]:
    """The alert's dashboard (the `dashboard` annotation, when grafana_url is set), then the alert in AgentSLO."""
    found = []
    dashboard = notification.annotations.get("dashboard")
    if dashboard:
        found.append(Link("SLO dashboard" if "slo" in notification.labels else "Spend dashboard", dashboard))
    found.append(Link("Alert in AgentSLO", generator_url(external_url, notification.fingerprint)))
    return tuple(found)


def rfc3339(moment: datetime) -> str:
    """A moment as Alertmanager writes it: UTC, seconds, fraction only when there is one, Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"
