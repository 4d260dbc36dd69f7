from __future__ import annotations

import pytest

from service.delivery.offsets import OffsetTracker, PartitionOffsets
from service.delivery.records import TopicPartition

TP = TopicPartition("commands", 0)


def test_watermark_is_the_lowest_unfinished_offset() -> None:
    offsets = PartitionOffsets()
    for offset in (10, 11, 12, 13):
        offsets.read(offset)
    assert offsets.watermark() == 10
    offsets.done(12)
    offsets.done(11)
    assert offsets.watermark() == 10, "10 still runs: nothing past it may be committed"
    offsets.done(10)
    assert offsets.watermark() == 13
    offsets.done(13)
    assert offsets.watermark() == 14, "all done: commit the next offset to read"
    assert offsets.in_progress == 0


def test_gaps_in_offsets_are_fine() -> None:
    offsets = PartitionOffsets()
    for offset in (5, 9, 20):  # compacted or transactional topics skip offsets
        offsets.read(offset)
    offsets.done(9)
    offsets.done(5)
    assert offsets.watermark() == 20


def test_out_of_order_reads_are_refused() -> None:
    offsets = PartitionOffsets()
    offsets.read(7)
    with pytest.raises(ValueError, match="out of order"):
        offsets.read(3)


def test_tracker_reports_only_moved_watermarks() -> None:
    tracker = OffsetTracker()
    other = TopicPartition("commands", 1)
    tracker.read(TP, 0)
    tracker.read(other, 0)
    tracker.done(TP, 0)
    assert tracker.to_commit() == {TP: 1, other: 0}
    tracker.committed({TP: 1, other: 0})
    assert tracker.to_commit() == {}
    tracker.done(other, 0)
    assert tracker.to_commit() == {other: 1}
    assert tracker.to_commit(only={TP}) == {}


def test_forgotten_partition_ignores_late_completions() -> None:
    tracker = OffsetTracker()
    tracker.read(TP, 4)
    tracker.forget({TP})
    tracker.done(TP, 4)
    assert tracker.to_commit() == {}
    assert tracker.watermark(TP) is None
