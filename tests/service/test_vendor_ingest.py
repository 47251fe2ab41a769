"""Vendor devices end to end on real parts: mosquitto, a running hub, its HTTP API.

The hub subscribes to `vendor_subscriptions(site)` through the same `MqttLink.subscribe` the
service uses; the fixture below does that right after start, so these tests hold whether or
not the service has subscribed already (a second identical SUBSCRIBE is harmless).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import orjson
import paho.mqtt.client as paho
import pytest
import yaml

from devices.adapters import vendor_subscriptions
from devices.adapters.frigate import encode_event
from hub.config import HubConfig, load_config
from hub.service import Hub
from tests.conftest import DATA, Broker, Listener, publisher
from tests.service.conftest import eventually, running_hub

SITE = "vendorsite"


@pytest.fixture
def vendor_config(tmp_path: Path, broker: Broker) -> HubConfig:
    config = {
        "site": str(DATA / "vendor_site.yaml"),
        "mqtt": {"host": broker.host, "port": broker.port, "client_id": "vendor-hub"},
        "store": {"path": str(tmp_path / "data")},
    }
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return load_config(path)


@pytest.fixture
def pub(broker: Broker) -> Iterator[paho.Client]:
    client = publisher(broker, "vendor-devices")
    yield client
    client.disconnect()
    client.loop_stop()


@pytest.fixture
async def vendor_hub(vendor_config: HubConfig, pub: paho.Client
                     ) -> AsyncIterator[tuple[Hub, httpx.AsyncClient]]:
    async with running_hub(vendor_config) as (hub, api):
        # The broker handles one client's packets in order: subscribing `zigbee2mqtt/#` last
        # and seeing a bridge message arrive proves every subscription before it is active.
        topics = vendor_subscriptions(hub.site)
        for topic in sorted(topics, key=lambda t: t.startswith("zigbee2mqtt/")):
            hub.link.subscribe(topic, 1)
        assert "zigbee2mqtt/#" in topics
        ignored = hub.pipeline.vendor.ignored

        def bridge_seen() -> bool:
            pub.publish("zigbee2mqtt/bridge/state", b'{"state": "online"}', qos=1)
            return ignored["zigbee2mqtt.bridge"] > 0

        await eventually(bridge_seen, what="the hub's vendor subscriptions")
        yield hub, api


async def active_alerts(api: httpx.AsyncClient) -> list[dict[str, object]]:
    response = await api.get("/api/alerts", params={"state": "active"})
    alerts: list[dict[str, object]] = response.json()
    return alerts


async def test_z2m_smoke_detector_raises_and_clears_the_fire_alert(
        vendor_hub: tuple[Hub, httpx.AsyncClient], pub: paho.Client,
        listen: Callable[[str], Listener]) -> None:
    hub, api = vendor_hub
    alerts = listen(f"shouwang/{SITE}/alerts/#")
    topic = "zigbee2mqtt/b1/f1/u101/smoke"
    pub.publish(topic, orjson.dumps({"smoke": True, "battery": 91, "linkquality": 132,
                                     "battery_low": False}), qos=1)

    got = await alerts.wait_for(lambda ms: len(ms) >= 1)
    alert_topic, payload = got[0]
    body = json.loads(payload)
    assert alert_topic.startswith(f"shouwang/{SITE}/alerts/fire/")
    assert body["transition"] == "raised"
    alert = body["alert"]
    assert (alert["rule"], alert["device"], alert["metric"]) == (
        "smoke_alarm", "b1-101-smoke", "smoke")
    assert alert["subject"] == {"level": "unit", "id": "b1/f1/101"}
    assert "1号楼 1层 101室" in alert["message"]["zh"]

    pub.publish(topic, orjson.dumps({"smoke": False, "battery": 91}), qos=1)
    got = await alerts.wait_for(lambda ms: len(ms) >= 2)
    assert json.loads(got[1][1])["transition"] == "cleared"

    await hub.writer.flush()
    series = (await api.get("/api/devices/b1-101-smoke/readings",
                            params={"metric": "battery", "start": time.time() - 60})).json()
    assert [p["value"] for p in series["series"][0]["points"]] == [91.0, 91.0]
    assert (await api.get("/api/quarantine")).json()["total"] == 0


async def test_frigate_intrusions_raise_repeated_intrusion(
        vendor_hub: tuple[Hub, httpx.AsyncClient], pub: paho.Client,
        listen: Callable[[str], Listener]) -> None:
    hub, api = vendor_hub
    alerts = listen(f"shouwang/{SITE}/alerts/#")
    now = time.time()

    def frigate(kind: str, object_id: str, **changes: object) -> None:
        body = orjson.loads(encode_event(kind, object_id, "gate", now - 1))
        body["after"].update(changes)
        pub.publish("frigate/events", orjson.dumps(body), qos=1)

    # Two people; the first one tracked for a while. Updates and ends are not new intrusions.
    frigate("new", "p1")
    frigate("update", "p1", entered_zones=["gate"])
    frigate("update", "p1", current_zones=["gate"])
    frigate("new", "p2")
    frigate("end", "p1", end_time=now)
    frigate("new", "cat", false_positive=True)

    async def two_intrusions() -> bool:
        return hub.pipeline.stats.messages["event"] == 2

    await eventually(two_intrusions, what="two intrusion events")
    assert await active_alerts(api) == []

    frigate("new", "p3")
    got = await alerts.wait_for(lambda ms: len(ms) >= 1)
    alert_topic, payload = got[0]
    body = json.loads(payload)
    assert alert_topic.startswith(f"shouwang/{SITE}/alerts/security/")
    assert (body["transition"], body["alert"]["rule"], body["alert"]["device"]) == (
        "raised", "intrusion_repeated", "b1-gate-cam")
    assert hub.pipeline.stats.messages["event"] == 3
    assert hub.pipeline.vendor.ignored["frigate.event_update"] == 2


async def test_tasmota_lwt_offline_shows_the_device_offline(
        vendor_hub: tuple[Hub, httpx.AsyncClient], pub: paho.Client) -> None:
    hub, api = vendor_hub

    async def meter_online() -> object:
        return (await api.get("/api/devices/b1-meter")).json()["online"]

    pub.publish("tele/meter_b1/LWT", b"Online", qos=1, retain=True)
    await eventually(meter_online, what="the meter online")
    pub.publish("tele/meter_b1/SENSOR", orjson.dumps({
        # Tasmota's local time, without an offset: the site's zone.
        "Time": datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M:%S"),
        "ENERGY": {"Voltage": 229.0, "Power": 1800, "Total": 12.5}}), qos=1)

    async def reading_stored() -> bool:
        await hub.writer.flush()
        body = (await api.get("/api/devices/b1-meter/readings",
                              params={"metric": "power_kw", "start": time.time() - 86_400})
                ).json()
        return [p["value"] for p in body["series"][0]["points"]] == [1.8]

    await eventually(reading_stored, what="the meter's power reading")

    pub.publish("tele/meter_b1/LWT", b"Offline", qos=1, retain=True)

    async def meter_offline() -> bool:
        return (await api.get("/api/devices/b1-meter")).json()["online"] is False

    await eventually(meter_offline, what="the meter offline")
    offline = (await api.get("/api/devices", params={"online": "false"})).json()
    assert "b1-meter" in [d["id"] for d in offline["devices"]]
    assert (await api.get("/api/quarantine")).json()["total"] == 0


async def test_unmapped_z2m_device_is_quarantined_and_blocks_nothing(
        vendor_hub: tuple[Hub, httpx.AsyncClient], pub: paho.Client) -> None:
    hub, api = vendor_hub
    pub.publish("zigbee2mqtt/b1/f1/u109/smoke", orjson.dumps({"smoke": True}), qos=1)
    pub.publish("zigbee2mqtt/b1/f1/u101", orjson.dumps({"water_leak": True}), qos=1)
    pub.publish(f"shouwang/{SITE}/dev/b1-101-heat/telemetry",
                orjson.dumps({"temperature": 24.5}), qos=1)
    pub.publish("zigbee2mqtt/living_room/lamp/set", b'{"state": "ON"}', qos=1)

    async def accounted() -> bool:
        return (hub.pipeline.stats.messages["telemetry"] >= 2 and hub.quarantine.total >= 1
                and hub.pipeline.vendor.ignored["zigbee2mqtt.command"] >= 1)

    await eventually(accounted, what="every message accounted for")
    q = (await api.get("/api/quarantine")).json()
    assert q["by_reason"] == {"unmapped_vendor_device": 1}
    (sample,) = q["recent"]
    assert sample["topic"] == "zigbee2mqtt/b1/f1/u109/smoke"
    assert sample["reason"] == "unmapped_vendor_device"
    assert "Zigbee2MQTT device 'b1/f1/u109/smoke' is not mapped" in sample["detail"]
    assert sample["device"] is None
    assert '"smoke": true' in sample["payload"] or '"smoke":true' in sample["payload"]

    async def leak_alert() -> bool:
        return any(a["rule"] == "water_leak" for a in await active_alerts(api))

    await eventually(leak_alert, what="the mapped leak sensor's alert")
