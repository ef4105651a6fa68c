"""BatchWriter: group commit, bounded queue, and inserts whose outcome is unknown."""

from __future__ import annotations

import asyncio
import threading

import pytest

from collector import BatchWriter
from ground.errors import Overloaded, StorageUnavailable


class Table:
    """Stands in for ClickHouse behind the writer's insert callable, with insert deduplication by token."""

    def __init__(self) -> None:
        self.rows: list[bytes] = []
        self.inserts: list[int] = []
        self.tokens: set[str] = set()
        self.fail_after_storing = False
        self.gate = threading.Event()        # cleared: inserts wait in storage until it is set
        self.gate.set()
        self.entered = threading.Event()     # set once an insert reached storage

    def insert(self, body: bytes, token: str) -> None:
        self.entered.set()
        self.gate.wait()
        if token in self.tokens:
            return
        self.tokens.add(token)
        lines = body.split(b"\n")
        self.rows.extend(lines)
        self.inserts.append(len(lines))
        if self.fail_after_storing:
            raise StorageUnavailable("connection reset after the insert was sent")


class Clock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def in_storage(table: Table) -> None:
    """Until an insert has reached storage (and, the gate closed, waits there)."""
    await asyncio.to_thread(table.entered.wait)


async def queued(writer: BatchWriter, rows: int) -> None:
    """Until the writer holds `rows` rows waiting for storage."""
    while writer.pending_rows < rows:
        await asyncio.sleep(0)


class Lines(list):
    """A block of rows for the writer, one line each (ingest's are Arrow record batches: collector._columns)."""

    def select(self, keep: list[bool]) -> Lines:
        return Lines(line for line, kept in zip(self, keep) if kept)


def join(blocks: list[Lines]) -> bytes:
    return b"\n".join(line for block in blocks for line in block)


def rows(prefix: str, n: int) -> tuple[Lines, list[bytes]]:
    return Lines(f"{prefix}{i}".encode() for i in range(n)), [f"key-{prefix}{i}".encode() for i in range(n)]


def test_requests_arriving_during_an_insert_share_the_next_one() -> None:
    table = Table()

    async def scenario() -> list[int]:
        writer = BatchWriter(table.insert, join)
        writer.start()
        table.gate.clear()
        first = asyncio.create_task(writer.write(*rows("a", 5)))
        await in_storage(table)                # the first insert is now blocked in storage
        others = [asyncio.create_task(writer.write(*rows(f"b{i}-", 5))) for i in range(9)]
        await queued(writer, 50)
        table.gate.set()
        counts = [await first] + [await task for task in others]
        await writer.close()
        return counts

    assert asyncio.run(scenario()) == [5] * 10
    assert table.inserts == [5, 45]


def test_a_flush_waits_for_requests_still_being_mapped_so_they_share_one_insert() -> None:
    table = Table()

    async def scenario() -> tuple[list[int], float]:
        writer = BatchWriter(table.insert, join)
        writer.start()
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def mapped_after(delay_s: float, prefix: str) -> int:
            with writer.incoming():          # being decoded and mapped
                await asyncio.sleep(delay_s)
                return await writer.write(*rows(prefix, 5))

        counts = await asyncio.gather(mapped_after(0, "a"), mapped_after(0.05, "b"), mapped_after(0.1, "c"))
        waited_s = loop.time() - started
        await writer.close()
        return list(counts), waited_s

    counts, waited_s = asyncio.run(scenario())
    assert counts == [5, 5, 5]
    assert table.inserts == [15]              # not [5, 5, 5]: the first request waited for the other two
    assert waited_s < 0.2 + 0.1               # and no longer than the last one took to arrive, within the bound


def test_the_wait_for_requests_being_mapped_is_bounded() -> None:
    table = Table()

    async def scenario() -> float:
        writer = BatchWriter(table.insert, join)
        writer.start()
        loop = asyncio.get_running_loop()
        with writer.incoming():               # another request, still being mapped long after
            started = loop.time()
            await writer.write(*rows("a", 5))
            stored_after_s = loop.time() - started
        await writer.close()
        return stored_after_s

    assert 0.15 <= asyncio.run(scenario()) < 1.0
    assert table.inserts == [5]


def test_an_insert_with_unknown_outcome_is_repeated_with_its_token_and_retries_are_not_stored_twice() -> None:
    table = Table()

    async def scenario() -> tuple[int, int]:
        clock = Clock()
        writer = BatchWriter(table.insert, join, clock=clock)
        writer.start()
        table.fail_after_storing = True
        with pytest.raises(StorageUnavailable):
            await writer.write(*rows("a", 3))  # stored, but the writer could not know
        table.fail_after_storing = False
        clock.now += 1.1                       # past the refusal back-off
        retried = await writer.write(*rows("a", 3))  # the exporter retries the same spans
        fresh = await writer.write(*rows("c", 2))
        await writer.close()
        return retried, fresh

    assert asyncio.run(scenario()) == (0, 2)
    assert sorted(table.rows) == [b"a0", b"a1", b"a2", b"c0", b"c1"]


