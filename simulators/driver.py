"""A simulated community in motion: what `shouwang simulate` and scenario runs both drive.

The fleet's periodic reports, the residents' routines, values a scenario holds (a fire's
temperature, a meter off mains), events, devices that fall silent or say they are offline —
all published through the gateways of a `FleetLink`. Time is whatever clock the caller
passes in: the wall clock for `simulate`, the hub's simulated clock for a scenario.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

from simulators.fleet import Fleet
from simulators.gateway import FleetLink
from simulators.routine import DAY_S, Routines, Sensor
from simulators.signals import Values

logger = logging.getLogger(__name__)

HOLD_S = 365 * DAY_S
"""How long a held value lasts unless changed: for good, in practice."""


class Community:
    def __init__(self, fleet: Fleet, link: FleetLink, routines: Routines | None = None) -> None:
        self.fleet = fleet
        self.link = link
        self.routines = routines
        self.muted: set[str] = set()
        """Devices that have stopped reporting (a cut cable, no power)."""

    @property
    def site_id(self) -> str:
        return self.fleet.site.id

    def start(self, now: float) -> None:
        """Every device says it is online and reports once; the routines take their places;
        then the fleet reports on its own schedule."""
        self.link.announce()
        routine_values = dict(self.routines.start(now)) if self.routines is not None else {}
        for device_id in self.fleet.site.devices:
            values = routine_values.get(device_id)
            if values is not None:
                self.set_values(device_id, values, now)
            elif device_id not in self.muted:
                self._send(device_id, *self.fleet.telemetry(device_id, now))
        self.fleet.start(now)

    def step(self, now: float) -> None:
        """Whatever is due by `now`: routine changes, then periodic reports."""
        if self.routines is not None:
            for device_id, values in self.routines.due(now):
                self.set_values(device_id, values, now)
        for topic, payload in self.fleet.due(now):
            speaker = self.link.topics.device_of(topic, payload)
            if speaker is None or speaker not in self.muted:
                self.link.publish(topic, payload, device=speaker)

    def set_values(self, device_id: str, values: Values, now: float,
                   hold_s: float = HOLD_S) -> None:
        """The device reports `values` now and in its periodic reports for `hold_s`."""
        self._send(device_id, *self.fleet.inject(device_id, values, now, hold_s))

    def restore(self, device_id: str, now: float) -> None:
        """Back to normal — the routine's state for a routine device, else the signal
        model — and report once now."""
        routine = self.routines.reading(device_id) if self.routines is not None else None
        if routine is not None:
            self.set_values(device_id, routine, now)
        else:
            self._send(device_id, *self.fleet.inject(device_id, {}, now, 0.0))

    def event(self, device_id: str, event_type: str, now: float) -> None:
        self._send(device_id, *self.fleet.event(device_id, event_type, now))

    def set_available(self, device_id: str, online: bool) -> None:
        self.link.set_available(device_id, online)

    def mute(self, device_id: str, muted: bool = True) -> None:
        if muted:
            self.muted.add(device_id)
        else:
            self.muted.discard(device_id)

    def hold_home(self, unit: str, now: float, active: Mapping[Sensor, bool] | None = None
                  ) -> None:
        if self.routines is None:
            return
        for device_id, values in self.routines.hold(unit, now, active):
            self.set_values(device_id, values, now)

    def resume_home(self, unit: str, now: float) -> None:
        if self.routines is None:
            return
        for device_id, values in self.routines.resume(unit, now):
            self.set_values(device_id, values, now)

    def _send(self, device_id: str, topic: str, payload: bytes) -> None:
        if device_id not in self.muted:
            self.link.publish(topic, payload, device=device_id)

    async def run(self, stop: asyncio.Event, clock: Callable[[], float], *,
                  step_s: float = 0.2) -> None:
        """Step until `stop` is set (the caller has called `start`)."""
        while not stop.is_set():
            self.step(clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), step_s)
