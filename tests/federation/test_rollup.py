"""One-minute roll-ups, pure: accumulation, minutes, parts."""

from __future__ import annotations

import orjson

from hub.rollup import RollupBook, RollupPublisher, rollup_messages

T0 = 1_700_000_040.0  # a minute boundary


def test_min_max_sum_count_per_device_metric_and_minute() -> None:
    book = RollupBook()
    book.add([("d1", "t", T0 + 1, 20.0), ("d1", "t", T0 + 30, 22.0), ("d2", "t", T0 + 5, 5.0),
              ("d1", "t", T0 + 59.9, 19.0), ("d1", "t", T0 + 60, 30.0)])
    book.add([("d1", "h", T0 + 2, 50.0)])
    assert book.readings == 6
    assert book.pending_series == 4
    taken = book.take(T0 + 60)
    assert [m for m, _ in taken] == [int(T0) // 60]
    bucket = taken[0][1]
    assert bucket[("d1", "t")] == [19.0, 22.0, 61.0, 3.0]
    assert bucket[("d2", "t")] == [5.0, 5.0, 5.0, 1.0]
    assert book.take(T0 + 60) == []
    assert [m for m, _ in book.take_all()] == [int(T0) // 60 + 1]


def test_a_big_minute_goes_out_in_parts() -> None:
    bucket = {(f"d{i}", "t"): [1.0, 2.0, 3.0, 2.0] for i in range(12)}
    messages = [orjson.loads(m) for m in rollup_messages("north", 28_333_334, bucket,
                                                         max_series=5)]
    assert [(m["part"], m["parts"], len(m["series"])) for m in messages] == [
        (1, 3, 5), (2, 3, 5), (3, 3, 2)]
    assert messages[0]["minute"] == 28_333_334 * 60
    assert messages[0]["series"][0] == ["d0", "t", 1.0, 2.0, 3.0, 2]
    assert "partial" not in messages[0]


def test_publisher_flushes_finished_minutes_and_the_rest_on_close() -> None:
    sent: list[tuple[str, dict[str, object]]] = []

    def publish(topic: str, payload: bytes, *, qos: int) -> bool:
        assert qos == 1
        sent.append((topic, orjson.loads(payload)))
        return True

    book = RollupBook()
    now = [T0 + 61]
    publisher = RollupPublisher("north", book, publish, lambda: now[0], max_series=100)
    book.add([("d1", "t", T0 + 1, 1.0), ("d1", "t", T0 + 61, 2.0)])
    publisher.flush(book.take(now[0]))
    assert [(t, m["minute"]) for t, m in sent] == [("shouwang/north/rollup/1m", T0)]
    publisher.close()
    assert sent[-1][1]["minute"] == T0 + 60
    assert sent[-1][1]["partial"] is True
    assert (publisher.minutes, publisher.messages) == (2, 2)