def test_writes_are_refused_at_once_while_storage_just_failed() -> None:
    table = Table()

    async def scenario() -> None:
        writer = BatchWriter(table.insert, join)
        writer.start()
        table.fail_after_storing = True
        with pytest.raises(StorageUnavailable):
            await writer.write(*rows("a", 1))
        with pytest.raises(StorageUnavailable, match="refusing writes for a short back-off"):
            await writer.write(*rows("b", 1))
        await writer.close()

    asyncio.run(scenario())


def test_a_full_queue_refuses_new_writes() -> None:
    table = Table()

    async def scenario() -> None:
        writer = BatchWriter(table.insert, join, max_pending_rows=10)
        writer.start()
        table.gate.clear()
        first = asyncio.create_task(writer.write(*rows("a", 8)))
        await in_storage(table)
        with pytest.raises(Overloaded, match="8 spans are waiting for storage"):
            await writer.write(*rows("b", 5))
        table.gate.set()
        await first
        await writer.close()

    asyncio.run(scenario())


def test_close_stores_what_is_queued() -> None:
    table = Table()

    async def scenario() -> list[int]:
        writer = BatchWriter(table.insert, join)
        writer.start()
        table.gate.clear()
        tasks = [asyncio.create_task(writer.write(*rows(f"r{i}-", 2))) for i in range(3)]
        await in_storage(table)
        await queued(writer, 6)
        closing = asyncio.create_task(writer.close())
        table.gate.set()
        await closing
        return [await task for task in tasks]

    assert asyncio.run(scenario()) == [2, 2, 2]
    assert len(table.rows) == 6


def test_a_request_resending_some_stored_spans_stores_only_its_new_ones() -> None:
    table = Table()

    async def scenario() -> tuple[int, int]:
        writer = BatchWriter(table.insert, join)
        writer.start()
        await writer.write(*rows("a", 3))
        lines, keys = rows("a", 5)  # a0-a2 again, then a3 and a4
        lines.insert(1, b"a3")  # and a3 twice within the request
        keys.insert(1, b"key-a3")
        again = await writer.write(lines, keys)
        await writer.close()
        return again, len(table.inserts)

    assert asyncio.run(scenario()) == (2, 2)
    assert sorted(table.rows) == [b"a0", b"a1", b"a2", b"a3", b"a4"]


def test_recent_spans_remember_two_generations_of_keys() -> None:
    from collector._writer import RecentSpans

    recent = RecentSpans(4)
    first, second, third = ([bytes([g, k]) * 12 for k in range(3)] for g in range(3))
    recent.add_all(first)
    recent.add_all(second)  # would pass 4 keys: `first` becomes the older generation
    assert all(key in recent for key in first + second)
    assert not recent.isdisjoint([b"new" * 8, first[0]]) and recent.isdisjoint([b"new" * 8])
    recent.add_all(third)  # `first` is forgotten
    assert [key in recent for key in first + second + third] == [False] * 3 + [True] * 6


def test_an_insert_larger_than_a_generation_leaves_its_newest_keys_remembered() -> None:
    from collector._writer import RecentSpans

    recent = RecentSpans(4)
    keys = [bytes([k]) * 24 for k in range(6)]
    recent.add_all(keys)
    assert [key in recent for key in keys] == [False, False, True, True, True, True]


def test_spans_remembered_at_start_up_are_dropped_when_sent_again() -> None:
    table = Table()

    async def scenario() -> tuple[int, int]:
        writer = BatchWriter(table.insert, join)
        writer.remember(rows("a", 3)[1])  # stored by the process before this one
        writer.start()
        again = await writer.write(*rows("a", 3))
        partly = await writer.write(*rows("a", 5))
        await writer.close()
        return again, partly

    assert asyncio.run(scenario()) == (0, 2)
    assert sorted(table.rows) == [b"a3", b"a4"]


def test_a_request_stored_by_one_replica_and_sent_to_another_carries_the_same_token() -> None:
    table = Table()  # one ClickHouse behind two replicas of the service

    async def scenario() -> None:
        first, second = BatchWriter(table.insert, join), BatchWriter(table.insert, join)
        first.start()
        second.start()
        await first.write(*rows("a", 3))   # stored; the answer lost on its way to the exporter
        await second.write(*rows("a", 3))  # which sends the request again, through the other replica
        await second.write(*rows("b", 2))
        await first.close()
        await second.close()

    asyncio.run(scenario())
    assert sorted(table.rows) == [b"a0", b"a1", b"a2", b"b0", b"b1"]
