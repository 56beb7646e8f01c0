"""Head policy helpers of the server endpoint: pure functions of header bytes.

Everything here reads values a peer chose, so nothing here raises on any
input: a malformed value gives ``None`` (or ``False``) and the endpoint
answers 400. Numbers are ASCII digits only and bounded in length (``int()``
accepts Unicode digits, signs, underscores and spaces, and is quadratic in
the number of digits); Host values follow RFC 9110 section 7.2 / RFC 3986
section 3.2.2; request targets follow RFC 9112 section 3.2.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = [
    "MAX_DIGITS",
    "MAX_EVENT_ID",
    "parse_digits",
    "parse_event_id",
    "parse_target",
    "valid_host",
    "hostname",
    "origin_host",
    "TargetError",
]

#: Digits in a peer number we read (Content-Length, Last-Event-ID parts). 19
#: digits hold any 63-bit value (h11 and Node cap Content-Length the same way).
MAX_DIGITS = 19
#: Bytes of a Last-Event-ID value (``<stream>.<seq>``: two bounded numbers).
MAX_EVENT_ID = 2 * MAX_DIGITS + 1

_DIGITS = re.compile(rb"[0-9]+")
# RFC 3986 3.2.2 reg-name (unreserved / pct-encoded / sub-delims), and the
# IP-literal in brackets; then an optional port of up to five digits.
_HOST = re.compile(rb"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(?::([0-9]{0,5}))?")
_ABSOLUTE = re.compile(rb"(?i)(https?)://([^/?#]*)([^#]*)")


def parse_digits(value: bytes, max_digits: int = MAX_DIGITS) -> int | None:
    """``value`` as a non-negative integer if it is 1..``max_digits`` ASCII digits, else None."""
    if not 0 < len(value) <= max_digits or not _DIGITS.fullmatch(value):
        return None
    return int(value)


def parse_event_id(value: bytes) -> tuple[str, int] | None:
    """A ``Last-Event-ID`` of ours, ``<stream>.<seq>``, as ``(stream, seq)``; None if it is not one."""
    if len(value) > MAX_EVENT_ID:
        return None
    key, dot, seq = value.rpartition(b".")
    if not dot or parse_digits(key) is None:
        return None
    n = parse_digits(seq)
    if n is None:
        return None
    return key.decode("ascii"), n


def valid_host(host: bytes) -> bool:
    """Is ``host`` a syntactically valid Host value (``uri-host [ ":" port ]``)?

    ``[::1]evil.example``, spaces, ``a b``, ``host:port:port`` and a bracketed
    text that is not an IPv6 address are refused.
    """
    m = _HOST.fullmatch(host)
    if m is None:
        return False
    name = m.group(1)
    if name[:1] == b"[":
        try:
            ipaddress.IPv6Address(name[1:-1].decode("ascii"))
        except ValueError:
            return False
    port = m.group(2)
    # An empty port ("host:") is allowed by RFC 3986; five digits may still exceed 65535.
    return not port or int(port) <= 65535


def hostname(host: bytes) -> str:
    """``Host`` without its port: ``[::1]:8080`` -> ``[::1]``, ``a.b:80`` -> ``a.b``."""
    h = host.decode("latin-1").strip().lower()
    if h.startswith("["):
        end = h.find("]")
        return h[: end + 1] if end != -1 else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def origin_host(origin: bytes) -> str:
    """The host of a serialized origin; ``"null"`` and garbage map to ``""`` (AMB-18)."""
    o = origin.decode("latin-1").strip().lower()
    scheme, sep, rest = o.partition("://")
    if not sep or scheme not in ("http", "https") or not rest:
        return ""
    return hostname(rest.split("/", 1)[0].encode("latin-1"))


class TargetError(Exception):
    """A request target the endpoint refuses (``status`` 400 or 404)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_target(method: bytes, target: bytes) -> tuple[bytes, bytes | None]:
    """``(path, authority)`` of a request target (RFC 9112 section 3.2).

    origin-form ``/mcp?x`` gives ``(b"/mcp", None)``; absolute-form
    ``http://h:1/mcp`` gives ``(b"/mcp", b"h:1")``, whose authority replaces
    Host (3.2.2); asterisk-form ``*`` is only for OPTIONS (3.2.4), and
    authority-form only for CONNECT (3.2.3): both raise
    :class:`TargetError` (400) for any other method, as does anything else.
    """
    if target[:1] == b"/":
        path = target.split(b"?", 1)[0]
        return path, None
    if target == b"*":
        if method == b"OPTIONS":
            return b"*", None
        raise TargetError(400, "Bad Request: asterisk-form target outside OPTIONS")
    m = _ABSOLUTE.fullmatch(target)
    if m is None:
        raise TargetError(400, "Bad Request: malformed request target")
    authority, rest = m.group(2), m.group(3)
    if b"@" in authority:  # RFC 9110 4.2.4: userinfo is not allowed in http(s) URIs
        raise TargetError(400, "Bad Request: userinfo in request target")
    path = rest.split(b"?", 1)[0] or b"/"
    if path[:1] != b"/":
        raise TargetError(400, "Bad Request: malformed request target")
    return path, authority
