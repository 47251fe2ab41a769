"""Frigate NVR: tracked objects become `intrusion` events, stream health becomes availability.

Topics (the part after `frigate/`):
    events                  JSON {"type": new|update|end, "before": {...}, "after": {...}}
    available               `online` / `offline`: the whole NVR, so every mapped camera
    <camera>/status/<role>  `online` / `offline` / `disabled` per stream role (newer releases)
    stats                   every `stats_interval` (60 s): per-camera `camera_fps`
    reviews                 skipped (see below); everything else under `frigate/` is skipped

Mapping decisions:
- A tracked object raises one `intrusion` event on its camera the first time its id is seen
  as a true positive. That is its `new` message in current Frigate (which sends `new` only once
  an object stops being a false positive); an `update` that flips `false_positive` to false
  (older releases) or whose `new` the hub missed counts once too. Later updates, `end`, and
  false positives raise nothing. Every label counts: Frigate's `objects: track:` (default
  `person` only) already decides which objects are worth tracking at each camera.
- `frigate/reviews` is skipped: a review groups the same tracked objects, so counting reviews
  as well would count one intrusion twice.
- Camera availability: offline when the NVR is offline or any `detect` / `record` role is
  offline; `disabled` roles are configuration, not failure. The `record` role is also the
  `recording` metric (1 online, 0 offline or disabled). `audio` is skipped.
  Frigate flips roles while it restarts a stream: within one batch only the last state of a
  topic counts (`VendorRouter.settle`); across batches the rules' offline `settle:` delay
  (60 s for cameras) rides out the rest.
- `stats` is the cameras' heartbeat: `fps` telemetry for each mapped camera that is delivering
  frames (`camera_fps` > 0) and not known offline. Frigate sends no other periodic message per
  camera, so without it every healthy camera would fall silent and be reported offline; a
  stream that delivers no frames says nothing, and the offline rule notices.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import orjson

from devices.adapters.wire import (
    Decoded,
    about_device,
    device_clock,
    metric_value,
    show,
    skipped,
    state_word,
    unmapped,
)
from devices.codec import DecodeError, FieldProblem, Reason, json_object
from devices.messages import Availability, DeviceEvent, DeviceMessage, Telemetry
from devices.site import DeviceInfo

MAX_FRIGATE_PAYLOAD = 256 * 1024
"""Event and stats messages grow with path data and camera count; larger than our own 16 KB."""
SEEN_EVENTS = 4096
"""Tracked-object ids remembered to raise each once; far more than are in flight at a time."""

_ROLES = ("detect", "record")
_STATUS = frozenset({"online", "offline", "disabled"})
_TYPES = frozenset({"new", "update", "end"})


class FrigateAdapter:
    def __init__(self, cameras: Mapping[str, DeviceInfo]) -> None:
        """`cameras`: site devices (kind camera) by Frigate camera name."""
        self._cameras = dict(cameras)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._roles: dict[str, dict[str, str]] = {}
        self._nvr_online = True

    @staticmethod
    def is_state_topic(rest: str) -> bool:
        return rest == "available" or (rest.count("/") == 2 and rest.split("/")[1] == "status")

    def decode(self, rest: str, payload: bytes, received: float) -> Decoded:
        """`rest`: the topic after `frigate/`."""
        if rest == "events":
            return self._event(payload, received)
        if rest == "available":
            return self._available(payload, received)
        if rest == "stats":
            return self._stats(payload, received)
        if rest == "reviews":
            return skipped("reviews")
        levels = rest.split("/")
        if len(levels) == 3 and levels[1] == "status":
            return self._status(levels[0], levels[2], payload, received)
        return skipped("other")

    # ------------------------------------------------------------------ events

    def _event(self, payload: bytes, received: float) -> Decoded:
        data = json_object(payload, MAX_FRIGATE_PAYLOAD)
        kind = data.get("type")
        if kind not in _TYPES:
            raise DecodeError(Reason.WRONG_TYPE,
                              f"event type must be new, update or end, got {show(kind)}")
        after = data.get("after")
        if not isinstance(after, dict):
            raise DecodeError(Reason.NOT_AN_OBJECT, f"`after` must be an object, got {show(after)}")
        camera = after.get("camera")
        if not isinstance(camera, str):
            raise DecodeError(Reason.WRONG_TYPE, f"after.camera must be a string, got "
                              f"{show(camera)}")
        device = self._cameras.get(camera)
        if device is None:
            raise unmapped(f"Frigate camera {camera!r}", f"{{format: frigate, name: {camera}}}")
        with about_device(device.id):
            return self._object(device, str(kind), after, received)

    def _object(self, device: DeviceInfo, kind: str, after: dict[str, object],
                received: float) -> Decoded:
        object_id = after.get("id")
        if not isinstance(object_id, str) or not object_id:
            raise DecodeError(Reason.WRONG_TYPE, f"after.id must be a string, got "
                              f"{show(object_id)}")
        if kind == "end":
            return skipped("event_end", device.id)
        if after.get("false_positive") is True:
            return skipped("false_positive", device.id)
        if object_id in self._seen:
            self._seen.move_to_end(object_id)
            return skipped("event_update", device.id)
        self._seen[object_id] = None
        if len(self._seen) > SEEN_EVENTS:
            self._seen.popitem(last=False)
        start = after.get("start_time")
        raw_ts = start if isinstance(start, int | float) and not isinstance(start, bool) else None
        ts, problem = device_clock(raw_ts, received, "after.start_time")
        return Decoded(device.id, (DeviceEvent(device.id, ts, "intrusion"),),
                       () if problem is None else (problem,))

    # ------------------------------------------------------------------ health

    def _available(self, payload: bytes, received: float) -> Decoded:
        word = state_word(payload)
        if word not in ("online", "offline"):
            raise DecodeError(Reason.BAD_AVAILABILITY,
                              f"frigate/available must be online/offline, got {payload[:40]!r}")
        self._nvr_online = word == "online"
        if not self._cameras:
            return skipped("no_cameras")
        return Decoded(None, tuple(Availability(d.id, received, self._camera_online(name))
                                   for name, d in self._cameras.items()))

    def _status(self, camera: str, role: str, payload: bytes, received: float) -> Decoded:
        device = self._cameras.get(camera)
        if device is None:
            raise unmapped(f"Frigate camera {camera!r}", f"{{format: frigate, name: {camera}}}")
        if role not in _ROLES:
            return skipped(f"status_{role}" if role == "audio" else "status_other", device.id)
        with about_device(device.id):
            word = state_word(payload)
            if word not in _STATUS:
                raise DecodeError(Reason.BAD_AVAILABILITY, f"status/{role} must be online, "
                                  f"offline or disabled, got {payload[:40]!r}")
        self._roles.setdefault(camera, {})[role] = word
        messages: list[DeviceMessage] = []
        if role == "record":
            recording = 1.0 if word == "online" else 0.0
            messages.append(Telemetry(device.id, received, (("recording", recording),)))
        messages.append(Availability(device.id, received, self._camera_online(camera)))
        return Decoded(device.id, tuple(messages))

    def _camera_online(self, camera: str) -> bool:
        roles = self._roles.get(camera, {})
        return self._nvr_online and "offline" not in roles.values()

    def _stats(self, payload: bytes, received: float) -> Decoded:
        data = json_object(payload, MAX_FRIGATE_PAYLOAD)
        cameras = data.get("cameras")
        if not isinstance(cameras, dict):
            raise DecodeError(Reason.NOT_AN_OBJECT,
                              f"stats.cameras must be an object, got {show(cameras)}")
        messages: list[DeviceMessage] = []
        problems: list[FieldProblem] = []
        for name, stats in cameras.items():
            device = self._cameras.get(name)
            if device is None or not isinstance(stats, dict) or not self._camera_online(name):
                continue
            fps = metric_value(device.kind.metrics["fps"], stats.get("camera_fps"),
                               f"stats.cameras.{name}.camera_fps")
            if isinstance(fps, FieldProblem):
                problems.append(fps)
            elif fps > 0:
                messages.append(Telemetry(device.id, received, (("fps", fps),)))
        if not messages and not problems:
            return skipped("stats_idle")
        return Decoded(None, tuple(messages), tuple(problems))


# ------------------------------------------------------------------ simulators


def encode_event(kind: str, object_id: str, camera: str, start_time: float, *,
                 label: str = "person", false_positive: bool = False,
                 end_time: float | None = None) -> bytes:
    """A `frigate/events` message; `before` and `after` carry the fields the hub reads."""
    after: dict[str, object] = {
        "id": object_id, "camera": camera, "label": label, "sub_label": None,
        "false_positive": false_positive, "start_time": start_time, "end_time": end_time,
        "score": 0.82, "top_score": 0.86, "stationary": False, "current_zones": [],
        "entered_zones": [], "has_snapshot": True, "has_clip": True}
    return orjson.dumps({"type": kind, "before": after, "after": after})


def encode_stats(camera_fps: Mapping[str, float]) -> bytes:
    return orjson.dumps({"cameras": {
        name: {"camera_fps": fps, "process_fps": fps, "skipped_fps": 0.0, "detection_fps": 0.0}
        for name, fps in camera_fps.items()}})
