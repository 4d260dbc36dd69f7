"""The simulator's shared state: settings, the live (admin-changeable) config, and the stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import structlog
from pydantic import BaseModel, Field

from simulator.auth import Authenticator
from simulator.calls import CallStore
from simulator.conferences import ConferenceStore
from simulator.faults import ADMIN_JSON, FaultInjector
from simulator.recorder import RequestLog
from simulator.settings import AuthScheme, Settings
from simulator.stats import Stats


class RuntimeConfig(BaseModel):
    """Behaviour switches that /_admin/config can change while running (camelCase JSON)."""

    model_config = ADMIN_JSON

    auto_create_calls: bool
    auth_schemes: Annotated[frozenset[AuthScheme], Field(min_length=1)]
    timestamp_skew_seconds: Annotated[float, Field(gt=0, allow_inf_nan=False)]

    @classmethod
    def from_settings(cls, settings: Settings) -> RuntimeConfig:
        return cls(
            auto_create_calls=settings.auto_create_calls,
            auth_schemes=settings.auth_schemes,
            timestamp_skew_seconds=settings.timestamp_skew_seconds,
        )

    def merged(self, patch: dict[str, Any]) -> RuntimeConfig:
        return RuntimeConfig.model_validate({**self.model_dump(), **patch})

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["authSchemes"] = sorted(data["authSchemes"])
        return data


@dataclass
class Simulator:
    settings: Settings
    config: RuntimeConfig
    auth: Authenticator
    calls: CallStore
    faults: FaultInjector
    requests: RequestLog
    stats: Stats
    log: structlog.typing.FilteringBoundLogger
    # Checked before building a per-request log line, so INFO costs nothing per request.
    log_each_request: bool = field(default=False)
    conferences: ConferenceStore = field(default_factory=ConferenceStore)

    @classmethod
    def from_settings(
        cls, settings: Settings, log: structlog.typing.FilteringBoundLogger
    ) -> Simulator:
        simulator = cls(
            settings=settings,
            config=RuntimeConfig.from_settings(settings),
            auth=Authenticator(
                settings.application_key, settings.application_secret.get_secret_value()
            ),
            calls=CallStore(settings.max_calls),
            faults=FaultInjector(settings.fault_config(), settings.fault_seed),
            requests=RequestLog(settings.request_log_limit),
            stats=Stats(),
            log=log,
            log_each_request=settings.log_level == "DEBUG",
        )
        simulator.create_start_calls()
        return simulator

    def create_start_calls(self) -> None:
        """The calls named at start (SIM_CREATE_CALLS): what `make run`'s quick start uses."""
        for call_id in self.settings.create_calls:
            if self.calls.get(call_id) is None:
                self.calls.create(call_id)

    def reset(self) -> None:
        """Back to the start-up state: no calls, empty log and stats, start-up faults/config."""
        self.calls.clear()
        self.conferences.clear()
        self.requests.clear()
        self.stats.reset()
        self.faults.config = self.settings.fault_config()
        self.config = RuntimeConfig.from_settings(self.settings)
        self.create_start_calls()
