"""The command centre: many communities' alerts in one place, actions back down, warnings out.

    async with Centre(config) as centre: ...

It subscribes (QoS 1, persistent session) on the centre's broker, where the communities'
bridges deliver:

    shouwang/<site>/alerts/#        alert transitions -> the board (hub/centre/board.py)
    shouwang/<site>/hub/status      the hub's own online/offline (retained, its last will)
    shouwang/<site>/rollup/1m       one-minute roll-ups (counted per community)
    shouwang/<site>/warnings        external warnings in force there (retained)
    $SYS/broker/connection/+/state  the bridges' own link state (hub/bridge.py)

`<site>` is each configured community, or `+` when none are configured. Every new transition
goes to the listeners (the page's live feed) after it is committed to centre.db.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from devices.topics import (
    CAP_ALL_TOPIC,
    alerts_subscription,
    cap_in_topic,
    centre_ack_topic,
    hub_status_topic,
    rollup_topic,
    warnings_topic,
)
from hub.alerts import AlertError
from hub.bridge import bridge_state_topic, site_of_connection
from hub.cap import CapReference, cap_time
from hub.capsign import CapSigner
from hub.centre.actions import CentreAction
from hub.centre.board import Alert, CentreBoard, CentreDB, Change
from hub.centre.config import CentreConfig
from hub.centre.warn import CentreSender, WarningRequest, render_warning
from hub.clock import Clock, SystemClock
from hub.mqtt import MqttLink, MqttOptions, RawMessage
from hub.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

Listener = Callable[[Change], object]


@dataclass(slots=True)
class Community:
    id: str
    name: str | None = None
    location: tuple[float, float] | None = None
    hub_online: bool | None = None
    hub_status_at: float | None = None
    link_up: bool | None = None
    link_at: float | None = None
    last_alert_at: float | None = None
    rollup_minute: int | None = None
    rollup_series: int = 0
    rollup_messages: int = 0
    warnings: list[dict[str, Any]] = field(default_factory=list)


class Centre:
    def __init__(self, config: CentreConfig, *, clock: Clock | None = None,
                 mqtt: MqttOptions | None = None) -> None:
        self.config = config
        self.name = config.name
        self.clock: Clock = clock or SystemClock()
        self._mqtt_options = mqtt or config.mqtt_options()
        self.communities: dict[str, Community] = {
            c.id: Community(c.id, c.name, (c.location.lat, c.location.lon) if c.location
                            else None)
            for c in config.spec.centre.communities}
        self._listed = bool(self.communities)
        self._listeners: list[Listener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self.messages = 0
        self.db: CentreDB
        self.board: CentreBoard
        self.link: MqttLink

    async def __aenter__(self) -> Centre:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        await asyncio.to_thread(self.config.data_dir.mkdir, parents=True, exist_ok=True)
        self.db = CentreDB(self.config.data_dir / "centre.db")
        self.board = CentreBoard(self.db)
        for site, _ in self.board.active:
            self._community(site)
        self.link = MqttLink(self._mqtt_options)
        for site in (list(self.communities) if self._listed else ["+"]):
            for topic in (alerts_subscription(site), hub_status_topic(site),
                          rollup_topic(site), warnings_topic(site)):
                self.link.subscribe(topic, qos=1)
        self.link.subscribe(bridge_state_topic("+"), qos=1)
        await self.link.connect()
        self._tasks = [asyncio.create_task(self._ingest(), name="centre-ingest")]
        self._started = True
        logger.info("command centre %s started: %s, %d active alerts", self.name,
                    f"{len(self.communities)} communities" if self._listed
                    else "every community that reports", len(self.board.active))

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        await self.link.close()
        await cancel_and_wait(self._tasks)
        while self.link.inbox_depth:  # acknowledged to the broker: ours to keep
            self._process(await self.link.next_batch())
        self.db.close()
        logger.info("command centre stopped")

    def listen(self, listener: Listener) -> Callable[[], None]:
        """`listener(change)` after each new transition is stored; returns the stopper."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    def _tell(self, changes: list[Change]) -> None:
        for change in changes:
            for listener in tuple(self._listeners):
                try:
                    listener(change)
                except Exception:
                    logger.exception("centre listener %r failed", listener)

    # ------------------------------------------------------------------ ingest

    async def _ingest(self) -> None:
        while True:
            batch = await self.link.next_batch()
            try:
                self._process(batch)
            except Exception:
                logger.exception("centre ingest of %d messages failed", len(batch))

    def _process(self, batch: list[RawMessage]) -> None:
        self.messages += len(batch)
        alerts: list[tuple[str, bytes, float]] = []
        for topic, payload, received in batch:
            parts = topic.split("/")
            if parts[0] == "$SYS":
                self._bridge_state(parts, payload, received)
                continue
            if len(parts) < 3 or parts[0] != "shouwang":
                continue
            community = self._community(parts[1])
            if community is None:
                continue
            kind = parts[2]
            if kind == "alerts" and len(parts) == 5:
                alerts.append((parts[1], payload, received))
                community.last_alert_at = received
            elif kind == "hub" and parts[3:] == ["status"]:
                community.hub_online = payload == b"online"
                community.hub_status_at = received
            elif kind == "rollup":
                self._rollup(community, payload)
            elif kind == "warnings" and len(parts) == 3:
                self._warnings(community, payload)
        if alerts:
            self._tell(self.board.apply(alerts))

    def _community(self, site: str) -> Community | None:
        community = self.communities.get(site)
        if community is None and not self._listed and site:
            community = self.communities[site] = Community(site)
        return community

    def _bridge_state(self, parts: list[str], payload: bytes, received: float) -> None:
        if len(parts) != 5 or parts[4] != "state":
            return
        site = site_of_connection(parts[3])
        community = self._community(site) if site else None
        if community is not None:
            community.link_up = payload.strip() == b"1"
            community.link_at = received

    def _rollup(self, community: Community, payload: bytes) -> None:
        try:
            message = orjson.loads(payload)
            minute, series = int(message["minute"]), len(message["series"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            logger.warning("roll-up from %s ignored: not a roll-up message", community.id)
            return
        if community.rollup_minute != minute:
            community.rollup_minute, community.rollup_series = minute, 0
        community.rollup_series += series
        community.rollup_messages += 1

    def _warnings(self, community: Community, payload: bytes) -> None:
        try:
            warnings = orjson.loads(payload)["warnings"] if payload else []
        except (orjson.JSONDecodeError, KeyError, TypeError):
            logger.warning("warnings of %s ignored: not a warnings message", community.id)
            return
        community.warnings = warnings if isinstance(warnings, list) else []

    # ------------------------------------------------------------------ people at the centre

    def act(self, site: str, alert_id: str, action: Literal["ack", "clear"], user: str,
            note: str | None) -> CentreAction:
        """Acknowledge or clear an alert of a community: sent down to its hub (QoS 1)."""
        alert = self._alert(site, alert_id)
        if action == "ack" and alert["state"] not in ("active_unack", "cleared_unack"):
            raise AlertError(409, f"alert {alert_id} was already acknowledged by "
                                  f"{alert.get('acknowledged_by')}")
        if action == "clear" and not str(alert["state"]).startswith("active"):
            raise AlertError(409, f"alert {alert_id} is already cleared")
        message = CentreAction(id=uuid.uuid4().hex, action=action,
                               alert_id=alert_id, centre=self.name, user=user, note=note,
                               ts=self.clock.now())
        if not self.link.publish(centre_ack_topic(site), message.model_dump_json().encode(),
                                 qos=1):
            raise AlertError(503, "the centre's MQTT link refused the message; try again")
        self.db.execute("INSERT INTO actions VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (message.id, message.ts, site, alert_id, action, message.by, note))
        logger.warning("centre %s of %s/%s by %s sent down", action, site, alert_id,
                       message.by)
        return message

    def escalate(self, site: str, alert_id: str, user: str, note: str | None) -> Alert:
        """Take an alert up to the next level: recorded at the centre with who and why."""
        self._alert(site, alert_id)
        change = self.board.escalate(site, alert_id, f"centre:{self.name}/{user}", note,
                                     self.clock.now())
        self._tell([change])
        return change.alert

    def _alert(self, site: str, alert_id: str) -> Alert:
        alert = self.board.alert(site, alert_id)
        if alert is None:
            raise AlertError(404, f"no alert {alert_id!r} of community {site!r}")
        return alert

    # ------------------------------------------------------------------ warnings

    def issue(self, request: WarningRequest, user: str) -> dict[str, Any]:
        """Publish a CAP warning to the named communities (or all); returns its record.
        `user`: who at the centre issues it (the one logged in)."""
        unknown = [s for s in request.sites or () if self._listed and s not in self.communities]
        if unknown:
            raise AlertError(422, f"no community {', '.join(unknown)} at this centre")
        now = self.clock.now()
        warning_id = f"{self.name}.{uuid.uuid4().hex[:12]}"
        identifier = f"{warning_id}.{round(now * 1000)}"
        document = self._document(request, identifier, now)
        topics = self._publish_warning(request, document)
        record = {"id": warning_id, "identifier": identifier, "sender": self._sender().sender,
                  "sent": now, "sent_text": cap_time(now, self._sender().timezone),
                  "by": f"centre:{self.name}/{user}", "topics": topics,
                  "request": request.model_dump(mode="json"), "signed": self._signing()}
        self.db.execute("INSERT INTO issued(id, sent, by_user, warning) VALUES (?, ?, ?, ?)",
                        (warning_id, now, record["by"], orjson.dumps(record).decode()))
        logger.warning("centre %s issued warning %s (%s) to %s", self.name, warning_id,
                       request.event, ", ".join(topics))
        return record

    def cancel(self, warning_id: str, user: str) -> dict[str, Any]:
        rows = self.db.query("SELECT warning, cancelled_at FROM issued WHERE id = ?",
                             (warning_id,))
        if not rows:
            raise AlertError(404, f"no warning {warning_id!r} issued here")
        if rows[0][1] is not None:
            raise AlertError(409, f"warning {warning_id} is already cancelled")
        record = orjson.loads(rows[0][0])
        # Warnings issued before the centre had logins carry the name typed in the page.
        request = WarningRequest.model_validate(
            {k: v for k, v in record["request"].items() if k != "user"})
        now = self.clock.now()
        first = CapReference(record["sender"], record["identifier"], record["sent_text"])
        document = self._document(request, f"{warning_id}.cancel.{round(now * 1000)}", now,
                                  msg_type="Cancel", references=(first,))
        self._publish_warning(request, document)
        by = f"centre:{self.name}/{user}"
        self.db.execute("UPDATE issued SET cancelled_at = ?, cancelled_by = ? WHERE id = ?",
                        (now, by, warning_id))
        record.update(cancelled_at=now, cancelled_by=by)
        return dict(record)

    def issued(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT warning, cancelled_at, cancelled_by FROM issued "
                             "ORDER BY sent DESC LIMIT ?", (limit,))
        out = []
        for text, cancelled_at, cancelled_by in rows:
            record = orjson.loads(text)
            record.update(cancelled_at=cancelled_at, cancelled_by=cancelled_by)
            out.append(record)
        return out

    def _sender(self) -> CentreSender:
        spec = self.config.spec
        return CentreSender(self.config.sender, spec.centre.title or self.name,
                            spec.cap.timezone)

    def _signing(self) -> bool:
        return self.config.spec.cap.sign is not None

    def _document(self, request: WarningRequest, identifier: str, now: float, *,
                  msg_type: str = "Alert", references: tuple[CapReference, ...] = ()
                  ) -> bytes:
        document = render_warning(request, self._sender(), identifier=identifier, sent=now,
                                  msg_type=msg_type, references=references)
        sign = self.config.spec.cap.sign
        if sign is None:
            return document
        passphrase = os.environ.get(sign.passphrase_env) if sign.passphrase_env else None
        signer = CapSigner.from_files(self.config.path(sign.key_file),
                                      self.config.path(sign.cert_file),
                                      passphrase.encode() if passphrase else None)
        return signer.sign(document)

    def _publish_warning(self, request: WarningRequest, document: bytes) -> list[str]:
        topics = [cap_in_topic(s) for s in request.sites] if request.sites else [CAP_ALL_TOPIC]
        for topic in topics:
            if not self.link.publish(topic, document, qos=1):
                raise AlertError(503, f"the centre's MQTT link refused the warning for {topic}")
        return topics

    # ------------------------------------------------------------------ views

    def community_views(self) -> list[dict[str, Any]]:
        """Every community, the one with the most severe active alert first."""
        counts = self.board.counts()
        worst = {s: i for i, s in enumerate(("critical", "major", "minor", "warning", "info"))}

        def rank(site: str) -> tuple[int, str]:
            active = counts.get(site, {})
            return min((worst[s] for s, n in active.items() if n and s in worst),
                       default=9), site

        return [{"id": site, "name": c.name or site, "location": c.location,
                 "hub_online": c.hub_online, "hub_status_at": c.hub_status_at,
                 "link_up": c.link_up, "link_at": c.link_at, "last_alert_at": c.last_alert_at,
                 "active": counts.get(site, {}),
                 "rollup": {"minute": c.rollup_minute, "series": c.rollup_series,
                            "messages": c.rollup_messages},
                 "warnings": c.warnings}
                for site, c in sorted(self.communities.items(), key=lambda i: rank(i[0]))]
