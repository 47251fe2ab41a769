"""`shouwang simulate`: a site's devices publishing to any broker until stopped.

Residents in the care programme live their daily routines (`simulators.routine`), so their
motion, door and bed sensors tell a day's story instead of noise. Devices connect through
gateways and will sessions (`simulators.gateway`): a clean stop (SIGINT, SIGTERM, the end of
`--duration`) publishes every device `offline`; after `kill -9` the broker publishes the wills.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time

from devices.site import Site
from simulators.driver import Community
from simulators.fleet import Fleet
from simulators.gateway import DeviceWills, FleetLink
from simulators.routine import Routines

logger = logging.getLogger(__name__)


async def simulate(site: Site, host: str, port: int, *, interval_scale: float = 1.0,
                   duration_s: float | None = None, routines: bool = True,
                   device_wills: DeviceWills = "ip", seed: int = 1,
                   username: str | None = None, password: str | None = None) -> None:
    fleet = Fleet(site, interval_scale=interval_scale, seed=seed)
    residents = Routines(site, seed=seed) if routines else None
    link = FleetLink(site, host, port, device_wills=device_wills, username=username,
                     password=password)
    await asyncio.to_thread(link.open)
    community = Community(fleet, link, residents)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    if duration_s is not None:
        loop.call_later(duration_s, stop.set)
    logger.info("simulating %d devices of %s to mqtt://%s:%d through %d gateways, "
                "%d device wills, %d residents' routines", len(site.devices), site.id, host,
                port, link.gateway_count, link.session_count,
                len(residents.homes) if residents else 0)
    try:
        community.start(time.time())
        await community.run(stop, time.time)
    finally:
        await asyncio.to_thread(link.close, offline=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
        logger.info("sent %d messages; every device now says offline", link.sent)
