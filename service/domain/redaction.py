"""Secrets in commands: the recording credentials, replaced by `***` wherever echoed.

The one place that knows where a secret sits in a command or a SVAML body; results, the CLI's
dry run and logs all go through it.
"""

from __future__ import annotations

import json
from typing import Any

REDACTED = "***"


def redact_options(options: Any) -> None:
    """startRecording options, in place."""
    if isinstance(options, dict) and "credentials" in options:
        options["credentials"] = REDACTED


def redact_instructions(instructions: Any) -> None:
    """A SVAML instruction list, in place."""
    for instruction in instructions if isinstance(instructions, list) else ():
        if isinstance(instruction, dict) and instruction.get("name") == "startRecording":
            redact_options(instruction.get("options"))


def redact_svaml(body: Any) -> Any:
    """A SVAML body (JSON data), in place; returned for convenience."""
    if isinstance(body, dict):
        redact_instructions(body.get("instructions"))
    return body


def redact_command(data: dict[str, Any]) -> dict[str, Any]:
    """A command as JSON data, in place: its own options, instructions and SVAML body."""
    if data.get("type") == "startRecording":
        redact_options(data.get("options"))
    redact_instructions(data.get("instructions"))
    redact_svaml(data.get("svaml"))
    if data.get("type") == "callout":
        redact_custom_callout(data.get("callout"))
    return data


def redact_custom_callout(body: Any) -> Any:
    """A callout body, in place: inline SVAML in a custom callout's ice/ace/pie is a JSON
    string, so it is read, redacted and written back (unchanged when nothing was secret)."""
    custom = body.get("customCallout") if isinstance(body, dict) else None
    if not isinstance(custom, dict):
        return body
    for name in ("ice", "ace", "pie"):
        text = custom.get(name)
        if not isinstance(text, str) or not text.lstrip().startswith("{"):
            continue
        try:
            inline = json.loads(text)
        except (ValueError, RecursionError):
            continue
        if json.dumps(inline) != json.dumps(redact_svaml(json.loads(text))):
            custom[name] = json.dumps(redact_svaml(inline), separators=(",", ":"))
    return body
