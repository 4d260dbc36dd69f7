from __future__ import annotations

import asyncio
import dataclasses
import time

import structlog
from structlog.testing import capture_logs

from service.delivery.answers import Answer, DeadLetter, OutputTopics
from service.delivery.completed import decode
from service.delivery.engine import Engine, EngineState, Flow
from service.delivery.lanes import Abandoned, Turn
from service.delivery.publishing import Outgoing, Publisher
from service.delivery.records import Record, TopicPartition

TP0 = TopicPartition("commands", 0)
TP1 = TopicPartition("commands", 1)
TOPICS = OutputTopics("results", "snapshots", "dead-letter")


class FakeConsumer:
    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.metadata: list[dict[TopicPartition, str]] = []
        self.paused: set[TopicPartition] = set()
        self.pause_calls = 0
        self.resume_calls = 0

    async def commit(
        self, offsets: dict[TopicPartition, int], metadata: dict[TopicPartition, str]
    ) -> None:
        self.commits.append(dict(offsets))
        self.metadata.append(dict(metadata))

    async def completed(self, tps: set[TopicPartition]) -> dict[TopicPartition, frozenset[int]]:
        if not self.commits:
            return {}
        return {tp: decode(self.metadata[-1].get(tp), self.commits[-1][tp]) for tp in tps}

    def pause(self, tps: set[TopicPartition]) -> None:
        self.pause_calls += 1
        self.paused |= tps

    def resume(self, tps: set[TopicPartition]) -> None:
        self.resume_calls += 1
        self.paused -= tps

    def highwater(self, tp: TopicPartition) -> int | None:
        return 100

    def last_committed(self, tp: TopicPartition) -> int | None:
        for offsets in reversed(self.commits):
            if tp in offsets:
                return offsets[tp]
        return None


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def send(self, message: Outgoing) -> asyncio.Future[object]:
        self.sent.append(message)
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


class Meter:
    def __init__(self) -> None:
        self.answers: list[Answer] = []

    def answered(self, answer: Answer, age_s: float | None) -> None:
        self.answers.append(answer)


class Gated:
    """A flow whose commands finish when the test says so."""

    def __init__(self) -> None:
        self.gates: dict[int, asyncio.Event] = {}
        self.started: list[int] = []
        self.abandoned: list[int] = []

    def release(self, *offsets: int) -> None:
        for offset in offsets:
            self.gates.setdefault(offset, asyncio.Event()).set()

    async def __call__(self, record: Record, turn: Turn) -> Answer:
        self.started.append(record.offset)
        try:
            await turn.abandonable(self.gates.setdefault(record.offset, asyncio.Event()).wait())
        except Abandoned:
            self.abandoned.append(record.offset)
            return Answer(b"abandoned", record.key, "failed")
        return Answer(b"done", record.key, "succeeded")

    def crashed(self, record: Record, error: Exception) -> Answer:
        return Answer(b"crashed", record.key, "failed")


async def make_engine(
    handler: Flow,
    *,
    max_buffered: int = 1000,
    max_in_flight: int = 100,
    producer: FakeProducer | None = None,
    meter: Meter | None = None,
) -> tuple[Engine, FakeConsumer]:
    """An engine started and owning TP0 and TP1."""
    engine = bare_engine(
        handler,
        max_buffered=max_buffered,
        max_in_flight=max_in_flight,
        producer=producer,
        meter=meter,
    )
    consumer = FakeConsumer()
    engine.start(consumer)
    await engine.assign({TP0, TP1})
    consumer.pause_calls = consumer.resume_calls = 0  # the assignment's own pause and resume
    return engine, consumer


def bare_engine(
    handler: Flow,
    *,
    max_buffered: int = 1000,
    max_in_flight: int = 100,
    producer: FakeProducer | None = None,
    meter: Meter | None = None,
) -> Engine:
    """An engine neither started nor owning a partition."""
    return Engine(
        handler,
        Publisher(producer or FakeProducer()),
        topics=TOPICS,
        meter=meter or Meter(),
        max_in_flight=max_in_flight,
        max_buffered=max_buffered,
        commit_interval_s=3600,  # commits driven by the test
        revoke_timeout_s=0.2,
    )


