"""worker.heap: a started process freezes its heap and collects the young generation later."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from worker.heap import YOUNG_GENERATION_THRESHOLD, settle_heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_settle_heap_freezes_the_start_up_heap_and_raises_the_young_threshold() -> None:
    gc.unfreeze()
    _, middle, old = gc.get_threshold()
    settle_heap()
    assert gc.get_freeze_count() > 1000  # the modules, classes and caches loaded so far
    assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, middle, old)


@pytest.mark.usefixtures("restored_collector")
def test_the_collector_still_runs_on_its_own_after_settling() -> None:
    settle_heap()
    collections = gc.get_stats()[0]["collections"]
    cycles = []
    for _ in range(2 * YOUNG_GENERATION_THRESHOLD):
        node: list[object] = []
        node.append(node)
        cycles.append(node)
    del cycles
    assert gc.get_stats()[0]["collections"] > collections

