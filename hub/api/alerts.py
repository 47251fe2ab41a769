from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from hub.alerts import alert_json
from hub.api.deps import HubDep
from hub.api.schemas import AlertOut

router = APIRouter(tags=["alerts"])


@router.get("/api/alerts")
def list_alerts(
    hub: HubDep,
    state: Literal["active", "cleared"] | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> list[AlertOut]:
    records = hub.db.alerts(state=state, limit=limit)
    return [AlertOut.model_validate(alert_json(a)) for a in records]


@router.get("/api/alerts/{alert_id}")
def get_alert(hub: HubDep, alert_id: str) -> AlertOut:
    record = hub.db.alert(alert_id)
    if record is None:
        raise HTTPException(404, f"no alert {alert_id!r}")
    return AlertOut.model_validate(alert_json(record))
