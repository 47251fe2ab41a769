from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from hub.alerts import AlertError, alert_json
from hub.api.deps import HubDep
from hub.api.schemas import AlertAction, AlertDetail, AlertOut, DeliveryOut, TimelineEntry
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


def _out(record: AlertRecord) -> AlertOut:
    return AlertOut.model_validate(alert_json(record))


@router.get("/api/alerts")
def list_alerts(
    hub: HubDep,
    state: Annotated[StateFilter | None, Query(description="lifecycle state or group")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> list[AlertOut]:
    records = hub.db.alerts(states=_STATES[state] if state else None, limit=limit)
    return [_out(a) for a in records]


@router.get("/api/alerts/{alert_id}")
def get_alert(hub: HubDep, alert_id: str) -> AlertDetail:
    """The alert with its timeline: what triggered it, every transition, who did what."""
    record = hub.db.alert(alert_id)
    if record is None:
        raise HTTPException(404, f"no alert {alert_id!r}")
    timeline = [TimelineEntry(ts=e.ts, transition=e.transition, device=e.device_id,
                              metric=e.metric, value=e.value, user=e.user, note=e.note)
                for e in hub.db.alert_events(alert_id)]
    return AlertDetail(alert=_out(record), timeline=timeline)


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


@router.post("/api/alerts/{alert_id}/ack")
def acknowledge(hub: HubDep, alert_id: str, action: AlertAction) -> AlertOut:
    try:
        return _out(hub.alerts.acknowledge(alert_id, action.user, action.note, hub.clock.now()))
    except AlertError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.post("/api/alerts/{alert_id}/clear")
def clear(hub: HubDep, alert_id: str, action: AlertAction) -> AlertOut:
    try:
        return _out(hub.alerts.clear(alert_id, action.user, action.note, hub.clock.now()))
    except AlertError as exc:
        raise HTTPException(exc.status, str(exc)) from None
