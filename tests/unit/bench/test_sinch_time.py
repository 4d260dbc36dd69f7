"""Sinch's time per command: the simulator's own durations, paired with commands per call."""

from __future__ import annotations

from bench.sinch_time import match


def entry(seq: int, call: str, at: str, took: float) -> dict[str, object]:
    return {"seq": seq, "callId": call, "receivedAt": at, "durationMs": took}


def test_the_nth_request_of_a_call_is_its_nth_command() -> None:
    commands = [("a", (0, 5)), ("b", (0, 6)), ("a", (0, 7))]
    requests = [
        # completion order differs from arrival order: arrival decides
        entry(1, "a", "2026-12-01T10:00:00.200Z", 52.0),
        entry(2, "a", "2026-12-01T10:00:00.100Z", 51.0),
        entry(3, "b", "2026-12-01T10:00:00.150Z", 60.0),
        entry(4, "warm-up", "2026-12-01T10:00:00.050Z", 99.0),
    ]
    times = match(commands, requests)
    assert times.by_command == {(0, 5): 51.0, (0, 7): 52.0, (0, 6): 60.0}
    assert times.unmatched_calls == 0


def test_a_call_with_a_retry_or_a_lost_request_is_left_out_and_counted() -> None:
    commands = [("a", (0, 1)), ("b", (0, 2))]
    requests = [
        entry(1, "a", "2026-12-01T10:00:00.100Z", 51.0),
        entry(2, "a", "2026-12-01T10:00:00.300Z", 50.5),  # a second attempt
    ]
    times = match(commands, requests)
    assert times.by_command == {}
    assert times.unmatched_calls == 2
