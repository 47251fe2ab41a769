"""The human text: pure, no loop."""

from __future__ import annotations

from dataclasses import replace

from hub.channels.base import Notification
from hub.channels.render import local_mobile, local_time, render, sms_text, spoken, title


def test_chinese_title_and_fields(notification: Notification) -> None:
    text = render(notification)
    assert text.title == "【特别严重】火警报警"
    fields = dict(text.fields)
    assert fields["社区"] == "测试社区"
    assert fields["地点"] == "1号楼 1层 101室"
    assert fields["时间"] == "2025-11-26 10:00:00 +08:00"
    assert "首次报警" not in fields
    assert "数量" not in fields
    plain = text.plain()
    assert plain.startswith("【特别严重】火警报警\n")
    assert "查看详情: http://127.0.0.1:8080/alerts/a1b2c3" in plain


def test_english_and_other_zone(notification: Notification) -> None:
    text = render(replace(notification, severity="warning", transition="escalated",
                          ts=notification.ts + 90), "en", "Europe/Berlin")
    assert text.title == "[WARNING] Fire alert escalated"
    fields = dict(text.fields)
    assert fields["Time"] == "2025-11-26 03:01:30 +01:00"
    assert fields["First raised"] == "2025-11-26 03:00:00 +01:00"
    assert fields["Place"] == "1号楼 1层 101室 (b1/f1/101)"


def test_every_severity_has_its_word(notification: Notification) -> None:
    words = {s: title(replace(notification, severity=s)) for s in
             ("critical", "major", "minor", "warning", "info")}
    assert words == {"critical": "【特别严重】火警报警", "major": "【严重】火警报警",
                     "minor": "【较重】火警报警", "warning": "【一般】火警报警",
                     "info": "【提示】火警报警"}


def test_a_group_says_how_many(notification: Notification) -> None:
    group = replace(notification, count=40, place_zh="3号楼")
    assert title(group) == "【特别严重】火警报警（共40条）"
    assert title(group, "en") == "[CRITICAL] Fire alert (40 alerts)"
    assert dict(render(group).fields)["数量"] == "40"


def test_a_drill_is_marked_in_every_form(drill: Notification) -> None:
    assert render(drill).title.startswith("【演练】")
    assert render(drill, "en").title.startswith("[DRILL] ")
    assert "【演练】" in render(drill).markdown()
    assert "【演练】" in render(drill).html()
    assert sms_text(drill).startswith("【演练】")
    assert spoken(drill).startswith("演练。")
    assert spoken(drill, "en").startswith("This is a drill.")


def test_sms_fits_one_segment(notification: Notification) -> None:
    text = sms_text(notification)
    assert text == "【特别严重】火警报警：1号楼 1层 101室 测试社区"
    long_place = replace(notification, exercise=True, count=12, place_zh="第三网格" * 20)
    text = sms_text(long_place)
    assert len(text) == 70
    assert text.startswith("【演练】【特别严重】火警报警（共12条）：")
    assert text.endswith("…")
    assert len(sms_text(long_place, "en")) == 70  # a Chinese place: UCS-2, 70 a segment
    ascii_place = replace(notification, place_zh="Block 3", site_name="Heyuan")
    assert sms_text(ascii_place, "en") == "[CRITICAL] Fire alert: Block 3 Heyuan"


def test_markdown_and_html_escape(notification: Notification) -> None:
    n = replace(notification, message_zh="<script>温度 > 57</script>")
    assert "&lt;script&gt;" in render(n).html()
    assert render(n).markdown().startswith("### 【特别严重】火警报警\n\n**社区**: 测试社区")


def test_local_mobile_and_time() -> None:
    assert local_mobile("+86 138-0000-0002") == "13800000002"
    assert local_mobile("008613800000002") == "13800000002"
    assert local_mobile("13800000002") == "13800000002"
    assert local_time(0, "UTC") == "1970-01-01 00:00:00 +00:00"
