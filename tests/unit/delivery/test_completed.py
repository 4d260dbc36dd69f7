"""The commit metadata that carries offsets completed above the watermark."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from service.delivery.completed import MAX_CHARS, decode, encode


@settings(deadline=None)
@given(st.integers(0, 2**40), st.sets(st.integers(1, 50_000), max_size=2_000))
def test_what_is_encoded_is_decoded_or_left_out_never_invented(mark: int, above: set[int]) -> None:
    done = {mark + d for d in above}
    metadata = encode(mark, done)
    assert len(metadata) <= MAX_CHARS, "fits the broker's offset.metadata.max.bytes"
    decoded = decode(metadata, mark)
    assert decoded <= done, "never an offset that was not done"
    if decoded != done:  # cut for size: what is kept is a prefix of the runs
        assert max(decoded, default=mark) < min(done - decoded)


def test_typical_shapes_are_tiny() -> None:
    mark = 1_000_000
    assert len(encode(mark, range(mark + 1, mark + 5_000))) < 30, "one run"
    stragglers = set(range(mark + 1, mark + 3_000)) - {mark + 10, mark + 700, mark + 2_000}
    assert decode(encode(mark, stragglers), mark) == stragglers


@settings(deadline=None)
@given(st.text(max_size=200) | st.just("cc1:5:") | st.just("cc1:5:////"))
def test_foreign_or_broken_metadata_is_ignored(metadata: str) -> None:
    assert all(offset >= 5 for offset in decode(metadata, 5))


def test_metadata_of_another_offset_is_ignored() -> None:
    assert decode(encode(10, {12, 13}), 11) == frozenset()
    assert decode(encode(10, {12, 13}), 10) == {12, 13}
    assert decode(None, 10) == frozenset()
    assert decode("cc1:10:" + "_" * 8, 10) == frozenset(), "varints that do not end"
