"""`python -m service`: `--help`, `--version` and `--check-config` answer without starting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from service.__main__ import main

SECRET = "c2VjcmV0LXZhbHVlLTEyMzQ="


def service(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CALLCTL_")}
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_and_version_answer_without_configuration_or_starting() -> None:
    helped = service("--help")
    assert helped.returncode == 0, helped.stderr
    assert "usage: call-control" in helped.stdout
    assert "--check-config" in helped.stdout
    page = " ".join(helped.stdout.split())
    assert "docs/contract.md#configuration" in page, "where every variable is described"
    assert "3 Kafka (or Redis) not reachable within CALLCTL_STARTUP_TIMEOUT_S" in page
    assert "4 Kafka or Redis refused a setting" in page
    version = service("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("call-control ")
    assert service("--start-please").returncode == 2


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("CALLCTL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CALLCTL_SINCH__APPLICATION_KEY", "app-key")
    monkeypatch.setenv("CALLCTL_SINCH__APPLICATION_SECRET", SECRET)
    return monkeypatch


def test_check_config_prints_the_effective_settings_without_secrets(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("CALLCTL_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    env.setenv("CALLCTL_KAFKA__SASL_USERNAME", "svc")
    env.setenv("CALLCTL_KAFKA__SASL_PASSWORD", "kafka-password-xyz")
    env.setenv("CALLCTL_LOG_LEVEL", "debug")
    assert main(["--check-config"]) == 0
    out = capsys.readouterr().out
    lines = set(out.split())
    assert "CALLCTL_KAFKA__SECURITY_PROTOCOL=SASL_SSL" in lines
    assert "CALLCTL_KAFKA__SASL_PASSWORD=<set>" in lines
    assert "CALLCTL_SINCH__APPLICATION_SECRET=<set>" in lines
    assert "CALLCTL_LOG_LEVEL=DEBUG" in lines
    assert "CALLCTL_MAX_IN_FLIGHT=256" in lines
    assert "CALLCTL_KAFKA__CREATE_TOPICS=false" in lines
    assert "kafka-password-xyz" not in out
    assert SECRET not in out


def test_check_config_exits_2_naming_what_is_wrong(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("CALLCTL_MAX_INFLIGHT", "64")
    assert main(["--check-config"]) == 2
    captured = capsys.readouterr()
    assert "CALLCTL_MAX_INFLIGHT: not a call-control setting" in captured.err
    assert captured.out == ""


def test_check_config_writes_values_as_the_variables_take_them(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--check-config"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # a default that is not a secret is shown as such, not as `<set>` nobody set
    assert "  CALLCTL_IDEMPOTENCY__REDIS_URL=redis://127.0.0.1:6379/0 (default)" in lines
    assert "  CALLCTL_SNAPSHOT_OFF_TYPES=" in lines, "an empty list, not frozenset()"
    env.setenv("CALLCTL_IDEMPOTENCY__REDIS_URL", "redis://:redis-pass-42@cache:6379/0")
    env.setenv("CALLCTL_SNAPSHOT_OFF_TYPES", "say,playFiles")
    assert main(["--check-config"]) == 0
    out = capsys.readouterr().out
    assert "  CALLCTL_IDEMPOTENCY__REDIS_URL=<set>" in out.splitlines()
    assert "  CALLCTL_SNAPSHOT_OFF_TYPES=playFiles,say" in out.splitlines()
    assert "redis-pass-42" not in out
