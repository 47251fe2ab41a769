"""Points/s through InfluxReadingStore.write into real servers, and the line-protocol encoder
alone against influxdb-client's Point, side by side.

    .venv/bin/python -m benchmarks.storage_influx [--readings 1000000] [--devices 10000]

Fleet: 10,000 devices with the kind mix of a generated community (simulators/sitegen), each
message carrying every metric of its kind (1-3 readings per line), in batches of 20,000
readings (ReadingWriter's largest). Only the write() calls are timed. Servers start on free
loopback ports in a temporary directory (the tests' fixtures classes):

  (a) VictoriaMetrics (Debian victoria-metrics): influxdb-client -> /api/v2/write, gzip.
  (b) influxd 1.6 (Debian influxdb) has no /api/v2/write: the store writes through the tests'
      WriteProxy (/api/v2/write -> /write, a Python HTTP hop). For reference, the same encoded
      bodies are also gzip'ed and POSTed straight to influxd's own /write without the client.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import yaml
from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from devices.catalog import ValueType
from devices.site import DeviceInfo, Site, load_site
from hub.store import ReadingTuple
from hub.store.influx import InfluxReadingStore, LineEncoder, device_tags
from simulators.sitegen import generate_site, shape_for_devices
from tests.conftest import free_port
from tests.store.conftest import Influxd, VictoriaMetrics, WriteProxy

T0 = 1_700_000_000.0
PERIOD_S = 60.0
BATCH = 20_000
ENCODER_SAMPLE = 200_000


def community(devices: int) -> Site:
    """Exactly `devices` devices, kinds and places cycled from a generated community."""
    generated = load_site(yaml.safe_dump(generate_site(shape_for_devices(devices)),
                                         allow_unicode=True))
    template = list(generated.devices.values())
    infos = {}
    for i in range(devices):
        base = template[i % len(template)]
        infos[f"dev-{i:05d}"] = DeviceInfo(f"dev-{i:05d}", base.kind, base.place)
    return replace(generated, devices=infos)


def telemetry(site: Site, n: int) -> list[list[ReadingTuple]]:
    """n readings in arrival order, as write() batches: every device once per PERIOD_S."""
    devices = list(site.devices.values())
    readings: list[ReadingTuple] = []
    tick = 0
    while len(readings) < n:
        for i, device in enumerate(devices):
            ts = T0 + tick * PERIOD_S + i * PERIOD_S / len(devices)
            for metric in device.kind.metrics.values():
                if metric.type is ValueType.BOOL:
                    value = float((i + tick) % 2)
                else:
                    value = ((i * 7 + tick) % 400) / 4
                readings.append((device.id, metric.name, ts, value))
        tick += 1
    del readings[n:]
    return [readings[start:start + BATCH] for start in range(0, n, BATCH)]


def timed(write: Callable[[Sequence[ReadingTuple]], None],
          batches: list[list[ReadingTuple]]) -> float:
    elapsed = 0.0
    for batch in batches:
        started = time.perf_counter()
        write(batch)
        elapsed += time.perf_counter() - started
    return elapsed


def report(name: str, readings: int, lines: int, seconds: float) -> None:
    print(f"  {name:<58} {readings / seconds:>10,.0f} readings/s {lines / seconds:>10,.0f} "
          f"lines/s  ({seconds:.2f} s)")


def bench_encoders(site: Site, batches: list[list[ReadingTuple]]) -> None:
    sample = [r for batch in batches for r in batch][:ENCODER_SAMPLE]
    chunks = [sample[i:i + BATCH] for i in range(0, len(sample), BATCH)]
    encoder = LineEncoder(site)
    started = time.perf_counter()
    lines = sum(encoder.encode(chunk).lines for chunk in chunks)
    ours = time.perf_counter() - started

    # The same messages as influxdb_client Points: one per (device, timestamp).
    tags = {device.id: device_tags(site, device) for device in site.devices.values()}
    started = time.perf_counter()
    points: list[Point] = []
    current: Point | None = None
    key: tuple[str, float] | None = None
    for device_id, metric, ts, value in sample:
        if (device_id, ts) != key:
            key = (device_id, ts)
            current = Point(site.devices[device_id].kind.name).time(
                round(ts * 1000), WritePrecision.MS)
            for tag, tag_value in tags[device_id].items():
                if tag_value:
                    current.tag(tag, tag_value)
            points.append(current)
        assert current is not None
        current.field(metric, value)
    built = time.perf_counter() - started
    started = time.perf_counter()
    text = "\n".join(point.to_line_protocol() for point in points)
    serialised = time.perf_counter() - started
    # A message split across two 20,000-reading chunks is two lines for the encoder.
    assert len(points) <= lines <= len(points) + len(chunks)
    assert text

    print(f"\nline protocol for {len(sample):,} readings ({len(points):,} messages), encoder alone")
    report("LineEncoder.encode (this store)", len(sample), lines, ours)
    report("Point.to_line_protocol() (points built beforehand)", len(sample), len(points),
           serialised)
    report("Point: build + to_line_protocol()", len(sample), len(points), built + serialised)
    print(f"  ratio: {serialised / ours:.1f}x faster than to_line_protocol() alone, "
          f"{(built + serialised) / ours:.1f}x faster than building and serialising Points")


def bench_store(name: str, url: str, site: Site, batches: list[list[ReadingTuple]],
                spill_dir: Path) -> InfluxReadingStore:
    store = InfluxReadingStore(site, url=url, org="bench", bucket="shouwang", token=None,
                               spill_dir=spill_dir)
    encoder = LineEncoder(site)
    lines = sum(encoder.encode(batch).lines for batch in batches)
    readings = sum(len(batch) for batch in batches)
    seconds = timed(store.write, batches)
    report(name, readings, lines, seconds)
    if store.spilled_total or store.dropped_total:
        print(f"  !! {store.spilled_total:,} readings spilled, {store.dropped_total:,} dropped")
    return store


def bench_direct_write(influxd: Influxd, site: Site, batches: list[list[ReadingTuple]]) -> None:
    """Reference: encode + gzip + POST /write straight to influxd, no influxdb-client."""
    influxd.influxql('CREATE DATABASE "direct"')
    encoder = LineEncoder(site)
    connection = http.client.HTTPConnection("127.0.0.1", influxd.port, timeout=60)
    lines = 0

    def write(batch: Sequence[ReadingTuple]) -> None:
        nonlocal lines
        encoded = encoder.encode(batch)
        lines += encoded.lines
        connection.request("POST", "/write?db=direct&precision=ms",
                           body=gzip.compress(encoded.body),
                           headers={"Content-Encoding": "gzip"})
        response = connection.getresponse()
        response.read()
        if response.status != 204:
            raise RuntimeError(f"influxd answered {response.status}")

    try:
        seconds = timed(write, batches)
    finally:
        connection.close()
    report("(reference) encode + gzip + POST influxd /write, no client",
           sum(len(batch) for batch in batches), lines, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--devices", type=int, default=10_000)
    args = parser.parse_args()
    site = community(args.devices)
    batches = telemetry(site, args.readings)
    print(f"{len(site.devices):,} devices, {args.readings:,} readings in {len(batches)} batches "
          f"of up to {BATCH:,}")
    bench_encoders(site, batches)

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        print("\nInfluxReadingStore.write (influxdb-client, /api/v2/write, gzip)")
        (root / "vm").mkdir()
        victoria = VictoriaMetrics(free_port(), root / "vm")
        victoria.start()
        try:
            bench_store("(a) VictoriaMetrics 1.79", victoria.url, site, batches,
                        root / "spill-vm").close()
        finally:
            victoria.stop()

        (root / "influxd").mkdir()
        influxd = Influxd(free_port(), root / "influxd", rpc_port=free_port())
        influxd.start()
        proxy = WriteProxy(influxd.port)
        proxy.start()
        try:
            store = bench_store("(b) influxd 1.6 via the test proxy (/api/v2/write -> /write)",
                                proxy.url, site, batches, root / "spill-influxd")
            try:
                started = time.perf_counter()
                stored = store.count()
                print(f"  influxd holds {stored:,} readings (count() took "
                      f"{time.perf_counter() - started:.1f} s)")
            finally:
                store.close()
            bench_direct_write(influxd, site, batches)
        finally:
            proxy.stop()
            influxd.stop()


if __name__ == "__main__":
    main()
