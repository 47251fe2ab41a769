"""Silences: mute a device, place, rule or category during maintenance. Alerts it covers are
still recorded and shown, just not announced."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException

from hub.alerts import AlertError
from hub.api.deps import HubDep, PrincipalDep, WebDep, refuse
from hub.api.devices import parse_time
from hub.api.schemas import SilenceIn, SilenceOut
from hub.auth.roles import may_silence
from hub.statedb import SilenceRecord

router = APIRouter(tags=["silences"])


def _out(s: SilenceRecord, now: float) -> SilenceOut:
    return SilenceOut(id=s.id, starts=s.starts, ends=s.ends, author=s.author, reason=s.reason,
                      device=s.device_id, place=s.place_id, rule=s.rule_id,
                      category=s.category, created=s.created,
                      in_force=s.starts <= now < s.ends and s.deleted_at is None)


@router.get("/api/silences")
def list_silences(hub: HubDep) -> list[SilenceOut]:
    """Silences in force or still to come."""
    now = hub.clock.now()
    return [_out(s, now) for s in hub.alerts.silences.values() if s.ends > now]


@router.post("/api/silences", status_code=201)
async def create_silence(hub: HubDep, web: WebDep, principal: PrincipalDep,
                         body: SilenceIn) -> SilenceOut:
    """Mute alerts of a device, place, rule or category for maintenance; still recorded.
    Care operators may silence elderly-care alerts only (give `category: elderly_care`)."""
    if not may_silence(principal.role, body.category):
        raise refuse(principal, "silence " + (f"{body.category} alerts" if body.category
                                              else "alerts of every category"))
    now = hub.clock.now()
    starts = parse_time(body.starts, "starts", now)
    ends = parse_time(body.ends, "ends", starts + 3600)
    record = SilenceRecord(
        id=uuid.uuid4().hex[:12], starts=starts, ends=ends, author=principal.name,
        reason=body.reason, device_id=body.device, place_id=body.place, rule_id=body.rule,
        category=body.category, created=now)
    try:
        silence = hub.alerts.add_silence(record)
    except AlertError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    web.auth.record(principal.name, "silence.add", silence.id, body.reason)
    return _out(silence, now)


@router.delete("/api/silences/{silence_id}")
async def delete_silence(hub: HubDep, web: WebDep, principal: PrincipalDep,
                         silence_id: str) -> SilenceOut:
    """End a silence now."""
    now = hub.clock.now()
    silence = hub.alerts.silences.get(silence_id)
    if silence is not None and not may_silence(principal.role, silence.category):
        raise refuse(principal, f"end silence {silence_id} (it covers "
                                f"{silence.category or 'every category'})")
    try:
        ended = hub.alerts.delete_silence(silence_id, principal.name, now)
    except AlertError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    web.auth.record(principal.name, "silence.end", silence_id)
    return _out(ended, now)
