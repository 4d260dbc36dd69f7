"""How `callctl` shows results and snapshots: aligned tables and `key  value` blocks.

Pure: takes the JSON objects read from the topics (as dicts), returns text. Missing or `null`
values show as `-`. Nothing here sees a command body, so nothing here can print a secret; the
`request` echo of a result is already redacted by the service.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MISSING = "-"
RESULT_HEADER = (
    "TIME",
    "CALL ID",
    "COMMAND ID",
    "TYPE",
    "OUTCOME",
    "ERROR",
    "HTTP",
    "ATTEMPTS",
    "DUP",
)
# Column widths for `--follow`, where rows are printed as they arrive; longer values overflow.
STREAM_WIDTHS = (24, 18, 38, 14, 9, 20, 4, 8, 3)


def text(value: Any) -> str:
    """A cell: `-` for nothing, `true`/`false` for booleans, compact JSON for containers."""
    if value is None or value == "":
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _error_code(result: Mapping[str, Any]) -> Any:
    error = result.get("error")
    return error.get("code") if isinstance(error, dict) else None


def result_row(result: Mapping[str, Any]) -> tuple[str, ...]:
    """One table row per result, in `RESULT_HEADER` order."""
    return tuple(
        text(cell)
        for cell in (
            result.get("completedAt") or result.get("receivedAt"),
            result.get("callId"),
            result.get("commandId"),
            result.get("type"),
            result.get("outcome"),
            _error_code(result),
            result.get("httpStatus"),
            result.get("attempts"),
            result.get("duplicate"),
        )
    )


def format_row(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=True)]
    return "  ".join(padded).rstrip()


def render_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns as wide as their widest cell, two spaces apart, no trailing blanks."""
    all_rows = [tuple(header), *(tuple(row) for row in rows)]
    widths = [max(len(row[i]) for row in all_rows) for i in range(len(header))]
    return "\n".join(format_row(row, widths) for row in all_rows)


def render_results(results: Iterable[Mapping[str, Any]]) -> str:
    return render_table(RESULT_HEADER, (result_row(r) for r in results))


KEY_WIDTH = 12  # `conferenceId`: the two blocks `callctl send --wait` prints line up


def key_values(pairs: Iterable[tuple[str, Any]], width: int = KEY_WIDTH) -> str:
    """`key  value` lines, keys aligned; pairs whose value is `...` are left out."""
    shown = [(key, text(value)) for key, value in pairs if value is not ...]
    width = max([width, *(len(key) for key, _ in shown)])
    return "\n".join(f"{key.ljust(width)}  {value}" for key, value in shown)


def describe_receipt(receipt: Mapping[str, Any]) -> str:
    """What `callctl send` produced, as `key  value` lines."""
    where = f"{receipt['topic']} partition {receipt['partition']} offset {receipt['offset']}"
    return key_values(
        [
            ("commandId", receipt["commandId"]),
            ("callId", receipt["callId"] if receipt.get("callId") is not None else ...),
            (
                "conferenceId",
                receipt["conferenceId"] if receipt.get("conferenceId") is not None else ...,
            ),
            ("type", receipt["type"]),
            ("produced", where),
        ]
    )


def _error_text(error: Any) -> Any:
    if not isinstance(error, dict):
        return error
    line = f"{error.get('code', MISSING)}: {error.get('message', '')}".rstrip(": ")
    details = [f"retryable {text(error.get('retryable'))}"]
    if error.get("sinchErrorCode") is not None:
        details.append(f"sinchErrorCode {error['sinchErrorCode']}")
    if error.get("sinchReference"):
        details.append(f"sinchReference {error['sinchReference']}")
    return f"{line} ({', '.join(details)})"


def _request_text(request: Any) -> Any:
    if not isinstance(request, dict):
        return request
    line = f"{request.get('method', MISSING)} {request.get('path', MISSING)}"
    body = request.get("body")
    return f"{line} {text(body)}" if body is not None else line


def describe_result(result: Mapping[str, Any]) -> str:
    """A result as `key  value` lines, for `callctl send --wait`."""
    return key_values(
        [
            ("outcome", result.get("outcome")),
            ("callId", result["callId"] if result.get("type") == "callout" else ...),
            ("duplicate", result.get("duplicate")),
            ("attempts", result.get("attempts")),
            ("httpStatus", result.get("httpStatus")),
            ("error", _error_text(result.get("error"))),
            ("request", _request_text(result.get("request"))),
            ("durationMs", result.get("durationMs")),
            ("completedAt", result.get("completedAt")),
            ("metadata", result.get("metadata") if result.get("metadata") is not None else ...),
        ]
    )


def _party(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    kind, endpoint = value.get("type"), value.get("endpoint")
    return " ".join(text(v) for v in (kind, endpoint) if v is not None) or None


def _money(value: Any) -> Any:
    if not isinstance(value, dict) or value.get("amount") is None:
        return None
    return f"{value['amount']} {value.get('currencyId') or ''}".rstrip()


def describe_conference(snapshot: Mapping[str, Any]) -> str:
    """The latest participants of a conference: a `key  value` head and a table."""
    head = key_values(
        [
            ("conferenceId", snapshot.get("conferenceId")),
            ("observedAt", snapshot.get("observedAt")),
            ("commandId", snapshot.get("commandId")),
        ]
    )
    items = snapshot.get("participants")
    people = [p for p in items if isinstance(p, dict)] if isinstance(items, list) else []
    if not people:
        return f"{head}\nno participants"
    rows = [
        (
            text(p.get("id")),
            text(p.get("cli")),
            f"{p['duration']} s" if p.get("duration") is not None else MISSING,
            text(p.get("muted")),
            text(p.get("onhold")),
        )
        for p in people
    ]
    return f"{head}\n\n" + render_table(("CALLID", "CLI", "DURATION", "MUTED", "ONHOLD"), rows)


def describe_snapshot(snapshot: Mapping[str, Any]) -> str:
    """The latest state of a call as `key  value` lines, for `callctl call`."""
    call = snapshot.get("call")
    state: Mapping[str, Any] = call if isinstance(call, dict) else {}
    duration = state.get("duration")
    return key_values(
        [
            ("callId", snapshot.get("callId")),
            ("status", state.get("status")),
            ("result", state.get("result")),
            ("reason", state.get("reason")),
            ("from", _party(state.get("from"))),
            ("to", _party(state.get("to"))),
            ("domain", state.get("domain")),
            ("duration", f"{duration} s" if duration is not None else None),
            ("timestamp", state.get("timestamp")),
            ("userRate", _money(state.get("userRate"))),
            ("debit", _money(state.get("debit"))),
            ("observedAt", snapshot.get("observedAt")),
            ("commandId", snapshot.get("commandId")),
        ]
    )
