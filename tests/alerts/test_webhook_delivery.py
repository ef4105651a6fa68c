"""Delivery end to end: SLO statuses -> alert states -> durable outbox -> a real loopback HTTP receiver."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import orjson
import pytest
from prometheus_client import CollectorRegistry

from alerts import (
    DELIVERY_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Alerting,
    AlertPolicy,
    AlertStore,
    Delivery,
    DeliveryReport,
    DeliveryState,
    Phase,
    Receiver,
    RetryPolicy,
    verify_signature,
)
from ground.storage import SLO_STATUS, Storage
from slo.engine import write_status
from tests.support.clock import Clock
from tests.support.slo_status import NOW, D, H, M, status
from tests.support.webhook_receiver import WebhookReceiver

SECRET = "s3cret"
EXTERNAL_URL = "http://agentslo.test:4318"
QUICK_RETRY = RetryPolicy(wait=lambda attempts: 30.0, give_up_after=timedelta(hours=1))
OUTAGE = status({H: 15, 5 * M: 20})


def recovered(now):
    return status({H: 15, 5 * M: 0}, now=now)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    hook.stop()


class Sender:
    """A Delivery on a hand-set clock: `deliver_due(now)` runs one pass as of `now`."""

    def __init__(self, delivery: Delivery, clock: Clock) -> None:
        self.delivery, self.clock = delivery, clock

    def deliver_due(self, now: datetime) -> DeliveryReport:
        self.clock.set(now)
        return asyncio.run(self.delivery.deliver_due())


def setup(store: Storage, receivers: list[Receiver], *, retry: RetryPolicy = QUICK_RETRY,
          registry: CollectorRegistry | None = None) -> tuple[Alerting, Sender, CollectorRegistry]:
    registry = registry or CollectorRegistry()
    alert_store = AlertStore(store)
    alerting = Alerting(alert_store, receivers, default_policy=AlertPolicy(ticket=False), external_url=EXTERNAL_URL)
    clock = Clock(NOW)
    return alerting, Sender(Delivery(alert_store, receivers, registry=registry, retry=retry, clock=clock), clock), registry


def statuses_of(received) -> list[str]:
    return [r.json()["status"] for r in received]


def test_an_outage_pages_once_signed_and_its_end_resolves_once(store: Storage, receiver: WebhookReceiver) -> None:
    receiver.start()
    oncall = Receiver("oncall", receiver.url, secret=SECRET, severities=frozenset({"page"}))
    alerting, delivery, _ = setup(store, [oncall])
    for minute in (0, 1, 2):
        now = NOW + minute * M
        alerting.process([status({H: 15, 5 * M: 20}, now=now)], now)
        delivery.deliver_due(now)
    alerting.process([recovered(NOW + 3 * M)], NOW + 3 * M)
    delivery.deliver_due(NOW + 3 * M)

    assert statuses_of(receiver.received) == ["firing", "resolved"]
    first = receiver.received[0]
    assert first.json()["alerts"][0]["labels"]["long_window"] == "1h"
    assert first.json()["receiver"] == "oncall"
    assert first.headers["Content-Type"] == "application/json"
    assert verify_signature(SECRET, first.body, timestamp=first.headers[TIMESTAMP_HEADER],
                            signature=first.headers[SIGNATURE_HEADER], now=NOW.timestamp())


def test_a_receiver_down_at_first_still_gets_exactly_one_firing_and_one_resolved(
        store: Storage, receiver: WebhookReceiver) -> None:
    up = WebhookReceiver().start()
    try:
        receivers = [Receiver("flaky", receiver.url), Receiver("steady", up.url)]
        alerting, delivery, registry = setup(store, receivers)
        alerting.process([OUTAGE], NOW)
        delivery.deliver_due(NOW)
        alerting.process([recovered(NOW + M)], NOW + M)
        delivery.deliver_due(NOW + M)
        assert statuses_of(up.received) == ["firing", "resolved"], "one receiver down does not block the other"

        receiver.start()
        delivery.deliver_due(NOW + M + timedelta(seconds=10))
        assert receiver.received == [], "the firing one waits out its backoff, and the resolved one waits for it"
        report = delivery.deliver_due(NOW + 5 * M)
        delivery.deliver_due(NOW + 10 * M)
    finally:
        up.stop()

    assert statuses_of(receiver.received) == ["firing", "resolved"]
    assert report.delivered == 2
    assert registry.get_sample_value("agentslo_alert_delivery_failures_total", {"receiver": "flaky"}) >= 1
    assert registry.get_sample_value("agentslo_alert_delivery_attempts_total", {"receiver": "steady"}) == 2


def test_the_outbox_survives_a_restart(store: Storage, receiver: WebhookReceiver) -> None:
    receivers = [Receiver("oncall", receiver.url)]
    alerting, delivery, _ = setup(store, receivers)
    alerting.process([OUTAGE], NOW)
    delivery.deliver_due(NOW)  # receiver down

    receiver.start()
    alerting, restarted, _ = setup(store, receivers)
    alerting.process([OUTAGE], NOW + M)  # the persisted state is firing: nothing new is queued
    restarted.deliver_due(NOW + 5 * M)

    assert statuses_of(receiver.received) == ["firing"]
    assert [e.state for e in AlertStore(store).recent()] == [DeliveryState.DELIVERED]


def test_states_are_persisted_except_instances_that_never_held(store: Storage) -> None:
    alerting, _, _ = setup(store, [])
    result = alerting.process([OUTAGE], NOW)
    assert sorted(s.phase.value for s in result.states.values()) == ["firing", "inactive"]
    states = AlertStore(store).load_states()
    assert sorted(s.phase.value for s in states.values()) == ["firing"]
    firing = next(s for s in states.values() if s.phase is Phase.FIRING)
    assert (firing.fired_at, firing.notified_at, firing.labels["long_window"]) == (NOW, NOW, "1h")


def test_a_delivery_older_than_the_give_up_age_is_given_up(store: Storage, receiver: WebhookReceiver) -> None:
    alerting, delivery, registry = setup(store, [Receiver("oncall", receiver.url)],
                                         retry=RetryPolicy(wait=lambda attempts: 600.0,
                                                           give_up_after=timedelta(minutes=15)))
    alerting.process([OUTAGE], NOW)
    delivery.deliver_due(NOW)
    report = delivery.deliver_due(NOW + 10 * M)
    assert report.given_up == 1
    assert AlertStore(store).pending() == []
    assert registry.get_sample_value("agentslo_alert_deliveries_given_up_total", {"receiver": "oncall"}) == 1


def test_a_refusing_receiver_is_not_retried(store: Storage) -> None:
    refusing = WebhookReceiver(status=400).start()
    try:
        alerting, delivery, _ = setup(store, [Receiver("oncall", refusing.url)])
        alerting.process([OUTAGE], NOW)
        report = delivery.deliver_due(NOW)
    finally:
        refusing.stop()
    assert (report.failed, report.given_up) == (1, 1)
    assert AlertStore(store).recent()[0].last_error.startswith("HTTP 400")


@pytest.mark.parametrize("retry_after", ["120", "Mon, 23 Nov 2026 12:02:00 GMT"], ids=["seconds", "http-date"])
def test_a_receiver_that_says_retry_after_is_not_sent_again_sooner(store: Storage, retry_after: str) -> None:
    limited = WebhookReceiver(status=429, answer=b"rate_limited", headers={"Retry-After": retry_after}).start()
    try:
        alerting, delivery, _ = setup(store, [Receiver("oncall", limited.url)])   # backoff: 30 s
        alerting.process([OUTAGE], NOW)
        delivery.deliver_due(NOW)
        entry = AlertStore(store).pending()[0]
        assert entry.next_attempt_at == NOW + timedelta(seconds=120)
        delivery.deliver_due(NOW + M)
        assert len(limited.requests) == 1, "the backoff alone would have sent it again after 30 s"
    finally:
        limited.stop()


def test_a_retry_after_beyond_the_give_up_age_gives_up_now(store: Storage) -> None:
    limited = WebhookReceiver(status=503, headers={"Retry-After": str(2 * 3600)}).start()
    try:
        alerting, delivery, _ = setup(store, [Receiver("oncall", limited.url)])   # gives up after 1 h
        alerting.process([OUTAGE], NOW)
        report = delivery.deliver_due(NOW)
    finally:
        limited.stop()
    assert report.given_up == 1


@pytest.mark.parametrize(
    ("receiver_spec", "expected"),
    [
        pytest.param(Receiver("r", "http://x", severities=frozenset({"ticket"})), 0,
                     id="a ticket-only receiver gets no page"),
        pytest.param(Receiver("r", "http://x", match={"service": "checkout"}), 1, id="matching labels route to it"),
        pytest.param(Receiver("r", "http://x", match={"service": "search"}), 0, id="other labels do not"),
    ],
)
def test_routing(store: Storage, receiver_spec: Receiver, expected: int) -> None:
    alerting, _, _ = setup(store, [receiver_spec])
    assert len(alerting.process([OUTAGE], NOW).queued) == expected


def test_each_slos_loudest_alert_state_goes_into_slo_status(store: Storage) -> None:
    alerting, _, _ = setup(store, [])
    firing = alerting.process([OUTAGE], NOW)
    assert firing.slo_alert_states == {"checkout-availability": "page"}
    write_status(store, [OUTAGE], firing.slo_alert_states)
    resolved = alerting.process([recovered(NOW + 10 * M)], NOW + 10 * M)
    assert resolved.slo_alert_states == {}
    write_status(store, [recovered(NOW + 10 * M)], resolved.slo_alert_states)
    rows = store.query(f"SELECT AlertState FROM {SLO_STATUS} ORDER BY Timestamp").rows
    assert [row[0] for row in rows] == ["page", ""]


def test_a_receiver_that_hangs_delays_nobody_else(store: Storage, receiver: WebhookReceiver) -> None:
    receiver.start()
    with socket.socket() as silent:   # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        hanging = Receiver("hanging", f"http://127.0.0.1:{silent.getsockname()[1]}/hook", timeout_s=3)
        alerting, delivery, _ = setup(store, [hanging, Receiver("oncall", receiver.url)])
        alerting.process([OUTAGE], NOW)
        started = time.monotonic()
        passing = threading.Thread(target=delivery.deliver_due, args=(NOW,))
        passing.start()
        while not receiver.received and time.monotonic() - started < 10:
            time.sleep(0.01)
        received_after_s = time.monotonic() - started
        passing.join()
        pass_s = time.monotonic() - started
    assert statuses_of(receiver.received) == ["firing"]
    assert received_after_s < 1.5 < 3 <= pass_s
    assert {e.receiver: e.state for e in AlertStore(store).recent()} == {"hanging": DeliveryState.PENDING,
                                                                          "oncall": DeliveryState.DELIVERED}


EVERY_TIER = status({w: 20 for w in (5 * M, 30 * M, H, 2 * H, 6 * H, D, 3 * D)})


def test_two_passes_at_once_against_a_slow_receiver_send_each_notification_once(store: Storage) -> None:
    slow = WebhookReceiver(delay_s=1).start()
    try:
        alert_store = AlertStore(store)
        alerting = Alerting(alert_store, [Receiver("oncall", slow.url)], external_url=EXTERNAL_URL)
        assert len(alerting.process([EVERY_TIER], NOW).queued) == 4   # every tier fires: four notifications
        delivery = Delivery(alert_store, [Receiver("oncall", slow.url)], registry=CollectorRegistry(),
                            clock=Clock(NOW))
        passes = [threading.Thread(target=asyncio.run, args=(delivery.deliver_due(),)) for _ in range(2)]
        for thread in passes:
            thread.start()
        for thread in passes:
            thread.join()
        asyncio.run(delivery.deliver_due())   # and a later pass finds nothing left to send
    finally:
        slow.stop()
    assert len(slow.requests) == 4
    assert len({r.headers[DELIVERY_ID_HEADER] for r in slow.requests}) == 4


def test_every_retry_of_a_notification_carries_the_same_delivery_id(store: Storage) -> None:
    flaky = WebhookReceiver(status=503).start()
    try:
        alerting, delivery, _ = setup(store, [Receiver("oncall", flaky.url)])
        alerting.process([OUTAGE], NOW)
        delivery.deliver_due(NOW)
        flaky.status = 200
        delivery.deliver_due(NOW + 5 * M)
        alerting.process([recovered(NOW + 6 * M)], NOW + 6 * M)
        delivery.deliver_due(NOW + 7 * M)
    finally:
        flaky.stop()
    ids = [r.headers[DELIVERY_ID_HEADER] for r in flaky.requests]
    assert [r.json()["status"] for r in flaky.requests] == ["firing", "firing", "resolved"]
    assert ids[0] == ids[1] != ids[2]
    assert sorted(set(ids)) == sorted(e.id for e in AlertStore(store).recent())


def test_messages_are_signed_when_sent_not_when_queued(store: Storage, receiver: WebhookReceiver) -> None:
    receiver.start()
    alerting, delivery, _ = setup(store, [Receiver("oncall", receiver.url, secret=SECRET)])
    alerting.process([OUTAGE], NOW)
    delivery.deliver_due(NOW + 5 * M)
    [sent] = receiver.received
    assert sent.headers[TIMESTAMP_HEADER] == str(int((NOW + 5 * M).timestamp()))
    assert verify_signature(SECRET, sent.body, timestamp=sent.headers[TIMESTAMP_HEADER],
                            signature=sent.headers[SIGNATURE_HEADER], now=(NOW + 5 * M).timestamp())


def test_starts_at_is_the_same_in_the_firing_repeat_and_resolved_messages(store: Storage) -> None:
    # Alertmanager keeps startsAt for an alert's life; receivers pair messages by it. The state is
    # stored to the millisecond and read back between cycles, as after a restart.
    alerting, _, _ = setup(store, [Receiver("oncall", "http://127.0.0.1:9/hook")])
    fired = NOW.replace(second=25, microsecond=58_098)
    for now, burning in [(fired, True), (fired + 4 * H + M, True), (fired + 5 * H, False)]:
        alerting = setup(store, [Receiver("oncall", "http://127.0.0.1:9/hook")])[0]
        alerting.process([status({H: 15, 5 * M: 20 if burning else 0}, now=now)], now)
    messages = sorted((orjson.loads(e.body) for e in AlertStore(store).recent()), key=lambda m: m["alerts"][0]["endsAt"])
    assert [m["status"] for m in messages] == ["firing", "firing", "resolved"]
    assert {m["alerts"][0]["startsAt"] for m in messages} == {"2026-11-23T12:00:25.058000Z"}
