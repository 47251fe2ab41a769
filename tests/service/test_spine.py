"""End to end on real parts: mosquitto, the hub, its SQLite stores and HTTP API."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import orjson
import pytest
import yaml

from hub.config import HubConfig, load_config
from hub.cpu import IDLE_CLASS
from hub.store.process import ProcessStore
from tests.conftest import DATA, Broker, publisher
from tests.service.conftest import eventually, running_hub

SITE = "testsite"


def telemetry_topic(device: str) -> str:
    return f"shouwang/{SITE}/dev/{device}/telemetry"


async def test_smoke_raises_fire_alert_and_clearing_resolves_it(
    hub_config: HubConfig, broker: Broker, listen
) -> None:
    alerts = listen(f"shouwang/{SITE}/alerts/#")
    async with running_hub(hub_config) as (hub, api):
        pub = publisher(broker)
        now = time.time()
        pub.publish(telemetry_topic("b1-101-smoke"),
                    orjson.dumps({"ts": now - 2, "smoke": True, "smoke_density": 12.5}), qos=1)

        got = await alerts.wait_for(lambda ms: len(ms) >= 1)
        topic, payload = got[0]
        body = json.loads(payload)
        assert topic.startswith(f"shouwang/{SITE}/alerts/fire/")
        assert body["transition"] == "raised"
        alert = body["alert"]
        assert alert["rule"] == "smoke_alarm"
        assert alert["severity"] == "major"  # one detector: suspected; two confirm a fire
        assert alert["subject"] == {"level": "unit", "id": "b1/f1/101"}
        assert "1号楼 1层 101室" in alert["message"]["zh"]
        assert topic.endswith(alert["id"])

        active = (await api.get("/api/alerts", params={"state": "active"})).json()
        assert [a["id"] for a in active] == [alert["id"]]

        pub.publish(telemetry_topic("b1-101-smoke"),
                    orjson.dumps({"ts": now - 1, "smoke": False}), qos=1)
        got = await alerts.wait_for(lambda ms: len(ms) >= 2)
        cleared = json.loads(got[1][1])
        assert cleared["transition"] == "cleared"
        assert cleared["alert"]["id"] == alert["id"]
        assert (await api.get("/api/alerts", params={"state": "active"})).json() == []
        detail = (await api.get(f"/api/alerts/{alert['id']}")).json()
        assert detail["alert"]["state"] == "cleared_unack"
        assert detail["alert"]["cleared_at"] is not None
        timeline = [(e["transition"], e["device"], e["metric"], e["value"])
                    for e in detail["timeline"]]
        assert timeline == [("raised", "b1-101-smoke", "smoke", 1.0),
                            ("cleared", "b1-101-smoke", None, None)]

        # The readings themselves were stored and can be read back.
        await hub.writer.flush()
        series = (await api.get("/api/devices/b1-101-smoke/readings",
                                params={"metric": "smoke", "start": now - 10})).json()
        assert [p["value"] for p in series["series"][0]["points"]] == [1.0, 0.0]
        pub.disconnect()
        pub.loop_stop()


async def test_repeated_trigger_is_one_alert(hub_config: HubConfig, broker: Broker) -> None:
    async with running_hub(hub_config) as (hub, api):
        pub = publisher(broker)
        now = time.time()
        # Two detectors in one unit, each reporting smoke twice: one alert about the unit.
        for i, device in enumerate(["b1-101-smoke", "b1-101-smoke2"] * 2):
            pub.publish(telemetry_topic(device), orjson.dumps({"ts": now + i, "smoke": True}),
                        qos=1)

        async def four_messages() -> bool:
            return hub.pipeline.stats.messages["telemetry"] == 4

        await eventually(four_messages, what="4 telemetry messages")
        active = (await api.get("/api/alerts", params={"state": "active"})).json()
        # One alert about the home, however often its detectors repeat; the two agreeing
        # also confirm a fire on the floor.
        assert sorted((a["rule"], a["subject"]["id"], a["severity"]) for a in active) == [
            ("fire_confirmed", "b1/f1", "critical"), ("smoke_alarm", "b1/f1/101", "major")]
        pub.disconnect()
        pub.loop_stop()


async def test_gas_and_leak_rules_fire(hub_config: HubConfig, broker: Broker) -> None:
    async with running_hub(hub_config) as (_hub, api):
        pub = publisher(broker)
        now = time.time()
        pub.publish(telemetry_topic("b1-101-gas"), orjson.dumps({"ts": now, "gas_lel": 25}),
                    qos=1)
        pub.publish(telemetry_topic("b1-101-leak"),
                    orjson.dumps({"ts": now, "water_leak": True, "battery": 80}), qos=1)

        async def two_alerts() -> bool:
            r = await api.get("/api/alerts", params={"state": "active"})
            return {a["rule"] for a in r.json()} == {"gas_leak", "water_leak"}

        await eventually(two_alerts, what="gas and leak alerts")
        pub.disconnect()
        pub.loop_stop()


async def test_restart_loses_no_qos1_reading(hub_config: HubConfig, broker: Broker) -> None:
    """The hub's persistent session keeps QoS 1 messages published while it is down."""
    async with running_hub(hub_config) as (hub, _api):
        assert hub.link.connected
    # Hub is down now; its session stays at the broker.
    pub = publisher(broker)
    now = time.time()
    count = 500
    for i in range(count):
        info = pub.publish(telemetry_topic("b1-pump"),
                           orjson.dumps({"ts": now - count + i, "pressure_mpa": 0.6,
                                         "running": False}), qos=1)
        info.wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()

    async with running_hub(hub_config) as (hub, api):
        async def all_arrived() -> bool:
            return hub.pipeline.stats.messages["telemetry"] >= count

        await eventually(all_arrived, timeout=10, what=f"{count} queued messages")
        await hub.writer.flush()
        body = (await api.get("/api/devices/b1-pump/readings",
                              params={"metric": "pressure_mpa", "start": now - count - 1})).json()
        assert len(body["series"][0]["points"]) == count


