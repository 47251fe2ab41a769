"""The alert lifecycle through a real broker and the HTTP API: acknowledge, clear, silence,
inhibit, flapping, per-site overrides, and rule timers that survive a restart."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import orjson
import yaml

from hub.config import HubConfig, load_config
from tests.conftest import DATA, Broker, publisher
from tests.service.conftest import eventually, running_hub

SITE = "testsite"


def topic(device: str, channel: str = "telemetry") -> str:
    return f"shouwang/{SITE}/dev/{device}/{channel}"


async def active(api, rule: str | None = None) -> list[dict]:  # type: ignore[no-untyped-def]
    alerts = (await api.get("/api/alerts", params={"state": "active"})).json()
    return [a for a in alerts if rule is None or a["rule"] == rule]


async def test_acknowledge_then_clear_records_who_and_why(hub_config: HubConfig,
                                                          broker: Broker) -> None:
    pub = publisher(broker)
    async with running_hub(hub_config) as (_hub, api):
        pub.publish(topic("b1-101-gas"), orjson.dumps({"gas_lel": 25}), qos=1)

        async def raised() -> bool:
            return len(await active(api, "gas_leak")) == 1

        await eventually(raised, what="gas alert")
        alert_id = (await active(api, "gas_leak"))[0]["id"]

        async with api.as_user("duty-1", "duty_officer") as duty1, \
                api.as_user("duty-2", "duty_officer") as duty2:
            r = await duty1.post(f"/api/alerts/{alert_id}/ack",
                                 json={"note": "calling the resident"})
            assert r.status_code == 200, r.text
            assert r.json()["state"] == "active_ack"
            assert r.json()["acknowledged_by"] == "duty-1"
            again = await duty2.post(f"/api/alerts/{alert_id}/ack", json={})
            assert again.status_code == 409
            assert "already acknowledged by duty-1" in again.json()["detail"]

            r = await duty1.post(f"/api/alerts/{alert_id}/clear",
                                 json={"note": "valve closed, aired"})
        assert r.json()["state"] == "cleared_ack"
        assert r.json()["cleared_by"] == "duty-1"
        detail = (await api.get(f"/api/alerts/{alert_id}")).json()
        assert [(e["transition"], e["user"], e["note"]) for e in detail["timeline"]] == [
            ("raised", None, None),
            ("acknowledged", "duty-1", "calling the resident"),
            ("cleared", "duty-1", "valve closed, aired")]

        assert (await api.post("/api/alerts/nope/ack", json={})).status_code == 404
        # Who acts is who is logged in: a body naming someone else is refused.
        bad = await api.post(f"/api/alerts/{alert_id}/ack", json={"user": "duty-9"})
        assert bad.status_code == 422
        assert (await api.post(f"/api/alerts/{alert_id}/clear", json={})).status_code == 409
    pub.disconnect()
    pub.loop_stop()


async def test_an_event_alert_waits_for_a_person_then_can_raise_again(
    hub_config: HubConfig, broker: Broker
) -> None:
    pub = publisher(broker)
    async with running_hub(hub_config) as (_hub, api):
        pub.publish(topic("b1-nvr", "event"), orjson.dumps({"type": "disk_failure"}), qos=1)

        async def count(n: int) -> bool:
            alerts = (await api.get("/api/alerts")).json()
            return sum(a["rule"] == "nvr_disk_failure" for a in alerts) == n

        await eventually(lambda: count(1), what="disk failure alert")
        first = (await active(api, "nvr_disk_failure"))[0]
        assert first["severity"] == "critical"
        # A second report while it is active is the same alert.
        pub.publish(topic("b1-nvr", "event"), orjson.dumps({"type": "disk_failure"}), qos=1)
        await asyncio.sleep(0.3)
        assert await count(1)
        await api.post(f"/api/alerts/{first['id']}/clear", json={})
        pub.publish(topic("b1-nvr", "event"), orjson.dumps({"type": "disk_failure"}), qos=1)
        await eventually(lambda: count(2), what="a new alert after the manual clear")
    pub.disconnect()
    pub.loop_stop()


async def test_silence_records_but_does_not_announce(hub_config: HubConfig, broker: Broker,
                                                     listen) -> None:  # type: ignore[no-untyped-def]
    alerts_topic = listen(f"shouwang/{SITE}/alerts/#")
    pub = publisher(broker)
    async with running_hub(hub_config) as (_hub, api):
        r = await api.post("/api/silences", json={
            "reason": "replacing gas detectors on floor 1",
            "place": "b1/f1", "category": "gas"})
        assert r.status_code == 201, r.text
        silence = r.json()
        assert silence["in_force"] is True
        assert silence["author"] == "admin"
        assert silence["ends"] - silence["starts"] == 3600
        pub.publish(topic("b1-101-gas"), orjson.dumps({"gas_lel": 30}), qos=1)
        pub.publish(topic("b1-101-leak"), orjson.dumps({"water_leak": True}), qos=1)
        got = await alerts_topic.wait_for(lambda ms: len(ms) >= 2)
        by_rule = {json.loads(p)["alert"]["rule"]: json.loads(p) for _, p in got}
        assert by_rule["gas_leak"]["notify"] is False
        assert by_rule["gas_leak"]["alert"]["suppressed"] == f"silenced:{silence['id']}"
        assert by_rule["water_leak"]["notify"] is True   # another category: not silenced
        assert [s["id"] for s in (await api.get("/api/silences")).json()] == [silence["id"]]
        gone = await api.delete(f"/api/silences/{silence['id']}")
        assert gone.status_code == 200
        assert (await api.get("/api/silences")).json() == []

        for body, message in [
            ({"reason": "r"}, "at least one of device, place, rule or category"),
            ({"reason": "r", "place": "b9"}, "no place 'b9'"),
            ({"reason": "r", "rule": "nope"}, "no rule 'nope'"),
            ({"reason": "r", "rule": "gas_leak", "starts": "2026-01-01",
              "ends": "x"}, "no UTC offset"),
        ]:
            r = await api.post("/api/silences", json=body)
            assert r.status_code == 422, body
            assert message in r.text
    pub.disconnect()
    pub.loop_stop()


async def test_confirmed_fire_inhibits_later_smoke_alerts_on_its_floor(
    hub_config: HubConfig, broker: Broker
) -> None:
    pub = publisher(broker)
    async with running_hub(hub_config) as (_hub, api):
        for device in ("b1-101-smoke", "b1-101-smoke2"):
            pub.publish(topic(device), orjson.dumps({"smoke": True}), qos=1)

        async def confirmed() -> bool:
            return len(await active(api, "fire_confirmed")) == 1

        await eventually(confirmed, what="confirmed fire")
        fire = (await active(api, "fire_confirmed"))[0]
        pub.publish(topic("b1-102-smoke"), orjson.dumps({"smoke": True}), qos=1)

        async def second_home() -> bool:
            return any(a["subject"]["id"] == "b1/f1/102" for a in await active(api))

        await eventually(second_home, what="smoke alert of home 102")
        home = next(a for a in await active(api) if a["subject"]["id"] == "b1/f1/102")
        assert home["suppressed"] == f"inhibited:{fire['id']}"
        # Floor 2 is not inside the confirmed floor: announced as usual.
        pub.publish(topic("b1-201-smoke"), orjson.dumps({"smoke": True}), qos=1)

        async def floor_two() -> bool:
            return any(a["subject"]["id"] == "b1/f2/201" for a in await active(api))

        await eventually(floor_two, what="smoke alert on floor 2")
        other = next(a for a in await active(api) if a["subject"]["id"] == "b1/f2/201")
        assert other["suppressed"] is None
    pub.disconnect()
    pub.loop_stop()


async def test_a_flapping_alert_is_held_back(hub_config: HubConfig, broker: Broker) -> None:
    pub = publisher(broker)
    async with running_hub(hub_config) as (hub, api):
        for i in range(8):
            pub.publish(topic("b1-101-leak"), orjson.dumps({"water_leak": i % 2 == 0}), qos=1)
            await asyncio.sleep(0.05)

        async def all_in() -> bool:
            return hub.pipeline.stats.messages["telemetry"] == 8

        await eventually(all_in, what="8 leak readings")
        alerts = sorted((await api.get("/api/alerts")).json(), key=lambda a: a["raised_at"])
        assert [a["rule"] for a in alerts] == ["water_leak"] * 4
        # The sixth change in the window (the third clear) makes it flapping: that clear and
        # everything after it is held back until the leak sensor settles.
        assert [a["suppressed"] for a in alerts] == [None, None, "flapping", "flapping"]
    pub.disconnect()
    pub.loop_stop()


async def test_overrides_disable_and_reweight_shipped_rules(tmp_path: Path,
                                                            broker: Broker) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({
        "site": str(DATA / "site.yaml"),
        "mqtt": {"port": broker.port},
        "store": {"path": str(tmp_path / "data")},
        "rule_overrides": {"water_leak": {"enabled": False},
                           "gas_leak": {"severity": "critical"}},
    }), encoding="utf-8")
    config = load_config(path)
    assert "water_leak" not in {r.id for r in config.rules}
    pub = publisher(broker)
    async with running_hub(config) as (_hub, api):
        pub.publish(topic("b1-101-leak"), orjson.dumps({"water_leak": True}), qos=1)
        pub.publish(topic("b1-101-gas"), orjson.dumps({"gas_lel": 25}), qos=1)

        async def gas() -> bool:
            return len(await active(api, "gas_leak")) == 1

        await eventually(gas, what="gas alert")
        assert [a["severity"] for a in await active(api)] == ["critical"]
    pub.disconnect()
    pub.loop_stop()


async def test_a_held_condition_survives_a_restart(tmp_path: Path, broker: Broker) -> None:
    """`for: 4s` that had run 2.5 s before the restart fires ~1.5 s after it, not 4 s."""
    pack = tmp_path / "slow.yaml"
    pack.write_text(
        "pack: slow\nrules:\n  - id: slow_heat\n    category: fire\n    severity: major\n"
        "    kinds: [heat_detector]\n    message: {zh: 高温, en: hot}\n"
        "    condition: {type: threshold, metric: temperature, above: 57, for: 4s}\n",
        encoding="utf-8")
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({
        "site": str(DATA / "site.yaml"), "rules": ["slow.yaml"],
        "mqtt": {"port": broker.port}, "store": {"path": str(tmp_path / "data")},
    }), encoding="utf-8")
    config = load_config(path)
    pub = publisher(broker)
    async with running_hub(config) as (hub, _api):
        sent = time.time()
        pub.publish(topic("b1-101-heat"), orjson.dumps({"temperature": 70}), qos=1)

        async def pending() -> bool:
            return hub.pipeline.stats.messages["telemetry"] == 1

        await eventually(pending, what="reading taken")
        await asyncio.sleep(2.5 - (time.time() - sent))
    restarted = time.time()
    async with running_hub(config) as (hub, api):
        async def fired() -> bool:
            return len(await active(api, "slow_heat")) == 1

        await eventually(fired, timeout=8, what="held alert after restart")
        raised_at = (await active(api, "slow_heat"))[0]["raised_at"]
    assert raised_at - sent < 5.5, "the hold restarted from zero"
    assert raised_at - restarted < 4
    pub.disconnect()
    pub.loop_stop()
