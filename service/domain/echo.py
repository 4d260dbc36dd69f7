"""Producer-controlled text that the service writes back (field names, ids as sent), made safe.

Safe means: one line, no control or invisible formatting characters (a CR/LF in a log line or a
dead-letter header starts a forged entry; ESC drives terminals; U+202E reorders what a reader
sees), and short. Escaping is repr-like (`\\n`, `\\x1b`, `\\u202e`), so what was sent can still
be told apart: a backslash is doubled, and a cut string ends with `…`.
"""

from __future__ import annotations

ELLIPSIS = "…"
# An id echoed as sent (a rejected record's commandId or callId): the contract's ids are at most
# 128 characters, escaping may lengthen a bad one.
MAX_ECHOED_ID_CHARS = 160
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape_char(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escaped(text: str, limit: int) -> str:
    """`text` with every non-printable character (and `\\`) escaped, at most `limit` characters.

    Lone surrogates are escaped too, so the result always encodes as UTF-8.
    """
    # Each source character becomes at most 10; no need to look further than the limit needs.
    out = "".join(map(_escape_char, text[: limit + 1]))
    return out if len(out) <= limit and len(text) <= limit else out[: limit - 1] + ELLIPSIS


def printable(text: str) -> str:
    """Control and invisible characters escaped, backslashes kept: for text whose parts were
    escaped already (a second pass must not double their backslashes)."""
    if text.isprintable():
        return text
    return "".join(char if char == "\\" else _escape_char(char) for char in text)


def cut_utf8(text: str, max_bytes: int) -> str:
    """At most `max_bytes` once encoded as UTF-8 (a Kafka header value), cut on a character."""
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= max_bytes:
        return text
    room = max_bytes - len(ELLIPSIS.encode())
    return encoded[:room].decode("utf-8", "ignore") + ELLIPSIS