def rec(offset: int, key: str, tp: TopicPartition = TP0) -> Record:
    return Record(tp.topic, tp.partition, offset, key.encode(), b"{}")


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_commits_only_up_to_the_lowest_unfinished_offset() -> None:
    handler = Gated()
    engine, consumer = await make_engine(handler)
    engine.submit([rec(0, "a"), rec(1, "b"), rec(2, "c")])
    await settle()
    handler.release(1, 2)
    await settle()
    await engine.commit()
    assert consumer.last_committed(TP0) == 0, "offset 0 still runs"
    handler.release(0)
    await settle()
    await engine.commit()
    assert consumer.last_committed(TP0) == 3
    commits_before = len(consumer.commits)
    await engine.commit()
    assert len(consumer.commits) == commits_before, "nothing moved, nothing committed"
    await engine.stop(grace_s=1)


async def test_records_of_unowned_partitions_are_ignored() -> None:
    handler = Gated()
    engine, _ = await make_engine(handler)
    engine.submit([rec(0, "a", TopicPartition("commands", 9))])
    await settle()
    assert handler.started == []
    await engine.stop(grace_s=1)


async def test_backpressure_pauses_only_the_partition_over_its_share() -> None:
    handler = Gated()
    engine, consumer = await make_engine(handler, max_buffered=4)  # two partitions: 2 each
    engine.submit([rec(i, "same-call") for i in range(6)])
    await settle()
    assert consumer.paused == {TP0}, "the other partition's calls keep being fetched"
    assert engine.state().paused == 1
    engine.submit([rec(0, "other-call", TP1)])
    await settle()
    assert consumer.paused == {TP0}
    handler.release(0, 1, 2)
    await settle()
    assert consumer.paused == {TP0}, "two still wait: above half the share"
    handler.release(3)
    await settle()
    assert consumer.paused == set(), "one waits: resumed at half the share"
    assert consumer.resume_calls == 1
    handler.release(4, 5, 0)
    await engine.stop(grace_s=1)


async def test_records_waiting_for_a_place_are_dropped_at_stop_not_run() -> None:
    handler = Gated()
    engine, consumer = await make_engine(handler, max_in_flight=1)
    engine.submit([rec(i, f"call-{i}") for i in range(5)])  # five calls, one place
    await settle()
    stopping = asyncio.create_task(engine.stop(grace_s=5))
    await settle()
    handler.release(0)
    await stopping
    assert handler.started == [0], "the four calls waiting for a place were left, not run"
    assert consumer.last_committed(TP0) == 1


async def test_revoke_drops_waiting_records_waits_for_running_and_commits() -> None:
    handler = Gated()
    engine, consumer = await make_engine(handler)
    engine.submit([rec(0, "call"), rec(1, "call"), rec(5, "other", TP1)])
    await settle()
    revoking = asyncio.create_task(engine.revoke({TP0}))
    await settle()
    handler.release(0)
    await revoking
    assert handler.started == [0, 5], "offset 1 was waiting: dropped, not run"
    assert consumer.last_committed(TP0) == 1, "the next owner starts at the dropped record"
    assert TP0 not in engine.assigned
    handler.release(5)
    await engine.stop(grace_s=1)


async def test_revoke_abandons_what_does_not_finish_in_time() -> None:
    handler = Gated()
    producer = FakeProducer()
    engine, consumer = await make_engine(handler, producer=producer)
    engine.submit([rec(0, "stuck")])
    await settle()
    await engine.revoke({TP0})
    assert handler.abandoned == [0]
    assert [m.value for m in producer.sent] == [b"abandoned"], "answered before the hand-over"
    assert consumer.last_committed(TP0) == 1, "abandoned with a result: done"


async def test_stop_lets_running_work_finish_within_grace_then_commits() -> None:
    handler = Gated()
    engine, consumer = await make_engine(handler)
    engine.submit([rec(0, "a"), rec(1, "b")])
    await settle()
    handler.release(0)
    stopping = asyncio.create_task(engine.stop(grace_s=5))
    await asyncio.sleep(0.05)
    assert not stopping.done()
    engine.submit([rec(2, "c")])  # arrives during shutdown: not taken
    handler.release(1)
    await stopping
    assert handler.started == [0, 1]
    assert consumer.last_committed(TP0) == 2
    assert consumer.paused == {TP0, TP1}


def test_state_reports_lag_from_the_watermark() -> None:
    async def scenario() -> EngineState:
        handler = Gated()
        engine, _ = await make_engine(handler)
        engine.submit([rec(40, "a")])
        await settle()
        state = engine.state()
        handler.release(40)
        await engine.stop(grace_s=1)
        return state

    state = asyncio.run(scenario())
    assert state.lag[("commands", 0)] == 60
    assert state.in_flight == 1


