"""Payload decoding against the catalog, and the device topics: every rejection names why."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import pytest

from devices.catalog import CATALOG, MetricSpec, ValueType
from devices.codec import (
    EARLIEST_TS,
    MAX_CLOCK_SKEW_S,
    MAX_PAYLOAD_BYTES,
    DecodeError,
    FieldProblem,
    Reason,
    decode_availability,
    decode_event,
    decode_telemetry,
)
from devices.messages import Availability, DeviceEvent
from devices.site import DeviceInfo, Place
from devices.topics import Channel, DeviceTopic, device_topic, parse_device_topic

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC).timestamp()
"""The hub's receive time in every test."""


def device(kind: str) -> DeviceInfo:
    return DeviceInfo(f"{kind}-1", CATALOG[kind], Place("g1", "b1", 3, "301"))


SMOKE = device("smoke_detector")


def payload(**fields: object) -> bytes:
    return orjson.dumps(fields)


def plausible(spec: MetricSpec) -> bool | float:
    """A value a healthy device of this kind could send."""
    if spec.type is ValueType.BOOL:
        return True
    low = spec.low if spec.low is not None else 0.0
    high = spec.high if spec.high is not None else low + 100.0
    return low + (high - low) / 4


def decode_error(call: Callable[..., object], *args: object) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        call(*args)
    return caught.value


# ------------------------------------------------------------------ telemetry: accepted


@pytest.mark.parametrize("kind", sorted(CATALOG))
def test_every_catalog_kind_decodes_plausible_telemetry(kind: str) -> None:
    info = device(kind)
    values = {name: plausible(spec) for name, spec in info.kind.metrics.items()}
    telemetry, problems = decode_telemetry(info, payload(ts=NOW - 5, **values), NOW)
    assert problems == []
    assert telemetry.device_id == info.id
    assert telemetry.ts == NOW - 5
    assert dict(telemetry.values) == {name: float(v) for name, v in values.items()}
    assert all(type(v) is float for _, v in telemetry.values)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(True, 1.0, id="true"),
        pytest.param(False, 0.0, id="false"),
    ],
)
def test_bools_become_one_and_zero(raw: bool, expected: float) -> None:
    telemetry, _ = decode_telemetry(SMOKE, payload(smoke=raw), NOW)
    assert telemetry.values == (("smoke", expected),)


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        pytest.param(int(NOW) - 60, NOW - 60, id="epoch-seconds-int"),
        pytest.param(NOW - 0.5, NOW - 0.5, id="epoch-seconds-float"),
        pytest.param(int(NOW * 1000) - 1500, NOW - 1.5, id="epoch-milliseconds"),
        pytest.param("2025-06-15T19:59:00+08:00", NOW - 60, id="iso-with-offset"),
        pytest.param("2025-06-15T11:59:00Z", NOW - 60, id="iso-zulu"),
        pytest.param("2025-06-15T11:59:00.250+00:00", NOW - 59.75, id="iso-fraction"),
        pytest.param(None, NOW, id="missing-is-received-time"),
        pytest.param(NOW + MAX_CLOCK_SKEW_S, NOW + MAX_CLOCK_SKEW_S, id="at-the-skew-limit"),
        pytest.param(EARLIEST_TS, EARLIEST_TS, id="exactly-2000"),
    ],
)
def test_timestamp_forms(ts: object, expected: float) -> None:
    body = payload(smoke=False) if ts is None else payload(smoke=False, ts=ts)
    telemetry, _ = decode_telemetry(SMOKE, body, NOW)
    assert telemetry.ts == pytest.approx(expected)


# ------------------------------------------------------------------ telemetry: rejected

OVERSIZE = b'{"smoke": true, "note": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}'


