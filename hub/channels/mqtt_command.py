"""Commands over MQTT: responders' apps and the PA speakers of the buildings.

    shouwang/<site>/command/<receiver-or-topic>             the notification JSON
    shouwang/<site>/command/speakers/<building>[/f<floor>]  {"text", "repeat", "priority"}

The hub's MQTT link provides `publish`; a False from it (paho refused the message) is a
retryable failure, and so is an exception, which is caught here and kept as the reason.
"""

from __future__ import annotations

import logging
from typing import Protocol

import orjson

from devices.topics import ROOT
from hub.channels.base import DeliveryResult, Notification, notification_json
from hub.channels.render import spoken

logger = logging.getLogger(__name__)

_SPEAKER_PRIORITY = {"critical": "emergency", "major": "high"}
_FORBIDDEN = ("+", "#", "\0")


class Publish(Protocol):
    def __call__(self, topic: str, payload: bytes, *, qos: int) -> bool: ...


def command_topic(site_id: str, receiver: str) -> str:
    return f"{ROOT}/{site_id}/command/{receiver}"


def speaker_topic(site_id: str, building: str, floor: int | None = None) -> str:
    level = "" if floor is None else f"/f{floor}"
    return f"{ROOT}/{site_id}/command/speakers/{building}{level}"


class MqttCommand:
    """Publishes to the recipient's command topic, or to `topic` when there is no recipient."""

    def __init__(self, publish: Publish, *, topic: str = "duty", qos: int = 1,
                 lang: str = "zh", name: str = "mqtt") -> None:
        self.name = name
        self._publish = publish
        self._topic = topic
        self._qos = qos
        self._lang = lang

    def __repr__(self) -> str:
        return f"MqttCommand(name={self.name!r}, topic={self._topic!r}, qos={self._qos})"

    async def send(self, notification: Notification) -> DeliveryResult:
        receiver = notification.recipient.id if notification.recipient else self._topic
        topic = command_topic(notification.site_id, receiver)
        return self._put(topic, orjson.dumps(notification_json(notification)))

    async def broadcast(self, notification: Notification, *, building: str,
                        floor: int | None = None, repeat: int = 3) -> DeliveryResult:
        """Have the speakers of a building (or one floor of it) read the alert out."""
        payload = {"text": spoken(notification, self._lang), "repeat": repeat,
                   "priority": _SPEAKER_PRIORITY.get(notification.severity, "normal"),
                   "key": notification.key, "exercise": notification.exercise}
        topic = speaker_topic(notification.site_id, building, floor)
        return self._put(topic, orjson.dumps(payload))

    def _put(self, topic: str, payload: bytes) -> DeliveryResult:
        if any(c in topic for c in _FORBIDDEN):
            return self._failed(f"{topic}: not a topic one can publish to", retryable=False)
        try:
            accepted = self._publish(topic, payload, qos=self._qos)
        except Exception as exc:  # the link's own failure, whatever it is, is kept
            return self._failed(f"{topic}: {type(exc).__name__}: {exc}", retryable=True)
        if not accepted:
            return self._failed(f"{topic}: the MQTT link refused the message", retryable=True)
        return DeliveryResult(True, self.name, f"queued on {topic} (QoS {self._qos})")

    def _failed(self, detail: str, *, retryable: bool) -> DeliveryResult:
        logger.warning("%s: delivery failed: %s", self.name, detail)
        return DeliveryResult(False, self.name, detail, retryable)

    async def close(self) -> None:
        """The MQTT link belongs to the hub; nothing of ours to close."""
