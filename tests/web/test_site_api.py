"""What the pages read: the community's structure and status, one place, residents with their
day and check-ins, and alerts with escalation, receipts and care outcomes."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.service.conftest import eventually
from tests.web.conftest import LiveHub


async def stored(live: LiveHub, device: str, metric: str) -> None:
    async def there() -> bool:
        body = (await live.api.get(f"/api/devices/{device}/readings",
                                   params={"metric": metric})).json()
        return bool(body["series"][0]["points"])

    await eventually(there, what=f"{device} {metric} stored")


async def test_structure_status_and_a_floor(live_hub: LiveHub) -> None:
    api = live_hub.api
    site = (await api.get("/api/site")).json()
    assert (site["id"], site["name"], site["devices"]) == ("website", "测试社区", 23)
    [grid] = site["grids"]
    assert [b["name"] for b in grid["buildings"]] == ["1号楼", "2号楼"]
    b1 = grid["buildings"][0]
    assert [f["number"] for f in b1["floors"]] == [1, 2]
    home = b1["floors"][0]["units"][0]
    assert home == {"id": "b1/f1/101", "unit": "101", "devices": 7,
                    "resident": {"id": "res-1", "name": "王秀英"}}

    live_hub.publish("b1-101-gas", {"gas_lel": 35})
    live_hub.publish("b1-102-leak", {"water_leak": True, "battery": 9})
    live_hub.publish("b1-f1-cam", {"recording": False, "fps": 0})
    live_hub.publish("b1-nvr", {"disk_ok": True, "recording_channels": 2})
    live_hub.event("b1-101-sos", "sos")

    async def three() -> bool:
        return len(await live_hub.active()) == 3

    await eventually(three, what="gas, leak and SOS alerts")
    await stored(live_hub, "b1-102-leak", "battery")
    status = (await api.get("/api/site/status")).json()
    assert status["worst"]["b1/f1/101"] == "critical"   # the SOS outranks the gas
    assert status["worst"]["b1/f1/102"] == "major"
    for rolled_up in ("b1/f1", "b1", "g1"):
        assert status["worst"][rolled_up] == "critical"
    assert "b2" not in status["worst"]
    assert status["active"]["b1"] == 3
    health = {h["id"]: h for h in status["health"]}
    assert health["b1"]["devices"] == 16
    assert health["b1"]["low_battery"] == 1
    assert health["b1"]["online"] >= 4
    assert health["g1"]["level"] == "grid"
    cameras = {c["id"]: c for c in status["cameras"]}
    assert cameras["b1-f1-cam"]["recording"] is False
    assert cameras["b1-f1-cam"]["online"] is True
    assert cameras["b1-nvr"]["disk_ok"] is True
    assert cameras["b2-f1-cam"]["online"] is False
    assert cameras["b2-f1-cam"]["last_seen"] is None

    floor = (await api.get("/api/site/places/b1/f1")).json()
    assert floor["name"] == {"zh": "1号楼 1层", "en": "1号楼, floor 1"}
    assert {d["id"] for d in floor["devices"]} >= {"b1-f1-cam", "b1-101-gas", "b1-102-leak"}
    leak = next(d for d in floor["devices"] if d["id"] == "b1-102-leak")
    assert (leak["battery"], leak["alert"], leak["kind_label"]) == (9.0, "major", "水浸传感器")
    assert [a["severity"] for a in floor["alerts"]] == ["critical", "major", "major"]
    assert floor["residents"] == [{"id": "res-1", "name": "王秀英"}]
    missing = await api.get("/api/site/places/b9/f1")
    assert missing.status_code == 404
    assert "no place 'b9/f1'" in missing.json()["detail"]


async def test_alerts_carry_escalation_receipts_and_care_outcomes(live_hub: LiveHub) -> None:
    api = live_hub.api
    live_hub.publish("b1-201-gas", {"gas_lel": 35})
    live_hub.event("b2-101-wear", "fall")

    async def two() -> bool:
        return len(await live_hub.active()) == 2

    await eventually(two, what="gas and fall alerts")
    by_rule = {a["rule"]: a for a in await live_hub.active()}
    fall, gas = by_rule["fall_detected"], by_rule["gas_leak"]
    assert fall["next_escalation_at"] == fall["notified_at"] + 120
    assert gas["next_escalation_at"] == gas["notified_at"] + 300
    assert {t["recipient"] for t in gas["told"]} == {"duty-1"}  # no floor leader on f2
    assert {t["name"] for t in fall["told"]} == {"陈敏"}        # the care operator
    assert fall["resident"]["name"] == "李建国"
    only_care = (await api.get("/api/alerts", params={"category": "elderly_care"})).json()
    assert [a["id"] for a in only_care] == [fall["id"]]
    in_b1 = (await api.get("/api/alerts", params={"place": "b1"})).json()
    assert [a["id"] for a in in_b1] == [gas["id"]]

    no_outcome_here = await api.post(f"/api/alerts/{gas['id']}/ack",
                                     json={"outcome": "visited"})
    assert no_outcome_here.status_code == 422
    assert "put what was done in the note" in no_outcome_here.json()["detail"]
    bad = await api.post(f"/api/alerts/{fall['id']}/ack", json={"outcome": "prayed"})
    assert bad.status_code == 422
    r = await api.post(f"/api/alerts/{fall['id']}/ack",
                       json={"outcome": "hospital", "note": "120 已接走"})
    assert r.status_code == 200
    timeline = (await api.get(f"/api/alerts/{fall['id']}")).json()["timeline"]
    assert timeline[-1] | {"ts": 0} == {"ts": 0, "transition": "acknowledged", "device": None,
                                        "metric": None, "value": None, "user": "admin",
                                        "note": "120 已接走", "outcome": "hospital"}
    history = (await api.get("/api/residents/res-2")).json()
    assert [a["id"] for a in history["alerts"]] == [fall["id"]]
    assert history["check_ins"][0]["outcome"] == "hospital"
    assert history["check_ins"][0]["alert_id"] == fall["id"]


async def test_residents_their_day_and_check_ins(live_hub: LiveHub) -> None:
    api = live_hub.api
    live_hub.publish("b1-101-motion", {"occupancy": True})
    live_hub.publish("b1-101-door", {"contact": False})
    live_hub.publish("b1-101-bed", {"in_bed": True})
    await stored(live_hub, "b1-101-bed", "in_bed")
    await stored(live_hub, "b1-101-door", "contact")
    await stored(live_hub, "b1-101-motion", "occupancy")
    live_hub.event("b1-101-sos", "sos")

    async def sos() -> bool:
        return len(await live_hub.active()) == 1

    await eventually(sos, what="SOS alert")
    residents = (await api.get("/api/residents")).json()
    assert [r["id"] for r in residents] == ["res-1", "res-2"]  # her alert puts her first
    her = residents[0]
    assert her["care_level"] == "intensive"
    assert her["contacts"] == ["+8613900000001"]
    assert [a["rule"] for a in her["alerts"]] == ["sos_pressed"]
    assert {d["kind"] for d in her["devices"]} >= {"sos_button", "fall_detector", "bed_sensor"}
    activity = her["activity"]
    assert time.time() - activity["last_activity"] < 30
    hour = datetime.now(ZoneInfo("Asia/Shanghai")).hour
    assert activity["hours"][hour] == 2  # motion and the door; lying in bed is not activity
    assert sum(activity["hours"]) == 2
    assert her["last_check_in"] is None
    assert her["next_check_in_due"] <= time.time() + 1  # never checked in: due now

    r = await api.post("/api/residents/res-1/checkins",
                       json={"outcome": "called", "note": "每日问候，精神不错"})
    assert r.status_code == 201
    assert r.json()["user"] == "admin"
    her = next(r for r in (await api.get("/api/residents")).json() if r["id"] == "res-1")
    assert her["last_check_in"]["note"] == "每日问候，精神不错"
    assert her["next_check_in_due"] == her["last_check_in"]["ts"] + 4 * 3600  # intensive
    # No answer is recorded, but it is not a contact: the check-in stays due.
    await api.post("/api/residents/res-2/checkins", json={"outcome": "no_answer"})
    him = next(r for r in (await api.get("/api/residents")).json() if r["id"] == "res-2")
    assert him["last_check_in"]["outcome"] == "no_answer"
    assert him["next_check_in_due"] <= time.time() + 1

    assert (await api.post("/api/residents/nobody/checkins",
                           json={"outcome": "called"})).status_code == 404
    assert (await api.post("/api/residents/res-1/checkins",
                           json={"outcome": "waved"})).status_code == 422
    async with api.as_user("screen", "viewer") as viewer:
        masked = (await viewer.get("/api/residents/res-1")).json()["resident"]
        assert masked["contacts"] == ["+86139****0001"]
