"""Where a command's time goes: one callback per finished stage, with its seconds.

Every owner of a step reports its own stage (delivery: waiting for an in-flight place,
publishing, the acknowledgement, the event loop's lag; the flow: decoding, the claim, planning,
storing; the executor and the Sinch client: signing, the request, the snapshot read), and the
metrics owner turns them into one histogram by stage. A plain callable and `perf_counter`
deltas, so the cost per command is a few dictionary lookups, not a span per stage.
"""

from __future__ import annotations

from collections.abc import Callable

StageMeter = Callable[[str, float], None]
"""`(stage, seconds)`: called once per stage a command went through."""


def no_stage(stage: str, seconds: float) -> None:
    """Stages counted nowhere (tests, tools)."""
