"""Specification of `kind: slack`: its Block Kit messages (golden files), its config, its answers, its delivery.

Regenerate the golden files with AGENTSLO_REGENERATE=1 after a deliberate change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from alerts import (
    DELIVERY_ID_HEADER,
    RECEIVER_KINDS,
    SIGNATURE_HEADER,
    Alerting,
    AlertPolicy,
    AlertsSpec,
    AlertStore,
    Delivery,
    DeliveryState,
    Receiver,
    RetryPolicy,
    Verdict,
    slack_message,
)
from ground.errors import ConfigError
from ground.storage import Storage
from tests.support.clock import Clock
from tests.support.golden import check_golden
from tests.support.notifications import EXTERNAL_URL, LINKS, slo_page, spend_page
from tests.support.slo_status import NOW, H, M, status
from tests.support.webhook_receiver import WebhookReceiver

GOLDEN = Path(__file__).parent / "golden"
SLACK = RECEIVER_KINDS["slack"]
WHERE = "agentslo.yaml: alerts"


@pytest.mark.parametrize(
    ("name", "notification"),
    [
        pytest.param("slack_firing.json", slo_page()[0], id="a firing page"),
        pytest.param("slack_resolved.json", slo_page()[1], id="its resolution"),
        pytest.param("slack_spend.json", spend_page(), id="a spend budget's page"),
    ],
)
def test_message_matches_golden(name, notification) -> None:
    check_golden(GOLDEN / name, slack_message(notification, external_url=EXTERNAL_URL))


def test_a_resolved_message_says_so_in_its_header_its_fallback_and_its_fields() -> None:
    message = slack_message(slo_page()[1], external_url=EXTERNAL_URL)
    assert message["text"] == "Resolved: checkout-availability error budget burn (page)"
    assert message["blocks"][0]["text"]["text"] == ":white_check_mark: Resolved: checkout-availability error budget burn"
    assert message["blocks"][2]["fields"][-1]["text"] == \
        "*Resolved*\n<!date^1795436400^{date_short_pretty} {time}|2026-11-23 12:20 UTC>"


def test_alert_text_is_escaped_so_it_cannot_mention_anyone() -> None:
    fired, _ = slo_page()
    loud = replace(fired, annotations={**fired.annotations, "summary": "<!channel> R&D <b>"})
    message = slack_message(loud, external_url=EXTERNAL_URL)
    assert message["blocks"][1]["text"]["text"] == "&lt;!channel&gt; R&amp;D &lt;b&gt;"


def test_a_long_alert_stays_within_block_kits_limits() -> None:
    fired, _ = slo_page()
    long = replace(fired, labels={**fired.labels, "slo": "s" * 200, "service": "v" * 3000},
                   annotations={**fired.annotations, "summary": "x" * 5000})
    blocks = slack_message(long, external_url=EXTERNAL_URL)["blocks"]
    header, summary, fields = blocks[0]["text"]["text"], blocks[1]["text"]["text"], blocks[2]["fields"]
    assert (len(header), len(summary), header[-1], summary[-1]) == (150, 3000, "…", "…")
    assert len(fields) <= 10 and max(len(field["text"]) for field in fields) == 2000


@pytest.mark.parametrize(
    ("status_code", "body", "verdict"),
    [
        pytest.param(200, "ok", Verdict.DELIVERED, id="200 ok is posted"),
        pytest.param(200, "", Verdict.GIVE_UP, id="200 without ok is not"),
        pytest.param(400, "invalid_blocks", Verdict.GIVE_UP, id="a malformed message is given up"),
        pytest.param(403, "action_prohibited", Verdict.GIVE_UP, id="a workspace restriction is given up"),
        pytest.param(404, "no_service", Verdict.GIVE_UP, id="a revoked webhook is given up"),
        pytest.param(410, "channel_is_archived", Verdict.GIVE_UP, id="an archived channel is given up"),
        pytest.param(429, "rate_limited", Verdict.RETRY, id="a rate limit is retried"),
        pytest.param(500, "rollup_error", Verdict.RETRY, id="a server error is retried"),
        pytest.param(None, "", Verdict.RETRY, id="no answer is retried"),
    ],
)
def test_slacks_answers(status_code: int | None, body: str, verdict: Verdict) -> None:
    assert SLACK.verdict(status_code, body) is verdict


def test_the_request_is_the_queued_message_as_json_unsigned() -> None:
    assert SLACK.request(Receiver("team", "https://hooks.slack.com/services/T/B/X", kind="slack"), b"{}", 0) == \
        ({"Content-Type": "application/json"}, b"{}")


BASE = {"receivers": [{"name": "team", "kind": "slack", "url_env": "SLACK_WEBHOOK_URL", "severities": ["page"]}]}


def test_the_webhook_url_comes_from_the_environment() -> None:
    url = "https://hooks.slack.com/services/T0/B0/XXXX"
    receivers = AlertsSpec.model_validate(BASE).resolve_receivers({"SLACK_WEBHOOK_URL": url}, where=WHERE)
    assert receivers == (Receiver("team", url, severities=frozenset({"page"}), kind="slack"),)
    assert "XXXX" not in repr(receivers)


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        pytest.param({}, "agentslo.yaml: alerts.receivers[0].url_env: environment variable SLACK_WEBHOOK_URL is not set",
                     id="a missing variable is named"),
        pytest.param({"SLACK_WEBHOOK_URL": "T0/B0/XXXX"},
                     "agentslo.yaml: alerts.receivers[0].url_env: environment variable SLACK_WEBHOOK_URL must hold an "
                     "http:// or https:// URL with a host (the incoming webhook's URL)",
                     id="a variable holding no URL is reported without its value"),
    ],
)
def test_an_unusable_webhook_url_is_reported(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        AlertsSpec.model_validate(BASE).resolve_receivers(env, where=WHERE)
    assert error.value.problems == [problem]


@pytest.mark.parametrize(
    ("receiver", "message"),
    [
        pytest.param({"name": "team", "kind": "slack", "url_env": "https://hooks.slack.com/services/T0/B0/XXXX"},
                     "must be the name of an environment variable, not its value", id="the URL is named, not written"),
        pytest.param({"name": "team", "kind": "slack"}, "url_env\n  Field required", id="url_env is required"),
        pytest.param({"name": "team", "kind": "slack", "url_env": "SLACK", "url": "https://hooks.slack.com/x"},
                     "url\n  Extra inputs are not permitted", id="a URL in the file is refused"),
    ],
)
def test_invalid_specs(receiver: dict, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        AlertsSpec.model_validate({"receivers": [receiver]})
    assert message in str(error.value)


@pytest.fixture
def channel() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver(answer=b"ok").start()
    yield hook
    hook.stop()


def deliver(store: Storage, slack: Receiver, clock: Clock) -> None:
    asyncio.run(Delivery(AlertStore(store), [slack], registry=CollectorRegistry(), clock=clock,
                         retry=RetryPolicy(wait=lambda attempts: 30.0)).deliver_due())


def test_an_outage_posts_a_firing_message_and_its_end_a_resolved_one(store: Storage, channel: WebhookReceiver) -> None:
    slack = Receiver("team", channel.url, kind="slack")
    alerting = Alerting(AlertStore(store), [slack], default_policy=AlertPolicy(ticket=False),
                        external_url=EXTERNAL_URL, dashboard_links=LINKS)
    clock = Clock(NOW)
    alerting.process([status({H: 15, 5 * M: 20})], NOW)
    deliver(store, slack, clock)
    alerting.process([status({H: 15, 5 * M: 0}, now=NOW + 20 * M)], NOW + 20 * M)
    clock.set(NOW + 20 * M)
    deliver(store, slack, clock)

    assert [r.json() for r in channel.received] == [slack_message(n, external_url=EXTERNAL_URL) for n in slo_page()]
    first = channel.received[0]
    assert first.headers["Content-Type"] == "application/json"
    assert SIGNATURE_HEADER not in first.headers and DELIVERY_ID_HEADER in first.headers
    assert [e.state for e in AlertStore(store).recent()] == [DeliveryState.DELIVERED] * 2


def test_a_refusal_is_given_up_and_a_rate_limit_retried(store: Storage) -> None:
    channel = WebhookReceiver(status=429, answer=b"rate_limited").start()
    try:
        slack = Receiver("team", channel.url, kind="slack")
        alerting = Alerting(AlertStore(store), [slack], default_policy=AlertPolicy(ticket=False),
                            external_url=EXTERNAL_URL)
        clock = Clock(NOW)
        alerting.process([status({H: 15, 5 * M: 20})], NOW)
        deliver(store, slack, clock)
        [limited] = AlertStore(store).pending()
        channel.status, channel.answer = 404, b"no_service"
        clock.set(NOW + 5 * M)
        deliver(store, slack, clock)
    finally:
        channel.stop()
    [refused] = AlertStore(store).recent()
    assert (limited.attempts, limited.last_error) == (1, "HTTP 429: rate_limited")
    assert (refused.state, refused.attempts, refused.last_error) == (DeliveryState.GIVEN_UP, 2, "HTTP 404: no_service")
