"""Sinch's error body: {"status", "errorCode", "message", "reference"} (reference §1.5)."""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus

# Codes from the reference's error table (DOC-ERR / LEGACY).
PARAMETER_VALIDATION = 40001
INVALID_REQUEST = 40003
AUTH_HEADER = 40100
AUTH_TIMESTAMP = 40101
AUTH_SIGNATURE = 40102
CALL_NOT_FOUND = 40400
INTERNAL_ERROR = 50000
TEMPORARILY_DOWN = 50300


def default_code(status: int) -> int:
    # LEGACY: "first three digits are the same as the HTTP Status Code".
    return status * 100


# Sinch's `status` is "<HTTP status> <error type>", e.g. "400 ParameterValidation" (its
# errors page); the types below are those pages' names, the rest fall back to the reason.
_ERROR_TYPES = {
    PARAMETER_VALIDATION: "ParameterValidation",
    40002: "MissingParameter",
    INVALID_REQUEST: "InvalidRequest",
    CALL_NOT_FOUND: "Not Found",
}


def status_line(status: int, code: int | None = None) -> str:
    kind = _ERROR_TYPES.get(code) if code is not None else None
    if kind is not None:
        return f"{status} {kind}"
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def error_body(status: int, code: int, message: str) -> bytes:
    return json.dumps(
        {
            "status": status_line(status, code),
            "errorCode": code,
            "message": message,
            "reference": str(uuid.uuid4()),
        }
    ).encode()


class ApiError(Exception):
    """A Sinch-style error answer, raised anywhere in request processing."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
