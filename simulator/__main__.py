"""`python -m simulator` / `callctl-simulator`: run the Sinch Calling API v1 stand-in."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import types
import typing
from collections.abc import Sequence
from typing import Any

import structlog
from pydantic import SecretStr, ValidationError

from simulator.app import start_server
from simulator.logs import configure_logging
from simulator.settings import Settings


def _describe_type(annotation: Any) -> str:
    """The accepted values, for --help (Literal choices spelled out)."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of: " + ", ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe_type(a) for a in args if a is not type(None))
    if origin is typing.Annotated:
        return _describe_type(args[0])
    if origin in (frozenset, tuple, list):
        return "comma-separated " + _describe_type(args[0])
    if annotation is SecretStr:
        return "str"
    return getattr(annotation, "__name__", str(annotation))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callctl-simulator",
        description="Sinch Calling API v1 simulator (E1/E2/E3, Basic and Signed auth, SVAML "
        "validation, fault injection, /_admin API). Every flag overrides the environment "
        "variable named in its help; see simulator/README.md.",
    )
    # Generated from the settings model so the CLI can never drift from it.
    for name, info in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        default = info.default
        if isinstance(default, SecretStr):
            default = default.get_secret_value()
        elif isinstance(default, frozenset | tuple):
            default = ",".join(str(d) for d in sorted(default))
        text = (
            f"{info.description} ({_describe_type(info.annotation)}; "
            f"env SIM_{name.upper()}; default {default})"
        ).replace("%", "%%")
        if info.annotation is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text
            )
        else:
            parser.add_argument(flag, default=argparse.SUPPRESS, metavar=name.upper(), help=text)
    return parser


def load_settings(argv: Sequence[str] | None = None) -> Settings:
    """Environment first, then CLI flags on top; exits 2 naming the bad setting."""
    args = build_parser().parse_args(argv)
    overrides: dict[str, Any] = vars(args)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        for error in exc.errors():
            # Deliberately without the input value: it could be the secret.
            field = ".".join(str(p) for p in error["loc"]) or "settings"
            print(
                f"invalid setting {field} (SIM_{field.upper()} / --{field.replace('_', '-')}):"
                f" {error['msg']}",
                file=sys.stderr,
            )
        raise SystemExit(2) from None


async def serve(settings: Settings, log: structlog.typing.FilteringBoundLogger) -> None:
    # Handlers go in before anything is announced, so a signal sent right after the
    # "listening" line is always a clean stop.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        server = await start_server(settings, log)
        try:
            log.info(
                "listening",
                url=server.url,
                application_key=settings.application_key,
                auth_schemes=sorted(settings.auth_schemes),
                auto_create_calls=settings.auto_create_calls,
                create_calls=list(settings.create_calls),
                faults=server.simulator.faults.config.model_dump(mode="json"),
            )
            await stop.wait()
        finally:
            log.info("stopping")
            await server.close()
            log.info("stopped")
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings(argv)
    log = configure_logging(settings.log_level)
    asyncio.run(serve(settings, log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
