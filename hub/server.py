"""Serve a running hub's HTTP API with uvicorn, in the current event loop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

import uvicorn

from hub.api.app import create_app
from hub.service import Hub


class SignalAwareServer(uvicorn.Server):
    """uvicorn re-raises SIGINT/SIGTERM after shutting down, which would turn a clean stop
    into a KeyboardInterrupt mid-way through the hub's own shutdown. We take the signals
    ourselves and let `serve()` return, so the hub drains and closes its stores."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._request_exit)
                installed.append(sig)
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    def _request_exit(self) -> None:
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True


async def serve(hub: Hub, host: str, port: int) -> None:
    """Until SIGINT or SIGTERM; then return so the caller can stop the hub cleanly."""
    config = uvicorn.Config(create_app(hub, manage=False), host=host, port=port,
                            log_level="warning", lifespan="on")
    await SignalAwareServer(config).serve()
