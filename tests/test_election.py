"""The evaluator lease on a real store, on both backends: one holder at a time, a successor when it stops.

Several `Election`s on one store stand for replicas; the store's clock (now64) ages the terms.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry

from agentslo.election import Election
from agentslo.lease import LeaseTiming
from ground.errors import NotEvaluator
from ground.storage import LEASES, Storage, migrate
from tests.support.clock import Ticks

# Short enough to wait out in a test; long enough for a claim's round trip on a busy machine.
TIMING = LeaseTiming(timedelta(seconds=1.2))


@pytest.fixture
def store(storage: Storage) -> Storage:
    migrate(storage)
    return storage


def replica(store: Storage, name: str, *, candidate: bool = True, exclusive: bool = False,
            monotonic: Callable[[], float] = time.monotonic, changes: list[bool] | None = None) -> Election:
    record = changes.append if changes is not None else (lambda held: None)
    return Election(store, replica=name, timing=TIMING, registry=CollectorRegistry(), candidate=candidate,
                    exclusive=exclusive, on_change=record, monotonic=monotonic)


def terms(store: Storage) -> list[tuple[int, str]]:
    """Each claimer of each term, as stored: (term, replica)."""
    return [tuple(row) for row in store.query(
        f"SELECT DISTINCT Term, Holder FROM {LEASES} ORDER BY Term, Holder").rows]


def test_a_lone_candidate_claims_term_1_and_keeps_it_by_renewing(store: Storage) -> None:
    changes: list[bool] = []
    a = replica(store, "a", changes=changes)
    a.round()
    a.round()
    assert (a.held, a.term, a.holder, a.describe(), changes, terms(store)) == (
        True, 1, "a", "this replica (term 1)", [True], [(1, "a")])


def test_of_two_candidates_one_holds_the_lease_and_the_other_names_it(store: Storage) -> None:
    a, b = replica(store, "a"), replica(store, "b")
    for election in (a, b, a, b):
        election.round()
    assert (a.held, b.held, b.holder, b.describe()) == (True, False, "a", "replica a (term 1)")
    with pytest.raises(NotEvaluator) as refused:
        b.check()
    assert str(refused.value) == "replica b does not hold the evaluator lease: replica a (term 1)"


def test_candidates_claiming_a_term_at_once_leave_one_claim(store: Storage) -> None:
    # Every claimer of term 1 sends the same deduplication token: the store keeps the first insert
    # (through the server stand-in too: its sessions pass insert_deduplication_token to chDB).
    elections = [replica(store, f"r{index}") for index in range(6)]
    start = threading.Barrier(len(elections))

    def contend(election: Election) -> None:
        start.wait()
        election.round()

    threads = [threading.Thread(target=contend, args=(election,)) for election in elections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    holders = [election.replica for election in elections if election.held]
    assert len(holders) == 1
    assert terms(store) == [(1, holders[0])]
    assert {election.holder for election in elections} == {holders[0]}


def test_when_the_holder_stops_renewing_a_candidate_claims_the_next_term_and_the_holder_stands_down(
        store: Storage) -> None:
    a_changes: list[bool] = []
    a, b = replica(store, "a", changes=a_changes), replica(store, "b")
    a.round()
    b.round()
    assert (a.held, b.held) == (True, False)
    time.sleep(TIMING.ttl.total_seconds() + 0.2)  # a renews no more: its term expires by the server's clock
    assert a.held is False  # and its own deadline, three quarters of the lease after its renewal, has passed
    b.round()
    a.round()
    assert (a.held, b.held, a.holder, b.term, a_changes, terms(store)) == (
        False, True, "b", 2, [True, False], [(1, "a"), (2, "b")])


def test_a_holder_past_its_deadline_does_not_act_even_before_anyone_claims(store: Storage) -> None:
    ticks = Ticks()
    a = replica(store, "a", monotonic=ticks)
    a.round()
    assert a.held
    ticks.advance(TIMING.holds_for.total_seconds())
    assert a.held is False
    with pytest.raises(NotEvaluator):
        a.check()


def test_a_claim_answered_too_late_is_not_acted_on(store: Storage) -> None:
    # Each reading of the replica's clock is a lease time after the one before: the claim's round trip too.
    readings = itertools.count()
    a = replica(store, "a", monotonic=lambda: next(readings) * TIMING.ttl.total_seconds())
    a.round()
    assert (a.held, terms(store)) == (False, [(1, "a")])


def test_a_released_term_is_claimed_at_once(store: Storage) -> None:
    a, b = replica(store, "a"), replica(store, "b")
    a.round()
    a.release()
    b.round()
    assert (a.held, b.held, b.term) == (False, True, 2)


def test_an_ingest_replica_reads_the_lease_and_never_claims(store: Storage) -> None:
    reader = replica(store, "i", candidate=False)
    reader.round()
    assert (reader.held, reader.holder, terms(store)) == (False, "", [])
    a = replica(store, "a")
    a.round()
    reader.round()
    assert (reader.held, reader.holder, terms(store)) == (False, "a", [(1, "a")])


def test_on_an_embedded_store_the_replica_claims_at_once(store: Storage) -> None:
    # The data directory is locked to one process: whoever held the lease before is gone.
    gone = replica(store, "gone")
    gone.round()
    successor = replica(store, "successor", exclusive=True)
    successor.round()
    assert (successor.held, successor.term) == (True, 2)
