"""Storage benchmark (issue 5): readings/s into each store, and the hub's end-to-end ingest rate
with each store, on stores that already hold `--prefill` (10 million) readings.

    .venv/bin/python benchmarks/storage.py [--prefill 10000000] [--measure 2000000]
        [--hub-messages 300000] [--devices 10000] [--skip-influx] [--skip-hub]

Fleet: the community `simulators/sitegen` generates for --devices, every device reporting all
its metrics at its kind's catalog interval (5 min .. 24 h), at a random phase, devices put in
at staggered times. The stagger matters: in a lock-step fleet every series fills its 256-point
chunk at the same moment, and a window of 2 million readings would contain no seal (and no
roll-up) at all. The number of chunks sealed inside each measured window is printed.

  (a) SqliteReadingStore.write, batches of 20,000 (ReadingWriter's largest): fill to --prefill
      (the time it took is printed), then --measure more readings on top. Only write() is timed.
  (b) InfluxReadingStore.write (influxdb-client, POST /api/v2/write, gzip), the same readings:
      - VictoriaMetrics: written to directly;
      - influxd 1.6 has no /api/v2/write: the store writes through the tests' WriteProxy, which
        maps it onto /write (a Python HTTP hop on the same 2 cores). The same batches are also
        encoded by the store's LineEncoder, gzip'ed and POSTed straight to influxd's /write.
      Both servers are pre-filled to --prefill readings first (directly over /write, no gzip).
  (c) `shouwang run` against a real mosquitto, fed pre-encoded packets by another process
      (benchmarks/mqttload.py), as in benchmarks/ingest.py: the stored rate (10 %..90 % of the
      readings) with an empty SQLite store, with the pre-filled one, and with the pre-filled
      VictoriaMetrics as `store: {kind: influxdb}`.

Servers start on free loopback ports in a temporary directory. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import itertools
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.ingest import build_messages
from benchmarks.mqttload import (
    encode_stream,
    free_port,
    mosquitto,
    rate_10_90,
    start_bare_subscriber,
    start_publisher,
    wait_for_hub,
)
from devices.catalog import ValueType
from devices.site import Site, load_site
from hub.store import ReadingTuple, SqliteReadingStore
from hub.store.influx import InfluxReadingStore, LineEncoder
from hub.store.sqlite_readings import Retention
from simulators.sitegen import generate_site, shape_for_devices
from tests.store.conftest import Influxd, VictoriaMetrics, WriteProxy

BATCH = 20_000
CHUNK_POINTS = 256  # SqliteReadingStore's default
DAY = 86_400.0


# ---------------------------------------------------------------- the fleet


@dataclass(frozen=True, slots=True)
class Schedule:
    """Messages in time order: which device (index) reports when."""

    device: np.ndarray
    ts: np.ndarray
    readings: int


def schedule(site: Site, readings: int, end_ts: float, seed: int = 1) -> Schedule:
    """At least `readings` readings ending at end_ts, each device at its catalog interval."""
    devices = list(site.devices.values())
    period = np.array([d.kind.report_interval_s for d in devices])
    metrics = np.array([len(d.kind.metrics) for d in devices])
    rng = np.random.default_rng(seed)
    span = readings / float((metrics / period).sum())
    while True:
        # Put in service at staggered times (over up to one chunk's worth of reports), so
        # that chunk seals are spread over time as in a real community.
        installed = rng.uniform(0, np.minimum(CHUNK_POINTS * period, span))
        counts = np.maximum(0, np.ceil((span - installed) / period)).astype(np.int64)
        if int((counts * metrics).sum()) >= readings:
            break
        span *= 1.2
    device = np.repeat(np.arange(len(devices)), counts)
    k = np.arange(len(device)) - np.repeat(np.cumsum(counts) - counts, counts)
    ts = end_ts - span + installed[device] + k * period[device]
    order = np.argsort(ts, kind="stable")
    return Schedule(device[order], ts[order], readings)


def telemetry(site: Site, plan: Schedule) -> Iterator[list[ReadingTuple]]:
    """The schedule's readings (exactly plan.readings), in write() batches."""
    kinds = [(d.id, [(m.name, m.type is ValueType.BOOL) for m in d.kind.metrics.values()])
             for d in site.devices.values()]
    batch: list[ReadingTuple] = []
    left = plan.readings
    for i, (index, ts) in enumerate(zip(plan.device.tolist(), plan.ts.tolist(), strict=True)):
        device_id, metrics = kinds[index]
        for name, is_bool in metrics:
            value = float(i % 2) if is_bool else ((i * 7 + index) % 400) / 4
            batch.append((device_id, name, round(ts, 3), value))
        while len(batch) >= min(BATCH, left):
            size = min(BATCH, left)
            yield batch[:size]
            batch, left = batch[size:], left - size
            if not left:
                return