@pytest.mark.parametrize(
    ("body", "reason", "detail"),
    [
        pytest.param(OVERSIZE, Reason.OVERSIZE, f"> {MAX_PAYLOAD_BYTES}", id="oversize"),
        pytest.param(b'{"smoke": tru', Reason.MALFORMED_JSON, "", id="malformed-json"),
        pytest.param(b"", Reason.MALFORMED_JSON, "", id="empty-payload"),
        pytest.param(b'{"smoke_density": NaN}', Reason.MALFORMED_JSON, "", id="nan-literal"),
        pytest.param(b'{"smoke_density": 1e999}', Reason.MALFORMED_JSON, "infinity",
                     id="inf-1e999"),
        pytest.param(b"[true]", Reason.NOT_AN_OBJECT, "got list", id="array"),
        pytest.param(b'"smoke"', Reason.NOT_AN_OBJECT, "got str", id="string"),
        pytest.param(b"42", Reason.NOT_AN_OBJECT, "got int", id="number"),
        pytest.param(b"null", Reason.NOT_AN_OBJECT, "got NoneType", id="null"),
        pytest.param(payload(smoke_density="12"), Reason.WRONG_TYPE,
                     "smoke_density must be a number, got '12'", id="string-for-number"),
        pytest.param(payload(smoke=1), Reason.WRONG_TYPE, "smoke must be true/false, got 1",
                     id="number-for-bool"),
        pytest.param(payload(smoke="true"), Reason.WRONG_TYPE, "smoke must be true/false",
                     id="string-for-bool"),
        pytest.param(payload(battery=True), Reason.WRONG_TYPE,
                     "battery must be a number, got True", id="bool-for-number"),
        pytest.param(payload(battery=None), Reason.WRONG_TYPE, "battery must be a number",
                     id="null-for-number"),
        pytest.param(payload(battery=[50]), Reason.WRONG_TYPE, "battery must be a number",
                     id="list-for-number"),
        pytest.param(payload(battery=101), Reason.OUT_OF_RANGE, "battery=101 % outside 0..100",
                     id="above-range"),
        pytest.param(payload(smoke_density=-0.5), Reason.OUT_OF_RANGE,
                     "smoke_density=-0.5", id="below-range"),
        pytest.param(payload(temperature=20), Reason.UNKNOWN_METRIC,
                     "smoke_detector has no metric 'temperature'", id="metric-of-another-kind"),
        pytest.param(payload(smoke=True, ts=NOW + MAX_CLOCK_SKEW_S + 1),
                     Reason.FUTURE_TIMESTAMP, "301 s ahead", id="future-ts"),
        pytest.param(payload(smoke=True, ts=int((NOW + 3600) * 1000)),
                     Reason.FUTURE_TIMESTAMP, "3600 s ahead", id="future-ts-in-ms"),
        pytest.param(payload(smoke=True, ts=EARLIEST_TS - 1), Reason.BAD_TIMESTAMP,
                     "before 2000", id="ts-before-2000"),
        pytest.param(payload(smoke=True, ts=0), Reason.BAD_TIMESTAMP, "before 2000",
                     id="ts-zero"),
        pytest.param(payload(smoke=True, ts="2025-06-15T12:00:00"), Reason.BAD_TIMESTAMP,
                     "has no UTC offset", id="iso-without-offset"),
        pytest.param(payload(smoke=True, ts="yesterday"), Reason.BAD_TIMESTAMP,
                     "is not ISO 8601", id="ts-not-a-date"),
        pytest.param(payload(smoke=True, ts=True), Reason.BAD_TIMESTAMP, "not True",
                     id="ts-bool"),
        pytest.param(payload(smoke=True, ts=[NOW]), Reason.BAD_TIMESTAMP,
                     "number or ISO 8601", id="ts-list"),
        pytest.param(payload(), Reason.NO_METRICS, "no metric", id="empty-object"),
        pytest.param(payload(ts=NOW), Reason.NO_METRICS, "no metric", id="only-ts"),
    ],
)
def test_telemetry_rejections_name_the_reason(body: bytes, reason: Reason, detail: str) -> None:
    error = decode_error(decode_telemetry, SMOKE, body, NOW)
    assert error.reason is reason
    assert detail in error.detail
    assert str(error).startswith(f"{reason}: ")


