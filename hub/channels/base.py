"""What every delivery channel takes, gives back and promises.

A channel turns one `Notification` into one delivery attempt and reports a `DeliveryResult`.
It never raises for transport trouble (timeouts, refused connections, a robot's error code):
it catches the error at its boundary and keeps the reason, so the dispatcher can decide
whether to retry. Secrets (tokens, signing keys, passwords) stay inside the channel: never in
a log line, a `repr()` or a result's detail.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from pydantic import SecretStr

TRANSITIONS = ("raised", "repeated", "escalated", "acknowledged", "cleared")


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person from the site roster, or a group / robot."""

    id: str
    name: str
    role: str
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    key: str
    """Idempotency key, unique per (alert, transition, receiver); receivers dedupe on it."""
    site_id: str
    site_name: str
    alert_id: str
    transition: str
    """raised | repeated | escalated | acknowledged | cleared"""
    severity: str
    """critical | major | minor | warning | info"""
    category: str
    """fire | gas | flood | elderly_care | security | equipment | power | device"""
    rule_id: str
    message_zh: str
    message_en: str
    place_id: str
    """e.g. b3/f12/1202"""
    place_zh: str
    """e.g. 3号楼 12层 1202室"""
    raised_at: float
    ts: float
    count: int = 1
    """More than 1 when a group of alerts goes out as one message."""
    exercise: bool = False
    """A drill: every channel must say so visibly."""
    recipient: Recipient | None = None
    link: str | None = None
    """URL of the alert on the hub's page."""


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    ok: bool
    channel: str
    detail: str
    """`200 OK`, `timeout after 5.0 s`, the robot's errmsg ... never a secret."""
    retryable: bool = True
    """False for errors a retry cannot fix (bad token, 4xx other than 408/429)."""
    status: int | None = None


class Channel(Protocol):
    name: str

    async def send(self, notification: Notification) -> DeliveryResult:
        """Deliver once; transport errors come back as a failed result, never raised."""
        ...

    async def close(self) -> None: ...


def notification_json(notification: Notification) -> dict[str, object]:
    """The wire form (webhook body, MQTT command payload): every field, recipient nested."""
    return dataclasses.asdict(notification)


def secret(value: str | SecretStr) -> SecretStr:
    """Accept a plain string from code or a `SecretStr` from settings; keep it wrapped."""
    return value if isinstance(value, SecretStr) else SecretStr(value)


def optional_secret(value: str | SecretStr | None) -> SecretStr | None:
    return None if value is None else secret(value)


def redact(text: str, secrets: Iterable[SecretStr | None]) -> str:
    """`text` with every secret value replaced, for details built from foreign messages."""
    for s in secrets:
        if s is not None and (raw := s.get_secret_value()):
            text = text.replace(raw, "***")
    return text
