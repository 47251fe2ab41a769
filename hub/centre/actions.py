"""What a command centre asks a community hub to do with one of its alerts.

Sent QoS 1 on `shouwang/<site>/centre/ack` (bridged `in` to the community's broker). The hub
records it with the user `centre:<centre>/<user>`; the resulting transition goes back up like
any other, so the centre sees `active_ack` from the hub itself. Applying the same action twice
is harmless: the second one is refused by the alert's lifecycle (already acknowledged or
cleared) and only logged.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.alerts import AlertBook, AlertError
from hub.statedb import AlertRecord

logger = logging.getLogger(__name__)


class CentreAction(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    action: Literal["ack", "clear"]
    alert_id: str = Field(min_length=1, max_length=64)
    centre: str = Field(min_length=1, max_length=64)
    user: str = Field(min_length=1, max_length=128)
    note: str | None = Field(None, max_length=2000)
    ts: float

    @property
    def by(self) -> str:
        return f"centre:{self.centre}/{self.user}"


def apply_centre_action(alerts: AlertBook, payload: bytes, now: float) -> AlertRecord | None:
    """Act on one message from the centre; None when it is malformed or refused (logged)."""
    try:
        action = CentreAction.model_validate_json(payload)
    except ValidationError as exc:
        logger.warning("centre action ignored: not a valid action: %s",
                       exc.errors(include_url=False)[:3])
        return None
    try:
        if action.action == "ack":
            record = alerts.acknowledge(action.alert_id, action.by, action.note, now)
        else:
            record = alerts.clear(action.alert_id, action.by, action.note, now)
    except AlertError as exc:
        logger.info("centre %s of alert %s by %s not applied: %s", action.action,
                    action.alert_id, action.by, exc)
        return None
    logger.warning("alert %s: %s by %s at the command centre", action.alert_id,
                   "acknowledged" if action.action == "ack" else "cleared", action.by)
    return record
