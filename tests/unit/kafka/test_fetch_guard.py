"""The consume loop's guard against a client library that fails on one record's bytes, with a
fake consumer that fails the way aiokafka 0.14 does (see docs/known-issues.md): partitions
drained before the bad one have their positions advanced and their records dropped."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CorruptRecordException, KafkaConnectionError

from service.domain.decode import Unreadable
from service.kafka.adapter import guarded_getmany

TOPIC = "commands"
A, B = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)


@dataclass
class State:
    position: int
    has_valid_position: bool = True


@dataclass
class FakeConsumer:
    logs: dict[TopicPartition, list[int]]  # offsets present per partition
    poison: set[tuple[TopicPartition, int]]
    error: Exception = field(
        default_factory=lambda: UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
    )
    states: dict[TopicPartition, State] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.states = {tp: State(0) for tp in self.logs}
        # where aiokafka keeps positions: _subscription.subscription.assignment.state_value(tp)
        assignment = SimpleNamespace(state_value=self.states.__getitem__)
        self._subscription = SimpleNamespace(subscription=SimpleNamespace(assignment=assignment))

    def assignment(self) -> set[TopicPartition]:
        return set(self.logs)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.states[tp].position = offset

    async def getmany(
        self, *tps: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Any]]:
        drained: dict[TopicPartition, list[Any]] = {}
        for tp in tps or sorted(self.logs):
            taken: list[Any] = []
            state = self.states[tp]
            for offset in self.logs[tp]:
                if offset < state.position:
                    continue
                if (tp, offset) in self.poison:
                    raise self.error  # drained so far: lost, positions already advanced
                taken.append(SimpleNamespace(offset=offset, key=b"k", value=f"v{offset}"))
                if max_records is not None and len(taken) >= max_records:
                    break
            if taken:
                state.position = taken[-1].offset + 1
                drained[tp] = taken
        return drained


@pytest.fixture
def consumer() -> FakeConsumer:
    return FakeConsumer({A: list(range(5)), B: list(range(4))}, poison={(B, 2)})


async def test_nothing_fetched_is_lost_and_the_bad_offset_is_answered(
    consumer: FakeConsumer,
) -> None:
    handed: dict[TopicPartition, list[Any]] = {}
    for _ in range(5):
        batch = await guarded_getmany(consumer, timeout_ms=0, max_records=None)
        for tp, records in batch.items():
            handed.setdefault(tp, []).extend(records)
    assert [r.offset for r in handed[A]] == [0, 1, 2, 3, 4], "A was drained, rewound, re-read once"
    assert [r.offset for r in handed[B]] == [0, 1, 2, 3], "B: salvage, stand-in, the rest"
    stand_in = handed[B][2]
    assert isinstance(stand_in.value, Unreadable) and stand_in.key is None
    assert "UnicodeDecodeError" in stand_in.value.reason
    assert consumer.states[B].position == 4 and consumer.states[A].position == 5


async def test_the_pure_python_readers_corrupt_record_error_is_handled_too(
    consumer: FakeConsumer,
) -> None:
    consumer.error = CorruptRecordException()
    batch = await guarded_getmany(consumer, timeout_ms=0, max_records=None)
    assert [r.offset for r in batch[B]] == [0, 1, 2]
    assert isinstance(batch[B][2].value, Unreadable)


async def test_connection_errors_are_left_to_the_loop(consumer: FakeConsumer) -> None:
    consumer.error = KafkaConnectionError()
    with pytest.raises(KafkaConnectionError):
        await guarded_getmany(consumer, timeout_ms=0, max_records=None)
