"""Which host serves a request: the global host, a regional host, or one stand-in for all.

Pure: no I/O. Sinch documents one global host (which "redirects to an appropriate region")
and five regional hosts; a simulator or egress proxy is one base URL that takes every region.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from service.domain.regions import (
    DEFAULT_REGIONAL_TEMPLATE,
    GLOBAL_BASE_URL,
    REGIONS,
    SINCH_CALLING_HOST,
    default_regional_template,
)

__all__ = [
    "DEFAULT_REGIONAL_TEMPLATE",
    "GLOBAL_BASE_URL",
    "REGIONS",
    "base_url_for",
    "default_regional_template",
    "is_sinch_calling_host",
    "validate_base_url",
]

_SINCH_CALLING_HOST = re.compile(SINCH_CALLING_HOST)


def is_sinch_calling_host(url: str) -> bool:
    """``https://calling[-<region>].api.sinch.com`` (any path): where Sinch serves calls."""
    parts = urlsplit(url)
    return (
        parts.scheme == "https"
        and parts.port in (None, 443)
        and "@" not in parts.netloc
        and _SINCH_CALLING_HOST.fullmatch(parts.hostname or "") is not None
    )


def base_url_for(region: str | None, *, base_url: str, regional_url_template: str | None) -> str:
    """The base URL (scheme and authority, no trailing slash) that serves ``region``.

    No region → ``base_url``. A region → the template filled in, or ``base_url`` when there is
    no template. An unknown region is a ValueError even when it would not change the host, so
    a typo fails the same way against the simulator as against Sinch.
    """
    if region is None:
        return validate_base_url(base_url)
    if region not in REGIONS:
        raise ValueError(f"unknown Sinch region {region[:20]!r}; expected one of {REGIONS}")
    if regional_url_template is None:
        return validate_base_url(base_url)
    try:
        url = regional_url_template.format(region=region)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"regional_url_template {regional_url_template!r} must only use the {{region}} field"
        ) from exc
    return validate_base_url(url)


def validate_base_url(url: str) -> str:
    """``url`` without a trailing slash, or ValueError unless it is ``http(s)://host[:port]``.

    A path prefix is refused: Sinch signs the request path, and a prefix would make the signed
    path differ from the sent one.
    """
    parts = urlsplit(url)
    if "@" in parts.netloc:
        # Not echoed: user info may hold a password.
        raise ValueError("base URL must not carry user info")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base URL {url!r} must be http(s)://host[:port]")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError(f"base URL {url!r} has an invalid port") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"base URL {url!r} must not have a path, query or fragment")
    return f"{parts.scheme}://{parts.netloc}"
