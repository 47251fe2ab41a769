"""CAP ingest, pure: parse, XSD, signatures, expiry, status, and the area filter."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hub.capin import (
    CapConfigError,
    CapIngest,
    CapRejectedError,
    Reason,
    SiteArea,
    distance_km,
    parse_circle,
    parse_polygon,
    polygon_reaches,
)
from hub.capsign import CapSigner
from hub.centre.warn import CentreSender, WarningRequest, render_warning
from hub.config import CapIngestConfig
from tests.federation.capdocs import (
    NORTH,
    SOUTH,
    area,
    cap_xml,
    circle_around,
    info,
    square_around,
)
from tests.federation.certs import make_signer


def ingest(location: tuple[float, float] | None = NORTH, site: str = "north",
           **spec: object) -> CapIngest:
    config = CapIngestConfig.model_validate(spec)
    return CapIngest(SiteArea.of(site, location, config), config)


def rejected(cap: CapIngest, data: bytes, **kwargs: object) -> CapRejectedError:
    with pytest.raises(CapRejectedError) as caught:
        cap.check(data, time.time(), "test", **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_a_plain_warning_without_area_concerns_everyone() -> None:
    doc = ingest().check(cap_xml(), time.time())
    assert (doc.msg_type, doc.status, doc.signed) == ("Alert", "Actual", False)
    assert doc.infos[0].event == "暴雨红色预警"
    assert doc.infos[0].expires is not None
    assert doc.infos[0].expires > time.time() - 5


def test_the_centres_own_warning_is_valid_cap() -> None:
    request = WarningRequest(event="台风橙色预警", headline="台风将于今夜登陆",
                             description="请做好防风准备", sites=["north"],
                             headline_en="Typhoon tonight", description_en="Prepare")
    data = render_warning(request, CentreSender("centre@xuhui", "徐汇指挥中心"),
                          identifier="xuhui.1", sent=time.time())
    doc = ingest().check(data, time.time())
    assert [i.language for i in doc.infos] == ["zh-CN", "en-US"]
    assert doc.infos[0].areas[0].geocodes == (("shouwang:site", "north"),)
    # Addressed to north by geocode: south is not covered.
    assert rejected(ingest(SOUTH, "south"), data).reason is Reason.NOT_COVERING


@pytest.mark.parametrize(("data", "reason"), [
    (b"<alert", Reason.MALFORMED),
    (b"<feed xmlns='http://www.w3.org/2005/Atom'/>", Reason.MALFORMED),
    (b"<!DOCTYPE x [<!ENTITY e 'boom'>]><alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'>"
     b"&e;</alert>", Reason.MALFORMED),
    (cap_xml(status="Real"), Reason.SCHEMA_INVALID),
    (cap_xml().replace(b"<scope>Public</scope>", b""), Reason.SCHEMA_INVALID),
    (b" " * 600_000, Reason.MALFORMED),
    (cap_xml(infos=(info(areas=(area(circles=("31.2,121.4",)),)),)), Reason.MALFORMED),
    (cap_xml(infos=(info(areas=(area(polygons=("31.2,121.4 31.3,121.4",)),)),)),
     Reason.MALFORMED),
])
def test_bad_documents_are_rejected_with_a_reason(data: bytes, reason: Reason) -> None:
    cap = ingest()
    error = rejected(cap, data)
    assert error.reason is reason, error.detail
    assert cap.rejected[reason.value] == 1
    assert cap.recent[-1].reason is reason


def test_entities_are_not_expanded() -> None:
    # The entity would expand to text the schema allows nowhere; unexpanded, it is empty.
    data = (b"<!DOCTYPE alert [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>" +
            cap_xml().split(b"?>", 1)[1].replace(b"<identifier>sh-met-2030-001",
                                                 b"<identifier>&x;"))
    with pytest.raises(CapRejectedError) as caught:
        ingest().check(data, time.time())
    assert "root:" not in caught.value.detail


def test_expired_and_not_actionable() -> None:
    cap = ingest()
    assert rejected(cap, cap_xml(infos=(info(expires_s=-10),))).reason is Reason.EXPIRED
    for data in (cap_xml(status="Test"), cap_xml(status="Draft"), cap_xml(msg_type="Ack",
                                                                           references="a,b,c"),
                 cap_xml(scope="Private", addresses="south")):
        assert rejected(cap, data).reason is Reason.NOT_ACTIONABLE
    assert rejected(cap, cap_xml(msg_type="Update")).reason is Reason.MALFORMED
    assert cap.check(cap_xml(scope="Private", addresses="north"), time.time()).scope == "Private"
    exercise = cap.check(cap_xml(status="Exercise"), time.time())
    assert exercise.exercise
    no_drills = ingest(exercises=False)
    assert rejected(no_drills, cap_xml(status="Exercise")).reason is Reason.NOT_ACTIONABLE


def test_only_the_unexpired_infos_that_cover_us_are_kept() -> None:
    here = area(circles=(circle_around(NORTH, 1),))
    far = area("崇明", circles=("31.6,121.6 3",))
    doc = ingest().check(cap_xml(infos=(info(areas=(far,)), info(language="en-US",
                                                                 areas=(here,)),
                                        info(language="fr-FR", expires_s=-5))), time.time())
    assert [i.language for i in doc.infos] == ["en-US"]


@pytest.mark.parametrize(("where", "covers_north", "covers_south"), [
    (area(circles=(circle_around(NORTH, 2),)), True, False),
    (area(circles=(circle_around(NORTH, 20),)), True, True),
    # 11.1 km apart; a 10.8 km circle reaches south's own 0.5 km around its centre.
    (area(circles=(circle_around(NORTH, 10.8),)), True, True),
    (area(circles=(circle_around(NORTH, 10.4),)), True, False),
    (area(polygons=(square_around(NORTH, 0.02),)), True, False),
    (area(polygons=(square_around((31.15, 121.4), 0.06),)), True, True),
    (area(geocodes=(("GB2260", "310104"),)), True, False),
    (area(geocodes=(("shouwang:site", "south"),)), False, True),
    (area(geocodes=(("GB2260", "999999"),)), False, False),
    (area("上海全市"), True, True),
])
def test_area_filter(where: str, covers_north: bool, covers_south: bool) -> None:
    data = cap_xml(infos=(info(areas=(where,)),))
    north = ingest(geocodes={"GB2260": ["310000", "310104"]})
    south = ingest(SOUTH, "south")
    for cap, covers in ((north, covers_north), (south, covers_south)):
        if covers:
            assert cap.check(data, time.time()).infos
        else:
            assert rejected(cap, data).reason is Reason.NOT_COVERING


def test_shapes_without_a_site_location_are_relayed() -> None:
    data = cap_xml(infos=(info(areas=(area(circles=("40.0,116.4 5",)),)),))
    assert ingest(None).check(data, time.time()).infos


def test_polygon_edge_within_the_community_radius() -> None:
    # A polygon whose edge passes 300 m east of the site reaches its 0.5 km extent.
    lat, lon = NORTH
    east = lon + 0.3 / (111.32 * 0.8557)
    ring = parse_polygon(f"{lat - 0.1},{east} {lat - 0.1},{east + 0.2} {lat + 0.1},{east + 0.2}"
                         f" {lat + 0.1},{east} {lat - 0.1},{east}")
    assert polygon_reaches(ring, NORTH, 0.5)
    assert not polygon_reaches(ring, NORTH, 0.2)


def test_geometry() -> None:
    assert distance_km((39.9042, 116.4074), (31.2304, 121.4737)) == pytest.approx(1067, abs=5)
    assert parse_circle("31.2,121.4 0") == ((31.2, 121.4), 0.0)
    open_ring = parse_polygon("0,0 0,1 1,1")
    assert open_ring[0] == open_ring[-1]
    with pytest.raises(CapRejectedError):
        parse_circle("91,0 1")
    with pytest.raises(CapRejectedError):
        parse_circle("1,1 -3")


def test_an_update_that_no_longer_covers_us_ends_what_we_hold() -> None:
    far = area(circles=("31.6,121.6 3",))
    update = cap_xml(msg_type="Update", identifier="u1", references="met,a1,2030-01-01T00:00:00"
                     "+08:00", infos=(info(areas=(far,)),))
    cap = ingest()
    assert rejected(cap, update).reason is Reason.NOT_COVERING
    doc = cap.check(update, time.time(), holds=lambda refs: refs[0].identifier == "a1")
    assert doc.infos == ()
    cancel = cap_xml(msg_type="Cancel", identifier="c1", references="met,a1,x", infos=(
        info(areas=(far,)),))
    assert cap.check(cancel, time.time()).msg_type == "Cancel"  # a Cancel is never area-filtered


# ---------------------------------------------------------------- signatures

def test_signatures(tmp_path: Path) -> None:
    centre, intruder = make_signer("centre"), make_signer("intruder", kind="rsa")
    _, cert = centre.write(tmp_path, "centre")
    _, other_cert = intruder.write(tmp_path, "intruder")
    strict = ingest(require_signature=True, trusted_certs=[str(cert)])
    assert rejected(strict, cap_xml()).reason is Reason.UNSIGNED

    signed = CapSigner(centre.key_pem, centre.cert_pem).sign(cap_xml())
    doc = strict.check(signed, time.time())
    assert doc.signed
    assert doc.infos[0].event == "暴雨红色预警"

    forged = CapSigner(intruder.key_pem, intruder.cert_pem).sign(cap_xml())
    assert rejected(strict, forged).reason is Reason.BAD_SIGNATURE
    tampered = signed.replace("暴雨红色预警".encode(), "暴雨蓝色预警".encode())
    assert rejected(strict, tampered).reason is Reason.BAD_SIGNATURE
    # Several trusted certificates: any one of them will do.
    both = ingest(require_signature=True, trusted_certs=[str(other_cert), str(cert)])
    assert both.check(signed, time.time()).signed
    # Not required, but present: a signature that fails is never ignored.
    lenient = ingest(trusted_certs=[str(cert)])
    assert lenient.check(cap_xml(), time.time()).signed is False
    assert rejected(lenient, forged).reason is Reason.BAD_SIGNATURE
    assert rejected(ingest(), signed).reason is Reason.BAD_SIGNATURE  # nothing to check with
    assert dict(strict.rejected) == {"unsigned": 1, "bad_signature": 2}


def test_rsa_signatures_too(tmp_path: Path) -> None:
    centre = make_signer("centre", kind="rsa")
    _, cert = centre.write(tmp_path, "centre")
    signed = CapSigner(centre.key_pem, centre.cert_pem).sign(cap_xml())
    strict = ingest(require_signature=True, trusted_certs=[str(cert)])
    assert strict.check(signed, time.time()).signed


def test_configuration_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(CapConfigError, match="require_signature needs trusted_certs"):
        ingest(require_signature=True)
    with pytest.raises(CapConfigError, match="cannot read"):
        ingest(trusted_certs=[str(tmp_path / "missing.pem")])
    with pytest.raises(CapConfigError, match="cannot load the CAP XSD"):
        ingest(xsd=str(tmp_path / "missing.xsd"))
    assert ingest(schema_check=False).check(cap_xml(status="Actual"), time.time())
