"""Vendor formats onto the canonical device model: Zigbee2MQTT, Frigate and Tasmota.

A site device opts in with `vendor: {format: zigbee2mqtt | frigate | tasmota, name: ...}`;
the hub subscribes to `vendor_subscriptions(site)` and hands every non-canonical topic to a
`VendorRouter`, which returns the same `Telemetry` / `DeviceEvent` / `Availability` records a
canonical payload decodes to (plus partial `FieldProblem`s), or raises `DecodeError`. A vendor
device no site device maps is rejected as `unmapped_vendor_device`.

Pure like the rest of `devices/`: no I/O, no clock reads. Each format's mapping decisions are
documented in its module; the simulators use the same modules' encoders.
"""

from __future__ import annotations

from devices.adapters.router import VendorMessage, VendorRouter
from devices.adapters.topics import SUBSCRIPTIONS
from devices.adapters.wire import Decoded, VendorDecodeError
from devices.site import Site

__all__ = [
    "Decoded",
    "VendorDecodeError",
    "VendorMessage",
    "VendorRouter",
    "vendor_subscriptions",
]


def vendor_subscriptions(site: Site) -> list[str]:
    """The topic filters the hub subscribes to for the vendor formats this site uses."""
    used = {d.vendor.format for d in site.devices.values() if d.vendor is not None}
    return [topic for fmt, topics in SUBSCRIPTIONS.items() if fmt in used for topic in topics]
