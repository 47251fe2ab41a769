"""Simulator benchmark: how fast the simulator itself publishes on one core, so a load test
knows how many simulator processes it needs.

    .venv/bin/python benchmarks/simulator.py [--devices 10000] [--seconds 5]

1. The fleet path (`shouwang simulate`): the fleet's signal models and payloads, published
   with paho through the per-building gateway connections at QoS 1 to a real mosquitto,
   counted once mosquitto has acknowledged every message. Also the models alone, without
   I/O. Printed as messages/s and as the number of devices one process can drive at their
   real report intervals.
2. Load mode (`shouwang simulate --rate`): pre-encoding the site's messages, then one worker
   process writing raw packets as fast as mosquitto takes them, at QoS 0 and 1 (for QoS 1 the
   figure is what mosquitto acknowledged).
3. Routines: resident-days of care-home sensor changes generated a second.

The benchmark and its workers run on one core; mosquitto gets the others when there are any.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.mqttload import mosquitto
from devices.site import Site, load_site
from simulators.fleet import Fleet
from simulators.gateway import FleetLink, gateway_of
from simulators.load import LoadPlan, packets_for, readings, run_load
from simulators.routine import DAY_S, Routines
from simulators.sitegen import SiteShape, generate_site, shape_for_devices


def pin(port: int) -> str:
    """This process on the last core, mosquitto (listening on `port`) on the others."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return "one core shared with mosquitto"
    mine, rest = cores[-1], cores[:-1]
    for child in psutil.Process().children(recursive=True):
        if "mosquitto" in child.name():
            child.cpu_affinity(rest)
    os.sched_setaffinity(0, {mine})
    return f"core {mine} (mosquitto on {', '.join(map(str, rest))}, port {port})"


def fleet_models(site: Site, seconds: float) -> float:
    """Messages/s of the signal models and payload encoding alone."""
    fleet = Fleet(site)
    fleet.start(0.0)
    t, sent = 0.0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        t += DAY_S  # every device is due once a round
        sent += len(fleet.due(t))
    return sent / (time.perf_counter() - started)


def fleet_paho(site: Site, port: int, seconds: float) -> tuple[float, int]:
    """Messages/s published through the gateways and acknowledged by mosquitto."""
    fleet = Fleet(site)
    link = FleetLink(site, "127.0.0.1", port, device_wills="none", client_prefix="bench")
    link.open()
    try:
        fleet.start(0.0)
        t, sent = 0.0, 0
        last = {}
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            t += DAY_S
            for topic, payload in fleet.due(t):
                device = link.topics.device_of(topic, payload)
                info = link.publish(topic, payload, device=device)
                last[gateway_of(site.devices[device]) if device else ""] = info
                sent += 1
        for info in last.values():
            info.wait_for_publish(120)
        return sent / (time.perf_counter() - started), link.gateway_count
    finally:
        link.close(offline=False)


def mean_rate(site: Site) -> float:
    """Messages/s one device sends on average at its kind's real report interval."""
    return sum(1 / d.kind.report_interval_s for d in site.devices.values()) / len(site.devices)


def routine_days(site: Site) -> tuple[int, float]:
    routines = Routines(site, seed=1)
    t = 1_790_000_000.0
    started = time.perf_counter()
    routines.start(t)
    end = t + DAY_S
    while t < end:
        t += 60.0
        routines.due(t)
    return len(routines.homes), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    shape = shape_for_devices(args.devices, site_id="bench")
    site = load_site(yaml.safe_dump(generate_site(shape), allow_unicode=True), "bench.yaml")
    per_device = mean_rate(site)
    with mosquitto() as port:
        where = pin(port)
        print(f"simulator benchmark: {len(site.devices):,} devices "
              f"({len(site.residents):,} care residents), {where}; {args.seconds:g} s a run")
        models = fleet_models(site, args.seconds)
        paho_rate, gateways = fleet_paho(site, port, args.seconds)
        print(f"\nfleet path (shouwang simulate; paho, QoS 1, {gateways} gateway connections)")
        print(f"  signal models + payloads only       {models:>10,.0f} msg/s")
        print(f"  + published, acknowledged by broker {paho_rate:>10,.0f} msg/s   = "
              f"{paho_rate / per_device:,.0f} devices at real report intervals "
              f"({per_device * 3600:.1f} msg/h a device on average)")

        started = time.perf_counter()
        pool = packets_for(readings(site, list(site.devices), 8, 1), range(len(site.devices)),
                           1)
        encode_s = time.perf_counter() - started
        print("\nload mode (shouwang simulate --rate; raw pre-encoded packets, 1 process)")
        print(f"  pre-encoding {len(pool):,} packets       {encode_s:>10.2f} s")
        for qos in (0, 1):
            result = run_load(site, "127.0.0.1", port,
                              LoadPlan(rate=0, duration_s=args.seconds, qos=qos),
                              client_prefix=f"bench-{qos}")
            figure = result.acked_rate if qos else result.rate
            what = "acknowledged by broker" if qos else "written to the socket"
            print(f"  QoS {qos}, {what:<27}{figure:>10,.0f} msg/s")

    homes, took = routine_days(site)
    care = load_site(yaml.safe_dump(generate_site(SiteShape(detailed=True)),
                                    allow_unicode=True), "care.yaml")
    print(f"\nroutines: {homes:,} residents' day (minute steps) in {took:.2f} s = "
          f"{homes / took:,.0f} resident-days/s ({len(care.residents)} in the demo site)")
    print(f"\nso: one `shouwang simulate` process drives ~{paho_rate / per_device:,.0f} devices "
          "at real report intervals; in load mode each process adds the rates above: add "
          "--processes until the hub, not the simulator, is the limit.")


if __name__ == "__main__":
    main()
