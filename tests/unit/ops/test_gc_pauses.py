"""Full collections: the start-up objects frozen out of their way, each one timed as a stage."""

from __future__ import annotations

import asyncio
import gc

from service.ops.gc_pauses import (
    YOUNG_THRESHOLD,
    FullCollectionTimer,
    freeze_and_time_collections,
)


def test_a_full_collection_is_timed_and_a_young_one_is_not() -> None:
    seen: list[tuple[str, float]] = []
    timer = FullCollectionTimer(lambda stage, seconds: seen.append((stage, seconds)))
    gc.callbacks.append(timer)
    try:
        gc.collect(0)
        gc.collect(1)
        timer.drain()
        assert seen == [], "generations 0 and 1 are not full collections"
        gc.collect()
    finally:
        gc.callbacks.remove(timer)
    assert seen == [], "nothing reaches the meter from inside the collector"
    timer.drain()
    assert [stage for stage, _ in seen] == ["gc"]
    assert seen[0][1] >= 0


async def test_start_up_objects_are_frozen_and_collections_timed_until_stopped() -> None:
    seen: list[str] = []
    thresholds = gc.get_threshold()
    try:
        frozen, stop = freeze_and_time_collections(lambda stage, _seconds: seen.append(stage))
        assert frozen > 1_000, "everything alive at start-up is frozen"
        assert gc.get_freeze_count() == frozen
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *thresholds[1:]), "young ones rarer"
        await asyncio.sleep(0)  # the timing task installs its callback
        installed = len(gc.callbacks)
        gc.collect()
        stop()
        await asyncio.sleep(0.01)  # the task ends: callback removed, pauses handed over
        assert seen == ["gc"]
        assert len(gc.callbacks) == installed - 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
