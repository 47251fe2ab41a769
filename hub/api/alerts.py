"""Alerts: list, detail with timeline, who was told, and what people do — acknowledge and
clear, as the logged-in user, within their role."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from hub.alerts import AlertError
from hub.api.alertview import alert_view
from hub.api.deps import HubDep, PrincipalDep, WebDep, refuse
from hub.api.schemas import AlertAction, AlertDetail, AlertOut, DeliveryOut, TimelineEntry
from hub.auth.roles import Principal, may_handle_alert
from hub.care import CheckIn, Outcome, resident_at
from hub.service import Hub
from hub.statedb import AlertRecord

router = APIRouter(tags=["alerts"])

_STATES: dict[str, tuple[str, ...]] = {
    "active": ("active_unack", "active_ack"),
    "cleared": ("cleared_unack", "cleared_ack"),
    "unacknowledged": ("active_unack", "cleared_unack"),
    "active_unack": ("active_unack",),
    "active_ack": ("active_ack",),
    "cleared_unack": ("cleared_unack",),
    "cleared_ack": ("cleared_ack",),
}
StateFilter = Literal["active", "cleared", "unacknowledged", "active_unack", "active_ack",
                      "cleared_unack", "cleared_ack"]


def _out(hub: Hub, record: AlertRecord) -> AlertOut:
    return AlertOut.model_validate(alert_view(hub, record))


@router.get("/api/alerts")
def list_alerts(
    hub: HubDep,
    state: Annotated[StateFilter | None, Query(description="lifecycle state or group")] = None,
    category: Annotated[str | None, Query(description="fire, gas, elderly_care ...")] = None,
    place: Annotated[str | None, Query(description="alerts at this place or inside it")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> list[AlertOut]:
    """Newest first. Active alerts carry the receivers told so far."""
    records = hub.db.alerts(states=_STATES[state] if state else None,
                            limit=limit if category is None and place is None else 10_000)
    if category is not None:
        records = [a for a in records if a.category == category]
    if place is not None:
        records = [a for a in records
                   if a.place_id == place or a.place_id.startswith(place + "/")]
    return [_out(hub, a) for a in records[:limit]]


@router.get("/api/alerts/{alert_id}")
def get_alert(hub: HubDep, alert_id: str) -> AlertDetail:
    """The alert with its timeline: what triggered it, every transition, who did what."""
    record = hub.db.alert(alert_id)
    if record is None:
        raise HTTPException(404, f"no alert {alert_id!r}")
    timeline = [TimelineEntry(ts=e.ts, transition=e.transition, device=e.device_id,
                              metric=e.metric, value=e.value, user=e.user, note=e.note,
                              outcome=e.outcome)
                for e in hub.db.alert_events(alert_id)]
    return AlertDetail(alert=_out(hub, record), timeline=timeline)


@router.get("/api/alerts/{alert_id}/deliveries")
def deliveries(hub: HubDep, alert_id: str) -> list[DeliveryOut]:
    """Delivery receipts: every message this alert owed someone, and what became of it."""
    if hub.db.alert(alert_id) is None:
        raise HTTPException(404, f"no alert {alert_id!r}")
    return [DeliveryOut(key=d.key, transition=d.transition, route=d.route,
                        receiver=d.receiver, recipient=d.recipient_id, speakers=d.speakers,
                        state=d.state, attempts=d.attempts, created=d.created,
                        sent_at=d.sent_at, detail=d.detail, fallback_of=d.fallback_of)
            for d in hub.db.deliveries_of(alert_id)]


def _allowed(hub: Hub, principal: Principal, alert_id: str, action: AlertAction,
             verb: str) -> AlertRecord:
    """The alert, if this principal may act on it; the role is checked before its state."""
    record = hub.db.alert(alert_id)
    if record is None:
        raise HTTPException(404, f"no alert {alert_id!r}")
    if not may_handle_alert(principal.role, record.category):
        raise refuse(principal, f"{verb} a {record.category} alert "
                                "(care operators handle elderly-care alerts only)")
    if action.outcome is not None and record.category != "elderly_care":
        raise HTTPException(422, f"an outcome is for elderly-care alerts; this is a "
                                 f"{record.category} alert: put what was done in the note")
    return record


def _after(hub: Hub, web: WebDep, principal: Principal, record: AlertRecord,
           action: AlertAction, verb: str) -> None:
    web.auth.record(principal.name, f"alert.{verb}", record.id,
                    " ".join(x for x in (action.outcome, action.note) if x) or None)
    resident = resident_at(hub.site, record.place_id)
    if action.outcome is not None and resident is not None:
        web.care.add(CheckIn(resident.id, hub.clock.now(), principal.name,
                             Outcome(action.outcome), action.note, record.id))


# Writes are `async`: the AlertBook is then only ever touched from the event loop, where
# ingest changes it too.
@router.post("/api/alerts/{alert_id}/ack")
async def acknowledge(hub: HubDep, web: WebDep, principal: PrincipalDep, alert_id: str,
                      action: AlertAction) -> AlertOut:
    """"I have it": stops escalation; everyone told so far hears who took it."""
    record = _allowed(hub, principal, alert_id, action, "acknowledge")
    try:
        acked = hub.alerts.acknowledge(alert_id, principal.name, action.note, hub.clock.now(),
                                       outcome=action.outcome)
    except AlertError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    _after(hub, web, principal, record, action, "ack")
    return _out(hub, acked)


@router.post("/api/alerts/{alert_id}/clear")
async def clear(hub: HubDep, web: WebDep, principal: PrincipalDep, alert_id: str,
                action: AlertAction) -> AlertOut:
    """Declare it over (an SOS answered, a false alarm); a sensor still reporting the
    hazard raises a new alert."""
    record = _allowed(hub, principal, alert_id, action, "clear")
    try:
        cleared = hub.alerts.clear(alert_id, principal.name, action.note, hub.clock.now(),
                                   outcome=action.outcome)
    except AlertError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    _after(hub, web, principal, record, action, "clear")
    return _out(hub, cleared)
