"""The `slack` receiver kind: a Block Kit message to a Slack incoming webhook. Pure.

    receivers:
      - name: payments-channel
        kind: slack
        url_env: SLACK_WEBHOOK_URL     # the incoming webhook's URL is its credential: never in the file

One message per notification, with a `text` fallback (what notifications and
screen readers show) and blocks: a header saying firing or resolved and which
alert, the summary, the facts as fields, and the links::

    {"text": "Firing: checkout-availability error budget burn (page)",
     "blocks": [
       {"type": "header", "text": {"type": "plain_text", "emoji": true,
                                   "text": ":rotating_light: Firing: checkout-availability error budget burn"}},
       {"type": "section", "text": {"type": "mrkdwn", "text": "checkout-availability burns its error budget at ..."}},
       {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Severity*\\npage"},
                                      {"type": "mrkdwn", "text": "*Burn rate over 1h*\\n15.00x"}, ...]},
       {"type": "context", "elements": [{"type": "mrkdwn",
                                         "text": "<https://grafana.example.com/d/...|SLO dashboard> · ..."}]}]}

Texts are clipped to Block Kit's limits (Slack's reference: a header's text
150 characters, a section's text 3000, at most 10 fields of 2000 each, a
context element's text 3000), so no alert makes a message Slack refuses.

Answers: Slack takes a message with 200 and the body `ok`. Its refusals come
with their status and a word (400 invalid_payload or invalid_blocks, 403
action_prohibited, 404 channel_not_found or no_service, 410
channel_is_archived): sending again would be refused again, so they are given
up, as is a 2xx without `ok`. 429 rate_limited and 5xx are retried, no sooner
than their Retry-After.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, assert_never

import orjson
from pydantic import field_validator

from alerts._message import clip, links, title
from alerts._receiver import Receiver
from alerts._receiver_spec import ReceiverSpecBase, http_url, variable_name
from alerts._retry import Verdict, http_verdict
from alerts._state import Notification, NotificationStatus
from slo import Severity, SpendGroup, format_usd

# Block Kit's limits, from Slack's reference of each block.
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
MAX_FIELDS = 10


class SlackReceiverSpec(ReceiverSpecBase):
    """A Slack incoming webhook (`kind: slack`), its URL read from the variable `url_env` names."""

    kind: Literal["slack"]
    url_env: str

    @field_validator("url_env")
    @classmethod
    def _check_env_name(cls, name: str) -> str:
        return variable_name(name)

    def variables(self) -> dict[str, str]:
        return {"url_env": self.url_env}

    def check_value(self, path: str, value: str) -> str | None:
        try:
            http_url(value)
        except ValueError:
            return "must hold an http:// or https:// URL with a host (the incoming webhook's URL)"
        return None

    def receiver(self, env: Mapping[str, str]) -> Receiver:
        return self._receiver(env[self.url_env])


def slack_message(notification: Notification, *, external_url: str) -> dict[str, Any]:
    """The Block Kit message telling a channel that `notification`'s alert fires or resolved."""
    labels, annotations = notification.labels, notification.annotations
    firing = notification.status is NotificationStatus.FIRING
    severity = Severity(labels["severity"])
    state = "Firing" if firing else "Resolved"
    name = title(labels)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                    "text": clip(f"{_emoji(severity) if firing else ':white_check_mark:'} "
                                                 f"{state}: {name}", HEADER_LIMIT)}},
    ]
    if annotations.get("summary"):
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": clip(_escape(annotations["summary"]), SECTION_LIMIT)}})
    blocks.append({"type": "section", "fields": [
        {"type": "mrkdwn", "text": clip(f"*{fact}*\n{value}", FIELD_LIMIT)}
        for fact, value in facts(notification)[:MAX_FIELDS]
    ]})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": clip(" · ".join(
        f"<{_escape(link.url).replace('|', '%7C')}|{_escape(link.text)}>"
        for link in links(notification, external_url)), SECTION_LIMIT)}]})
    return {"text": clip(_escape(f"{state}: {name} ({severity.value})"), SECTION_LIMIT), "blocks": blocks}


def facts(notification: Notification) -> list[tuple[str, str]]:
    """What the message's fields show, in order, as (title, mrkdwn value): the severity and what the
    alert is about, the numbers its annotations carry, and when it started (and ended)."""
    labels, annotations = notification.labels, notification.annotations
    found = [("Severity", labels["severity"])]
    found += [(key.title(), _escape(labels[key])) for key in ("service", *(g.value for g in SpendGroup))
              if key in labels]
    if "burn_rate_long" in annotations:
        found += [(f"Burn rate over {labels.get('long_window', 'the long window')}", annotations["burn_rate_long"]),
                  (f"Burn rate over {labels.get('short_window', 'the short window')}", annotations["burn_rate_short"]),
                  ("Alert at", f"{annotations['burn_factor']}x")]
    if "error_budget_remaining" in annotations:
        found.append(("Error budget left", annotations["error_budget_remaining"]))
    if annotations.get("time_to_exhaustion"):
        found.append(("Exhausted in", annotations["time_to_exhaustion"]))
    if "spent_usd" in annotations:
        period = labels.get("period", "period")
        found += [("Spent", f"{format_usd(float(annotations['spent_usd']))} ({annotations['used']})"),
                  ("Cap", f"{format_usd(float(annotations['limit_usd']))} a {period}"),
                  ("Projected", f"{format_usd(float(annotations['projected_usd']))} by the end of the {period}")]
    found.append(("Started", _date(notification.starts_at)))
    if notification.ends_at is not None:
        found.append(("Resolved", _date(notification.ends_at)))
    return found


def render(notification: Notification, receiver: Receiver, external_url: str) -> bytes:
    """The body queued for a Slack receiver: the Block Kit message, compact JSON."""
    return orjson.dumps(slack_message(notification, external_url=external_url))


def request(receiver: Receiver, body: bytes, sent_at: int) -> tuple[dict[str, str], bytes]:
    """The headers and content sent: the message as JSON, as Slack's incoming webhooks take it."""
    return {"Content-Type": "application/json"}, body


def verdict(status_code: int | None, body: str) -> Verdict:
    """Slack's answer: 2xx with `ok` received, 2xx without refused; other statuses as any webhook's."""
    if status_code is not None and 200 <= status_code < 300:
        return Verdict.DELIVERED if body.strip() == "ok" else Verdict.GIVE_UP
    return http_verdict(status_code)


def _emoji(severity: Severity) -> str:
    match severity:
        case Severity.PAGE:
            return ":rotating_light:"
        case Severity.TICKET:
            return ":warning:"
        case _:
            assert_never(severity)


def _date(moment: datetime) -> str:
    """A moment in each reader's time zone (Slack's date formatting), UTC where the client cannot."""
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC>"


def _escape(text: str) -> str:
    """Text for mrkdwn: Slack reads &, < and > as markup (`<!channel>` would notify everyone)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
