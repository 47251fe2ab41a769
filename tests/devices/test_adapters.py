"""Vendor adapters: Zigbee2MQTT, Frigate and Tasmota onto the canonical model, and back (sims).

Pure: no broker, no loop. Each table names the case; every rejection names its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from devices.adapters import Decoded, VendorDecodeError, VendorRouter, vendor_subscriptions
from devices.adapters.frigate import SEEN_EVENTS, encode_event, encode_stats
from devices.adapters.tasmota import encode_sensor
from devices.adapters.zigbee2mqtt import encode_state
from devices.codec import DecodeError, FieldProblem, Reason, decode_availability, decode_telemetry
from devices.messages import Availability, DeviceEvent, DeviceMessage, Telemetry
from devices.site import Site, VendorFormat, load_site
from devices.topics import Channel, parse_device_topic
from devices.yamlsource import ConfigError
from simulators.fleet import Fleet

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC).timestamp()
"""The hub's receive time in every test: 20:00 in Asia/Shanghai."""

SITE_FILE = Path(__file__).parents[1] / "data" / "vendor_site.yaml"
SITE = load_site(SITE_FILE.read_text(encoding="utf-8"), str(SITE_FILE))


def router(site: Site = SITE) -> VendorRouter:
    return VendorRouter(site)


def js(**fields: object) -> bytes:
    return orjson.dumps(fields)


def decode(topic: str, payload: bytes, r: VendorRouter | None = None,
           received: float = NOW) -> Decoded:
    return (r or router()).decode(topic, payload, received)


def rejected(topic: str, payload: bytes, r: VendorRouter | None = None) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(topic, payload, r)
    return caught.value


def values(decoded: Decoded) -> dict[str, float]:
    (telemetry,) = [m for m in decoded.messages if isinstance(m, Telemetry)]
    return dict(telemetry.values)


def kinds(messages: Sequence[DeviceMessage]) -> list[tuple[str, str, object]]:
    """Messages as (type, device, what) for compact expectations."""
    out: list[tuple[str, str, object]] = []
    for m in messages:
        if isinstance(m, Telemetry):
            out.append(("telemetry", m.device_id, dict(m.values)))
        elif isinstance(m, DeviceEvent):
            out.append(("event", m.device_id, m.type))
        else:
            out.append(("availability", m.device_id, m.online))
    return out


def site_text(devices: str, timezone: str = "Asia/Shanghai") -> str:
    return (f"id: s\nname: S\ntimezone: {timezone}\ngrids:\n  - id: g1\n    devices:\n"
            + devices)


# ================================================================== site configuration


def test_vendor_mapping_loads_into_the_site() -> None:
    smoke = SITE.devices["b1-101-smoke"]
    assert smoke.vendor is not None
    assert (smoke.vendor.format, smoke.vendor.name) == (VendorFormat.ZIGBEE2MQTT,
                                                        "b1/f1/u101/smoke")
    assert SITE.devices["b1-101-heat"].vendor is None
    assert SITE.devices["b1-102-smoke"].vendor.name == "0x00158d0001a2b3c4"  # type: ignore[union-attr]


def test_subscriptions_cover_only_the_formats_in_use() -> None:
    assert vendor_subscriptions(SITE) == [
        "zigbee2mqtt/#", "frigate/available", "frigate/events", "frigate/stats",
        "frigate/+/status/+", "tele/+/SENSOR", "tele/+/LWT"]
    only_tasmota = load_site(site_text(
        "      - {id: t, kind: temp_humidity, vendor: {format: tasmota, name: t1}}\n"))
    assert vendor_subscriptions(only_tasmota) == ["tele/+/SENSOR", "tele/+/LWT"]
    canonical = load_site(site_text("      - {id: t, kind: temp_humidity}\n"))
    assert vendor_subscriptions(canonical) == []


def test_same_name_in_different_formats_is_fine() -> None:
    site = load_site(site_text(
        "      - {id: a, kind: camera, vendor: {format: frigate, name: gate}}\n"
        "      - {id: b, kind: power_meter, vendor: {format: tasmota, name: gate}}\n"
        "      - {id: c, kind: smoke_detector, vendor: {format: zigbee2mqtt, name: gate}}\n"))
    assert {d.vendor.format for d in site.devices.values() if d.vendor} == set(VendorFormat)


