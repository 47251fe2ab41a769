"""Three-level command end to end: simulator -> community hubs -> mosquitto bridges -> the
command centre, and back down (acks, CAP warnings), on real brokers on loopback."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import orjson

from hub.auth.roles import Role
from hub.centre.service import Centre
from hub.service import Hub
from tests.conftest import publisher
from tests.federation.capdocs import NORTH, cap_xml, circle_around
from tests.federation.conftest import Community, Federation, eventually

BOUND_S = 5.0
"""An alert raised in a community is on the centre's board within this."""


def hub_events(hub: Hub) -> dict[str, Counter[tuple[str, float]]]:
    return {a.id: Counter((e.transition, e.ts) for e in hub.db.alert_events(a.id))
            for a in hub.db.alerts(limit=10_000)}


def centre_events(centre: Centre, site: str, alert_ids: object
                  ) -> dict[str, Counter[tuple[str, float]]]:
    return {a: Counter((t["transition"], t["ts"]) for t in centre.board.transitions(site, a))
            for a in alert_ids}  # type: ignore[attr-defined]


def same_history(federation: Federation) -> bool:
    """Every transition of every alert of both hubs, once each, at the centre."""
    for site, community in federation.communities.items():
        ours = hub_events(community.hub)
        if centre_events(federation.centre, site, ours) != ours:
            return False
    return True


async def test_alerts_reach_the_centre_and_acks_come_back(federation: Federation) -> None:
    centre, north, south = federation.centre, *federation.communities.values()
    feed: list[str] = []
    centre.listen(lambda change: feed.append(f"{change.site}:{change.transition}"))

    sent = north.inject("b1-101-smoke", {"smoke": True}, 30)
    south.inject("b1-201-smoke", {"smoke": True}, 30)
    took = await eventually(lambda: {s for s, _ in centre.board.active} == {"north", "south"},
                            timeout=BOUND_S, what="alerts of both communities at the centre")
    assert took < BOUND_S
    assert {"north:raised", "south:raised"} <= set(feed)
    (north_alert,) = [a for (s, _), a in centre.board.active.items() if s == "north"]
    assert north_alert["device"] == "b1-101-smoke"
    assert north_alert["raised_at"] >= sent - 1

    # The page: every community with its active alerts by severity; drill-down; action.
    communities = (await federation.api.get("/api/communities")).json()
    assert [(c["id"], c["active"]["major"], c["hub_online"], c["link_up"])
            for c in communities] == [("north", 1, True, True), ("south", 1, True, True)]
    board = (await federation.api.get("/api/communities/north/alerts")).json()
    assert [a["id"] for a in board] == [north_alert["id"]]
    async with federation.api.as_user("wang", Role.DUTY_OFFICER) as wang:
        r = await wang.post(f"/api/communities/north/alerts/{north_alert['id']}/ack",
                            json={"note": "派人核实"})
        assert r.status_code == 202, r.text
        south_alert = next(a for site, a in centre.board.active if site == "south")
        escalated = await wang.post(f"/api/communities/south/alerts/{south_alert}/escalate",
                                    json={"note": "请区应急局支援"})
    assert escalated.json()["centre_escalated_by"] == "centre:xuhui/wang"

    def acked_at_the_hub() -> bool:
        record = north.hub.db.alert(north_alert["id"])
        return record is not None and record.acknowledged_by == "centre:xuhui/wang"

    await eventually(acked_at_the_hub, timeout=BOUND_S, what="the centre's ack at the hub")
    timeline = north.hub.db.alert_events(north_alert["id"])
    assert [(e.transition, e.user, e.note) for e in timeline][-1] == (
        "acknowledged", "centre:xuhui/wang", "派人核实")
    await eventually(lambda: centre.board.active[("north", north_alert["id"])]["state"] ==
                     "active_ack", timeout=BOUND_S, what="active_ack back at the centre")
    again = await federation.api.post(
        f"/api/communities/north/alerts/{north_alert['id']}/ack", json={})
    assert again.status_code == 409
    detail = (await federation.api.get(
        f"/api/communities/north/alerts/{north_alert['id']}")).json()
    assert [t["transition"] for t in detail["transitions"]][:1] == ["raised"]

    # Roll-ups: the hub sends what it has when it stops (and once a minute otherwise).
    await north.hub.stop()
    await eventually(lambda: centre.communities["north"].rollup_messages > 0, timeout=BOUND_S,
                     what="north's roll-up at the centre")
    assert centre.communities["north"].rollup_series > 0
    await eventually(lambda: centre.communities["north"].hub_online is False, timeout=BOUND_S,
                     what="north's hub shown offline")


