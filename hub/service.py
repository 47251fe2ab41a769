"""The hub: wires MQTT ingest, the store writer, the rules engine and alerts together.

`async with Hub(config) as hub:` starts everything; leaving it drains what was received
(messages already acknowledged to the broker are processed and stored, not dropped) and
closes the stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry

from devices.adapters import vendor_subscriptions
from devices.topics import device_subscription, hub_status_topic
from hub.alerts import AlertBook
from hub.capsign import CapSigner
from hub.centre.link import CommunityLink
from hub.clock import Clock, SimulatedClock, SystemClock
from hub.config import HubConfig
from hub.delivery.dispatcher import Dispatcher, ReceiverPolicy
from hub.delivery.planner import DeliveryPlanner
from hub.delivery.receivers import build_channels
from hub.heap import HeapKeeper
from hub.metrics import HubCollector, TimedStore, write_latency_histogram
from hub.mqtt import MqttLink, MqttOptions, RawMessage
from hub.pipeline import IngestPipeline
from hub.quarantine import Quarantine
from hub.registry import DeviceRegistry
from hub.statedb import StateDB
from hub.store import open_reading_store
from hub.store.process import ProcessStore
from hub.store.sqlite_readings import Retention
from hub.store.writer import ReadingWriter
from hub.tasks import cancel_and_wait
from hub.warnings import WarningBoard
from rules.engine import RulesEngine

logger = logging.getLogger(__name__)

TICK_S = 1.0
INGEST_BATCH = 100
"""Messages decoded per turn of the loop (~1 ms): a warning raised early in a large read goes
out before the rest of that read is decoded, and a webhook, which needs several turns of the
loop, waits ~1 ms for each rather than a whole read's worth."""
DEVICE_FLUSH_S = 5.0
PRUNE_EVERY_S = 3600.0
SWITCH_INTERVAL_S = 0.0005
MISSED_REPORTS_OFFLINE = 2.0
"""A device is shown offline after this many report intervals of silence."""


