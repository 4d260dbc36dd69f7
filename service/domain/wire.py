"""Shared conventions of every message on the wire: camelCase JSON, RFC 3339 UTC timestamps."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, ClassVar

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel


def format_timestamp(moment: datetime) -> str:
    """`2026-11-26T23:41:07.123Z`: UTC, milliseconds, `Z`, as the contract writes them."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now() -> datetime:
    return datetime.now(UTC)


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?")


def _rfc3339(value: object) -> object:
    """Strings must look like RFC 3339 (pydantic alone takes epoch numbers and missing
    seconds); a missing zone is left to AwareDatetime, whose message names it. A moment that
    cannot be written in UTC (year 1 with a positive offset, 9999 with a negative one) is
    refused here: every timestamp is written back in UTC."""
    if isinstance(value, str):
        if not _RFC3339.fullmatch(value):
            raise ValueError("must be an RFC 3339 timestamp, e.g. 2026-11-26T23:41:07.123Z")
        moment = datetime.fromisoformat(value.upper())
        if moment.tzinfo is not None:
            try:
                moment.astimezone(UTC)
            except OverflowError:
                raise ValueError(
                    "out of range: must lie between 0001-01-01 and 9999-12-31 in UTC"
                ) from None
        return moment
    return value


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    PlainSerializer(format_timestamp, return_type=str),
]


class JsonModel(BaseModel):
    """Base of every message the service reads or writes: camelCase JSON, one `to_bytes()`.

    Published records keep every field, `null` included (consumers rely on the shape); SVAML
    sent to Sinch leaves absent fields out (`OMIT_NONE`), as Sinch's SDKs do.
    """

    OMIT_NONE: ClassVar[bool] = False
    # A field's docstring is its description in the published JSON Schemas (schemas/).
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, use_attribute_docstrings=True
    )

    def to_bytes(self) -> bytes:
        """Compact JSON by alias: these exact bytes are published, or signed and sent."""
        return self.model_dump_json(by_alias=True, exclude_none=self.OMIT_NONE).encode()


class WireModel(JsonModel):
    """Strict camelCase model: unknown fields are errors, so a misspelt field fails loudly."""

    OMIT_NONE = True
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        strict=True,
        frozen=True,
        hide_input_in_errors=True,
    )
