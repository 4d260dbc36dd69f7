"""`callctl run` and `callctl simulator`: the service and the Sinch simulator in this process.
Both are imported only when chosen: the service brings FastStream, which nothing else needs."""

from __future__ import annotations

from typing import Any

from callctl.arguments import Formatter

RUN_EPILOG = """\
Runs `python -m service` in this process, configured by the CALLCTL_* variables (see the
README; CALLCTL_SINCH__APPLICATION_KEY and __APPLICATION_SECRET are required). Stops on SIGTERM
or Ctrl-C. Exit codes: 0 stopped cleanly (or, with --check-config, the configuration is
valid), 2 invalid configuration.

example:
  CALLCTL_SINCH__BASE_URL=http://127.0.0.1:8700 CALLCTL_SINCH__APPLICATION_KEY=sim-key \\
  CALLCTL_SINCH__APPLICATION_SECRET=c2ltLXNlY3JldC0xMjM0NTY= callctl run
"""


def add_parsers(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run the call-control service (python -m service)",
        description="Run the call-control service with its CALLCTL_* configuration.",
        epilog=RUN_EPILOG,
        formatter_class=Formatter,
    )
    run.add_argument(
        "--check-config",
        action="store_true",
        help="validate the configuration and print the effective settings, without starting",
    )
    sub.add_parser(
        "simulator",
        help="run the Sinch Calling API simulator; its options follow "
        "(`callctl simulator --help` lists them)",
        description="Run the Sinch Calling API v1 simulator (python -m simulator).",
        add_help=False,  # --help goes to the simulator, which lists its own options
    )


def run_service(check_config: bool) -> int:
    from service.__main__ import main  # FastStream is loaded there, only when it starts

    return main(["--check-config"] if check_config else [])


def run_simulator(extra: list[str]) -> int:
    from simulator.__main__ import main  # only for `simulator`

    return main(extra)
