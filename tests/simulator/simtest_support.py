"""Client-side helpers for the simulator tests, written from the reference, not from the
simulator's code: Sinch's signed-request algorithm (§3.3) and Basic credentials (§3.2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from simulator.app import RunningServer

# The start_sim fixture: start an extra simulator with Settings overrides.
StartSim = Callable[..., Awaitable[RunningServer]]

KEY = "sim-key"
SECRET = "c2ltLXNlY3JldC0xMjM0NTY="  # the documented default: base64("sim-secret-123456")
JSON_TYPE = "application/json"


def timestamp(offset_seconds: float = 0.0) -> str:
    """Like the Node SDK: ISO-8601 UTC with milliseconds and a Z."""
    moment = datetime.now(UTC) + timedelta(seconds=offset_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def signed_headers(
    method: str,
    path: str,
    body: bytes = b"",
    *,
    content_type: str = JSON_TYPE,
    ts: str | None = None,
    key: str = KEY,
    secret: str = SECRET,
) -> dict[str, str]:
    ts = ts or timestamp()
    md5 = ""
    if body:
        md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    to_sign = f"{method.upper()}\n{md5}\n{content_type}\nx-timestamp:{ts}\n{path}"
    digest = hmac.new(base64.b64decode(secret), to_sign.encode(), hashlib.sha256).digest()
    return {
        "Authorization": f"Application {key}:{base64.b64encode(digest).decode()}",
        "x-timestamp": ts,
        "Content-Type": content_type,
    }


def basic_headers(key: str = KEY, secret: str = SECRET) -> dict[str, str]:
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": JSON_TYPE}


def encode(svaml: Any) -> bytes:
    """Serialize once, compactly, and send exactly these bytes (reference §3.3)."""
    return json.dumps(svaml, separators=(",", ":"), ensure_ascii=False).encode()


def call_path(call_id: str, leg: str | None = None) -> str:
    path = f"/calling/v1/calls/id/{call_id}"
    return f"{path}/leg/{leg}" if leg else path


class Api:
    """Signed (or Basic) Calling API requests, as the service would send them."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def patch(
        self, call_id: str, svaml: Any, leg: str | None = None, *, basic: bool = False
    ) -> httpx.Response:
        path = call_path(call_id, leg)
        body = encode(svaml)
        headers = basic_headers() if basic else signed_headers("PATCH", path, body)
        return await self.http.patch(path, content=body, headers=headers)

    async def get(self, call_id: str) -> httpx.Response:
        path = call_path(call_id)
        return await self.http.get(path, headers=signed_headers("GET", path))
