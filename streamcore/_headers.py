"""HTTP header helpers shared by the server and client cores.

Headers travel through streamcore as ``list[tuple[bytes, bytes]]`` with
lower-case names, the form h11 and h2 produce (RFC 9110 section 5.1: names are
case-insensitive; RFC 9113 section 8.2.1 sends them lower-case).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Iterable, Mapping, Sequence

__all__ = [
    "DEFAULT_MAX_HEAD_SIZE",
    "REASONS",
    "Headers",
    "accepts",
    "is_json_content_type",
    "valid_header_value",
]

Headers = Sequence[tuple[bytes, bytes]]

#: Bytes of request line plus header section (or of a response head, on the
#: client side). h11 allows 16 KiB by default; we allow 64 KiB because OAuth
#: bearer tokens and Mcp-Param-* headers can be long.
DEFAULT_MAX_HEAD_SIZE = 64 * 1024
#: HTTP status -> reason phrase (RFC 9110 section 15), for status lines.
REASONS: Mapping[int, bytes] = {s.value: s.phrase.encode() for s in HTTPStatus}

JSON = b"application/json"
SSE = b"text/event-stream"


def _media_ranges(value: bytes) -> Iterable[tuple[bytes, bytes, float]]:
    """Yield (type, subtype, q) for each media range of an Accept value (RFC 9110 12.5.1)."""
    for part in value.split(b","):
        part = part.strip()
        if not part:
            continue
        pieces = part.split(b";")
        mt = pieces[0].strip().lower()
        if b"/" not in mt:
            continue
        typ, _, sub = mt.partition(b"/")
        q = 1.0
        for param in pieces[1:]:
            k, _, v = param.strip().partition(b"=")
            if k.strip().lower() == b"q":
                try:
                    q = float(v.strip())
                except ValueError:
                    q = 0.0  # an unreadable weight is no acceptance at all
        yield typ.strip(), sub.strip(), q


def accepts(accept: bytes | None, media_type: bytes) -> bool:
    """Does an ``Accept`` value admit ``media_type``? (HTTP-08, AMB-01).

    The most specific matching range decides (``text/event-stream;q=0``
    overrides ``*/*``); ``q=0`` means "not acceptable". A missing header means
    "anything" under RFC 9110, but MCP requires clients to send one
    (CLI-POST-02), so the caller decides what absence means.
    """
    if accept is None:
        return False
    typ, _, sub = media_type.partition(b"/")
    best_specificity = -1
    best_q = 0.0
    for rtyp, rsub, q in _media_ranges(accept):
        if rtyp == typ and rsub == sub:
            spec = 2
        elif rtyp == typ and rsub == b"*":
            spec = 1
        elif rtyp == b"*" and rsub == b"*":
            spec = 0
        else:
            continue
        if spec > best_specificity:
            best_specificity, best_q = spec, q
    return best_specificity >= 0 and best_q > 0.0


def is_json_content_type(value: bytes | None) -> bool:
    """``application/json`` with any parameters (charset must be UTF-8 if given)."""
    if value is None:
        return False
    mt, _, params = value.partition(b";")
    if mt.strip().lower() != JSON:
        return False
    for param in params.split(b";"):
        k, _, v = param.strip().partition(b"=")
        if k.strip().lower() == b"charset" and v.strip().strip(b'"').lower() not in (b"utf-8", b"utf8"):
            return False
    return True


def valid_header_value(value: bytes) -> bool:
    """No CR, LF or NUL (RFC 9110 section 5.5, HTTP-04)."""
    return b"\r" not in value and b"\n" not in value and b"\x00" not in value
