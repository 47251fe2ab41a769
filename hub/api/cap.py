"""CAP 1.2 over HTTP: each alert as a CAP document, and an Atom feed of the current ones —
what a city or sub-district platform polls."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, Response

from devices.site import Place, describe_place
from hub.api.deps import HubDep
from hub.cap import CapAlert, CapMessage, CapSite, MsgType, render_cap
from hub.service import Hub
from hub.statedb import AlertRecord

router = APIRouter(tags=["cap"])

CAP_MEDIA_TYPE = "application/cap+xml"
_ATOM = "http://www.w3.org/2005/Atom"
_RECENT_S = 24 * 3600.0


def cap_message(hub: Hub, alert: AlertRecord) -> CapMessage:
    """Alert while it stands as raised, Update once it changed, Cancel once cleared."""
    site = hub.site
    place = site.places.get(alert.place_id) or Place(alert.place_id)
    cap_site = CapSite(site.id, site.name, site.timezone, site.location,
                       sender=hub.config.spec.cap.sender)
    cap_alert = CapAlert(alert.id, alert.rule_id, alert.category, alert.severity,
                         alert.message_zh, alert.message_en, alert.raised_at, alert.place_id,
                         describe_place(site, place, "zh"), describe_place(site, place, "en"),
                         alert.device_id, alert.metric, alert.value, alert.occurrences)
    drill = alert.exercise
    first = CapMessage(cap_alert, cap_site, alert.raised_at, exercise=drill)
    if not alert.active:
        return CapMessage(cap_alert, cap_site, alert.cleared_at or alert.updated_at,
                          MsgType.CANCEL, exercise=drill, references=(first.reference(),))
    if alert.updated_at > alert.raised_at:
        return CapMessage(cap_alert, cap_site, alert.updated_at, MsgType.UPDATE,
                          exercise=drill, references=(first.reference(),))
    return first


@router.get("/api/alerts/{alert_id}/cap", response_class=Response,
            responses={200: {"content": {CAP_MEDIA_TYPE: {}}}})
def alert_cap(hub: HubDep, alert_id: str) -> Response:
    alert = hub.db.alert(alert_id)
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id!r}")
    document = render_cap(cap_message(hub, alert))
    if hub.cap_signer is not None:
        document = hub.cap_signer.sign(document)
    return Response(document, media_type=CAP_MEDIA_TYPE)


@router.get("/api/cap/feed", response_class=Response,
            responses={200: {"content": {"application/atom+xml": {}}}})
def cap_feed(hub: HubDep, request: Request) -> Response:
    """Active alerts, and those cleared in the last 24 h (as CAP Cancel), newest first."""
    now = hub.clock.now()
    alerts = [a for a in hub.db.alerts(limit=1000)
              if a.active or (a.cleared_at or 0) >= now - _RECENT_S]
    ET.register_namespace("", _ATOM)
    feed = ET.Element(f"{{{_ATOM}}}feed")
    base = str(request.base_url).rstrip("/")
    _text(feed, "id", f"urn:shouwang:{hub.site.id}:cap")
    _text(feed, "title", f"{hub.site.name} — 守望 CAP alerts")
    _text(feed, "updated", _atom_time(max((a.updated_at for a in alerts), default=now)))
    author = ET.SubElement(feed, f"{{{_ATOM}}}author")
    _text(author, "name", f"shouwang@{hub.site.id}")
    ET.SubElement(feed, f"{{{_ATOM}}}link", rel="self", href=f"{base}/api/cap/feed")
    for alert in alerts:
        message = cap_message(hub, alert)
        entry = ET.SubElement(feed, f"{{{_ATOM}}}entry")
        _text(entry, "id", f"urn:shouwang:{hub.site.id}:{message.identifier}")
        _text(entry, "title", f"[{alert.severity}] {alert.message_zh}")
        _text(entry, "updated", _atom_time(alert.updated_at))
        _text(entry, "summary", alert.message_en)
        ET.SubElement(entry, f"{{{_ATOM}}}link", rel="alternate", type=CAP_MEDIA_TYPE,
                      href=f"{base}/api/alerts/{alert.id}/cap")
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return Response(body, media_type="application/atom+xml")


def _text(parent: ET.Element, name: str, text: str) -> None:
    ET.SubElement(parent, f"{{{_ATOM}}}{name}").text = text


def _atom_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