async def test_bad_input_is_quarantined_and_good_input_all_stored(
    hub_config: HubConfig, broker: Broker
) -> None:
    good = 0
    bad: dict[str, int] = {}
    now = time.time()
    stream: list[tuple[str, bytes, str | None]] = []
    for i in range(200):
        ts = now - 200 + i
        stream.append((telemetry_topic("b1-101-heat"),
                       orjson.dumps({"ts": ts, "temperature": 21.5}), None))
        cases = [
            (telemetry_topic("b1-101-heat"), b"{not json", "malformed_json"),
            (telemetry_topic("b1-101-heat"), b'{"temperature": "hot"}', "wrong_type"),
            # orjson refuses numbers that overflow to infinity: not JSON we can store.
            (telemetry_topic("b1-101-heat"), b'{"temperature": 1e999}', "malformed_json"),
            (telemetry_topic("b1-101-heat"), b'{"temperature": NaN}', "malformed_json"),
            (telemetry_topic("b1-101-heat"),
             orjson.dumps({"ts": now + 3600, "temperature": 20}), "future_timestamp"),
            (telemetry_topic("no-such-device"), b'{"temperature": 20}', "unknown_device"),
            (telemetry_topic("b1-101-heat"), b"x" * 20_000, "oversize"),
            (f"shouwang/{SITE}/dev/b1-101-heat/bogus", b"{}", "bad_topic"),
            (telemetry_topic("b1-101-heat"), b"[1, 2]", "not_an_object"),
        ]
        topic, payload, reason = cases[i % len(cases)]
        stream.append((topic, payload, reason))
    pub = publisher(broker)
    async with running_hub(hub_config) as (hub, api):
        for topic, payload, reason in stream:
            pub.publish(topic, payload, qos=1)
            if reason is None:
                good += 1
            else:
                bad[reason] = bad.get(reason, 0) + 1

        async def all_seen() -> bool:
            return (hub.pipeline.stats.messages["telemetry"] + hub.quarantine.total
                    >= len(stream))

        await eventually(all_seen, timeout=10, what="every message accounted for")
        await hub.writer.flush()
        q = (await api.get("/api/quarantine")).json()
        assert q["by_reason"] == bad
        assert q["total"] == sum(bad.values())
        sample = q["recent"][0]
        assert sample["reason"] in bad
        assert sample["detail"]
        body = (await api.get("/api/devices/b1-101-heat/readings",
                              params={"metric": "temperature", "start": now - 300})).json()
        assert len(body["series"][0]["points"]) == good
        metrics = (await api.get("/metrics")).text
        assert 'shouwang_messages_quarantined_total{reason="malformed_json"}' in metrics
        assert (await api.get("/api/health")).json()["status"] == "ok"
    pub.disconnect()
    pub.loop_stop()