async def test_warnings_from_above_reach_every_covered_community(
        federation: Federation) -> None:
    centre, north, south = federation.centre, *federation.communities.values()
    commands = {s: c.listen(f"shouwang/{s}/command/#") for s, c in
                federation.communities.items()}

    def spoken(site: str) -> list[dict[str, object]]:
        return [orjson.loads(p) for t, p in commands[site].messages if "/speakers/" in t]

    def told_duty(site: str) -> list[dict[str, object]]:
        return [orjson.loads(p) for t, p in commands[site].messages if t.endswith("/duty")]

    # 1. To every community (shouwang/cap/all), an area covering both: signed by the centre.
    everyone = await federation.api.post("/api/warnings", json={
        "event": "暴雨红色预警", "severity": "Extreme",
        "headline": "暴雨红色预警：3小时内降雨量将达100毫米以上",
        "description": "强降雨", "instruction": "请立即转移低洼地带人员",
        "area": {"description": "徐汇区", "circles": [circle_around(NORTH, 20)]}})
    assert everyone.status_code == 201, everyone.text
    await eventually(lambda: spoken("north") and spoken("south") and told_duty("north")
                     and told_duty("south"), timeout=BOUND_S,
                     what="the warning on both communities' command topics")
    for site in ("north", "south"):
        (speaker,) = spoken(site)
        assert speaker["priority"] == "emergency"
        assert str(speaker["text"]).startswith("暴雨红色预警：3小时内")
        (duty,) = told_duty(site)
        assert duty["transition"] == "raised"
        assert duty["recipient"]["id"] == "duty"  # type: ignore[index]
    for community in (north, south):
        board = community.hub.warnings
        assert board is not None
        (warning,) = board.in_force()
        assert warning.sender == "shouwang-centre@xuhui"
    # The centre sees what is in force in each community (retained, bridged up).
    await eventually(lambda: all(c.warnings for c in centre.communities.values()),
                     timeout=BOUND_S, what="warnings in force seen at the centre")

    # 2. An area around north only: south judges it and stays silent.
    assert south.hub.federation is not None
    await federation.api.post("/api/warnings", json={
        "event": "高温橙色预警", "headline": "高温", "description": "37度以上",
        "area": {"description": "北片", "circles": [circle_around(NORTH, 2)]}})
    await eventually(lambda: len(spoken("north")) == 2, timeout=BOUND_S,
                     what="the north-only warning at north")
    await eventually(lambda: south.hub.federation.ingest.rejected["not_covering"] == 1,
                     timeout=BOUND_S, what="south rejecting a warning not covering it")
    assert len(spoken("south")) == 1

    # 3. Addressed to named communities: only south's topic, only south.
    await federation.api.post("/api/warnings", json={
        "sites": ["south"], "event": "大风蓝色预警", "headline": "大风",
        "description": "阵风8级", "severity": "Moderate"})
    await eventually(lambda: len(spoken("south")) == 2, timeout=BOUND_S, what="south-only")
    await asyncio.sleep(0.3)
    assert len(spoken("north")) == 2

    # 4. Unsigned, or signed by someone else: rejected with a reason by both.
    intruder = publisher(federation.centre_broker, "intruder")
    intruder.publish("shouwang/cap/all", cap_xml(identifier="fake-1"), qos=1).wait_for_publish(5)
    intruder.disconnect()
    for community in (north, south):
        link = community.hub.federation
        assert link is not None
        await eventually(lambda link=link: link.ingest.rejected["unsigned"] == 1,
                         timeout=BOUND_S, what="an unsigned warning rejected")
        assert link.ingest.recent[-1].identifier == "fake-1"

    # 5. The centre cancels the first: it ends everywhere, and residents hear so.
    first = everyone.json()
    assert first["by"] == "centre:xuhui/admin"
    async with federation.api.as_user("li", Role.DUTY_OFFICER) as li:
        r = await li.post(f"/api/warnings/{first['id']}/cancel")
    assert r.status_code == 200, r.text

    def ended(community: Community) -> bool:
        board = community.hub.warnings
        return board is not None and all(w.text("zh").event != "暴雨红色预警"
                                         for w in board.in_force())

    await eventually(lambda: ended(north) and ended(south), timeout=BOUND_S,
                     what="the cancel at both communities")
    await eventually(lambda: spoken("north")[-1]["text"] == "暴雨红色预警已解除。",
                     timeout=BOUND_S, what="the all-clear on north's speakers")
    issued = (await federation.api.get("/api/warnings")).json()
    assert [w["cancelled_by"] for w in issued][-1] == "centre:xuhui/li"


async def test_a_30_s_cut_loses_and_duplicates_nothing(federation: Federation) -> None:
    centre, north, south = federation.centre, *federation.communities.values()
    north.inject("b1-101-smoke", {"smoke": True}, 2)
    south.inject("b1-101-gas", {"gas_lel": 30}, 2)
    await eventually(lambda: len(centre.board.active) >= 2, timeout=BOUND_S,
                     what="alerts before the cut")

    federation.centre_broker.stop()  # the link is cut: both bridges down, the centre too
    cut_at = time.monotonic()
    # While it is cut: new alerts, clears, and people acting at the community.
    north.inject("b1-102-smoke", {"smoke": True}, 3)
    south.inject("b1-201-smoke", {"smoke": True}, 3)
    south.inject("b1-101-leak", {"water_leak": True}, 3)
    await asyncio.sleep(1.0)
    for community in (north, south):
        for alert in list(community.hub.alerts.active.values()):
            community.hub.alerts.acknowledge(alert.id, "duty", "during the cut", time.time())
    await asyncio.sleep(max(0.0, 30.0 - (time.monotonic() - cut_at)))
    federation.stop_fleet.set()  # quiet, so both sides can be compared
    alerts = sum(len(hub_events(c.hub)) for c in (north, south))
    federation.centre_broker.start()

    await eventually(lambda: same_history(federation), timeout=30,
                     what="the centre's history equal to both hubs' after the cut")
    assert alerts >= 5
    for site, community in federation.communities.items():
        for alert in community.hub.db.alerts(limit=10_000):
            mirrored = centre.board.alert(site, alert.id)
            assert mirrored is not None
            assert (mirrored["state"], mirrored["updated_at"]) == (alert.state,
                                                                  alert.updated_at)
    # No transition twice: the board's key is (site, alert, transition, time of the change).
    # (The time received is no part of it: messages read together share one.)
    rows = [(s, a, t["transition"], t["ts"]) for s in ("north", "south")
            for a in hub_events(federation.communities[s].hub)
            for t in centre.board.transitions(s, a)]
    assert len(rows) == len(set(rows))
