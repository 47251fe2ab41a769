"""The dispatcher: sends what the outbox owes, at least once, never blocking one channel on
another.

Rows are written with their alert transition in one transaction (hub.db); the dispatcher
picks up due rows, merges rows of one group (`group_by` / `group_wait`) into one message with
a count, sends under a per-receiver concurrency limit, and records the outcome. A failure is
retried with exponential backoff and jitter; after `fallback_after` failed attempts, or at
once when retrying cannot help, the message goes to the receiver's fallback. Rows still
pending when the hub dies are simply due again when it starts: receivers see the same
idempotency key and act on it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace

import orjson

from hub.channels.base import Channel, DeliveryResult, Notification, Recipient
from hub.channels.mqtt_command import MqttCommand
from hub.clock import Clock
from hub.statedb import Delivery, StateDB

logger = logging.getLogger(__name__)

_RANK = {"critical": 4, "major": 3, "minor": 2, "warning": 1, "info": 0}


@dataclass(frozen=True, slots=True)
class ReceiverPolicy:
    fallback: str | None = None
    fallback_after: int = 3
    concurrency: int = 4


def notification_from_json(text: str) -> Notification:
    data = orjson.loads(text)
    recipient = data.pop("recipient", None)
    return Notification(**data, recipient=Recipient(**recipient) if recipient else None)


class Dispatcher:
    def __init__(self, db: StateDB, channels: Mapping[str, Channel],
                 policies: Mapping[str, ReceiverPolicy], clock: Clock, *,
                 retry_first_s: float = 1.0, retry_max_s: float = 300.0) -> None:
        self._db = db
        self._channels = channels
        self._policies = policies
        self._clock = clock
        self._retry_first_s = retry_first_s
        self._retry_max_s = retry_max_s
        self._limits = {name: policies.get(name, ReceiverPolicy()).concurrency
                        for name in channels}
        self._busy: dict[str, int] = dict.fromkeys(channels, 0)
        """Sends under way per receiver: rows are taken from the outbox only when there is
        room, so a slow receiver's backlog stays in the outbox and never stands in front of
        another receiver's messages."""
        self._wake = asyncio.Event()
        self._in_flight: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self.sent = 0
        self.failed_attempts = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        try:
            self._fail_orphans()
        except Exception:
            logger.exception("checking the outbox for unconfigured receivers failed")
        while not self._closing:
            self._wake.clear()
            now = self._clock.now()
            try:
                # Indexed look-ups of a few rows: cheaper on the loop than a thread hop, which
                # waits for the GIL behind ingest (it cost tens of ms at p99 under load).
                for receiver, limit in self._limits.items():
                    room = limit - self._busy[receiver]
                    if room > 0:
                        self._take(receiver, now, room)
                next_due = self._db.next_due(after=now)
            except Exception:
                logger.exception("outbox scan failed; retrying")
                next_due = None
            # Rows due now but not taken wait for a receiver's send to finish, which wakes us.
            wait = 1.0 if next_due is None else min(1.0, max(0.01, next_due - now))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def close(self) -> None:
        """Let sends under way finish (briefly); what is left stays in the outbox."""
        self._closing = True  # run() takes nothing more
        self._wake.set()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        for channel in self._channels.values():
            with contextlib.suppress(Exception):
                await channel.close()

    def _take(self, receiver: str, now: float, room: int) -> None:
        """Start up to `room` sends to `receiver` from its due rows, oldest first."""
        due = self._db.due_deliveries(now, receiver=receiver,
                                      limit=room + self._busy[receiver])
        for group in self._groups(due)[:room]:
            self._in_flight.update(d.id for d in group if d.id is not None)
            self._busy[receiver] += 1
            task = asyncio.create_task(self._deliver(group))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _fail_orphans(self) -> None:
        """Rows for a receiver the configuration no longer has: failed for good, loudly —
        nothing would ever take them."""
        for receiver in self._db.pending_receivers() - set(self._channels):
            rows = self._db.due_deliveries(float("inf"), receiver=receiver, limit=1_000_000)
            logger.error("%d message(s) for receiver %r, which is not configured any more",
                         len(rows), receiver)
            self._db.update_deliveries(
                [d.id for d in rows if d.id is not None], state="failed",
                attempts=max((d.attempts for d in rows), default=0),
                not_before=self._clock.now(),
                detail=f"no receiver {receiver!r} is configured any more")

    def _groups(self, due: list[Delivery]) -> list[list[Delivery]]:
        """Due rows by group; a group goes out when its first row is due (Alertmanager's
        group_wait counts from the group's first alert), taking every row it has by then."""
        groups: dict[str, list[Delivery]] = {}
        for d in due:
            if d.id in self._in_flight:
                continue
            if d.group_key is None:
                groups[f"#{d.id}"] = [d]
            elif d.group_key not in groups:
                groups[d.group_key] = [r for r in self._db.pending_in_group(d.group_key)
                                       if r.id not in self._in_flight]
        return [g for g in groups.values() if g]

    async def _deliver(self, rows: list[Delivery]) -> None:
        ids = [d.id for d in rows if d.id is not None]
        try:
            first = max(rows, key=lambda d: _RANK.get(
                orjson.loads(d.notification)["severity"], 0))
            notification = notification_from_json(first.notification)
            if len(rows) > 1:
                notification = replace(notification, count=len({d.alert_id for d in rows}))
            result = await self._send(first, notification)
            self._record(rows, result)
        except Exception:
            logger.exception("delivery of %s failed unexpectedly; will retry", ids)
        finally:
            self._in_flight.difference_update(ids)
            self._busy[rows[0].receiver] -= 1
            self.wake()  # room for this receiver's next message

    async def _send(self, row: Delivery, notification: Notification) -> DeliveryResult:
        channel = self._channels[row.receiver]
        if row.speakers and isinstance(channel, MqttCommand):
            building = _place_part(notification.place_id, 0)
            floor = _place_part(notification.place_id, 1)
            return await channel.broadcast(
                notification, building=building or notification.place_id,
                floor=int(floor[1:]) if floor and floor.startswith("f") else None)
        return await channel.send(notification)

    def _record(self, rows: list[Delivery], result: DeliveryResult) -> None:
        ids = [d.id for d in rows if d.id is not None]
        now = self._clock.now()
        attempts = max(d.attempts for d in rows) + 1
        if result.ok:
            self.sent += len(ids)
            self._db.update_deliveries(ids, state="sent", attempts=attempts, not_before=now,
                                       detail=result.detail, sent_at=now)
            return
        self.failed_attempts += 1
        receiver = rows[0].receiver
        policy = self._policies.get(receiver, ReceiverPolicy())
        give_up = not result.retryable or attempts >= policy.fallback_after
        if give_up and policy.fallback is not None:
            fallbacks = [replace(d, id=None, key=f"{d.key}>{policy.fallback}",
                                 receiver=policy.fallback, speakers=False, state="pending",
                                 attempts=0, not_before=now, created=now, detail=None,
                                 fallback_of=d.id) for d in rows]
            logger.warning("%s failed %d times (%s); falling back to %s", receiver, attempts,
                           result.detail, policy.fallback)
            self._db.update_deliveries(ids, state="fell_back", attempts=attempts,
                                       not_before=now, detail=result.detail,
                                       fallbacks=fallbacks)
            self.wake()
            return
        if not result.retryable:
            logger.error("%s refused a message for good: %s", receiver, result.detail)
            self._db.update_deliveries(ids, state="failed", attempts=attempts, not_before=now,
                                       detail=result.detail)
            return
        delay = min(self._retry_max_s, self._retry_first_s * 2 ** (attempts - 1))
        delay *= random.uniform(0.5, 1.0)
        self._db.update_deliveries(ids, state="pending", attempts=attempts,
                                   not_before=now + delay, detail=result.detail)


def _place_part(place_id: str, index: int) -> str | None:
    parts = place_id.split("/")
    return parts[index] if len(parts) > index else None
