"""Rules benchmark: the pure engine with every shipped pack, a community of 10,000 devices,
readings replayed as fast as one core allows. Prints readings/s, rule state per device, and a
plain Python threshold loop over the same values as the yardstick.

    .venv/bin/python benchmarks/rules.py [--devices 10000] [--messages 300000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devices.messages import Telemetry
from devices.site import Site, load_site
from hub.config import BUILTIN_PACKS, load_rules
from rules.engine import RulesEngine
from rules.schema import Rule
from simulators.signals import normal_values
from simulators.sitegen import generate_site, shape_for_devices

REPORT_EVERY_S = 30.0
"""Each device reports every 30 s of simulated time; the engine ticks every simulated second."""


def build(site: Site, count: int, hazard_share: float) -> list[Telemetry]:
    rng = np.random.default_rng(2)
    devices = list(site.devices.values())
    per_second = len(devices) / REPORT_EVERY_S
    start = 1_764_100_000.0
    out = []
    for i in range(count):
        device = devices[i % len(devices)]
        ts = start + i / per_second
        values = normal_values(device.kind.name, ts, rng, 0.5)
        if rng.random() < hazard_share:
            for name in ("smoke", "water_leak", "gas_lel", "temperature"):
                if name in values:
                    values[name] = True if isinstance(values[name], bool) else 70.0
        out.append(Telemetry(device.id, ts, tuple((k, float(v)) for k, v in values.items())))
    return out


def run(site: Site, rules: list[Rule], messages: list[Telemetry]) -> tuple[float, int, int]:
    engine = RulesEngine(site, rules, started=messages[0].ts)
    next_tick = messages[0].ts + 1.0
    decisions = 0
    gc.collect()
    started = time.perf_counter()
    for message in messages:
        if message.ts >= next_tick:
            decisions += len(engine.tick(message.ts))
            next_tick += 1.0
        decisions += len(engine.on_telemetry(message, message.ts))
    elapsed = time.perf_counter() - started
    readings = sum(len(m.values) for m in messages)
    return readings / elapsed, readings, decisions


def state_bytes(site: Site, rules: list[Rule], messages: list[Telemetry]) -> int:
    """Memory the engine holds after the replay (tracemalloc, everything it allocated)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    engine = RulesEngine(site, rules, started=messages[0].ts)
    next_tick = messages[0].ts + 1.0
    for message in messages:
        if message.ts >= next_tick:
            engine.tick(message.ts)
            next_tick += 1.0
        engine.on_telemetry(message, message.ts)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del engine
    return held


def plain_loop(messages: list[Telemetry]) -> float:
    values = [v for m in messages for _, v in m.values]
    started = time.perf_counter()
    hits = 0
    for v in values:
        if v >= 57.0:
            hits += 1
    return len(values) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--hazards", type=float, default=0.001,
                        help="share of readings that carry a hazard")
    args = parser.parse_args()
    text = yaml.safe_dump(generate_site(shape_for_devices(args.devices, site_id="bench")),
                          allow_unicode=True)
    site = load_site(text, "bench-site.yaml")
    rules = load_rules(list(BUILTIN_PACKS), Path.cwd())
    messages = build(site, args.messages, args.hazards)
    print(f"{len(site.devices)} devices, {len(rules)} rules from {len(BUILTIN_PACKS)} packs, "
          f"{len(messages)} messages over {messages[-1].ts - messages[0].ts:.0f} simulated s")
    run(site, rules, messages[: len(messages) // 10])  # warm up
    rate, readings, decisions = run(site, rules, messages)
    held = state_bytes(site, rules, messages)
    baseline = plain_loop(messages)
    print(f"  engine           {rate:>12,.0f} readings/s  ({readings:,} readings, "
          f"{decisions} decisions, 1 core)")
    print(f"  plain threshold  {baseline:>12,.0f} readings/s  (a bare `if v >= 57` loop)")
    print(f"  engine / plain   {rate / baseline:>12.1%}")
    print(f"  rule state       {held / len(site.devices):>12,.0f} bytes per device "
          f"({held / 2**20:.1f} MiB for {len(site.devices)} devices)")


if __name__ == "__main__":
    main()
