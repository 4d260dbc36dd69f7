"""Per-stage figures of a service run, from its own `callctl_command_stage_seconds` histogram.

Scraped from each replica's `/metrics` just before it is stopped, summed over replicas. The
percentiles are read from the buckets (linear inside a bucket), so they are as coarse as the
buckets: good enough to say which stage a command's time goes to, not for a target.
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from collections.abc import Sequence

import httpx
from prometheus_client.parser import text_string_to_metric_families

STAGE_METRIC = "callctl_command_stage_seconds"


def parse(pages: Sequence[str], before: Sequence[str] = ()) -> dict[str, dict[str, float]]:
    """{stage: {"count", "mean_ms", "p50_ms", "p99_ms"}} from /metrics pages (one per replica:
    their series add up), less what the `before` pages of the same replicas had counted (the
    open loop's warm-up)."""
    buckets: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, float] = defaultdict(float)
    for sign, group in ((1.0, pages), (-1.0, before)):
        families = (f for page in group for f in text_string_to_metric_families(page))
        for family in families:
            if family.name != STAGE_METRIC:
                continue
            for sample in family.samples:
                stage = sample.labels.get("stage", "")
                if sample.name.endswith("_bucket"):
                    buckets[stage][float(sample.labels["le"])] += sign * sample.value
                elif sample.name.endswith("_sum"):
                    sums[stage] += sign * sample.value
                elif sample.name.endswith("_count"):
                    counts[stage] += sign * sample.value
    out: dict[str, dict[str, float]] = {}
    for stage, count in counts.items():
        if not count:
            continue
        ordered = sorted(buckets[stage].items())
        out[stage] = {
            "count": count,
            "mean_ms": sums[stage] / count * 1000,
            "p50_ms": quantile(ordered, 0.5) * 1000,
            "p99_ms": quantile(ordered, 0.99) * 1000,
        }
    return out


def quantile(cumulative: list[tuple[float, float]], q: float) -> float:
    """The q-quantile of a cumulative histogram [(upper bound, count)], as Prometheus's
    histogram_quantile reads it; the last finite bound when it falls in +Inf."""
    if not cumulative:
        return math.nan
    total = cumulative[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            inside = count - lower_count
            share = (rank - lower_count) / inside if inside else 1.0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound


async def scrape_pages(ports: list[int]) -> list[str]:
    """The /metrics pages of the replicas listening on `ports` (those that answer)."""
    pages = []
    async with httpx.AsyncClient(timeout=5) as http:
        for port in ports:
            with contextlib.suppress(httpx.HTTPError):
                response = await http.get(f"http://127.0.0.1:{port}/metrics")
                pages.append(response.text)
    return pages


async def scrape_stages(
    ports: list[int], before: Sequence[str] = ()
) -> dict[str, dict[str, float]]:
    """The stage figures of the replicas listening on `ports` since the `before` pages;
    empty when none answers."""
    return parse(await scrape_pages(ports), before)
