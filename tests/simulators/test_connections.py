"""`shouwang simulate` against a real mosquitto: devices say they are online, a clean stop
says every one is offline, `kill -9` leaves it to the wills, a broker restart is ridden out;
and load mode publishes what it says it did."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from devices.site import load_site
from simulators.gateway import IP_KINDS, FleetLink, has_own_session
from simulators.load import LoadPlan, run_load
from tests.conftest import Broker, Listener

ROOT = Path(__file__).parents[2]
SITE_FILE = ROOT / "scenarios" / "sites" / "heyuan.yaml"
SITE = load_site(SITE_FILE.read_text(encoding="utf-8"), str(SITE_FILE))
IP_DEVICES = {d.id for d in SITE.devices.values() if d.kind.name in IP_KINDS}
GATEWAYS = {"b1", "b2", "g1"}


def simulate(broker: Broker, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "simulators.cli", "--log-level", "INFO", "simulate",
         "--site", str(SITE_FILE), "--broker", broker.url, "--interval-scale", "0.01",
         *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def availability(messages: list[tuple[str, bytes]]) -> dict[str, bytes]:
    """The last availability each device and gateway said."""
    last: dict[str, bytes] = {}
    for topic, payload in messages:
        parts = topic.split("/")
        if parts[2] == "dev" and parts[4] == "availability":
            last[parts[3]] = payload
        elif parts[2] == "gateway":
            last[f"gateway:{parts[3]}"] = payload
    return last


def wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout} s")
        time.sleep(0.05)


def every_online(listener: Listener) -> bool:
    said = availability(listener.messages)
    return all(said.get(d) == b"online" for d in SITE.devices)


def test_ip_devices_hold_their_own_will_and_the_rest_go_through_gateways() -> None:
    sessions = {d.id for d in SITE.devices.values() if has_own_session(d, "ip")}
    assert sessions == IP_DEVICES
    assert len(sessions) == 26
    assert not any(has_own_session(d, "none") for d in SITE.devices.values())
    assert all(has_own_session(d, "all") for d in SITE.devices.values())


def test_kill_9_leaves_ip_devices_and_gateways_offline(broker: Broker) -> None:
    process = simulate(broker)
    try:
        listener = Listener(broker, "shouwang/heyuan/#")
        wait(lambda: every_online(listener), 15, "every device online")
        wait(lambda: any(t.endswith("/telemetry") for t, _ in listener.messages), 5,
             "telemetry")
        heard = len(listener.messages)
    finally:
        process.kill()
        process.communicate(timeout=10)
    wait(lambda: sum(1 for p in availability(listener.messages[heard:]).values()
                     if p == b"offline") >= len(IP_DEVICES) + len(GATEWAYS), 5, "the wills")
    said = availability(listener.messages[heard:])
    assert {d for d, p in said.items() if p == b"offline"} == IP_DEVICES | {
        f"gateway:{g}" for g in GATEWAYS}
    listener.close()


def test_a_clean_stop_says_every_device_is_offline(broker: Broker) -> None:
    process = simulate(broker)
    listener = Listener(broker, "shouwang/heyuan/#")
    try:
        wait(lambda: every_online(listener), 15, "every device online")
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    said = availability(listener.messages)
    assert all(said[d] == b"offline" for d in SITE.devices), err
    assert all(said[f"gateway:{g}"] == b"offline" for g in GATEWAYS)
    assert "every device now says offline" in err
    listener.close()


def test_after_a_broker_restart_devices_announce_again_and_wills_still_hold(
        broker: Broker) -> None:
    link = FleetLink(SITE, broker.host, broker.port, client_prefix="restart-test")
    link.open()
    try:
        link.announce()
        broker.stop()
        broker.start()
        listener = Listener(broker, "shouwang/heyuan/#")
        # The broker forgot the retained states; the gateways say them again.
        wait(lambda: every_online(listener), 20, "devices announced again")
        wait(lambda: link._sessions.reconnects >= len(IP_DEVICES), 20,
             "will sessions reconnected")
        heard = len(listener.messages)
        link._sessions.close(clean=False)  # the process dies: its sockets close unclean
        wait(lambda: len(availability(listener.messages[heard:])) >= len(IP_DEVICES), 5,
             "the wills after the restart")
        assert set(availability(listener.messages[heard:])) == IP_DEVICES
    finally:
        link.close(offline=False)
    listener.close()


def test_load_mode_publishes_at_the_rate_it_reports(broker: Broker) -> None:
    listener = Listener(broker, "shouwang/heyuan/dev/+/telemetry")
    progress = []
    result = run_load(SITE, broker.host, broker.port,
                      LoadPlan(rate=2000, duration_s=1.0, processes=2),
                      progress=progress.append)
    assert result.devices == len(SITE.devices)
    assert result.sent == pytest.approx(2000, rel=0.15)
    assert result.acked == result.sent
    wait(lambda: len(listener.messages) >= result.sent, 5, "every message delivered")
    assert len({t for t, _ in listener.messages}) == len(SITE.devices)
    assert progress
    assert progress[-1].sent <= result.sent
    listener.close()


def test_load_mode_from_the_command_line(broker: Broker) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "simulators.cli", "simulate", "--site", str(SITE_FILE),
         "--broker", broker.url, "--rate", "500", "--count", "300", "--devices", "50",
         "--qos", "0"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("load: 50 devices, 1 process(es), QoS 0: 300 messages in ")
    too_many = subprocess.run(
        [sys.executable, "-m", "simulators.cli", "simulate", "--site", str(SITE_FILE),
         "--broker", broker.url, "--rate", "500", "--devices", "99999"], cwd=ROOT,
        capture_output=True, text=True, timeout=60, check=False)
    assert too_many.returncode == 2
    assert "the site has 166 devices, fewer than the 99999 asked for" in too_many.stderr
