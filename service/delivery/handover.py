"""What a newly owned partition's previous owner left behind: the offsets it finished above its
last commit (read from the commit's metadata, `completed.py`), and the records fetched while
that is being read.

aiokafka sets a new assignment and starts fetching before it calls the rebalance listener, so
a record can reach the engine while the listener still reads the metadata. Held here until the
read ends, such a record is checked against what the previous owner finished, like any other:
without the hold it would run at once, and a command already executed would run again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from service.delivery.records import Record, TopicPartition


class Handover:
    def __init__(self) -> None:
        self._done: dict[TopicPartition, set[int]] = {}
        self._held: dict[TopicPartition, list[Record]] = {}
        self.skipped = 0

    def hold(self, tps: Iterable[TopicPartition]) -> None:
        """Keep the records of `tps` until `release`: their previous owner's work is unread."""
        for tp in tps:
            self._held.setdefault(tp, [])

    def holds(self, tp: TopicPartition) -> bool:
        return tp in self._held

    def keep(self, record: Record) -> None:
        self._held[record.tp].append(record)

    def release(
        self, tps: Iterable[TopicPartition], done: Mapping[TopicPartition, frozenset[int]]
    ) -> list[Record]:
        """Learn what was done above the last commits of `tps`; the records held meanwhile,
        in the order they were fetched."""
        released: list[Record] = []
        for tp in tps:
            if offsets := done.get(tp):
                self._done[tp] = set(offsets)
            released += self._held.pop(tp, [])
        return released

    def was_done(self, tp: TopicPartition, offset: int) -> bool:
        """True once for each offset the previous owner finished (counted in `skipped`)."""
        done = self._done.get(tp)
        if done is None or offset not in done:
            return False
        done.discard(offset)
        if not done:
            del self._done[tp]
        self.skipped += 1
        return True

    def pending(self, tp: TopicPartition) -> frozenset[int]:
        """Offsets the previous owner finished that have not been fetched again yet."""
        return frozenset(self._done.get(tp, ()))

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        """Partitions revoked: what they held goes uncommitted to the next owner."""
        for tp in tps:
            self._done.pop(tp, None)
            self._held.pop(tp, None)
