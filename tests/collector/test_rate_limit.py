"""The per-tenant token bucket of ingest: spans per second with a burst, on an injected clock."""

from __future__ import annotations

import pytest

from collector import RateLimit, TenantRateLimiter
from ground.errors import RateLimited
from tests.support.clock import Ticks

LIMIT = RateLimit(spans_per_s=100, burst_spans=300)


def refused_after(limiter: TenantRateLimiter, tenant: str) -> int | None:
    """The Retry-After of a refusal, or None when the tenant is admitted."""
    try:
        limiter.admit(tenant)
    except RateLimited as exc:
        assert exc.tenant == tenant
        return exc.retry_after_s
    return None


@pytest.mark.parametrize(("sent", "wait_s", "retry_after_s"), [
    pytest.param([], 0, None, id="a fresh bucket admits"),
    pytest.param([299], 0, None, id="one span's worth left admits"),
    pytest.param([300], 0, 1, id="an empty bucket refuses for the second it takes to hold a span"),
    pytest.param([300], 0.02, None, id="two hundredths of a second at 100 spans/s refill two spans"),
    pytest.param([512], 0, 3, id="a batch larger than the burst passes once, then its debt is paid back"),
    pytest.param([512], 2.1, 1, id="a debt of 212 spans is not paid back in 2.1 s at 100 spans/s"),
    pytest.param([512], 2.2, None, id="but is in 2.2 s"),
    pytest.param([300, 300], 0, 4, id="requests admitted together may overdraw: the next waits for the debt"),
    pytest.param([300], 3600, None, id="an idle hour refills to the burst, no further"),
])
def test_a_tenant_is_admitted_while_its_bucket_holds_a_span(sent: list[int], wait_s: float,
                                                           retry_after_s: int | None) -> None:
    ticks = Ticks()
    limiter = TenantRateLimiter(LIMIT, clock=ticks)
    for spans in sent:
        limiter.charge("acme", spans)
    ticks.advance(wait_s)
    assert refused_after(limiter, "acme") == retry_after_s


def test_an_idle_bucket_refills_no_further_than_the_burst() -> None:
    ticks = Ticks()
    limiter = TenantRateLimiter(LIMIT, clock=ticks)
    ticks.advance(3600)
    limiter.charge("acme", 300)
    assert refused_after(limiter, "acme") == 1


def test_each_tenant_has_a_bucket_of_its_own() -> None:
    limiter = TenantRateLimiter(LIMIT, clock=Ticks())
    limiter.charge("acme", 1000)
    assert (refused_after(limiter, "acme"), refused_after(limiter, "globex"), refused_after(limiter, "")) == (
        8, None, None)
