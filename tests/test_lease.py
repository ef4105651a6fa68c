"""The evaluator lease's rules, as values: how long a term lasts, who holds it, how long a holder may act."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentslo.lease import Claim, LeaseTiming, LeaseView, read_lease

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


@pytest.mark.parametrize(("interval_s", "ttl_s", "renew_every_s", "max_round_trip_s", "holds_for_s"), [
    pytest.param(2, 2, 2 / 3, 0.5, 1.5, id="a 2 s interval: the lease lasts one interval"),
    pytest.param(15, 15, 5, 3.75, 11.25, id="15 s: still one interval"),
    pytest.param(60, 15, 5, 3.75, 11.25, id="a minute: at most 15 s, so a dead holder is succeeded in 20"),
    pytest.param(3600, 15, 5, 3.75, 11.25, id="an hour: at most 15 s"),
])
def test_the_lease_lasts_one_interval_and_at_most_15_s(interval_s: float, ttl_s: float, renew_every_s: float,
                                                       max_round_trip_s: float, holds_for_s: float) -> None:
    timing = LeaseTiming.for_interval(interval_s)
    assert (timing.ttl, timing.renew_every, timing.max_round_trip, timing.holds_for) == (
        ttl_s * S, renew_every_s * S, max_round_trip_s * S, holds_for_s * S)


@pytest.mark.parametrize(("sent_s", "answered_s", "deadline"), [
    pytest.param(100.0, 100.2, 101.5, id="answered at once: it may act three quarters of the lease after sending"),
    pytest.param(100.0, 100.5, 101.5, id="answered in a quarter of the lease: it still counts"),
    pytest.param(100.0, 100.51, None, id="answered later: it does not count"),
])
def test_a_claim_or_renewal_counts_only_when_answered_within_a_quarter_of_the_lease(
        sent_s: float, answered_s: float, deadline: float | None) -> None:
    assert LeaseTiming(2 * S).deadline(sent_s, answered_s) == deadline


def test_a_holder_stops_before_a_candidate_may_claim() -> None:
    # The server stamps a renewal after it was sent; a candidate claims `ttl` after that stamp.
    timing = LeaseTiming(2 * S)
    sent_s = 100.0
    assert timing.deadline(sent_s, sent_s) == sent_s + 1.5 < sent_s + timing.ttl.total_seconds()


def claim(term: int, nonce: str, *, claimed_s: float = 0, renewed_s: float = 0, released: bool = False) -> Claim:
    return Claim(term, f"replica-{nonce}", nonce, NOW + claimed_s * S, NOW + renewed_s * S, released)


@pytest.mark.parametrize(("claims", "term", "holder", "renewed_s"), [
    pytest.param([], 0, "", None, id="never claimed"),
    pytest.param([claim(1, "a", renewed_s=1)], 1, "replica-a", 1, id="one claim"),
    pytest.param([claim(2, "b", claimed_s=3, renewed_s=4), claim(1, "a", renewed_s=2)], 2, "replica-b", 4,
                 id="the highest term counts"),
    pytest.param([claim(3, "b", claimed_s=2, renewed_s=9), claim(3, "a", claimed_s=1, renewed_s=1)], 3,
                 "replica-a", 1, id="two claims of a term (one past the deduplication window): the first holds it"),
    pytest.param([claim(3, "b", claimed_s=1, renewed_s=9), claim(3, "a", claimed_s=1, renewed_s=1)], 3,
                 "replica-a", 1, id="claimed in the same millisecond: the lower nonce holds it"),
])
def test_the_lease_is_the_first_claim_of_its_highest_term(claims: list[Claim], term: int, holder: str,
                                                           renewed_s: float | None) -> None:
    view = read_lease(claims, NOW + 10 * S)
    assert (view.term, view.holder, view.renewed_at) == (
        term, holder, None if renewed_s is None else NOW + renewed_s * S)


@pytest.mark.parametrize(("view", "expired"), [
    pytest.param(LeaseView(NOW), True, id="never claimed"),
    pytest.param(LeaseView(NOW, 1, "a", "n", NOW, NOW - 2 * S), False, id="renewed a lease time ago"),
    pytest.param(LeaseView(NOW, 1, "a", "n", NOW, NOW - 2 * S - timedelta(milliseconds=1)), True,
                 id="renewed longer ago"),
    pytest.param(LeaseView(NOW, 1, "a", "n", NOW, NOW, released=True), True, id="released"),
])
def test_a_term_expires_a_lease_time_after_its_last_renewal_by_the_servers_clock(view: LeaseView,
                                                                                 expired: bool) -> None:
    assert view.expired(LeaseTiming(2 * S)) is expired


def test_a_released_term_is_held_by_none() -> None:
    view = read_lease([claim(1, "a", released=True)], NOW)
    assert (view.held_by("a"), read_lease([claim(1, "a")], NOW).held_by("a")) == (False, True)
