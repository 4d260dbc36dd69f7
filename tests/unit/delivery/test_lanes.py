from __future__ import annotations

import asyncio
import contextlib

import pytest

from service.delivery.lanes import Abandoned, Dropped, Lanes, Turn
from service.delivery.records import Record, TopicPartition

TP = TopicPartition("commands", 0)


def rec(offset: int, key: str, partition: int = 0) -> Record:
    return Record("commands", partition, offset, key.encode(), b"{}")


async def test_one_call_runs_in_order_and_calls_run_concurrently() -> None:
    running: set[str] = set()
    peak = 0
    order: dict[str, list[int]] = {}

    async def process(record: Record, _: Turn) -> None:
        nonlocal peak
        key = (record.key or b"").decode()
        assert key not in running, "two commands of one call at once"
        running.add(key)
        peak = max(peak, len(running))
        await asyncio.sleep(0.01)
        order.setdefault(key, []).append(record.offset)
        running.discard(key)

    lanes = Lanes(max_in_flight=100, process=process)
    offset = 0
    for _round in range(5):
        for call in range(20):
            lanes.put(rec(offset, f"call-{call}"))
            offset += 1
    assert lanes.buffered == 100
    assert await lanes.wait_idle(None, within_s=5)
    assert peak == 20, "every call had a command running at once"
    for offsets in order.values():
        assert offsets == sorted(offsets) and len(offsets) == 5
    assert lanes.buffered == 0 and lanes.active_lanes == 0


async def test_in_flight_never_exceeds_the_limit() -> None:
    current = peak = 0

    async def process(_: Record, __: Turn) -> None:
        nonlocal current, peak
        current += 1
        peak = max(peak, current)
        await asyncio.sleep(0.005)
        current -= 1

    lanes = Lanes(max_in_flight=7, process=process)
    for i in range(50):
        lanes.put(rec(i, f"call-{i}"))
    assert await lanes.wait_idle(None, within_s=5)
    assert peak == 7


async def test_a_backing_off_command_gives_its_slot_back() -> None:
    finished: list[str] = []

    async def process(record: Record, turn: Turn) -> None:
        if record.key == b"slow":
            await turn.pause(0.3)  # a retry backoff
        finished.append((record.key or b"").decode())

    lanes = Lanes(max_in_flight=1, process=process)
    lanes.put(rec(0, "slow"))
    lanes.put(rec(1, "fast"))
    await asyncio.sleep(0.1)
    assert finished == ["fast"], "the other call ran while the first waited out its backoff"
    assert await lanes.wait_idle(None, within_s=2)
    assert finished == ["fast", "slow"]


async def test_drop_queued_keeps_running_work_and_forgets_waiting_records() -> None:
    gate = asyncio.Event()
    seen: list[int] = []

    async def process(record: Record, _: Turn) -> None:
        seen.append(record.offset)
        await gate.wait()

    lanes = Lanes(max_in_flight=10, process=process)
    for i in range(3):
        lanes.put(rec(i, "same-call"))
    lanes.put(rec(3, "other", partition=1))
    await asyncio.sleep(0.01)
    assert lanes.drop_queued({TP}) == 2
    assert not await lanes.wait_idle({TP}, within_s=0.05), "offset 0 still runs"
    gate.set()
    assert await lanes.wait_idle(None, within_s=1)
    assert sorted(seen) == [0, 3]


async def test_abandon_cuts_short_only_abandonable_work() -> None:
    outcome: list[str] = []
    waiting = asyncio.Event()

    async def process(record: Record, turn: Turn) -> None:
        if record.key == b"waiting":  # e.g. claiming: not abandonable, left to finish
            await waiting.wait()
            outcome.append("waiting finished")
            return
        try:
            await turn.abandonable(asyncio.sleep(10))
        except Abandoned:
            outcome.append("abandoned")

    lanes = Lanes(max_in_flight=10, process=process)
    lanes.put(rec(0, "call"))
    lanes.put(rec(1, "waiting"))
    await asyncio.sleep(0.01)
    abandoning = asyncio.create_task(lanes.abandon({TP}, within_s=1))
    await asyncio.sleep(0.01)
    assert outcome == ["abandoned"]
    waiting.set()
    await abandoning
    assert outcome == ["abandoned", "waiting finished"]
    assert lanes.active_lanes == 0


async def test_a_timeout_inside_abandonable_work_is_not_an_abandonment() -> None:
    semaphore = asyncio.Semaphore(1)
    await semaphore.acquire()
    turn = Turn(semaphore)

    async def slow() -> None:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)

    with pytest.raises(TimeoutError):
        await turn.abandonable(slow())


async def test_abandoned_while_waiting_for_its_place_back_releases_it_once() -> None:
    """A backoff ends, the place is taken by another call, then the command is abandoned while
    it waits for a place: the in-flight limit must stay what it was."""
    gate = asyncio.Event()
    entered: list[int] = []

    async def process(record: Record, turn: Turn) -> None:
        entered.append(record.offset)
        if record.key == b"backing-off":
            with contextlib.suppress(Abandoned):
                await turn.abandonable(turn.pause(0.01))
        else:
            await gate.wait()

    lanes = Lanes(max_in_flight=1, process=process)
    lanes.put(rec(0, "backing-off"))
    lanes.put(rec(1, "holder"))  # takes the place during the backoff and keeps it
    await asyncio.sleep(0.05)
    assert entered == [0, 1]
    await lanes.abandon({TP}, within_s=0.05)  # the backing-off one is cut short while waiting
    gate.set()
    assert await lanes.wait_idle(None, within_s=1)
    peak = current = 0

    async def count(_: Record, __: Turn) -> None:
        nonlocal peak, current
        current += 1
        peak = max(peak, current)
        await asyncio.sleep(0.005)
        current -= 1

    lanes._process = count
    for i in range(2, 8):
        lanes.put(rec(i, f"call-{i}"))
    assert await lanes.wait_idle(None, within_s=1)
    assert peak == 1, "one place, whatever was abandoned before"


async def test_drop_queued_ends_a_droppable_wait_and_leaves_other_work_running() -> None:
    outcome: list[str] = []
    gate = asyncio.Event()

    async def process(record: Record, turn: Turn) -> None:
        if record.key == b"claim":
            try:
                await turn.droppable(turn.pause(10))
            except Dropped:
                outcome.append("dropped")
            return
        await gate.wait()
        outcome.append("finished")

    lanes = Lanes(max_in_flight=10, process=process)
    lanes.put(rec(0, "claim"))
    lanes.put(rec(1, "running"))
    await asyncio.sleep(0.01)
    assert lanes.drop_queued({TP}) == 1, "the waiting one counts as dropped"
    await asyncio.sleep(0.01)
    assert outcome == ["dropped"]
    gate.set()
    assert await lanes.wait_idle(None, within_s=1)
    assert outcome == ["dropped", "finished"]
    assert lanes.in_flight == 0 and lanes._semaphore._value == 10, "places all given back"
