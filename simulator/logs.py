"""structlog set-up: JSON lines when stdout is not a terminal, readable lines when it is."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog


def configure_logging(
    level: str, stream: TextIO | None = None
) -> structlog.typing.FilteringBoundLogger:
    out = stream or sys.stdout
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=False)
        if out.isatty()
        else structlog.processors.JSONRenderer()
    )
    numeric = logging.getLevelNamesMapping()[level]
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        # Filtering loggers make calls below the level no-ops, which keeps DEBUG lines free.
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=True,
    )
    # aiohttp reports its own trouble (bad requests, handler crashes) through stdlib logging.
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr)
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger("simulator")
    return logger
