"""`callctl simulator ring|press|hangup|show`: play the caller of a simulated inbound call.

The simulator (its admin API) rings the service's callback URL like Sinch does: signed ICE,
then ACE, PIE and DiCE as the call goes on. These subcommands only ask it to; everything the
service does with the call shows on the events topic (`callctl events`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from callctl.arguments import json_alias

# Each action and what it does: the action list, each action's page, and the lines
# `callctl simulator --help` adds to the simulator's own page.
ACTION_HELP = {
    "ring": "start an inbound call: the simulator sends ICE to the service",
    "press": "menu input on a call in a runMenu: the service gets PIE",
    "hangup": "the caller hangs up: the service gets DiCE",
    "show": "the call's phase and the callbacks sent so far",
}
ACTIONS = tuple(ACTION_HELP)
SUMMARY = (
    "callctl simulator [OPTIONS] runs the simulator (its options below).\n"
    "callctl simulator ACTION ... plays the caller of a simulated inbound call instead:\n"
    + "".join(f"  {name:<8}  {text}\n" for name, text in ACTION_HELP.items())
    + "`callctl simulator ACTION --help` shows an action's options.\n"
)
EPILOG = """\
examples:
  callctl simulator ring --to +46700000010                 ring the service (default answer: park)
  callctl simulator ring --to +46700000010 --region euc1   as if the call came in through euc1
  callctl simulator press CALLID 1234#                      menu input: the service gets a PIE
  callctl simulator hangup CALLID                           the caller hangs up: DiCE
  callctl simulator show CALLID                             the call and the callbacks sent
The callback URL is the simulator's --callback-url (`make run` points it at the service), or
--callback-url here.

exit codes: 0 done, 1 no such call (or not in a state for it), 2 refused by the simulator or
usage error, 4 the simulator unreachable
"""


def default_url() -> str:
    return os.environ.get("SIM_URL") or f"http://127.0.0.1:{os.environ.get('SIM_PORT', '8700')}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callctl simulator",
        description="Simulated inbound calls: ring the service like Sinch does.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--simulator-url",
        default=default_url(),
        metavar="URL",
        help="the simulator (default: $SIM_URL, else http://127.0.0.1:$SIM_PORT or 8700)",
    )
    common.add_argument(
        "-o",
        "--output",
        choices=["text", "json"],
        default="text",
        help="text for people (default), json: the simulator's answer as it is",
    )
    json_alias(common)
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    pages = {
        name: sub.add_parser(
            name,
            help=text,
            description=f"{text[0].upper()}{text[1:]}.",
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[common],
        )
        for name, text in ACTION_HELP.items()
    }
    ring = pages["ring"]
    ring.add_argument("--to", required=True, metavar="NUMBER", help="the called number (E.164)")
    ring.add_argument("--from", dest="from_", metavar="NUMBER", help="the caller (E.164)")
    ring.add_argument(
        "--region",
        choices=("use1", "euc1", "sae1", "apse1", "apse2"),
        help="the region the call comes in through, as ICE tells it (default: none, global)",
    )
    ring.add_argument("--call-id", metavar="ID", help="default: a new random id")
    ring.add_argument("--callback-url", metavar="URL", help="where to send the callbacks")
    ring.add_argument("--custom", metavar="TEXT", help="Sinch's `custom` field")
    pages["press"].add_argument("call_id", metavar="CALLID")
    pages["press"].add_argument("digits", metavar="DIGITS", help="0-9, * and #")
    pages["hangup"].add_argument("call_id", metavar="CALLID")
    pages["show"].add_argument("call_id", metavar="CALLID")
    return parser


def _request(args: argparse.Namespace) -> tuple[str, str, dict[str, Any] | None]:
    if args.action == "ring":
        body = {
            "to": args.to,
            "from": args.from_,
            "region": args.region,
            "callId": args.call_id,
            "callbackUrl": args.callback_url,
            "custom": args.custom,
        }
        return "POST", "/_admin/inbound/ring", {k: v for k, v in body.items() if v is not None}
    path = f"/_admin/inbound/{args.call_id}"
    if args.action == "press":
        return "POST", f"{path}/input", {"digits": args.digits}
    if args.action == "hangup":
        return "POST", f"{path}/hangup", {}
    return "GET", path, None


def describe(call: dict[str, Any]) -> str:
    lines = [
        f"callId   {call.get('callId')}",
        f"phase    {call.get('phase')}",
        f"region   {call.get('region') or 'global'}",
    ]
    if call.get("connectedTo"):
        lines.append(f"connected to {json.dumps(call['connectedTo'], separators=(',', ':'))}")
    for sent in call.get("callbacks", []):
        answer = sent.get("answer") or {}
        action = (answer.get("action") or {}).get("name") if isinstance(answer, dict) else None
        status = sent.get("status") or sent.get("error")
        lines.append(f"  {sent.get('event'):<6} -> {status}  answer: {action or '-'}")
    return "\n".join(lines)


def main(argv: Sequence[str], out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    method, path, body = _request(args)
    import httpx  # here, not at import: it costs every other callctl command ~0.3 s of CPU

    try:
        response = httpx.request(method, args.simulator_url + path, json=body, timeout=30)
    except httpx.TransportError as error:
        print(
            f"callctl: cannot reach the simulator at {args.simulator_url} "
            f"({type(error).__name__}); start it with `deploy/simulator.sh start`",
            file=sys.stderr,
        )
        return 4
    try:
        data = response.json()
    except ValueError:
        data = {"error": response.text[:200]}
    if response.status_code >= 400:
        print(
            f"callctl: the simulator said {response.status_code}: {data.get('error')}",
            file=sys.stderr,
        )
        return 1 if response.status_code in (404, 409) else 2
    as_json = args.output == "json"
    print(json.dumps(data, ensure_ascii=False) if as_json else describe(data), file=out)
    return 0