def test_every_bad_field_is_named_when_nothing_is_usable() -> None:
    error = decode_error(decode_telemetry, SMOKE, payload(smoke=1, battery=200), NOW)
    assert error.reason is Reason.WRONG_TYPE  # the first problem gives the reason
    assert "smoke must be true/false" in error.detail
    assert "battery=200" in error.detail


@pytest.mark.parametrize(
    ("body", "problem_reason", "problem_detail"),
    [
        pytest.param(payload(smoke=True, battery="low"), Reason.WRONG_TYPE,
                     "battery must be a number", id="wrong-type-sibling"),
        pytest.param(payload(smoke=True, battery=140), Reason.OUT_OF_RANGE,
                     "battery=140", id="out-of-range-sibling"),
        pytest.param(payload(smoke=True, colour="red"), Reason.UNKNOWN_METRIC,
                     "no metric 'colour'", id="unknown-sibling"),
    ],
)
def test_a_good_metric_is_kept_beside_a_bad_one(
    body: bytes, problem_reason: Reason, problem_detail: str
) -> None:
    telemetry, problems = decode_telemetry(SMOKE, body, NOW)
    assert telemetry.values == (("smoke", 1.0),)
    assert len(problems) == 1
    assert isinstance(problems[0], FieldProblem)
    assert problems[0].reason is problem_reason
    assert problem_detail in problems[0].detail


def test_a_long_bad_value_is_shortened_in_the_detail() -> None:
    error = decode_error(decode_telemetry, SMOKE, payload(battery="x" * 500), NOW)
    assert len(error.detail) < 100
    assert error.detail.endswith("...")


# ------------------------------------------------------------------ events


@pytest.mark.parametrize(
    ("kind", "body", "event_type"),
    [
        pytest.param("sos_button", payload(type="sos"), "sos", id="sos"),
        pytest.param("wearable", payload(type="fall", ts=NOW - 3), "fall", id="fall-with-ts"),
        pytest.param("camera", payload(type="video_loss"), "video_loss", id="camera"),
    ],
)
def test_known_events_decode(kind: str, body: bytes, event_type: str) -> None:
    info = device(kind)
    event = decode_event(info, body, NOW)
    expected_ts = orjson.loads(body).get("ts", NOW)
    assert event == DeviceEvent(info.id, expected_ts, event_type)


@pytest.mark.parametrize(
    ("kind", "body", "reason", "detail"),
    [
        pytest.param("sos_button", payload(type="fall"), Reason.UNKNOWN_EVENT,
                     "sos_button has no event 'fall' (has: sos)", id="unknown-type"),
        pytest.param("heat_detector", payload(type="tamper"), Reason.UNKNOWN_EVENT,
                     "(has: none)", id="kind-without-events"),
        pytest.param("sos_button", payload(), Reason.WRONG_TYPE,
                     "event type must be a string, got None", id="missing-type"),
        pytest.param("sos_button", payload(type=1), Reason.WRONG_TYPE,
                     "got 1", id="number-type"),
        pytest.param("sos_button", b"sos", Reason.MALFORMED_JSON, "", id="not-json"),
        pytest.param("sos_button", payload(type="sos", ts=NOW + 1000), Reason.FUTURE_TIMESTAMP,
                     "ahead", id="future-ts"),
    ],
)
def test_bad_events_are_rejected(kind: str, body: bytes, reason: Reason, detail: str) -> None:
    error = decode_error(decode_event, device(kind), body, NOW)
    assert error.reason is reason
    assert detail in error.detail


# ------------------------------------------------------------------ availability


