"""The evaluator lease on storage: this replica's claims and renewals, and whether it may evaluate now.

Every replica of role `all` or `evaluator` runs an `Election` as a candidate, and
an `ingest` replica one that only reads (so that its /metrics and /readyz say who
evaluates). Each round (every ttl / 3, agentslo.lease has the rules) a holder
renews its term, and a candidate looks whether the term has expired and, if so,
claims the next:

    INSERT INTO agentslo_leases (...) SETTINGS insert_deduplication_token = 'agentslo-lease-evaluator-8'
    SELECT ...

Every candidate of term 8 sends the same token, and ClickHouse keeps the first
insert and drops the others (MergeTree's deduplication window; a check under the
table's parts lock on a single server), so reading the term back says who won.
On a cluster the lease is a KeeperMap table (ground/storage/_cluster.py) keyed
by term: a claim is inserted with `keeper_map_strict_mode = 1`, which fails for
all but the first claimer of a term, and Keeper's reads have no replication lag.
The holder may act until its deadline (`held`); `check` raises NotEvaluator once
it may not, which the evaluation calls before each of its writes, and the delivery
loop sends nothing while `held` is false. `stop` releases a held term, so that
another replica takes over at once rather than after the lease time.

On the embedded store (`exclusive`), the data directory belongs to one process:
whoever held the lease before is gone, so its replica claims at once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from agentslo.lease import Claim, LeaseTiming, LeaseView, read_lease
from ground.errors import NotEvaluator, StorageError
from ground.storage import LEASES, Storage

__all__ = ["Election"]

log = logging.getLogger("agentslo.election")

# The one lease there is: the evaluator's. A name, so that the table could hold others.
EVALUATOR = "evaluator"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The rows of the highest term, one per claimer: its first claim and last renewal by the server's clock.
_READ = f"""
SELECT toUnixTimestamp64Milli(now64(3)),
       groupArray((Term, Holder, Nonce, ClaimedMs, RenewedMs, Released))
