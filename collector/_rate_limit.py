"""Per-tenant ingest rate limits: a token bucket of spans for each tenant. Pure: the clock comes in.

Each tenant's bucket holds up to `burst_spans` and refills at `spans_per_s`. A request is
admitted while its tenant's bucket holds at least one span, before its body is decoded
(a refusal costs no mapping), and its spans are taken once they are mapped. A request
larger than what is left, or than the burst, still passes and leaves the bucket in
debt: a batch bigger than the burst is never refused for ever, and the next request
waits until the debt is paid back. Requests admitted together may overdraw the bucket
by what they carry; the receivers bound how many are in flight.

The tenant is the API key's. Without keys every request shares one bucket (tenant ""):
a tenant that a span claims costs nothing to invent, so it cannot be what limits a client.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ground.errors import RateLimited


@dataclass(frozen=True)
class RateLimit:
    """Spans per second each tenant may send, and how many it may send at once after a pause."""

    spans_per_s: float
    burst_spans: int


@dataclass
class _Bucket:
    spans: float  # negative: in debt
    at_s: float


class TenantRateLimiter:
    """One token bucket per tenant, on `clock` (monotonic seconds, e.g. time.monotonic).

    Used from the event loop both receivers run on, so without a lock. Buckets are kept for
    every tenant seen: the tenants of the configured keys, or the one shared bucket.
    """

    def __init__(self, limit: RateLimit, *, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, tenant: str) -> None:
        """Let a request of `tenant` in if its bucket holds a span; else raise RateLimited, with the
        whole seconds until it will."""
        bucket = self._refilled(tenant)
        if bucket.spans < 1:
            raise RateLimited(tenant, max(1, math.ceil((1 - bucket.spans) / self.limit.spans_per_s)))

    def charge(self, tenant: str, spans: int) -> None:
        """Take an admitted request's spans from its tenant's bucket, into debt if need be."""
        self._refilled(tenant).spans -= spans

    def _refilled(self, tenant: str) -> _Bucket:
        now_s = self._clock()
        bucket = self._buckets.get(tenant)
        if bucket is None:
            bucket = self._buckets[tenant] = _Bucket(self.limit.burst_spans, now_s)
        elapsed_s = max(now_s - bucket.at_s, 0.0)
        bucket.spans = min(self.limit.burst_spans, bucket.spans + elapsed_s * self.limit.spans_per_s)
        bucket.at_s = now_s
        return bucket
