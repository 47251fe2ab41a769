"""`shouwang simulate`: a site's devices publishing to any broker until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from devices.site import Site
from simulators.fleet import Fleet, connect_publisher, publish_fleet

logger = logging.getLogger(__name__)


async def simulate(site: Site, host: str, port: int, *, interval_scale: float = 1.0,
                   duration_s: float | None = None) -> None:
    fleet = Fleet(site, interval_scale=interval_scale)
    client = await asyncio.to_thread(connect_publisher, host, port, f"shouwang-sim-{site.id}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    if duration_s is not None:
        loop.call_later(duration_s, stop.set)
    logger.info("simulating %d devices of %s to mqtt://%s:%d", len(site.devices), site.id,
                host, port)
    try:
        await publish_fleet(fleet, client, stop)
    finally:
        client.disconnect()
        client.loop_stop()
        logger.info("sent %d telemetry messages", fleet.sent)
