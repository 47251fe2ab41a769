"""Live-feed benchmark: 50 pages on `/api/alerts/live` while alerts stream at 100/s — the time
from the MQTT publish of a reading to its alert transition arriving at every page.

    .venv/bin/python benchmarks/live.py [--clients 50] [--rate 100] [--seconds 30]

The hub runs as `shouwang run` in its own process, exactly as deployed (SQLite store, every
shipped rule pack). A paced publisher in another process sends water-leak readings to a
generated community's homes in turn: each reading raises an alert in its home (or, on the
next round, clears it), so every message is one transition. The WebSocket clients log in with
a viewer token, as a wall screen does, and run in this process. Times are wall-clock on one
machine; the first seconds are left out as warm-up. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import numpy as np
import orjson
import paho.mqtt.client as paho
import psutil
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.mqttload import free_port, mosquitto
from simulators.sitegen import SiteShape, generate_site

PASSWORD = "bench-password-1"
WARM_UP_S = 3.0
TARGET_P99_MS = 300.0


def leak_sensors(site: dict[str, object]) -> list[str]:
    return [d["id"] for g in site["grids"] for b in g["buildings"]  # type: ignore[attr-defined]
            for f in b["floors"] for u in f["units"] for d in u["devices"]
            if d["kind"] == "water_leak"]


def publish_paced(port: int, site_id: str, devices: list[str], rate: float, seconds: float,
                  out: Connection) -> None:
    """Round after round over the homes: wet (raise), then on the next round dry (clear).
    Sends back (publish time, device, expected transition) for every message."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-live-pub")
    client.connect("127.0.0.1", port)
    client.loop_start()
    sent: list[tuple[float, str, str]] = []
    started = time.perf_counter()
    count = int(rate * seconds)
    for i in range(count):
        ahead = started + i / rate - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
        device = devices[i % len(devices)]
        wet = (i // len(devices)) % 2 == 0
        t = time.time()
        client.publish(f"shouwang/{site_id}/dev/{device}/telemetry",
                       orjson.dumps({"water_leak": wet}), qos=1)
        sent.append((t, device, "raised" if wet else "cleared"))
    time.sleep(1)
    client.disconnect()
    client.loop_stop()
    out.send(sent)


async def listen(url: str, received: list[tuple[float, str, str]], ready: asyncio.Event,
                 stop: asyncio.Event) -> None:
    async with connect(url, max_queue=None) as ws:
        snapshot = orjson.loads(await ws.recv())
        assert snapshot["type"] == "snapshot", snapshot
        ready.set()
        await _receive(ws, received, stop)


async def _receive(ws: ClientConnection, received: list[tuple[float, str, str]],
                   stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            raw = await asyncio.wait_for(ws.recv(), 0.5)
        except TimeoutError:
            continue
        at = time.time()
        message = orjson.loads(raw)
        if message["type"] == "transition":
            received.append((at, message["alert"]["device"], message["transition"]))
        elif message["type"] == "snapshot":
            received.append((at, "", "snapshot"))  # fell behind: the hub resynced it


def latencies(sent: list[tuple[float, str, str]], received: list[tuple[float, str, str]],
              start_after: float) -> tuple[list[float], int]:
    """Match the k-th publish of (device, transition) to its k-th receipt."""
    queue: dict[tuple[str, str], list[float]] = defaultdict(list)
    for t, device, transition in sent:
        queue[(device, transition)].append(t)
    seen: dict[tuple[str, str], int] = defaultdict(int)
    out = []
    for t, device, transition in received:
        key = (device, transition)
        k = seen[key]
        seen[key] += 1
        if k < len(queue[key]) and queue[key][k] >= start_after:
            out.append(t - queue[key][k])
    expected = sum(1 for t, _, _ in sent if t >= start_after)
    return out, expected


def _wait_for(pipe: Connection) -> list[tuple[float, str, str]]:
    pipe.poll(None)
    sent: list[tuple[float, str, str]] = pipe.recv()
    return sent


def start_hub(tmp: Path, mqtt_port: int, http_port: int, site: dict[str, object]
              ) -> subprocess.Popen[bytes]:
    (tmp / "site.yaml").write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    (tmp / "hub.yaml").write_text(yaml.safe_dump({
        "site": "site.yaml", "mqtt": {"port": mqtt_port, "client_id": "bench-live-hub"},
        "store": {"path": "data"}, "http": {"port": http_port}, "log_level": "WARNING",
    }), encoding="utf-8")
    env = {**os.environ, "SHOUWANG_ADMIN_PASSWORD": PASSWORD}
    return subprocess.Popen([sys.executable, "-m", "hub.cli", "--log-level", "ERROR", "run",
                             "--config", str(tmp / "hub.yaml")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def viewer_token(base: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/api/health", timeout=1).json()["mqtt_connected"]:
                break
        except (httpx.TransportError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the hub did not start")
        time.sleep(0.1)
    login = httpx.post(f"{base}/api/login", json={"username": "admin", "password": PASSWORD})
    login.raise_for_status()
    r = httpx.post(f"{base}/api/tokens", json={"name": "bench-wall", "role": "viewer"},
                   cookies={"shouwang_session": login.cookies["shouwang_session"]},
                   headers={"X-Requested-By": "bench"})
    r.raise_for_status()
    token: str = r.json()["token"]
    return token


async def run(args: argparse.Namespace) -> None:
    site = generate_site(SiteShape(site_id="bench", name="压测社区", grids=1,
                                   buildings_per_grid=4, floors=18, units_per_floor=8))
    devices = leak_sensors(site)
    with mosquitto() as mqtt_port, tempfile.TemporaryDirectory() as tmp:
        http_port = free_port()
        hub = start_hub(Path(tmp), mqtt_port, http_port, site)
        try:
            base = f"http://127.0.0.1:{http_port}"
            token = viewer_token(base)
            url = f"ws://127.0.0.1:{http_port}/api/alerts/live?token={token}"
            stop = asyncio.Event()
            inboxes: list[list[tuple[float, str, str]]] = [[] for _ in range(args.clients)]
            readies = [asyncio.Event() for _ in range(args.clients)]
            tasks = [asyncio.create_task(listen(url, inbox, ready, stop))
                     for inbox, ready in zip(inboxes, readies, strict=True)]
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
            print(f"{args.clients} WebSocket clients connected; publishing {args.rate:g} "
                  f"readings/s for {args.seconds:g} s over {len(devices)} homes")
            hub_process = psutil.Process(hub.pid)
            hub_process.cpu_percent()
            ctx = mp.get_context("fork")
            results_r, results_w = ctx.Pipe(duplex=False)
            publisher = ctx.Process(target=publish_paced, args=(
                mqtt_port, "bench", devices, args.rate, args.seconds, results_w))
            started = time.time()
            publisher.start()
            sent = await asyncio.to_thread(_wait_for, results_r)
            publisher.join()
            hub_cpu = hub_process.cpu_percent()
            await asyncio.sleep(2)  # the last transitions in flight
            stop.set()
            await asyncio.gather(*tasks)
        finally:
            hub.terminate()
            hub.wait(30)
    all_ms: list[float] = []
    expected = 0
    resyncs = 0
    for inbox in inboxes:
        got, expected = latencies(sent, inbox, started + WARM_UP_S)
        all_ms += [x * 1000 for x in got]
        resyncs += sum(1 for _, _, kind in inbox if kind == "snapshot")
    ms = np.array(all_ms)
    received = len(ms)
    want = expected * args.clients
    elapsed = sent[-1][0] - sent[0][0]
    print(f"published {len(sent)} readings in {elapsed:.1f} s ({len(sent) / elapsed:.0f}/s); "
          f"hub CPU {hub_cpu:.0f} % of one core")
    print(f"transitions received after warm-up: {received} of {want} "
          f"({args.clients} clients x {expected}); resyncs: {resyncs}")
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    print(f"MQTT publish -> page: p50 {p50:.1f} ms  p90 {p90:.1f} ms  p99 {p99:.1f} ms  "
          f"max {ms.max():.1f} ms")
    print(f"target p99 <= {TARGET_P99_MS:.0f} ms: {'met' if p99 <= TARGET_P99_MS else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=100.0, help="readings (transitions)/s")
    parser.add_argument("--seconds", type=float, default=30.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
