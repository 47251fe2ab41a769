"""The site file: the test site loads, and every mistake a user can make names file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.site import (
    PlaceLevel,
    ResponderRole,
    Site,
    describe_place,
    load_site,
    site_from_data,
)
from devices.yamlsource import ConfigError, parse_yaml

SITE_FILE = Path(__file__).parents[1] / "data" / "site.yaml"


def load_test_site() -> Site:
    return load_site(SITE_FILE.read_text(encoding="utf-8"), str(SITE_FILE))


def site_error(text: str, source: str = "site.yaml") -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_site(text, source)
    return caught.value


# ------------------------------------------------------------------ the test site


def test_test_site_loads() -> None:
    site = load_test_site()
    assert (site.id, site.name, site.timezone) == ("testsite", "测试社区", "Asia/Shanghai")
    assert len(site.devices) == 12
    assert sorted(site.places) == ["b1", "b1/f1", "b1/f1/101", "b1/f1/102", "b1/f2",
                                   "b1/f2/201", "g1"]
    assert site.building_names == {"b1": "1号楼"}
    assert site.location is None


@pytest.mark.parametrize(
    ("device_id", "kind", "place_id", "level"),
    [
        pytest.param("g1-flood", "water_level", "g1", PlaceLevel.GRID, id="grid-device"),
        pytest.param("b1-pump", "fire_pump", "b1", PlaceLevel.BUILDING, id="building-device"),
        pytest.param("b1-f1-cam", "camera", "b1/f1", PlaceLevel.FLOOR, id="floor-device"),
        pytest.param("b1-101-smoke2", "smoke_detector", "b1/f1/101", PlaceLevel.UNIT,
                     id="unit-device"),
        pytest.param("b1-201-smoke", "smoke_detector", "b1/f2/201", PlaceLevel.UNIT,
                     id="second-floor"),
    ],
)
def test_devices_sit_where_the_file_puts_them(
    device_id: str, kind: str, place_id: str, level: PlaceLevel
) -> None:
    device = load_test_site().devices[device_id]
    assert device.kind.name == kind
    assert device.place.id == place_id
    assert device.place.level is level
    assert load_test_site().places[place_id] == device.place


def test_roster_and_residents() -> None:
    site = load_test_site()
    assert [(r.id, r.role, r.place_id) for r in site.roster] == [
        ("duty", ResponderRole.DUTY_OFFICER, None),
        ("b1-lead", ResponderRole.BUILDING_LEADER, "b1"),
        ("b1-f1-lead", ResponderRole.FLOOR_LEADER, "b1/f1"),
    ]
    assert site.roster[0].phone == "+8613800000001"
    (resident,) = site.residents
    assert (resident.id, resident.name, resident.unit.id) == ("res-1", "王秀英", "b1/f1/102")
    assert resident.care_level == "intensive"
    assert resident.lives_alone is True
    assert resident.contacts == ("+8613900000000",)


@pytest.mark.parametrize(
    ("place_id", "lang", "expected"),
    [
        pytest.param("b1/f1/101", "zh", "1号楼 1层 101室", id="unit-zh"),
        pytest.param("b1/f1/101", "en", "1号楼, floor 1, unit 101", id="unit-en"),
        pytest.param("b1/f2", "zh", "1号楼 2层", id="floor-zh"),
        pytest.param("b1/f2", "en", "1号楼, floor 2", id="floor-en"),
        pytest.param("b1", "zh", "1号楼", id="building-zh"),
        pytest.param("b1", "en", "1号楼", id="building-en"),
        pytest.param("g1", "zh", "第一网格", id="grid-zh"),
        pytest.param("g1", "en", "第一网格", id="grid-en"),
    ],
)
def test_describe_place(place_id: str, lang: str, expected: str) -> None:
    site = load_test_site()
    assert describe_place(site, site.places[place_id], lang) == expected


def test_describe_place_without_building_name_uses_the_id() -> None:
    site = load_site(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "    buildings:\n"
        "      - id: b7\n"
        "        floors:\n"
        "          - number: -1\n"
        "            units: [{id: B01}]\n"
    )
    assert describe_place(site, site.places["b7/f-1/B01"], "zh") == "b7 -1层 B01室"
    assert describe_place(site, site.places["b7/f-1/B01"], "en") == "b7, floor -1, unit B01"


# ------------------------------------------------------------------ inline in a hub config

HUB_CONFIG = """\
rules: [fire, gas]
mqtt: {host: 127.0.0.1}
site:
  id: inline
  name: 内联社区
  timezone: UTC
  location: {lat: 31.23, lon: 121.47}
  grids:
    - id: g1
      buildings:
        - id: b1
          devices:
            - {id: pump, kind: fire_pump}
