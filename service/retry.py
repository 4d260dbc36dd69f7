"""Retries as a policy: one backoff formula and one loop, for every retry in the service.

Three callers, one shape: the executor retrying Sinch (a budget of attempts, `Retry-After`
honoured up to a cap, never past the command's `expiresAt`), the flow outliving an outage of
the idempotency store (until it answers), the publisher waiting for Kafka's acknowledgement
(until it comes). The caller says which answers are worth another attempt (`again`, or
exceptions of `retry_on`), how to wait (a flow waits through its turn, so a backing-off
command does not hold an in-flight place) and what to log; this module says how long.

The formula is capped exponential backoff with full jitter (AWS Architecture Blog, "Exponential
Backoff And Jitter", 2015): the n-th wait is uniform in [0, min(cap, base * 2**(n-1))], which
spreads the retries of many commands failing at once.

Why not stamina or tenacity: stamina's jitter is additive (not full jitter) and it retries on
exceptions only, while Sinch answers are values judged by `domain.policy`; tenacity fits, but
builds a state object and an action chain per call, on a path that runs several times per
command in a service bound by CPU. The loop below is a few lines.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff with full jitter."""

    base_s: float
    cap_s: float

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry` (1 for the first)."""
        # The exponent is bounded: an outage waited out for hours must not overflow a float.
        return rng.uniform(0, min(self.cap_s, self.base_s * 2.0 ** min(retry - 1, 64)))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to keep trying: a backoff, an attempt budget, a limit on `Retry-After`."""

    backoff: Backoff
    max_attempts: int | None = None  # None: until it succeeds
    max_retry_after_s: float = math.inf

    def delay(self, attempts: int, retry_after_s: float | None, rng: random.Random) -> float | None:
        """Seconds to wait after `attempts` attempts; None when no further attempt is allowed
        (budget spent, or a `Retry-After` longer than we are willing to wait)."""
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return None
        if retry_after_s is not None:
            return retry_after_s if retry_after_s <= self.max_retry_after_s else None
        return self.backoff.delay(attempts, rng)


@dataclass(frozen=True, slots=True)
class Again:
    """An attempt's answer asks for another attempt: why, and how long the other side asked
    us to wait (`Retry-After`), if it did."""

    reason: str
    retry_after_s: float | None = None


OnRetry = Callable[[int, float, Again], None]
_rng = random.Random()


def _never(_: object) -> Again | None:
    return None


async def retry(
    attempt: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    again: Callable[[T], Again | None] = _never,
    retry_on: tuple[type[Exception], ...] = (),
    sleep: Sleep = asyncio.sleep,
    time_left: Callable[[], float | None] | None = None,
    on_retry: OnRetry | None = None,
    rng: random.Random = _rng,
) -> T:
    """Run `attempt` until its answer needs no other attempt, or the policy allows no more.

    Returns the last answer: the caller tells success from a spent budget with its own `again`.
    An exception of `retry_on` is retried like an answer asking for it, and re-raised when the
    budget is spent; any other exception propagates at once. No wait ends at or past
    `time_left()` seconds from now (a deadline), which also ends the retries.
    """
    attempts = 0
    while True:
        attempts += 1
        try:
            answer = await attempt()
        except retry_on as error:
            wanted = Again(type(error).__name__)
            delay = _delay(policy, attempts, wanted, time_left, rng)
            if delay is None:
                raise
        else:
            wanted_or_none = again(answer)
            if wanted_or_none is None:
                return answer
            wanted = wanted_or_none
            delay = _delay(policy, attempts, wanted, time_left, rng)
            if delay is None:
                return answer
        if on_retry is not None:
            on_retry(attempts, delay, wanted)
        await sleep(delay)


def _delay(
    policy: RetryPolicy,
    attempts: int,
    wanted: Again,
    time_left: Callable[[], float | None] | None,
    rng: random.Random,
) -> float | None:
    delay = policy.delay(attempts, wanted.retry_after_s, rng)
    if delay is None or time_left is None:
        return delay
    left = time_left()
    return None if left is not None and delay >= left else delay
