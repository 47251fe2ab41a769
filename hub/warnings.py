"""External warnings in force for this community, and their relay to residents and responders.

Documents arrive checked by `hub.capin` (schema, signature, area). A warning is identified by
its first message (sender, identifier); an Update referencing any message of it replaces its
content and keeps its id, a Cancel ends it, and so does an Update that no longer covers us.
A warning without `expires` stays in force for `default_lifetime`. The same (sender,
identifier) twice is the same message: acted on once.

Relay of each change:
- page: the list in force, retained on `shouwang/<site>/warnings` (and `in_force()` for the API);
- PA speakers of every building: `shouwang/<site>/command/speakers/<building>`, the same
  payload as the MQTT command channel's broadcast ({text, repeat, priority, key, exercise});
- people: rows in the delivery outbox for the roster's `relay.people` roles (default: duty
  officer and grid leaders) through `relay.via` receivers (default: those the routing policy
  uses for these roles) and `relay.groups` — sent, retried and fallen back by the dispatcher
  like any alert message, with the idempotency key `<warning>:<step>:<receiver>:<person>`.
An expiry updates the page only: people were told when it ends.

State lives in `federation.db` beside hub.db, so a restart neither forgets a warning in force
nor relays it again.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from devices.site import Responder, Site
from devices.topics import warnings_topic
from hub.cap import CapReference
from hub.capin import CapDocument, CapInfo
from hub.channels.base import Notification, Recipient, notification_json
from hub.channels.mqtt_command import speaker_topic
from hub.config import RelayConfig
from hub.delivery.config import DeliverySpec
from hub.delivery.receivers import ReceiverError
from hub.statedb import Delivery, StateDB

logger = logging.getLogger(__name__)

Publish = Callable[..., bool]
SEVERITY = {"Extreme": "critical", "Severe": "major", "Moderate": "minor", "Minor": "warning",
            "Unknown": "warning"}
"""CAP severity -> ours (for people's messages and the speakers' priority)."""
_PRIORITY = {"critical": "emergency", "major": "high"}
_ROUTE = "cap-relay"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS warnings (
    id TEXT PRIMARY KEY, warning TEXT NOT NULL, ended_at REAL, ended_how TEXT);
CREATE TABLE IF NOT EXISTS cap_seen (
    sender TEXT NOT NULL, identifier TEXT NOT NULL, received REAL NOT NULL,
    PRIMARY KEY (sender, identifier));
"""
_SEEN_KEPT_S = 30 * 86_400.0


@dataclass(frozen=True, slots=True)
class WarningText:
    language: str
    event: str
    headline: str | None
    description: str | None
    instruction: str | None
    area: str


@dataclass(frozen=True, slots=True)
class ExternalWarning:
    id: str
    """Stable over Updates: `cap-` and a digest of the first message's sender and id."""
    sender: str
    identifier: str
    """Of the latest message."""
    sent: float
    msg_type: str
    status: str
    severity: str
    """CAP: Extreme, Severe, Moderate, Minor, Unknown."""
    urgency: str
    certainty: str
    categories: tuple[str, ...]
    onset: float | None
    expires: float
    web: str | None
    texts: tuple[WarningText, ...]
    received: float
    source: str
    chain: tuple[str, ...]
    """`sender,identifier` of every message of this warning, oldest first."""

    @property
    def exercise(self) -> bool:
        return self.status == "Exercise"

    @property
    def our_severity(self) -> str:
        return SEVERITY.get(self.severity, "warning")

    def text(self, lang: str) -> WarningText:
        return next((t for t in self.texts if t.language.lower().startswith(lang)),
                    self.texts[0])


def warning_json(w: ExternalWarning) -> dict[str, object]:
    """The wire and API form: what a page needs to show the banner."""
    data = asdict(w)
    data.pop("chain")
    data["severity_level"] = w.our_severity
    return data


def _from_json(text: str) -> ExternalWarning:
    data = orjson.loads(text)
    data["texts"] = tuple(WarningText(**t) for t in data["texts"])
    data["categories"] = tuple(data["categories"])
    data["chain"] = tuple(data["chain"])
    return ExternalWarning(**data)


def _key(sender: str, identifier: str) -> str:
    return f"{sender},{identifier}"


def _texts(infos: Sequence[CapInfo]) -> tuple[WarningText, ...]:
    return tuple(WarningText(i.language, i.event, i.headline, i.description, i.instruction,
                             i.area_text) for i in infos)


