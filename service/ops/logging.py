"""Structured logs, one JSON object per line in production (not a terminal), readable on a
terminal. Our lines go straight from structlog to stderr (no stdlib round trip: the canonical
line per command is on the hot path); stdlib records (FastStream, aiokafka) are rendered by the
same processors through a `ProcessorFormatter`, so both look alike.

Context per command: delivery binds `partition` and `offset` when a record's turn starts, the
flow binds `command_id` and `call_id` once decoded (structlog's contextvars, merged into every
line by `merge_contextvars`), so every line about a command (retries, store waits, publish
failures, crashes) names it without passing ids around. The command's trace binds `trace_id`
(and `span_id`, when tracing is on) the same way; `add_span_ids` puts the ids of a span that is
current where a line is written (a Sinch attempt) over them.

Secrets: aiokafka logs record keys and values at DEBUG, so its loggers never go below WARNING;
our code never logs headers, secrets or command bodies.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import orjson
import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor

QUIET_LIBRARIES = {
    "aiokafka": logging.WARNING,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "aiohttp": logging.WARNING,
}


def _logger_name(_: object, __: str, event: EventDict) -> EventDict:
    """`structlog.get_logger(logger_name=...)` keeps loggers lazy (a bound `logger` key would
    freeze the configuration at import); the line shows it as `logger`, like stdlib records."""
    name = event.pop("logger_name", None)
    if name is not None:
        event["logger"] = name
    return event


def add_span_ids(_: object, __: str, event: EventDict) -> EventDict:
    """`trace_id` and `span_id` of the span current where the line is written (a Sinch
    attempt's CLIENT span), over those the command bound for its whole run (`Tracing.start`):
    the OpenTelemetry log-correlation names, so a log line leads to its trace and back."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = format(context.trace_id, "032x")
        event["span_id"] = format(context.span_id, "016x")
    return event


def _orjson(event: EventDict, **options: Any) -> str:
    """orjson renders a line about 20 times faster than `json.dumps` (the canonical line is
    written for every command); structlog's fallback still renders what orjson cannot."""
    return orjson.dumps(event, default=options.get("default")).decode()


def configure_logging(
    level: str = "INFO",
    fmt: Literal["auto", "json", "console"] = "auto",
    *,
    span_ids: bool = True,
) -> None:
    """`span_ids=False` (tracing off: no span of ours is ever current) leaves `add_span_ids`
    out, a microsecond per line; the ids a command binds are still merged."""
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Processor = (
        structlog.processors.JSONRenderer(serializer=_orjson)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        *([add_span_ids] if span_ids else []),
        _logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    exceptions: Processor = (
        structlog.processors.format_exc_info if as_json else structlog.dev.set_exc_info
    )
    structlog.configure(
        processors=[*shared, exceptions, renderer],
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name, floor in QUIET_LIBRARIES.items():
        logging.getLogger(name).setLevel(max(floor, logging.getLevelName(level)))
