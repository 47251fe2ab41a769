"""Replay recorded readings through rules and list the alerts they would raise — how an
engineer tunes a rule before deploying it (like Kapacitor's replay).

Readings file: JSON lines, one message each, time in epoch seconds or ISO 8601:

    {"ts": 1764120000, "device": "b1-101-heat", "temperature": 61.5}
    {"ts": "2026-11-26T08:00:00+08:00", "device": "b1-101-sos", "event": "sos"}
    {"ts": 1764120300, "device": "b1-f1-cam", "availability": "offline"}

Pure: the caller reads the files; time is the readings' own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import orjson

from devices.codec import DecodeError, decode_telemetry, parse_ts
from devices.messages import Availability, DeviceEvent, DeviceMessage
from devices.site import Site
from rules.engine import Decision, Raise, RulesEngine
from rules.schema import Rule

_FAR_FUTURE = 1e12


class ReplayError(ValueError):
    """A line of the readings file is wrong; says which line and what."""


@dataclass(frozen=True, slots=True)
class ReplayedAlert:
    ts: float
    action: str
    """`raise` or `clear`."""
    rule_id: str
    severity: str
    subject: str
    device: str
    value: float | None


def parse_readings(lines: Iterable[str], site: Site, source: str) -> Iterator[DeviceMessage]:
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{source}:{number}"
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ReplayError(f"{where}: not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ReplayError(f"{where}: expected a JSON object")
        device = site.devices.get(str(data.pop("device", "")))
        if device is None:
            raise ReplayError(f"{where}: no such device in site {site.id!r}")
        try:
            ts = parse_ts(data.get("ts"), _FAR_FUTURE)
            if "event" in data:
                yield DeviceEvent(device.id, ts, str(data["event"]))
            elif "availability" in data:
                yield Availability(device.id, ts, data["availability"] == "online")
            else:
                telemetry, problems = decode_telemetry(device, orjson.dumps(data), ts)
                if problems:
                    raise ReplayError(f"{where}: {problems[0].detail}")
                yield telemetry
        except DecodeError as exc:
            raise ReplayError(f"{where}: {exc.detail}") from None


def replay(site: Site, rules: Iterable[Rule], messages: Iterable[DeviceMessage], *,
           tick_s: float = 1.0) -> list[ReplayedAlert]:
    """Feed messages in file order, ticking the engine through the time between them."""
    engine: RulesEngine | None = None
    out: list[ReplayedAlert] = []
    clock = -math.inf
    rule_list = list(rules)
    for message in messages:
        if engine is None:
            engine = RulesEngine(site, rule_list, started=message.ts)
            clock = message.ts
        # Tick through the gap so held conditions and timers fire when they would have;
        # long gaps are stepped coarser (a day of silence need not cost 86,400 ticks).
        gap = message.ts - clock
        step = tick_s if gap <= 3600 else max(tick_s, gap / 3600)
        while clock + step < message.ts:
            clock += step
            out += _record(engine.tick(clock))
        clock = max(clock, message.ts)
        if isinstance(message, DeviceEvent):
            out += _record(engine.on_event(message, message.ts))
        elif isinstance(message, Availability):
            out += _record(engine.on_availability(message, message.ts))
        else:
            out += _record(engine.on_telemetry(message, message.ts))
        out += _record(engine.tick(message.ts))
    return out


def _record(decisions: list[Decision]) -> list[ReplayedAlert]:
    return [
        ReplayedAlert(d.ts, "raise" if isinstance(d, Raise) else "clear", d.rule.id,
                      ((d.severity or d.rule.severity) if isinstance(d, Raise)
                       else d.rule.severity).value,
                      d.subject.id, d.device_id, d.value if isinstance(d, Raise) else None)
        for d in decisions
    ]
