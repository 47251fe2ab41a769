"""Fixtures that start real servers on free loopback ports: mosquitto, and hubs against it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

DATA = Path(__file__).parent / "data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


@dataclass
class Broker:
    host: str
    port: int
    config: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def start(self) -> None:
        """Start (again) on the same port."""
        self.process = _spawn_mosquitto(self.config)
        wait_for_port(self.port)


def _mosquitto_binary() -> str:
    path = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(path).exists():
        pytest.fail("mosquitto is not installed: run the README's test command, which "
                    "installs it (apt-get install -y mosquitto)")
    return path


def _spawn_mosquitto(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([_mosquitto_binary(), "-c", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def mosquitto_config(port: int, directory: Path, extra: str = "",
                     anonymous: bool = True) -> Path:
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\n"
        f"allow_anonymous {'true' if anonymous else 'false'}\n"
        "set_tcp_nodelay true\n"
        "max_queued_messages 1000000\n"
        "max_inflight_messages 1000\n"
        "persistence false\n"
        # As root, mosquitto would drop to the `mosquitto` user, who cannot read pytest's
        # private tmp dirs (password files, TLS keys).
        + ("user root\n" if os.geteuid() == 0 else "")
        + extra, encoding="utf-8")
    return config


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    port = free_port()
    directory = tmp_path / "mosquitto"
    directory.mkdir()
    b = Broker("127.0.0.1", port, mosquitto_config(port, directory))
    b.start()
    yield b
    b.stop()


class Listener:
    """A plain paho subscriber that records what arrives, for asserting on MQTT output."""

    def __init__(self, broker: Broker, topic: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._client = paho.Client(CallbackAPIVersion.VERSION2,
                                   client_id=f"listener-{free_port()}")
        self._client.on_message = self._on_message
        subscribed = threading.Event()
        self._client.on_subscribe = lambda *args: subscribed.set()
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        self._client.subscribe(topic, qos=1)
        if not subscribed.wait(5):
            raise TimeoutError(f"could not subscribe to {topic}")

    def _on_message(self, client: paho.Client, userdata: object,
                    message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload)))

    async def wait_for(self, predicate: Callable[[list[tuple[str, bytes]]], bool],
                       timeout: float = 5.0) -> list[tuple[str, bytes]]:
        """Poll without blocking the event loop: the hub under test runs on it."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if predicate(self.messages):
                    return list(self.messages)
                if time.monotonic() > deadline:
                    raise AssertionError(f"MQTT condition not met in {timeout} s; got "
                                         f"{[(t, p[:120]) for t, p in self.messages]}")
            await asyncio.sleep(0.01)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def listen(broker: Broker) -> Iterator[Callable[[str], Listener]]:
    listeners: list[Listener] = []

    def make(topic: str) -> Listener:
        listener = Listener(broker, topic)
        listeners.append(listener)
        return listener

    yield make
    for listener in listeners:
        listener.close()


def publisher(broker: Broker, client_id: str = "test-publisher") -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client
