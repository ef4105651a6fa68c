"""The retry decision for deliveries: which answers to retry, when, and when to give up. Pure.

Retries are spaced by tenacity's `wait_random_exponential` (exponential backoff
with full jitter, as in AWS's "Exponential Backoff And Jitter": the n-th wait is
uniform in [0, min(max, multiplier * 2**(n-1))]), so receivers coming back
after an outage are not hit by every sender at once. The wait is computed here
and kept in the outbox (NextAttemptAt) rather than slept through, so a receiver
that is down holds up nothing and a restart resumes the schedule.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import tenacity

# Alertmanager retries a webhook for as long as its group keeps the alert; a
# day covers a receiver's overnight outage without paging about yesterday.
DEFAULT_GIVE_UP_AFTER = timedelta(days=1)

# Answers that say "later", not "never": timeouts, rate limits, server errors.
_RETRYABLE_STATUS = frozenset({408, 425, 429})


def retryable(status_code: int | None) -> bool:
    """Whether a failed attempt may succeed later: no answer at all, 408/425/429, or any 5xx.

    Other 4xx answers mean the request itself is refused (a bad URL, a wrong
    secret); sending it again would be refused again.
    """
    return status_code is None or status_code in _RETRYABLE_STATUS or status_code >= 500


def retry_after(value: str | None, now: datetime) -> datetime | None:
    """The time a `Retry-After` header asks for (delay-seconds or an HTTP-date, RFC 9110 10.2.3), or None
    when there is none or it cannot be read."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return now + timedelta(seconds=int(value))
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


class Verdict(enum.Enum):
    """What an attempt's answer means for its notification: received, worth another try, or refused for good."""

    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"


def http_verdict(status_code: int | None) -> Verdict:
    """The verdict by status alone (None: no answer): any 2xx is delivered, the rest as `retryable` says.

    Each receiver kind decides on its answers (alerts._formats); this is the
    decision of those whose answers say everything in their status.
    """
    if status_code is not None and 200 <= status_code < 300:
        return Verdict.DELIVERED
    return Verdict.RETRY if retryable(status_code) else Verdict.GIVE_UP


@dataclass(frozen=True)
class RetryPolicy:
    """How deliveries are retried: backoff `multiplier_s` doubling up to `max_wait_s`, until `give_up_after`."""

    multiplier_s: float = 1.0
    max_wait_s: float = 300.0
    give_up_after: timedelta = DEFAULT_GIVE_UP_AFTER
    wait: Callable[[int], float] | None = field(default=None, compare=False)

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt: full jitter over an exponential ceiling."""
        if self.wait is not None:
            return timedelta(seconds=self.wait(attempts))
        state = tenacity.RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.attempt_number = attempts
        strategy = tenacity.wait_random_exponential(multiplier=self.multiplier_s, max=self.max_wait_s)
        return timedelta(seconds=strategy(state))

    def next_attempt(self, *, created_at: datetime, attempts: int, now: datetime,
                     not_before: datetime | None = None) -> datetime | None:
        """When to try again after `attempts` failed attempts, and not before the time the receiver asked
        for (its Retry-After); None to give up (too old by then)."""
        at = now + self.backoff(attempts)
        if not_before is not None:
            at = max(at, not_before)
        if at - created_at > self.give_up_after:
            return None
        return at
