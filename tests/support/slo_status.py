"""Builders for the alerts tests: an SLO, and its statuses with chosen burn rates."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from slo import (
    SLO,
    Availability,
    EventCounts,
    Events,
    Matcher,
    MatchOp,
    MatchSource,
    Occurrences,
    RollingWindow,
    SloStatus,
    burn_windows,
    occurrences_status,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)

CHECKOUT = SLO(
    name="checkout-availability",
    description="Checkout tasks succeed",
    target=0.999,
    window=RollingWindow(30 * D),
    budgeting=Occurrences(),
    indicator=Availability(Events.TASKS, (Matcher(MatchSource.COLUMN, "ServiceName", MatchOp.EQ, ("checkout",)),)),
)


def status(burn: Mapping[timedelta, float] | None = None, *, events: float = 10_000, slo: SLO = CHECKOUT,
           now: datetime = NOW, window_events: Mapping[timedelta, float] | None = None) -> SloStatus:
    """A status whose windows burn at `burn` (0 elsewhere), each with `events` events unless `window_events` says."""
    burn = burn or {}
    window_events = window_events or {}
    counts = {}
    for window in burn_windows(slo):
        total = window_events.get(window, events)
        bad = min(burn.get(window, 0.0) * slo.error_budget * total, total)
        counts[window] = EventCounts(total - bad, total)
    return occurrences_status(slo, now, EventCounts(1_000_000, 1_000_000), counts)
