"""Alerts: the engine's decisions applied — deduplicated, stored, announced.

One alert per (rule, subject) while it is active: a repeated trigger counts an occurrence on
it, never a second alert. Every transition is stored with the alert in one transaction and
then published (QoS 1) on `shouwang/<site>/alerts/<category>/<alert_id>`, the community's
emergency command channel.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace

import orjson

from devices.site import Site, describe_place
from devices.topics import alert_topic
from hub.statedb import AlertEvent, AlertRecord, StateDB
from rules.engine import Decision, Raise, RulesEngine
from rules.schema import Rule

logger = logging.getLogger(__name__)

Publish = Callable[[str, bytes], object]


class AlertBook:
    def __init__(self, site: Site, db: StateDB, publish: Publish) -> None:
        self._site = site
        self._db = db
        self._publish = publish
        self.active: dict[tuple[str, str], AlertRecord] = {
            (a.rule_id, a.subject_id): a for a in db.alerts(state="active", limit=1_000_000)
        }
        self.transitions = 0

    def restore_into(self, engine: RulesEngine) -> None:
        """Tell a fresh engine which alerts are still active, so clearing readings clear them."""
        for alert in self.active.values():
            engine.restore_firing(alert.rule_id, alert.device_id)

    def apply(self, decisions: Iterable[Decision]) -> list[AlertRecord]:
        changed = []
        for decision in decisions:
            if isinstance(decision, Raise):
                changed.append(self._raise(decision))
            else:
                alert = self._resolve(decision.rule, decision.subject.id, decision.ts,
                                      decision.device_id)
                if alert is not None:
                    changed.append(alert)
        return changed

    def _raise(self, d: Raise) -> AlertRecord:
        key = (d.rule.id, d.subject.id)
        current = self.active.get(key)
        if current is not None:
            updated = replace(current, updated_at=d.ts, occurrences=current.occurrences + 1,
                              value=d.value if d.value is not None else current.value)
            return self._record(updated, "repeated", d.ts, d.device_id, d.value)
        zh, en = self._messages(d)
        alert = AlertRecord(
            id=uuid.uuid4().hex[:16], rule_id=d.rule.id, category=d.rule.category.value,
            severity=d.rule.severity.value, state="active",
            subject_level=d.subject.level.value, subject_id=d.subject.id,
            device_id=d.device_id, metric=d.metric, value=d.value,
            message_zh=zh, message_en=en, raised_at=d.ts, updated_at=d.ts, cleared_at=None,
            occurrences=1)
        return self._record(alert, "raised", d.ts, d.device_id, d.value)

    def _resolve(self, rule: Rule, subject_id: str, ts: float, device_id: str
                 ) -> AlertRecord | None:
        current = self.active.get((rule.id, subject_id))
        if current is None:
            return None
        cleared = replace(current, state="cleared", updated_at=ts, cleared_at=ts)
        return self._record(cleared, "cleared", ts, device_id, None)

    def _record(self, alert: AlertRecord, transition: str, ts: float, device_id: str | None,
                value: float | None) -> AlertRecord:
        self._db.save_alert(alert, AlertEvent(alert.id, ts, transition, device_id, value))
        key = (alert.rule_id, alert.subject_id)
        if alert.state == "active":
            self.active[key] = alert
        else:
            self.active.pop(key, None)
        self.transitions += 1
        log = logger.warning if transition == "raised" else logger.info
        log("alert %s %s: %s [%s]", alert.id, transition, alert.message_en, alert.severity)
        payload = orjson.dumps({"site": self._site.id, "transition": transition,
                                "alert": alert_json(alert)})
        self._publish(alert_topic(self._site.id, alert.category, alert.id), payload)
        return alert

    def _messages(self, d: Raise) -> tuple[str, str]:
        device = self._site.devices[d.device_id]
        value = "" if d.value is None else f"{d.value:g}"
        out = []
        for lang, template in (("zh", d.rule.message_zh), ("en", d.rule.message_en)):
            fields = {"place": describe_place(self._site, d.subject.place, lang),
                      "device": device.name or device.id, "value": value,
                      "metric": d.metric or "", "rule": d.rule.id}
            try:
                out.append(template.format(**fields))
            except (KeyError, IndexError, ValueError) as exc:
                # A typo in a message template must never cost the alert itself.
                logger.error("rule %s: bad %s message template: %s", d.rule.id, lang, exc)
                out.append(f"{d.rule.id}: {fields['place']} ({fields['device']})")
        return out[0], out[1]


def alert_json(alert: AlertRecord) -> dict[str, object]:
    """The wire and API form of an alert."""
    return {
        "id": alert.id, "rule": alert.rule_id, "category": alert.category,
        "severity": alert.severity, "state": alert.state,
        "subject": {"level": alert.subject_level, "id": alert.subject_id},
        "device": alert.device_id, "metric": alert.metric, "value": alert.value,
        "message": {"zh": alert.message_zh, "en": alert.message_en},
        "raised_at": alert.raised_at, "updated_at": alert.updated_at,
        "cleared_at": alert.cleared_at, "occurrences": alert.occurrences,
    }
