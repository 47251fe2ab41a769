"""Ingest hot-path benchmark: what the hub's event loop spends on each telemetry message
(topic lookup, decode and validation, device registry, rules, alert book), on one core, in
batches as the hub takes them. The yardstick, timed in the same run over the same payloads,
is `orjson.loads` alone: the least any hub decoding JSON must spend.

    .venv/bin/python benchmarks/pipeline.py [--devices 10000] [--messages 300000] [--profile]

The messages are delivery.py's background: normal values from 5,000 devices that are not
leak detectors. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devices.topics import Channel, device_topic
from hub.alerts import AlertBook
from hub.config import load_config
from hub.pipeline import IngestPipeline
from hub.quarantine import Quarantine
from hub.registry import DeviceRegistry
from hub.service import INGEST_BATCH
from hub.statedb import StateDB
from rules.engine import RulesEngine
from simulators.signals import normal_values
from simulators.sitegen import generate_site, shape_for_devices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--profile", action="store_true", help="print where the time goes")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        text = yaml.safe_dump(generate_site(shape_for_devices(args.devices, site_id="bench")),
                              allow_unicode=True)
        (work / "site.yaml").write_text(text, encoding="utf-8")
        (work / "hub.yaml").write_text(yaml.safe_dump({"site": "site.yaml"}), encoding="utf-8")
        config = load_config(work / "hub.yaml")
        site = config.site
        started = time.time()
        db = StateDB(work / "hub.db")
        engine = RulesEngine(site, config.rules, started=started)
        alerts = AlertBook(site, db, lambda *a, **k: None, config.rules, forget=engine.forget)
        pipeline = IngestPipeline(site, engine, alerts, DeviceRegistry(list(site.devices)),
                                  Quarantine())
        rng = np.random.default_rng(3)
        devices = [d for d in site.devices.values() if d.kind.name != "water_leak"][:5000]
        messages = [(device_topic(site.id, d.id, Channel.TELEMETRY),
                     orjson.dumps(normal_values(d.kind.name, started, rng, 0.5)))
                    for d in devices]

        def batches(count: int) -> list[list[tuple[str, bytes, float]]]:
            now = time.time()
            out = []
            for start in range(0, count, INGEST_BATCH):
                first = start % len(messages)
                out.append([(t, p, now) for t, p in messages[first:first + INGEST_BATCH]])
            return out

        def run(work: list[list[tuple[str, bytes, float]]]) -> float:
            began = time.perf_counter()
            for batch in work:
                pipeline.process(batch, batch[0][2])
            return time.perf_counter() - began

        run(batches(len(messages) * 2))  # every device heard, its rule state made
        gc.collect()
        gc.freeze()  # as the hub's heap keeper does (hub/heap.py)
        work = batches(args.messages)
        count = sum(len(b) for b in work)
        hub_s = run(work)
        payloads = [p for batch in work for _, p, _ in batch]
        began = time.perf_counter()
        for payload in payloads:
            orjson.loads(payload)
        loads_s = time.perf_counter() - began
        readings = pipeline.stats.readings
        print(f"{len(site.devices)} devices, {len(engine.rules)} rules; {count:,} messages from "
              f"{len(devices):,} devices in batches of {INGEST_BATCH} "
              f"({readings:,} readings in all, warm-up included)")
        print(f"  hub ingest path   {count / hub_s:>11,.0f} msg/s   "
              f"{hub_s / count * 1e6:5.2f} us per message")
        print(f"  orjson.loads only {count / loads_s:>11,.0f} msg/s   "
              f"{loads_s / count * 1e6:5.2f} us per message")
        print(f"  hub / loads       {hub_s / loads_s:>11.1f} x")
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(run, batches(min(args.messages, 100_000)))
            pstats.Stats(profile).sort_stats("tottime").print_stats(15)
        db.close()


if __name__ == "__main__":
    main()