class WarningStore:
    """federation.db: warnings (in force and ended) and the CAP messages already acted on."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def in_force(self) -> list[ExternalWarning]:
        with self._lock:
            rows = self._db.execute(
                "SELECT warning FROM warnings WHERE ended_at IS NULL").fetchall()
        return [_from_json(r[0]) for r in rows]

    def save(self, warning: ExternalWarning, *, ended_at: float | None = None,
             ended_how: str | None = None) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO warnings(id, warning, ended_at, ended_how) "
                             "VALUES (?, ?, ?, ?)",
                             (warning.id, orjson.dumps(asdict(warning)).decode(), ended_at,
                              ended_how))

    def first_time(self, sender: str, identifier: str, now: float) -> bool:
        """Record a message; False when it was already acted on."""
        with self._lock:
            cursor = self._db.execute("INSERT OR IGNORE INTO cap_seen VALUES (?, ?, ?)",
                                      (sender, identifier, now))
        return cursor.rowcount == 1

    def forget_before(self, ts: float) -> None:
        with self._lock:
            self._db.execute("DELETE FROM cap_seen WHERE received < ?", (ts,))

    def close(self) -> None:
        with self._lock:
            self._db.close()


@dataclass(frozen=True, slots=True)
class RelayTarget:
    receiver: str
    person: Responder | None


def relay_targets(site: Site, relay: RelayConfig, delivery: DeliverySpec | None
                  ) -> list[RelayTarget]:
    """Who the outbox tells of a warning. Raises ReceiverError for an unknown receiver."""
    if delivery is None:
        return []
    roles = set(relay.people)
    routes = [r for r in delivery.routes if roles & set(r.people)]
    via = relay.via if relay.via is not None else \
        list(dict.fromkeys(v for r in routes for v in r.via))
    groups = relay.groups if relay.groups is not None else \
        list(dict.fromkeys(g for r in routes for g in r.groups))
    for name in (*via, *groups):
        if name not in delivery.receivers:
            raise ReceiverError(f"federation.relay: no receiver {name!r} (receivers: "
                                f"{', '.join(delivery.receivers)})")
    people = [p for p in site.roster if p.role.value in roles]
    return ([RelayTarget(r, p) for p in people for r in via]
            + [RelayTarget(g, None) for g in groups])


class WarningBoard:
    def __init__(self, site: Site, store: WarningStore, publish: Publish, *,
                 relay: RelayConfig, targets: list[RelayTarget],
                 outbox: StateDB | None = None, wake: Callable[[], None] | None = None,
                 default_lifetime_s: float = 6 * 3600.0) -> None:
        self._site = site
        self._store = store
        self._publish = publish
        self._relay = relay
        self._targets = targets
        self._outbox = outbox
        self._wake = wake
        self._lifetime = default_lifetime_s
        self._in_force = {w.id: w for w in store.in_force()}
        self.changes = 0
        self.duplicates = 0

    def in_force(self) -> list[ExternalWarning]:
        """Most severe first, then newest."""
        order = {"critical": 0, "major": 1, "minor": 2, "warning": 3}
        return sorted(self._in_force.values(),
                      key=lambda w: (order.get(w.our_severity, 4), -w.sent))

    def holds(self, references: Sequence[CapReference]) -> bool:
        """Whether any of these CAP references names a message of a warning in force."""
        return bool(self._referenced(references))

    def _referenced(self, references: Sequence[CapReference]) -> list[ExternalWarning]:
        keys = {_key(r.sender, r.identifier) for r in references}
        return [w for w in self._in_force.values() if keys.intersection(w.chain)]

    # ------------------------------------------------------------------ changes

    def apply(self, doc: CapDocument, now: float, source: str) -> str:
        """Act on a checked document once; returns what happened, for the log."""
        if not self._store.first_time(doc.sender, doc.identifier, now):
            self.duplicates += 1
            return "duplicate"
        held = self._referenced(doc.references) if doc.msg_type != "Alert" else []
        if doc.msg_type == "Cancel" or (held and not doc.infos):
            if not held:
                return "nothing to cancel"
            how = "cancelled" if doc.msg_type == "Cancel" else "no longer covers us"
            for w in held:
                self._end(w, now, how)
                self._tell(w, "cleared", "cancel", now)
            return how
        warning = self._warning(doc, now, source, held[0] if held else None)
        for older in held[1:]:
            self._end(older, now, "merged into an update")
        self._in_force[warning.id] = warning
        self._store.save(warning)
        self.changes += 1
        self.announce(now)
        step = "raised" if not held else f"update-{_digest(doc.sender, doc.identifier)}"
        self._tell(warning, "raised", step, now)
        logger.warning("external warning %s %s from %s: %s [%s]", warning.id,
                       "updated" if held else "in force", doc.sender,
                       warning.text("zh").headline or warning.text("zh").event,
                       warning.severity)
        return "updated" if held else "in force"

    def expire(self, now: float) -> list[ExternalWarning]:
        ended = [w for w in self._in_force.values() if w.expires <= now]
        for w in ended:
            self._end(w, now, "expired")
        if ended:
            self._store.forget_before(now - _SEEN_KEPT_S)
        return ended

    def _warning(self, doc: CapDocument, now: float, source: str,
                 earlier: ExternalWarning | None) -> ExternalWarning:
        infos = doc.infos
        expiries = [i.expires for i in infos]
        expires = (max(e for e in expiries if e is not None) if None not in expiries
                   else doc.sent + self._lifetime)
        first = infos[0]
        return ExternalWarning(
            id=earlier.id if earlier else f"cap-{_digest(doc.sender, doc.identifier)}",
            sender=doc.sender, identifier=doc.identifier, sent=doc.sent,
            msg_type=doc.msg_type, status=doc.status,
            severity=max((i.severity for i in infos), key=_severity_rank),
            urgency=first.urgency, certainty=first.certainty,
            categories=tuple(dict.fromkeys(c for i in infos for c in i.categories)),
            onset=first.onset, expires=max(expires, now + 1.0),
            web=next((i.web for i in infos if i.web), None), texts=_texts(infos),
            received=now, source=source,
            chain=(*(earlier.chain if earlier else ()), _key(doc.sender, doc.identifier)))

    def _end(self, warning: ExternalWarning, now: float, how: str) -> None:
        self._in_force.pop(warning.id, None)
        self._store.save(warning, ended_at=now, ended_how=how)
        self.changes += 1
        logger.warning("external warning %s ended: %s", warning.id, how)
        self.announce(now)

    # ------------------------------------------------------------------ relay

    def announce(self, now: float) -> None:
        """The warnings in force, retained, for pages (an empty list clears the banner)."""
        payload = {"site": self._site.id, "updated": now,
                   "warnings": [warning_json(w) for w in self.in_force()]}
        self._publish(warnings_topic(self._site.id), orjson.dumps(payload), qos=1, retain=True)

    def _tell(self, warning: ExternalWarning, transition: str, step: str, now: float) -> None:
        if self._relay.speakers:
            self._speakers(warning, transition, step)
        if self._targets and self._outbox is not None:
            rows = [self._delivery(warning, transition, step, t, now) for t in self._targets]
            self._outbox.add_deliveries(rows)
            if self._wake is not None:
                self._wake()

    def _speakers(self, warning: ExternalWarning, transition: str, step: str) -> None:
        text = spoken(warning, cleared=transition == "cleared")
        priority = "normal" if transition == "cleared" else \
            _PRIORITY.get(warning.our_severity, "normal")
        for building in self._site.building_names:
            payload = orjson.dumps({
                "text": text, "repeat": 1 if transition == "cleared" else self._relay.repeat,
                "priority": priority, "key": f"{warning.id}:{step}:speakers:{building}",
                "exercise": warning.exercise})
            self._publish(speaker_topic(self._site.id, building), payload, qos=1)

    def _delivery(self, warning: ExternalWarning, transition: str, step: str,
                  target: RelayTarget, now: float) -> Delivery:
        person = target.person
        key = f"{warning.id}:{step}:{target.receiver}:{person.id if person else '*'}"
        zh, en = warning.text("zh"), warning.text("en")
        recipient = None if person is None else Recipient(
            person.id, person.name, person.role.value, person.phone, person.email)
        notification = Notification(
            key=key, site_id=self._site.id, site_name=self._site.name, alert_id=warning.id,
            transition=transition, severity=warning.our_severity, category=zh.event,
            rule_id="cap", message_zh=_message(zh), message_en=_message(en),
            place_id=self._site.id, place_zh=zh.area or self._site.name,
            raised_at=warning.sent, ts=now, exercise=warning.exercise, recipient=recipient,
            link=warning.web)
        return Delivery(
            id=None, key=key, alert_id=warning.id, transition=transition, route=_ROUTE,
            receiver=target.receiver, recipient_id=person.id if person else None,
            speakers=False, group_key=None,
            notification=orjson.dumps(notification_json(notification)).decode(),
            state="pending", attempts=0, not_before=now, created=now)


def spoken(warning: ExternalWarning, *, cleared: bool = False, lang: str = "zh") -> str:
    """What the PA speakers read out: the drill first, then headline and what to do."""
    t = warning.text(lang)
    zh = t.language.lower().startswith("zh")
    if cleared:
        ended = "已解除" if zh else " has ended"
        return f"{t.event}{ended}。" if zh else f"{t.event}{ended}."
    drill = ("演练。" if zh else "This is a drill. ") if warning.exercise else ""
    parts = [t.headline or t.event, t.instruction or t.description or ""]
    stop = "。" if zh else ". "
    return drill + stop.join(p.rstrip("。. ") for p in parts if p) + stop.strip()


def _message(t: WarningText) -> str:
    return " ".join(p for p in (t.headline or t.event, t.description, t.instruction) if p)


def _digest(sender: str, identifier: str) -> str:
    return hashlib.sha256(f"{sender}\n{identifier}".encode()).hexdigest()[:16]


def _severity_rank(severity: str) -> int:
    return ("Unknown", "Minor", "Moderate", "Severe", "Extreme").index(severity) \
        if severity in ("Unknown", "Minor", "Moderate", "Severe", "Extreme") else 0
