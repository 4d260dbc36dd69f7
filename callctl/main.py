"""`callctl`: the operator's command line for call-control.

Sends commands (validated with the service's own rules before anything is produced), reads
results and call snapshots back, and runs the service or the simulator. Configuration comes from
the same `CALLCTL_*` variables as the service (docs: "Configuration"), but only the Kafka and
topic settings are read: no Sinch credentials are needed.

This module parses arguments and dispatches; each command lives in its own module. Nothing here
imports FastStream: only `callctl run` loads the service.

Exit codes: 0 ok; 1 the command's outcome was not `succeeded`, or nothing was found; 2 usage,
configuration or an invalid command; 3 timed out waiting for a result; 4 Kafka unreachable or a
Kafka error; 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from aiokafka.errors import KafkaError

from callctl import call, completion, conference, dead_letters, events, results, ring, run, send
from callctl.arguments import TOPICS_HELP, Formatter, common_options
from callctl.common import (
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    PROG,
    CliError,
    CliSettings,
    load_settings,
    version,
    warn,
)
from callctl.kafka_io import kafka_failure
from service.settings import ENV_NESTED_DELIMITER, ENV_PREFIX


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Operate call-control: send call commands over Kafka, read their results\n"
        "and the calls' snapshots, run the service or the Sinch simulator.",
        epilog=f"{TOPICS_HELP}\n{EXIT_CODES}\nRun `callctl COMMAND --help` for each command.",
        formatter_class=Formatter,
        parents=[common_options(top=True)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = [common_options(top=False)]
    send.add_parser(sub, common)
    results.add_parser(sub, common)
    call.add_parser(sub, common)
    conference.add_parser(sub, common)
    dead_letters.add_parser(sub, common)
    events.register(sub, common, Formatter)
    run.add_parsers(sub)
    completion.add_parser(sub)
    for name, subparser in sub.choices.items():
        subparser.set_defaults(parser=subparser, command=name)
    return parser


def _configure_logging(verbose: int) -> None:
    if verbose:
        level = logging.DEBUG if verbose > 1 else logging.INFO
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    else:
        # aiokafka logs each failed connection at ERROR; the CLI reports it once, itself.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def _servers_source(args: argparse.Namespace) -> str:
    if args.bootstrap_servers:
        return "--bootstrap-servers"
    if os.environ.get(f"{ENV_PREFIX}KAFKA{ENV_NESTED_DELIMITER}BOOTSTRAP_SERVERS"):
        return "CALLCTL_KAFKA__BOOTSTRAP_SERVERS"
    return "the default"


async def _dispatch(args: argparse.Namespace, settings: CliSettings, out: TextIO) -> int:
    if args.command == "send":
        return await send.run(args, settings, out)
    if args.command == "results":
        return await results.run(args, settings, out)
    if args.command == "dead-letters":
        return await dead_letters.run(args, settings, out)
    if args.command == "events":
        return await events.cmd_events(args, settings, out)
    if args.command == "conference":
        return await conference.run(args, settings, out)
    return await call.run(args, settings, out)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    try:
        return _main(argv, out or sys.stdout)
    except BrokenPipeError:  # `callctl results | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


def _main(argv: Sequence[str] | None, out: TextIO) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "simulator":
        if extra and extra[0] in ring.ACTIONS:  # a simulated inbound call, not a simulator to run
            return ring.main(extra)
        return run.run_simulator(extra)
    if extra:
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "run":
        return run.run_service(args.check_config)
    if args.command == "completion":
        return completion.print_script(parser, args.shell, out)
    _configure_logging(args.verbose)
    try:
        settings = load_settings(args.bootstrap_servers)
    except CliError as error:
        warn(str(error))
        return error.code
    try:
        return asyncio.run(_dispatch(args, settings, out))
    except CliError as error:
        warn(str(error))
        return error.code
    except KafkaError as error:
        servers = settings.kafka.bootstrap_servers
        failure = kafka_failure(servers, _servers_source(args), error)
        warn(str(failure))
        return failure.code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
