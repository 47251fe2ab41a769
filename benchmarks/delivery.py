"""Delivery benchmark: time from the MQTT publish that triggers an alert to the message
arriving at a local webhook receiver and at an MQTT command subscriber, over 1,000 alerts,
while the hub ingests background telemetry. The outbox is committed before every send.

    .venv/bin/python benchmarks/delivery.py [--alerts 1000] [--background 48300]

`--background` is messages/s of ordinary telemetry (default: about half of what
benchmarks/ingest.py measures for the whole hub at QoS 0 on this machine). Run it alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import orjson
import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.mqttload import free_port, mosquitto, start_paced_publisher, wait_for_hub
from devices.mqttpackets import publish_packet
from devices.site import load_site
from devices.topics import Channel, device_topic
from simulators.signals import normal_values
from simulators.sitegen import generate_site, shape_for_devices


class Arrivals:
    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.lock = threading.Lock()

    def note(self, place: str) -> None:
        now = time.perf_counter()
        with self.lock:
            self.at.setdefault(place, now)


def webhook_server(arrivals: Arrivals) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as any production receiver does

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            message = json.loads(body)
            if message["transition"] == "raised":
                arrivals.note(message["place_id"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    return server


def percentiles(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   max {ms[-1]:6.1f} ms   (n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="alerts per second")
    parser.add_argument("--background", type=float, default=48_300.0,
                        help="background telemetry, messages/s")
    parser.add_argument("--devices", type=int, default=10_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, mosquitto() as broker_port:
        work = Path(tmp)
        text = yaml.safe_dump(generate_site(shape_for_devices(args.devices, site_id="bench")),
                              allow_unicode=True)
        (work / "site.yaml").write_text(text, encoding="utf-8")
        site = load_site(text, "site.yaml")
        leaks = [d for d in site.devices.values() if d.kind.name == "water_leak"]
        if len(leaks) < args.alerts:
            raise SystemExit(f"site has {len(leaks)} leak detectors < {args.alerts} alerts")
        web_arrivals, mqtt_arrivals = Arrivals(), Arrivals()
        server = webhook_server(web_arrivals)
        http_port = free_port()
        (work / "hub.yaml").write_text(yaml.safe_dump({
            "site": "site.yaml", "log_level": "ERROR",
            "mqtt": {"port": broker_port, "client_id": "bench-delivery-hub"},
            "store": {"path": "data"}, "http": {"port": http_port},
            "delivery": {
                "receivers": {
                    "hook": {"channel": "webhook",
                             "url": f"http://127.0.0.1:{server.server_address[1]}/hook"},
                    "cmd": {"channel": "mqtt"}},
                "routes": [{"name": "leaks", "match": {"rules": ["water_leak"]},
                            "people": ["duty_officer"], "via": ["cmd"], "groups": ["hook"]}],
            },
        }), encoding="utf-8")
        hub = subprocess.Popen([sys.executable, "-m", "hub.cli", "--log-level", "ERROR", "run",
                                "--config", str(work / "hub.yaml")], cwd=work)
        listener = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-commands")

        def on_command(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
            message = orjson.loads(msg.payload)
            if message.get("transition") == "raised":
                mqtt_arrivals.note(message["place_id"])

        listener.on_message = on_command
        listener.connect("127.0.0.1", broker_port)
        listener.subscribe("shouwang/bench/command/#", qos=1)
        listener.loop_start()
        api = httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=5)
        try:
            wait_for_hub(api, hub)
            rng = np.random.default_rng(3)
            others = [d for d in site.devices.values() if d.kind.name != "water_leak"]
            background = [publish_packet(
                device_topic(site.id, d.id, Channel.TELEMETRY),
                orjson.dumps({**normal_values(d.kind.name, time.time(), rng, 0.5)}))
                for d in others[:5000]]
            bg, stop_bg = start_paced_publisher(broker_port, background, args.background)
            time.sleep(10)  # past the hub's warm-up: every device heard, the heap settled
            trigger = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-trigger")
            trigger.connect("127.0.0.1", broker_port)
            trigger.loop_start()
            published: dict[str, float] = {}
            backlog = 0
            for n, device in enumerate(leaks[: args.alerts]):
                if n % 50 == 0:  # once a second: readings waiting for the store
                    backlog = max(backlog,
                                  api.get("/api/health").json()["store"]["queue_depth"])
                payload = orjson.dumps({"water_leak": True})
                published[device.place.id] = time.perf_counter()
                trigger.publish(device_topic(site.id, device.id, Channel.TELEMETRY), payload,
                                qos=1)
                time.sleep(1 / args.rate)
            deadline = time.monotonic() + 30
            while (len(web_arrivals.at) < args.alerts or len(mqtt_arrivals.at) < args.alerts):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            health = api.get("/api/health").json()
            backlog = max(backlog, health["store"]["queue_depth"])
            failed_attempts = next(
                (float(line.split()[-1]) for line in api.get("/metrics").text.splitlines()
                 if line.startswith("shouwang_delivery_failed_attempts_total")), 0.0)
            stop_bg.send("stop")
            bg.join(10)
            trigger.loop_stop()
        finally:
            hub.terminate()
            hub.wait(60)
            listener.loop_stop()
            server.shutdown()
        web = [web_arrivals.at[p] - t for p, t in published.items() if p in web_arrivals.at]
        mqtt = [mqtt_arrivals.at[p] - t for p, t in published.items() if p in mqtt_arrivals.at]
        print(f"{len(site.devices)} devices; {args.alerts} alerts at {args.rate:.0f}/s over "
              f"{args.background:,.0f} msg/s background telemetry "
              f"(hub processed {health['messages'].get('telemetry', 0):,} messages)")
        print(f"  MQTT publish → webhook receiver      {percentiles(web)}")
        print(f"  MQTT publish → MQTT command topic    {percentiles(mqtt)}")
        missing = args.alerts - min(len(web), len(mqtt))
        print(f"  undelivered: {missing}; failed send attempts (retried): {failed_attempts:.0f}; "
              f"most readings waiting for the store: {backlog:,}")


if __name__ == "__main__":
    main()
