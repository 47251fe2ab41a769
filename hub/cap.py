"""An alert as an OASIS CAP 1.2 document, for command centres and public warning systems.

One `<alert>` per message: Alert when raised, Update while it changes, Cancel when it clears
(both with `references` = sender,identifier,sent of the earlier message, and `incidents` = our
alert id tying them together); status Exercise for drills; scope Public; one `<info>` in
zh-CN and one in en-US. Times carry their offset (`+08:00`; UTC is `-00:00` per CAP).

Mapping of our categories (a rule may override, see `_RULE_CATEGORIES`):
    fire -> Fire            security -> Security        elderly_care -> Health, Rescue
    gas -> Safety           equipment, power, device -> Infra
    flood -> Met (CAP: "Meteorological (inc. flood)"); but the `water_leak` and
    `water_tank_falling` rules -> Infra: a leaking or burst pipe is a building-services
    failure, not weather.
    Gas is Safety, not CBRNE: CBRNE is for chemical/biological/radiological/nuclear/explosive
    threats and attacks (hazmat response); a household gas leak is a public-safety hazard
    handled by the gas company and the community, however severe.

Mapping of our severities (urgency / severity / certainty): our rules fire on measurements
of the hazard itself (smoke present, %LEL, water depth), so the event is Observed.
    critical -> Immediate / Extreme  / Observed
    major    -> Immediate / Severe   / Observed
    minor    -> Expected  / Moderate / Observed
    warning  -> Expected  / Minor    / Likely
    info     -> Future    / Minor    / Possible
A Cancel keeps the severity, with urgency Past and responseType AllClear.

responseType by category, (critical, otherwise):
    fire, gas: Evacuate, Assess     flood: Avoid, Monitor      elderly_care: Execute, Assess
    security, equipment: Assess, Monitor     power: Prepare, Monitor    device: Monitor
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from zoneinfo import ZoneInfo

from hub.channels.render import (
    CATEGORY_EN,
    CATEGORY_ZH,
    DRILL_EN,
    DRILL_ZH,
    SEVERITY_EN,
    SEVERITY_ZH,
)

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"

_CATEGORIES = {"fire": ("Fire",), "gas": ("Safety",), "flood": ("Met",),
               "elderly_care": ("Health", "Rescue"), "security": ("Security",),
               "equipment": ("Infra",), "power": ("Infra",), "device": ("Infra",)}
_RULE_CATEGORIES = {"water_leak": ("Infra",), "water_tank_falling": ("Infra",)}
_GRADES = {"critical": ("Immediate", "Extreme", "Observed"),
           "major": ("Immediate", "Severe", "Observed"),
           "minor": ("Expected", "Moderate", "Observed"),
           "warning": ("Expected", "Minor", "Likely"),
           "info": ("Future", "Minor", "Possible")}
_RESPONSES = {"fire": ("Evacuate", "Assess"), "gas": ("Evacuate", "Assess"),
              "flood": ("Avoid", "Monitor"), "elderly_care": ("Execute", "Assess"),
              "security": ("Assess", "Monitor"), "equipment": ("Assess", "Monitor"),
              "power": ("Prepare", "Monitor"), "device": ("Monitor", "Monitor")}
_INSTRUCTIONS = {
    "fire": ("请立即核实火情；确认起火时拨打119并组织疏散，不要乘坐电梯。",
             "Verify the fire at once; if confirmed, call 119 and evacuate. Do not use lifts."),
    "gas": ("请立即关闭燃气阀门、开窗通风，勿开关电器、勿用明火，撤离后拨打燃气抢修电话。",
            "Shut the gas valve and open the windows; do not switch electrics or use flames; "
            "leave and call the gas emergency line."),
    "flood": ("请远离积水区域，切断受影响区域电源，关闭进水阀门。",
              "Keep away from the water; cut power to the area and close the water inlet."),
    "elderly_care": ("请立即联系老人或上门查看，必要时拨打120。",
                     "Call or visit the resident at once; call 120 if needed."),
    "security": ("请值班人员调取视频核实情况。", "Duty officer: check the cameras and verify."),
    "equipment": ("请通知物业维修人员检查设备。", "Ask property maintenance to inspect it."),
    "power": ("请检查供电，确认消防、电梯等设备备用电源正常。",
              "Check the supply; make sure fire and lift equipment run on backup power."),
    "device": ("请检查设备供电与网络连接。", "Check the device's power and network link."),
}
_ALL_CLEAR = ("警报已解除，恢复正常。", "The alert has been cleared.")
_CAP_UNSAFE = frozenset(" ,<&")


class MsgType(Enum):
    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"


@dataclass(frozen=True, slots=True)
class CapSite:
    id: str
    name: str
    timezone: str = "Asia/Shanghai"
    location: tuple[float, float] | None = None
    """(lat, lon) WGS 84 of the community, for the `circle`."""
    radius_km: float = 0.5
    sender: str | None = None
    """CAP sender id; `shouwang@<site id>` unless given."""

    def __post_init__(self) -> None:
        if _CAP_UNSAFE & set(self.sender_id):
            raise ValueError(f"CAP sender {self.sender_id!r} may not contain spaces, "
                             "commas, '<' or '&'")

    @property
    def sender_id(self) -> str:
        return self.sender or f"shouwang@{self.id}"


@dataclass(frozen=True, slots=True)
class CapAlert:
    """The alert fields CAP needs (names as in `hub.statedb.AlertRecord`), place spelt out."""

    id: str
    rule_id: str
    category: str
    severity: str
    message_zh: str
    message_en: str
    raised_at: float
    place_id: str
    place_zh: str
    place_en: str
    device_id: str | None = None
    metric: str | None = None
    value: float | None = None
    occurrences: int = 1


@dataclass(frozen=True, slots=True)
class CapReference:
    sender: str
    identifier: str
    sent: str

    def __str__(self) -> str:
        return f"{self.sender},{self.identifier},{self.sent}"


@dataclass(frozen=True, slots=True)
class CapMessage:
    alert: CapAlert
    site: CapSite
    sent: float
    """Epoch seconds of this message."""
    msg_type: MsgType = MsgType.ALERT
    exercise: bool = False
    references: tuple[CapReference, ...] = ()
    link: str | None = None

    def __post_init__(self) -> None:
        if self.msg_type is not MsgType.ALERT and not self.references:
            raise ValueError(f"a CAP {self.msg_type.value} must reference the earlier message")

    @property
    def identifier(self) -> str:
        return (f"{self.site.id}.{self.alert.id}.{self.msg_type.value.lower()}."
                f"{round(self.sent * 1000)}")

    @property
    def sent_text(self) -> str:
        return cap_time(self.sent, self.site.timezone)

    def reference(self) -> CapReference:
        """How a later Update or Cancel names this message."""
        return CapReference(self.site.sender_id, self.identifier, self.sent_text)


def cap_time(ts: float, timezone: str) -> str:
    """`2025-11-26T18:30:05+08:00`; CAP forbids `Z` and writes UTC as `-00:00`."""
    text = datetime.fromtimestamp(int(ts), ZoneInfo(timezone)).isoformat(timespec="seconds")
    return text[:-6] + "-00:00" if text.endswith("+00:00") else text


def render_cap(message: CapMessage) -> bytes:
    """The CAP 1.2 XML document, UTF-8, with an XML declaration."""
    root = ET.Element(_tag("alert"))
    _add(root, "identifier", message.identifier)
    _add(root, "sender", message.site.sender_id)
    _add(root, "sent", message.sent_text)
    _add(root, "status", "Exercise" if message.exercise else "Actual")
    _add(root, "msgType", message.msg_type.value)
    _add(root, "scope", "Public")
    if message.exercise:
        _add(root, "note", "应急演练，非真实警情 / Drill: not a real alert")
    if message.references:
        _add(root, "references", " ".join(str(r) for r in message.references))
    _add(root, "incidents", message.alert.id)
    for lang in ("zh", "en"):
        _info(root, message, lang)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True,
                                  default_namespace=CAP_NS)
    return document


def _info(root: ET.Element, message: CapMessage, lang: str) -> None:
    alert, site, zh = message.alert, message.site, lang == "zh"
    cancel = message.msg_type is MsgType.CANCEL
    urgency, severity, certainty = _GRADES.get(alert.severity, ("Unknown",) * 3)
    info = _add(root, "info")
    _add(info, "language", "zh-CN" if zh else "en-US")
    for category in _RULE_CATEGORIES.get(alert.rule_id, _CATEGORIES.get(alert.category,
                                                                         ("Other",))):
        _add(info, "category", category)
    event = (f"{CATEGORY_ZH.get(alert.category, alert.category)}报警" if zh
             else f"{CATEGORY_EN.get(alert.category, alert.category)} alert")
    _add(info, "event", event)
    critical, usual = _RESPONSES.get(alert.category, ("Monitor", "Monitor"))
    _add(info, "responseType",
         "AllClear" if cancel else critical if alert.severity == "critical" else usual)
    _add(info, "urgency", "Past" if cancel else urgency)
    _add(info, "severity", severity)
    _add(info, "certainty", "Observed" if cancel else certainty)
    _pair(info, "eventCode", "shouwang:rule", alert.rule_id)
    _add(info, "onset", cap_time(alert.raised_at, site.timezone))
    _add(info, "senderName", f"{site.name}（守望）" if zh else f"{site.name} (Shouwang)")
    _add(info, "headline", _headline(message, zh))
    description = alert.message_zh if zh else alert.message_en
    if alert.occurrences > 1:
        description += (f"（累计{alert.occurrences}次）" if zh
                        else f" ({alert.occurrences} occurrences)")
    _add(info, "description", description)
    instruction = _INSTRUCTIONS.get(alert.category)
    if cancel or instruction:
        _add(info, "instruction", (_ALL_CLEAR if cancel or not instruction
                                   else instruction)[0 if zh else 1])
    if message.link:
        _add(info, "web", message.link)
    _pair(info, "parameter", "shouwang:alert", alert.id)
    if alert.device_id:
        _pair(info, "parameter", "shouwang:device", alert.device_id)
    if alert.value is not None:
        _pair(info, "parameter", f"shouwang:{alert.metric or 'value'}", f"{alert.value:g}")
    area = _add(info, "area")
    _add(area, "areaDesc", f"{site.name} {alert.place_zh}" if zh
         else f"{site.name}, {alert.place_en}")
    if site.location is not None:
        lat, lon = site.location
        _add(area, "circle", f"{lat:.6f},{lon:.6f} {site.radius_km:g}")
    _pair(area, "geocode", "shouwang:place", alert.place_id)


def _headline(message: CapMessage, zh: bool) -> str:
    alert, cleared = message.alert, message.msg_type is MsgType.CANCEL
    if zh:
        drill = DRILL_ZH if message.exercise else ""
        return (f"{drill}【{SEVERITY_ZH.get(alert.severity, alert.severity)}】"
                f"{CATEGORY_ZH.get(alert.category, alert.category)}报警"
                f"{'解除' if cleared else ''}：{alert.place_zh}")
    drill = f"{DRILL_EN} " if message.exercise else ""
    return (f"{drill}[{SEVERITY_EN.get(alert.severity, alert.severity)}] "
            f"{CATEGORY_EN.get(alert.category, alert.category)} alert"
            f"{' cleared' if cleared else ''}: {alert.place_en}")


def _tag(name: str) -> str:
    return f"{{{CAP_NS}}}{name}"


def _add(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, _tag(name))
    element.text = text
    return element


def _pair(parent: ET.Element, name: str, value_name: str, value: str) -> None:
    element = _add(parent, name)
    _add(element, "valueName", value_name)
    _add(element, "value", value)
