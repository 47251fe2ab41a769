"""Ingest benchmark: the whole hub (decode + rules + SQLite store) against a bare paho
subscriber that only counts, on the same mosquitto, in the same run, at QoS 0 and QoS 1.

    .venv/bin/python benchmarks/ingest.py [--devices 10000] [--messages 300000]

The hub runs as `shouwang run` in its own process, exactly as deployed; its progress is read
from /api/health. The publisher sends pre-encoded packets from another process, so it is
not the limit (its own send rate is printed to show that). Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import itertools

from benchmarks.mqttload import (
    encode_stream,
    free_port,
    mosquitto,
    rate_10_90,
    start_bare_subscriber,
    start_publisher,
    wait_for_hub,
)
from devices.site import Site, load_site
from devices.topics import Channel, device_topic
from simulators.signals import normal_values
from simulators.sitegen import generate_site, shape_for_devices


def tree_rss(proc: psutil.Process) -> int:
    """The hub and its children (the reading store's process and the server it forks from);
    pages they share after the fork count once per process, so this errs high."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


def build_messages(site: Site, count: int) -> tuple[list[tuple[str, bytes]], int]:
    """Round-robin telemetry over every device, timestamps over the last hour."""
    rng = np.random.default_rng(1)
    devices = list(site.devices.values())
    start = time.time() - 3600
    messages = []
    readings = 0
    for i in range(count):
        device = devices[i % len(devices)]
        ts = start + i * 3000 / count
        values = normal_values(device.kind.name, ts, rng, 0.5)
        readings += len(values)
        messages.append((device_topic(site.id, device.id, Channel.TELEMETRY),
                         orjson.dumps({"ts": round(ts, 3), **values})))
    return messages, readings


def run_bare(port: int, topic: str, qos: int, stream: bytes, count: int) -> float:
    process, results = start_bare_subscriber(port, topic, qos, count)
    publisher, sent = start_publisher(port, stream, f"bare-pub-{qos}")
    if not results.poll(300):
        raise RuntimeError("bare subscriber did not finish")
    got, times = results.recv()
    process.join()
    publisher.join()
    sent.recv()
    if len(times) < 10:
        raise RuntimeError(f"bare subscriber got {got} of {count}")
    return rate_10_90(count, times)


def _crossing(samples: list[tuple[float, int]], level: float) -> float:
    for (t0, v0), (t1, v1) in itertools.pairwise(samples):
        if v0 < level <= v1:
            return t0 + (t1 - t0) * (level - v0) / (v1 - v0)
    raise RuntimeError(f"progress never crossed {level}")


def run_hub(workdir: Path, broker_port: int, qos: int, stream: bytes, count: int,
            readings: int) -> dict[str, float]:
    http_port = free_port()
    config = workdir / f"hub-q{qos}.yaml"
    config.write_text(yaml.safe_dump({
        "site": "site.yaml", "log_level": "ERROR",
        "mqtt": {"port": broker_port, "client_id": f"bench-hub-q{qos}"},
        "store": {"path": f"data-q{qos}"}, "http": {"port": http_port},
    }), encoding="utf-8")
    hub = subprocess.Popen([sys.executable, "-m", "hub.cli", "--log-level", "ERROR", "run",
                            "--config", str(config)], cwd=workdir)
    api = httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=5)
    try:
        wait_for_hub(api, hub)
        time.sleep(0.5)  # subscription acknowledged
        proc = psutil.Process(hub.pid)
        idle_rss = tree_rss(proc)
        peak_rss = idle_rss
        publisher, sent = start_publisher(broker_port, stream, f"hub-pub-{qos}")
        stored: list[tuple[float, int]] = [(time.perf_counter(), 0)]
        processed: list[tuple[float, int]] = [(time.perf_counter(), 0)]
        deadline = time.monotonic() + 600
        while stored[-1][1] < readings:
            time.sleep(0.1)
            health = api.get("/api/health").json()
            now = time.perf_counter()
            stored.append((now, health["store"]["written"]))
            processed.append((now, health["messages"].get("telemetry", 0)))
            peak_rss = max(peak_rss, tree_rss(proc))
            if time.monotonic() > deadline:
                raise RuntimeError(f"hub stored {stored[-1][1]} of {readings} readings")
        publisher.join()
        send_s = sent.recv()
        quarantined = api.get("/api/health").json()["quarantined"]
    finally:
        hub.terminate()
        hub.wait(60)
    store_t10 = _crossing(stored, readings * 0.1)
    store_t90 = _crossing(stored, readings * 0.9)
    proc_t10 = _crossing(processed, count * 0.1)
    proc_t90 = _crossing(processed, count * 0.9)
    first = next(t for t, v in processed if v > 0)
    last = next(t for t, v in stored if v >= readings)
    return {
        # From the first message processed to the last reading stored: the whole pipeline,
        # ramp and drain included (the polling resolution is 0.1 s).
        "overall_rate": count / (last - first),
        "stored_rate": count * 0.8 / (store_t90 - store_t10),
        "processed_rate": count * 0.8 / (proc_t90 - proc_t10),
        "publisher_rate": count / send_s,
        "idle_rss_mb": idle_rss / 2**20,
        "peak_rss_mb": peak_rss / 2**20,
        "quarantined": quarantined,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--qos", type=int, nargs="+", default=[0, 1], choices=[0, 1])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        document = generate_site(shape_for_devices(args.devices, site_id="bench"))
        text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
        (workdir / "site.yaml").write_text(text, encoding="utf-8")
        site = load_site(text, "site.yaml")
        messages, readings = build_messages(site, args.messages)
        size = sum(len(p) for _, p in messages) / len(messages)
        print(f"site: {len(site.devices)} devices; {args.messages} messages "
              f"({readings} readings, {size:.0f}-byte payloads); {os.cpu_count()} cores")
        topic = f"shouwang/{site.id}/dev/+/+"
        for qos in args.qos:
            stream = encode_stream(messages, qos)
            with mosquitto() as port:
                bare = run_bare(port, topic, qos, stream, args.messages)
            with mosquitto() as port:
                hub = run_hub(workdir, port, qos, stream, args.messages, readings)
            limit = "hub" if hub["publisher_rate"] > 2 * hub["overall_rate"] else "publisher"
            print(f"\nQoS {qos}")
            print(f"  bare paho subscriber (counts only)  {bare:>9,.0f} msg/s")
            print(f"  hub decode+rules (processed)        {hub['processed_rate']:>9,.0f} msg/s")
            print(f"  hub decode+rules+store (stored)     {hub['stored_rate']:>9,.0f} msg/s"
                  f"   (10-90 % of readings stored)")
            print(f"  hub end to end, first to last       {hub['overall_rate']:>9,.0f} msg/s"
                  f"   = {hub['overall_rate'] / bare:.0%} of bare")
            print(f"  publisher send rate                 {hub['publisher_rate']:>9,.0f} msg/s"
                  f"   (limit: {limit})")
            print(f"  hub memory (with its store process): {hub['idle_rss_mb']:.0f} MB idle, "
                  f"{hub['peak_rss_mb']:.0f} MB peak; quarantined {hub['quarantined']:.0f}")


if __name__ == "__main__":
    main()
