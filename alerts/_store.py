"""Durable alert state and the webhook outbox, on Storage: the alerts package's I/O edge to ClickHouse.

Both tables keep the latest row per key (ReplacingMergeTree, read with FINAL),
so a state or an outbox entry is updated by writing it again.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from alerts._state import AlertState, NotificationStatus, Phase
from ground.storage import ALERT_DELIVERIES, ALERT_STATE, Storage


class DeliveryState(enum.Enum):
    """Where an outbox entry is: waiting to be (re)sent, received, or abandoned."""

    PENDING = "pending"
    DELIVERED = "delivered"
    GIVEN_UP = "given_up"


@dataclass(frozen=True)
class OutboxEntry:
    """One webhook message owed to one receiver, with its delivery history.

    `body` is the exact JSON sent; `next_attempt_at` is when it may be tried
    (again); `last_error` says why the last attempt failed.
    """

    id: str
    receiver: str
    fingerprint: str
    status: NotificationStatus
    slo: str
    alertname: str
    body: bytes
    created_at: datetime
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_error: str = ""

    @staticmethod
    def entry_id(receiver: str, fingerprint: str, status: NotificationStatus, created_at: datetime) -> str:
        """A stable id: writing the same notification for the same receiver twice keeps one entry."""
        key = f"{receiver}\0{fingerprint}\0{status.value}\0{created_at.astimezone(UTC).isoformat()}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


class AlertStore:
    """Reads and writes alert states and outbox entries on a migrated Storage."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    # ------------------------------------------------------------------ alert state

    def load_states(self) -> dict[str, AlertState]:
        """Every alert instance's latest state, by fingerprint."""
        result = self._storage.query(
            f"SELECT Fingerprint, Labels, Annotations, Phase, {_millis('ActiveSince')}, {_millis('FiredAt')}, "
            f"{_millis('ResolvedAt')}, {_millis('NotifiedAt')}, SendResolved FROM {ALERT_STATE} FINAL"
        )
        states = {}
        for key, labels, annotations, phase, active, fired, resolved, notified, send_resolved in result.rows:
            states[key] = AlertState(key, labels, annotations, Phase(phase), _from_millis(active),
                                     _from_millis(fired), _from_millis(resolved), _from_millis(notified),
                                     bool(send_resolved))
        return states

    def save_states(self, states: Iterable[AlertState]) -> None:
        """Write these states (the ones that changed), replacing the earlier ones."""
        rows = [orjson.dumps({
            "Fingerprint": state.fingerprint,
            "SloName": state.labels.get("slo", ""),
            "AlertName": state.labels.get("alertname", ""),
            "Labels": dict(state.labels),
            "Annotations": dict(state.annotations),
            "Phase": state.phase.value,
            "ActiveSince": _text(state.active_since),
            "FiredAt": _text(state.fired_at),
            "ResolvedAt": _text(state.resolved_at),
            "NotifiedAt": _text(state.notified_at),
            "SendResolved": int(state.send_resolved),
        }) for state in states]
        if rows:
            self._storage.insert_json_rows(ALERT_STATE, b"\n".join(rows))

    # ------------------------------------------------------------------ outbox

    def enqueue(self, entries: Iterable[OutboxEntry]) -> None:
        """Write new outbox entries; they are pending until delivered or given up."""
        self._write(entries)

    def record(self, entry: OutboxEntry) -> None:
        """Write an entry's new delivery state after an attempt."""
        self._write((entry,))

    def pending(self) -> list[OutboxEntry]:
        """Entries still to deliver, oldest first: what a (restarted) delivery picks up."""
        return self._select(f"State = '{DeliveryState.PENDING.value}'", limit=None)

    def recent(self, limit: int = 100) -> list[OutboxEntry]:
        """The latest entries in any state, newest first: the alert event log."""
        return self._select("1", limit=limit)

    def _select(self, where: str, *, limit: int | None) -> list[OutboxEntry]:
        order = "CreatedAt, Id" if limit is None else "CreatedAt DESC, Id DESC"
        result = self._storage.query(
            f"SELECT Id, Receiver, Fingerprint, Status, SloName, AlertName, Body, {_millis('CreatedAt')}, State, "
            f"Attempts, {_millis('NextAttemptAt')}, {_millis('LastAttemptAt')}, LastError "
            f"FROM {ALERT_DELIVERIES} FINAL WHERE {where} ORDER BY {order}"
            + ("" if limit is None else " LIMIT {limit:UInt32}"),
            None if limit is None else {"limit": limit},
        )
        return [
            OutboxEntry(
                id=row[0], receiver=row[1], fingerprint=row[2], status=NotificationStatus(row[3]),
                slo=row[4], alertname=row[5], body=row[6].encode(), created_at=_from_millis(row[7]),
                state=DeliveryState(row[8]), attempts=row[9], next_attempt_at=_from_millis(row[10]),
                last_attempt_at=_from_millis(row[11]), last_error=row[12],
            )
            for row in result.rows
        ]

    def _write(self, entries: Iterable[OutboxEntry]) -> None:
        rows = [orjson.dumps({
            "Id": entry.id,
            "Receiver": entry.receiver,
            "Fingerprint": entry.fingerprint,
            "SloName": entry.slo,
            "AlertName": entry.alertname,
            "Status": entry.status.value,
            "Body": entry.body.decode(),
            "CreatedAt": _text(entry.created_at),
            "State": entry.state.value,
            "Attempts": entry.attempts,
            "NextAttemptAt": _text(entry.next_attempt_at or entry.created_at),
            "LastAttemptAt": _text(entry.last_attempt_at),
            "LastError": entry.last_error,
        }) for entry in entries]
        if rows:
            self._storage.insert_json_rows(ALERT_DELIVERIES, b"\n".join(rows))


def _millis(column: str) -> str:
    return f"toUnixTimestamp64Milli({column})"


def _text(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _from_millis(millis: int | str | None) -> datetime | None:
    if millis is None:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(millis))