async def test_partial_payload_keeps_good_metrics(hub_config: HubConfig, broker: Broker) -> None:
    """A malformed battery level must not cost the smoke alarm beside it."""
    pub = publisher(broker)
    async with running_hub(hub_config) as (_hub, api):
        pub.publish(telemetry_topic("b1-201-smoke"),
                    orjson.dumps({"smoke": True, "battery": "low", "linkquality": 90}), qos=1)

        async def alert_raised() -> bool:
            r = await api.get("/api/alerts", params={"state": "active"})
            return len(r.json()) == 1

        await eventually(alert_raised, what="smoke alert despite bad battery field")
        q = (await api.get("/api/quarantine")).json()
        assert q["by_reason"] == {"wrong_type": 1, "unknown_metric": 1}
        assert all(s["partial"] for s in q["recent"])
    pub.disconnect()
    pub.loop_stop()


async def test_history_aggregates_with_every(hub_config: HubConfig, broker: Broker) -> None:
    pub = publisher(broker, "history")
    now = time.time()
    start = now - 600
    async with running_hub(hub_config) as (hub, api):
        for i in range(120):
            pub.publish(telemetry_topic("b1-101-heat"),
                        orjson.dumps({"ts": start + i * 5, "temperature": 20 + i % 10}), qos=1)

        async def stored() -> bool:
            return hub.pipeline.stats.messages["telemetry"] == 120

        await eventually(stored, what="120 readings")
        await hub.writer.flush()
        body = (await api.get("/api/devices/b1-101-heat/readings",
                              params={"metric": "temperature", "start": start - 1,
                                      "every": "1m"})).json()
        series = body["series"][0]
        assert series["every"] == 60
        assert sum(p["count"] for p in series["points"]) == 120
        assert min(p["min"] for p in series["points"]) == 20
        assert max(p["max"] for p in series["points"]) == 29
        assert all(p["min"] <= p["value"] <= p["max"] for p in series["points"])
        bad = await api.get("/api/devices/b1-101-heat/readings", params={"every": "often"})
        assert bad.status_code == 422
        assert "is not a duration" in bad.json()["detail"]
    pub.disconnect()
    pub.loop_stop()


@pytest.mark.skipif(not IDLE_CLASS, reason="SCHED_IDLE is Linux's")
@pytest.mark.parametrize("idle_cpu", [True, False])
async def test_storing_runs_on_idle_cores_unless_told_not_to(
        tmp_path: Path, broker: Broker, idle_cpu: bool) -> None:
    """The loop must not wait behind the hub's own bulk work for a core (hub/cpu.py); a
    machine busy with other work can turn that off (`store.idle_cpu`)."""
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({
        "site": str(DATA / "site.yaml"),
        "mqtt": {"host": broker.host, "port": broker.port, "client_id": "hub-under-test"},
        "store": {"path": str(tmp_path / "data"), "idle_cpu": idle_cpu}}), encoding="utf-8")
    expected = os.SCHED_IDLE if idle_cpu else os.SCHED_OTHER
    async with running_hub(load_config(path)) as (hub, _api):
        writer = hub.writer._thread
        assert writer is not None
        assert writer.native_id is not None
        assert os.sched_getscheduler(writer.native_id) == expected
        store = hub.store.inner
        assert isinstance(store, ProcessStore)
        assert os.sched_getscheduler(store.pid) == expected
        assert os.sched_getscheduler(0) == os.SCHED_OTHER
