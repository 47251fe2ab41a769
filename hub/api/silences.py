from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from hub.alerts import AlertError
from hub.api.deps import HubDep
from hub.api.devices import parse_time
from hub.api.schemas import SilenceIn, SilenceOut
from hub.statedb import SilenceRecord

router = APIRouter(tags=["silences"])


def _out(s: SilenceRecord, now: float) -> SilenceOut:
    return SilenceOut(id=s.id, starts=s.starts, ends=s.ends, author=s.author, reason=s.reason,
                      device=s.device_id, place=s.place_id, rule=s.rule_id,
                      category=s.category, created=s.created,
                      in_force=s.starts <= now < s.ends and s.deleted_at is None)


@router.get("/api/silences")
def list_silences(hub: HubDep) -> list[SilenceOut]:
    now = hub.clock.now()
    return [_out(s, now) for s in hub.alerts.silences.values() if s.ends > now]


@router.post("/api/silences", status_code=201)
def create_silence(hub: HubDep, body: SilenceIn) -> SilenceOut:
    """Mute alerts of a device, place, rule or category for maintenance; still recorded."""
    now = hub.clock.now()
    starts = parse_time(body.starts, "starts", now)
    ends = parse_time(body.ends, "ends", starts + 3600)
    record = SilenceRecord(
        id=uuid.uuid4().hex[:12], starts=starts, ends=ends, author=body.author,
        reason=body.reason, device_id=body.device, place_id=body.place, rule_id=body.rule,
        category=body.category, created=now)
    try:
        return _out(hub.alerts.add_silence(record), now)
    except AlertError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.delete("/api/silences/{silence_id}")
def delete_silence(hub: HubDep, silence_id: str,
                   user: Annotated[str, Query(min_length=1)]) -> SilenceOut:
    now = hub.clock.now()
    try:
        return _out(hub.alerts.delete_silence(silence_id, user, now), now)
    except AlertError as exc:
        raise HTTPException(exc.status, str(exc)) from None
