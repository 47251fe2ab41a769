"""Bad input is kept aside, counted by reason, and shown — never dropped silently.

Logging is rate-limited per reason: a broken device sending ten messages a second must not
bury the log, but the first of each kind of problem is always logged.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass

logger = logging.getLogger(__name__)

_LOG_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class QuarantinedMessage:
    ts: float
    topic: str
    reason: str
    detail: str
    payload: str
    """The start of the payload, decoded leniently, for a human to look at."""
    device_id: str | None = None
    partial: bool = False
    """The rest of the message was good and was kept; only this field was set aside."""


class Quarantine:
    def __init__(self, keep: int = 500, payload_excerpt: int = 300) -> None:
        self.counts: Counter[str] = Counter()
        self.samples: deque[QuarantinedMessage] = deque(maxlen=keep)
        self._excerpt = payload_excerpt
        self._last_logged: dict[str, float] = {}

    def add(self, ts: float, topic: str, reason: str, detail: str, payload: bytes,
            device_id: str | None = None, *, partial: bool = False) -> None:
        self.counts[reason] += 1
        excerpt = payload[: self._excerpt].decode("utf-8", "replace")
        self.samples.append(
            QuarantinedMessage(ts, topic, reason, detail, excerpt, device_id, partial))
        last = self._last_logged.get(reason)
        if last is None or ts - last >= _LOG_EVERY_S:
            self._last_logged[reason] = ts
            logger.warning("quarantined %s on %s: %s (%d so far for this reason)",
                           reason, topic, detail, self.counts[reason])

    @property
    def total(self) -> int:
        return sum(self.counts.values())
