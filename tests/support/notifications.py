"""Notifications as the service owes them, for the message tests of every receiver kind.

`slo_page()`: the checkout SLO's fast page firing at NOW and resolved 20 minutes later;
`spend_page()`: a per-user daily spend budget's 100% level firing. Both carry the
dashboard link that `alerts.grafana_url` adds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts import AlertPolicy, DashboardLinks, Notification, advance, alert_conditions, spend_conditions
from slo import SpendStatus, parse_spend_budgets, spend_budget_from_spec
from tests.support.slo_status import NOW, H, M, status

EXTERNAL_URL = "http://agentslo.example:4318"
LINKS = DashboardLinks("https://grafana.example.com", "agentslo-slos", "agentslo-spend")
DAY = datetime(2026, 3, 2, tzinfo=UTC)
USER_DAILY = spend_budget_from_spec(parse_spend_budgets(
    [{"name": "per-user-daily", "period": "day", "limit_usd": 5, "per": "user", "service": "support-agent"}],
    where="test")[0])


def slo_page() -> tuple[Notification, Notification]:
    """The fast page (1h and 5m) firing at NOW, then resolved 20 minutes later."""
    def page(burn_5m: float, now: datetime):
        return [LINKS.add_to(c) for c in alert_conditions(status({H: 15, 5 * M: burn_5m}, now=now), AlertPolicy())[:1]]

    states, fired = advance({}, page(20, NOW), NOW)
    _, resolved = advance(states, page(0, NOW + 20 * M), NOW + 20 * M)
    return fired[0], resolved[0]


def spend_page() -> Notification:
    """User alice's spend at 104% of a $5 daily cap: the 100% level's page."""
    at = DAY + timedelta(hours=7)
    conditions = [LINKS.add_to(c) for c in spend_conditions(SpendStatus(USER_DAILY, "alice", 5.2, at))]
    _, notifications = advance({}, conditions, at)
    return next(n for n in notifications if n.labels["level"] == "100%")
