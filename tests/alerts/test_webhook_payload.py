"""Specification of the webhook message (Alertmanager's format, checked against golden files) and its signature.

Regenerate the golden files with AGENTSLO_REGENERATE=1 after a deliberate change.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from alerts import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AlertPolicy,
    NotificationStatus,
    advance,
    alert_conditions,
    encode,
    signature_headers,
    verify_signature,
    webhook_payload,
)
from tests.support.golden import check_golden
from tests.support.slo_status import NOW, H, M, status

GOLDEN = Path(__file__).parent / "golden"
SECRET = "s3cret"
EXTERNAL_URL = "http://agentslo.example:4318"


def notifications():
    """The fast page firing at NOW, then resolved 20 minutes later."""
    states, fired = advance({}, alert_conditions(status({H: 15, 5 * M: 20}), AlertPolicy())[:1], NOW)
    _, resolved = advance(states, alert_conditions(status({H: 15, 5 * M: 0}, now=NOW + 20 * M),
                                                   AlertPolicy())[:1], NOW + 20 * M)
    return fired[0], resolved[0]


@pytest.mark.parametrize("which", [0, 1], ids=["a firing page", "its resolution"])
def test_payload_matches_golden(which: int) -> None:
    notification = notifications()[which]
    check_golden(GOLDEN / f"webhook_{notification.status.value}.json",
                 webhook_payload([notification], receiver="oncall", external_url=EXTERNAL_URL))


def test_payload_has_every_alertmanager_field() -> None:
    payload = webhook_payload([notifications()[0]], receiver="oncall", external_url=EXTERNAL_URL)
    assert list(payload) == ["version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
                             "commonLabels", "commonAnnotations", "externalURL", "alerts"]
    assert list(payload["alerts"][0]) == ["status", "labels", "annotations", "startsAt", "endsAt",
                                          "generatorURL", "fingerprint"]
    assert payload["version"] == "4"
    assert payload["groupKey"] == '{}:{alertname="SloErrorBudgetBurn", slo="checkout-availability"}'


def test_resolved_alert_ends_and_firing_one_has_go_zero_end() -> None:
    fired, resolved = notifications()
    assert resolved.status is NotificationStatus.RESOLVED
    assert webhook_payload([fired], receiver="r", external_url=EXTERNAL_URL)["alerts"][0]["endsAt"] == \
        "0001-01-01T00:00:00Z"
    assert webhook_payload([resolved], receiver="r", external_url=EXTERNAL_URL)["alerts"][0]["endsAt"] == \
        "2026-11-23T12:20:00Z"


BODY = encode({"version": "4", "status": "firing"})
SENT_AT = 1_795_435_200


@pytest.mark.parametrize(
    ("secret", "body", "timestamp", "now", "valid"),
    [
        pytest.param(SECRET, BODY, str(SENT_AT), SENT_AT + 1, True, id="the signed body verifies"),
        pytest.param("other", BODY, str(SENT_AT), SENT_AT + 1, False, id="another secret does not"),
        pytest.param(SECRET, BODY + b" ", str(SENT_AT), SENT_AT + 1, False, id="a changed body does not"),
        pytest.param(SECRET, BODY, str(SENT_AT + 1), SENT_AT + 1, False, id="a changed timestamp does not"),
        pytest.param(SECRET, BODY, str(SENT_AT), SENT_AT + 301, False, id="a replay after 5 minutes does not"),
        pytest.param(SECRET, BODY, "yesterday", SENT_AT, False, id="a timestamp that is no number does not"),
    ],
)
def test_signature_verification(secret, body, timestamp, now, valid) -> None:
    headers = signature_headers(SECRET, BODY, SENT_AT)
    assert verify_signature(secret, body, timestamp=timestamp, signature=headers[SIGNATURE_HEADER],
                            now=now) is valid


def test_signature_is_hmac_sha256_over_timestamp_dot_body_as_documented() -> None:
    headers = signature_headers(SECRET, BODY, SENT_AT)
    expected = hmac.new(SECRET.encode(), f"{SENT_AT}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert headers == {TIMESTAMP_HEADER: str(SENT_AT), SIGNATURE_HEADER: f"sha256={expected}"}
