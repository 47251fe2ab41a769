"""Every MQTT topic the hub speaks, in one place: templates out, parsing in.

Canonical device topics (ARCHITECTURE.md):
    shouwang/<site>/dev/<device_id>/telemetry | event | availability
Hub output:
    shouwang/<site>/alerts/<category>/<alert_id>   alert transitions (QoS 1)
    shouwang/<site>/command/...                    messages to responders and speakers
Gateways (the simulators' today; the hub does not read it yet):
    shouwang/<site>/gateway/<gateway>/status       online / offline, retained (its will)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

ROOT = "shouwang"


class Channel(Enum):
    TELEMETRY = "telemetry"
    EVENT = "event"
    AVAILABILITY = "availability"


_CHANNELS = {c.value: c for c in Channel}


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    site: str
    device_id: str
    channel: Channel


def parse_device_topic(topic: str) -> DeviceTopic | None:
    """The typed key of a canonical device topic, or None when it is not one."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != ROOT or parts[2] != "dev":
        return None
    channel = _CHANNELS.get(parts[4])
    if channel is None or not parts[1] or not parts[3]:
        return None
    return DeviceTopic(parts[1], parts[3], channel)


def device_topic(site: str, device_id: str, channel: Channel) -> str:
    return f"{ROOT}/{site}/dev/{device_id}/{channel.value}"


def device_subscription(site: str) -> str:
    return f"{ROOT}/{site}/dev/+/+"


def alert_topic(site: str, category: str, alert_id: str) -> str:
    return f"{ROOT}/{site}/alerts/{category}/{alert_id}"


def alerts_subscription(site: str) -> str:
    return f"{ROOT}/{site}/alerts/#"


def hub_status_topic(site: str) -> str:
    """Retained online/offline of the hub itself (its MQTT last will)."""
    return f"{ROOT}/{site}/hub/status"


# ---------------------------------------------------------------- three-level command
# Community hub ⇄ sub-district / city command centre, over an MQTT bridge or shared broker.

def rollup_topic(site: str) -> str:
    """Hub → centre: one-minute roll-ups of telemetry (QoS 1)."""
    return f"{ROOT}/{site}/rollup/1m"


def centre_ack_topic(site: str) -> str:
    """Centre → hub: an acknowledgement made at the command centre (QoS 1)."""
    return f"{ROOT}/{site}/centre/ack"


def cap_in_topic(site: str) -> str:
    """Centre or early-warning feed → one community: a CAP 1.2 document (QoS 1)."""
    return f"{ROOT}/{site}/cap/in"


CAP_ALL_TOPIC = f"{ROOT}/cap/all"
"""City or national early warning to every community at once; each hub filters by area."""


def warnings_topic(site: str) -> str:
    """Hub → out, retained: external warnings in force for this community."""
    return f"{ROOT}/{site}/warnings"


def gateway_status_topic(site: str, gateway: str) -> str:
    """Retained online/offline of a gateway, its will when the connection drops."""
    return f"{ROOT}/{site}/gateway/{gateway}/status"
