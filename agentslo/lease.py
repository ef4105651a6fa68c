"""The evaluator lease's rules: who holds it, when it has expired, how long a holder may act. The pure core.

Replicas of role `all` or `evaluator` on one store elect the one that evaluates
through a lease kept in ClickHouse (agentslo.election runs it on storage). The
lease has terms, numbered from 1. A term is claimed by inserting its claim, which
the store keeps once whoever inserts it (a deduplication token per term on a
single server, a key per term in KeeperMap on a cluster); the claimer holds the
term while it renews it, and gives it up (releases it) when it stops. Two clocks
come in as values: the server's (ClickHouse stamps every claim and renewal, and
every replica reads expiry by it) and the replica's own monotonic clock, by which
a holder keeps its deadline.

For a lease time `ttl` (`LeaseTiming`):

- a term released, or whose last renewal is more than `ttl` old by the server's
  clock, has expired: any candidate may claim the next term;
- the holder renews every ttl / 3. A renewal, or a claim, counts only when its
  write and read-back took at most ttl / 4 by the replica's clock; the replica
  may then act until ttl * 3/4 after it sent it (`deadline`). Past that deadline
  it has lost the term, claimed by another or not, and competes again as a
  candidate;
- so a holder stops before a candidate can see its term expire: the server
  stamped its last renewal after the holder sent it, and a candidate claims only
  `ttl` after that stamp, while the holder stopped `ttl / 4` before;
- a holder that dies is succeeded within ttl + ttl / 3 of its last renewal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Claim", "LeaseTiming", "LeaseView", "read_lease"]

# The longest lease: however long the evaluation interval, a dead holder is succeeded within
# 20 s (15 s + one renewal period), and a restarted replica waits at most that long to evaluate.
# One renewal (an insert and a read of a few rows) every 5 s costs ClickHouse nothing worth counting.
MAX_TTL = timedelta(seconds=15)


@dataclass(frozen=True)
class LeaseTiming:
    """How long a term lasts without renewal (`ttl`), and what follows from it."""

    ttl: timedelta

    @classmethod
    def for_interval(cls, interval_s: float) -> LeaseTiming:
        """The lease of an evaluation that runs every `interval_s`: one interval, at most MAX_TTL, so
        that a dead holder is succeeded within two intervals."""
        return cls(min(timedelta(seconds=interval_s), MAX_TTL))

    @property
    def renew_every(self) -> timedelta:
        """How often the holder renews, and a candidate looks whether the lease expired."""
        return self.ttl / 3

    @property
    def max_round_trip(self) -> timedelta:
        """The longest a claim or renewal may take, written and read back, and still count."""
        return self.ttl / 4

    @property
    def holds_for(self) -> timedelta:
        """How long after sending a renewal that counted the holder may act: `max_round_trip` before
        the earliest moment a candidate could see its term expire."""
        return self.ttl - self.max_round_trip

    def deadline(self, sent_s: float, answered_s: float) -> float | None:
        """Until when (the replica's monotonic seconds) a claim or renewal sent at `sent_s` and read
        back at `answered_s` lets it act; None when it took too long to count."""
        if answered_s - sent_s > self.max_round_trip.total_seconds():
            return None
        return sent_s + self.holds_for.total_seconds()


@dataclass(frozen=True)
class Claim:
    """One claimer's row of a term, as stored: who, and when the server stamped its claim and last renewal."""

    term: int
    holder: str
    nonce: str
    claimed_at: datetime
    renewed_at: datetime
    released: bool = False


@dataclass(frozen=True)
class LeaseView:
    """The lease as read at `now` (the server's clock): its highest term and that term's holder.

    `term` is 0 and `holder` '' before any claim.
    """

    now: datetime
    term: int = 0
    holder: str = ""
    nonce: str = ""
    claimed_at: datetime | None = None
    renewed_at: datetime | None = None
    released: bool = False

    def expired(self, timing: LeaseTiming) -> bool:
        """Whether a candidate may claim the next term: none was ever claimed, the holder released
        it, or its last renewal is more than `ttl` old."""
        return self.renewed_at is None or self.released or self.now - self.renewed_at > timing.ttl

    def held_by(self, nonce: str) -> bool:
        """Whether the process with `nonce` holds the highest term (whatever its deadline says)."""
        return self.term > 0 and self.nonce == nonce and not self.released


def read_lease(claims: Sequence[Claim], now: datetime) -> LeaseView:
    """The lease that the rows of its highest term make, read at `now`.

    The store keeps one claim per term; should it hold two (a claim inserted once
    its term's token had left the deduplication window, long after the term began),
    the earlier claim holds the term and the later one none.
    """
    if not claims:
        return LeaseView(now)
    term = max(claim.term for claim in claims)
    first = min((claim for claim in claims if claim.term == term), key=lambda claim: (claim.claimed_at, claim.nonce))
    return LeaseView(now, term, first.holder, first.nonce, first.claimed_at, first.renewed_at, first.released)
