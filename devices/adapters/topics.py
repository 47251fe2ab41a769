"""Every vendor topic the hub reads, in one place: templates out (simulators), subscriptions.

The base topics are each vendor's defaults (Zigbee2MQTT `base_topic`, Frigate `topic_prefix`,
Tasmota `%prefix%` for telemetry). Parsing lives with each adapter, next to what it means.
"""

from __future__ import annotations

from devices.site import VendorFormat

Z2M_BASE = "zigbee2mqtt"
FRIGATE_BASE = "frigate"
TASMOTA_TELE = "tele"

FRIGATE_EVENTS = f"{FRIGATE_BASE}/events"
FRIGATE_AVAILABLE = f"{FRIGATE_BASE}/available"
FRIGATE_STATS = f"{FRIGATE_BASE}/stats"


def z2m_state_topic(friendly_name: str) -> str:
    return f"{Z2M_BASE}/{friendly_name}"


def z2m_availability_topic(friendly_name: str) -> str:
    return f"{Z2M_BASE}/{friendly_name}/availability"


def frigate_status_topic(camera: str, role: str) -> str:
    return f"{FRIGATE_BASE}/{camera}/status/{role}"


def tasmota_sensor_topic(topic: str) -> str:
    return f"{TASMOTA_TELE}/{topic}/SENSOR"


def tasmota_lwt_topic(topic: str) -> str:
    return f"{TASMOTA_TELE}/{topic}/LWT"


SUBSCRIPTIONS: dict[VendorFormat, tuple[str, ...]] = {
    # The whole tree: an unmapped device is then seen (and quarantined), not silently missed.
    VendorFormat.ZIGBEE2MQTT: (f"{Z2M_BASE}/#",),
    # Not `frigate/#`: it carries JPEG snapshots and per-object counters the hub has no use for.
    VendorFormat.FRIGATE: (FRIGATE_AVAILABLE, FRIGATE_EVENTS, FRIGATE_STATS,
                           frigate_status_topic("+", "+")),
    # tele/<topic>/STATE is the same period as SENSOR and says nothing the hub maps.
    VendorFormat.TASMOTA: (tasmota_sensor_topic("+"), tasmota_lwt_topic("+")),
}

BASES: dict[str, VendorFormat] = {
    Z2M_BASE: VendorFormat.ZIGBEE2MQTT,
    FRIGATE_BASE: VendorFormat.FRIGATE,
    TASMOTA_TELE: VendorFormat.TASMOTA,
}
"""The first topic level each vendor format owns."""