@pytest.mark.parametrize(
    ("body", "online"),
    [
        pytest.param(b"online", True, id="plain-online"),
        pytest.param(b"offline", False, id="plain-offline"),
        pytest.param(b" OFFLINE\n", False, id="plain-upper-with-whitespace"),
        pytest.param(b'{"state":"offline"}', False, id="json-offline"),
        pytest.param(b'{"state": "Online"}', True, id="json-online-mixed-case"),
    ],
)
def test_availability(body: bytes, online: bool) -> None:
    assert decode_availability("cam-1", body, NOW) == Availability("cam-1", NOW, online)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"maybe", Reason.BAD_AVAILABILITY, id="garbage-word"),
        pytest.param(b"", Reason.BAD_AVAILABILITY, id="empty"),
        pytest.param(b"\xff\xfe", Reason.BAD_AVAILABILITY, id="not-utf8"),
        pytest.param(b"1", Reason.BAD_AVAILABILITY, id="number"),
        pytest.param(b'{"state": 1}', Reason.BAD_AVAILABILITY, id="json-state-not-string"),
        pytest.param(b'{"status": "online"}', Reason.BAD_AVAILABILITY, id="json-without-state"),
        pytest.param(b'{"state": "asleep"}', Reason.BAD_AVAILABILITY, id="json-unknown-state"),
        pytest.param(b'{"state": ', Reason.MALFORMED_JSON, id="broken-json"),
    ],
)
def test_bad_availability(body: bytes, reason: Reason) -> None:
    error = decode_error(decode_availability, "cam-1", body, NOW)
    assert error.reason is reason


# ------------------------------------------------------------------ topics


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        pytest.param("shouwang/testsite/dev/b1-101-smoke/telemetry",
                     DeviceTopic("testsite", "b1-101-smoke", Channel.TELEMETRY), id="telemetry"),
        pytest.param("shouwang/testsite/dev/b1-101-smoke/event",
                     DeviceTopic("testsite", "b1-101-smoke", Channel.EVENT), id="event"),
        pytest.param("shouwang/testsite/dev/cam.1/availability",
                     DeviceTopic("testsite", "cam.1", Channel.AVAILABILITY), id="availability"),
        pytest.param("other/testsite/dev/d1/telemetry", None, id="wrong-root"),
        pytest.param("Shouwang/testsite/dev/d1/telemetry", None, id="root-is-case-sensitive"),
        pytest.param("shouwang/testsite/devices/d1/telemetry", None, id="not-dev"),
        pytest.param("shouwang/testsite/dev/d1", None, id="too-short"),
        pytest.param("shouwang/testsite/dev/d1/telemetry/extra", None, id="too-long"),
        pytest.param("/shouwang/testsite/dev/d1/telemetry", None, id="leading-slash"),
        pytest.param("shouwang/testsite/dev/d1/telemetry/", None, id="trailing-slash"),
        pytest.param("shouwang/testsite/dev/d1/status", None, id="unknown-channel"),
        pytest.param("shouwang/testsite/dev/d1/Telemetry", None, id="channel-case"),
        pytest.param("shouwang//dev/d1/telemetry", None, id="empty-site"),
        pytest.param("shouwang/testsite/dev//telemetry", None, id="empty-device"),
        pytest.param("shouwang/testsite/dev/d1/", None, id="empty-channel"),
        pytest.param("", None, id="empty-topic"),
        pytest.param("shouwang/testsite/alerts/fire/a1", None, id="alert-topic"),
    ],
)
def test_parse_device_topic(topic: str, expected: DeviceTopic | None) -> None:
    assert parse_device_topic(topic) == expected


@pytest.mark.parametrize("channel", list(Channel), ids=[c.value for c in Channel])
@pytest.mark.parametrize("device_id", ["b1-101-smoke", "cam.1", "101"])
def test_device_topic_round_trip(device_id: str, channel: Channel) -> None:
    topic = device_topic("testsite", device_id, channel)
    assert parse_device_topic(topic) == DeviceTopic("testsite", device_id, channel)