@pytest.mark.parametrize(
    ("devices", "line", "where", "what"),
    [
        pytest.param(
            "      - {id: a, kind: smoke_detector, vendor: {format: zigbee2mqtt, name: x/smoke}}\n"
            "      - {id: b, kind: smoke_detector, vendor: {format: zigbee2mqtt, name: x/smoke}}\n",
            8, "grids[0].devices[1].vendor.name",
            "zigbee2mqtt name 'x/smoke' is already mapped to device 'a'", id="duplicate-z2m"),
        pytest.param(
            "      - {id: a, kind: camera, vendor: {format: frigate, name: gate}}\n"
            "      - id: b\n        kind: camera\n        vendor:\n          format: frigate\n"
            "          name: gate\n",
            12, "grids[0].devices[1].vendor.name", "already mapped to device 'a'",
            id="duplicate-frigate-block-style"),
        pytest.param(
            "      - id: a\n        kind: smoke_detector\n        vendor:\n"
            "          format: frigate\n          name: gate\n",
            10, "grids[0].devices[0].vendor.format", "a frigate mapping belongs on a camera",
            id="frigate-on-smoke-detector"),
        pytest.param(
            "      - {id: a, kind: camera, vendor: {format: onvif, name: gate}}\n",
            7, "grids[0].devices[0].vendor.format", "'zigbee2mqtt', 'frigate' or 'tasmota'",
            id="unknown-format"),
        pytest.param(
            "      - {id: a, kind: camera, vendor: {format: frigate}}\n",
            7, "grids[0].devices[0].vendor.name", "Field required", id="missing-name"),
        pytest.param(
            "      - {id: a, kind: camera, vendor: {format: frigate, name: gate, base: x}}\n",
            7, "grids[0].devices[0].vendor.base", "unknown key", id="unknown-key"),
        pytest.param(
            "      - {id: a, kind: power_meter, vendor: {format: tasmota, name: 1234}}\n",
            7, "grids[0].devices[0].vendor.name", "valid string", id="unquoted-number"),
    ],
)
def test_vendor_config_errors_name_file_and_line(devices: str, line: int, where: str,
                                                 what: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_site(site_text(devices), "site.yaml")
    error = caught.value
    assert (error.source, error.line, error.where) == ("site.yaml", line, where), str(error)
    assert what in error.what


@pytest.mark.parametrize(
    ("fmt", "name", "what"),
    [
        pytest.param("zigbee2mqtt", "b3/f12/1202", "ending in '/<digits>'", id="z2m-digits"),
        pytest.param("zigbee2mqtt", "/b3/smoke", "leading, trailing", id="z2m-leading-slash"),
        pytest.param("zigbee2mqtt", "b3//smoke", "doubled", id="z2m-empty-level"),
        pytest.param("zigbee2mqtt", "b3/+/smoke", "wildcards", id="z2m-plus"),
        pytest.param("zigbee2mqtt", "b3/#", "wildcards", id="z2m-hash"),
        pytest.param("zigbee2mqtt", "bridge/smoke", "Zigbee2MQTT's own", id="z2m-bridge"),
        pytest.param("zigbee2mqtt", "b3/set/smoke", "'set'", id="z2m-set-level"),
        pytest.param("zigbee2mqtt", "b3/availability", "'availability'", id="z2m-availability"),
        pytest.param("frigate", "front door", "letters, digits", id="frigate-space"),
        pytest.param("frigate", "b1/gate", "letters, digits", id="frigate-slash"),
        pytest.param("tasmota", "tele/plug", "one MQTT topic level", id="tasmota-slash"),
        pytest.param("tasmota", "plug+1", "one MQTT topic level", id="tasmota-plus"),
    ],
)
def test_vendor_names_follow_each_vendors_rules(fmt: str, name: str, what: str) -> None:
    kind = "camera" if fmt == "frigate" else "smoke_detector"
    with pytest.raises(ConfigError) as caught:
        load_site(site_text(f"      - id: a\n        kind: {kind}\n        vendor:\n"
                            f"          format: {fmt}\n          name: '{name}'\n"), "site.yaml")
    assert caught.value.line == 11
    assert caught.value.where == "grids[0].devices[0].vendor.name"
    assert what in caught.value.what


# ================================================================== Zigbee2MQTT


@pytest.mark.parametrize(
    ("topic", "payload", "device", "expected"),
    [
        pytest.param("zigbee2mqtt/b1/f1/u101/smoke",
                     js(smoke=True, battery=87, linkquality=120, battery_low=False,
                        last_seen="2025-06-15T19:59:59+08:00", voltage=3000, temperature=31),
                     "b1-101-smoke", {"smoke": 1.0, "battery": 87.0}, id="smoke-extras-ignored"),
        pytest.param("zigbee2mqtt/b1/f1/u101", js(water_leak=False, battery=55.5),
                     "b1-101-leak", {"water_leak": 0.0, "battery": 55.5}, id="leak-prefix-name"),
        pytest.param("zigbee2mqtt/b1/f1/u101/door", js(contact=True, battery=100),
                     "b1-101-door", {"contact": 1.0, "battery": 100.0}, id="contact-closed"),
        pytest.param("zigbee2mqtt/b1/f1/u102/motion", js(occupancy=True, illuminance=12),
                     "b1-102-motion", {"occupancy": 1.0}, id="occupancy"),
        pytest.param("zigbee2mqtt/0x00158d0001a2b3c4", js(smoke=False),
                     "b1-102-smoke", {"smoke": 0.0}, id="ieee-address-name"),
    ],
)
def test_z2m_state_maps_to_telemetry(topic: str, payload: bytes, device: str,
                                     expected: dict[str, float]) -> None:
    decoded = decode(topic, payload)
    assert decoded.device_id == device
    assert decoded.problems == ()
    (telemetry,) = decoded.messages
    assert isinstance(telemetry, Telemetry)
    assert (telemetry.device_id, telemetry.ts) == (device, NOW)
    assert dict(telemetry.values) == expected


def test_z2m_temperature_and_humidity() -> None:
    site = load_site(site_text(
        "      - {id: th, kind: temp_humidity, vendor: {format: zigbee2mqtt, name: hall/th}}\n"))
    decoded = decode("zigbee2mqtt/hall/th",
                     js(temperature=22.4, humidity=61, battery=90, pressure=1012), router(site))
    assert values(decoded) == {"temperature": 22.4, "humidity": 61.0, "battery": 90.0}


@pytest.mark.parametrize(
    ("topic", "device", "ignored"),
    [
        pytest.param("zigbee2mqtt/b1/f1/u101/smoke/set", "b1-101-smoke", "command", id="set"),
        pytest.param("zigbee2mqtt/b1/f1/u101/smoke/get", "b1-101-smoke", "command", id="get"),
        pytest.param("zigbee2mqtt/b1/f1/u101/set/state", "b1-101-leak", "command",
                     id="set-attribute-on-prefix-name"),
        pytest.param("zigbee2mqtt/lamp/set", None, "command", id="command-to-unmapped"),
        pytest.param("zigbee2mqtt/b1/f1/u101/smoke/action", "b1-101-smoke", "legacy_action",
                     id="legacy-action-topic"),
        pytest.param("zigbee2mqtt/bridge/state", None, "bridge", id="bridge-state"),
        pytest.param("zigbee2mqtt/bridge/logging", None, "bridge", id="bridge-logging"),
        pytest.param("zigbee2mqtt/bridge", None, "bridge", id="bridge-bare"),
    ],
)
def test_z2m_commands_and_bridge_are_skipped_not_quarantined(
        topic: str, device: str | None, ignored: str) -> None:
    r = router()
    decoded = decode(topic, b'{"state": "ON"}', r)
    assert (decoded.device_id, decoded.messages, decoded.ignored) == (device, (), ignored)
    assert r.ignored == {f"zigbee2mqtt.{ignored}": 1}


@pytest.mark.parametrize(
    ("topic", "device"),
    [
        pytest.param("zigbee2mqtt/b1/f1/u101/smoke/availability", "b1-101-smoke",
                     id="longest-name"),
        pytest.param("zigbee2mqtt/b1/f1/u101/availability", "b1-101-leak", id="prefix-name"),
        pytest.param("zigbee2mqtt/0x00158d0001a2b3c4/availability", "b1-102-smoke",
                     id="one-level"),
    ],
)
@pytest.mark.parametrize(
    ("payload", "online"),
    [
        pytest.param(b'{"state":"online"}', True, id="json-online"),
        pytest.param(b'{"state": "offline"}', False, id="json-offline"),
        pytest.param(b"online", True, id="legacy-online"),
        pytest.param(b"offline", False, id="legacy-offline"),
    ],
)
def test_z2m_availability(topic: str, device: str, payload: bytes, online: bool) -> None:
    decoded = decode(topic, payload)
    assert decoded.messages == (Availability(device, NOW, online),)


@pytest.mark.parametrize(
    ("topic", "payload", "reason", "device", "detail"),
    [
        pytest.param("zigbee2mqtt/b1/f1/u103/smoke", js(smoke=True), "unmapped_vendor_device",
                     None, "Zigbee2MQTT device 'b1/f1/u103/smoke' is not mapped",
                     id="unmapped"),
        pytest.param("zigbee2mqtt/b1/f1/u101/kitchen", js(smoke=True),
                     "unmapped_vendor_device", None, "'b1/f1/u101/kitchen'",
                     id="unmapped-below-a-mapped-name"),
        pytest.param("zigbee2mqtt/b1/f1/u103/smoke/availability", b"online",
                     "unmapped_vendor_device", None, "'b1/f1/u103/smoke' is not mapped",
                     id="unmapped-availability"),
        pytest.param("zigbee2mqtt/b1/f1/u101/smoke", b"{not json", "malformed_json",
                     "b1-101-smoke", "", id="malformed"),
        pytest.param("zigbee2mqtt/b1/f1/u101/smoke", b'["smoke"]', "not_an_object",
                     "b1-101-smoke", "list", id="not-object"),
        pytest.param("zigbee2mqtt/b1/f1/u101/smoke", b"{" + b" " * 20_000 + b"}", "oversize",
                     "b1-101-smoke", "bytes", id="oversize"),
        pytest.param("zigbee2mqtt/b1/f1/u101/smoke", js(smoke="yes"), "wrong_type",
                     "b1-101-smoke", "smoke must be true/false, got 'yes'", id="smoke-not-bool"),
        pytest.param("zigbee2mqtt/b1/f1/u101/smoke", js(battery=140), "out_of_range",
                     "b1-101-smoke", "battery=140 % outside 0..100", id="battery-range"),
        pytest.param("zigbee2mqtt/b1/f1/u101/smoke", js(illuminance=20, linkquality=3),
                     "no_metrics", "b1-101-smoke", "none of illuminance is mapped for a "
                     "smoke_detector (it maps: smoke, battery)", id="wrong-kind"),
        pytest.param("zigbee2mqtt/b1/f1/u101/smoke/availability", b"maybe",
                     "bad_availability", "b1-101-smoke", "online/offline",
                     id="bad-availability"),
        pytest.param("zigbee2mqtt/b1/f1/u101/smoke/availability", b'{"state": 1}',
                     "bad_availability", "b1-101-smoke", "online/offline",
                     id="bad-json-availability"),
    ],
)
def test_z2m_rejections(topic: str, payload: bytes, reason: str, device: str | None,
                        detail: str) -> None:
    error = rejected(topic, payload)
    assert error.reason == reason
    assert detail in error.detail
    assert isinstance(error, VendorDecodeError)
    assert error.device_id == device


def test_z2m_bad_field_beside_a_good_one_is_partial() -> None:
    decoded = decode("zigbee2mqtt/b1/f1/u101/smoke", js(smoke=True, battery="low"))
    assert values(decoded) == {"smoke": 1.0}
    assert decoded.problems == (
        FieldProblem(Reason.WRONG_TYPE, "battery must be a number, got 'low'"),)


def test_z2m_report_with_nothing_to_map_is_skipped() -> None:
    decoded = decode("zigbee2mqtt/b1/f1/u101/smoke", js(linkquality=87, last_seen=NOW))
    assert (decoded.messages, decoded.ignored) == ((), "no_state")


def test_z2m_tamper_raises_an_event_on_each_rise_only() -> None:
    r = router()
    topic = "zigbee2mqtt/b1/f1/u101/smoke"
    sequence = [False, True, True, False, True]
    events = []
    for i, tampered in enumerate(sequence):
        decoded = decode(topic, js(smoke=False, tamper=tampered), r, NOW + i)
        events.append([m for m in decoded.messages if isinstance(m, DeviceEvent)])
    assert events == [[], [DeviceEvent("b1-101-smoke", NOW + 1, "tamper")], [], [],
                      [DeviceEvent("b1-101-smoke", NOW + 4, "tamper")]]


def test_z2m_tamper_after_a_restart_counts_as_a_rise() -> None:
    decoded = decode("zigbee2mqtt/b1/f1/u101/smoke", js(tamper=True))
    assert decoded.messages == (DeviceEvent("b1-101-smoke", NOW, "tamper"),)


def test_z2m_tamper_on_a_kind_without_the_event_is_ignored() -> None:
    decoded = decode("zigbee2mqtt/b1/f1/u101", js(water_leak=False, tamper=True))
    assert kinds(decoded.messages) == [("telemetry", "b1-101-leak", {"water_leak": 0.0})]


def test_z2m_bad_tamper_is_reported() -> None:
    decoded = decode("zigbee2mqtt/b1/f1/u101/smoke", js(smoke=False, tamper="yes"))
    assert values(decoded) == {"smoke": 0.0}
    assert [p.reason for p in decoded.problems] == [Reason.WRONG_TYPE]


# ================================================================== Frigate


def event(kind: str, object_id: str, *, camera: str = "gate", **after: object) -> bytes:
    return changed_event(kind, object_id, camera, after)


def changed_event(kind: str, object_id: str, camera: str, after: dict[str, object]) -> bytes:
    body = orjson.loads(encode_event(kind, object_id, camera, NOW - 3))
    body["after"].update(after)
    return orjson.dumps(body)


def test_frigate_event_lifecycle_raises_one_intrusion_per_object() -> None:
    r = router()
    stream: list[tuple[str, str, dict[str, object]]] = [
        ("new", "A", {}),                              # person appears: intrusion
        ("update", "A", {"entered_zones": ["yard"]}),  # better snapshot, zone change: no
        ("update", "A", {}),
        ("new", "A", {}),                              # a duplicate delivery: no
        ("end", "A", {"end_time": NOW}),               # object gone: no
        ("new", "B", {"false_positive": True}),        # not yet a true positive: no
        ("update", "B", {"false_positive": False}),    # now it is: intrusion
        ("update", "C", {}),                           # its `new` was missed: intrusion
        ("end", "D", {}),                              # seen only ending: no
        ("new", "E", {"label": "car"}),                # any tracked label counts
    ]
    raised = []
    for kind, object_id, after in stream:
        decoded = decode("frigate/events", changed_event(kind, object_id, "gate", after), r)
        raised += [(object_id, m) for m in decoded.messages]
    assert raised == [(o, DeviceEvent("b1-gate-cam", NOW - 3, "intrusion"))
                      for o in ("A", "B", "C", "E")]
    assert r.ignored == {"frigate.event_update": 3, "frigate.event_end": 2,
                         "frigate.false_positive": 1}


def test_frigate_remembers_a_bounded_number_of_objects() -> None:
    r = router()
    for i in range(SEEN_EVENTS + 1):
        decode("frigate/events", event("new", f"obj-{i}"), r)
    # The oldest id is forgotten; a late duplicate of it would count again.
    assert decode("frigate/events", event("update", "obj-0"), r).messages
    assert not decode("frigate/events", event("update", f"obj-{SEEN_EVENTS}"), r).messages


def test_frigate_event_clock_problems_keep_the_intrusion() -> None:
    decoded = decode("frigate/events", event("new", "A", start_time=NOW + 3600))
    assert decoded.messages == (DeviceEvent("b1-gate-cam", NOW, "intrusion"),)
    (problem,) = decoded.problems
    assert problem.reason is Reason.FUTURE_TIMESTAMP
    assert "after.start_time" in problem.detail
    no_time = decode("frigate/events", event("new", "B", start_time=None))
    assert no_time.messages == (DeviceEvent("b1-gate-cam", NOW, "intrusion"),)


@pytest.mark.parametrize(
    ("payload", "reason", "device", "detail"),
    [
        pytest.param(event("new", "A", camera="garage"), "unmapped_vendor_device", None,
                     "Frigate camera 'garage' is not mapped", id="unmapped-camera"),
        pytest.param(js(type="begin", after={"camera": "gate", "id": "A"}), "wrong_type", None,
                     "new, update or end, got 'begin'", id="bad-type"),
        pytest.param(js(type="new", before={}), "not_an_object", None, "`after` must be",
                     id="no-after"),
        pytest.param(js(type="new", after={"id": "A"}), "wrong_type", None,
                     "after.camera must be a string", id="no-camera"),
        pytest.param(js(type="new", after={"camera": "gate"}), "wrong_type", "b1-gate-cam",
                     "after.id must be a string", id="no-id"),
        pytest.param(b"[]", "not_an_object", None, "list", id="not-object"),
    ],
)
def test_frigate_event_rejections(payload: bytes, reason: str, device: str | None,
                                  detail: str) -> None:
    error = rejected("frigate/events", payload)
    assert (error.reason, getattr(error, "device_id", None)) == (reason, device)
    assert detail in error.detail


def test_frigate_events_may_be_larger_than_canonical_payloads() -> None:
    big = event("new", "A", path_data=[[[0.5, 0.5], NOW - i] for i in range(800)])
    assert len(big) > 16 * 1024
    assert decode("frigate/events", big).messages


@pytest.mark.parametrize(
    ("role", "state", "expected"),
    [
        pytest.param("record", b"online", [("telemetry", "b1-gate-cam", {"recording": 1.0}),
                                            ("availability", "b1-gate-cam", True)],
                     id="record-online"),
        pytest.param("record", b"offline", [("telemetry", "b1-gate-cam", {"recording": 0.0}),
                                             ("availability", "b1-gate-cam", False)],
                     id="record-offline"),
        pytest.param("record", b"disabled", [("telemetry", "b1-gate-cam", {"recording": 0.0}),
                                              ("availability", "b1-gate-cam", True)],
                     id="record-disabled-is-configuration"),
        pytest.param("detect", b"offline", [("availability", "b1-gate-cam", False)],
                     id="detect-offline"),
        pytest.param("detect", b"Online\n", [("availability", "b1-gate-cam", True)],
                     id="detect-online-any-case"),
    ],
)
def test_frigate_stream_status(role: str, state: bytes, expected: list[object]) -> None:
    decoded = decode(f"frigate/gate/status/{role}", state)
    assert decoded.device_id == "b1-gate-cam"
    assert kinds(decoded.messages) == expected


def test_frigate_camera_is_offline_while_any_role_or_the_nvr_is() -> None:
    r = router()

    def gate_online(topic: str, payload: bytes) -> dict[str, bool]:
        decoded = decode(topic, payload, r)
        return {m.device_id: m.online for m in decoded.messages if isinstance(m, Availability)}

    assert gate_online("frigate/gate/status/detect", b"offline") == {"b1-gate-cam": False}
    assert gate_online("frigate/gate/status/record", b"online") == {"b1-gate-cam": False}
    assert gate_online("frigate/available", b"offline") == {"b1-gate-cam": False,
                                                            "b1-lobby-cam": False}
    assert gate_online("frigate/available", b"online") == {"b1-gate-cam": False,
                                                           "b1-lobby-cam": True}
    assert gate_online("frigate/gate/status/detect", b"online") == {"b1-gate-cam": True}


@pytest.mark.parametrize(
    ("topic", "payload", "reason", "device"),
    [
        pytest.param("frigate/gate/status/record", b"restarting", "bad_availability",
                     "b1-gate-cam", id="bad-status"),
        pytest.param("frigate/garage/status/record", b"online", "unmapped_vendor_device", None,
                     id="unmapped-status"),
        pytest.param("frigate/available", b"maybe", "bad_availability", None,
                     id="bad-available"),
        pytest.param("frigate/stats", js(service={}), "not_an_object", None, id="stats-shape"),
    ],
)
def test_frigate_health_rejections(topic: str, payload: bytes, reason: str,
                                   device: str | None) -> None:
    error = rejected(topic, payload)
    assert (error.reason, getattr(error, "device_id", None)) == (reason, device)


@pytest.mark.parametrize(
    ("topic", "ignored"),
    [
        pytest.param("frigate/reviews", "reviews", id="reviews"),
        pytest.param("frigate/gate/status/audio", "status_audio", id="audio-role"),
        pytest.param("frigate/gate/person", "other", id="object-count"),
        pytest.param("frigate/gate/person/snapshot", "other", id="snapshot"),
    ],
)
def test_frigate_topics_the_hub_does_not_map_are_skipped(topic: str, ignored: str) -> None:
    decoded = decode(topic, b"{}")
    assert (decoded.messages, decoded.ignored) == ((), ignored)


def test_frigate_stats_are_the_cameras_heartbeat() -> None:
    r = router()
    decode("frigate/lobby/status/detect", b"offline", r)
    stats = orjson.loads(encode_stats({"gate": 5.1, "lobby": 5.0, "garage": 5.0}))
    stats["cpu_usages"] = {"1": {"cpu": "3.0"}}
    decoded = decode("frigate/stats", orjson.dumps(stats), r)
    # gate: delivering frames; lobby: known offline; garage: not ours (not an error).
    assert kinds(decoded.messages) == [("telemetry", "b1-gate-cam", {"fps": 5.1})]
    idle = decode("frigate/stats", encode_stats({"gate": 0.0}), r)
    assert (idle.messages, idle.ignored) == ((), "stats_idle")
    broken = decode("frigate/stats", encode_stats({"gate": 900.0}), r)
    assert [p.reason for p in broken.problems] == [Reason.OUT_OF_RANGE]


# ================================================================== Tasmota


def sensor(**fields: object) -> bytes:
    return orjson.dumps({"Time": "2025-06-15T19:59:50", **fields})


@pytest.mark.parametrize(
    ("topic", "payload", "expected"),
    [
        pytest.param("tele/th_101/SENSOR",
                     sensor(AM2301={"Temperature": 24.6, "Humidity": 58.2}, TempUnit="C"),
                     {"temperature": 24.6, "humidity": 58.2}, id="am2301"),
        pytest.param("tele/th_101/SENSOR",
                     sensor(BME280={"Temperature": 86.0, "Humidity": 40, "Pressure": 1010},
                            TempUnit="F"),
                     {"temperature": 30.0, "humidity": 40.0}, id="fahrenheit"),
        pytest.param("tele/th_101/SENSOR", sensor(SI7021={"Temperature": 21.0}),
                     {"temperature": 21.0}, id="no-unit-is-celsius"),
        pytest.param("tele/meter_b1/SENSOR",
                     sensor(ENERGY={"Total": 123.4, "Voltage": 229.5, "Current": 6.5,
                                    "Power": 1500, "Today": 1.2}),
                     {"voltage_v": 229.5, "power_kw": 1.5}, id="energy-watts-to-kw"),
        pytest.param("tele/meter_b1/SENSOR",
                     sensor(ENERGY={"Voltage": 230}, AM2301={"Temperature": 30}),
                     {"voltage_v": 230.0}, id="meter-ignores-climate"),
    ],
)
def test_tasmota_sensor_maps_to_telemetry(topic: str, payload: bytes,
                                          expected: dict[str, float]) -> None:
    decoded = decode(topic, payload)
    assert decoded.problems == ()
    (telemetry,) = decoded.messages
    assert isinstance(telemetry, Telemetry)
    assert dict(telemetry.values) == expected
    assert telemetry.ts == NOW - 10  # 19:59:50 in Asia/Shanghai


@pytest.mark.parametrize(
    ("timezone", "local", "utc"),
    [
        pytest.param("Asia/Shanghai", "2025-06-15T20:00:00", "2025-06-15T12:00:00", id="cst"),
        pytest.param("Europe/Berlin", "2025-06-15T14:00:00", "2025-06-15T12:00:00",
                     id="summer-time"),
        pytest.param("Europe/Berlin", "2025-01-15T13:00:00", "2025-01-15T12:00:00",
                     id="winter-time"),
        pytest.param("Europe/Berlin", "2025-06-15T13:00:00+01:00", "2025-06-15T12:00:00",
                     id="offset-given"),
    ],
)
def test_tasmota_time_is_local_time_of_the_site(timezone: str, local: str, utc: str) -> None:
    site = load_site(site_text(
        "      - {id: th, kind: temp_humidity, vendor: {format: tasmota, name: th}}\n", timezone))
    payload = orjson.dumps({"Time": local, "DS18B20": {"Temperature": 20.5}})
    decoded = router(site).decode("tele/th/SENSOR", payload, NOW)
    expected = datetime.fromisoformat(utc).replace(tzinfo=UTC).timestamp()
    assert decoded.messages[0].ts == expected
    assert decoded.problems == ()


@pytest.mark.parametrize(
    ("time", "reason"),
    [
        pytest.param("1970-01-01T00:00:12", Reason.BAD_TIMESTAMP, id="clock-unset"),
        pytest.param("2025-06-15T23:00:00", Reason.FUTURE_TIMESTAMP, id="clock-ahead"),
        pytest.param("15.06.2025 20:00", Reason.BAD_TIMESTAMP, id="not-iso"),
        pytest.param(1750000000, Reason.BAD_TIMESTAMP, id="not-a-string"),
    ],
)
def test_tasmota_bad_clock_keeps_the_reading(time: object, reason: Reason) -> None:
    payload = orjson.dumps({"Time": time, "AM2301": {"Temperature": 24.0}})
    decoded = decode("tele/th_101/SENSOR", payload)
    assert kinds(decoded.messages) == [("telemetry", "b1-101-th", {"temperature": 24.0})]
    assert decoded.messages[0].ts == NOW
    assert [p.reason for p in decoded.problems] == [reason]
    assert "receive time was used" in decoded.problems[0].detail


def test_tasmota_second_sensor_of_a_quantity_is_reported() -> None:
    decoded = decode("tele/th_101/SENSOR", sensor(**{
        "DS18B20-1": {"Id": "01", "Temperature": 21.0},
        "DS18B20-2": {"Id": "02", "Temperature": 35.0}}))
    assert values(decoded) == {"temperature": 21.0}
    (problem,) = decoded.problems
    assert problem.reason is Reason.UNKNOWN_METRIC
    assert "DS18B20-2.Temperature: temperature already comes from DS18B20-1" in problem.detail


def test_tasmota_partial_problems() -> None:
    unit = decode("tele/th_101/SENSOR",
                  sensor(AM2301={"Temperature": 25.0, "Humidity": 40}, TempUnit="K"))
    assert values(unit) == {"humidity": 40.0}
    assert unit.problems == (FieldProblem(Reason.WRONG_TYPE, "TempUnit must be C or F, got 'K'"),)
    failed = decode("tele/th_101/SENSOR", sensor(AM2301={"Temperature": 25.0, "Humidity": None}))
    assert values(failed) == {"temperature": 25.0}
    assert failed.problems == (
        FieldProblem(Reason.WRONG_TYPE, "AM2301.Humidity must be a number, got None"),)
    assert rejected("tele/th_101/SENSOR",
                    sensor(AM2301={"Temperature": 25.0}, TempUnit="K")).reason == "wrong_type"
    multi = decode("tele/meter_b1/SENSOR",
                   sensor(ENERGY={"Voltage": 231, "Power": [100, 200, 300]}))
    assert values(multi) == {"voltage_v": 231.0}
    assert "ENERGY.Power must be a number" in multi.problems[0].detail


@pytest.mark.parametrize(
    ("topic", "payload", "reason", "device", "detail"),
    [
        pytest.param("tele/plug_9/SENSOR", sensor(AM2301={"Temperature": 1}),
                     "unmapped_vendor_device", None, "Tasmota device 'plug_9' is not mapped",
                     id="unmapped-sensor"),
        pytest.param("tele/plug_9/LWT", b"Online", "unmapped_vendor_device", None, "plug_9",
                     id="unmapped-lwt"),
        pytest.param("tele/th_101/SENSOR", sensor(Switch1="ON"), "no_metrics", "b1-101-th",
                     "no reading a temp_humidity has (sensors: none)", id="switch-only"),
        pytest.param("tele/meter_b1/SENSOR", sensor(AM2301={"Temperature": 20}), "no_metrics",
                     "b1-meter", "(sensors: AM2301)", id="wrong-kind"),
        pytest.param("tele/th_101/SENSOR", sensor(AM2301={"Temperature": 2000}),
                     "out_of_range", "b1-101-th", "AM2301.Temperature", id="range"),
        pytest.param("tele/th_101/SENSOR", b"Online", "malformed_json", "b1-101-th", "",
                     id="malformed"),
        pytest.param("tele/th_101/LWT", b"Sleeping", "bad_availability", "b1-101-th",
                     "online/offline", id="bad-lwt"),
    ],
)
def test_tasmota_rejections(topic: str, payload: bytes, reason: str, device: str | None,
                            detail: str) -> None:
    error = rejected(topic, payload)
    assert (error.reason, getattr(error, "device_id", None)) == (reason, device)
    assert detail in error.detail


@pytest.mark.parametrize(("payload", "online"), [(b"Online", True), (b"Offline", False)])
def test_tasmota_lwt(payload: bytes, online: bool) -> None:
    assert decode("tele/meter_b1/LWT", payload).messages == (
        Availability("b1-meter", NOW, online),)


@pytest.mark.parametrize(
    ("topic", "ignored"),
    [
        pytest.param("tele/meter_b1/STATE", "state", id="state"),
        pytest.param("tele/plug_9/STATE", "state", id="state-unmapped"),
        pytest.param("tele/meter_b1/INFO1", "other", id="info"),
        pytest.param("tele/a/b/SENSOR", "other", id="deeper-topic"),
        pytest.param("tele/SENSOR", "other", id="no-topic"),
    ],
)
def test_tasmota_topics_the_hub_does_not_map_are_skipped(topic: str, ignored: str) -> None:
    assert decode(topic, b"{}").ignored == ignored


# ================================================================== router


@pytest.mark.parametrize(
    ("topic", "claimed"),
    [("zigbee2mqtt/x", True), ("frigate/events", True), ("tele/x/LWT", True),
     ("shouwang/s/dev/x/bogus", False), ("homeassistant/sensor/x/config", False),
     ("zigbee2mqttx/y", False), ("", False)],
)
def test_router_claims_only_vendor_bases(topic: str, claimed: bool) -> None:
    assert VendorRouter.claims(topic) is claimed


@pytest.mark.parametrize("topic", ["zigbee2mqtt", "frigate", "shouwang/s/dev/x/y"])
def test_router_rejects_what_is_no_vendor_topic(topic: str) -> None:
    assert rejected(topic, b"{}").reason == "bad_topic"


def test_settle_keeps_only_the_last_state_of_a_topic_in_a_batch() -> None:
    r = router()
    batch = [
        ("frigate/gate/status/record", b"offline", NOW),
        ("zigbee2mqtt/b1/f1/u101/smoke", js(smoke=True), NOW),
        ("frigate/gate/status/detect", b"online", NOW),
        ("frigate/gate/status/record", b"online", NOW + 0.1),   # the stream came back
        ("tele/meter_b1/LWT", b"Online", NOW),
        ("zigbee2mqtt/b1/f1/u101/smoke", js(smoke=False), NOW),  # not a state topic: kept
        ("tele/meter_b1/LWT", b"Offline", NOW + 0.2),             # a real change: kept
    ]
    kept = r.settle(batch)
    assert kept == [batch[1], batch[2], batch[3], batch[5], batch[6]]
    assert r.superseded == 2
    decoded = [m for topic, payload, received in kept
               for m in r.decode(topic, payload, received).messages]
    assert ("availability", "b1-gate-cam", False) not in kinds(decoded)
    assert ("availability", "b1-meter", False) in kinds(decoded)


def test_settle_returns_a_batch_without_repeats_as_it_is() -> None:
    r = router()
    batch = [("frigate/gate/status/record", b"offline", NOW), ("tele/x/LWT", b"Online", NOW)]
    assert r.settle(batch) is batch
    assert r.superseded == 0


# ================================================================== simulators speak it too


def test_encoders_round_trip_through_the_adapters() -> None:
    r = router()
    z2m = decode("zigbee2mqtt/b1/f1/u101/smoke",
                 encode_state({"smoke": True, "smoke_density": 3.0, "battery": 80}, 99), r)
    assert values(z2m) == {"smoke": 1.0, "battery": 80.0}
    zone = r.tasmota._zone
    th = decode("tele/th_101/SENSOR",
                encode_sensor({"temperature": 22.5, "humidity": 50.0, "battery": 90}, NOW, zone))
    assert values(th) == {"temperature": 22.5, "humidity": 50.0}
    assert th.messages[0].ts == NOW
    meter = decode("tele/meter_b1/SENSOR",
                   encode_sensor({"voltage_v": 228.4, "power_kw": 41.2, "on_mains": True},
                                 NOW, zone))
    assert values(meter) == {"voltage_v": 228.4, "power_kw": 41.2}


def test_a_simulated_mixed_fleet_is_read_without_a_problem() -> None:
    fleet = Fleet(SITE, seed=3)
    r = router()
    seen: dict[str, list[str]] = {}

    def read(topic: str, payload: bytes) -> list[DeviceMessage]:
        key = parse_device_topic(topic)
        if key is None:
            decoded = r.decode(topic, payload, NOW)
            assert decoded.problems == ()
            return list(decoded.messages)
        device = SITE.devices[key.device_id]
        if key.channel is Channel.AVAILABILITY:
            return [decode_availability(device.id, payload, NOW)]
        telemetry, problems = decode_telemetry(device, payload, NOW)
        assert problems == []
        return [telemetry]

    for topic, payload in fleet.announcements():
        for message in read(topic, payload):
            seen.setdefault(message.device_id, []).append(kinds([message])[0][0])
            assert not isinstance(message, Availability) or message.online
    assert set(seen) == set(SITE.devices)
    assert seen["b1-gate-cam"] == ["availability", "availability", "telemetry", "availability"]
    for device_id in SITE.devices:
        messages = read(*fleet.telemetry(device_id, NOW))
        assert [m.device_id for m in messages] == [device_id], device_id
    # Hazards injected into vendor devices come out in their format.
    topic, payload = fleet.inject("b1-101-smoke", {"smoke": True}, NOW, 60)
    assert topic == "zigbee2mqtt/b1/f1/u101/smoke"
    assert values(r.decode(topic, payload, NOW))["smoke"] == 1.0
    intrusion = r.decode(*fleet.event("b1-gate-cam", "intrusion", NOW), NOW)
    assert intrusion.messages == (DeviceEvent("b1-gate-cam", NOW, "intrusion"),)
    topic, payload = fleet.event("b1-f1-cam", "intrusion", NOW)
    assert topic == "shouwang/vendorsite/dev/b1-f1-cam/event"
    with pytest.raises(ValueError, match="zigbee2mqtt format"):
        fleet.event("b1-101-smoke", "tamper", NOW)
