"""Webhook delivery: sends the outbox's due entries to their receivers with httpx. The I/O edge.

Each pass (`deliver_due`) reads the pending entries from storage, so entries
written before a restart are sent after it. An entry is sent when its
`next_attempt_at` has come; a failed attempt schedules the next one by the
retry policy (exponential backoff, full jitter) or gives the entry up once it
is older than the give-up age. Receivers are served in parallel; one that
fails is skipped for the rest of the pass, leaving the others unaffected, and
one that hangs holds up only its own notifications; an alert's entry that is
not due holds back that alert's later ones, so a resolved notification never
overtakes its firing one.

    delivery = Delivery(store, receivers, registry=registry)
    delivery.deliver_due(datetime.now(UTC))
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime

import httpx
from prometheus_client import CollectorRegistry, Counter

from alerts._payload import signature_headers
from alerts._receiver import Receiver
from alerts._retry import RetryPolicy, retryable
from alerts._store import AlertStore, DeliveryState, OutboxEntry

log = logging.getLogger("agentslo.alerts")

_USER_AGENT = "AgentSLO-Alerts/1"
# Receivers served at once in a pass; more wait for a free thread.
_MAX_PARALLEL_RECEIVERS = 8


@dataclass(frozen=True)
class DeliveryReport:
    """What one pass did, by entry count."""

    delivered: int = 0
    failed: int = 0
    given_up: int = 0
    waiting: int = 0

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(self.delivered + other.delivered, self.failed + other.failed,
                              self.given_up + other.given_up, self.waiting + other.waiting)


class Delivery:
    """Sends pending outbox entries to their webhook receivers.

    `transport` replaces the network (e.g. `httpx.MockTransport`) where a test
    needs no real receiver.
    """

    def __init__(self, store: AlertStore, receivers: Sequence[Receiver], *, registry: CollectorRegistry,
                 retry: RetryPolicy = RetryPolicy(), transport: httpx.BaseTransport | None = None) -> None:
        self._store = store
        self._receivers = {receiver.name: receiver for receiver in receivers}
        self._retry = retry
        self._client = httpx.Client(transport=transport, headers={"User-Agent": _USER_AGENT},
                                    follow_redirects=False)
        self._attempts = Counter("agentslo_alert_delivery_attempts", "Webhook delivery attempts.",
                                 ["receiver"], registry=registry)
        self._failures = Counter("agentslo_alert_delivery_failures", "Webhook delivery attempts that failed.",
                                 ["receiver"], registry=registry)
        self._given_up = Counter("agentslo_alert_deliveries_given_up",
                                 "Webhook notifications abandoned: refused, or past the give-up age.",
                                 ["receiver"], registry=registry)

    def deliver_due(self, now: datetime) -> DeliveryReport:
        """Try every pending entry due at `now`, at most once each; return what happened.

        Each receiver's entries go out in a thread of their own, so a receiver
        that hangs until its timeout delays nobody else's notifications.
        """
        by_receiver: dict[str, list[OutboxEntry]] = {}
        for entry in self._store.pending():
            by_receiver.setdefault(entry.receiver, []).append(entry)
        if not by_receiver:
            return DeliveryReport()
        with ThreadPoolExecutor(max_workers=min(len(by_receiver), _MAX_PARALLEL_RECEIVERS),
                                thread_name_prefix="alert-delivery") as pool:
            return sum(pool.map(lambda item: self._deliver_to(*item, now), by_receiver.items()), DeliveryReport())

    def _deliver_to(self, name: str, entries: list[OutboxEntry], now: datetime) -> DeliveryReport:
        """One receiver's due entries, oldest first, until one fails: the rest wait for the next pass."""
        receiver = self._receivers.get(name)
        if receiver is None:
            # Removed from the config: nobody to deliver to any more.
            for entry in entries:
                self._given_up.labels(name).inc()
                self._finish(entry, DeliveryState.GIVEN_UP, now, "receiver no longer configured")
            return DeliveryReport(given_up=len(entries))
        delivered = failed = given_up = waiting = 0
        failing = False
        # An alert's notifications reach a receiver in order: one not yet due holds back the later ones.
        held: set[str] = set()
        for entry in entries:
            due = entry.next_attempt_at is None or entry.next_attempt_at <= now
            if not due or failing or entry.fingerprint in held:
                held.add(entry.fingerprint)
                waiting += 1
                continue
            error, status_code = self._send(receiver, entry, now)
            if error is None:
                self._finish(entry, DeliveryState.DELIVERED, now, "")
                delivered += 1
                continue
            failed += 1
            failing = True
            if self._retry_later(entry, now, error, status_code):
                waiting += 1
            else:
                given_up += 1
        return DeliveryReport(delivered, failed, given_up, waiting)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def _send(self, receiver: Receiver, entry: OutboxEntry, now: datetime) -> tuple[str | None, int | None]:
        """POST the entry; return (None, status) on success, else (the reason, the status if any)."""
        headers = {"Content-Type": "application/json", **receiver.headers}
        if receiver.secret is not None:
            headers.update(signature_headers(receiver.secret, entry.body, int(now.timestamp())))
        self._attempts.labels(receiver.name).inc()
        try:
            response = self._client.post(receiver.url, content=entry.body, headers=headers,
                                         timeout=receiver.timeout_s)
        except httpx.HTTPError as exc:
            self._failures.labels(receiver.name).inc()
            log.warning("alert delivery to %s failed: %s", receiver.name, exc)
            return f"{type(exc).__name__}: {exc}", None
        if response.is_success:
            return None, response.status_code
        self._failures.labels(receiver.name).inc()
        log.warning("alert delivery to %s answered %d", receiver.name, response.status_code)
        return f"HTTP {response.status_code}: {response.text[:200]}", response.status_code

    def _retry_later(self, entry: OutboxEntry, now: datetime, error: str, status_code: int | None) -> bool:
        attempts = entry.attempts + 1
        at = None
        if retryable(status_code):
            at = self._retry.next_attempt(created_at=entry.created_at, attempts=attempts, now=now)
        if at is None:
            self._given_up.labels(entry.receiver).inc()
            self._store.record(replace(entry, state=DeliveryState.GIVEN_UP, attempts=attempts,
                                       last_attempt_at=now, last_error=error))
            return False
        self._store.record(replace(entry, attempts=attempts, next_attempt_at=at, last_attempt_at=now,
                                   last_error=error))
        return True

    def _finish(self, entry: OutboxEntry, state: DeliveryState, now: datetime, error: str) -> None:
        attempted = state is DeliveryState.DELIVERED
        self._store.record(replace(entry, state=state, attempts=entry.attempts + attempted,
                                   last_attempt_at=now if attempted else entry.last_attempt_at,
                                   last_error=error))
