"""The offsets completed above a partition's watermark, written into its commit's metadata.

A committed offset says "everything before this is done"; with out-of-order completion much
after it is done too, and without this a new owner (after a hand-over or a crash) runs all of
it again: a store read and a republished result per record. Confluent's Parallel Consumer
solves it the same way: the commit carries an encoding of what is done above the offset, and
the next owner skips those records.

Encoding: `cc1:<watermark>:<runs>`, where `<runs>` is URL-safe base64 of unsigned LEB128
varints, alternating (gap, length) for each run of completed offsets, the first gap counted
from the watermark. Runs compress the common shape (most records above the watermark done,
a few stragglers) to a few bytes. The broker bounds metadata (`offset.metadata.max.bytes`,
4096 by default): runs that do not fit in `MAX_CHARS` are left out, which only means those
records are read again, as they would be without any metadata.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

PREFIX = "cc1"
MAX_CHARS = 3000


def encode(watermark: int, done: Iterable[int]) -> str:
    """Metadata for a commit at `watermark` whose records in `done` (all above it) are done."""
    out = bytearray()
    budget = (MAX_CHARS - len(PREFIX) - len(str(watermark)) - 2) * 3 // 4
    position = watermark
    for start, length in _runs(sorted(done)):
        run = _varint(start - position) + _varint(length)
        if len(out) + len(run) > budget:
            break
        out += run
        position = start + length
    return f"{PREFIX}:{watermark}:{base64.urlsafe_b64encode(bytes(out)).decode()}"


def decode(metadata: str | None, committed: int) -> frozenset[int]:
    """The completed offsets a commit at `committed` carries; empty for metadata that is not
    ours, that belongs to another offset, or that cannot be read (it is advice only)."""
    if not metadata or not metadata.startswith(PREFIX + ":"):
        return frozenset()
    try:
        _, mark, runs = metadata.split(":", 2)
        if int(mark) != committed:
            return frozenset()
        raw = base64.urlsafe_b64decode(runs.encode())
        values = _read_varints(raw)
    except (ValueError, binascii.Error):
        return frozenset()
    if len(values) % 2:
        return frozenset()
    done: set[int] = set()
    position = committed
    for gap, length in zip(values[::2], values[1::2], strict=True):
        start = position + gap
        done.update(range(start, start + length))
        position = start + length
    return frozenset(done)


def _runs(offsets: list[int]) -> Iterable[tuple[int, int]]:
    start = previous = None
    for offset in offsets:
        if previous is not None and offset == previous + 1:
            previous = offset
            continue
        if start is not None and previous is not None:
            yield start, previous - start + 1
        start = previous = offset
    if start is not None and previous is not None:
        yield start, previous - start + 1


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_MAX_RUN = 1 << 40  # a decoded run longer than this is not ours: refuse it, not allocate it


def _read_varints(raw: bytes) -> list[int]:
    values: list[int] = []
    value = shift = 0
    for byte in raw:
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            if shift > 42:
                raise ValueError("varint too long")
            continue
        values.append(value)
        value = shift = 0
    if shift:
        raise ValueError("truncated varint")
    if sum(values[1::2]) > 1_000_000 or any(v > _MAX_RUN for v in values):
        raise ValueError("more completed offsets than a commit can describe")
    return values
