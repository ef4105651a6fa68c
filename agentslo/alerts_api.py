"""`GET /api/v1/alerts`: alert instances that are not inactive, and recent webhook deliveries."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from agentslo.access import requires
from alerts import AlertStore, Phase
from ground.auth import KeyRing, Scope
from ground.errors import StorageError

__all__ = ["AlertsOut", "alerts_out", "alerts_router"]

log = logging.getLogger("agentslo")


class AlertOut(BaseModel):
    """One alert instance (one window pair of one SLO)."""

    fingerprint: str
    phase: str
    labels: dict[str, str]
    annotations: dict[str, str]
    active_since: datetime | None
    fired_at: datetime | None
    resolved_at: datetime | None


class DeliveryOut(BaseModel):
    """One notification in the outbox and what became of it."""

    id: str
    receiver: str
    slo: str
    alertname: str
    status: str
    state: str
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str


class AlertsOut(BaseModel):
    """Active alerts and the latest deliveries, newest first."""

    alerts: list[AlertOut]
    deliveries: list[DeliveryOut]


def alerts_out(store: AlertStore, limit: int) -> AlertsOut:
    """Alert instances that are not inactive, and the last `limit` deliveries, from `store` (blocking)."""
    states = store.load_states()
    entries = store.recent(limit)
    return AlertsOut(
        alerts=[
            AlertOut(fingerprint=s.fingerprint, phase=s.phase.value, labels=dict(s.labels),
                     annotations=dict(s.annotations), active_since=s.active_since, fired_at=s.fired_at,
                     resolved_at=s.resolved_at)
            for s in states.values() if s.phase is not Phase.INACTIVE
        ],
        deliveries=[
            DeliveryOut(id=e.id, receiver=e.receiver, slo=e.slo, alertname=e.alertname, status=e.status.value,
                        state=e.state.value, attempts=e.attempts, created_at=e.created_at,
                        last_attempt_at=e.last_attempt_at, next_attempt_at=e.next_attempt_at,
                        last_error=e.last_error)
            for e in entries
        ],
    )


def alerts_router(store: AlertStore, keys: KeyRing) -> APIRouter:
    """Routes reading alert state and the delivery outbox from `store` (a read key)."""
    router = APIRouter(prefix="/api/v1", tags=["alerts"])

    @router.get("/alerts", response_model=AlertsOut, dependencies=[requires(keys, Scope.READ)])
    async def list_alerts(limit: int = Query(100, ge=1, le=1000)) -> AlertsOut:
        """Alert instances pending, firing or resolved, and the last `limit` webhook deliveries."""
        try:
            return await asyncio.to_thread(alerts_out, store, limit)
        except StorageError as exc:  # the driver's words name hosts and settings: logged, not answered
            log.warning("alert state unavailable: %s", exc)
            raise HTTPException(503, "alert state unavailable: storage unavailable") from exc

    return router
