"""The centre's combined board, pure (SQLite in a temp dir): idempotent, order-proof."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from hub.alerts import alert_json
from hub.centre.board import CentreBoard, CentreDB
from hub.statedb import AlertRecord

RAISED = AlertRecord(
    id="a1", rule_id="smoke_alarm", category="fire", severity="major", state="active_unack",
    subject_level="unit", subject_id="b1/f1/101", place_id="b1/f1/101", device_id="b1-101-smoke",
    metric="smoke", value=1.0, message_zh="烟感报警", message_en="Smoke", raised_at=100.0,
    updated_at=100.0, cleared_at=None, occurrences=1)
ACKED = replace(RAISED, state="active_ack", acknowledged_by="duty", acknowledged_at=110.0,
                updated_at=110.0)
CLEARED = replace(ACKED, state="cleared_ack", cleared_at=120.0, updated_at=120.0)


def message(alert: AlertRecord, transition: str, site: str = "north") -> bytes:
    return orjson.dumps({"site": site, "transition": transition, "notify": True,
                         "by": alert.acknowledged_by, "note": None, "alert": alert_json(alert)})


@pytest.fixture
def board(tmp_path: Path) -> CentreBoard:
    return CentreBoard(CentreDB(tmp_path / "centre.db"))


def test_transitions_in_order(board: CentreBoard) -> None:
    changes = board.apply([("north", message(RAISED, "raised"), 1.0)])
    assert [(c.transition, c.applied) for c in changes] == [("raised", True)]
    assert board.counts()["north"]["major"] == 1
    assert board.counts()["north"]["unacknowledged"] == 1
    board.apply([("north", message(ACKED, "acknowledged"), 2.0)])
    assert board.active[("north", "a1")]["state"] == "active_ack"
    assert board.counts()["north"]["unacknowledged"] == 0
    board.apply([("north", message(CLEARED, "cleared"), 3.0)])
    assert board.active == {}
    assert board.alert("north", "a1")["state"] == "cleared_ack"  # type: ignore[index]
    assert [t["transition"] for t in board.transitions("north", "a1")] == [
        "raised", "acknowledged", "cleared"]


def test_the_same_transition_twice_is_one(board: CentreBoard) -> None:
    first = board.apply([("north", message(RAISED, "raised"), 1.0),
                         ("north", message(RAISED, "raised"), 1.1)])
    again = board.apply([("north", message(RAISED, "raised"), 5.0)])
    assert len(first) == 1
    assert again == []
    assert board.stats["duplicates"] == 2
    assert len(board.transitions("north", "a1")) == 1


def test_late_older_transitions_are_logged_not_applied(board: CentreBoard) -> None:
    changes = board.apply([("north", message(CLEARED, "cleared"), 1.0),
                           ("north", message(RAISED, "raised"), 1.1),
                           ("north", message(ACKED, "acknowledged"), 1.2)])
    assert [(c.transition, c.applied) for c in changes] == [
        ("cleared", True), ("raised", False), ("acknowledged", False)]
    assert board.active == {}
    assert board.alert("north", "a1")["state"] == "cleared_ack"  # type: ignore[index]
    assert board.stats["stale"] == 2


def test_same_time_progress_still_counts(board: CentreBoard) -> None:
    # An acknowledgement in the same second as the raise: the lifecycle decides.
    same_second = replace(ACKED, updated_at=RAISED.updated_at)
    board.apply([("north", message(same_second, "acknowledged"), 1.0),
                 ("north", message(RAISED, "raised"), 1.1)])
    assert board.active[("north", "a1")]["state"] == "active_ack"


def test_sites_are_kept_apart_and_liars_ignored(board: CentreBoard) -> None:
    board.apply([("north", message(RAISED, "raised"), 1.0),
                 ("south", message(RAISED, "raised", site="south"), 1.0),
                 ("south", message(ACKED, "acknowledged", site="north"), 1.0),
                 ("south", b"not json", 1.0),
                 ("south", orjson.dumps({"site": "south", "alert": {"id": 3}}), 1.0)])
    assert set(board.active) == {("north", "a1"), ("south", "a1")}
    assert board.active[("south", "a1")]["state"] == "active_unack"
    assert board.stats["malformed"] == 3


def test_state_survives_a_restart(tmp_path: Path) -> None:
    db = CentreDB(tmp_path / "centre.db")
    CentreBoard(db).apply([("north", message(RAISED, "raised"), 1.0)])
    db.close()
    board = CentreBoard(CentreDB(tmp_path / "centre.db"))
    assert set(board.active) == {("north", "a1")}
    assert board.apply([("north", message(RAISED, "raised"), 2.0)]) == []


def test_escalation_at_the_centre_is_recorded(board: CentreBoard) -> None:
    board.apply([("north", message(RAISED, "raised"), 1.0)])
    change = board.escalate("north", "a1", "centre:xuhui/wang", "needs the fire brigade", 200.0)
    assert change.transition == "escalated_by_centre"
    alert = board.alerts("north", active_only=True)[0]
    assert alert["centre_escalated_by"] == "centre:xuhui/wang"
    assert board.transitions("north", "a1")[-1]["note"] == "needs the fire brigade"
    with pytest.raises(KeyError):
        board.escalate("north", "nope", "x", None, 1.0)
