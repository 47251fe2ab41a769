"""The hub's heap keeper: long-lived objects frozen out of the collector's way, garbage cycles
still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from hub.config import HubConfig
from hub.heap import HeapKeeper
from tests.service.conftest import eventually, running_hub


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def keeper() -> Iterator[HeapKeeper]:
    keeper = HeapKeeper(first_settle_s=2, settle_every_s=10, full_every_s=60)
    yield keeper
    keeper.release()
    assert gc.get_freeze_count() == 0


def test_settling_freezes_what_is_alive(keeper: HeapKeeper) -> None:
    kept = [Node() for _ in range(1000)]
    keeper.settle()
    assert gc.get_freeze_count() >= len(kept)
    assert keeper.stats.settles == 1
    assert keeper.stats.frozen == gc.get_freeze_count()
    assert keeper.stats.last_pause_s > 0


def test_only_the_first_settle_and_full_collections_count_what_is_frozen(
    keeper: HeapKeeper
) -> None:
    """Counting walks every frozen object: 10 ms at 700,000, a stall of the loop."""
    keeper.settle()
    counted = keeper.stats.frozen
    kept = [Node() for _ in range(1000)]
    keeper.settle()
    assert keeper.stats.frozen == counted
    keeper.full()
    assert keeper.stats.frozen >= counted + len(kept)


def test_the_schedule_is_first_settle_then_every_period_then_a_full_collection(
    keeper: HeapKeeper
) -> None:
    keeper.tick(1)
    assert keeper.stats.settles == 0
    keeper.tick(1)  # 2 s after start
    assert keeper.stats.settles == 1
    for _ in range(9):
        keeper.tick(1)
    assert keeper.stats.settles == 1
    keeper.tick(1)  # 10 s after the first
    assert keeper.stats.settles == 2
    for _ in range(48):
        keeper.tick(1)
    assert keeper.stats.full_collections == 1  # at 60 s, instead of a settle


def test_a_cycle_frozen_while_alive_is_freed_by_the_full_collection(
    keeper: HeapKeeper
) -> None:
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: refcounting alone never frees it
    gone = weakref.ref(a)
    keeper.settle()  # alive now: frozen
    del a, b
    gc.collect()
    assert gone() is not None, "a frozen cycle is out of the collector's reach"
    keeper.full()
    assert gone() is None
    assert gc.get_freeze_count() > 0  # what is alive is frozen again


async def test_a_running_hub_settles_its_heap_and_says_so(hub_config: HubConfig) -> None:
    async with running_hub(hub_config) as (hub, api):
        await eventually(lambda: hub.heap.stats.settles >= 1, timeout=10,
                         what="the first heap settle, 5 s after start")
        metrics = (await api.get("/metrics")).text
    frozen = next(line for line in metrics.splitlines()
                  if line.startswith("shouwang_heap_frozen_objects "))
    assert float(frozen.split()[1]) > 10_000  # the site, the rules, the app: all long-lived
    assert "shouwang_heap_last_pause_seconds " in metrics
    assert gc.get_freeze_count() == 0  # a stopped hub gives everything back
