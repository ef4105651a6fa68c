"""From spans to webhooks: two quiet hours then an outage page; recovery resolves the fast page."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from alerts import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Alerting,
    AlertPolicy,
    AlertStore,
    Delivery,
    Receiver,
    verify_signature,
)
from ground.storage import Storage
from slo.engine import run_cycle
from tests.slo.traces import MINUTE, SECOND, T0, chat, insert, make_slo
from tests.support.clock import Clock
from tests.support.webhook_receiver import WebhookReceiver

SECRET = "s3cret"
SLO = make_slo("support-availability", objective=99.9, window="30d",
               sli={"kind": "availability", "over": "llm_calls",
                    "filter": [{"column": "ServiceName", "op": "eq", "value": "support-agent"}]})


def calls(first_minute: int, minutes: int, *, status_code: str) -> list[dict]:
    """Two model calls a minute from `first_minute` after T0, each with the given status."""
    return [chat(f"t{m}-{i}", f"s{m}-{i}", "", at=m * MINUTE + i * 20 * SECOND, StatusCode=status_code)
            for m in range(first_minute, first_minute + minutes) for i in range(2)]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver().start()
    yield hook
    hook.stop()


def test_an_outage_pages_with_a_signed_alertmanager_payload_and_recovery_resolves(
        store: Storage, receiver: WebhookReceiver) -> None:
    receivers = [Receiver("oncall", receiver.url, secret=SECRET, severities=frozenset({"page"}))]
    alert_store = AlertStore(store)
    alerting = Alerting(alert_store, receivers, default_policy=AlertPolicy(ticket=False),
                        external_url="http://agentslo.test:4318")
    clock = Clock(T0)
    delivery = Delivery(alert_store, receivers, registry=CollectorRegistry(), clock=clock)

    def cycle(minutes_after_t0: int) -> None:
        now = clock.set(T0 + minutes_after_t0 * MINUTE).now
        alerting.process(run_cycle(store, (SLO,), now), now)
        asyncio.run(delivery.deliver_due())

    insert(store, calls(0, 120, status_code="Ok"))
    cycle(121)
    insert(store, calls(120, 10, status_code="Error"))
    cycle(131)
    insert(store, calls(130, 10, status_code="Ok"))
    cycle(141)

    messages = [r.json() for r in receiver.received]
    assert [(m["status"], m["commonLabels"]["long_window"]) for m in messages] == [
        ("firing", "1h"), ("firing", "6h"), ("resolved", "1h")]
    first = messages[0]
    assert first["commonLabels"] == {"alertname": "SloErrorBudgetBurn", "long_window": "1h", "service": "support-agent",
                                     "severity": "page", "short_window": "5m", "slo": "support-availability"}
    assert first["alerts"][0]["startsAt"] == "2026-03-02T14:11:00Z"
    assert messages[2]["alerts"][0]["endsAt"] == "2026-03-02T14:21:00Z"
    signed = receiver.received[0]
    assert verify_signature(SECRET, signed.body, timestamp=signed.headers[TIMESTAMP_HEADER],
                            signature=signed.headers[SIGNATURE_HEADER], now=(T0 + 131 * MINUTE).timestamp())
