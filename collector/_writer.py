"""Group commit: rows of concurrent export requests go to ClickHouse in one insert.

A request's `write` returns only once its rows are stored, so a 2xx answer
means durable. Throughput comes from the size of the inserts: while one insert
runs, the requests that arrive meanwhile gather into the next one, and a flush
waits briefly for requests that are still being decoded and mapped.

Bounded memory: past `max_pending_rows` waiting rows a write is refused at once
(Overloaded), and while storage is failing writes are refused for a short
back-off (StorageUnavailable) instead of queueing; the receivers turn both into
"retry later" answers, which the OTLP exporters honour.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, Self

from collector._keyset import KeySet
from ground.errors import Overloaded, StorageError, StorageUnavailable

log = logging.getLogger("agentslo.ingest")

# How long a flush waits for requests still being mapped (Ingest marks them with
# BatchWriter.incoming): every insert costs ClickHouse a fixed amount of CPU on top of
# its rows, and bigger parts merge less, so gathering the requests in flight into one
# insert lowers the CPU per span and the tail latency; longer waits stop paying once
# all the senders' requests are in (bench/README.md has the figures per wait).
_MAX_GATHER_S = 0.2
# Group commit's defaults (ingest.max_batch_spans, ingest.max_pending_spans): most spans per insert,
# and most waiting before writes are refused (a mapped span is about 1.2 KB: the queue stays near 120 MB).
MAX_BATCH_ROWS = 50_000
MAX_PENDING_ROWS = 100_000
# After a failed insert, writes are refused this long at once: the clients retry later
# rather than queue behind a storage that is down.
_REFUSAL_BACKOFF_S = 1.0


class Block(Protocol):
    """Some rows, one per key of the request that brought them (collector._columns.SpanBlock)."""

    def __len__(self) -> int: ...
    def select(self, keep: Sequence[bool]) -> Self: ...


@dataclass
class _Request:
    block: Block
    keys: list[bytes]
    done: asyncio.Future[int] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass(frozen=True)
class _Insert:
    body: bytes
    keys: list[bytes]
    token: str  # ClickHouse insert_deduplication_token: a repeated insert is stored once (dedup_token)


def dedup_token(keys: list[bytes]) -> str:
    """The insert deduplication token of an insert of the spans `keys` (fixed-size span keys, in order).

    Made from the spans alone, so that a request sent again through another replica
    of the service (the first stored it and its answer was lost) carries the token
    of its first insert when it is inserted alone, as it is unless requests arrive
    together: ClickHouse drops it there (a Replicated table's deduplication in
    Keeper, or a MergeTree's non-replicated window), where no replica's memory of
    recent spans reaches. The writer's own repeat of an insert has the same token.
    """
    return hashlib.blake2b(b"".join(keys), digest_size=16).hexdigest()


class RecentSpans:
    """Keys of recently stored spans, to drop spans an exporter sends again.

    Two generations of at most `size` keys each: memory stays bounded (16 bytes
    a key, collector._keyset) and a span is remembered for at least `size` later
    spans, or all the spans of the inserts since the older generation began.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._current = KeySet(size)
        self._previous = KeySet(size)

    def __contains__(self, key: bytes) -> bool:
        return key in self._current or key in self._previous

    def isdisjoint(self, keys: list[bytes]) -> bool:
        """Whether none of `keys` is remembered."""
        return self._current.isdisjoint(keys) and self._previous.isdisjoint(keys)

    def add_all(self, keys: list[bytes]) -> None:
        keys = keys[-self._current.capacity:]  # an insert larger than a generation: its newest
        if len(self._current) + len(keys) > self._current.capacity:
            self._previous, self._current = self._current, self._previous
            self._current.clear()
        self._current.add_all(keys)


class BatchWriter:
    """Stores blocks of rows through `insert(encode(blocks), dedup_token)`, grouping concurrent requests.

    `insert` is blocking (a Storage call); it runs in a worker thread, one at a
    time, since one large insert beats two half-size ones on ClickHouse. `clock`
    (seconds, monotonic) times the refusal back-off and each insert.
    """

    def __init__(
        self,
        insert: Callable[[bytes, str], None],
        encode: Callable[[list[Block]], bytes],
        *,
        max_batch_rows: int = MAX_BATCH_ROWS,
        max_pending_rows: int = MAX_PENDING_ROWS,
        dedup_window: int = 500_000,
        on_insert: Callable[[int, float], None] = lambda rows, seconds: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._insert = insert
        self._clock = clock
        self._encode = encode
        self._max_batch_rows = max_batch_rows
        self._max_pending_rows = max_pending_rows
        self._incoming = 0
        self._arrived = asyncio.Event()
        self._on_insert = on_insert
        self._recent = RecentSpans(dedup_window)
        self._queue: list[_Request] = []
        self._pending_rows = 0
        self._wake = asyncio.Event()
        self._refuse_until = 0.0
        self._unknown: _Insert | None = None
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    @property
    def dedup_window(self) -> int:
        """How many of the spans stored last are remembered, at least, to drop them if sent again."""
        return self._recent.size

    def remember(self, keys: list[bytes]) -> None:
        """Remember `keys` (oldest first) as stored: spans stored before this process started
        (collector.stored_span_keys), so that an exporter retrying a request whose answer
        a killed process never sent does not store its spans twice."""
        self._recent.add_all(keys)

    @property
    def pending_rows(self) -> int:
        """Rows accepted into the queue and not yet stored or failed."""
        return self._pending_rows

    def start(self) -> None:
        """Start the flush loop on the running event loop."""
        self._task = asyncio.create_task(self._flush_loop(), name="agentslo-batch-writer")

    async def close(self) -> None:
        """Store what is queued, then stop. Writes after this raise Overloaded."""
        self._closing = True
        self._wake.set()
        self._arrived.set()  # a flush waiting for requests being mapped stops waiting
        if self._task is not None:
            await self._task

    @contextlib.contextmanager
    def incoming(self) -> Iterator[None]:
        """Mark a request on its way to `write` (being decoded and mapped), so that a flush waits for it.

        Every insert costs ClickHouse ~10 ms of CPU whatever its size, and while
        one runs the serving process does little else: without this the writer
        would take each request alone as it comes out of mapping, one insert per
        request. The wait is bounded by _MAX_GATHER_S.
        """
        self._incoming += 1
        try:
            yield
        finally:
            self._incoming -= 1
            self._arrived.set()

    async def write(self, block: Block, keys: list[bytes]) -> int:
        """Store `block` (spans identified by `keys`, one per row); return how many were new.

        Raises Overloaded or StorageUnavailable when the rows were not stored
        and the client should retry, StorageError when storage refused them.
        """
        if self._closing:
            raise Overloaded("shutting down")
        if self._clock() < self._refuse_until:
            raise StorageUnavailable("storage is failing; refusing writes for a short back-off")
        if self._pending_rows + len(keys) > self._max_pending_rows and self._pending_rows:
            raise Overloaded(f"{self._pending_rows} spans are waiting for storage")
        request = _Request(block, keys)
        self._queue.append(request)
        self._pending_rows += len(keys)
        self._wake.set()
        self._arrived.set()
        return await request.done

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._gather()
                await self._flush(self._take_group())
            if self._closing:
                return

    async def _gather(self) -> None:
        """Wait, at most _MAX_GATHER_S, for the requests being mapped now to join the next insert."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _MAX_GATHER_S
        while self._incoming and self._pending_rows < self._max_batch_rows and not self._closing:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), deadline - loop.time())
            except TimeoutError:
                return

    def _take_group(self) -> list[_Request]:
        group: list[_Request] = []
        rows = 0
        while self._queue and (not group or rows + len(self._queue[0].keys) <= self._max_batch_rows):
            request = self._queue.pop(0)
            group.append(request)
            rows += len(request.keys)
        return group

    async def _flush(self, group: list[_Request]) -> None:
        try:
            await self._redo_unknown_insert()
            blocks, keys, new_counts = self._new_rows(group)
            if keys:
                await self._insert_once(_Insert(self._encode(blocks), keys, dedup_token(keys)))
        except StorageError as exc:
            log.warning("spans not stored: %s", exc)
            self._settle(group, error=exc)
            return
        except Exception as exc:  # a bug: fail the requests rather than hang them
            log.exception("storing spans failed unexpectedly")
            self._settle(group, error=StorageError(f"internal error while storing spans: {exc}"))
            return
        self._settle(group, counts=new_counts)

    def _new_rows(self, group: list[_Request]) -> tuple[list[Block], list[bytes], list[int]]:
        """The rows of `group` not stored before (nor twice within it), their keys, and counts per request."""
        blocks: list[Block] = []
        keys: list[bytes] = []
        seen: set[bytes] = set()
        new_counts: list[int] = []
        for request in group:
            # Nearly always every span of a request is new: take them all with set operations
            # rather than a look-up per span (this runs in the serving process, short of CPU).
            request_keys = set(request.keys)
            if (len(request_keys) == len(request.keys) and request_keys.isdisjoint(seen)
                    and self._recent.isdisjoint(request.keys)):
                seen |= request_keys
                blocks.append(request.block)
                keys += request.keys
                new_counts.append(len(request.keys))
                continue
            keep: list[bool] = []
            for key in request.keys:
                new = key not in seen and key not in self._recent
                if new:
                    seen.add(key)
                    keys.append(key)
                keep.append(new)
            if any(keep):
                blocks.append(request.block.select(keep))
            new_counts.append(sum(keep))
        return blocks, keys, new_counts

    async def _insert_once(self, insert: _Insert) -> None:
        """Insert; when storage fails the outcome is unknown (it may have stored the rows before
        failing to answer), so the same insert is kept to be repeated, with the same
        deduplication token, before anything else."""
        started = self._clock()
        try:
            await asyncio.to_thread(self._insert, insert.body, insert.token)
        except StorageUnavailable:
            self._refuse_until = self._clock() + _REFUSAL_BACKOFF_S
            self._unknown = insert
            raise
        self._unknown = None
        self._recent.add_all(insert.keys)
        self._on_insert(len(insert.keys), self._clock() - started)

    async def _redo_unknown_insert(self) -> None:
        if self._unknown is not None:
            log.info("repeating an insert of %d spans whose outcome was unknown", len(self._unknown.keys))
            await self._insert_once(self._unknown)

    def _settle(self, group: list[_Request], *, error: Exception | None = None,
                counts: list[int] | None = None) -> None:
        for index, request in enumerate(group):
            self._pending_rows -= len(request.keys)
            if request.done.done():  # the client went away; nothing to tell it
                continue
            if error is not None:
                request.done.set_exception(error)
            else:
                request.done.set_result(counts[index] if counts else 0)
