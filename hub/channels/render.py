"""The human text of a notification, in Chinese (default) or English.

`render()` gives a title line and labelled fields; each channel lays them out in its own
markup (plain text, markdown, HTML, a Feishu post). `sms_text()` is the pager line and
`spoken()` the PA-speaker sentence. A drill is marked in every form: 【演练】 / [DRILL].
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from hub.channels.base import Notification

DEFAULT_TIMEZONE = "Asia/Shanghai"

SEVERITY_ZH = {"critical": "特别严重", "major": "严重", "minor": "较重", "warning": "一般",
               "info": "提示"}
SEVERITY_EN = {"critical": "CRITICAL", "major": "MAJOR", "minor": "MINOR", "warning": "WARNING",
               "info": "INFO"}
CATEGORY_ZH = {"fire": "火警", "gas": "燃气", "flood": "水浸", "elderly_care": "养老看护",
               "security": "安防", "equipment": "设施设备", "power": "供电", "device": "终端设备"}
CATEGORY_EN = {"fire": "Fire", "gas": "Gas", "flood": "Flood", "elderly_care": "Elderly care",
               "security": "Security", "equipment": "Equipment", "power": "Power",
               "device": "Device"}
_TRANSITION_ZH = {"raised": "报警", "repeated": "再次报警", "escalated": "报警升级",
                  "acknowledged": "报警已确认", "cleared": "报警解除"}
_TRANSITION_EN = {"raised": "alert", "repeated": "alert repeated", "escalated": "alert escalated",
                  "acknowledged": "alert acknowledged", "cleared": "alert cleared"}
DRILL_ZH = "【演练】"
DRILL_EN = "[DRILL]"


@dataclass(frozen=True, slots=True)
class Rendered:
    title: str
    fields: tuple[tuple[str, str], ...]
    """(label, value) lines under the title, in reading order."""
    link_label: str
    link: str | None

    def plain(self) -> str:
        lines = [self.title, *(f"{label}: {value}" for label, value in self.fields)]
        if self.link:
            lines.append(f"{self.link_label}: {self.link}")
        return "\n".join(lines)

    def markdown(self) -> str:
        """The subset WeCom and DingTalk robots share: heading, bold, link; blank-line breaks."""
        lines = [f"### {self.title}", *(f"**{label}**: {value}" for label, value in self.fields)]
        if self.link:
            lines.append(f"[{self.link_label}]({self.link})")
        return "\n\n".join(lines)

    def html(self) -> str:
        rows = "".join(f"<tr><th align=\"left\">{html.escape(label)}</th>"
                       f"<td>{html.escape(value)}</td></tr>" for label, value in self.fields)
        link = (f"<p><a href=\"{html.escape(self.link)}\">{html.escape(self.link_label)}</a></p>"
                if self.link else "")
        return (f"<html><body><h3>{html.escape(self.title)}</h3><table>{rows}</table>{link}"
                "</body></html>")


def title(n: Notification, lang: str = "zh") -> str:
    if lang == "zh":
        count = f"（共{n.count}条）" if n.count > 1 else ""
        return (f"{DRILL_ZH if n.exercise else ''}【{SEVERITY_ZH.get(n.severity, n.severity)}】"
                f"{CATEGORY_ZH.get(n.category, n.category)}"
                f"{_TRANSITION_ZH.get(n.transition, n.transition)}{count}")
    count = f" ({n.count} alerts)" if n.count > 1 else ""
    drill = f"{DRILL_EN} " if n.exercise else ""
    return (f"{drill}[{SEVERITY_EN.get(n.severity, n.severity.upper())}] "
            f"{CATEGORY_EN.get(n.category, n.category)} "
            f"{_TRANSITION_EN.get(n.transition, n.transition)}{count}")


def render(n: Notification, lang: str = "zh", timezone: str = DEFAULT_TIMEZONE) -> Rendered:
    zh = lang == "zh"
    fields = [("社区" if zh else "Community", n.site_name),
              ("地点" if zh else "Place", n.place_zh if zh else f"{n.place_zh} ({n.place_id})"),
              ("详情" if zh else "Details", n.message_zh if zh else n.message_en),
              ("时间" if zh else "Time", local_time(n.ts, timezone))]
    if n.transition != "raised":
        fields.append(("首次报警" if zh else "First raised", local_time(n.raised_at, timezone)))
    if n.count > 1:
        fields.append(("数量" if zh else "Alerts", str(n.count)))
    if n.exercise:
        fields.append(("说明" if zh else "Note",
                       "本条为应急演练，非真实警情" if zh else "This is a drill, not a real alert"))
    return Rendered(title(n, lang), tuple(fields), "查看详情" if zh else "Open the alert", n.link)


def sms_text(n: Notification, lang: str = "zh", limit: int | None = None) -> str:
    """The pager line: title and place, within one SMS segment.

    One segment holds 70 characters once any character is outside GSM-7 (any Chinese
    character), 160 otherwise; the place is shortened, never the title or drill marker.
    """
    head = f"{title(n, lang)}{'：' if lang == 'zh' else ': '}"
    text = f"{head}{n.place_zh} {n.site_name}"
    if limit is None:
        limit = 160 if text.isascii() else 70
    if len(text) > limit:
        text = f"{head}{n.place_zh}"
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    return text


def spoken(n: Notification, lang: str = "zh") -> str:
    """What a PA speaker reads out: no brackets, the drill said first."""
    if lang == "zh":
        drill = "演练。" if n.exercise else ""
        return (f"{drill}{SEVERITY_ZH.get(n.severity, n.severity)}"
                f"{CATEGORY_ZH.get(n.category, n.category)}"
                f"{_TRANSITION_ZH.get(n.transition, n.transition)}。{n.place_zh}。{n.message_zh}")
    drill = "This is a drill. " if n.exercise else ""
    return (f"{drill}{n.severity.capitalize()} {CATEGORY_EN.get(n.category, n.category)} "
            f"{_TRANSITION_EN.get(n.transition, n.transition)}. {n.place_zh}. {n.message_en}")


def local_time(ts: float, timezone: str = DEFAULT_TIMEZONE) -> str:
    """`2025-11-26 18:30:05 +08:00` in the site's zone."""
    moment = datetime.fromtimestamp(ts, ZoneInfo(timezone))
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]}"


_PHONE_NOISE = re.compile(r"[\s\-()]")


def compact_phone(phone: str) -> str:
    """`+86 138-0000-0001` -> `+8613800000001` (E.164 when the roster gives a country code)."""
    return _PHONE_NOISE.sub("", phone)


def local_mobile(phone: str) -> str:
    """`+86 138-0000-0001` -> `13800000001`: the form Chinese IM robots expect."""
    digits = compact_phone(phone)
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            return digits[len(prefix):]
    return digits
