"""Argument parsing shared by the commands: the help formatter, the options every command
takes, and the value types (seconds, durations, counts)."""

from __future__ import annotations

import argparse
import contextlib
import re

TOPICS_HELP = """\
configuration (the service's own variables; only these are read):
  CALLCTL_KAFKA__BOOTSTRAP_SERVERS   default localhost:9092 (--bootstrap-servers overrides)
  CALLCTL_KAFKA__SECURITY_PROTOCOL, __SASL_MECHANISM, __SASL_USERNAME, __SASL_PASSWORD,
  __SSL_CAFILE, __SSL_CERTFILE, __SSL_KEYFILE, __SSL_KEY_PASSWORD
                                     Kafka security (SASL, TLS, mutual TLS)
  CALLCTL_TOPICS__COMMANDS           default call-control.commands.v1
  CALLCTL_TOPICS__RESULTS            default call-control.results.v1
  CALLCTL_TOPICS__SNAPSHOTS          default call-control.snapshots.v1
  CALLCTL_TOPICS__DEAD_LETTER        default call-control.dead-letter.v1
  CALLCTL_TOPICS__EVENTS             default call-control.events.v1
  CALLCTL_TOPICS__CONFERENCES        default call-control.conferences.v1
  CALLCTL_MAX_COMMAND_BYTES          default 65536 (commands above it are refused)
"""


class Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def common_options(top: bool) -> argparse.ArgumentParser:
    """Options valid before or after the subcommand (`callctl -v send ...` = `send -v`)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection")
    group.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT[,...]",
        default=None if top else argparse.SUPPRESS,
        help="Kafka bootstrap servers (default: CALLCTL_KAFKA__BOOTSTRAP_SERVERS, else "
        "localhost:9092); security settings come from the other CALLCTL_KAFKA__* variables",
    )
    shown = parent.add_argument_group("output")
    shown.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if top else argparse.SUPPRESS,
        help="show Kafka client logs on stderr (-vv: debug); `send -v` also echoes the command "
        "(recording credentials redacted)",
    )
    shown.add_argument(
        "-o",
        "--output",
        choices=["text", "json"],
        default="text" if top else argparse.SUPPRESS,
        help="text for people (default), json for scripts",
    )
    return parent


def json_alias(parser: argparse.ArgumentParser) -> None:
    """`--json`, the flag older versions had, as a hidden alias of `-o json`."""
    parser.add_argument(
        "--json",
        dest="output",
        action="store_const",
        const="json",
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
    )


def positive_seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {raw!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {raw!r}")
    return value


def positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {raw!r}")
    return value


def offset(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an offset: {raw!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"offsets start at 0: {raw!r}")
    return value


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def duration_seconds(raw: str) -> float:
    """`90`, `30s`, `10m`, `2h`, `1d`, `1h30m` → seconds."""
    text = raw.strip().lower()
    with contextlib.suppress(ValueError):
        text_s = float(text)
        if text_s > 0:
            return text_s
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(
            f"not a duration: {raw!r} (examples: 30s, 10m, 2h, 1d, 1h30m)"
        )
    return sum(float(number) * _UNIT_S[unit] for number, unit in parts)
