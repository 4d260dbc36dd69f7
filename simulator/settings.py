"""Start-up settings: environment variables prefixed SIM_, overridden by CLI flags."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from simulator.auth import decode_secret
from simulator.calls import CALL_ID
from simulator.faults import DropMode, ErrorStatuses, FaultConfig, Millis, Rate

AuthScheme = Literal["basic", "signed"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

DEFAULT_APPLICATION_KEY = "sim-key"
# base64("sim-secret-123456"): a real Sinch secret is base64 text, and the signed scheme
# HMACs with the decoded bytes, so the default has to decode cleanly.
DEFAULT_APPLICATION_SECRET = "c2ltLXNlY3JldC0xMjM0NTY="  # noqa: S105 (public test value)


def _split_list(value: Any) -> Any:
    """Accept "a,b" or a JSON list from the environment / CLI, and real lists from code."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIM_", extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="interface to listen on")
    port: int = Field(8700, ge=0, le=65535, description="TCP port (0 picks a free one)")
    application_key: str = Field(
        DEFAULT_APPLICATION_KEY, min_length=1, description="application key clients must present"
    )
    application_secret: SecretStr = Field(
        SecretStr(DEFAULT_APPLICATION_SECRET),
        description="application secret (base64 text, as Sinch issues them); "
        "prefer the env var over the flag, which shows in the process list",
    )
    auth_schemes: Annotated[frozenset[AuthScheme], NoDecode] = Field(
        frozenset({"basic", "signed"}),
        min_length=1,
        description="accepted Authorization schemes",
    )
    auto_create_calls: bool = Field(
        False,
        description="create an unknown call on its first Calling API request (Sinch answers "
        "404/40400; off by default, like Sinch)",
    )
    create_calls: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="call ids to create at start and on reset, e.g. demo-1,demo-2 "
        "(PSTN calls, ongoing)",
    )
    callback_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="the application's callback URL, where simulated inbound calls send ICE, "
        "ACE, PIE and DiCE (a ring request may name another)",
    )
    timestamp_skew_seconds: float = Field(
        600.0, gt=0, allow_inf_nan=False, description="largest accepted |now - x-timestamp|"
    )
    max_calls: int = Field(
        1_000_000, ge=1, description="calls kept in memory; the oldest is forgotten beyond this"
    )
    request_log_limit: int = Field(
        1_000_000, ge=1, description="request-log entries kept; the oldest is dropped beyond this"
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="largest accepted request body")

    latency_ms: Millis = Field(0, description="fault: fixed delay added to every API request")
    latency_jitter_ms: Millis = Field(0, description="fault: extra uniform random delay 0..N ms")
    error_rate: Rate = Field(0.0, description="fault: fraction answered with an error status")
    error_statuses: Annotated[ErrorStatuses, NoDecode] = Field(
        (500, 503), description="fault: statuses picked uniformly for errors, e.g. 500,503"
    )
    rate_limit_rate: Rate = Field(0.0, description="fault: fraction answered 429")
    retry_after_seconds: int = Field(
        1, ge=0, le=86_400, description="fault: Retry-After header value (seconds) on 429"
    )
    drop_rate: Rate = Field(
        0.0, description="fault: fraction whose connection is closed with no response"
    )
    drop_mode: DropMode = Field(
        "close", description='fault: how to drop: "close" (FIN) or "reset" (RST)'
    )
    slow_rate: Rate = Field(0.0, description="fault: fraction delayed by slow_ms more")
    slow_ms: Millis = Field(5_000, description="fault: extra delay of the slow requests")
    after_processing_rate: Rate = Field(
        0.0,
        description="fault: fraction of injected errors/drops that happen after the request "
        "was applied (state changed, response lost)",
    )
    fault_seed: int | None = Field(None, description="seed for fault randomness (reproducible)")

    log_level: LogLevel = Field(
        "INFO", description="log level; DEBUG adds one line per API request"
    )
    access_log: bool = Field(False, description="aiohttp access log (slows the hot path)")
    shutdown_timeout_seconds: float = Field(
        5.0, ge=0, allow_inf_nan=False, description="grace for in-flight requests on stop"
    )

    @field_validator("create_calls")
    @classmethod
    def _call_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for call_id in value:
            if not CALL_ID.fullmatch(call_id):
                raise ValueError(f"call id {call_id[:40]!r} must match {CALL_ID.pattern}")
        return value

    @field_validator("auth_schemes", "error_statuses", "create_calls", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("application_secret")
    @classmethod
    def _secret_decodes(cls, value: SecretStr) -> SecretStr:
        if not decode_secret(value.get_secret_value()):
            raise ValueError("must be base64 text decoding to at least one byte")
        return value

    def fault_config(self) -> FaultConfig:
        return FaultConfig(
            latency_ms=self.latency_ms,
            latency_jitter_ms=self.latency_jitter_ms,
            error_rate=self.error_rate,
            error_statuses=self.error_statuses,
            rate_limit_rate=self.rate_limit_rate,
            retry_after_seconds=self.retry_after_seconds,
            drop_rate=self.drop_rate,
            drop_mode=self.drop_mode,
            slow_rate=self.slow_rate,
            slow_ms=self.slow_ms,
            after_processing_rate=self.after_processing_rate,
        )
