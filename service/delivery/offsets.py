"""Per-partition watermarks: the offset that may be committed while work completes out of order.

The committable offset of a partition is the lowest offset read but not done (Kafka commits
"the next offset to read"), or last read + 1 when nothing is pending. Completing offsets in
any order costs O(1) amortized: offsets arrive in increasing order per partition, so a deque of
pending offsets plus a set of finished ones is enough.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from service.delivery.completed import encode
from service.delivery.records import TopicPartition


class PartitionOffsets:
    __slots__ = ("_finished", "_next", "_pending", "committed", "committed_version", "version")

    def __init__(self) -> None:
        self._pending: deque[int] = deque()
        self._finished: set[int] = set()
        self._next: int | None = None
        self.committed: int | None = None
        # Completions so far, and at the last commit: what is done above the watermark goes
        # into the commit's metadata, so a commit is due when it grew too.
        self.version = 0
        self.committed_version = 0

    def read(self, offset: int) -> None:
        if self._next is not None and offset < self._next:
            raise ValueError(f"offset {offset} read after {self._next - 1}: records out of order")
        self._pending.append(offset)
        self._next = offset + 1

    def done(self, offset: int) -> None:
        self.version += 1
        self._finished.add(offset)
        pending = self._pending
        while pending and pending[0] in self._finished:
            self._finished.discard(pending.popleft())

    @property
    def done_above_watermark(self) -> set[int]:
        return self._finished

    @property
    def in_progress(self) -> int:
        return len(self._pending)

    def watermark(self) -> int | None:
        """The offset to commit: lowest not done, or next to read; None before any read."""
        if self._pending:
            return self._pending[0]
        return self._next


class OffsetTracker:
    """Watermarks of every partition this consumer owns."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, PartitionOffsets] = {}

    def read(self, tp: TopicPartition, offset: int) -> None:
        self._partitions.setdefault(tp, PartitionOffsets()).read(offset)

    def done(self, tp: TopicPartition, offset: int) -> None:
        partition = self._partitions.get(tp)
        if partition is not None:  # a revoked partition's late completion changes nothing
            partition.done(offset)

    def to_commit(self, only: set[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Watermarks that moved since they were last committed."""
        moved = {}
        for tp, partition in self._partitions.items():
            if only is not None and tp not in only:
                continue
            mark = partition.watermark()
            if mark is not None and (
                mark != partition.committed or partition.version != partition.committed_version
            ):
                moved[tp] = mark
        return moved

    def metadata(
        self,
        offsets: dict[TopicPartition, int],
        done_elsewhere: Callable[[TopicPartition], Iterable[int]] = lambda _: (),
    ) -> tuple[dict[TopicPartition, str], dict[TopicPartition, int]]:
        """For `offsets` about to be committed: each partition's commit metadata (what is done
        above its watermark, `completed.encode`) and the version it describes.

        `done_elsewhere` adds offsets done but not yet read: a previous owner's, not fetched
        since, so a commit of ours does not erase what its last commit said."""
        metadata, versions = {}, {}
        for tp, offset in offsets.items():
            partition = self._partitions[tp]
            above = {o for o in done_elsewhere(tp) if o >= offset}
            metadata[tp] = encode(offset, partition.done_above_watermark | above)
            versions[tp] = partition.version
        return metadata, versions

    def committed(
        self, offsets: dict[TopicPartition, int], versions: dict[TopicPartition, int] | None = None
    ) -> None:
        for tp, offset in offsets.items():
            partition = self._partitions.get(tp)
            if partition is not None:
                partition.committed = offset
                partition.committed_version = (
                    versions[tp] if versions is not None else partition.version
                )

    def forget(self, tps: set[TopicPartition]) -> None:
        for tp in tps:
            self._partitions.pop(tp, None)

    def watermark(self, tp: TopicPartition) -> int | None:
        partition = self._partitions.get(tp)
        return partition.watermark() if partition else None
