"""Load mode: a site's devices reporting at an aggregate rate, to find out what a hub takes.

Each device's readings are drawn by the fleet's own signal models, a few variants per device,
in its own format (canonical JSON without `ts` — the hub stamps the arrival — or the vendor's),
and pre-encoded as MQTT PUBLISH packets. Worker processes write them straight to sockets at
their share of the rate (`simulators.rawmqtt`: a paho publisher tops out below what one hub
ingests). Devices are split between workers, so each device's messages stay in order.

Progress comes back through shared counters: messages written, and with QoS 1 messages the
broker acknowledged — the honest figure, since a socket buffer takes more than a broker does.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing as mp
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as MpEvent

import numpy as np
import orjson

from devices.mqttpackets import publish_packet
from devices.site import Site
from devices.topics import Channel, device_topic
from simulators.fleet import Fleet
from simulators.gateway import availability
from simulators.rawmqtt import connect_packet, open_session
from simulators.signals import normal_values

TICK_S = 0.01
_PUBACK_BYTES = 4


@dataclass(frozen=True, slots=True)
class LoadPlan:
    rate: float
    """Messages a second, all workers together; 0 for as fast as the broker takes them."""
    duration_s: float | None = 30.0
    count: int | None = None
    """Stop after this many messages (whichever of duration and count comes first)."""
    devices: int | None = None
    """The first N devices of the site; all when None."""
    processes: int = 1
    qos: int = 1
    variants: int = 8
    seed: int = 1


@dataclass(frozen=True, slots=True)
class LoadProgress:
    sent: int
    acked: int
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class LoadResult:
    devices: int
    processes: int
    target_rate: float
    sent: int
    acked: int
    qos: int
    elapsed_s: float

    @property
    def rate(self) -> float:
        """Messages written a second."""
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def acked_rate(self) -> float:
        return self.acked / self.elapsed_s if self.elapsed_s > 0 else 0.0


def readings(site: Site, device_ids: list[str], variants: int, seed: int
             ) -> list[list[tuple[str, bytes]]]:
    """`variants` reports per device, variant-major (consecutive messages are different
    devices, as in a real community)."""
    rng = np.random.default_rng(seed)
    fleet = Fleet(site, seed=seed)
    now = time.time()
    rounds: list[list[tuple[str, bytes]]] = []
    for v in range(variants):
        t = now + v * 60.0
        messages = []
        for index, device_id in enumerate(device_ids):
            info = site.devices[device_id]
            if info.vendor is None:
                values = normal_values(info.kind.name, t, rng, (index % 97) / 97)
                messages.append((device_topic(site.id, device_id, Channel.TELEMETRY),
                                 orjson.dumps(values)))
            else:
                messages.append(fleet.telemetry(device_id, t))
        rounds.append(messages)
    return rounds


def packets_for(rounds: list[list[tuple[str, bytes]]], columns: range, qos: int) -> list[bytes]:
    """The PUBLISH packets of some devices (`columns`), variant-major."""
    ids = itertools.count()
    return [publish_packet(topic, payload, qos=qos, packet_id=(next(ids) % 65535) + 1)
            for messages in rounds for topic, payload in (messages[c] for c in columns)]


def run_load(site: Site, host: str, port: int, plan: LoadPlan, *,
             progress: Callable[[LoadProgress], None] | None = None,
             username: str | None = None, password: str | None = None,
             client_prefix: str = "load") -> LoadResult:
    """Blocking: announce the devices online, then publish until the plan is done."""
    device_ids = list(site.devices)
    if plan.devices is not None:
        if plan.devices > len(device_ids):
            raise ValueError(f"the site has {len(device_ids)} devices, fewer than the "
                             f"{plan.devices} asked for: generate a bigger one "
                             "(shouwang site generate --grids ... --floors 18 --units 8)")
        device_ids = device_ids[:plan.devices]
    processes = max(1, min(plan.processes, len(device_ids)))
    _announce(site, device_ids, host, port, username, password, f"{client_prefix}-announce")
    rounds = readings(site, device_ids, plan.variants, plan.seed)
    ctx = mp.get_context("spawn")
    go, stop = ctx.Event(), ctx.Event()
    sent = [ctx.Value("q", 0, lock=False) for _ in range(processes)]
    acked = [ctx.Value("q", 0, lock=False) for _ in range(processes)]
    ready = ctx.Queue()
    share_rate = plan.rate / processes
    share_count = None if plan.count is None else -(-plan.count // processes)
    workers = []
    for w in range(processes):
        columns = range(w, len(device_ids), processes)
        worker = ctx.Process(
            target=_publish, name=f"load-{w}",
            args=(host, port, f"{client_prefix}-{w}", username, password,
                  packets_for(rounds, columns, plan.qos), share_rate, share_count, plan.qos,
                  sent[w], acked[w], go, stop, ready),
            daemon=True)
        worker.start()
        workers.append(worker)
    try:
        for _ in workers:
            problem = ready.get(timeout=30)
            if problem:
                raise ConnectionError(problem)
        started = time.monotonic()
        go.set()
        deadline = None if plan.duration_s is None else started + plan.duration_s
        while any(w.is_alive() for w in workers):
            time.sleep(0.25)
            now = time.monotonic()
            if progress is not None:
                progress(LoadProgress(sum(int(v.value) for v in sent),
                                      sum(int(v.value) for v in acked), now - started))
            if deadline is not None and now >= deadline:
                stop.set()
                break
        elapsed = time.monotonic() - started
        stop.set()
        for worker in workers:
            worker.join(10)
    finally:
        stop.set()
        go.set()
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
                worker.join(5)
    return LoadResult(len(device_ids), processes, plan.rate, sum(int(v.value) for v in sent),
                      sum(int(v.value) for v in acked), plan.qos, elapsed)


def _announce(site: Site, device_ids: list[str], host: str, port: int, username: str | None,
              password: str | None, client_id: str) -> None:
    stream = b"".join(publish_packet(topic, payload, qos=0, retain=True)
                      for d in device_ids
                      for topic, payload in availability(site, site.devices[d], True))
    sock = open_session(host, port, connect_packet(client_id, username=username,
                                                   password=password))
    with sock:
        sock.sendall(stream + b"\xe0\x00")


def _publish(host: str, port: int, client_id: str, username: str | None,
             password: str | None, packets: list[bytes], rate: float, count: int | None,
             qos: int, sent: Synchronized[int], acked: Synchronized[int], go: MpEvent,
             stop: MpEvent, ready: mp.Queue[str]) -> None:
    """A worker process: connect, wait for `go`, write packets round and round."""
    try:
        sock = open_session(host, port, connect_packet(client_id, username=username,
                                                       password=password))
    except OSError as exc:
        ready.put(f"{client_id}: cannot connect to mqtt://{host}:{port}: {exc}")
        return
    sock.settimeout(None)
    ring = _Ring(packets)

    def count_acks() -> None:
        received = 0
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                received += len(chunk)
                acked.value = received // _PUBACK_BYTES

    if qos:
        threading.Thread(target=count_acks, daemon=True).start()
    ready.put("")
    go.wait()
    started = time.perf_counter()
    done = 0
    batch = max(1, round(rate * TICK_S)) if rate > 0 else 512
    try:
        while not stop.is_set() and (count is None or done < count):
            take = batch if count is None else min(batch, count - done)
            ring.write(sock, take)
            done += take
            sent.value = done
            if rate > 0:
                ahead = done / rate - (time.perf_counter() - started)
                if ahead > 0:
                    time.sleep(ahead)
        if qos:  # give the broker a moment to acknowledge the tail
            deadline = time.monotonic() + 2.0
            while acked.value < done and time.monotonic() < deadline:
                time.sleep(0.02)
        with contextlib.suppress(OSError):
            sock.sendall(b"\xe0\x00")
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


class _Ring:
    """Pre-encoded packets sent round and round, as slices of one buffer."""

    def __init__(self, packets: list[bytes]) -> None:
        self._view = memoryview(b"".join(packets))
        self._offsets = [0, *itertools.accumulate(len(p) for p in packets)]
        self._n = len(packets)
        self._position = 0

    def write(self, sock: socket.socket, take: int) -> None:
        view, offsets, n = self._view, self._offsets, self._n
        end = self._position + take
        if end <= n:
            sock.sendall(view[offsets[self._position]:offsets[end]])
        else:
            sock.sendall(view[offsets[self._position]:])
            rest = end - n
            while rest > n:  # a tiny pool at a high rate: whole rounds
                sock.sendall(view)
                rest -= n
            sock.sendall(view[:offsets[rest]])
        self._position = end % n


def render_progress(p: LoadProgress, plan: LoadPlan, width: int = 28) -> str:
    """`▕█████░░░░▏ 42%  12,600 sent  5,020/s (target 5,000/s)  acked 12,480`"""
    fraction = None
    if plan.duration_s:
        fraction = min(1.0, p.elapsed_s / plan.duration_s)
    if plan.count:
        by_count = min(1.0, p.sent / plan.count)
        fraction = by_count if fraction is None else max(fraction, by_count)
    rate = p.sent / p.elapsed_s if p.elapsed_s > 0 else 0.0
    target = f"{plan.rate:,.0f}/s" if plan.rate > 0 else "max"
    bar = ""
    if fraction is not None:
        filled = round(fraction * width)
        bar = f"▕{'█' * filled}{'░' * (width - filled)}▏ {fraction:4.0%}  "
    acked = f"  acked {p.acked:,}" if plan.qos else ""
    return f"{bar}{p.sent:,} sent  {rate:,.0f}/s (target {target}){acked}"
