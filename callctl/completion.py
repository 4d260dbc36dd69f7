"""`callctl completion bash|zsh`: a shell completion script, generated from the argument
parser by shtab, so it always matches the commands, types and choices of this version."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from callctl import ring
from callctl.arguments import Formatter
from callctl.common import EXIT_OK

SHELLS = ("bash", "zsh")  # shtab's tcsh output completes no subcommand flags
EPILOG = """\
Print a completion script for SHELL; load it once per shell session or install it:

  bash:  source <(callctl completion bash)
         callctl completion bash > ~/.local/share/bash-completion/completions/callctl
  zsh:   callctl completion zsh > "${fpath[1]}/_callctl"   (then restart zsh)

exit codes: 0 printed, 2 usage error
"""


def add_parser(sub: Any) -> None:
    page = sub.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh)",
        description="Print a shell completion script for callctl.",
        epilog=EPILOG,
        formatter_class=Formatter,
    )
    page.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _with_simulator_actions(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """`callctl simulator` hands its arguments on unparsed (to the simulator, or to ring,
    press, hangup, show), so the parser knows no actions there: add them for completion."""
    simulator = _subcommands(parser)["simulator"]
    actions = simulator.add_subparsers(dest="action", metavar="ACTION")
    for name, page in _subcommands(ring.build_parser()).items():
        actions.add_parser(name, parents=[page], add_help=False, help=page.description)
    return parser


def print_script(parser: argparse.ArgumentParser, shell: str, out: TextIO) -> int:
    import shtab  # only for this command: every other one starts without it

    print(shtab.complete(_with_simulator_actions(parser), shell=shell), file=out)
    return EXIT_OK
