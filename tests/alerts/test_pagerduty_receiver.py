"""Specification of `kind: pagerduty`: its Events API v2 events (golden files), its config, its answers, its delivery.

Regenerate the golden files with AGENTSLO_REGENERATE=1 after a deliberate change.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from alerts import (
    PAGERDUTY_EVENTS_URL,
    RECEIVER_KINDS,
    SIGNATURE_HEADER,
    Alerting,
    AlertPolicy,
    AlertsSpec,
    AlertStore,
    Delivery,
    DeliveryReport,
    DeliveryState,
    Receiver,
    RetryPolicy,
    Verdict,
    pagerduty_event,
)
from ground.errors import ConfigError
from ground.storage import Storage
from slo import Severity, SpendStatus
from tests.support.clock import Clock
from tests.support.golden import check_golden
from tests.support.notifications import DAY, EXTERNAL_URL, LINKS, USER_DAILY, slo_page, spend_page
from tests.support.slo_status import NOW, H, M, status
from tests.support.webhook_receiver import WebhookReceiver

GOLDEN = Path(__file__).parent / "golden"
PAGERDUTY = RECEIVER_KINDS["pagerduty"]
ROUTING_KEY = "R0UT1NGK3Y0123456789abcdefghijkl"
ACCEPTED = b'{"status":"success","message":"Event processed","dedup_key":"e8628870a69916ba"}'
WHERE = "agentslo.yaml: alerts"


@pytest.mark.parametrize(
    ("name", "notification"),
    [
        pytest.param("pagerduty_trigger.json", slo_page()[0], id="a firing page triggers"),
        pytest.param("pagerduty_resolve.json", slo_page()[1], id="its resolution resolves"),
        pytest.param("pagerduty_spend.json", spend_page(), id="a spend budget's page triggers"),
    ],
)
def test_event_matches_golden(name, notification) -> None:
    check_golden(GOLDEN / name, pagerduty_event(notification, external_url=EXTERNAL_URL))


def test_trigger_and_resolve_share_the_alerts_fingerprint_as_dedup_key() -> None:
    fired, resolved = slo_page()
    events = [pagerduty_event(n, external_url=EXTERNAL_URL) for n in (fired, resolved)]
    assert [(e["event_action"], e["dedup_key"]) for e in events] == [("trigger", fired.fingerprint),
                                                                      ("resolve", fired.fingerprint)]


@pytest.mark.parametrize(("severity", "expected"), [(Severity.PAGE, "critical"), (Severity.TICKET, "warning")],
                         ids=["a page is critical", "a ticket is a warning"])
def test_severity(severity: Severity, expected: str) -> None:
    fired, _ = slo_page()
    ticket = replace(fired, labels={**fired.labels, "severity": severity.value})
    assert pagerduty_event(ticket, external_url=EXTERNAL_URL)["payload"]["severity"] == expected


def test_the_summary_is_clipped_to_pagerdutys_1024_characters() -> None:
    fired, _ = slo_page()
    long = replace(fired, annotations={**fired.annotations, "summary": "x" * 2000})
    summary = pagerduty_event(long, external_url=EXTERNAL_URL)["payload"]["summary"]
    assert (len(summary), summary[-1]) == (1024, "…")


def test_without_a_service_the_source_is_agentslos_host() -> None:
    fired, _ = slo_page()
    anywhere = replace(fired, labels={k: v for k, v in fired.labels.items() if k != "service"})
    assert pagerduty_event(anywhere, external_url=EXTERNAL_URL)["payload"]["source"] == "agentslo.example"


@pytest.mark.parametrize(
    ("status_code", "verdict"),
    [
        pytest.param(202, Verdict.DELIVERED, id="202 is accepted"),
        pytest.param(400, Verdict.GIVE_UP, id="400 is an invalid event, given up"),
        pytest.param(429, Verdict.RETRY, id="429 is too many events, retried"),
        pytest.param(500, Verdict.RETRY, id="a server error is retried"),
        pytest.param(None, Verdict.RETRY, id="a network error is retried"),
    ],
)
def test_pagerdutys_answers(status_code: int | None, verdict: Verdict) -> None:
    assert PAGERDUTY.verdict(status_code, "") is verdict


def test_the_routing_key_is_added_when_sent_not_when_queued() -> None:
    receiver = Receiver("pd", PAGERDUTY_EVENTS_URL, secret=ROUTING_KEY, kind="pagerduty")
    queued = PAGERDUTY.render(slo_page()[1], receiver, EXTERNAL_URL)
    assert ROUTING_KEY.encode() not in queued
    assert PAGERDUTY.request(receiver, queued, 0) == (
        {"Content-Type": "application/json"},
        b'{"routing_key":"' + ROUTING_KEY.encode() + b'","event_action":"resolve","dedup_key":"e8628870a69916ba"}')


BASE = {"receivers": [{"name": "pd", "kind": "pagerduty", "routing_key_env": "PAGERDUTY_ROUTING_KEY",
                       "severities": ["page"]}]}


def test_the_routing_key_comes_from_the_environment_and_events_go_to_pagerduty() -> None:
    receivers = AlertsSpec.model_validate(BASE).resolve_receivers({"PAGERDUTY_ROUTING_KEY": ROUTING_KEY}, where=WHERE)
    assert receivers == (Receiver("pd", "https://events.pagerduty.com/v2/enqueue", secret=ROUTING_KEY,
                                  severities=frozenset({"page"}), kind="pagerduty"),)
    assert ROUTING_KEY not in repr(receivers)


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        pytest.param({}, "agentslo.yaml: alerts.receivers[0].routing_key_env: environment variable "
                         "PAGERDUTY_ROUTING_KEY is not set", id="a missing variable is named"),
        pytest.param({"PAGERDUTY_ROUTING_KEY": " "}, "agentslo.yaml: alerts.receivers[0].routing_key_env: "
                                                     "environment variable PAGERDUTY_ROUTING_KEY is empty",
                     id="an empty one too"),
    ],
)
def test_an_unusable_routing_key_is_reported(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        AlertsSpec.model_validate(BASE).resolve_receivers(env, where=WHERE)
    assert error.value.problems == [problem]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"routing_key_env": ROUTING_KEY + "!"}, "must be the name of an environment variable, not its value",
                     id="the routing key is named, not written"),
        pytest.param({"url": "events.pagerduty.com"}, "must be an http:// or https:// URL with a host",
                     id="an events URL is an http URL"),
        pytest.param({"secret_env": "PD_SECRET"}, "secret_env\n  Extra inputs are not permitted",
                     id="a webhook's fields are not PagerDuty's"),
    ],
)
def test_invalid_specs(change: dict, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        AlertsSpec.model_validate({"receivers": [{**BASE["receivers"][0], **change}]})
    assert message in str(error.value)


def test_routing_key_env_is_required() -> None:
    with pytest.raises(ValidationError) as error:
        AlertsSpec.model_validate({"receivers": [{"name": "pd", "kind": "pagerduty"}]})
    assert "receivers.0.pagerduty.routing_key_env\n  Field required" in str(error.value)


class Service:
    """Alerting and a Delivery to one PagerDuty receiver (a loopback stand-in for its Events API) on a hand-set clock."""

    def __init__(self, store: Storage, events: WebhookReceiver) -> None:
        self.pagerduty = Receiver("pd", events.url, secret=ROUTING_KEY, kind="pagerduty")
        self.alerting = Alerting(AlertStore(store), [self.pagerduty], default_policy=AlertPolicy(ticket=False),
                                 external_url=EXTERNAL_URL, dashboard_links=LINKS)
        self.clock = Clock(NOW)
        self.delivery = Delivery(AlertStore(store), [self.pagerduty], registry=CollectorRegistry(), clock=self.clock,
                                 retry=RetryPolicy(wait=lambda attempts: 30.0))

    def cycle(self, burn_5m: float, at_minute: int) -> DeliveryReport:
        now = NOW + at_minute * M
        self.clock.set(now)
        self.alerting.process([status({H: 15, 5 * M: burn_5m}, now=now)], now)
        return asyncio.run(self.delivery.deliver_due())


def test_an_outage_triggers_repeats_fold_into_it_and_its_end_resolves_it(store: Storage) -> None:
    events = WebhookReceiver(status=202, answer=ACCEPTED).start()
    try:
        service = Service(store, events)
        service.cycle(20, 0)
        service.cycle(20, 4 * 60 + 1)    # past repeat_interval (4h): the trigger is sent again
        service.cycle(0, 4 * 60 + 2)
    finally:
        events.stop()
    sent = [r.json() for r in events.received]
    fingerprint = slo_page()[0].fingerprint
    assert [(e["event_action"], e["dedup_key"], e["routing_key"]) for e in sent] == [
        ("trigger", fingerprint, ROUTING_KEY), ("trigger", fingerprint, ROUTING_KEY),
        ("resolve", fingerprint, ROUTING_KEY)]
    assert sent[0] == {"routing_key": ROUTING_KEY, **pagerduty_event(slo_page()[0], external_url=EXTERNAL_URL)}
    assert SIGNATURE_HEADER not in events.received[0].headers
    stored = AlertStore(store).recent()
    assert [e.state for e in stored] == [DeliveryState.DELIVERED] * 3
    assert not any(ROUTING_KEY.encode() in e.body for e in stored), "no credential in the outbox"
    assert [orjson.loads(e.body)["event_action"] for e in reversed(stored)] == ["trigger", "trigger", "resolve"]


def test_an_invalid_event_is_given_up_at_once(store: Storage) -> None:
    events = WebhookReceiver(status=400, answer=b'{"status":"invalid event","message":"Event object is invalid"}')
    events.start()
    try:
        report = Service(store, events).cycle(20, 0)
    finally:
        events.stop()
    [entry] = AlertStore(store).recent()
    assert (report.failed, report.given_up) == (1, 1)
    assert (entry.state, entry.attempts) == (DeliveryState.GIVEN_UP, 1)
    assert entry.last_error == 'HTTP 400: {"status":"invalid event","message":"Event object is invalid"}'


def test_too_many_events_is_retried_until_accepted(store: Storage) -> None:
    events = WebhookReceiver(status=429).start()
    try:
        service = Service(store, events)
        throttled = service.cycle(20, 0)
        events.status, events.answer = 202, ACCEPTED
        accepted = service.cycle(20, 5)
    finally:
        events.stop()
    assert (throttled.failed, throttled.waiting, accepted.delivered) == (1, 1, 1)
    assert [r.json()["event_action"] for r in events.requests] == ["trigger", "trigger"]
    [entry] = AlertStore(store).recent()
    assert (entry.state, entry.attempts) == (DeliveryState.DELIVERED, 2)


def test_a_spend_alert_is_resolved_in_pagerduty_when_its_period_ends_and_nowhere_else(store: Storage) -> None:
    """Spend alerts end quietly (a new period is no news), but a PagerDuty incident stays open until resolved."""
    events = WebhookReceiver(status=202, answer=ACCEPTED).start()
    hook = WebhookReceiver().start()
    try:
        pagerduty = Receiver("pd", events.url, secret=ROUTING_KEY, kind="pagerduty")
        webhook = Receiver("hook", hook.url)
        alerting = Alerting(AlertStore(store), [pagerduty, webhook], external_url=EXTERNAL_URL)
        clock = Clock(DAY)
        delivery = Delivery(AlertStore(store), [pagerduty, webhook], registry=CollectorRegistry(), clock=clock)
        for now, spent in ((DAY + 7 * H, 5.2), (DAY + 24 * H + M, None)):   # 104% of the cap, then the next day
            clock.set(now)
            spend = () if spent is None else (SpendStatus(USER_DAILY, "alice", spent, now),)
            alerting.process([], now, spend=spend)
            asyncio.run(delivery.deliver_due())
    finally:
        events.stop()
        hook.stop()
    fired = {e["dedup_key"]: e["payload"]["custom_details"]["labels"]["level"] for e in (r.json() for r in events.received)
             if e["event_action"] == "trigger"}
    assert sorted(fired.values()) == ["100%", "80%"]
    resolved = [e["dedup_key"] for e in (r.json() for r in events.received) if e["event_action"] == "resolve"]
    assert sorted(resolved) == sorted(fired), "each incident the budget opened is closed when its period ends"
    assert [r.json()["status"] for r in hook.received] == ["firing", "firing"], "the webhook hears no resolution"
