"""Sinch's calling regions and their hosts: the one definition the commands and the client use.

Sources (docs/sinch-fidelity.md, "Hosts"): the `servers` list of Sinch's Voice API OpenAPI
document and the region enums of its SDKs. Pure: no I/O.
"""

from __future__ import annotations

from typing import Literal, get_args

Region = Literal["use1", "euc1", "sae1", "apse1", "apse2"]
REGIONS: tuple[str, ...] = get_args(Region)
GLOBAL_BASE_URL = "https://calling.api.sinch.com"
DEFAULT_REGIONAL_TEMPLATE = "https://calling-{region}.api.sinch.com"
# Where Sinch serves the Calling API: the global host and calling-<region>.api.sinch.com.
SINCH_CALLING_HOST = r"calling(-[a-z0-9]+)?\.api\.sinch\.com"


def default_regional_template(base_url: str) -> str | None:
    """Sinch's regional hosts when the base URL is Sinch's global host; otherwise None (a
    simulator or an egress proxy takes every region)."""
    return DEFAULT_REGIONAL_TEMPLATE if base_url.rstrip("/") == GLOBAL_BASE_URL else None
