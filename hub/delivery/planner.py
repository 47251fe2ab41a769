"""From an alert transition to the outbox rows it owes: who, through which receiver, when.

Keys are deterministic — alert, transition (with its step), receiver, person — so planning
the same transition twice cannot send twice.
"""

from __future__ import annotations

import orjson

from devices.site import Place, Site, describe_place
from hub.channels.base import Notification, Recipient, notification_json
from hub.statedb import AlertRecord, Delivery
from rules.routing import (
    Policy,
    RoutedAlert,
    Target,
    escalation_due,
    escalation_targets,
    first_targets,
    routes_for,
)


class DeliveryPlanner:
    def __init__(self, site: Site, policy: Policy, *, public_url: str | None = None,
                 exercise: bool = False) -> None:
        self._site = site
        self.policy = policy
        self._public_url = public_url.rstrip("/") if public_url else None
        self._exercise = exercise

    def routed(self, alert: AlertRecord) -> RoutedAlert:
        place = self._site.places.get(alert.place_id) or Place(alert.place_id)
        return RoutedAlert(alert.id, alert.rule_id, alert.category, alert.severity, place)

    def on_raised(self, alert: AlertRecord, now: float) -> list[Delivery]:
        return self._rows(alert, "raised", "raised",
                          first_targets(self.policy, self._site, self.routed(alert)), now)

    def to_those_told(self, alert: AlertRecord, transition: str, step: str,
                      told: list[Delivery], now: float) -> list[Delivery]:
        """Announce an acknowledgement, a clear or a stronger severity to everyone already
        told about this alert (each person and group once)."""
        seen: set[tuple[str, str | None]] = set()
        targets = []
        for d in told:
            if d.state == "fell_back" or d.speakers:
                continue
            key = (d.receiver, d.recipient_id)
            if key in seen:
                continue
            seen.add(key)
            person = next((p for p in self._site.roster if p.id == d.recipient_id), None)
            targets.append(Target(d.route, d.receiver, person))
        return self._rows(alert, transition, step, targets, now)

    def escalation(self, alert: AlertRecord, now: float) -> tuple[list[Delivery], int]:
        """The next step up the chain when it is due; ([], level) when not."""
        since = alert.notified_at if alert.notified_at is not None else alert.raised_at
        if not escalation_due(self.policy, alert.severity, since, now):
            return [], alert.escalation
        targets, level = escalation_targets(self.policy, self._site, self.routed(alert),
                                            alert.escalation + 1)
        return self._rows(alert, "escalated", f"escalated{level}", targets, now), level

    def reminder_due(self, alert: AlertRecord, now: float) -> bool:
        since = alert.notified_at if alert.notified_at is not None else alert.raised_at
        repeats = [r.repeat_s for r in routes_for(self.policy, self.routed(alert))
                   if r.repeat_s is not None]
        return bool(repeats) and now - since >= min(repeats)

    def _rows(self, alert: AlertRecord, transition: str, step: str, targets: list[Target],
              now: float) -> list[Delivery]:
        rows = []
        place = self._site.places.get(alert.place_id) or Place(alert.place_id)
        for t in targets:
            who = t.recipient.id if t.recipient else ("speakers" if t.speakers else "*")
            key = f"{alert.id}:{step}:{t.receiver}:{who}"
            recipient = None if t.recipient is None else Recipient(
                t.recipient.id, t.recipient.name, t.recipient.role.value, t.recipient.phone,
                t.recipient.email)
            notification = Notification(
                key=key, site_id=self._site.id, site_name=self._site.name, alert_id=alert.id,
                transition=transition, severity=alert.severity, category=alert.category,
                rule_id=alert.rule_id, message_zh=alert.message_zh,
                message_en=alert.message_en, place_id=alert.place_id,
                place_zh=describe_place(self._site, place, "zh"), raised_at=alert.raised_at,
                ts=now, exercise=self._exercise or alert.exercise, recipient=recipient,
                link=f"{self._public_url}/alerts/{alert.id}" if self._public_url else None)
            rows.append(Delivery(
                id=None, key=key, alert_id=alert.id, transition=transition, route=t.route,
                receiver=t.receiver, recipient_id=t.recipient.id if t.recipient else None,
                speakers=t.speakers,
                group_key=t.group_key if transition == "raised" else None,
                notification=orjson.dumps(notification_json(notification)).decode(),
                state="pending", attempts=0,
                not_before=now + (t.delay_s if transition == "raised" else 0.0),
                created=now))
        return rows
