"""`python -m service` (`call-control`): run the call-control service from its `CALLCTL_*`
configuration. `--help`, `--version` and `--check-config` answer without starting anything."""

from __future__ import annotations

import signal
import sys

# Not `typing.TYPE_CHECKING`: importing typing alone delays the SIGTERM handler below by a
# tenth of a second on a busy machine. Type checkers treat this name the same way.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator, Sequence
    from types import FrameType

    from pydantic import BaseModel

EXIT_CONFIG = 2
EXIT_REFUSED = 4  # a setting that a dependency refused or a TLS file that did not load
PROG = "call-control"
# The same codes as `callctl run`; 3 is service.startup.EXIT_DEPENDENCY_UNAVAILABLE.
EXIT_CODES = (
    "exit codes: 0 stopped cleanly (or, with --check-config, the configuration is valid); "
    "2 invalid configuration; 3 Kafka (or Redis) not reachable within "
    "CALLCTL_STARTUP_TIMEOUT_S; 4 Kafka or Redis refused a setting (credentials, certificates)"
)


def _stop_before_serving(signum: int, _: FrameType | None) -> None:
    # SIGTERM while still importing or starting: nothing is in flight yet, so stopping is
    # clean. The app replaces this handler with its graceful one once it runs.
    raise SystemExit(0)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("call-control")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run the call-control service: commands from Kafka to the Sinch Calling "
        "API, results and snapshots back. Configured only by CALLCTL_* environment variables "
        "(every one, its default and meaning: docs/contract.md#configuration; "
        "`--check-config` prints them); with no option it starts and runs until SIGTERM.",
        epilog=EXIT_CODES,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="validate the CALLCTL_* configuration, print the effective settings (secrets "
        "shown only as set or unset) and exit 0, or list what is wrong and exit 2",
    )
    return parser


def effective_settings(model: BaseModel, prefix: str = "CALLCTL_") -> Iterator[str]:
    """`NAME=value` lines, one per setting, each value written as the variable takes it.
    A secret shows as `<set>` when it was given, else as its default, which is no secret."""
    from pydantic import BaseModel, SecretStr

    for name in type(model).model_fields:
        value = getattr(model, name)
        variable = f"{prefix}{name.upper()}"
        if isinstance(value, BaseModel):
            yield from effective_settings(value, f"{variable}__")
        elif isinstance(value, SecretStr) and name in model.model_fields_set:
            yield f"{variable}=<set>"
        elif isinstance(value, SecretStr):
            yield f"{variable}={value.get_secret_value()} (default)"
        elif isinstance(value, bool):
            yield f"{variable}={str(value).lower()}"
        elif isinstance(value, frozenset | set | list | tuple):
            yield f"{variable}={','.join(sorted(map(str, value)))}"  # comma-separated, as read
        else:
            yield f"{variable}={'<unset>' if value is None else value}"


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop_before_serving)
    args = build_parser().parse_args(argv)
    # Imported after the handler is in place: importing takes a second or two.
    from pydantic import ValidationError

    from service.settings import describe_errors, load_settings

    try:
        settings = load_settings()
    except ValidationError as error:
        print(f"{PROG}: invalid configuration", file=sys.stderr)
        for line in describe_errors(error):
            print(f"  {line}", file=sys.stderr)
        return EXIT_CONFIG
    if args.check_config:
        print(f"{PROG} {_version()}: configuration is valid")
        for line in effective_settings(settings):
            print(f"  {line}")
        return 0
    import asyncio

    from service.app import create_app
    from service.ops.logging import configure_logging
    from service.ops.refusals import Refused

    configure_logging(settings.log_level, settings.log_format, span_ids=settings.tracing.enabled)
    from service.startup import (
        EXIT_DEPENDENCY_UNAVAILABLE,
        DependencyUnavailable,
        StartupInterrupted,
        wait_for_dependencies,
    )

    try:
        asyncio.run(wait_for_dependencies(settings))
    except DependencyUnavailable as error:
        print(f"call-control: cannot start: {error}", file=sys.stderr)
        return EXIT_DEPENDENCY_UNAVAILABLE
    except StartupInterrupted:
        return 0
    try:
        if settings.event_loop == "uvloop":
            import uvloop

            uvloop.run(create_app(settings).run())
        else:
            asyncio.run(create_app(settings).run())
    except Refused as refused:
        print(f"{PROG}: cannot start: {refused}", file=sys.stderr)
        return EXIT_REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(main())