def write_all(batches: Iterator[list[ReadingTuple]], count: int,
              write: Callable[[Sequence[ReadingTuple]], None]) -> tuple[int, float]:
    """Write the next `count` readings from batches; return how many and the write() seconds."""
    written, seconds = 0, 0.0
    for batch in batches:
        started = time.perf_counter()
        write(batch)
        seconds += time.perf_counter() - started
        written += len(batch)
        if written >= count:
            break
    return written, seconds


@dataclass(frozen=True, slots=True)
class Rate:
    name: str
    readings: int
    seconds: float
    note: str = ""

    @property
    def per_s(self) -> float:
        return self.readings / self.seconds


def show(rate: Rate) -> None:
    print(f"  {rate.name:<56} {rate.per_s:>10,.0f} readings/s  ({rate.readings:,} in "
          f"{rate.seconds:.1f} s){'  ' + rate.note if rate.note else ''}", flush=True)


def prefill(name: str, batches: Iterator[list[ReadingTuple]], count: int,
            write: Callable[[Sequence[ReadingTuple]], None]) -> None:
    started = time.perf_counter()
    written, seconds = write_all(batches, count, write)
    print(f"  pre-fill {name}: {written:,} readings in {time.perf_counter() - started:.0f} s "
          f"({seconds:.0f} s in write(), {written / seconds:,.0f} readings/s)", flush=True)


# ---------------------------------------------------------------- (a) SQLite


def row_counts(path: Path, *tables: str) -> dict[str, int]:
    with closing(sqlite3.connect(path)) as db:
        return {table: int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
                for table in tables}


def bench_sqlite(site: Site, plan: Schedule, args: argparse.Namespace, root: Path,
                 hub_copy: Path | None) -> Rate:
    print("\n(a) SqliteReadingStore.write, batched", flush=True)
    path = root / "readings.db"
    # Retention only matters to the prune timed at the end; writes do not look at it.
    store = SqliteReadingStore(path, retention=Retention(raw_s=3 * DAY, minute_s=7 * DAY))
    batches = telemetry(site, plan)
    try:
        prefill("SQLite", batches, args.prefill, store.write)
        store.close()  # as a restart would: the hub run opens this file
        if hub_copy is not None:
            hub_copy.mkdir(parents=True)
            shutil.copy(path, hub_copy / "readings.db")
        started = time.perf_counter()
        store = SqliteReadingStore(path, retention=Retention(raw_s=3 * DAY, minute_s=7 * DAY))
        print(f"  reopened in {time.perf_counter() - started:.1f} s (log replayed into open "
              f"buffers); {store.count():,} readings", flush=True)
        chunks_before = row_counts(path, "chunks")["chunks"]
        written, seconds = write_all(batches, args.measure, store.write)
        chunks = row_counts(path, "chunks")["chunks"] - chunks_before
        rate = Rate(f"on {args.prefill / 1e6:g}M readings, {written:,} more", written, seconds,
                    f"{chunks:,} chunks sealed (~{chunks * CHUNK_POINTS / written:.0%} "
                    "of the readings' worth)")
        show(rate)
        tables = row_counts(path, "chunks", "rollup_1m", "rollup_1h", "log")
        print("  rows: " + ", ".join(f"{table} {rows:,}" for table, rows in tables.items())
              + f"; file {path.stat().st_size / 1e6:,.0f} MB", flush=True)
        time_queries(store, site, plan)
        started = time.perf_counter()
        pruned = store.prune(float(plan.ts[-1]))
        print(f"  prune (raw 3 d, minutes 7 d): {time.perf_counter() - started:.2f} s, {pruned}",
              flush=True)
    finally:
        store.close()
    return rate


def time_queries(store: SqliteReadingStore, site: Site, plan: Schedule) -> None:
    device = next(d for d in site.devices.values() if d.kind.name == "temp_humidity")
    start, end = float(plan.ts[0]), float(plan.ts[-1])
    for every_s, label in ((3600, "hourly"), (60, "per minute"), (30, "per 30 s (raw)")):
        started = time.perf_counter()
        rows = store.query_aggregate(device.id, "temperature", start, end, every_s)
        print(f"  query_aggregate {label}, {device.id} temperature, "
              f"{(end - start) / DAY:.1f} days: {len(rows):,} windows in "
              f"{(time.perf_counter() - started) * 1000:.1f} ms", flush=True)


# ---------------------------------------------------------------- (b) InfluxDB line protocol


