"""The one retry helper: its backoff formula (tested here once) and its loop."""

from __future__ import annotations

import random

import pytest

from service.retry import Again, Backoff, RetryPolicy, retry


def test_backoff_is_full_jitter_exponential_and_capped() -> None:
    backoff = Backoff(base_s=0.1, cap_s=1.0)
    rng = random.Random(7)
    for retry_number in range(1, 12):
        ceiling = min(1.0, 0.1 * 2 ** (retry_number - 1))
        delays = [backoff.delay(retry_number, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling, "the whole range up to the ceiling is used"
        assert min(delays) < 0.2 * ceiling, "full jitter: down to zero, not half the ceiling"


def test_policy_honours_retry_after_and_the_attempt_budget() -> None:
    policy = RetryPolicy(Backoff(0.1, 1.0), max_attempts=3, max_retry_after_s=30)
    rng = random.Random(1)
    assert policy.delay(1, 2.5, rng) == 2.5, "Retry-After replaces the backoff"
    assert policy.delay(1, 31, rng) is None, "a Retry-After beyond the limit ends the retries"
    delay = policy.delay(2, None, rng)
    assert delay is not None and 0 <= delay <= 0.2
    assert policy.delay(3, None, rng) is None, "three attempts made: the budget is spent"
    assert RetryPolicy(Backoff(0.1, 1.0)).delay(10_000, None, rng) is not None, "no budget"


class Script:
    """Answers in turn; records the waits instead of sleeping."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.waits: list[float] = []
        self.retries: list[tuple[int, str]] = []

    async def attempt(self) -> object:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    def on_retry(self, attempt: int, _delay: float, why: Again) -> None:
        self.retries.append((attempt, why.reason))


def again_if_busy(answer: object) -> Again | None:
    if answer == "busy":
        return Again("busy")
    if isinstance(answer, tuple):
        return Again("slow down", retry_after_s=answer[1])
    return None


FAST = RetryPolicy(Backoff(0.01, 0.02))


async def test_retries_answers_until_one_needs_no_retry() -> None:
    script = Script("busy", ("later", 0.5), "done")
    answer = await retry(
        script.attempt,
        policy=FAST,
        again=again_if_busy,
        sleep=script.sleep,
        on_retry=script.on_retry,
    )
    assert answer == "done"
    assert script.calls == 3
    assert len(script.waits) == 2 and 0 <= script.waits[0] <= 0.01
    assert script.waits[1] == 0.5, "the other side's Retry-After"
    assert script.retries == [(1, "busy"), (2, "slow down")]


async def test_a_spent_budget_returns_the_last_answer() -> None:
    script = Script("busy", "busy", "busy", "done")
    policy = RetryPolicy(Backoff(0.01, 0.02), max_attempts=3)
    answer = await retry(script.attempt, policy=policy, again=again_if_busy, sleep=script.sleep)
    assert answer == "busy"
    assert script.calls == 3
    assert len(script.waits) == 2


async def test_exceptions_named_are_retried_others_propagate() -> None:
    script = Script(ConnectionError("down"), ConnectionError("down"), "done")
    answer = await retry(
        script.attempt,
        policy=FAST,
        retry_on=(ConnectionError,),
        sleep=script.sleep,
        on_retry=script.on_retry,
    )
    assert answer == "done"
    assert script.retries == [(1, "ConnectionError"), (2, "ConnectionError")]

    failing = Script(ValueError("a bug"), "never")
    with pytest.raises(ValueError, match="a bug"):
        await retry(failing.attempt, policy=FAST, retry_on=(ConnectionError,), sleep=failing.sleep)
    assert failing.calls == 1

    spent = Script(ConnectionError("down"), ConnectionError("still down"))
    with pytest.raises(ConnectionError, match="still down"):
        await retry(
            spent.attempt,
            policy=RetryPolicy(Backoff(0.01, 0.02), max_attempts=2),
            retry_on=(ConnectionError,),
            sleep=spent.sleep,
        )


async def test_no_wait_reaches_the_deadline() -> None:
    script = Script(("later", 1.0), ("later", 1.0), "done")
    left = [1.5]

    async def sleep(seconds: float) -> None:
        script.waits.append(seconds)
        left[0] -= seconds

    answer = await retry(
        script.attempt, policy=FAST, again=again_if_busy, sleep=sleep, time_left=lambda: left[0]
    )
    assert answer == ("later", 1.0), "a second wait of 1 s would end past the deadline"
    assert script.waits == [1.0]