"""


def test_site_inline_in_a_hub_config_loads() -> None:
    site = load_site(HUB_CONFIG, "hub.yaml")
    assert (site.id, site.timezone, site.location) == ("inline", "UTC", (31.23, 121.47))
    assert site.devices["pump"].place.id == "b1"


def test_site_inline_from_already_parsed_config() -> None:
    data, lines = parse_yaml(HUB_CONFIG, "hub.yaml")
    site = site_from_data(data["site"], "hub.yaml", lines, ("site",))
    assert list(site.devices) == ["pump"]


@pytest.mark.parametrize(
    ("text", "line", "where", "what"),
    [
        pytest.param(
            "rules: [fire]\n"
            "site:\n"
            "  id: inline\n"
            "  name: x\n"
            "  grids:\n"
            "    - id: g1\n"
            "      devices:\n"
            "        - {id: d1, kind: toaster}\n",
            8, "site.grids[0].devices[0].kind", "unknown device kind 'toaster'",
            id="pydantic-error"),
        pytest.param(
            "rules: [fire]\n"
            "site:\n"
            "  id: inline\n"
            "  name: x\n"
            "  grids:\n"
            "    - id: g1\n"
            "      devices:\n"
            "        - {id: d1, kind: camera}\n"
            "        - {id: d1, kind: nvr}\n",
            9, "site.grids[0].devices[1].id", "duplicate device id 'd1'",
            id="cross-check-error"),
    ],
)
def test_inline_site_errors_point_into_the_hub_config(
    text: str, line: int, where: str, what: str
) -> None:
    error = site_error(text, "hub.yaml")
    assert (error.source, error.line, error.where) == ("hub.yaml", line, where)
    assert what in error.what


# ------------------------------------------------------------------ errors name file:line

BAD_SITES = [
    pytest.param(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "   name: badly indented\n",
        5, "", "invalid YAML",
        id="yaml-syntax-indent"),
    pytest.param(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "\tname: tab\n",
        5, "", "invalid YAML",
        id="yaml-syntax-tab"),
    pytest.param(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "    devices: []\n"
        "    devices:\n"
        "      - {id: d1, kind: camera}\n",
        6, "", "duplicate key 'devices' (first on line 5)",
        id="duplicate-key"),
    pytest.param(
        "id: s\n"
        "name: test\n"
        "timezon: UTC\n"
        "grids:\n"
        "  - id: g1\n",
        3, "timezon", "unknown key (check the spelling)",
        id="unknown-top-level-key"),
    pytest.param(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "    buildings:\n"
        "      - id: b1\n"
        "        flors: []\n",
        7, "grids[0].buildings[0].flors", "unknown key (check the spelling)",
        id="unknown-nested-key"),
    pytest.param(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "    devices:\n"
        "      - {id: d1, kind: camera}\n"
        "      - {id: d2, kind: toaster}\n",
        7, "grids[0].devices[1].kind", "unknown device kind 'toaster'; known kinds: ",
        id="unknown-device-kind"),
    pytest.param(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "    devices:\n"
        "      - {id: pump, kind: fire_pump}\n"
        "    buildings:\n"
        "      - id: b1\n"
        "        floors:\n"
        "          - number: 1\n"
        "            units:\n"
        "              - id: '101'\n"
        "                devices:\n"
        "                  - {id: pump, kind: smoke_detector}\n",
        14, "grids[0].buildings[0].floors[0].units[0].devices[0].id",
        "duplicate device id 'pump'",
        id="duplicate-device-id"),
    pytest.param(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "    devices:\n"
        "      - {id: 'b1/smoke', kind: smoke_detector}\n",
        6, "grids[0].devices[0].id", "'/', '+', '#'",
        id="device-id-with-slash"),
    pytest.param(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "    devices:\n"
        "      - {id: 'smoke+1', kind: smoke_detector}\n",
        6, "grids[0].devices[0].id", "id 'smoke+1'",
        id="device-id-with-plus"),
    pytest.param(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "    devices:\n"
        "      - id: 'smoke#1'\n"
        "        kind: smoke_detector\n",
        6, "grids[0].devices[0].id", "id 'smoke#1'",
        id="device-id-with-hash"),
    pytest.param(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "    devices:\n"
        "      - {id: \"smoke\\n\", kind: smoke_detector}\n",
        6, "grids[0].devices[0].id", "MQTT topics",
        id="device-id-with-trailing-newline"),
    pytest.param(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "    buildings:\n"
        "      - id: b/1\n",
        6, "grids[0].buildings[0].id", "id 'b/1'",
        id="building-id-with-slash"),
    pytest.param(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "    buildings:\n"
        "      - id: b1\n"
        "        floors:\n"
        "          - number: 1\n"
        "roster:\n"
        "  - {id: duty, name: 值班员, role: duty_officer}\n"
        "  - {id: lead, name: 李娜, role: floor_leader, place: b1}\n",
        11, "roster[1].place", "a floor_leader leads a floor, but 'b1' is a building",
        id="floor-leader-of-a-building"),
    pytest.param(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "roster:\n"
        "  - {id: lead, name: 张伟, role: building_leader}\n",
        6, "roster[0].place", "a building_leader needs the building they lead as place",
        id="building-leader-without-place"),
    pytest.param(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "    buildings:\n"
        "      - id: b1\n"
        "        floors:\n"
        "          - number: 1\n"
        "            units: [{id: '101'}]\n"
        "residents:\n"
        "  - id: r1\n"
        "    name: 王秀英\n"
        "    unit: b1/f1/102\n",
        13, "residents[0].unit", "'b1/f1/102' is not a unit of this site",
        id="resident-in-missing-unit"),
    pytest.param(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "    buildings:\n"
        "      - id: b1\n"
        "        floors:\n"
        "          - number: 1\n"
        "residents:\n"
        "  - {id: r1, name: 王秀英, unit: b1/f1}\n",
        10, "residents[0].unit", "'b1/f1' is not a unit of this site",
        id="resident-on-a-floor"),
    pytest.param(
        "id: s\n"
        "name: test\n"
        "timezone: Asia/Beijing\n"
        "grids:\n"
        "  - id: g1\n",
        3, "timezone", "unknown time zone 'Asia/Beijing' (use an IANA name)",
        id="unknown-time-zone"),
    pytest.param(
        "id: s\n"
        "name: test\n"
        "grids: []\n",
        3, "grids", "at least 1 item",
        id="empty-grids"),
    pytest.param(
        "id: s\n"
        "name: test\n",
        1, "grids", "Field required",
        id="missing-grids"),
    pytest.param(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "    buildings:\n"
        "      - id: b1\n"
        "        floors:\n"
        "          - number: 1\n"
        "          - number: 1\n",
        9, "grids[0].buildings[0].floors[1].id", "duplicate place 'b1/f1'",
        id="duplicate-floor"),
]


@pytest.mark.parametrize(("text", "line", "where", "what"), BAD_SITES)
def test_site_errors_name_file_line_and_path(
    text: str, line: int, where: str, what: str
) -> None:
    error = site_error(text)
    assert (error.source, error.line, error.where) == ("site.yaml", line, where)
    assert what in error.what
    prefix = f"site.yaml:{line}: {where}: " if where else f"site.yaml:{line}: "
    assert str(error).startswith(prefix)


def test_only_the_first_validation_error_is_shown_and_the_rest_counted() -> None:
    error = site_error(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "    devices:\n"
        "      - {id: d1, kind: toaster}\n"
        "      - {id: d2, kind: kettle}\n"
    )
    assert error.line == 6
    assert error.what.endswith("(and 1 more error(s))")


def test_merge_keys_are_not_duplicate_keys() -> None:
    site = load_site(
        "id: s\n"
        "name: test\n"
        "grids:\n"
        "  - id: g1\n"
        "    devices:\n"
        "      - &cam {id: cam1, kind: camera}\n"
        "      - <<: *cam\n"
        "        id: cam2\n"
    )
    assert sorted(site.devices) == ["cam1", "cam2"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty-file"),
        pytest.param("- g1\n- g2\n", id="a-list"),
        pytest.param("just words\n", id="a-scalar"),
    ],
)
def test_a_file_that_is_not_a_mapping_is_a_config_error(text: str) -> None:
    error = site_error(text)
    assert error.source == "site.yaml"
    assert "SiteSpec" in error.what or "dictionary" in error.what
