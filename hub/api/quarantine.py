from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hub.api.deps import HubDep
from hub.api.schemas import QuarantinedOut, QuarantineOut

router = APIRouter(tags=["quarantine"])


@router.get("/api/quarantine")
def quarantine(
    hub: HubDep,
    reason: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> QuarantineOut:
    q = hub.quarantine
    samples = [s for s in reversed(q.samples) if reason is None or s.reason == reason]
    return QuarantineOut(
        total=q.total, by_reason=dict(q.counts),
        recent=[QuarantinedOut(ts=s.ts, topic=s.topic, reason=s.reason, detail=s.detail,
                               payload=s.payload, device=s.device_id, partial=s.partial)
                for s in samples[:limit]])
