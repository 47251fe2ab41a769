"""Load-generation parts shared by the benchmarks: a real mosquitto, a publisher that cannot be
the bottleneck, and a bare paho subscriber as the ceiling to compare against.

The publisher writes pre-encoded MQTT PUBLISH packets straight to a socket (REFERENCE.md: a
Python paho publisher is slower than one Python subscriber, so it would measure itself).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from devices import mqttpackets as packets
from devices.mqttpackets import publish_packet


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def mosquitto() -> Iterator[int]:
    """A broker tuned as the deployment docs say: no Nagle delay, deep queues."""
    port = free_port()
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                        "set_tcp_nodelay true\nmax_queued_messages 2000000\n"
                        "max_queued_bytes 0\npersistence false\n", encoding="utf-8")
        process = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
            yield port
        finally:
            process.terminate()
            process.wait(10)


# ---------------------------------------------------------------- raw MQTT 3.1.1 encoding

def connect_packet(client_id: str) -> bytes:
    return packets.connect_packet(client_id=client_id)


def encode_stream(messages: list[tuple[str, bytes]], qos: int) -> bytes:
    return b"".join(publish_packet(t, p, qos=qos, packet_id=(i % 65535) + 1)
                    for i, (t, p) in enumerate(messages))


def _publish_raw(port: int, stream: bytes, client_id: str, done: Connection) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_packet(client_id))
    sock.recv(4)  # CONNACK

    def drain() -> None:  # PUBACKs: read them or the broker stops reading from us
        with contextlib.suppress(OSError):
            while sock.recv(65536):
                pass

    threading.Thread(target=drain, daemon=True).start()
    started = time.perf_counter()
    view = memoryview(stream)
    for offset in range(0, len(stream), 1 << 20):
        sock.sendall(view[offset:offset + (1 << 20)])
    elapsed = time.perf_counter() - started
    time.sleep(1.0)  # let the broker take the tail before we go
    sock.close()
    done.send(elapsed)


def start_publisher(port: int, stream: bytes, client_id: str = "bench-pub"
                    ) -> tuple[mp.process.BaseProcess, Connection]:
    """Publish a pre-encoded stream from another process; the pipe yields the send time."""
    receiver, sender = mp.get_context("fork").Pipe(duplex=False)
    process = mp.get_context("fork").Process(target=_publish_raw,
                                             args=(port, stream, client_id, sender))
    process.start()
    return process, receiver


# ---------------------------------------------------------------- the ceiling

def _bare_subscriber(port: int, topic: str, qos: int, expected: int, ready: Connection,
                     out: Connection) -> None:
    """Count messages with bare paho and nothing else; report when 10 % .. 100 % arrived."""
    marks = [expected * k // 10 for k in range(1, 11)]
    times: list[float] = []
    count = 0
    finished = threading.Event()

    def on_message(client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        nonlocal count
        count += 1
        if count == marks[len(times)]:
            times.append(time.perf_counter())
            if len(times) == len(marks):
                finished.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bare-{qos}")
    client.on_message = on_message
    client.on_subscribe = lambda *a: ready.send("subscribed")
    client.connect("127.0.0.1", port)
    client.subscribe(topic, qos)
    client.loop_start()
    finished.wait(300)
    client.loop_stop()
    out.send((count, times))


def start_bare_subscriber(port: int, topic: str, qos: int, expected: int
                          ) -> tuple[mp.process.BaseProcess, Connection]:
    ctx = mp.get_context("fork")
    ready_r, ready_w = ctx.Pipe(duplex=False)
    out_r, out_w = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_bare_subscriber,
                          args=(port, topic, qos, expected, ready_w, out_w))
    process.start()
    if not ready_r.poll(10):
        raise RuntimeError("bare subscriber did not subscribe")
    ready_r.recv()
    return process, out_r


def rate_10_90(expected: int, times: list[float]) -> float:
    """Messages per second between the 10 % and 90 % marks: the sustained rate."""
    return (expected * 8 // 10) / (times[8] - times[0])


def _publish_paced(port: int, packets: list[bytes], rate: float, client_id: str,
                   stop: Connection) -> None:
    """Publish `packets` round and round at `rate` messages/s until told to stop."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_packet(client_id))
    sock.recv(4)
    threading.Thread(target=lambda: _drain(sock), daemon=True).start()
    tick = 0.01
    per_tick = max(1, round(rate * tick))
    i = 0
    started = time.perf_counter()
    sent = 0
    while not stop.poll():
        chunk = [packets[(i + k) % len(packets)] for k in range(per_tick)]
        i += per_tick
        sock.sendall(b"".join(chunk))
        sent += per_tick
        ahead = sent / rate - (time.perf_counter() - started)
        if ahead > 0:
            time.sleep(ahead)
    sock.close()


def _drain(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while sock.recv(65536):
            pass


def start_paced_publisher(port: int, packets: list[bytes], rate: float,
                          client_id: str = "bench-background"
                          ) -> tuple[mp.process.BaseProcess, Connection]:
    """Background load at a fixed rate; send anything on the returned pipe to stop it."""
    ctx = mp.get_context("fork")
    stop_r, stop_w = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_publish_paced, args=(port, packets, rate, client_id, stop_r))
    process.start()
    return process, stop_w


def wait_for_hub(api: httpx.Client, hub: subprocess.Popen[Any], timeout: float = 60.0
                 ) -> None:
    """Until the hub under test answers /api/health connected to its broker."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if api.get("/api/health").json()["mqtt_connected"]:
                return
        except httpx.TransportError:
            pass
        if hub.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"hub did not come up in {timeout:.0f} s "
                               f"(exit code {hub.poll()})")
        time.sleep(0.2)