class Answering:
    """A flow that answers at once, binding an id to the log context like the real flow."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.answer = answer

    async def __call__(self, record: Record, turn: Turn) -> Answer:
        structlog.contextvars.bind_contextvars(command_id=f"cmd-{record.offset}")
        if self.answer is None:
            raise RuntimeError("a bug")
        return self.answer

    def crashed(self, record: Record, error: Exception) -> Answer:
        return Answer(b"crashed", record.key, "failed", summary={"error": "internal_error"})


async def test_an_answer_is_published_counted_and_logged_once_acknowledged() -> None:
    answer = Answer(
        b"result",
        b"call",
        "rejected",
        kind="say",
        snapshot=b"snapshot",
        dead_letter=DeadLetter("invalid_command", "text: required"),
        headers={"traceparent": "00-x"},
        summary={"command_id": "cmd-0", "attempts": 0},
    )
    producer, meter = FakeProducer(), Meter()
    engine, consumer = await make_engine(Answering(answer), producer=producer, meter=meter)
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        engine.submit([Record("commands", 0, 7, b"call", b"raw bytes")])
        await settle()
    sent = {m.topic: m for m in producer.sent}
    assert sent["results"] == Outgoing("results", b"call", b"result", {"traceparent": "00-x"})
    assert sent["snapshots"].value == b"snapshot"
    letter = sent["dead-letter"]
    assert (letter.key, letter.value) == (b"call", b"raw bytes"), "the record, byte for byte"
    assert letter.headers["error.code"] == "invalid_command"
    assert letter.headers["source.offset"] == "7"
    assert letter.headers["traceparent"] == "00-x"
    assert meter.answers == [answer]
    [line] = [entry for entry in logs if entry["event"] == "command"]
    assert line["type"] == "say"
    assert line["outcome"] == "rejected"
    assert (line["partition"], line["offset"], line["command_id"]) == (0, 7, "cmd-0")
    await engine.commit()
    assert consumer.last_committed(TP0) == 8
    await engine.stop(grace_s=1)


async def test_a_crashing_flow_still_answers_and_its_lines_carry_the_context() -> None:
    producer = FakeProducer()
    engine, consumer = await make_engine(Answering(None), producer=producer)
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        engine.submit([rec(3, "call"), rec(4, "call")])
        await settle()
    assert [m.value for m in producer.sent] == [b"crashed", b"crashed"]
    crashes = [entry for entry in logs if entry["event"] == "command_crashed"]
    assert [(c["partition"], c["offset"], c["command_id"]) for c in crashes] == [
        (0, 3, "cmd-3"),
        (0, 4, "cmd-4"),
    ]
    await engine.commit()
    assert consumer.last_committed(TP0) == 5
    await engine.stop(grace_s=1)


class HeldAcks(FakeProducer):
    """Queues every message at once; Kafka acknowledges them when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.acks: list[asyncio.Future[object]] = []

    async def send(self, message: Outgoing) -> asyncio.Future[object]:
        self.sent.append(message)
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.acks.append(future)
        return future

    def acknowledge_all(self) -> None:
        for future in self.acks:
            if not future.done():
                future.set_result(None)


async def test_the_place_is_given_back_once_the_answer_is_queued_not_acknowledged() -> None:
    handler = Gated()
    producer = HeldAcks()
    engine, consumer = await make_engine(handler, max_in_flight=1, producer=producer)
    engine.submit([rec(0, "a"), rec(1, "b")])  # two calls, one place
    handler.release(0, 1)
    await settle()
    assert handler.started == [0, 1], "call b ran while a's answer waited for its ack"
    assert len(producer.sent) == 2
    assert engine.state().in_flight == 0, "waiting for an ack holds no place"
    await engine.commit()
    assert consumer.last_committed(TP0) in (None, 0), "nothing acknowledged: nothing committed"
    producer.acknowledge_all()
    await settle()
    await engine.commit()
    assert consumer.last_committed(TP0) == 2
    await engine.stop(grace_s=1)


async def test_a_calls_next_command_waits_for_the_previous_answers_ack() -> None:
    handler = Gated()
    producer = HeldAcks()
    engine, _ = await make_engine(handler, producer=producer)
    engine.submit([rec(0, "a"), rec(1, "a")])  # one call: its order is kept
    handler.release(0, 1)
    await settle()
    assert handler.started == [0], "the call's lane waits for the ack of its last answer"
    producer.acknowledge_all()
    await settle()
    assert handler.started == [0, 1]
    producer.acknowledge_all()
    await engine.stop(grace_s=1)


