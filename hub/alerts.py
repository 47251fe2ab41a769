"""Alerts: the engine's decisions applied — deduplicated, stored, announced — and what people
do with them (acknowledge, clear, silence).

One alert per (rule, subject) while it is active: a repeated trigger counts an occurrence on
it, a stronger level escalates its severity, never a second alert. Every transition is stored
with the alert in one transaction and then published (QoS 1) on
`shouwang/<site>/alerts/<category>/<alert_id>`, the community's emergency command channel.
Silenced, inhibited and flapping alerts are recorded and published with `notify: false` and
the reason, so the delivery layer holds them back while the record stays complete.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace

import orjson

from devices.site import Place, Site, describe_place
from devices.topics import alert_topic
from hub.delivery.planner import DeliveryPlanner
from hub.statedb import AlertEvent, AlertRecord, Delivery, SilenceRecord, StateDB
from rules.engine import Decision, Raise, Resolve
from rules.lifecycle import (
    AlertFacts,
    AlertState,
    FlapDetector,
    Silence,
    inhibited_by,
    silenced_by,
)
from rules.schema import Rule, Severity

logger = logging.getLogger(__name__)

Publish = Callable[[str, bytes], object]
Listener = Callable[[AlertRecord, AlertEvent], object]
"""Told of every stored transition: the alert as it now stands and the event that led there."""


class AlertError(Exception):
    """A request about an alert that cannot be done; `status` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class AlertBook:
    def __init__(self, site: Site, db: StateDB, publish: Publish, rules: Iterable[Rule], *,
                 forget: Callable[[str, str], None] | None = None,
                 flaps: FlapDetector | None = None,
                 planner: DeliveryPlanner | None = None,
                 on_outbox: Callable[[], None] | None = None) -> None:
        self._site = site
        self._db = db
        self._publish = publish
        self._planner = planner
        self._on_outbox = on_outbox
        self._rules = {r.id: r for r in rules}
        self._inhibits = {r.id: r.inhibits for r in self._rules.values() if r.inhibits}
        self._forget = forget
        self._flaps = flaps or FlapDetector()
        self.active: dict[tuple[str, str], AlertRecord] = {
            (a.rule_id, a.subject_id): a for a in db.alerts(
                states=(AlertState.ACTIVE_UNACK.value, AlertState.ACTIVE_ACK.value),
                limit=1_000_000)
        }
        self.silences: dict[str, SilenceRecord] = {s.id: s for s in db.silences()}
        self.drill = db.current_drill()
        """(id, name, started, by) while a drill runs: new alerts are exercises."""
        self.transitions = 0
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(alert, event)` after each stored transition (from whichever thread
        made it); returns the callable that stops it."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    def _tell(self, alert: AlertRecord, event: AlertEvent) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(alert, event)
            except Exception:
                # One broken listener must not cost the others, nor the alert itself.
                logger.exception("alert listener %r failed on %s", listener, alert.id)

    # ------------------------------------------------------------------ engine decisions

    def apply(self, decisions: Iterable[Decision]) -> list[AlertRecord]:
        # Raise the alerts that inhibit others first, so a building outage found in the same
        # batch as its cameras going offline already mutes them.
        ordered = sorted(decisions, key=lambda d: not (isinstance(d, Raise)
                                                       and d.rule.id in self._inhibits))
        changed = []
        for decision in ordered:
            alert = self._raise(decision) if isinstance(decision, Raise) else \
                self._resolve(decision)
            if alert is not None:
                changed.append(alert)
        return changed

    def _raise(self, d: Raise) -> AlertRecord:
        key = (d.rule.id, d.subject.id)
        current = self.active.get(key)
        if current is not None:
            if d.severity is not None and d.severity.rank > Severity(current.severity).rank:
                escalated = replace(current, severity=d.severity.value, updated_at=d.ts,
                                    value=d.value if d.value is not None else current.value)
                return self._record(escalated, AlertEvent(
                    current.id, d.ts, "escalated", d.device_id, d.metric, d.value,
                    note=f"{current.severity} → {d.severity.value}"))
            repeated = replace(current, updated_at=d.ts, occurrences=current.occurrences + 1,
                               value=d.value if d.value is not None else current.value)
            return self._record(repeated, AlertEvent(current.id, d.ts, "repeated", d.device_id,
                                                     d.metric, d.value))
        zh, en = self._messages(d)
        place = d.subject.place
        alert = AlertRecord(
            id=uuid.uuid4().hex[:16], rule_id=d.rule.id, category=d.rule.category.value,
            severity=(d.severity or d.rule.severity).value,
            state=AlertState.ACTIVE_UNACK.value,
            subject_level=d.subject.level.value, subject_id=d.subject.id, place_id=place.id,
            device_id=d.device_id, metric=d.metric, value=d.value,
            message_zh=zh, message_en=en, raised_at=d.ts, updated_at=d.ts, cleared_at=None,
            occurrences=1, exercise=self.drill is not None)
        flapping = self._flaps.change(key, d.ts)
        alert = replace(alert, suppressed=self._suppression(alert, place, d.ts, flapping))
        return self._record(alert, AlertEvent(alert.id, d.ts, "raised", d.device_id, d.metric,
                                              d.value))

    def _resolve(self, d: Resolve) -> AlertRecord | None:
        current = self.active.get((d.rule.id, d.subject.id))
        if current is None:
            return None
        flapping = self._flaps.change((d.rule.id, d.subject.id), d.ts)
        suppressed = "flapping" if flapping else current.suppressed
        cleared = replace(current, state=AlertState(current.state).clear().value,
                          updated_at=d.ts, cleared_at=d.ts, suppressed=suppressed)
        return self._record(cleared, AlertEvent(current.id, d.ts, "cleared", d.device_id))

    def _suppression(self, alert: AlertRecord, place: Place, now: float, flapping: bool
                     ) -> str | None:
        facts = self._facts(alert, place)
        silence = silenced_by(facts, (self._silence(s) for s in self.silences.values()), now)
        if silence is not None:
            return f"silenced:{silence.id}"
        if self._inhibits:
            sources = (self._facts(a) for a in self.active.values() if a.rule_id in self._inhibits)
            source = inhibited_by(facts, sources, self._inhibits)
            if source is not None:
                return f"inhibited:{source.id}"
        return "flapping" if flapping else None

    def _facts(self, alert: AlertRecord, place: Place | None = None) -> AlertFacts:
        where = place or self._site.places.get(alert.place_id) or Place(alert.place_id)
        return AlertFacts(alert.id, alert.rule_id, alert.category, alert.device_id, where)

    def _silence(self, s: SilenceRecord) -> Silence:
        place = self._site.places.get(s.place_id) if s.place_id else None
        return Silence(s.id, s.starts, s.ends, s.author, s.reason, s.device_id, place,
                       s.rule_id, s.category, s.created)

    def settle_flapping(self, now: float) -> list[AlertRecord]:
        """Alerts that stopped flapping are announced once more, in their current state."""
        settled = []
        for key in self._flaps.settled(now):
            current = self.active.get(key)
            if current is not None and current.suppressed == "flapping":
                settled.append(self._record(replace(current, suppressed=None, updated_at=now),
                                            AlertEvent(current.id, now, "settled")))
        self._flaps.forget_quiet(now)
        return settled

    # ------------------------------------------------------------------ people

    def acknowledge(self, alert_id: str, user: str, note: str | None, now: float, *,
                    outcome: str | None = None) -> AlertRecord:
        alert = self._find(alert_id)
        state = AlertState(alert.state)
        if state.acknowledged:
            raise AlertError(409, f"alert {alert_id} was already acknowledged by "
                                  f"{alert.acknowledged_by}")
        acked = replace(alert, state=state.acknowledge().value, acknowledged_by=user,
                        acknowledged_at=now, updated_at=now)
        return self._record(acked, AlertEvent(alert_id, now, "acknowledged", user=user,
                                              note=note, outcome=outcome))

    def clear(self, alert_id: str, user: str, note: str | None, now: float, *,
              outcome: str | None = None) -> AlertRecord:
        """A person declares it over (an SOS answered, a false alarm)."""
        alert = self._find(alert_id)
        state = AlertState(alert.state)
        if not state.active:
            raise AlertError(409, f"alert {alert_id} is already cleared")
        cleared = replace(alert, state=state.clear().value, cleared_at=now, cleared_by=user,
                          updated_at=now)
        record = self._record(cleared, AlertEvent(alert_id, now, "cleared", user=user,
                                                  note=note, outcome=outcome))
        if self._forget is not None:
            self._forget(alert.rule_id, alert.subject_id)
        return record

    def _find(self, alert_id: str) -> AlertRecord:
        for alert in self.active.values():
            if alert.id == alert_id:
                return alert
        stored = self._db.alert(alert_id)
        if stored is None:
            raise AlertError(404, f"no alert {alert_id!r}")
        return stored

    # ------------------------------------------------------------------ silences

    def add_silence(self, silence: SilenceRecord) -> SilenceRecord:
        if silence.ends <= silence.starts:
            raise AlertError(422, "a silence must end after it starts")
        if not any((silence.device_id, silence.place_id, silence.rule_id, silence.category)):
            raise AlertError(422, "a silence needs at least one of device, place, rule or "
                                  "category — it would silence the whole community")
        if silence.device_id is not None and silence.device_id not in self._site.devices:
            raise AlertError(422, f"no device {silence.device_id!r} in this site")
        if silence.place_id is not None and silence.place_id not in self._site.places:
            raise AlertError(422, f"no place {silence.place_id!r} in this site")
        if silence.rule_id is not None and silence.rule_id not in self._rules:
            raise AlertError(422, f"no rule {silence.rule_id!r} is loaded")
        self._db.save_silence(silence)
        self.silences[silence.id] = silence
        logger.info("silence %s by %s until %.0f: %s", silence.id, silence.author,
                    silence.ends, silence.reason)
        return silence

    def delete_silence(self, silence_id: str, user: str, now: float) -> SilenceRecord:
        silence = self.silences.pop(silence_id, None)
        if silence is None:
            raise AlertError(404, f"no active silence {silence_id!r}")
        ended = replace(silence, deleted_at=now, deleted_by=user)
        self._db.save_silence(ended)
        return ended

    # ------------------------------------------------------------------ drills

    def start_drill(self, name: str, by: str, now: float) -> tuple[int, str, float, str]:
        if self.drill is not None:
            raise AlertError(409, f"drill {self.drill[1]!r} is already running; end it first")
        drill_id = self._db.start_drill(name, now, by)
        self.drill = (drill_id, name, now, by)
        logger.warning("DRILL %r started by %s: new alerts are exercises", name, by)
        return self.drill

    def end_drill(self, by: str, now: float) -> tuple[int, str, float, str]:
        if self.drill is None:
            raise AlertError(409, "no drill is running")
        drill, self.drill = self.drill, None
        self._db.end_drill(drill[0], now, by)
        logger.warning("DRILL %r ended by %s", drill[1], by)
        return drill

    # ------------------------------------------------------------------ recording

    def _record(self, alert: AlertRecord, event: AlertEvent) -> AlertRecord:
        alert, deliveries = self._plan(alert, event)
        self._db.save_alert(alert, event, deliveries)
        if deliveries and self._on_outbox is not None:
            self._on_outbox()
        key = (alert.rule_id, alert.subject_id)
        if alert.active:
            self.active[key] = alert
        elif self.active.get(key, alert).id == alert.id:
            self.active.pop(key, None)
        self.transitions += 1
        notify = alert.suppressed is None
        level = logging.WARNING if event.transition == "raised" and notify else logging.INFO
        logger.log(level, "alert %s %s: %s [%s]%s", alert.id, event.transition,
                   alert.message_en, alert.severity,
                   f" (not announced: {alert.suppressed})" if not notify else "")
        payload = orjson.dumps({"site": self._site.id, "transition": event.transition,
                                "notify": notify, "by": event.user, "note": event.note,
                                "alert": alert_json(alert)})
        self._publish(alert_topic(self._site.id, alert.category, alert.id), payload)
        self._tell(alert, event)
        return alert

    def _plan(self, alert: AlertRecord, event: AlertEvent
              ) -> tuple[AlertRecord, list[Delivery]]:
        """The messages this transition owes people (none while it is suppressed)."""
        planner, now = self._planner, event.ts
        if planner is None or alert.suppressed is not None:
            return alert, []
        transition = event.transition
        if transition in ("raised", "settled") and alert.active:
            return replace(alert, notified_at=now), planner.on_raised(alert, now)
        told = self._db.deliveries_of(alert.id) if transition != "raised" else []
        if transition in ("acknowledged", "cleared"):
            return alert, planner.to_those_told(alert, transition, transition, told, now)
        if transition == "escalated" and event.note and "→" in event.note:
            return alert, planner.to_those_told(alert, "escalated",
                                                f"severity-{alert.severity}", told, now)
        return alert, []

    def escalate(self, now: float) -> list[AlertRecord]:
        """Unacknowledged too long: tell the next role up the chain, or remind those told."""
        planner = self._planner
        if planner is None:
            return []
        changed = []
        for alert in list(self.active.values()):
            if alert.state != AlertState.ACTIVE_UNACK.value or alert.suppressed is not None:
                continue
            deliveries, level = planner.escalation(alert, now)
            if deliveries:
                step = replace(alert, escalation=level, notified_at=now, updated_at=now)
                changed.append(self._commit(step, AlertEvent(
                    alert.id, now, "escalated", note=f"step {level} up the chain"),
                    deliveries))
            elif level == alert.escalation and planner.reminder_due(alert, now):
                told = self._db.deliveries_of(alert.id)
                round_no = sum(1 for d in told if d.transition == "repeated") + 1
                reminders = planner.to_those_told(alert, "repeated", f"repeated{round_no}",
                                                  told, now)
                changed.append(self._commit(replace(alert, notified_at=now, updated_at=now),
                                            AlertEvent(alert.id, now, "reminded"), reminders))
        return changed

    def _commit(self, alert: AlertRecord, event: AlertEvent, deliveries: list[Delivery]
                ) -> AlertRecord:
        self._db.save_alert(alert, event, deliveries)
        if deliveries and self._on_outbox is not None:
            self._on_outbox()
        self.active[(alert.rule_id, alert.subject_id)] = alert
        self.transitions += 1
        logger.warning("alert %s %s: %d message(s) [%s]", alert.id, event.transition,
                       len(deliveries), event.note or "")
        payload = orjson.dumps({"site": self._site.id, "transition": event.transition,
                                "notify": True, "by": None, "note": event.note,
                                "alert": alert_json(alert)})
        self._publish(alert_topic(self._site.id, alert.category, alert.id), payload)
        self._tell(alert, event)
        return alert

    def _messages(self, d: Raise) -> tuple[str, str]:
        device = self._site.devices.get(d.device_id)
        device_name = (device.name or device.id) if device else d.subject.id
        value = "" if d.value is None else f"{d.value:g}"
        out = []
        for lang, template in (("zh", d.rule.message_zh), ("en", d.rule.message_en)):
            fields = {"place": describe_place(self._site, d.subject.place, lang),
                      "device": device_name, "value": value,
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
        "severity": alert.severity, "state": alert.state, "active": alert.active,
        "subject": {"level": alert.subject_level, "id": alert.subject_id},
        "place": alert.place_id,
        "device": alert.device_id, "metric": alert.metric, "value": alert.value,
        "message": {"zh": alert.message_zh, "en": alert.message_en},
        "raised_at": alert.raised_at, "updated_at": alert.updated_at,
        "cleared_at": alert.cleared_at, "occurrences": alert.occurrences,
        "acknowledged_by": alert.acknowledged_by, "acknowledged_at": alert.acknowledged_at,
        "cleared_by": alert.cleared_by, "suppressed": alert.suppressed,
        "escalation": alert.escalation, "notified_at": alert.notified_at,
        "exercise": alert.exercise,
    }
