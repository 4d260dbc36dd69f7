"""One validated configuration tree, read from `CALLCTL_*` environment variables.

Names are part of the contract ("Configuration"): nested settings use `__`, e.g.
`CALLCTL_KAFKA__BOOTSTRAP_SERVERS`. A bad value stops the start with a message naming the
variable; so does a `CALLCTL_*` variable that names no setting (a typo is refused, not ignored),
except the few in `NOT_SETTINGS`. Secrets are `SecretStr`; inputs are never echoed in errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from service.domain.commands import COMMAND_TYPES
from service.domain.credentials import decode_secret
from service.domain.regions import GLOBAL_BASE_URL, default_regional_template
from service.domain.svaml import DEFAULT_TTS_MAX_CHARS

ENV_PREFIX = "CALLCTL_"
ENV_NESTED_DELIMITER = "__"
# CALLCTL_* variables that are not settings of the service: the test suite's broker, Redis and
# container switch (`make test`, `make test-containers`), CI's container switch (.ci/run) and
# the local scripts' state directory (deploy/*.sh, bench/).
NOT_SETTINGS = frozenset(
    {
        "CALLCTL_TEST_KAFKA",
        "CALLCTL_TEST_KAFKA_IMAGE",
        "CALLCTL_TEST_REDIS",
        "CALLCTL_TEST_CONTAINERS",
        "CALLCTL_CI_CONTAINERS",
        "CALLCTL_LOCAL_DIR",
        "CALLCTL_TEST_KAFKA_LIB",
        "CALLCTL_TOXIPROXY_SERVER",
    }
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class KafkaSettings(_Section):
    bootstrap_servers: str = "localhost:9092"
    group_id: str = "call-control"
    client_id: str = "call-control"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    # mutual TLS (SSL or SASL_SSL): the client certificate chain and its key, PEM
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = None
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    session_timeout_ms: int = Field(default=10_000, ge=1_000)
    max_poll_records: int = Field(default=500, ge=1)
    commit_interval_ms: int = Field(default=500, ge=10, le=60_000)
    create_topics: bool = False
    topic_partitions: int = Field(default=6, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> Self:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_username and self.sasl_password
        ):
            raise ValueError(
                "SASL needs CALLCTL_KAFKA__SASL_USERNAME and CALLCTL_KAFKA__SASL_PASSWORD"
            )
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ValueError("CALLCTL_KAFKA__SSL_KEYFILE needs CALLCTL_KAFKA__SSL_CERTFILE")
        if self.ssl_certfile and not self.security_protocol.endswith("SSL"):
            raise ValueError(
                "CALLCTL_KAFKA__SSL_CERTFILE needs CALLCTL_KAFKA__SECURITY_PROTOCOL SSL or SASL_SSL"
            )
        return self


class TopicSettings(_Section):
    commands: str = "call-control.commands.v1"
    results: str = "call-control.results.v1"
    snapshots: str = "call-control.snapshots.v1"
    dead_letter: str = "call-control.dead-letter.v1"
    events: str = "call-control.events.v1"
    conferences: str = "call-control.conferences.v1"


class SinchSettings(_Section):
    base_url: str = GLOBAL_BASE_URL
    # Host for a command's `region`; `{region}` is replaced. Unset: Sinch's regional hosts when
    # base_url is Sinch's global host, else base_url itself (a simulator or proxy takes all).
    regional_url_template: str | None = None
    application_key: str | None = None
    application_secret: SecretStr | None = None
    auth: Literal["signed", "basic"] = "signed"
    connect_timeout_s: float = Field(default=3.0, gt=0)
    read_timeout_s: float = Field(default=10.0, gt=0)
    write_timeout_s: float = Field(default=10.0, gt=0)
    pool_timeout_s: float = Field(default=5.0, gt=0)
    attempt_timeout_s: float = Field(
        default=30.0, gt=0, description="total per attempt: request, answer and its body"
    )
    max_connections: int = Field(default=0, ge=0, description="0: follow max_in_flight")
    proxy_url: str | None = Field(default=None, description="egress HTTP(S) proxy to Sinch")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        if self.auth == "signed" and self.application_secret is not None:
            try:
                decode_secret(self.application_secret.get_secret_value())
            except ValueError:
                raise ValueError(
                    "CALLCTL_SINCH__APPLICATION_SECRET is not valid base64 (signed auth "
                    "uses the decoded secret)"
                ) from None
        return self

    def regional_template(self) -> str | None:
        if self.regional_url_template is not None:
            return self.regional_url_template
        return default_regional_template(self.base_url)


class RetrySettings(_Section):
    max_attempts: int = Field(default=4, ge=1, le=20, description="HTTP attempts per command")
    base_delay_s: float = Field(default=0.2, gt=0)
    max_delay_s: float = Field(default=5.0, gt=0)
    max_retry_after_s: float = Field(default=30.0, gt=0)


class IdempotencySettings(_Section):
    backend: Literal["sqlite", "redis", "memory"] = "sqlite"
    sqlite_path: Path = Path("var/idempotency.sqlite3")
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    key_prefix: str = "callctl:idem:"
    retention_s: int = Field(default=24 * 3600, ge=60)
    # Renewed every third of itself while the command runs; what a crashed owner costs.
    lease_s: float = Field(default=30.0, ge=3)
    # Redis: each process keeps a liveness key of this TTL (renewed five times per TTL); a
    # claim whose owner's key has expired (killed) is taken over at once instead of after
    # its lease (docs/architecture.md, "Claims of a dead replica").
    liveness_s: float = Field(default=5.0, ge=1, le=300)
    # Every Redis call gets a deadline: a black-holed Redis raises (and the command waits and
    # asks again) instead of hanging every lane and the lease renewals.
    redis_connect_timeout_s: float = Field(default=2.0, gt=0, le=60)
    redis_socket_timeout_s: float = Field(default=5.0, gt=0, le=60)


class TracingSettings(_Section):
    enabled: bool = False
    # Unset: the exporter's own variables (OTEL_EXPORTER_OTLP_ENDPOINT, ...), else localhost:4318.
    otlp_endpoint: str | None = None
    service_name: str = "call-control"
    sample_ratio: float = Field(default=1.0, ge=0, le=1)


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)]


class CallbackSettings(_Section):
    """The Sinch callback endpoint (docs/callbacks.md); off unless enabled."""

    enabled: bool = False
    host: str = "0.0.0.0"
    port: int = Field(default=8090, ge=0, le=65535)
    # The path Sinch posts to and signs: the path of the callback URL set in Sinch's dashboard.
    path: str = Field(default="/sinch/callbacks", pattern=r"^/[A-Za-z0-9._~/-]*$")
    max_body_bytes: int = Field(default=65_536, ge=1_024, le=1_048_576)
    # Sinch documents no skew; five minutes is the usual allowance for signed requests.
    max_skew_s: float = Field(default=300.0, gt=0, le=3_600)
    routes_file: Path | None = None
    # Kafka must acknowledge the event within this, or Sinch gets a 503 (its own patience
    # is undocumented; a few seconds, the simulator uses 5 s).
    publish_timeout_s: float = Field(default=3.0, gt=0, le=30)


# How every CALLCTL_* reader (the service, callctl) takes its environment.
ENV_CONFIG = SettingsConfigDict(
    env_prefix=ENV_PREFIX,
    env_nested_delimiter=ENV_NESTED_DELIMITER,
    hide_input_in_errors=True,
    extra="forbid",
    frozen=True,
)


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """The `CALLCTL_*` variables that name no setting (nor a section of settings, whose nested
    names the section's model checks), leaving out `NOT_SETTINGS`."""
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    names = os.environ if environ is None else environ
    return sorted(
        name
        for name in names
        if name.upper().startswith(ENV_PREFIX)
        and name.upper() not in NOT_SETTINGS
        and name.upper().split(ENV_NESTED_DELIMITER, 1)[0] not in known
    )


class _UnknownVariables(PydanticBaseSettingsSource):
    """Hands every unknown `CALLCTL_*` variable to the model as an extra input, so that
    `extra="forbid"` refuses a top-level typo the way the sections refuse a nested one. The
    value is never passed on: errors must not echo it."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return {name[len(ENV_PREFIX) :].lower(): None for name in unknown_variables()}


class EnvSettings(BaseSettings):
    """A reader of `CALLCTL_*` variables that refuses the ones naming no setting. A subclass
    may declare only some sections (callctl): the others' variables are then not read, but
    still known."""

    model_config = ENV_CONFIG

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _UnknownVariables(settings_cls)


class Settings(EnvSettings):
    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    sinch: SinchSettings = SinchSettings()
    retry: RetrySettings = RetrySettings()
    idempotency: IdempotencySettings = IdempotencySettings()
    tracing: TracingSettings = TracingSettings()
    callbacks: CallbackSettings = CallbackSettings()
    # The in-flight sweep's best (bench/inflight.py); its figures are in bench/results/.
    max_in_flight: int = Field(default=256, ge=1, le=10_000)
    max_buffered: int = Field(default=10_000, ge=1, description="records read but not started")
    max_buffered_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1, description="bytes of records read but not started"
    )
    # uvloop: measured faster (bench/results/, docs/decisions/0006); asyncio as a way back.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    max_command_bytes: int = Field(default=65_536, ge=256)
    snapshot_default: bool = True
    # Command types that never read a snapshot, e.g. `say,playFiles` (comma-separated).
    snapshot_off_types: Annotated[frozenset[str], NoDecode] = frozenset()
    # Sinch's default text-to-speech limit, for say and #tts[...]; raised by Sinch support.
    tts_max_chars: int = Field(default=DEFAULT_TTS_MAX_CHARS, ge=1, le=100_000)
    shutdown_grace_s: float = Field(default=20.0, ge=0)
    # How long start-up waits for an unreachable Kafka or Redis (service/startup.py).
    startup_timeout_s: float = Field(default=120.0, gt=0, le=3600)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: LogLevel = "INFO"
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=8080, ge=0, le=65535)

    @field_validator("snapshot_off_types", mode="before")
    @classmethod
    def _type_list(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | set | frozenset | tuple):
            unknown = sorted(set(value) - set(COMMAND_TYPES))
            if unknown:
                raise ValueError(f"unknown command types {unknown}; known: {COMMAND_TYPES}")
        return value

    @model_validator(mode="after")
    def _credentials_present(self) -> Self:
        missing = [
            name
            for name, value in (
                ("CALLCTL_SINCH__APPLICATION_KEY", self.sinch.application_key),
                ("CALLCTL_SINCH__APPLICATION_SECRET", self.sinch.application_secret),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"{' and '.join(missing)} must be set")
        return self

    @property
    def http_max_connections(self) -> int:
        return self.sinch.max_connections or self.max_in_flight


def env_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable that a validation error location refers to."""
    parts = [str(p) for p in loc if isinstance(p, str)]
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(p.upper() for p in parts)


def describe_errors(error: ValidationError) -> list[str]:
    """One line per bad setting, naming its variable; never the input value."""
    lines = []
    for err in error.errors(include_input=False, include_url=False):
        name = env_name(err["loc"]) if err["loc"] else "configuration"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "not a call-control setting (check the name; nesting uses __)"
        lines.append(f"{name}: {message}")
    return lines


def load_settings() -> Settings:
    return Settings()


REDACTED = "<set>"


def loggable_settings(settings: Settings) -> dict[str, Any]:
    """The effective settings as JSON-ready values, safe for a log line: a secret only as
    `<set>` (None when unset), and a URL's user info (a proxy's password) as `<redacted>`."""
    return {name: _loggable(value) for name, value in settings.model_dump().items()}


def _loggable(value: Any) -> Any:
    if isinstance(value, dict):
        return {name: _loggable(item) for name, item in value.items()}
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str) and "@" in value and "://" in value:
        scheme, _, rest = value.partition("://")
        authority, slash, path = rest.partition("/")
        if "@" in authority:
            return f"{scheme}://<redacted>@{authority.rpartition('@')[2]}{slash}{path}"
    return value