async def test_stages_are_reported() -> None:
    stages: list[str] = []
    handler = Gated()
    engine = Engine(
        handler,
        Publisher(FakeProducer()),
        topics=TOPICS,
        meter=Meter(),
        max_in_flight=4,
        max_buffered=100,
        commit_interval_s=3600,
        revoke_timeout_s=0.2,
        stage=lambda name, seconds: stages.append(name) if seconds >= 0 else None,
    )
    engine.start(FakeConsumer())
    await engine.assign({TP0})
    engine.submit([rec(0, "a")])
    handler.release(0)
    await settle()
    assert stages == ["place_wait", "publish", "publish_ack"]
    await engine.stop(grace_s=1)


async def test_a_records_age_when_handed_over_is_its_fetch_stage() -> None:
    seen: list[tuple[str, float]] = []
    engine = Engine(
        Gated(),
        Publisher(FakeProducer()),
        topics=TOPICS,
        meter=Meter(),
        max_in_flight=4,
        max_buffered=100,
        commit_interval_s=3600,
        revoke_timeout_s=0.2,
        stage=lambda name, seconds: seen.append((name, seconds)),
    )
    engine.start(FakeConsumer())
    await engine.assign({TP0})
    stamped = dataclasses.replace(rec(0, "a"), timestamp_ms=int(time.time() * 1000) - 250)
    engine.submit([stamped, rec(1, "b")])  # the second has no timestamp: no fetch figure
    fetch = [seconds for name, seconds in seen if name == "fetch"]
    assert len(fetch) == 1
    assert 0.25 <= fetch[0] < 5.0
    await engine.stop(grace_s=0.1)


async def test_backpressure_counts_bytes_as_well_as_records() -> None:
    handler = Gated()
    engine, consumer = await make_engine(handler, max_buffered=1000)
    engine._max_buffered_bytes = 2 * 100_000  # two partitions: 100,000 bytes each
    big = [Record(TP0.topic, 0, i, b"k", b"x" * 30_000) for i in range(5)]
    engine.submit(big)
    await settle()
    assert consumer.paused == {TP0}, "4 waiting records of 30 KB: over the byte share"
    assert engine.state().buffered == 4, "far under the record bound"
    handler.release(0, 1)
    await settle()
    assert consumer.paused == {TP0}, "60 KB still wait: above half the byte share"
    handler.release(2)
    await settle()
    assert consumer.paused == set(), "30 KB wait: resumed at half"
    handler.release(3, 4)
    await engine.stop(grace_s=1)


async def test_a_new_owner_skips_what_the_last_commit_says_is_done() -> None:
    handler = Gated()
    engine, consumer = await make_engine(handler)
    engine.submit([rec(i, f"call-{i}") for i in range(6)])
    await settle()
    handler.release(1, 2, 4)  # 0, 3 and 5 still run
    await settle()
    await engine.commit()
    assert consumer.last_committed(TP0) == 0
    assert decode(consumer.metadata[-1][TP0], 0) == {1, 2, 4}
    handler.release(0, 3, 5)
    await engine.stop(grace_s=1)

    # The partition moves to a new owner, say after a crash: the last commit is what it has.
    consumer.commits, consumer.metadata = consumer.commits[:1], consumer.metadata[:1]
    second = Gated()
    engine2 = bare_engine(second)
    engine2.start(consumer)
    await engine2.assign({TP0})
    engine2.submit([rec(i, f"call-{i}") for i in range(6)])
    second.release(0, 3, 5)
    await settle()
    assert sorted(second.started) == [0, 3, 5], "1, 2 and 4 are not run again"
    assert engine2.skipped == 3
    await engine2.commit()
    assert consumer.last_committed(TP0) == 6
    await engine2.stop(grace_s=1)


class SlowMetadata(FakeConsumer):
    """A consumer whose read of the last commit's metadata ends when the test says so (or
    fails), the way a group coordinator answers while records are already being fetched."""

    def __init__(self, done: dict[TopicPartition, frozenset[int]], fail: bool = False) -> None:
        super().__init__()
        self.answer = asyncio.Event()
        self.done, self.fail = done, fail

    async def completed(self, tps: set[TopicPartition]) -> dict[TopicPartition, frozenset[int]]:
        await self.answer.wait()
        if self.fail:
            raise ConnectionError("coordinator moved")
        return {tp: self.done.get(tp, frozenset()) for tp in tps}


