from __future__ import annotations

import asyncio

from service.delivery.lanes import Lanes, Phase, Slot
from service.delivery.records import Record, TopicPartition

TP = TopicPartition("commands", 0)


def rec(offset: int, key: str, partition: int = 0) -> Record:
    return Record("commands", partition, offset, key.encode(), b"{}")


async def test_one_call_runs_in_order_and_calls_run_concurrently() -> None:
    running: set[str] = set()
    peak = 0
    order: dict[str, list[int]] = {}

    async def process(record: Record, _: Slot) -> None:
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

    async def process(_: Record, __: Slot) -> None:
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

    async def process(record: Record, slot: Slot) -> None:
        if record.key == b"slow":
            await slot.pause(0.3)  # a retry backoff
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

    async def process(record: Record, _: Slot) -> None:
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


async def test_abandon_cancels_only_executing_commands() -> None:
    outcome: list[str] = []

    async def process(_: Record, slot: Slot) -> None:
        slot.phase = Phase.EXECUTING
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            outcome.append(f"abandoning={slot.abandoning}")
            raise

    lanes = Lanes(max_in_flight=10, process=process)
    lanes.put(rec(0, "call"))
    await asyncio.sleep(0.01)
    await lanes.abandon({TP}, within_s=1)
    assert outcome == ["abandoning=True"]
    assert lanes.active_lanes == 0
