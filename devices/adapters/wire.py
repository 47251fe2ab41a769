"""What every vendor adapter shares: its result, its error, and checks on vendor payloads.

Values are checked against the catalog exactly as the canonical codec checks them (type,
finite, physically possible range), so a vendor reading and a canonical one are held to the
same standard. Unlike the canonical codec, a vendor device's clock is not trusted to reject a
reading: Tasmota and Frigate clocks are set by people, and a wrong one must not cost an alarm.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from devices.catalog import MetricSpec, ValueType
from devices.codec import DecodeError, FieldProblem, Reason, parse_ts
from devices.messages import DeviceMessage


@dataclass(frozen=True, slots=True)
class Decoded:
    """One vendor message in canonical terms.

    No messages and no problems means the topic is known and deliberately skipped; `ignored`
    says why (`bridge`, `command`, `event_update` ...), for the router's counters.
    """

    device_id: str | None
    """The one site device the message is about; None when it is about several or none."""
    messages: tuple[DeviceMessage, ...] = ()
    problems: tuple[FieldProblem, ...] = ()
    ignored: str | None = None


def skipped(why: str, device_id: str | None = None) -> Decoded:
    return Decoded(device_id, ignored=why)


class VendorDecodeError(DecodeError):
    """A DecodeError that knows which site device sent the message, for the quarantine."""

    def __init__(self, reason: Reason, detail: str, device_id: str | None = None) -> None:
        super().__init__(reason, detail)
        self.device_id = device_id


@contextmanager
def about_device(device_id: str) -> Iterator[None]:
    """Name the device on any DecodeError raised inside the block."""
    try:
        yield
    except VendorDecodeError:
        raise
    except DecodeError as exc:
        raise VendorDecodeError(exc.reason, exc.detail, device_id) from None


def unmapped(what: str, hint: str) -> VendorDecodeError:
    return VendorDecodeError(Reason.UNMAPPED_VENDOR_DEVICE,
                             f"{what} is not mapped to a site device (give one `vendor: {hint}`)")


def state_word(payload: bytes) -> str:
    """A plain-text state payload (`online`, `Offline`, `disabled`), lower-cased."""
    if len(payload) > 64:
        raise DecodeError(Reason.BAD_AVAILABILITY, f"expected one word, got {len(payload)} bytes")
    return payload.strip().decode("utf-8", "replace").lower()


def metric_value(spec: MetricSpec, raw: object, label: str,
                 scale: float = 1.0, offset: float = 0.0) -> float | FieldProblem:
    """`raw` checked as the catalog's metric, after `raw * scale + offset` (unit conversion).

    `label` names the vendor field in problems, e.g. `ENERGY.Power`.
    """
    if spec.type is ValueType.BOOL:
        if raw is True or raw is False:
            return 1.0 if raw else 0.0
        return FieldProblem(Reason.WRONG_TYPE, f"{label} must be true/false, got {show(raw)}")
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return FieldProblem(Reason.WRONG_TYPE, f"{label} must be a number, got {show(raw)}")
    value = float(raw) * scale + offset
    if not math.isfinite(value):
        return FieldProblem(Reason.NOT_FINITE, f"{label} is {raw!r}")
    if (spec.low is not None and value < spec.low) or (
            spec.high is not None and value > spec.high):
        low = "" if spec.low is None else f"{spec.low:g}"
        high = "" if spec.high is None else f"{spec.high:g}"
        return FieldProblem(Reason.OUT_OF_RANGE,
                            f"{label}: {spec.name}={value:g} {spec.unit} outside {low}..{high}")
    return value


def device_clock(ts: float | None, received: float, what: str
                 ) -> tuple[float, FieldProblem | None]:
    """The device's timestamp when plausible, else the hub's receive time and why."""
    if ts is None:
        return received, None
    try:
        return parse_ts(ts, received), None
    except DecodeError as exc:
        return received, FieldProblem(
            exc.reason, f"{what}: {exc.detail}; the hub's receive time was used")


def no_problems_or_raise(problems: list[FieldProblem]) -> None:
    """Nothing usable was decoded: the first problem (all of them in the detail) rejects it."""
    if problems:
        raise DecodeError(problems[0].reason, "; ".join(p.detail for p in problems))


def show(raw: object) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."
