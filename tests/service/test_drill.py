"""Drills end to end, and the simulated clock that lets a day of routine pass in seconds."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import yaml

from hub.config import HubConfig, load_config
from tests.conftest import DATA, Broker, publisher
from tests.service.conftest import eventually, running_hub

SITE = "testsite"


def publish(broker: Broker, device: str, body: dict[str, object]) -> None:
    pub = publisher(broker, f"pub-{device}")
    pub.publish(f"shouwang/{SITE}/dev/{device}/telemetry", orjson.dumps(body),
                qos=1).wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()


async def test_alerts_raised_during_a_drill_are_exercises_everywhere(
    hub_config: HubConfig, broker: Broker, listen
) -> None:  # type: ignore[no-untyped-def]
    alerts_topic = listen(f"shouwang/{SITE}/alerts/#")
    async with running_hub(hub_config) as (_hub, api):
        r = await api.post("/api/drill", json={"name": "1号楼消防演练"})
        assert r.status_code == 201
        assert r.json()["started_by"] == "admin"
        assert (await api.post("/api/drill", json={"name": "x"})).status_code == 409
        assert (await api.get("/api/drill")).json()["name"] == "1号楼消防演练"
        publish(broker, "b1-101-gas", {"gas_lel": 30})
        got = await alerts_topic.wait_for(lambda ms: len(ms) >= 1)
        drill_alert = json.loads(got[0][1])["alert"]
        assert drill_alert["exercise"] is True
        cap = (await api.get(f"/api/alerts/{drill_alert['id']}/cap")).text
        assert "<status>Exercise</status>" in cap

        assert (await api.delete("/api/drill")).json()["active"] is False
        assert (await api.delete("/api/drill")).status_code == 409
        publish(broker, "b1-101-leak", {"water_leak": True})
        got = await alerts_topic.wait_for(lambda ms: len(ms) >= 2)
        real = json.loads(got[1][1])["alert"]
        assert real["exercise"] is False
        assert "<status>Actual</status>" in (await api.get(f"/api/alerts/{real['id']}/cap")).text


async def test_a_simulated_morning_without_motion_raises_inactivity(tmp_path: Path,
                                                                   broker: Broker) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({
        "site": str(DATA / "site.yaml"), "mqtt": {"port": broker.port},
        "store": {"path": str(tmp_path / "data")}, "clock": {"kind": "simulated"},
    }), encoding="utf-8")
    config = load_config(path)
    # The next 07:00 in the community's time zone: the simulated clock only moves forward
    # from now (a fixed date here broke once that morning had passed).
    local_now = datetime.now(ZoneInfo("Asia/Shanghai"))
    seven_am = local_now.replace(hour=7, minute=0, second=0, microsecond=0)
    if seven_am <= local_now:
        seven_am += timedelta(days=1)
    seven = seven_am.timestamp()
    async with running_hub(config) as (_hub, api):
        r = await api.put("/api/clock", json={"now": seven, "speed": 1})
        assert r.json()["simulated"] is True, r.text
        # The resident of 102 moves at 07:00, then nothing: at 11:00 someone should call.
        publish(broker, "b1-102-motion", {"occupancy": True})

        async def heard() -> bool:
            devices = (await api.get("/api/devices", params={"place": "b1/f1/102"})).json()
            return any(d["online"] for d in devices["devices"])

        await eventually(heard, what="motion reading taken")
        await api.put("/api/clock", json={"speed": 3600})  # an hour a second

        async def inactive() -> bool:
            alerts = (await api.get("/api/alerts", params={"state": "active"})).json()
            return any(a["rule"] == "no_activity_daytime" for a in alerts)

        await eventually(inactive, timeout=10, what="inactivity alert in simulated time")
        alert = next(a for a in (await api.get("/api/alerts")).json()
                     if a["rule"] == "no_activity_daytime")
        assert alert["subject"]["id"] == "b1/f1/102"
        raised = datetime.fromtimestamp(alert["raised_at"], ZoneInfo("Asia/Shanghai"))
        assert (raised.date(), raised.hour) in ((seven_am.date(), 11), (seven_am.date(), 12))
        assert (await api.put("/api/clock", json={"now": seven})).status_code == 422


async def test_the_system_clock_cannot_be_set(hub_config: HubConfig) -> None:
    async with running_hub(hub_config) as (_hub, api):
        r = await api.put("/api/clock", json={"speed": 10})
        assert r.status_code == 409
        assert "system clock" in r.json()["detail"]
        await asyncio.sleep(0)
