"""Fault injection: what to do to the next Calling API request (delay, drop, 429, 5xx)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# Shared by FaultConfig and the start-up settings so both validate identically.
Rate = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Millis = Annotated[int, Field(ge=0, le=3_600_000)]
ErrorStatus = Annotated[int, Field(ge=400, le=599)]
ErrorStatuses = Annotated[tuple[ErrorStatus, ...], Field(min_length=1)]
DropMode = Literal["close", "reset"]

FaultKind = Literal["drop", "rateLimit", "error"]


# The admin API's JSON models: camelCase on the wire, snake_case in code, nothing unknown.
ADMIN_JSON = ConfigDict(
    alias_generator=to_camel,
    validate_by_name=True,
    validate_by_alias=True,
    serialize_by_alias=True,
    extra="forbid",
    frozen=True,
)


class FaultConfig(BaseModel):
    """The live fault settings, as exchanged on /_admin/faults (camelCase JSON)."""

    model_config = ADMIN_JSON

    latency_ms: Millis = 0
    latency_jitter_ms: Millis = 0
    error_rate: Rate = 0.0
    error_statuses: ErrorStatuses = (500, 503)
    rate_limit_rate: Rate = 0.0
    retry_after_seconds: Annotated[int, Field(ge=0, le=86_400)] = 1
    drop_rate: Rate = 0.0
    drop_mode: DropMode = "close"
    slow_rate: Rate = 0.0
    slow_ms: Millis = 5_000
    after_processing_rate: Rate = 0.0

    def merged(self, patch: dict[str, Any]) -> FaultConfig:
        """A copy with the given (camelCase) fields replaced, validated as a whole."""
        return FaultConfig.model_validate({**self.model_dump(), **patch})


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The fate of one request, decided when it arrives."""

    delay_s: float
    kind: FaultKind | None
    # For kind "error": the status to answer with.
    status: int
    # For "drop"/"error": apply the request first, then lose or replace the response, so the
    # client cannot tell whether Sinch acted (the "outcome unknown" case).
    after_processing: bool
    # For "drop": "reset" sends a TCP RST instead of a FIN.
    drop_mode: DropMode
    retry_after_seconds: int


class FaultInjector:
    """Draws a FaultPlan per request from the current FaultConfig."""

    def __init__(self, config: FaultConfig, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._config = config
        self._active = _is_active(config)

    @property
    def config(self) -> FaultConfig:
        return self._config

    @config.setter
    def config(self, value: FaultConfig) -> None:
        self._config = value
        self._active = _is_active(value)

    def plan(self) -> FaultPlan | None:
        """None when nothing is injected: the common, cheap case."""
        if not self._active:
            return None
        c = self._config
        rng = self._rng
        delay_ms = float(c.latency_ms)
        if c.latency_jitter_ms:
            delay_ms += rng.uniform(0.0, c.latency_jitter_ms)
        if c.slow_rate and rng.random() < c.slow_rate:
            delay_ms += c.slow_ms
        # Independent draws in a fixed order: drop, then rate limit, then error.
        kind: FaultKind | None = None
        if c.drop_rate and rng.random() < c.drop_rate:
            kind = "drop"
        elif c.rate_limit_rate and rng.random() < c.rate_limit_rate:
            kind = "rateLimit"
        elif c.error_rate and rng.random() < c.error_rate:
            kind = "error"
        if kind is None and delay_ms == 0.0:
            return None
        status = rng.choice(c.error_statuses) if kind == "error" else 0
        # A 429 means "not processed" by definition, so it is never applied after processing.
        after = (
            kind in ("drop", "error")
            and c.after_processing_rate > 0.0
            and rng.random() < c.after_processing_rate
        )
        return FaultPlan(
            delay_s=delay_ms / 1000.0,
            kind=kind,
            status=status,
            after_processing=after,
            drop_mode=c.drop_mode,
            retry_after_seconds=c.retry_after_seconds,
        )


def _is_active(c: FaultConfig) -> bool:
    return bool(
        c.latency_ms
        or c.latency_jitter_ms
        or c.error_rate
        or c.rate_limit_rate
        or c.drop_rate
        or (c.slow_rate and c.slow_ms)
    )