async def test_records_fetched_while_the_metadata_is_read_wait_for_it() -> None:
    handler = Gated()
    engine = bare_engine(handler)
    consumer = SlowMetadata({TP0: frozenset({1, 2})})
    engine.start(consumer)
    assigning = asyncio.create_task(engine.assign({TP0}))
    await settle()
    assert consumer.paused == {TP0}, "no fetching while the previous owner's work is unread"
    engine.submit([rec(i, f"call-{i}") for i in range(4)])  # fetched before the pause
    await settle()
    assert handler.started == [], "held until the metadata is read"
    consumer.answer.set()
    await assigning
    await settle()
    assert consumer.paused == set()
    assert sorted(handler.started) == [0, 3], "1 and 2 were done by the previous owner"
    assert engine.skipped == 2
    handler.release(0, 3)
    await settle()
    await engine.commit()
    assert consumer.last_committed(TP0) == 4
    await engine.stop(grace_s=1)


async def test_a_commit_keeps_what_the_previous_owner_did_that_is_not_fetched_yet() -> None:
    handler = Gated()
    engine = bare_engine(handler)
    consumer = SlowMetadata({TP0: frozenset({1, 2, 4})})
    consumer.answer.set()
    engine.start(consumer)
    await engine.assign({TP0})
    engine.submit([rec(0, "a"), rec(1, "b")])  # 2 and 4 not fetched yet
    handler.release(0)
    await settle()
    await engine.commit()
    assert consumer.last_committed(TP0) == 2
    assert decode(consumer.metadata[-1][TP0], 2) == {2, 4}, "a crash now must not rerun them"
    await engine.stop(grace_s=1)


async def test_a_failed_metadata_read_runs_the_held_records() -> None:
    handler = Gated()
    engine = bare_engine(handler)
    consumer = SlowMetadata({TP0: frozenset({1})}, fail=True)
    engine.start(consumer)
    assigning = asyncio.create_task(engine.assign({TP0}))
    await settle()
    engine.submit([rec(0, "a"), rec(1, "b")])
    consumer.answer.set()
    await assigning
    await settle()
    assert sorted(handler.started) == [0, 1], "advice only: without it, everything runs"
    assert consumer.paused == set()
    handler.release(0, 1)
    await engine.stop(grace_s=1)


async def test_records_held_for_a_partition_revoked_meanwhile_are_not_run() -> None:
    handler = Gated()
    engine = bare_engine(handler)
    consumer = SlowMetadata({})
    engine.start(consumer)
    assigning = asyncio.create_task(engine.assign({TP0}))
    await settle()
    engine.submit([rec(0, "a")])
    await engine.revoke({TP0})
    consumer.answer.set()
    await assigning
    await settle()
    assert handler.started == [], "the next owner runs it"
    assert consumer.last_committed(TP0) in (None, 0), "nothing past it committed"
    await engine.stop(grace_s=1)


class WaitsOnAClaim:
    """A flow whose record at offset 0 waits on another owner's claim (a dead replica's),
    the way the handler does: a droppable pause, before anything has started."""

    def __init__(self) -> None:
        self.finished: list[int] = []

    async def __call__(self, record: Record, turn: Turn) -> Answer:
        if record.offset == 0:
            while True:
                await turn.droppable(turn.pause(0.05))
        self.finished.append(record.offset)
        return Answer(b"done", record.key, "succeeded")

    def crashed(self, record: Record, error: Exception) -> Answer:
        return Answer(b"crashed", record.key, "failed")


async def test_revoke_drops_a_record_waiting_on_a_claim_at_once_unanswered_and_uncommitted() -> (
    None
):
    """A hand-over must not wait for another owner's claim: the record has started nothing,
    so it is dropped like a queued one, gets no answer, and the commit stays before it (its
    later records done above it go into the metadata)."""
    flow = WaitsOnAClaim()
    producer = FakeProducer()
    engine, consumer = await make_engine(flow, producer=producer)
    engine.submit([rec(0, "blocked"), rec(1, "other"), rec(2, "blocked")])
    await settle()
    await asyncio.sleep(0.06)
    started = asyncio.get_running_loop().time()
    await engine.revoke({TP0})
    assert asyncio.get_running_loop().time() - started < 0.1, "no revoke timeout spent on it"
    assert flow.finished == [1]
    assert [m.value for m in producer.sent] == [b"done"], "the dropped record has no answer"
    assert consumer.last_committed(TP0) == 0, "the next owner reads it again"
    assert decode(consumer.metadata[-1][TP0], 0) == {1}, "what was done above it is skipped"
    await engine.stop(grace_s=1)
