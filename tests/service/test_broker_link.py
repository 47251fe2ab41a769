"""The hub's link to its broker: credentials, TLS, and riding out a broker restart."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import yaml

from hub.config import HubConfig, HubSecrets, load_config
from hub.mqtt import MqttError, MqttLink, MqttOptions
from hub.service import Hub
from hub.store.process import ProcessStore
from tests.conftest import DATA, Broker, free_port, mosquitto_config, publisher, wait_for_port
from tests.service.conftest import eventually, running_hub

PASSWORD = "s3cret-Passw0rd"


def _hub_config(tmp_path: Path, port: int, mqtt_extra: dict[str, object],
                password: str | None) -> HubConfig:
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({
        "site": str(DATA / "site.yaml"),
        "mqtt": {"host": "127.0.0.1", "port": port, **mqtt_extra},
        "store": {"path": str(tmp_path / "data")},
    }), encoding="utf-8")
    secrets = HubSecrets(mqtt_password=password)  # type: ignore[arg-type]
    return load_config(path, secrets)


@dataclass
class SecuredBroker(Broker):
    tls_port: int = 0
    ca_file: Path = Path()


@pytest.fixture
def secured_broker(tmp_path: Path) -> Iterator[SecuredBroker]:
    """mosquitto requiring a password, on plain TCP and on TLS with our own CA."""
    directory = tmp_path / "secured"
    directory.mkdir()
    passwords = directory / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "hub", PASSWORD],
                   check=True, capture_output=True)
    passwords.chmod(0o600)
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    openssl = ["openssl"]
    subprocess.run([*openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=shouwang-test-ca", "-keyout", str(ca_key), "-out", str(ca_crt)],
                   check=True, capture_output=True)
    subprocess.run([*openssl, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(csr)], check=True, capture_output=True)
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n", encoding="utf-8")
    subprocess.run([*openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca_crt),
                    "-CAkey", str(ca_key), "-CAcreateserial", "-days", "2",
                    "-extfile", str(ext), "-out", str(crt)], check=True, capture_output=True)
    plain, tls = free_port(), free_port()
    config = mosquitto_config(plain, directory, anonymous=False, extra=(
        f"password_file {passwords}\n"
        f"listener {tls} 127.0.0.1\ncafile {ca_crt}\ncertfile {crt}\nkeyfile {key}\n"))
    broker = SecuredBroker("127.0.0.1", plain, config, tls_port=tls, ca_file=ca_crt)
    broker.start()
    wait_for_port(tls)
    yield broker
    broker.stop()


async def test_password_from_environment_connects_and_never_leaks(
    tmp_path: Path, secured_broker: SecuredBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = _hub_config(tmp_path, secured_broker.port, {"username": "hub"}, PASSWORD)
    async with running_hub(config) as (hub, api):
        assert hub.link.connected
        health = (await api.get("/api/health")).text
        docs = (await api.get("/openapi.json")).text
        assert PASSWORD not in health
        assert PASSWORD not in docs
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(config)


async def test_wrong_password_is_a_clear_error(
    tmp_path: Path, secured_broker: SecuredBroker
) -> None:
    config = _hub_config(tmp_path, secured_broker.port, {"username": "hub"}, "wrong")
    hub = Hub(config)
    with pytest.raises(MqttError, match="refused the connection"):
        await hub.start()
    # What the failed start had opened is closed again: no thread, no process left behind.
    assert hub.writer._thread is not None
    assert not hub.writer._thread.is_alive()
    store = hub.store.inner
    assert isinstance(store, ProcessStore)
    assert not store._process.is_alive()
    await hub.stop()


async def test_tls_with_our_ca(tmp_path: Path, secured_broker: SecuredBroker) -> None:
    config = _hub_config(tmp_path, secured_broker.tls_port,
                         {"host": "localhost", "username": "hub",
                          "tls": {"ca_file": str(secured_broker.ca_file)}}, PASSWORD)
    async with running_hub(config) as (hub, _api):
        assert hub.link.connected


async def test_hub_rides_out_a_broker_restart(hub_config: HubConfig, broker: Broker) -> None:
    async with running_hub(hub_config) as (hub, api):
        broker.stop()

        async def disconnected() -> bool:
            return not hub.link.connected

        await eventually(disconnected, what="hub notices the broker is gone")
        health = (await api.get("/api/health")).json()
        assert health["status"] == "degraded"
        assert health["mqtt_connected"] is False
        broker.start()

        async def reconnected() -> bool:
            return hub.link.connected

        await eventually(reconnected, timeout=15, what="hub reconnects")
        pub = publisher(broker, "after-restart")
        pub.publish("shouwang/testsite/dev/b1-101-smoke/telemetry",
                    orjson.dumps({"ts": time.time(), "smoke": True}), qos=1)

        async def alerted() -> bool:
            return len(hub.alerts.active) == 1

        await eventually(alerted, what="alert after the broker came back")
        pub.disconnect()
        pub.loop_stop()


async def test_a_busy_inbox_still_lets_the_loop_turn() -> None:
    """Under sustained load the inbox is never empty; each batch must still let other tasks
    (the dispatcher, timers, the API) run, or they wait until ingest catches up."""
    link = MqttLink(MqttOptions())
    link._inbox.extend(("t", b"{}", 0.0) for _ in range(10))  # as the paho thread would
    turns = 0

    async def other_task() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other_task())
    try:
        seen = []
        for _ in range(5):
            seen.append(turns)
            await link.next_batch(max_messages=2)
        assert seen == sorted(set(seen)), f"the other task ran between batches: {seen}"
    finally:
        task.cancel()
