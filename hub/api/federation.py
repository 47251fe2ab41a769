"""Warnings from above (CAP 1.2 from the city or the command centre) and the state of this
community's link to its command centre."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from hub.api.deps import AdminDep, HubDep
from hub.warnings import warning_json

router = APIRouter(tags=["federation"])


class FederationOut(BaseModel):
    enabled: bool
    cap_accepted: int = 0
    cap_rejected: dict[str, int] = {}
    recent_rejections: list[dict[str, object]] = []
    warning_duplicates: int = 0
    centre_acks: int = 0
    rollup_readings: int = 0
    rollup_pending_series: int = 0


class CapReceipt(BaseModel):
    outcome: str


@router.get("/api/warnings")
def warnings_in_force(hub: HubDep) -> list[dict[str, object]]:
    """External warnings in force for this community (the page banner reads these)."""
    if hub.warnings is None:
        return []
    return [warning_json(w) for w in hub.warnings.in_force()]


@router.get("/api/federation")
def federation_state(hub: HubDep) -> FederationOut:
    link = hub.federation
    if link is None:
        return FederationOut(enabled=False)
    ingest = link.ingest
    rollup = link.rollup
    return FederationOut(
        enabled=True, cap_accepted=ingest.accepted, cap_rejected=dict(ingest.rejected),
        recent_rejections=[{"ts": r.ts, "source": r.source, "reason": r.reason.value,
                            "detail": r.detail, "identifier": r.identifier}
                           for r in reversed(ingest.recent)],
        warning_duplicates=hub.warnings.duplicates if hub.warnings is not None else 0,
        centre_acks=link.acks,
        rollup_readings=rollup.readings if rollup is not None else 0,
        rollup_pending_series=rollup.pending_series if rollup is not None else 0)


@router.post("/api/cap")
async def receive_cap(hub: HubDep, request: Request, _admin: AdminDep) -> CapReceipt:
    """Push a CAP 1.2 document (XML body) into this hub, as an early-warning feed would."""
    if hub.federation is None:
        raise HTTPException(409, "federation is not configured on this hub "
                                 "(add a `federation:` section to hub.yaml)")
    body = await request.body()
    client = request.client.host if request.client else "unknown"
    return CapReceipt(outcome=await hub.federation.receive_cap(body, f"http:{client}"))
