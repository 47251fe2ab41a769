"""Warnings a command centre issues to its communities, as CAP 1.2 documents.

Built with the same conventions as `hub.cap` (namespace, `cap_time` with the offset, `-00:00`
for UTC, `references` as sender,identifier,sent), but not with `render_cap` itself: that one
renders *our alerts* (event, instruction and response come from our alert categories), while
a centre warning carries what the duty officer at the centre wrote: the event ("暴雨红色预警"),
its CAP category, grades, text and area.

Addressing: to named communities the area carries one geocode `shouwang:site` = id per
community (each hub covers itself by that code) and the document goes to each one's
`shouwang/<site>/cap/in`; to every community it goes once to `shouwang/cap/all`, and each hub
judges the area (no area: everyone). An optional circle or polygon is added to the area.

Signing (optional, `cap.sign`): an enveloped XML signature (signxml), RSA-SHA256 or
ECDSA-SHA256 by the key's type, with the certificate in KeyInfo; hubs verify it against the
certificate they were given, never the one inside.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.cap import CAP_NS, CapReference, cap_time
from hub.capin import SITE_GEOCODE, CapRejectedError, parse_circle, parse_polygon

CapCategory = Literal["Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env",
                      "Transport", "Infra", "CBRNE", "Other"]
Response = Literal["Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess",
                   "AllClear", "None"]


class AreaRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = Field(min_length=1, max_length=500)
    circles: list[str] = []
    """`"lat,lon radius_km"`."""
    polygons: list[str] = []
    """`"lat,lon lat,lon ... lat,lon"`, closed."""

    @field_validator("circles")
    @classmethod
    def _circles(cls, value: list[str]) -> list[str]:
        for circle in value:
            try:
                parse_circle(circle)
            except CapRejectedError as exc:
                raise ValueError(exc.detail) from None
        return value

    @field_validator("polygons")
    @classmethod
    def _polygons(cls, value: list[str]) -> list[str]:
        for polygon in value:
            try:
                parse_polygon(polygon)
            except CapRejectedError as exc:
                raise ValueError(exc.detail) from None
        return value


class WarningRequest(BaseModel):
    """What the centre's duty officer fills in (POST /api/warnings); who issues it is who is
    logged in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sites: list[str] | None = None
    """Community ids; leave out for every community."""
    event: str = Field(min_length=1, max_length=200)
    category: CapCategory = "Met"
    response: Response = "Prepare"
    urgency: Literal["Immediate", "Expected", "Future", "Past", "Unknown"] = "Expected"
    severity: Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"] = "Severe"
    certainty: Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"] = "Likely"
    headline: str = Field(min_length=1, max_length=300)
    description: str = Field(min_length=1, max_length=4000)
    instruction: str | None = Field(None, max_length=4000)
    headline_en: str | None = Field(None, max_length=300)
    description_en: str | None = Field(None, max_length=4000)
    instruction_en: str | None = Field(None, max_length=4000)
    expires_minutes: float = Field(360, gt=0, le=14 * 24 * 60)
    area: AreaRequest | None = None
    exercise: bool = False


@dataclass(frozen=True, slots=True)
class CentreSender:
    sender: str
    name: str
    """Shown as senderName."""
    timezone: str = "Asia/Shanghai"


def _tag(name: str) -> str:
    return f"{{{CAP_NS}}}{name}"


def _add(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, _tag(name))
    element.text = text
    return element


def render_warning(request: WarningRequest, who: CentreSender, *, identifier: str,
                   sent: float, msg_type: str = "Alert",
                   references: tuple[CapReference, ...] = ()) -> bytes:
    root = ET.Element(_tag("alert"))
    _add(root, "identifier", identifier)
    _add(root, "sender", who.sender)
    _add(root, "sent", cap_time(sent, who.timezone))
    _add(root, "status", "Exercise" if request.exercise else "Actual")
    _add(root, "msgType", msg_type)
    _add(root, "scope", "Public")
    if request.exercise:
        _add(root, "note", "应急演练，非真实预警 / Drill: not a real warning")
    if references:
        _add(root, "references", " ".join(str(r) for r in references))
    texts = [("zh-CN", request.headline, request.description, request.instruction)]
    if request.headline_en and request.description_en:
        texts.append(("en-US", request.headline_en, request.description_en,
                      request.instruction_en))
    cancel = msg_type == "Cancel"
    for language, headline, description, instruction in texts:
        info = _add(root, "info")
        _add(info, "language", language)
        _add(info, "category", request.category)
        _add(info, "event", request.event)
        _add(info, "responseType", "AllClear" if cancel else request.response)
        _add(info, "urgency", "Past" if cancel else request.urgency)
        _add(info, "severity", request.severity)
        _add(info, "certainty", request.certainty)
        _add(info, "expires", cap_time(sent + request.expires_minutes * 60, who.timezone))
        _add(info, "senderName", who.name)
        _add(info, "headline", headline)
        _add(info, "description", description)
        if instruction:
            _add(info, "instruction", instruction)
        _area(info, request)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True,
                                  default_namespace=CAP_NS)
    return document


def _area(info: ET.Element, request: WarningRequest) -> None:
    if request.area is None and not request.sites:
        return  # no area: every community that receives it
    area = _add(info, "area")
    description = request.area.description if request.area else "、".join(request.sites or ())
    _add(area, "areaDesc", description)
    if request.area is not None:
        for polygon in request.area.polygons:
            _add(area, "polygon", polygon)
        for circle in request.area.circles:
            _add(area, "circle", circle)
    for site in request.sites or ():
        code = _add(area, "geocode")
        _add(code, "valueName", SITE_GEOCODE)
        _add(code, "value", site)
