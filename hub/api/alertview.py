"""An alert as the pages show it: the stored record plus where it is in words, when it next
climbs the responder chain, who has been told, and whose home it is."""

from __future__ import annotations

from devices.site import Place, Site, describe_place
from hub.alerts import alert_json
from hub.care import resident_at
from hub.service import Hub
from hub.statedb import AlertRecord, Delivery
from rules.lifecycle import AlertState
from rules.routing import RoutedAlert, escalation_targets

_TELLING = frozenset({"raised", "escalated", "repeated"})
_STATE_ORDER = {"sent": 0, "pending": 1, "failed": 2, "fell_back": 3}


def place_names(site: Site, place_id: str) -> dict[str, str]:
    place = site.places.get(place_id) or Place(place_id)
    return {"zh": describe_place(site, place, "zh"), "en": describe_place(site, place, "en")}


def next_escalation_at(hub: Hub, alert: AlertRecord) -> float | None:
    """When nobody acknowledging makes the hub tell the next role up the chain; None when it
    will not (acknowledged, cleared, held back, no policy, or the chain is at its top)."""
    policy = hub.config.policy
    if policy is None or alert.state != AlertState.ACTIVE_UNACK.value or alert.suppressed:
        return None
    after = policy.escalate_after.get(alert.severity)
    if after is None:
        return None
    place = hub.site.places.get(alert.place_id) or Place(alert.place_id)
    routed = RoutedAlert(alert.id, alert.rule_id, alert.category, alert.severity, place)
    targets, _ = escalation_targets(policy, hub.site, routed, alert.escalation + 1)
    if not targets:
        return None
    since = alert.notified_at if alert.notified_at is not None else alert.raised_at
    return since + after


def told(site: Site, deliveries: list[Delivery]) -> list[dict[str, object]]:
    """Each receiver and person told about the alert once, with the best state reached."""
    names = {p.id: p.name for p in site.roster}
    best: dict[tuple[str, str | None], Delivery] = {}
    for d in deliveries:
        if d.transition not in _TELLING:
            continue
        key = (d.receiver, d.recipient_id)
        seen = best.get(key)
        if seen is None or _STATE_ORDER.get(d.state, 9) < _STATE_ORDER.get(seen.state, 9):
            best[key] = d
    return [{"receiver": d.receiver, "recipient": d.recipient_id,
             "name": names.get(d.recipient_id or ""), "state": d.state,
             "sent_at": d.sent_at} for d in best.values()]


def alert_view(hub: Hub, alert: AlertRecord, *, with_told: bool | None = None
               ) -> dict[str, object]:
    """The alert's API form with what the pages add. `told` is looked up for active alerts
    (one small query) unless `with_told` says otherwise."""
    view = alert_json(alert)
    view["place_name"] = place_names(hub.site, alert.place_id)
    view["next_escalation_at"] = next_escalation_at(hub, alert)
    resident = resident_at(hub.site, alert.place_id)
    view["resident"] = None if resident is None else {"id": resident.id, "name": resident.name}
    if with_told is None:
        with_told = alert.active
    view["told"] = told(hub.site, hub.db.deliveries_of(alert.id)) if with_told else None
    return view
