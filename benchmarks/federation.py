"""Command-centre benchmark: how many communities one centre follows, and the latency from a
community's publish to the centre's page feed.

    .venv/bin/python benchmarks/federation.py [--steps 50,200,500,1000,2000,4000]
                                              [--rate 0.1] [--seconds 12] [--rollup-series 2000]

Topology, all real: two community brokers bridged to the centre's broker with the config
`shouwang bridge-config` prints (their `out` patterns widened to `shouwang/+/...` so one
broker can carry many simulated communities); the centre as `shouwang command-centre` in its
own process; a client on its live feed (GET /api/feed, server-sent events), as the page is.

Each simulated community hub publishes alert transitions QoS 1 — raised, acknowledged,
cleared, the full `alert_json` with `updated_at` = the moment of publishing — at `--rate` per
second (0.1/s is a busy day for a 2,500-household community: a few hundred transitions a
day), plus, in the second pass, its one-minute roll-up of `--rollup-series` series. Two
publisher processes write pre-built MQTT packets, paced; the latency of an event is the time
it reaches the feed client minus its `updated_at` (same clock).

Each step offers `steps[i]` transitions/s in total (= steps[i] / rate communities); a step
counts as saturated when the feed delivers less than 95 % of what was offered within 3 s of
the step's end, or its p99 passes 2 s.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import orjson
import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.mqttload import connect_packet, free_port
from devices.mqttpackets import publish_packet
from hub.bridge import bridge_config
from hub.config import CentreLinkConfig

STATES = (("raised", "active_unack"), ("acknowledged", "active_ack"),
          ("cleared", "cleared_ack"))


@contextlib.contextmanager
def broker(port: int, directory: Path, extra: str = "") -> Iterator[subprocess.Popen[bytes]]:
    conf = directory / f"mosquitto-{port}.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
                    "max_queued_messages 2000000\nmax_inflight_messages 1000\n"
                    "persistence false\n" + ("user root\n" if os.geteuid() == 0 else "")
                    + extra, encoding="utf-8")
    process = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield process
    finally:
        process.terminate()
        process.wait(10)


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def alert_payload(site: str, n: int, now: float) -> tuple[str, bytes]:
    transition, state = STATES[n % 3]
    alert_id = f"{site}-{n // 3}"
    alert = {"id": alert_id, "rule": "smoke_alarm", "category": "fire", "severity": "major",
             "state": state, "active": state.startswith("active"),
             "subject": {"level": "unit", "id": "b3/f12/1202"}, "place": "b3/f12/1202",
             "device": "b3-1202-smoke", "metric": "smoke", "value": 1.0,
             "message": {"zh": "3号楼 12层 1202室烟感报警（b3-1202-smoke），疑似火情，请立即核实",
                         "en": "Smoke alarm at building 3, floor 12, 1202: verify at once"},
             "raised_at": now, "updated_at": now, "cleared_at": now if n % 3 == 2 else None,
             "occurrences": 1, "acknowledged_by": "duty" if n % 3 else None,
             "acknowledged_at": now if n % 3 else None, "cleared_by": None,
             "suppressed": None, "escalation": 0, "notified_at": now, "exercise": False}
    return (f"shouwang/{site}/alerts/fire/{alert_id}",
            orjson.dumps({"site": site, "transition": transition, "notify": True,
                          "by": alert["acknowledged_by"], "note": None, "alert": alert}))


def rollup_payload(site: str, series: int) -> bytes:
    """One roll-up message (hub/rollup.py's format; up to 5,000 series fit in one part)."""
    rows = [[f"dev-{i:05d}", "battery", 87.0, 87.5, 175.0, 2] for i in range(min(series, 5000))]
    return orjson.dumps({"site": site, "minute": int(time.time()) // 60 * 60, "interval": 60,
                         "part": 1, "parts": 1, "series": rows})


def publish_load(port: int, sites: list[str], rate: float, rollup_series: int,
                 seconds: float, out: Connection) -> None:
    """One community broker's share: `rate` transitions/s per site, round robin, paced in
    10 ms ticks; each site's roll-up once a minute (spread over the minute)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_packet(f"bench-hubs-{port}-{os.getpid()}"))
    sock.recv(4)
    threading.Thread(target=_drain, args=(sock,), daemon=True).start()
    rollup = rollup_payload("SITE", rollup_series) if rollup_series else b""
    counters = dict.fromkeys(sites, 0)
    total_rate, rollup_rate = rate * len(sites), len(sites) / 60.0 if rollup else 0.0
    sent = rollups = packet_id = i = r = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        packets = []
        while sent < total_rate * elapsed:
            site = sites[i % len(sites)]
            i += 1
            topic, payload = alert_payload(site, counters[site], time.time())
            counters[site] += 1
            packet_id = packet_id % 65535 + 1
            packets.append(publish_packet(topic, payload, qos=1, packet_id=packet_id))
            sent += 1
        while rollup and rollups < rollup_rate * elapsed:
            site = sites[r % len(sites)]
            r += 1
            packet_id = packet_id % 65535 + 1
            packets.append(publish_packet(f"shouwang/{site}/rollup/1m",
                                          rollup.replace(b'"SITE"', f'"{site}"'.encode()),
                                          qos=1, packet_id=packet_id))
            rollups += 1
        if packets:
            sock.sendall(b"".join(packets))
        time.sleep(0.01)
    time.sleep(0.5)
    sock.close()
    out.send((sent, rollups))


def _drain(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while sock.recv(65536):
            pass


class FeedClient:
    """The page's live feed, read in a thread: per step prefix, arrival latencies."""

    def __init__(self, url: str) -> None:
        self.latencies: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the centre's feed did not answer")

    def _read(self, url: str) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the centre closing the feed at the end
            self._follow(url)

    def _follow(self, url: str) -> None:
        with httpx.stream("GET", url, timeout=None) as response:
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    self._ready.set()
                    continue
                now = time.time()
                change = orjson.loads(line[6:])
                step = change["site"].split("-", 1)[0]
                with self._lock:
                    self.latencies.setdefault(step, []).append(
                        now - change["alert"]["updated_at"])

    def count(self, step: str) -> int:
        with self._lock:
            return len(self.latencies.get(step, ()))

    def take(self, step: str) -> list[float]:
        with self._lock:
            return list(self.latencies.get(step, ()))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_step(name: str, total_rate: float, args: argparse.Namespace, ports: list[int],
             feed: FeedClient, centre: psutil.Process, brokers: list[psutil.Process],
             rollup_series: int) -> dict[str, float]:
    communities = max(1, round(total_rate / args.rate))
    sites = [f"{name}-c{i:05d}" for i in range(communities)]
    ctx = mp.get_context("fork")
    jobs = []
    for k, port in enumerate(ports):
        receive, send = ctx.Pipe(duplex=False)
        share = sites[k::len(ports)]
        process = ctx.Process(target=publish_load, args=(port, share, args.rate,
                                                         rollup_series, args.seconds, send))
        process.start()
        jobs.append((process, receive))
    for p in (centre, *brokers):
        p.cpu_percent(None)
    sent = rollups = 0
    for process, receive in jobs:
        s, r = receive.recv()
        sent, rollups = sent + s, rollups + r
        process.join()
    cpu = centre.cpu_percent(None)
    broker_cpu = max(p.cpu_percent(None) for p in brokers)
    deadline = time.monotonic() + 3.0
    while feed.count(name) < sent and time.monotonic() < deadline:
        time.sleep(0.05)
    latencies = feed.take(name)
    got = len(latencies)
    return {"communities": communities, "offered": sent / args.seconds, "sent": sent,
            "received": got, "rollups": rollups,
            "p50_ms": percentile(latencies, 0.5) * 1000 if latencies else float("nan"),
            "p99_ms": percentile(latencies, 0.99) * 1000 if latencies else float("nan"),
            "mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
            "centre_cpu": cpu, "broker_cpu": broker_cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="50,200,500,1000,2000,4000",
                        help="total transitions/s offered, per step")
    parser.add_argument("--rate", type=float, default=0.1,
                        help="transitions/s per community (0.1 = a busy day)")
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each step")
    parser.add_argument("--rollup-series", type=int, default=2000,
                        help="series per community roll-up in the second pass (0: skip it)")
    args = parser.parse_args()
    steps = [float(s) for s in args.steps.split(",")]
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        directory = Path(tmp)
        centre_port, http_port = free_port(), free_port()
        brokers = [psutil.Process(stack.enter_context(broker(centre_port, directory)).pid)]
        ports = []
        for k in range(2):
            port = free_port()
            fragment = bridge_config(f"bench{k}", CentreLinkConfig(
                host="127.0.0.1", port=centre_port, name="bench"))
            fragment = fragment.replace(f"shouwang/bench{k}/", "shouwang/+/")
            brokers.append(psutil.Process(
                stack.enter_context(broker(port, directory, fragment)).pid))
            ports.append(port)
        config = directory / "centre.yaml"
        config.write_text(yaml.safe_dump({
            "centre": {"name": "bench"}, "mqtt": {"port": centre_port},
            "http": {"port": http_port}, "data": str(directory / "centre-data"),
            "log_level": "WARNING"}), encoding="utf-8")
        process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "--log-level", "WARNING", "command-centre",
             "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stack.callback(process.wait, 20)
        stack.callback(process.send_signal, signal.SIGINT)
        wait_port(http_port)
        time.sleep(1.5)  # bridges up
        feed = FeedClient(f"http://127.0.0.1:{http_port}/api/feed")
        centre = psutil.Process(process.pid)
        print(f"centre: shouwang command-centre (1 process); 2 community brokers bridged to "
              f"the centre broker; {args.seconds:g} s per step; {args.rate:g} transitions/s "
              f"per community; {os.cpu_count()} cores shared by everything\n")
        passes = [("alerts only", 0)]
        if args.rollup_series:
            passes.append((f"alerts + 1-min roll-ups of {args.rollup_series} series",
                           args.rollup_series))
        for pass_no, (title, series) in enumerate(passes):
            print(f"== {title}")
            print(f"{'communities':>11} {'offered/s':>9} {'at feed':>8} {'p50 ms':>8} "
                  f"{'p99 ms':>8} {'centre CPU':>10} {'broker CPU':>10}")
            for n, total in enumerate(steps):
                name = f"p{pass_no}s{n}"
                result = run_step(name, total, args, ports, feed, centre, brokers, series)
                share = result["received"] / max(1, result["sent"])
                saturated = share < 0.95 or result["p99_ms"] > 2000
                print(f"{result['communities']:>11,.0f} {result['offered']:>9,.0f} "
                      f"{share:>8.1%} {result['p50_ms']:>8.1f} {result['p99_ms']:>8.1f} "
                      f"{result['centre_cpu']:>9.0f}% {result['broker_cpu']:>9.0f}%"
                      + ("   <- saturated" if saturated else ""))
                time.sleep(2.0)
                if saturated:
                    break
            print()


if __name__ == "__main__":
    main()
