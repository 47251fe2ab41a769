"""MQTT commands: through the real mosquitto of the `broker` fixture with a paho-backed publish,
and faults of the link injected with small stand-ins."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace

import paho.mqtt.client as paho
import pytest

from hub.channels.base import Notification, notification_json
from hub.channels.mqtt_command import MqttCommand, Publish
from hub.channels.render import spoken
from tests.conftest import Broker, Listener, publisher


@pytest.fixture
def paho_publish(broker: Broker) -> Iterator[Publish]:
    client = publisher(broker, "channel-publisher")

    def publish(topic: str, payload: bytes, *, qos: int) -> bool:
        return client.publish(topic, payload, qos=qos).rc == paho.MQTT_ERR_SUCCESS

    yield publish
    client.disconnect()
    client.loop_stop()


async def test_command_and_broadcast_through_the_broker(
        paho_publish: Publish, listen: Callable[[str], Listener], drill: Notification) -> None:
    listener = listen("shouwang/testsite/command/#")
    channel = MqttCommand(paho_publish)
    sent = await channel.send(drill)
    to_duty = await channel.send(replace(drill, recipient=None, key="k-duty"))
    spoken_out = await channel.broadcast(drill, building="b1", floor=1, repeat=2)
    whole_building = await channel.broadcast(replace(drill, severity="minor"), building="b1")
    await channel.close()
    for result in (sent, to_duty, spoken_out, whole_building):
        assert result.ok, result.detail
    assert sent.detail == "queued on shouwang/testsite/command/b1-lead (QoS 1)"
    messages = dict(await listener.wait_for(lambda m: len(m) == 4))
    assert json.loads(messages["shouwang/testsite/command/b1-lead"]) == notification_json(drill)
    assert json.loads(messages["shouwang/testsite/command/duty"])["key"] == "k-duty"
    speaker = json.loads(messages["shouwang/testsite/command/speakers/b1/f1"])
    assert speaker == {"text": spoken(drill), "repeat": 2, "priority": "emergency",
                       "key": drill.key, "exercise": True}
    assert speaker["text"].startswith("演练。特别严重火警报警。1号楼 1层 101室。")
    building = json.loads(messages["shouwang/testsite/command/speakers/b1"])
    assert (building["priority"], building["repeat"]) == ("normal", 3)


async def test_link_refuses(notification: Notification) -> None:
    def refuse(topic: str, payload: bytes, *, qos: int) -> bool:
        return False

    result = await MqttCommand(refuse).send(notification)
    assert (result.ok, result.retryable) == (False, True)
    assert result.detail == "shouwang/testsite/command/b1-lead: the MQTT link refused the message"


async def test_link_raises(notification: Notification) -> None:
    def broken(topic: str, payload: bytes, *, qos: int) -> bool:
        raise ConnectionResetError("broker went away")

    result = await MqttCommand(broken).broadcast(notification, building="b1")
    assert (result.ok, result.retryable) == (False, True)
    assert result.detail == ("shouwang/testsite/command/speakers/b1: "
                             "ConnectionResetError: broker went away")


async def test_wildcard_receiver_is_refused(notification: Notification) -> None:
    published: list[str] = []

    def record(topic: str, payload: bytes, *, qos: int) -> bool:
        published.append(topic)
        return True

    channel = MqttCommand(record, topic="duty/#")
    result = await channel.send(replace(notification, recipient=None))
    assert (result.ok, result.retryable) == (False, False)
    assert published == []
