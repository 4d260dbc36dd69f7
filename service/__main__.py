"""`python -m service`: run the call-control service from its `CALLCTL_*` configuration."""

from __future__ import annotations

import asyncio
import sys

from pydantic import ValidationError

from service.app import create_app
from service.logging import configure_logging
from service.settings import describe_errors, load_settings

EXIT_CONFIG = 2


def main() -> int:
    try:
        settings = load_settings()
    except ValidationError as error:
        print("call-control: invalid configuration", file=sys.stderr)
        for line in describe_errors(error):
            print(f"  {line}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(create_app(settings).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
