"""`callctl run` and `callctl simulator`: the service and the Sinch simulator in this process.
Both are imported only when chosen: the service brings FastStream, which nothing else needs."""

from __future__ import annotations

import textwrap
from typing import Any

from callctl.arguments import Formatter
from callctl.ring import SUMMARY
from service.__main__ import EXIT_CODES

RUN_EPILOG = f"""\
Runs `python -m service` in this process, configured by the CALLCTL_* variables (every one:
docs/contract.md#configuration; CALLCTL_SINCH__APPLICATION_KEY and __APPLICATION_SECRET are
required). Stops on SIGTERM or Ctrl-C.

{textwrap.fill(EXIT_CODES, width=94)}

example (the simulator of `deploy/simulator.sh start`, a broker on localhost:9092):
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
        help="run the Sinch Calling API simulator, or play an inbound call's caller "
        "(ring, press, hangup, show); `callctl simulator --help` lists both",
        description="Run the Sinch Calling API v1 simulator (python -m simulator).",
        add_help=False,  # --help goes to the simulator, which lists its own options
    )


def run_service(check_config: bool) -> int:
    from service.__main__ import main  # FastStream is loaded there, only when it starts

    return main(["--check-config"] if check_config else [])


def run_simulator(extra: list[str]) -> int:
    from simulator.__main__ import main  # only for `simulator`

    if "-h" in extra or "--help" in extra:
        # The simulator's own page does not know callctl's inbound-call actions: say so first.
        print(SUMMARY)
    return main(extra)
