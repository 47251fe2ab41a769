"""The live alert feed behind `/api/alerts/live`: a snapshot of the active alerts, then each
transition as the AlertBook stores it, fanned out to every connected page.

Each transition is encoded once and queued for every subscriber. A subscriber that falls
behind by more than `MAX_PENDING` messages (a frozen browser tab) does not hold the others
up or grow without bound: its queue is dropped and it is sent a fresh snapshot instead.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque

import orjson

from devices.site import Site
from hub.api.alertview import alert_view
from hub.service import Hub
from hub.statedb import AlertEvent, AlertRecord
from rules.schema import Severity

logger = logging.getLogger(__name__)

MAX_PENDING = 2000


def board_order(alerts: list[dict[str, object]]) -> list[dict[str, object]]:
    """Most severe first, newest first within a severity."""
    def key(a: dict[str, object]) -> tuple[int, float]:
        raised = a["raised_at"]
        return (-Severity(a["severity"]).rank,
                -(raised if isinstance(raised, float | int) else 0.0))
    return sorted(alerts, key=key)


class Subscriber:
    """One connected page: its queue of encoded messages."""

    def __init__(self) -> None:
        self._pending: deque[str] = deque()
        self._wake = asyncio.Event()
        self.resync = False
        self.closed = False

    def push(self, message: str) -> None:
        if len(self._pending) >= MAX_PENDING:
            self._pending.clear()
            self.resync = True
        else:
            self._pending.append(message)
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def next(self, quiet_s: float) -> list[str]:
        """What has queued up since the last call (empty after `quiet_s` of quiet)."""
        if not self._pending and not self.resync and not self.closed:
            try:
                async with asyncio.timeout(quiet_s):
                    await self._wake.wait()
            except TimeoutError:
                return []
        self._wake.clear()
        out = list(self._pending)
        self._pending.clear()
        return out


class LiveFeed:
    """Made on the event loop; told of transitions from whichever thread stores them."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._subscribers: set[Subscriber] = set()
        self._stop = hub.alerts.listen(self._on_transition)
        self.sent = 0

    @property
    def site(self) -> Site:
        return self._hub.site

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def close(self) -> None:
        self._stop()
        for subscriber in self._subscribers:
            subscriber.close()
        self._subscribers.clear()

    def snapshot(self) -> str:
        hub = self._hub
        alerts = board_order([alert_view(hub, a) for a in list(hub.alerts.active.values())])
        return orjson.dumps({"type": "snapshot", "now": hub.clock.now(),
                             "alerts": alerts}).decode()

    def heartbeat(self) -> str:
        return orjson.dumps({"type": "heartbeat", "now": self._hub.clock.now()}).decode()

    def subscribe(self) -> tuple[Subscriber, str]:
        """A new subscriber and the snapshot to send it first. Called on the loop: no
        transition can slip between the two."""
        subscriber = Subscriber()
        self._subscribers.add(subscriber)
        return subscriber, self.snapshot()

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        subscriber.close()

    def _on_transition(self, alert: AlertRecord, event: AlertEvent) -> None:
        if not self._subscribers:
            return
        hub = self._hub
        message = orjson.dumps({
            "type": "transition", "transition": event.transition, "ts": event.ts,
            "now": hub.clock.now(), "by": event.user, "note": event.note,
            "outcome": event.outcome, "alert": alert_view(hub, alert)}).decode()
        if threading.get_ident() == self._loop_thread:
            self._broadcast(message)
        else:
            self._loop.call_soon_threadsafe(self._broadcast, message)

    def _broadcast(self, message: str) -> None:
        for subscriber in self._subscribers:
            subscriber.push(message)
