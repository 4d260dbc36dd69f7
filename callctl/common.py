"""What every `callctl` command shares: exit codes, the expected-failure error, the CLI's slice
of the service's configuration, and printing to stderr."""

from __future__ import annotations

import json
import sys
import textwrap
from importlib import metadata as importlib_metadata
from typing import Any, TextIO

from pydantic import Field, ValidationError

from service.domain import results
from service.settings import (
    EnvSettings,
    KafkaSettings,
    TopicSettings,
    describe_errors,
)

PROG = "callctl"
EXIT_OK = 0
EXIT_NOT_OK = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_KAFKA = 4
EXIT_INTERRUPTED = 130

EXIT_CODES = """\
exit codes:
  0    ok (with --wait: the outcome is succeeded)
  1    the outcome is failed, expired or rejected; or nothing found (no snapshot, no topic)
  2    usage error, invalid configuration, or an invalid command (nothing is produced)
  3    timed out waiting for the result
  4    Kafka unreachable (start a local broker with `deploy/kafka.sh start`) or a Kafka error
  130  interrupted (Ctrl-C)
"""

# The retry rule, in the same words as the results schema and the docs.
RETRY_RULE = textwrap.fill(
    f"Retrying: {results.RETRY_RULE} With a different payload the same commandId is "
    "rejected (idempotency_conflict).",
    width=94,
)


class CliSettings(EnvSettings):
    """The part of the service's configuration the CLI needs: same variables, no credentials.
    The service's other variables are not read, but a `CALLCTL_*` typo is refused as there."""

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    max_command_bytes: int = Field(default=65_536, ge=256)


class CliError(Exception):
    """An expected failure: its message is printed (no traceback) and `code` is the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def load_settings(bootstrap_servers: str | None) -> CliSettings:
    try:
        settings = CliSettings()
    except ValidationError as error:
        lines = "\n".join(f"  {line}" for line in describe_errors(error))
        raise CliError(f"invalid configuration\n{lines}", EXIT_USAGE) from None
    if bootstrap_servers:
        kafka = settings.kafka.model_copy(update={"bootstrap_servers": bootstrap_servers})
        settings = settings.model_copy(update={"kafka": kafka})
    return settings


def warn(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def print_json(value: Any, out: TextIO) -> None:
    """One JSON document on one line (JSON lines when called per item)."""
    print(json.dumps(value, ensure_ascii=False), file=out, flush=True)


def version() -> str:
    try:
        return importlib_metadata.version("call-control")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"
