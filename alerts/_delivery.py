"""Delivery: the only sender of the outbox's entries, to receivers of every kind, with httpx. The I/O edge.

One loop sends (`start`): it runs a pass when woken (`wake`, after an
evaluation queued something) and on its timer (for retries), never two at
once, never inside an evaluation. A pass (`deliver_due`) reads the pending
entries from storage, so entries written before a restart are sent after it;
each entry is claimed before it is sent, so two passes (the loop and a test,
or a second loop) never send it twice. An entry is sent when its
`next_attempt_at` has come, as its receiver's kind sends it (alerts._formats:
a webhook's body signed with the time of sending, PagerDuty's with its routing
key); the kind reads the answer: delivered, or a failure that is retried (the
next attempt scheduled by the retry policy, exponential backoff with full
jitter and no sooner than the answer's Retry-After, until the entry is older
than the give-up age) or given up. Receivers are
served at once; one that fails is skipped for the rest of the pass, leaving
the others unaffected, and one that hangs holds up only its own
notifications; an alert's entry that is not due holds back that alert's later
ones, so a resolved notification never overtakes its firing one.

Every request carries `X-AgentSLO-Delivery-Id`, the entry's id: the same on
every retry of one notification to one receiver, so a receiver can drop the
rare second copy (a crash between a send and its record).

`stop` ends the loop: sends still running after its grace are cut (their
entries stay pending and are sent again, with the same id, after a restart),
and nothing writes to storage once it returns. While `ready()` (given to
`start`) is false the loop sends nothing, and a pass stops before its next
send: on a replica that lost the evaluator lease, the new holder's loop sends.

    delivery = Delivery(store, receivers, registry=registry)
    delivery.start()            # on the service's event loop
    delivery.wake()             # after alerting queued notifications
    await delivery.stop()
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import httpx
from prometheus_client import CollectorRegistry, Counter

from alerts._formats import receiver_kind
from alerts._receiver import Receiver
from alerts._retry import RetryPolicy, Verdict, retry_after
from alerts._store import AlertStore, DeliveryState, OutboxEntry

log = logging.getLogger("agentslo.alerts")

DELIVERY_ID_HEADER = "X-AgentSLO-Delivery-Id"
_USER_AGENT = "AgentSLO-Alerts/1"
# How often the loop looks for due retries when nothing wakes it.
DEFAULT_INTERVAL_S = 5.0
# How long `stop` lets sends in flight finish before cutting them.
DEFAULT_STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class DeliveryReport:
    """What one pass did, by entry count."""

    delivered: int = 0
    failed: int = 0
    given_up: int = 0
    waiting: int = 0

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(self.delivered + other.delivered, self.failed + other.failed,
                              self.given_up + other.given_up, self.waiting + other.waiting)


class _Interrupted(Exception):
    """A send cut by `stop`: its entry stays pending, untouched."""


class Delivery:
    """Sends pending outbox entries to their receivers.

    `clock` gives the current time (what is due, the signature's timestamp);
    `transport` replaces the network (e.g. `httpx.MockTransport`) where a test
    needs no real receiver.
    """

    def __init__(self, store: AlertStore, receivers: Sequence[Receiver], *, registry: CollectorRegistry,
                 retry: RetryPolicy = RetryPolicy(), clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._store = store
        self._receivers = {receiver.name: receiver for receiver in receivers}
        self._retry = retry
        self._clock = clock
        self._transport = transport
        self._claimed: set[str] = set()
        self._claims = threading.Lock()
        self._stopping = False
        self._ready: Callable[[], bool] = lambda: True
        self._sends: set[asyncio.Task[httpx.Response]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._attempts = Counter("agentslo_alert_delivery_attempts", "Webhook delivery attempts.",
                                 ["receiver"], registry=registry)
        self._failures = Counter("agentslo_alert_delivery_failures", "Webhook delivery attempts that failed.",
                                 ["receiver"], registry=registry)
        self._given_up = Counter("agentslo_alert_deliveries_given_up",
                                 "Webhook notifications abandoned: refused, or past the give-up age.",
                                 ["receiver"], registry=registry)

    # ------------------------------------------------------------------ the loop

    def start(self, *, ready: Callable[[], bool] = lambda: True, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        """Run the delivery loop on the running event loop: a pass when woken, and every `interval_s`,
        once `ready()` (storage migrated)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._ready = ready
        self._task = asyncio.create_task(self._run(interval_s), name="agentslo-delivery")

    def wake(self) -> None:
        """Ask the loop for a pass now (new notifications were queued); callable from any thread."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self, grace_s: float = DEFAULT_STOP_GRACE_S) -> None:
        """End the loop: let sends in flight finish for `grace_s`, then cut them; return once nothing runs."""
        self._stopping = True
        if self._task is None:
            return
        self.wake()
        done, _ = await asyncio.wait({self._task}, timeout=grace_s)
        if not done:
            for send in list(self._sends):
                send.cancel()
            await self._task

    async def _run(self, interval_s: float) -> None:
        assert self._wake is not None
        while not self._stopping:
            self._wake.clear()
            try:
                if self._ready():
                    await self.deliver_due()
            except Exception:
                log.exception("webhook delivery pass failed; the next one retries")
            try:
                await asyncio.wait_for(self._wake.wait(), interval_s)
            except TimeoutError:
                pass

    # ------------------------------------------------------------------ a pass

    async def deliver_due(self) -> DeliveryReport:
        """Try every pending entry due now and not claimed by another pass, at most once each."""
        by_receiver: dict[str, list[OutboxEntry]] = {}
        for entry in await asyncio.to_thread(self._store.pending):
            by_receiver.setdefault(entry.receiver, []).append(entry)
        claimed = self._claim(by_receiver)
        if not claimed:
            return DeliveryReport()
        try:
            async with httpx.AsyncClient(transport=self._transport, headers={"User-Agent": _USER_AGENT},
                                         follow_redirects=False) as client:
                reports = await asyncio.gather(*(self._deliver_to(client, name, entries)
                                                 for name, entries in by_receiver.items()))
        finally:
            self._release(claimed)
        return sum(reports, DeliveryReport())

    def _claim(self, by_receiver: dict[str, list[OutboxEntry]]) -> set[str]:
        """Take the entries no other pass holds (dropping the others from `by_receiver`); return their ids."""
        with self._claims:
            for name, entries in list(by_receiver.items()):
                mine = [entry for entry in entries if entry.id not in self._claimed]
                if mine:
                    by_receiver[name] = mine
                else:
                    del by_receiver[name]
            taken = {entry.id for entries in by_receiver.values() for entry in entries}
            self._claimed |= taken
        return taken

    def _release(self, ids: set[str]) -> None:
        with self._claims:
            self._claimed -= ids

    async def _deliver_to(self, client: httpx.AsyncClient, name: str, entries: list[OutboxEntry]) -> DeliveryReport:
        """One receiver's due entries, oldest first, until one fails: the rest wait for the next pass."""
        receiver = self._receivers.get(name)
        if receiver is None:
            # Removed from the config: nobody to deliver to any more.
            for entry in entries:
                self._given_up.labels(name).inc()
                await self._record(replace(entry, state=DeliveryState.GIVEN_UP,
                                           last_error="receiver no longer configured"))
            return DeliveryReport(given_up=len(entries))
        delivered = failed = given_up = waiting = 0
        failing = False
        # An alert's notifications reach a receiver in order: one not yet due holds back the later ones.
        held: set[str] = set()
        for entry in entries:
            now = self._clock()
            due = entry.next_attempt_at is None or entry.next_attempt_at <= now
            if not due or failing or self._stopping or not self._ready() or entry.fingerprint in held:
                held.add(entry.fingerprint)
                waiting += 1
                continue
            try:
                verdict, error, asked_for = await self._send(client, receiver, entry)
            except _Interrupted:
                waiting += 1
                break
            attempts = entry.attempts + 1
            if verdict is Verdict.DELIVERED:
                await self._record(replace(entry, state=DeliveryState.DELIVERED, attempts=attempts,
                                           last_attempt_at=now, last_error=""))
                delivered += 1
                continue
            failed += 1
            failing = True
            at = None
            if verdict is Verdict.RETRY:
                at = self._retry.next_attempt(created_at=entry.created_at, attempts=attempts, now=now,
                                              not_before=asked_for)
            if at is None:
                given_up += 1
                self._given_up.labels(entry.receiver).inc()
                await self._record(replace(entry, state=DeliveryState.GIVEN_UP, attempts=attempts,
                                           last_attempt_at=now, last_error=error))
            else:
                waiting += 1
                await self._record(replace(entry, attempts=attempts, next_attempt_at=at, last_attempt_at=now,
                                           last_error=error))
        return DeliveryReport(delivered, failed, given_up, waiting)

    async def _send(self, client: httpx.AsyncClient, receiver: Receiver,
                    entry: OutboxEntry) -> tuple[Verdict, str, datetime | None]:
        """POST the entry as its receiver's kind sends it; return the kind's verdict on the answer, unless
        delivered why (credentials redacted), and the time its Retry-After asks to be tried again after."""
        kind = receiver_kind(receiver)
        headers, content = kind.request(receiver, entry.body, int(self._clock().timestamp()))
        self._attempts.labels(receiver.name).inc()
        send = asyncio.ensure_future(client.post(receiver.url, content=content,
                                                 headers={DELIVERY_ID_HEADER: entry.id, **headers},
                                                 timeout=receiver.timeout_s))
        self._sends.add(send)
        try:
            response = await send
        except asyncio.CancelledError:
            if self._stopping and send.cancelled():
                raise _Interrupted from None
            raise
        except httpx.HTTPError as exc:
            self._failures.labels(receiver.name).inc()
            error = receiver.redact(f"{type(exc).__name__}: {exc}")
            log.warning("alert delivery to %s failed: %s", receiver.name, error)
            return kind.verdict(None, ""), error, None
        finally:
            self._sends.discard(send)
        verdict = kind.verdict(response.status_code, response.text)
        if verdict is Verdict.DELIVERED:
            return verdict, "", None
        self._failures.labels(receiver.name).inc()
        log.warning("alert delivery to %s answered %d", receiver.name, response.status_code)
        return (verdict, receiver.redact(f"HTTP {response.status_code}: {response.text[:200]}"),
                retry_after(response.headers.get("Retry-After"), self._clock()))

    async def _record(self, entry: OutboxEntry) -> None:
        await asyncio.to_thread(self._store.record, entry)