def post_write(port: int, database: str, encoder: LineEncoder,
               gzip_body: bool) -> Callable[[Sequence[ReadingTuple]], None]:
    """encode + POST /write straight to influxd (no influxdb-client)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def write(batch: Sequence[ReadingTuple]) -> None:
        body = encoder.encode(batch).body
        headers = {}
        if gzip_body:
            body, headers = gzip.compress(body), {"Content-Encoding": "gzip"}
        connection.request("POST", f"/write?db={database}&precision=ms", body=body,
                           headers=headers)
        response = connection.getresponse()
        answer = response.read()
        if response.status != 204:
            raise RuntimeError(f"influxd answered {response.status}: {answer[:200]!r}")

    return write


def influx_store(site: Site, url: str, spill_dir: Path) -> InfluxReadingStore:
    return InfluxReadingStore(site, url=url, org="bench", bucket="shouwang", token=None,
                              spill_dir=spill_dir)


def measure_influx(name: str, store: InfluxReadingStore, batches: Iterator[list[ReadingTuple]],
                   count: int, prefilled: int) -> Rate:
    written, seconds = write_all(batches, count, store.write)
    spilled = store.spilled_total
    rate = Rate(f"{name}, on {prefilled / 1e6:g}M", written, seconds,
                f"!! {spilled:,} spilled: not a valid figure" if spilled else "")
    show(rate)
    return rate


def bench_victoria(site: Site, plan: Schedule, args: argparse.Namespace, root: Path,
                   stack: ExitStack) -> tuple[Rate, VictoriaMetrics]:
    print("\n(b) InfluxReadingStore.write (influxdb-client, /api/v2/write, gzip)", flush=True)
    (root / "vm").mkdir()
    victoria = VictoriaMetrics(free_port(), root / "vm")
    victoria.start()
    stack.callback(victoria.stop)
    batches = telemetry(site, plan)
    store = influx_store(site, victoria.url, root / "spill-vm-fill")
    try:
        prefill("VictoriaMetrics (through the store)", batches, args.prefill, store.write)
    finally:
        store.close()
    store = influx_store(site, victoria.url, root / "spill-vm")
    try:
        rate = measure_influx("VictoriaMetrics", store, batches, args.measure, args.prefill)
    finally:
        store.close()
    return rate, victoria


def bench_influxd(site: Site, plan: Schedule, args: argparse.Namespace,
                  root: Path) -> tuple[Rate, Rate]:
    (root / "influxd").mkdir()
    influxd = Influxd(free_port(), root / "influxd", rpc_port=free_port())
    influxd.start()
    proxy = WriteProxy(influxd.port)
    proxy.start()
    try:
        encoder = LineEncoder(site)
        batches = telemetry(site, plan)
        prefill("influxd 1.6 (POST /write, no gzip)", batches, args.prefill,
                post_write(influxd.port, influxd.database, encoder, gzip_body=False))
        half = args.measure // 2
        store = influx_store(site, proxy.url, root / "spill-influxd")
        try:
            proxied = measure_influx("influxd 1.6 via the test proxy -> /write", store, batches,
                                     half, args.prefill)
        finally:
            store.close()
        written, seconds = write_all(batches, args.measure - half,
                                     post_write(influxd.port, influxd.database, encoder, True))
        direct = Rate(f"influxd 1.6, LineEncoder + gzip + POST /write, on "
                      f"{args.prefill / 1e6:g}M", written, seconds, "(no influxdb-client)")
        show(direct)
    finally:
        proxy.stop()
        influxd.stop()
    return proxied, direct


# ---------------------------------------------------------------- (c) the hub end to end


def _crossing(samples: list[tuple[float, int]], level: float) -> float:
    for (t0, v0), (t1, v1) in itertools.pairwise(samples):
        if v0 < level <= v1:
            return t0 + (t1 - t0) * (level - v0) / (v1 - v0)
    raise RuntimeError(f"progress never crossed {level}")


def run_hub(workdir: Path, tag: str, store: dict[str, object], stream: bytes, messages: int,
            readings: int) -> Rate:
    """`shouwang run` with this store; the rate at which readings got stored, 10 %..90 %."""
    http_port = free_port()
    with mosquitto() as broker_port:
        config = workdir / f"hub-{tag}.yaml"
        config.write_text(yaml.safe_dump({
            "site": "site.yaml", "log_level": "ERROR", "store": store,
            "mqtt": {"port": broker_port, "client_id": f"bench-hub-{tag}"},
            "http": {"port": http_port},
        }), encoding="utf-8")
        started = time.perf_counter()
        hub = subprocess.Popen([sys.executable, "-m", "hub.cli", "--log-level", "ERROR", "run",
                                "--config", str(config)], cwd=workdir)
        api = httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=5)
        try:
            wait_for_hub(api, hub, timeout=180)
            up_s = time.perf_counter() - started
            time.sleep(0.5)  # subscription acknowledged
            publisher, sent = start_publisher(broker_port, stream, f"pub-{tag}")
            stored = [(time.perf_counter(), 0)]
            deadline = time.monotonic() + 600
            while stored[-1][1] < readings:
                time.sleep(0.1)
                written = api.get("/api/health").json()["store"]["written"]
                stored.append((time.perf_counter(), written))
                if time.monotonic() > deadline:
                    raise RuntimeError(f"hub ({tag}) stored {stored[-1][1]} of {readings}")
            publisher.join()
            send_s = sent.recv()
        finally:
            api.close()
            hub.terminate()
            hub.wait(60)
    seconds = _crossing(stored, readings * 0.9) - _crossing(stored, readings * 0.1)
    return Rate(tag, round(readings * 0.8), seconds,
                f"{messages * 0.8 / seconds:,.0f} msg/s; publisher {messages / send_s:,.0f} "
                f"msg/s; up in {up_s:.1f} s")


def bench_hub(site: Site, workdir: Path, args: argparse.Namespace, prefilled_sqlite: Path | None,
              victoria: VictoriaMetrics | None) -> list[Rate]:
    print(f"\n(c) the hub end to end (`shouwang run`, QoS 0, {args.hub_messages:,} messages)",
          flush=True)
    messages, readings = build_messages(site, args.hub_messages)
    stream = encode_stream(messages, 0)
    with mosquitto() as port:
        process, results = start_bare_subscriber(port, f"shouwang/{site.id}/dev/+/+", 0,
                                                 args.hub_messages)
        publisher, sent = start_publisher(port, stream, "bare-pub")
        if not results.poll(300):
            raise RuntimeError("bare subscriber did not finish")
        _, times = results.recv()
        process.join()
        publisher.join()
        sent.recv()
    bare = rate_10_90(args.hub_messages, times)
    print(f"  ceiling: bare paho subscriber, counting only: {bare:,.0f} msg/s "
          f"({bare * readings / args.hub_messages:,.0f} readings/s)", flush=True)
    runs: list[tuple[str, dict[str, object]]] = [("SQLite, empty", {"path": "data-empty"})]
    if prefilled_sqlite is not None:
        runs.append((f"SQLite, {args.prefill / 1e6:g}M readings", {"path": prefilled_sqlite.name}))
    if victoria is not None:
        runs.append((f"VictoriaMetrics, {(args.prefill + args.measure) / 1e6:g}M readings",
                     {"path": "data-vm", "kind": "influxdb", "url": victoria.url,
                      "bucket": "shouwang"}))
    rates = []
    for tag, store in runs:
        rate = run_hub(workdir, tag, store, stream, args.hub_messages, readings)
        show(rate)
        rates.append(rate)
    return rates


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefill", type=int, default=10_000_000)
    parser.add_argument("--measure", type=int, default=2_000_000)
    parser.add_argument("--hub-messages", type=int, default=300_000)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--skip-influx", action="store_true")
    parser.add_argument("--skip-hub", action="store_true")
    args = parser.parse_args()
    began = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        root = Path(tmp)
        document = generate_site(shape_for_devices(args.devices, site_id="bench"))
        text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
        (root / "site.yaml").write_text(text, encoding="utf-8")
        site = load_site(text, "site.yaml")
        # The stores' history ends before the hub's messages (stamped over the last hour).
        plan = schedule(site, args.prefill + args.measure, time.time() - 2 * 3600)
        series = sum(len(d.kind.metrics) for d in site.devices.values())
        print(f"site: {len(site.devices):,} devices, {series:,} series; "
              f"{plan.readings:,} readings over {(plan.ts[-1] - plan.ts[0]) / DAY:.1f} days "
              f"of reports; batches of {BATCH:,}", flush=True)

        hub_copy = None if args.skip_hub else root / "data-prefilled"
        results = [bench_sqlite(site, plan, args, root, hub_copy)]
        victoria = None
        if not args.skip_influx:
            vm_rate, victoria = bench_victoria(site, plan, args, root, stack)
            results += [vm_rate, *bench_influxd(site, plan, args, root)]
        hub_rates = [] if args.skip_hub else bench_hub(site, root, args, hub_copy, victoria)

        print("\nside by side (readings/s)")
        base = results[0].per_s
        for rate in results:
            print(f"  {rate.name:<60} {rate.per_s:>10,.0f}   {rate.per_s / base:>5.2f}x SQLite")
        for rate in hub_rates:
            print(f"  hub stored, {rate.name:<48} {rate.per_s:>10,.0f}   "
                  f"{rate.per_s / hub_rates[0].per_s:>5.2f}x empty SQLite")
        print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
