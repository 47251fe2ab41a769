"""Warnings in force and their relay (publish captured, outbox in a real hub.db)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from devices.site import Site, load_site
from hub.capin import CapDocument, CapIngest, SiteArea
from hub.config import CapIngestConfig, RelayConfig
from hub.delivery.config import DeliverySpec
from hub.delivery.receivers import ReceiverError
from hub.statedb import StateDB
from hub.warnings import WarningBoard, WarningStore, relay_targets, spoken
from tests.conftest import DATA
from tests.federation.capdocs import NORTH, area, cap_xml, circle_around, info

DELIVERY = DeliverySpec.model_validate({
    "receivers": {"cmd": {"channel": "mqtt"}, "robot": {"channel": "webhook",
                                                        "url": "http://127.0.0.1:9/hook"}},
    "routes": [{"name": "fire", "people": ["floor_leader", "duty_officer"], "via": ["cmd"],
                "groups": ["robot"]},
               {"name": "care", "people": ["care_operator"], "via": ["robot"]}]})


class Published:
    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, object], bool]] = []

    def __call__(self, topic: str, payload: bytes, *, qos: int, retain: bool = False) -> bool:
        assert qos == 1
        self.messages.append((topic, orjson.loads(payload), retain))
        return True

    def take(self) -> list[tuple[str, dict[str, object], bool]]:
        out, self.messages = self.messages, []
        return out


@pytest.fixture
def site() -> Site:
    return replace(load_site((DATA / "site.yaml").read_text(encoding="utf-8")), location=NORTH)


def checked(site: Site, data: bytes, board: WarningBoard | None = None) -> CapDocument:
    spec = CapIngestConfig()
    holds = board.holds if board is not None else (lambda _: False)
    return CapIngest(SiteArea.of(site.id, site.location, spec), spec).check(
        data, time.time(), holds=holds)


def make_board(site: Site, tmp_path: Path, published: Published) -> tuple[WarningBoard,
                                                                           StateDB]:
    outbox = StateDB(tmp_path / "hub.db")
    targets = relay_targets(site, RelayConfig(), DELIVERY)
    board = WarningBoard(site, WarningStore(tmp_path / "federation.db"), published,
                         relay=RelayConfig(), targets=targets, outbox=outbox,
                         default_lifetime_s=600)
    return board, outbox


def test_alert_update_cancel(site: Site, tmp_path: Path) -> None:
    published = Published()
    board, outbox = make_board(site, tmp_path, published)
    assert board.apply(checked(site, cap_xml(identifier="a1")), time.time(), "t") == "in force"
    (w,) = board.in_force()
    assert w.id.startswith("cap-")
    assert w.our_severity == "major"
    messages = published.take()
    retained = [m for t, m, r in messages if r]
    assert retained[0]["warnings"][0]["id"] == w.id  # type: ignore[index]
    speakers = [(t, m) for t, m, _ in messages if "/speakers/" in t]
    assert [t for t, _ in speakers] == ["shouwang/testsite/command/speakers/b1"]
    assert speakers[0][1]["priority"] == "high"
    assert str(speakers[0][1]["text"]).startswith("暴雨红色预警：未来3小时")
    rows = outbox.deliveries_of(w.id)
    # The duty officer via cmd (the roster has no grid leader), and the fire route's group.
    assert sorted((d.receiver, d.recipient_id) for d in rows) == [("cmd", "duty"),
                                                                  ("robot", None)]
    note = orjson.loads(rows[0].notification)
    assert note["transition"] == "raised"
    assert note["category"] == "暴雨红色预警"

    assert board.apply(checked(site, cap_xml(identifier="a1")), time.time(), "t") == \
        "duplicate"
    assert published.take() == []

    update = cap_xml(identifier="u1", msg_type="Update", references="met@sh.example.cn,a1,x",
                     infos=(info(event="暴雨橙色预警", severity="Extreme"),))
    assert board.apply(checked(site, update, board), time.time(), "t") == "updated"
    (updated,) = board.in_force()
    assert updated.id == w.id
    assert updated.text("zh").event == "暴雨橙色预警"
    assert updated.chain == ("met@sh.example.cn,a1", "met@sh.example.cn,u1")
    assert [m["priority"] for t, m, _ in published.take() if "/speakers/" in t] == ["emergency"]

    cancel = cap_xml(identifier="c1", msg_type="Cancel", references="met@sh.example.cn,u1,x",
                     infos=())
    assert board.apply(checked(site, cancel, board), time.time(), "t") == "cancelled"
    assert board.in_force() == []
    messages = published.take()
    assert [m["warnings"] for t, m, r in messages if r] == [[]]
    assert [m["text"] for t, m, _ in messages if "/speakers/" in t] == ["暴雨橙色预警已解除。"]
    assert sorted(d.transition for d in outbox.deliveries_of(w.id)) == [
        "cleared", "cleared", "raised", "raised", "raised", "raised"]
    orphan = cap_xml(identifier="c2", msg_type="Cancel", references="x,y,z", infos=())
    assert board.apply(checked(site, orphan), time.time(), "t") == "nothing to cancel"


def test_an_update_that_leaves_us_ends_it(site: Site, tmp_path: Path) -> None:
    published = Published()
    board, _ = make_board(site, tmp_path, published)
    board.apply(checked(site, cap_xml(identifier="a1")), time.time(), "t")
    away = cap_xml(identifier="u1", msg_type="Update", references="met@sh.example.cn,a1,x",
                   infos=(info(areas=(area(circles=("31.6,121.6 2",)),)),))
    assert board.apply(checked(site, away, board), time.time(), "t") == "no longer covers us"
    assert board.in_force() == []


def test_expiry_and_restart(site: Site, tmp_path: Path) -> None:
    published = Published()
    board, _ = make_board(site, tmp_path, published)
    here = (area(circles=(circle_around(NORTH, 1),)),)
    board.apply(checked(site, cap_xml(identifier="short", infos=(info(expires_s=30,
                                                                      areas=here),))),
                time.time(), "t")
    board.apply(checked(site, cap_xml(identifier="open", infos=(info(expires_s=None),))),
                time.time(), "t")
    (short, open_ended) = sorted(board.in_force(), key=lambda w: w.expires)
    assert open_ended.expires == pytest.approx(open_ended.sent + 600)
    published.take()

    again, _ = make_board(site, tmp_path, Published())  # a restart keeps both
    assert {w.id for w in again.in_force()} == {short.id, open_ended.id}
    assert again.apply(checked(site, cap_xml(identifier="open")), time.time(), "t") == \
        "duplicate"

    assert [w.id for w in board.expire(time.time() + 60)] == [short.id]
    messages = published.take()
    assert not [t for t, _, _ in messages if "/speakers/" in t]  # an expiry is page-only
    assert [len(m["warnings"]) for _, m, r in messages if r] == [1]  # type: ignore[arg-type]


def test_relay_targets(site: Site) -> None:
    # Defaults: the receivers the routes use for the relayed roles.
    targets = relay_targets(site, RelayConfig(), DELIVERY)
    assert [(t.receiver, t.person.id if t.person else None) for t in targets] == [
        ("cmd", "duty"), ("robot", None)]
    chosen = relay_targets(site, RelayConfig(people=["building_leader", "duty_officer"],
                                             via=["robot"], groups=[]), DELIVERY)
    assert [(t.receiver, t.person.id if t.person else None) for t in chosen] == [
        ("robot", "duty"), ("robot", "b1-lead")]
    with pytest.raises(ReceiverError, match="no receiver 'sms'"):
        relay_targets(site, RelayConfig(via=["sms"]), DELIVERY)
    assert relay_targets(site, RelayConfig(), None) == []


def test_spoken_text(site: Site, tmp_path: Path) -> None:
    board, _ = make_board(site, tmp_path, Published())
    board.apply(checked(site, cap_xml(status="Exercise", infos=(
        info(language="en-US", event="Rainstorm red warning", headline="Heavy rain",
             instruction="Stay indoors."),))), time.time(), "t")
    (w,) = board.in_force()
    assert spoken(w) == "This is a drill. Heavy rain. Stay indoors."
    assert spoken(w, cleared=True) == "Rainstorm red warning has ended."
