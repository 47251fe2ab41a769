"""CAP 1.2 documents for tests, written out by hand so every field can be got wrong."""

from __future__ import annotations

import time
from xml.sax.saxutils import escape

from hub.cap import cap_time

TZ = "Asia/Shanghai"
NORTH = (31.2000, 121.4000)
"""The `north` test community; `south` lies ~11 km due south of it."""
SOUTH = (31.1000, 121.4000)


def when(offset_s: float = 0.0) -> str:
    return cap_time(time.time() + offset_s, TZ)


def area(description: str = "上海市徐汇区", *, circles: tuple[str, ...] = (),
         polygons: tuple[str, ...] = (), geocodes: tuple[tuple[str, str], ...] = ()) -> str:
    parts = [f"<areaDesc>{escape(description)}</areaDesc>"]
    parts += [f"<polygon>{p}</polygon>" for p in polygons]
    parts += [f"<circle>{c}</circle>" for c in circles]
    parts += [f"<geocode><valueName>{n}</valueName><value>{v}</value></geocode>"
              for n, v in geocodes]
    return f"<area>{''.join(parts)}</area>"


def info(*, language: str = "zh-CN", event: str = "暴雨红色预警", severity: str = "Severe",
         headline: str = "暴雨红色预警：未来3小时降雨量将达100毫米以上",
         instruction: str | None = "请减少外出，远离低洼地带。", expires_s: float | None = 3600,
         areas: tuple[str, ...] = ()) -> str:
    expires = f"<expires>{when(expires_s)}</expires>" if expires_s is not None else ""
    text = f"<instruction>{escape(instruction)}</instruction>" if instruction else ""
    return (f"<info><language>{language}</language><category>Met</category>"
            f"<event>{escape(event)}</event><responseType>Prepare</responseType>"
            f"<urgency>Expected</urgency><severity>{severity}</severity>"
            f"<certainty>Likely</certainty>{expires}<senderName>上海中心气象台</senderName>"
            f"<headline>{escape(headline)}</headline><description>强降雨</description>{text}"
            f"{''.join(areas)}</info>")


def cap_xml(*, identifier: str = "sh-met-2030-001", sender: str = "met@sh.example.cn",
            sent_s: float = -60, status: str = "Actual", msg_type: str = "Alert",
            scope: str = "Public", references: str | None = None,
            addresses: str | None = None, infos: tuple[str, ...] | None = None) -> bytes:
    refs = f"<references>{references}</references>" if references else ""
    addr = f"<addresses>{addresses}</addresses>" if addresses else ""
    body = "".join(infos if infos is not None else (info(),))
    return (f'<?xml version="1.0" encoding="UTF-8"?>'
            f'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
            f"<identifier>{identifier}</identifier><sender>{sender}</sender>"
            f"<sent>{when(sent_s)}</sent><status>{status}</status><msgType>{msg_type}</msgType>"
            f"<scope>{scope}</scope>{addr}{refs}{body}</alert>").encode()


def circle_around(point: tuple[float, float], radius_km: float) -> str:
    return f"{point[0]:.4f},{point[1]:.4f} {radius_km:g}"


def square_around(point: tuple[float, float], half_deg: float) -> str:
    lat, lon = point
    ring = [(lat - half_deg, lon - half_deg), (lat - half_deg, lon + half_deg),
            (lat + half_deg, lon + half_deg), (lat + half_deg, lon - half_deg),
            (lat - half_deg, lon - half_deg)]
    return " ".join(f"{a:.4f},{b:.4f}" for a, b in ring)