class Hub:
    def __init__(self, config: HubConfig, *, clock: Clock | None = None,
                 mqtt: MqttOptions | None = None) -> None:
        self.config = config
        self.site = config.site
        if clock is None and config.spec.clock.kind == "simulated":
            clock = SimulatedClock(speed=config.spec.clock.speed)
        self.clock: Clock = clock or SystemClock()
        self._simulated = isinstance(self.clock, SimulatedClock)
        self._mqtt_options = mqtt or config.mqtt_options()
        self.quarantine = Quarantine()
        cap = config.spec.cap
        self.cap_signer = None if cap.sign_key_file is None or cap.sign_cert_file is None else \
            CapSigner.from_files(config.resolve(cap.sign_key_file),
                                 config.resolve(cap.sign_cert_file))
        self.metrics_registry = CollectorRegistry(auto_describe=True)
        self.registry = DeviceRegistry(list(self.site.devices))
        self._tasks: list[asyncio.Task[None]] = []
        self.dispatcher: Dispatcher | None = None
        self.federation: CommunityLink | None = None
        """The link to the command centre (config `federation:`); None without one."""
        self.warnings: WarningBoard | None = None
        """External warnings in force (CAP from the centre or feeds), with `federation:`."""
        self._peel: dict[str, Callable[[RawMessage], None]] = {}
        self.heap = HeapKeeper()
        self._started = False
        # Opened in start(): they touch disk and the network.
        self.store: TimedStore
        self.writer: ReadingWriter
        self.db: StateDB
        self.link: MqttLink
        self.engine: RulesEngine
        self.alerts: AlertBook
        self.pipeline: IngestPipeline

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Open the stores, connect, start the tasks. A start that fails part way (a broker
        refusing the password) closes what it had opened: the store's process, the writer
        thread, hub.db and the tasks, none of which would otherwise end with the attempt."""
        async with contextlib.AsyncExitStack() as undo:
            await self._start(undo)
            undo.pop_all()  # started: stop() takes everything down, in its own order

    async def _start(self, undo: contextlib.AsyncExitStack) -> None:
        # Set when paho's network thread starved behind the store writer under the default
        # 5 ms. Both now live elsewhere (hub.mqtt on the loop, the store in its own process);
        # the threads left (the writer pickling batches, to_thread flushes) hand the GIL back
        # to the loop within 0.5 ms. Re-measured without paho: the default 5 ms was no better
        # (docs/delivery-latency.md), so this stays.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        data_dir: Path = self.config.data_dir
        await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
        now = self.clock.now()
        self.db = StateDB(data_dir / "hub.db")
        undo.callback(self.db.close)
        store = self.config.spec.store
        token = self.config.secrets.influx_token
        raw_store = await asyncio.to_thread(
            open_reading_store, store.kind, data_dir=data_dir, site=self.site, url=store.url,
            org=store.org, bucket=store.bucket, database=store.database,
            token=token.get_secret_value() if token else None,
            spill_cap_bytes=store.spill_cap_mb * 2**20,
            retention=Retention(store.raw_retention, store.minute_retention,
                                store.hour_retention), idle_cpu=store.idle_cpu)
        undo.push_async_callback(asyncio.to_thread, raw_store.close)
        self.store = TimedStore(raw_store, write_latency_histogram(self.metrics_registry))
        self.writer = ReadingWriter(self.store, idle_cpu=store.idle_cpu)
        self.writer.start()
        undo.push_async_callback(asyncio.to_thread, self.writer.stop)
        self.registry.restore(self.db.load_devices())
        self.link = MqttLink(self._mqtt_options, on_connect=self._announce_online)
        undo.push_async_callback(self.link.close)
        self.engine = RulesEngine(self.site, self.config.rules, started=now)
        self.engine.restore_last_seen(dict(self.registry.last_seen))
        saved = self.db.load_engine_state()
        if saved is not None:
            # Pending `for:` timers, event windows and baselines carry over the restart.
            self.engine.restore(orjson.loads(saved[1]))
            logger.info("rule state restored from %.0f s ago", now - saved[0])
        self.dispatcher = self._dispatcher()
        planner = None
        if self.config.policy is not None and self.config.spec.delivery is not None:
            planner = DeliveryPlanner(self.site, self.config.policy,
                                      public_url=self.config.spec.delivery.public_url)
        self.alerts = AlertBook(self.site, self.db, self._publish_alert, self.config.rules,
                                forget=self.engine.forget, planner=planner,
                                on_outbox=self.dispatcher.wake if self.dispatcher else None)
        for alert in self.alerts.active.values():
            self.engine.restore_firing(alert.rule_id, alert.device_id)
        self.pipeline = IngestPipeline(self.site, self.engine, self.alerts, self.registry,
                                       self.quarantine)
        self.link.subscribe(device_subscription(self.site.id), qos=1)
        for topic in vendor_subscriptions(self.site):
            self.link.subscribe(topic, qos=1)
        if self.config.spec.federation is not None:
            self.federation = CommunityLink(
                self.config, self.config.spec.federation, publish=self.link.publish,
                alerts=self.alerts, outbox=self.db, clock=self.clock,
                wake=self.dispatcher.wake if self.dispatcher else None)
            self.warnings = self.federation.warnings
            self._peel = self.federation.topics
            for topic in self._peel:
                self.link.subscribe(topic, qos=1)
        await self.link.connect()
        self.metrics_registry.register(HubCollector(self))
        self._tasks = [asyncio.create_task(self._ingest(), name="ingest"),
                       asyncio.create_task(self._tick(), name="tick")]
        if self.dispatcher is not None:
            self._tasks.append(asyncio.create_task(self.dispatcher.run(), name="dispatch"))
        undo.push_async_callback(cancel_and_wait, self._tasks)
        if self.federation is not None:
            await self.federation.start()
        self._started = True
        logger.info("hub for %s (%s) started: %d devices, %d rules, data in %s",
                    self.site.name, self.site.id, len(self.site.devices),
                    len(self.engine.rules), data_dir)

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self.dispatcher is not None:
            await self.dispatcher.close()
        if self.federation is not None:
            await self.federation.stop()  # the last roll-ups go out while still connected
        await self.link.close()
        await cancel_and_wait(self._tasks)
        # What paho already acknowledged to the broker is ours to keep: finish it.
        while self.link.inbox_depth:
            batch = _peel(await self.link.next_batch(), self._peel)
            readings = self.pipeline.process(batch, self.clock.now())
            if readings:
                await self.writer.submit(readings)
        await asyncio.to_thread(self.writer.stop)
        self._flush_devices()
        self._save_engine_state()
        await asyncio.to_thread(self.store.close)
        if self.federation is not None:
            await self.federation.close()
        self.db.close()
        self.heap.release()
        logger.info("hub stopped")

    # ------------------------------------------------------------------ tasks

    async def _ingest(self) -> None:
        link, pipeline, writer, clock = self.link, self.pipeline, self.writer, self.clock
        peel = self._peel
        rollup = self.federation.rollup if self.federation is not None else None
        while True:
            batch = await link.next_batch(INGEST_BATCH)
            if peel:
                batch = _peel(batch, peel)
            if self._simulated:
                # Devices of a simulation live in simulated time: judge them by it.
                now = clock.now()
                batch = [(topic, payload, now) for topic, payload, _ in batch]
            try:
                readings = pipeline.process(batch, clock.now())
            except Exception:
                # A bug must not stop ingest for the whole community; it is loud instead.
                logger.exception("ingest batch of %d messages failed", len(batch))
                continue
            if readings:
                if rollup is not None:
                    rollup.add(readings)
                await writer.submit(readings)

    async def _tick(self) -> None:
        since_flush = 0.0
        since_prune = PRUNE_EVERY_S  # prune once soon after start, then hourly
        while True:
            await asyncio.sleep(TICK_S)
            try:
                now = self.clock.now()
                self.pipeline.apply(self.engine.tick(now))
                self.alerts.settle_flapping(now)
                self.alerts.escalate(now)
                since_flush += TICK_S
                if since_flush >= DEVICE_FLUSH_S:
                    since_flush = 0.0
                    self._mark_late_devices(now)
                    await asyncio.to_thread(self._flush_devices)
                    # The snapshot on the loop (consistent), the write in a thread.
                    await asyncio.to_thread(self.db.save_engine_state, self.clock.now(),
                                            self._engine_state())
                self.heap.tick(TICK_S)
                since_prune += TICK_S
                if since_prune >= PRUNE_EVERY_S:
                    since_prune = 0.0
                    await self._prune()
            except Exception:
                logger.exception("periodic rule evaluation failed")

    async def _prune(self) -> None:
        """Retention: raw readings, then minute and hour roll-ups, past their age."""
        store = self.store.inner
        if isinstance(store, ProcessStore):  # SQLite: open_reading_store runs it in a child
            pruned = await asyncio.to_thread(store.prune, self.clock.now())
            if pruned.readings or pruned.minute_buckets or pruned.hour_buckets:
                logger.info("retention: pruned %d readings, %d minute and %d hour buckets",
                            pruned.readings, pruned.minute_buckets, pruned.hour_buckets)

    def _save_engine_state(self) -> None:
        self.db.save_engine_state(self.clock.now(), self._engine_state())

    def _engine_state(self) -> str:
        return orjson.dumps(self.engine.snapshot(), option=orjson.OPT_NON_STR_KEYS).decode()

    def _mark_late_devices(self, now: float) -> None:
        late = []
        for device_id, last in self.registry.last_seen.items():
            device = self.site.devices[device_id]
            if now - last > MISSED_REPORTS_OFFLINE * device.kind.report_interval_s:
                late.append(device_id)
        self.registry.mark_offline(late)

    def _flush_devices(self) -> None:
        rows = self.registry.take_dirty()
        if rows:
            self.db.save_devices(rows)

    def _dispatcher(self) -> Dispatcher | None:
        spec = self.config.spec.delivery
        if spec is None:
            return None
        channels = build_channels(spec, publish=self.link.publish, timezone=self.site.timezone,
                                  env=os.environ)
        policies = {name: ReceiverPolicy(r.fallback, r.fallback_after, r.concurrency)
                    for name, r in spec.receivers.items()}
        return Dispatcher(self.db, channels, policies, self.clock,
                          retry_first_s=spec.retry.first, retry_max_s=spec.retry.max)

    # ------------------------------------------------------------------ MQTT out

    def _publish_alert(self, topic: str, payload: bytes) -> None:
        self.link.publish(topic, payload, qos=1)

    def _announce_online(self) -> None:
        self.link.publish(hub_status_topic(self.site.id), b"online", qos=1, retain=True)


def _peel(batch: list[RawMessage], handlers: dict[str, Callable[[RawMessage], None]]
          ) -> list[RawMessage]:
    """Hand messages on the federation's exact topics to their handler; the rest are the
    pipeline's. One dict lookup per message; nothing more when none of them is ours."""
    if not handlers:
        return batch
    kept = [m for m in batch if m[0] not in handlers]
    if len(kept) != len(batch):
        for m in batch:
            handler = handlers.get(m[0])
            if handler is not None:
                handler(m)
    return kept
