"""Residents of the elderly-care programme (虚拟养老院): who they are, how their day goes, when
someone should next be in touch, their alerts, and check-ins."""

from __future__ import annotations

import asyncio
import re

from fastapi import APIRouter, HTTPException

from devices.site import Resident
from hub.api.alertview import alert_view, place_names
from hub.api.deps import HubDep, PrincipalDep, WebDep, refuse
from hub.api.schemas import AlertOut, Message
from hub.api.site import alerts_in, place_devices
from hub.api.site_schemas import (
    ActivityOut,
    CheckInIn,
    CheckInOut,
    ResidentHistoryOut,
    ResidentOut,
)
from hub.api.vitals import Vitals
from hub.auth.roles import Principal, may_check_in, sees_contacts
from hub.care import ACTIVITY, CheckIn, Outcome, activity_day, activity_window, next_check_in
from hub.service import Hub
from rules.lifecycle import contains
from rules.schema import Severity

router = APIRouter(tags=["residents"])

_HISTORY = 200


def _mask(contact: str) -> str:
    """`+8613900000000` → `+86139****0000`: enough to recognise, not to call."""
    digits = re.sub(r"\D", "", contact)
    if len(digits) < 7:
        return "****"
    return contact[:-8] + "****" + contact[-4:] if len(contact) >= 12 else "****" + contact[-4:]


def _activity(hub: Hub, resident: Resident) -> ActivityOut:
    """Motion, door and bed readings of their home since the start of today (at least the
    last 24 h), from the reading store. Called off the event loop."""
    now = hub.clock.now()
    start, end = activity_window(now, hub.site.timezone)
    points = []
    for device in hub.site.devices.values():
        if device.place.id != resident.unit.id:
            continue
        for metric in ACTIVITY:
            if metric in device.kind.metrics:
                points += [(metric, ts, v) for ts, v in hub.store.query(
                    device.id, metric, start, end, 20_000)]
    day = activity_day(points, now, hub.site.timezone)
    return ActivityOut(last_activity=day.last_activity, hours=list(day.hours))


def _check_in_out(c: CheckIn) -> CheckInOut:
    return CheckInOut(ts=c.ts, user=c.user, outcome=c.outcome.value,
                      note=c.note, alert_id=c.alert_id)


def _resident_out(hub: Hub, web: WebDep, principal: Principal, vitals: Vitals,
                  resident: Resident, activity: ActivityOut,
                  last_contacts: dict[str, float]) -> ResidentOut:
    recent = web.care.of(resident.id, limit=1)
    contacts = list(resident.contacts)
    if not sees_contacts(principal.role):
        contacts = [_mask(c) for c in contacts]
    return ResidentOut(
        id=resident.id, name=resident.name, unit=resident.unit.id,
        place_name=Message(**place_names(hub.site, resident.unit.id)),
        care_level=resident.care_level, lives_alone=resident.lives_alone, contacts=contacts,
        devices=place_devices(hub, vitals, resident.unit), activity=activity,
        last_check_in=_check_in_out(recent[0]) if recent else None,
        next_check_in_due=next_check_in(resident, last_contacts.get(resident.id),
                                        hub.clock.now()),
        alerts=alerts_in(hub, resident.unit))


def _urgency(r: ResidentOut, now: float) -> tuple[int, int, float]:
    worst = max((Severity(a.severity).rank for a in r.alerts), default=-1)
    overdue = 1 if r.next_check_in_due <= now else 0
    return (-worst, -overdue, r.next_check_in_due)


@router.get("/api/residents")
async def list_residents(hub: HubDep, web: WebDep, principal: PrincipalDep) -> list[ResidentOut]:
    """Everyone in the programme: those with active alerts first (most severe first), then
    those whose check-in is overdue, then by when it is due."""
    vitals = await web.vitals.get()
    activities = await asyncio.to_thread(
        lambda: [_activity(hub, r) for r in hub.site.residents])
    last_contacts = web.care.last_contacts()
    out = [_resident_out(hub, web, principal, vitals, r, a, last_contacts)
           for r, a in zip(hub.site.residents, activities, strict=True)]
    now = hub.clock.now()
    return sorted(out, key=lambda r: _urgency(r, now))


def _find(hub: Hub, resident_id: str) -> Resident:
    for resident in hub.site.residents:
        if resident.id == resident_id:
            return resident
    raise HTTPException(404, f"no resident {resident_id!r} in the care programme of "
                             f"{hub.site.id!r}")


@router.get("/api/residents/{resident_id}")
async def resident_history(hub: HubDep, web: WebDep, principal: PrincipalDep,
                           resident_id: str) -> ResidentHistoryOut:
    """One resident: today, and the history of their alerts and check-ins."""
    resident = _find(hub, resident_id)
    vitals = await web.vitals.get()
    activity = await asyncio.to_thread(_activity, hub, resident)
    out = _resident_out(hub, web, principal, vitals, resident, activity,
                        web.care.last_contacts())
    site = hub.site
    history = [a for a in hub.db.alerts(limit=10_000)
               if (place := site.places.get(a.place_id)) is not None
               and contains(resident.unit, place)][:_HISTORY]
    return ResidentHistoryOut(
        resident=out,
        alerts=[AlertOut.model_validate(alert_view(hub, a, with_told=False)) for a in history],
        check_ins=[_check_in_out(c) for c in web.care.of(resident.id, limit=_HISTORY)])


@router.post("/api/residents/{resident_id}/checkins", status_code=201)
async def add_check_in(hub: HubDep, web: WebDep, principal: PrincipalDep, resident_id: str,
                       body: CheckInIn) -> CheckInOut:
    """Record a contact with the resident: a routine call, a visit, no answer."""
    if not may_check_in(principal.role):
        raise refuse(principal, "record check-ins")
    resident = _find(hub, resident_id)
    check_in = web.care.add(CheckIn(resident.id, hub.clock.now(), principal.name,
                                    Outcome(body.outcome), body.note))
    web.auth.record(principal.name, "care.check_in", resident.id,
                    " ".join(x for x in (body.outcome, body.note) if x))
    return _check_in_out(check_in)