FROM (
    SELECT Term, Nonce, any(Holder) AS Holder, toUnixTimestamp64Milli(min(ClaimedAt)) AS ClaimedMs,
           toUnixTimestamp64Milli(max(RenewedAt)) AS RenewedMs, argMax(Released, RenewedAt) AS Released
    FROM {LEASES}
    WHERE Name = {{name:String}} AND Term = (SELECT max(Term) FROM {LEASES} WHERE Name = {{name:String}})
    GROUP BY Term, Nonce
)"""


def _write(claimed_at: str, settings: str) -> str:
    """A claim (`claimed_at` now64(3)) or a renewal or release (the claim's time) of a term, under `settings`."""
    return f"""
INSERT INTO {LEASES} (Key, Name, Term, Holder, Nonce, ClaimedAt, Released)
SETTINGS {settings}
SELECT {{key:String}}, {{name:String}}, {{term:UInt64}}, {{holder:String}}, {{nonce:String}}, {claimed_at},
       {{released:UInt8}}"""


def _kept_once(token: str, *, cluster: str | None, claim: bool) -> str:
    """The settings that make a write of the lease count once: on one server its deduplication token
    (a claim's is its term's, the same for every claimer); on a cluster, KeeperMap's strict mode for a
    claim (an insert of a term's key fails once it exists) and an overwrite of the key otherwise."""
    if cluster is not None:
        return f"keeper_map_strict_mode = {int(claim)}"
    return f"insert_deduplication_token = '{token}'"


class Election:
    """This replica's part in the evaluator lease on `storage`: a candidate's, or (not `candidate`) a reader's.

    `replica` names this replica in the table, the logs and /metrics; `on_change`
    is called (from a worker thread) with True when this replica comes to hold the
    lease and False when it stops holding it. `monotonic` is the replica's clock.
    """

    def __init__(self, storage: Storage, *, replica: str, timing: LeaseTiming, registry: CollectorRegistry,
                 candidate: bool = True, exclusive: bool = False,
                 on_change: Callable[[bool], None] = lambda held: None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.replica = replica
        self.timing = timing
        self.candidate = candidate
        self.nonce = secrets.token_hex(8)
        self._storage = storage
        self._exclusive = exclusive
        self._on_change = on_change
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._view: LeaseView | None = None
        self._read_at = 0.0  # when _view was read, by `monotonic`
        self._deadline: float | None = None
        self._claimed_at: datetime | None = None
        self._renewals = 0
        self._was_held = False
        self._stopping: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        registry.register(_LeaseCollector(self))

    # ------------------------------------------------------------------ what this replica may do

    @property
    def held(self) -> bool:
        """Whether this replica holds the lease and its deadline has not passed: it may evaluate and deliver."""
        deadline = self._deadline
        return deadline is not None and self._monotonic() < deadline

    def check(self) -> None:
        """Raise NotEvaluator unless this replica may write as the evaluator now."""
        if not self.held:
            raise NotEvaluator(f"replica {self.replica} does not hold the evaluator lease: {self.describe()}")

    @property
    def holder(self) -> str:
        """The replica holding the lease as this one last read it: '' when none does, or when this one
        has not read it for longer than the lease time (it cannot tell)."""
        view = self._view
        if view is None or view.expired(self.timing):
            return ""
        if self.held:
            return self.replica
        stale = self._monotonic() - self._read_at > self.timing.ttl.total_seconds()
        return "" if stale else view.holder

    @property
    def term(self) -> int:
        """The highest term this replica has read (0 before any claim)."""
        return 0 if self._view is None else self._view.term

    def describe(self) -> str:
        """Who evaluates, in words: `this replica (term 3)`, `replica b (term 3)`, `none`."""
        if self.held:
            return f"this replica (term {self.term})"
        holder = self.holder
        return f"replica {holder} (term {self.term})" if holder else "none"

    # ------------------------------------------------------------------ rounds

    def round(self) -> None:
        """Renew the term held, or read the lease and (a candidate) claim the next term if it expired."""
        with self._lock:
            try:
                if self.held:
                    self._renew()
                else:
                    self._deadline = None
                    self._contend()
            finally:
                self._report()

    def release(self) -> None:
        """Give up the term held, if any, so that a candidate claims the next one at once."""
        with self._lock:
            if not self.held:
                return
            self._deadline = None
            self._was_held = False
            view = self._view
            assert view is not None
            self._on_change(False)
            self._insert(view.term, released=True)
            log.info("evaluator lease: replica %s released term %d", self.replica, view.term)

    def _contend(self) -> None:
        view = self._read()
        if not self.candidate or not (self._exclusive or view.expired(self.timing)):
            return
        term = view.term + 1
        sent = self._monotonic()
        try:
            settings = _kept_once(f"agentslo-lease-{EVALUATOR}-{term}", cluster=self._storage.cluster, claim=True)
            self._storage.command(_write("now64(3)", settings), self._params(term, released=False))
        except StorageError as exc:  # the claim may be stored or not: the table says
            log.warning("evaluator lease: claiming term %d failed: %s", term, exc)
        view = self._read()
        if view.term == term and view.held_by(self.nonce):
            self._hold(sent, view)

    def _renew(self) -> None:
        view = self._view
        assert view is not None
        sent = self._monotonic()
        self._insert(view.term, released=False)
        view = self._read()
        if view.held_by(self.nonce):
            self._hold(sent, view)
        else:
            self._deadline = None

    def _hold(self, sent: float, view: LeaseView) -> None:
        deadline = self.timing.deadline(sent, self._monotonic())
        if deadline is None:
            log.warning("evaluator lease: term %d answered in more than %s: not acting on it", view.term,
                        self.timing.max_round_trip)
        self._deadline = deadline
        self._claimed_at = view.claimed_at

    def _insert(self, term: int, *, released: bool) -> None:
        self._renewals += 1
        assert self._claimed_at is not None
        claimed_ms = int((self._claimed_at - _EPOCH) / timedelta(milliseconds=1))
        settings = _kept_once(f"agentslo-lease-{EVALUATOR}-{term}-{self.nonce}-{self._renewals}",
                              cluster=self._storage.cluster, claim=False)
        self._storage.command(_write("fromUnixTimestamp64Milli({claimed_ms:Int64}, 'UTC')", settings),
                              {**self._params(term, released=released), "claimed_ms": claimed_ms})

    def _params(self, term: int, *, released: bool) -> dict[str, object]:
        return {"key": f"{EVALUATOR}/{term}", "name": EVALUATOR, "term": term, "holder": self.replica,
                "nonce": self.nonce, "released": int(released)}

    def _read(self) -> LeaseView:
        [(now_ms, rows)] = self._storage.query(_READ, {"name": EVALUATOR}).rows
        claims = [Claim(term, holder, nonce, _EPOCH + timedelta(milliseconds=claimed),
                        _EPOCH + timedelta(milliseconds=renewed), bool(released))
                  for term, holder, nonce, claimed, renewed, released in rows]
        self._view = read_lease(claims, _EPOCH + timedelta(milliseconds=now_ms))
        self._read_at = self._monotonic()
        return self._view

    def _report(self) -> None:
        """Log and announce a change of holder."""
        held = self.held
        if held == self._was_held:
            return
        self._was_held = held
        if held:
            log.info("evaluator lease: replica %s holds term %d", self.replica, self.term)
        else:
            log.warning("evaluator lease: replica %s no longer holds term %d; evaluator now: %s",
                        self.replica, self.term, self.describe())
        self._on_change(held)

    # ------------------------------------------------------------------ the loop

    def start(self, *, ready: Callable[[], bool]) -> None:
        """Run a round every ttl / 3 on the running event loop, once `ready()` (the lease table exists)."""
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(ready), name="agentslo-election")

    async def stop(self) -> None:
        """Stop the rounds, then release the term held (another replica takes over at once)."""
        if self._stopping is None or self._task is None:
            return
        self._stopping.set()
        await self._task
        try:
            await asyncio.to_thread(self.release)
        except StorageError as exc:
            log.warning("evaluator lease: not released (it expires in %s): %s", self.timing.ttl, exc)

    async def _run(self, ready: Callable[[], bool]) -> None:
        assert self._stopping is not None
        every = self.timing.renew_every.total_seconds()
        while not self._stopping.is_set():
            if ready():
                try:
                    await asyncio.to_thread(self.round)
                except StorageError as exc:
                    log.warning("evaluator lease: round failed (%s); a term held lapses at its deadline", exc)
            try:
                await asyncio.wait_for(self._stopping.wait(), every)
            except TimeoutError:
                pass


class _LeaseCollector(Collector):
    """Which replica evaluates, on /metrics: whether this one holds the lease, the term, the holder's name."""

    def __init__(self, election: Election) -> None:
        self._election = election

    def collect(self) -> Iterator[GaugeMetricFamily]:
        election = self._election
        yield GaugeMetricFamily("agentslo_evaluator_lease_held", "1 while this replica holds the evaluator lease "
                                "(it evaluates and delivers notifications), else 0.", value=float(election.held))
        yield GaugeMetricFamily("agentslo_evaluator_lease_term", "The highest term of the evaluator lease this "
                                "replica has read (0: never claimed).", value=election.term)
        holder = GaugeMetricFamily("agentslo_evaluator_holder_info", "The replica holding the evaluator lease as "
                                   "this replica last read it (holder \"\" when none does).", labels=["holder"])
        holder.add_metric([election.holder], 1.0)
        yield holder
