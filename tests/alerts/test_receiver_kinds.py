"""Specification of the receiver kinds' registry: every kind whole, the webhook kind as it always was."""

from __future__ import annotations

import pytest

from alerts import (
    RECEIVER_KINDS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AlertsSpec,
    Receiver,
    Verdict,
    receiver_kind,
    signature_headers,
)

SENT_AT = 1_795_435_200


@pytest.mark.parametrize("name", list(RECEIVER_KINDS))
def test_each_kind_is_registered_under_the_name_its_spec_takes(name: str) -> None:
    assert RECEIVER_KINDS[name].spec.model_fields["kind"].annotation.__args__ == (name,)


def test_a_receiver_without_a_kind_is_a_webhook() -> None:
    spec = AlertsSpec.model_validate({"receivers": [{"name": "oncall", "url": "https://hooks.example.com/a"}]})
    [receiver] = spec.resolve_receivers({}, where="agentslo.yaml: alerts")
    assert (receiver.kind, receiver_kind(receiver).name) == ("webhook", "webhook")


def test_a_receiver_of_no_registered_kind_is_refused_when_used() -> None:
    with pytest.raises(ValueError) as error:
        receiver_kind(Receiver("a", "https://x", kind="teams"))
    assert str(error.value).startswith("receiver 'a': no receiver kind 'teams' (expected one of: webhook")


WEBHOOK = RECEIVER_KINDS["webhook"]


@pytest.mark.parametrize(
    ("status_code", "verdict"),
    [
        pytest.param(200, Verdict.DELIVERED, id="200 is received"),
        pytest.param(204, Verdict.DELIVERED, id="any 2xx is received"),
        pytest.param(None, Verdict.RETRY, id="no answer is retried"),
        pytest.param(408, Verdict.RETRY, id="a timeout is retried"),
        pytest.param(429, Verdict.RETRY, id="a rate limit is retried"),
        pytest.param(503, Verdict.RETRY, id="a server error is retried"),
        pytest.param(301, Verdict.GIVE_UP, id="a redirect is not followed"),
        pytest.param(400, Verdict.GIVE_UP, id="a refusal is given up"),
        pytest.param(401, Verdict.GIVE_UP, id="a wrong token is given up"),
    ],
)
def test_a_webhooks_answer_is_its_status(status_code: int | None, verdict: Verdict) -> None:
    assert WEBHOOK.verdict(status_code, "whatever the body says") is verdict


def test_a_webhook_request_is_json_with_its_headers_and_signed_when_it_has_a_secret() -> None:
    body = b'{"version":"4"}'
    signed = Receiver("oncall", "https://x", secret="s3cret", headers={"X-Team": "payments"})
    assert WEBHOOK.request(signed, body, SENT_AT) == (
        {"Content-Type": "application/json", "X-Team": "payments", **signature_headers("s3cret", body, SENT_AT)},
        body)
    headers, _ = WEBHOOK.request(Receiver("plain", "https://x"), body, SENT_AT)
    assert TIMESTAMP_HEADER not in headers and SIGNATURE_HEADER not in headers


def test_a_receiver_shows_neither_its_secret_nor_the_path_of_its_url() -> None:
    receiver = Receiver("team", "https://hooks.slack.com/services/T0/B0/XXXX", secret="k3y", kind="slack")
    assert repr(receiver) == "Receiver(name='team', kind='slack', url='https://hooks.slack.com/…', secret=set)"
    assert receiver.redact("ConnectError to https://hooks.slack.com/services/T0/B0/XXXX with k3y") == \
        "ConnectError to <redacted> with <redacted>"
