"""`python -m service`: run the call-control service from its `CALLCTL_*` configuration."""

from __future__ import annotations

import signal
import sys
from types import FrameType

EXIT_CONFIG = 2
EXIT_REFUSED = 4  # a setting that a dependency refused or a TLS file that did not load


def _stop_before_serving(signum: int, _: FrameType | None) -> None:
    # SIGTERM while still importing or starting: nothing is in flight yet, so stopping is
    # clean. The app replaces this handler with its graceful one once it runs.
    raise SystemExit(0)


def main() -> int:
    signal.signal(signal.SIGTERM, _stop_before_serving)
    # Imported after the handler is in place: importing takes a second or two.
    import asyncio

    from pydantic import ValidationError

    from service.app import create_app
    from service.ops.logging import configure_logging
    from service.ops.refusals import Refused
    from service.settings import describe_errors, load_settings

    try:
        settings = load_settings()
    except ValidationError as error:
        print("call-control: invalid configuration", file=sys.stderr)
        for line in describe_errors(error):
            print(f"  {line}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level, settings.log_format)
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
        asyncio.run(create_app(settings).run())
    except Refused as refused:
        print(f"call-control: cannot start: {refused}", file=sys.stderr)
        return EXIT_REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(main())
