"""The receiver kinds: each one whole in one place, from what users write to how its answers are read. Pure.

A kind is one registry entry (`ReceiverKind`, like the SLI kinds of
slo._kinds): its config spec (one member of the `alerts.receivers[]`
discriminated union, told apart by `kind`, `webhook` when absent), how a
notification is written into the body the outbox keeps, how that body is
sent (headers; a signature or a routing key added at sending), and what the
receiver's answers mean (delivered, retry, give up). Adding a kind is one
module (spec, render, request, verdict), one entry in `RECEIVER_KINDS` and its tests.

| kind      | module              | message                                          |
|-----------|---------------------|--------------------------------------------------|
| webhook   | alerts._alertmanager | Prometheus Alertmanager webhook JSON, signed    |
| slack     | alerts._slack       | Block Kit message to an incoming webhook          |
| pagerduty | alerts._pagerduty   | Events API v2 trigger / resolve, dedup by fingerprint |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Union

from pydantic import Discriminator, Tag

from alerts import _alertmanager, _pagerduty, _slack
from alerts._receiver import Receiver
from alerts._receiver_spec import ReceiverSpecBase
from alerts._retry import Verdict
from alerts._state import Notification


@dataclass(frozen=True)
class ReceiverKind:
    """One receiver kind: its name in the config, its spec, and the three steps of a delivery.

    `render(notification, receiver, external_url)` is the body queued in the
    outbox, when the notification is owed; `request(receiver, body, sent_at)`
    the headers and content sent, at each attempt (`sent_at` in Unix seconds);
    `verdict(status_code, body)` what an answer means (status None: no answer).
    `closes_incidents`: the receiver keeps an incident open until it is resolved, so it is
    sent the resolutions other kinds are spared (a spend alert's, at its period's end).
    """

    name: str
    spec: type[ReceiverSpecBase]
    render: Callable[[Notification, Receiver, str], bytes]
    request: Callable[[Receiver, bytes, int], tuple[dict[str, str], bytes]]
    verdict: Callable[[int | None, str], Verdict]
    closes_incidents: bool = False


RECEIVER_KINDS: dict[str, ReceiverKind] = {kind.name: kind for kind in (
    ReceiverKind("webhook", _alertmanager.WebhookReceiverSpec, _alertmanager.render, _alertmanager.request,
                 _alertmanager.verdict),
    ReceiverKind("slack", _slack.SlackReceiverSpec, _slack.render, _slack.request, _slack.verdict),
    ReceiverKind("pagerduty", _pagerduty.PagerDutyReceiverSpec, _pagerduty.render, _pagerduty.request,
                 _pagerduty.verdict, closes_incidents=True),
)}


def kind(item: object) -> str | None:
    """The kind of a receiver's spec, as written (`webhook` when absent) or validated; None for a non-mapping."""
    if isinstance(item, Mapping):
        return str(item.get("kind", "webhook"))
    return item.kind if isinstance(item, ReceiverSpecBase) else None


# An entry of `alerts.receivers`: one member per kind, told apart by `kind` (pydantic names this function,
# `kind()`, as the discriminator in its errors).
ReceiverSpec = Annotated[Union[tuple(Annotated[k.spec, Tag(k.name)] for k in RECEIVER_KINDS.values())],  # noqa: UP007
                         Discriminator(kind)]


def receiver_kind(receiver: Receiver) -> ReceiverKind:
    """The registry entry of a receiver's kind; ValueError for a kind no entry declares."""
    try:
        return RECEIVER_KINDS[receiver.kind]
    except KeyError:
        raise ValueError(f"receiver {receiver.name!r}: no receiver kind {receiver.kind!r} "
                         f"(expected one of: {', '.join(RECEIVER_KINDS)})") from None
