"""Prometheus metrics of one hub, on its own registry (several hubs may share a process).

Hot-path counts are plain ints kept by the pipeline and read here at scrape time; a
Prometheus `inc()` per message would cost more than decoding the message.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.store.base import ReadingStore, ReadingTuple

if TYPE_CHECKING:
    from hub.service import Hub


class HubCollector(Collector):
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def collect(self) -> Iterator[Metric]:
        hub = self._hub
        stats = hub.pipeline.stats
        received = CounterMetricFamily("shouwang_messages_received",
                                       "Device messages accepted, by kind", labels=["kind"])
        for kind, count in sorted(stats.messages.items()):
            received.add_metric([kind], count)
        yield received
        quarantined = CounterMetricFamily("shouwang_messages_quarantined",
                                          "Bad input set aside, by reason", labels=["reason"])
        for reason, count in sorted(hub.quarantine.counts.items()):
            quarantined.add_metric([reason], count)
        yield quarantined
        yield CounterMetricFamily("shouwang_readings_stored", "Readings written to the store",
                                  value=hub.writer.written)
        yield CounterMetricFamily("shouwang_store_write_failures",
                                  "Store write attempts that failed (retried)",
                                  value=hub.writer.failures)
        yield GaugeMetricFamily("shouwang_store_queue_depth",
                                "Readings waiting for the store writer", value=hub.writer.pending)
        yield GaugeMetricFamily("shouwang_mqtt_inbox_depth",
                                "Messages received, not yet processed", value=hub.link.inbox_depth)
        yield GaugeMetricFamily("shouwang_mqtt_connected", "1 while connected to the broker",
                                value=1.0 if hub.link.connected else 0.0)
        yield CounterMetricFamily("shouwang_mqtt_reconnects", "Broker connections lost",
                                  value=hub.link.stats.disconnects)
        alerts = GaugeMetricFamily("shouwang_alerts", "Alerts by state", labels=["state"])
        alerts.add_metric(["active"], len(hub.alerts.active))
        yield alerts
        yield CounterMetricFamily("shouwang_alert_transitions", "Alert transitions recorded",
                                  value=hub.alerts.transitions)
        heap = hub.heap.stats
        yield GaugeMetricFamily("shouwang_heap_frozen_objects", "Long-lived objects kept out "
                                "of the cycle collector's way (hub.heap), counted at the first "
                                "settle and at each hourly full collection", value=heap.frozen)
        yield GaugeMetricFamily("shouwang_heap_last_pause_seconds", "How long the last heap "
                                "settle or hourly full collection held the hub up",
                                value=heap.last_pause_s)
        yield CounterMetricFamily("shouwang_rule_evaluation_seconds",
                                  "Time spent in the rules engine", value=stats.rule_seconds)
        yield CounterMetricFamily("shouwang_rule_evaluations",
                                  "Messages evaluated by the rules engine",
                                  value=stats.rule_evaluations)
        yield GaugeMetricFamily("shouwang_devices_online", "Devices heard from recently",
                                value=hub.registry.online_count)
        yield GaugeMetricFamily("shouwang_devices", "Devices in the site",
                                value=len(hub.site.devices))
        vendor = hub.pipeline.vendor
        ignored = CounterMetricFamily("shouwang_vendor_messages_ignored",
                                      "Vendor messages skipped on purpose (bridge state, "
                                      "commands)", labels=["what"])
        for what, count in sorted(vendor.ignored.items()):
            ignored.add_metric([what], count)
        yield ignored
        yield CounterMetricFamily("shouwang_vendor_messages_superseded",
                                  "Vendor state messages replaced by a later one in the batch",
                                  value=vendor.superseded)
        yield from _spill_metrics(hub.store.inner)
        dispatcher = hub.dispatcher
        if dispatcher is not None:
            deliveries = GaugeMetricFamily("shouwang_deliveries", "Outbox messages by state",
                                           labels=["receiver", "state"])
            for (receiver, state), count in sorted(hub.db.delivery_counts().items()):
                deliveries.add_metric([receiver, state], count)
            yield deliveries
            yield CounterMetricFamily("shouwang_delivery_failed_attempts",
                                      "Send attempts that failed (retried or fell back)",
                                      value=dispatcher.failed_attempts)


def _spill_metrics(store: object) -> Iterator[Metric]:
    """The InfluxDB store's on-disk buffer of readings the server has not taken yet."""
    if not hasattr(store, "backlog_bytes"):
        return
    yield GaugeMetricFamily("shouwang_store_spill_bytes", "Readings waiting on disk for the "
                            "time-series server", value=store.backlog_bytes)
    for name, help_text in (("spilled_total", "Batches spilled while the server was down"),
                            ("replayed_total", "Spilled batches sent once it came back"),
                            ("dropped_total", "Readings dropped (cap hit or unwritable)")):
        yield CounterMetricFamily(f"shouwang_store_{name.removesuffix('_total')}", help_text,
                                  value=getattr(store, name))


def write_latency_histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram("shouwang_store_write_seconds", "Duration of one batched store write",
                     buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
                     registry=registry)


class TimedStore:
    """A ReadingStore that records how long each batched write takes."""

    def __init__(self, inner: ReadingStore, histogram: Histogram) -> None:
        self._inner = inner
        self._histogram = histogram

    @property
    def inner(self) -> ReadingStore:
        return self._inner

    def write(self, readings: Sequence[ReadingTuple]) -> None:
        started = time.perf_counter()
        self._inner.write(readings)
        self._histogram.observe(time.perf_counter() - started)

    def query(self, device_id: str, metric: str, start: float, end: float,
              limit: int = 10_000) -> list[tuple[float, float]]:
        return self._inner.query(device_id, metric, start, end, limit)

    def query_aggregate(self, device_id: str, metric: str, start: float, end: float,
                        every_s: float) -> list[tuple[float, float, float, float, int]]:
        return self._inner.query_aggregate(device_id, metric, start, end, every_s)

    def metrics_of(self, device_id: str) -> list[str]:
        return self._inner.metrics_of(device_id)

    def count(self) -> int:
        return self._inner.count()

    def close(self) -> None:
        self._inner.close()
