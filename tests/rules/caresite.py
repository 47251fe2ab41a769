"""The care site and the small helpers the condition and snapshot tests share.

The site (`tests/data/care_site.yaml`): building h1 holds homes — 301 with a resident, rooms,
a bed sensor, a wearable and two gas detectors; 302 without a resident; 401 upstairs with a
resident — and buildings b2 (ten cameras, a recorder, a power meter) and b3 (two cameras).
Local time is Asia/Shanghai (UTC+8, no daylight saving), so `at(day, "09:30")` is exact.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from devices.messages import Telemetry
from devices.site import Site, load_site
from rules.engine import Decision, Raise, RulesEngine
from rules.schema import Rule, check_unique, load_pack

CARE_FILE = Path(__file__).parents[1] / "data" / "care_site.yaml"
CARE_TEXT = CARE_FILE.read_text(encoding="utf-8")
CARE: Site = load_site(CARE_TEXT, str(CARE_FILE))
ZONE = ZoneInfo(CARE.timezone)
DAY0 = date(2025, 6, 16)
"""A Monday; day 1 is the Tuesday after it."""


def at(day: int, clock: str) -> float:
    """Epoch seconds of local `clock` ("HH:MM" or "HH:MM:SS") on day `day` after DAY0."""
    moment = datetime.combine(DAY0 + timedelta(days=day), time.fromisoformat(clock), ZONE)
    return moment.timestamp()


T0 = at(0, "06:00")
"""When the engine starts unless a test says otherwise."""


def pack(condition: str, *, kinds: str, subject: str = "device", rule_id: str = "r1",
         severity: str = "major", rooms: str | None = None, residents_only: bool = False,
         between: str | None = None) -> str:
    """A one-rule pack; the keyword arguments are the rule's YAML fields as written."""
    lines = [
        "pack: test",
        "rules:",
        f"  - id: {rule_id}",
        "    category: elderly_care",
        f"    severity: {severity}",
        f"    kinds: {kinds}",
        f"    subject: {subject}",
        "    message: {zh: 测试, en: test}",
        f"    condition: {condition}",
    ]
    if rooms is not None:
        lines.append(f"    rooms: {rooms}")
    if residents_only:
        lines.append("    residents_only: true")
    if between is not None:
        lines.append(f"    between: {between}")
    return "\n".join(lines) + "\n"


def shipped(*names: str) -> list[Rule]:
    """Rules of the named shipped packs (`fire`, `video` ...)."""
    packs = resources.files("rules.packs")
    return [rule for name in names
            for rule in load_pack(packs.joinpath(f"{name}.yaml").read_text(encoding="utf-8"),
                                  f"rules/packs/{name}.yaml")]


def engine(*packs: str, ship: tuple[str, ...] = (), only: tuple[str, ...] = (),
           started: float = T0, site: Site = CARE) -> RulesEngine:
    """An engine over `packs` (YAML text) and the shipped packs `ship`; with `only`, just
    those shipped rules, so a test of one rule is not disturbed by its neighbours."""
    rules = [r for r in shipped(*ship) if not only or r.id in only]
    for i, text in enumerate(packs):
        rules += load_pack(text, f"test{i}.yaml")
    check_unique(rules)
    return RulesEngine(site, rules, started=started)


def telemetry(device: str, ts: float, **values: float | bool) -> Telemetry:
    return Telemetry(device, ts, tuple((name, float(v)) for name, v in values.items()))


def read(eng: RulesEngine, device: str, now: float, **values: float | bool) -> list[Decision]:
    """A reading taken and evaluated at `now`."""
    return eng.on_telemetry(telemetry(device, now, **values), now)


def summary(decisions: list[Decision], rule_id: str | None = None
            ) -> list[tuple[str, str, str]]:
    """`("raise", rule id, subject id)` per decision (of one rule if given)."""
    return [("raise" if isinstance(d, Raise) else "resolve", d.rule.id, d.subject.id)
            for d in decisions if rule_id is None or d.rule.id == rule_id]


def raises(decisions: list[Decision]) -> list[Raise]:
    return [d for d in decisions if isinstance(d, Raise)]
