"""The on-call kit holds together: every alert links to a runbook section that exists, and every
callctl_* series that an alert or the dashboard queries is one the service exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from service.delivery.engine import EngineState
from service.delivery.publishing import Publisher
from service.ops.metrics import Metrics
from service.retry import Backoff, RetryPolicy

ROOT = Path(__file__).resolve().parents[3]
ALERTS = ROOT / "helm/call-control/files/alerts.yaml"
DASHBOARD = ROOT / "helm/call-control/files/dashboard.json"
RUNBOOK = ROOT / "docs/runbook.md"


def exported_names() -> set[str]:
    metrics = Metrics.for_service("9.9.9")
    metrics.observe_state(lambda: EngineState(0, 0, 0, 0, {("t", 0): 0}))
    text = generate_latest(metrics.registry).decode()
    names = set()
    for family in text_string_to_metric_families(text):
        # a labelled family without children yet has no sample: its names come from its type
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
        names |= {family.name + s for s in suffixes.get(family.type, ("",))}
        names |= {s.name for s in family.samples}
    return names


def queried(expr: str) -> set[str]:
    return set(re.findall(r"\b(callctl_[a-z_]+)", expr))


def alerts() -> list[tuple[str, str]]:
    """(alert name, runbook_url) in file order (no YAML library in the project: the file's
    layout is fixed, and promtool checks the YAML itself)."""
    text = ALERTS.read_text()
    names = re.findall(r"^\s*- alert: (\w+)$", text, re.M)
    urls = re.findall(r"^\s*runbook_url: (\S+)$", text, re.M)
    assert len(names) == len(urls) >= 7
    return list(zip(names, urls, strict=True))


def test_every_alert_has_a_runbook_section() -> None:
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line[3:].strip().lower()).replace(" ", "-")
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("## ")
    }
    for name, url in alerts():
        assert url.endswith("docs/runbook.md#" + name.lower()), url
        assert name.lower() in anchors, f"no runbook section for {name}"


def test_alerts_and_dashboard_query_only_exported_series() -> None:
    names = exported_names()
    exprs = [ALERTS.read_text()]
    dashboard = json.loads(DASHBOARD.read_text())
    exprs += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = set().union(*(queried(e) for e in exprs))
    assert used, "the alerts query callctl_* series"
    assert used <= names, f"not exported: {sorted(used - names)}"


def test_series_exist_at_zero_before_any_event() -> None:
    text = generate_latest(Metrics.for_service("9.9.9").registry).decode()
    assert 'callctl_build_info{version="9.9.9"} 1.0' in text
    assert 'callctl_commands_total{outcome="failed",type="hangup"} 0.0' in text
    assert 'callctl_dead_letters_total{code="not_json"} 0.0' in text
    assert "callctl_publish_failures_total 0.0" in text
    assert "callctl_idempotency_store_errors_total 0.0" in text
    assert "process_cpu_seconds_total" in text
    assert "python_gc_collections_total" in text


def test_two_instances_in_one_process() -> None:
    Metrics.for_service("1")
    Metrics.for_service("2")  # the shared process/GC collectors register per registry


async def test_publisher_counts_refused_messages() -> None:
    import asyncio

    from service.delivery.publishing import Outgoing

    class Flaky:
        calls = 0

        async def send(self, message: Outgoing) -> asyncio.Future[object]:
            self.calls += 1
            future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            if self.calls <= 2:
                future.set_exception(RuntimeError("refused"))
            else:
                future.set_result(None)
            return future

    counted: list[int] = []
    publisher = Publisher(
        Flaky(), policy=RetryPolicy(Backoff(base_s=0.0, cap_s=0.0)), on_failure=counted.append
    )
    await publisher.publish([Outgoing("t", b"k", b"v"), Outgoing("t", b"k", b"w")])
    assert counted == [2]
