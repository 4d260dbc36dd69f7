from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from service.settings import (
    NOT_SETTINGS,
    Settings,
    describe_errors,
    loggable_settings,
    unknown_variables,
)

SECRET = "c2VjcmV0LXZhbHVlLTEyMzQ="


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(__import__("os").environ):
        if name.startswith("CALLCTL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CALLCTL_SINCH__APPLICATION_KEY", "app-key")
    monkeypatch.setenv("CALLCTL_SINCH__APPLICATION_SECRET", SECRET)
    return monkeypatch


def test_contract_names_and_defaults(env: pytest.MonkeyPatch) -> None:
    env.setenv("CALLCTL_KAFKA__BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    env.setenv("CALLCTL_TOPICS__RESULTS", "custom.results")
    env.setenv("CALLCTL_MAX_IN_FLIGHT", "64")
    settings = Settings()
    assert settings.kafka.bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert settings.kafka.group_id == "call-control"
    assert settings.topics.commands == "call-control.commands.v1"
    assert settings.topics.results == "custom.results"
    assert settings.topics.snapshots == "call-control.snapshots.v1"
    assert settings.topics.dead_letter == "call-control.dead-letter.v1"
    assert settings.sinch.base_url == "https://calling.api.sinch.com"
    assert settings.sinch.auth == "signed"
    assert settings.max_in_flight == 64
    assert settings.sinch.application_secret is not None
    assert settings.sinch.application_secret.get_secret_value() == SECRET


def test_regional_hosts_only_for_sinch_itself(env: pytest.MonkeyPatch) -> None:
    assert Settings().sinch.regional_template() == "https://calling-{region}.api.sinch.com"
    env.setenv("CALLCTL_SINCH__BASE_URL", "http://127.0.0.1:8700")
    assert Settings().sinch.regional_template() is None


def errors_of(env: pytest.MonkeyPatch) -> str:
    with pytest.raises(ValidationError) as caught:
        Settings()
    return "\n".join(describe_errors(caught.value))


def test_a_bad_setting_is_named(env: pytest.MonkeyPatch) -> None:
    env.setenv("CALLCTL_SINCH__AUTH", "oauth")
    env.setenv("CALLCTL_MAX_IN_FLIGHT", "0")
    message = errors_of(env)
    assert "CALLCTL_SINCH__AUTH" in message
    assert "CALLCTL_MAX_IN_FLIGHT" in message


def test_missing_credentials_are_named(env: pytest.MonkeyPatch) -> None:
    env.delenv("CALLCTL_SINCH__APPLICATION_KEY")
    message = errors_of(env)
    assert "CALLCTL_SINCH__APPLICATION_KEY" in message


def test_a_secret_never_appears_in_errors(env: pytest.MonkeyPatch) -> None:
    leaked = "not!base64-but-a-real-secret"
    env.setenv("CALLCTL_SINCH__APPLICATION_SECRET", leaked)
    env.setenv("CALLCTL_KAFKA__SASL_PASSWORD", "kafka-password-xyz")
    env.setenv("CALLCTL_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    message = errors_of(env)
    assert "CALLCTL_SINCH__APPLICATION_SECRET" in message and "base64" in message
    assert leaked not in message
    assert "kafka-password-xyz" not in message
    assert "CALLCTL_KAFKA" in message, "SASL without a username is named"


def test_mutual_tls_settings(env: pytest.MonkeyPatch) -> None:
    env.setenv("CALLCTL_KAFKA__SECURITY_PROTOCOL", "SSL")
    env.setenv("CALLCTL_KAFKA__SSL_CERTFILE", "/etc/callctl/tls.crt")
    env.setenv("CALLCTL_KAFKA__SSL_KEYFILE", "/etc/callctl/tls.key")
    env.setenv("CALLCTL_KAFKA__SSL_KEY_PASSWORD", "key-password-xyz")
    kafka = Settings().kafka
    assert str(kafka.ssl_certfile) == "/etc/callctl/tls.crt"
    assert kafka.ssl_key_password is not None
    assert "key-password-xyz" not in repr(kafka)


def test_a_client_key_without_its_certificate_is_named(env: pytest.MonkeyPatch) -> None:
    env.setenv("CALLCTL_KAFKA__SECURITY_PROTOCOL", "SSL")
    env.setenv("CALLCTL_KAFKA__SSL_KEYFILE", "/etc/callctl/tls.key")
    assert "CALLCTL_KAFKA__SSL_KEYFILE needs CALLCTL_KAFKA__SSL_CERTFILE" in errors_of(env)


def test_a_client_certificate_needs_tls(env: pytest.MonkeyPatch) -> None:
    env.setenv("CALLCTL_KAFKA__SSL_CERTFILE", "/etc/callctl/tls.crt")
    assert "CALLCTL_KAFKA__SSL_CERTFILE needs" in errors_of(env)


def test_snapshots_switched_off_per_command_type(env: pytest.MonkeyPatch) -> None:
    assert Settings().snapshot_off_types == frozenset()
    env.setenv("CALLCTL_SNAPSHOT_OFF_TYPES", "say, playFiles")
    assert Settings().snapshot_off_types == {"say", "playFiles"}
    env.setenv("CALLCTL_SNAPSHOT_OFF_TYPES", "say,shout")
    message = errors_of(env)
    assert "CALLCTL_SNAPSHOT_OFF_TYPES" in message
    assert "shout" in message


def test_one_tts_limit_default_600(env: pytest.MonkeyPatch) -> None:
    assert Settings().tts_max_chars == 600
    env.setenv("CALLCTL_TTS_MAX_CHARS", "1000")
    assert Settings().tts_max_chars == 1000
    env.setenv("CALLCTL_TTS_MAX_CHARS", "0")
    assert "CALLCTL_TTS_MAX_CHARS" in errors_of(env)


def test_an_unknown_top_level_variable_is_refused_like_a_nested_one(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("CALLCTL_MAX_INFLIGHT", "typo-value-123")
    env.setenv("CALLCTL_KAFKA__BOOTSTRAP_SERVER", "nested-typo-456")
    message = errors_of(env)
    assert "CALLCTL_MAX_INFLIGHT: not a call-control setting" in message
    assert "CALLCTL_KAFKA__BOOTSTRAP_SERVER: not a call-control setting" in message
    assert "typo-value-123" not in message
    assert "nested-typo-456" not in message


def test_unknown_variables_are_listed_with_the_other_errors(env: pytest.MonkeyPatch) -> None:
    env.setenv("CALLCTL_FOO", "1")
    env.setenv("CALLCTL_MAX_IN_FLIGHT", "0")
    message = errors_of(env)
    assert "CALLCTL_FOO" in message
    assert "CALLCTL_MAX_IN_FLIGHT" in message


@pytest.mark.parametrize("name", sorted(NOT_SETTINGS))
def test_the_projects_own_non_setting_variables_are_allowed(
    env: pytest.MonkeyPatch, name: str
) -> None:
    env.setenv(name, "127.0.0.1:9092")
    assert Settings().max_in_flight == 256
    assert unknown_variables({name: "x", "CALLCTL_NOPE": "y", "OTHER": "z"}) == ["CALLCTL_NOPE"]


@pytest.mark.parametrize("level", ["info", "Debug", "WARNING", "error"])
def test_log_levels_are_case_insensitive(env: pytest.MonkeyPatch, level: str) -> None:
    env.setenv("CALLCTL_LOG_LEVEL", level)
    assert Settings().log_level == level.upper()


def test_a_bad_log_level_is_named(env: pytest.MonkeyPatch) -> None:
    env.setenv("CALLCTL_LOG_LEVEL", "verbose")
    assert "CALLCTL_LOG_LEVEL" in errors_of(env)


def test_the_start_up_line_shows_settings_but_no_secret(env: pytest.MonkeyPatch) -> None:
    secrets = {
        "CALLCTL_KAFKA__SECURITY_PROTOCOL": ("SASL_SSL", None),
        "CALLCTL_KAFKA__SASL_USERNAME": ("callctl", None),
        "CALLCTL_KAFKA__SASL_PASSWORD": ("sasl-password-xyz", "sasl-password-xyz"),
        "CALLCTL_KAFKA__SSL_CERTFILE": ("/etc/tls.crt", None),
        "CALLCTL_KAFKA__SSL_KEYFILE": ("/etc/tls.key", None),
        "CALLCTL_KAFKA__SSL_KEY_PASSWORD": ("key-password-xyz", "key-password-xyz"),
        "CALLCTL_IDEMPOTENCY__REDIS_URL": (
            "redis://:redis-password-xyz@redis:6379/0",
            "redis-password-xyz",
        ),
        "CALLCTL_SINCH__PROXY_URL": (
            "http://proxy-user:proxy-password-xyz@proxy:3128",
            "proxy-password-xyz",
        ),
    }
    for name, (value, _) in secrets.items():
        env.setenv(name, value)
    env.setenv("CALLCTL_SNAPSHOT_OFF_TYPES", "say,playFiles")
    shown = loggable_settings(Settings())
    text = json.dumps(shown)  # what the JSON renderer writes: every value is JSON as it is
    for secret in [SECRET] + [s for _, s in secrets.values() if s]:
        assert secret not in text
    assert shown["sinch"]["application_secret"] == "<set>"
    assert shown["kafka"]["sasl_password"] == "<set>"
    assert shown["idempotency"]["redis_url"] == "<set>"
    assert shown["sinch"]["proxy_url"] == "http://<redacted>@proxy:3128"
    assert shown["kafka"]["sasl_username"] == "callctl", "not a secret: shown"
    assert shown["kafka"]["ssl_keyfile"] == "/etc/tls.key"
    assert shown["snapshot_off_types"] == ["playFiles", "say"]
    assert shown["tracing"]["enabled"] is False
