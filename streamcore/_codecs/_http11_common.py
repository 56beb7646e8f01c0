"""What both twins of the HTTP/1.1 engine share (see ``_http11_py`` for the policy).

The error class, the event types and sentinels must be *the same objects* in
both twins, and the target-form check and the regular expressions are the
specification the compiled twin's hand-written scanners follow (and fall back
to for the rare forms), so they live here once.

The policy of the engine, repeated from the reference twin:

A strict, bounded, sans-IO HTTP/1.1 server connection (RFC 9112).

This is the raw path under the asyncio adapter: it parses request heads and
bodies (Content-Length or chunked, with :mod:`streamcore.chunked`) and frames
responses (Content-Length, or chunked for SSE streams). It does only what a
Streamable HTTP endpoint needs, which makes it several times cheaper per
request than a general-purpose engine; ``h11`` remains the reference it is
tested against (``tests/test_http11.py``), and the ASGI and HTTP/2 adapters
bring their own HTTP layer.

Policy (strict where a lax parser would be a smuggling risk, RFC 9112 11.2):

* Lines end with CRLF; a bare LF or CR in the head is refused with 400 as
  soon as it arrives, even before the head is complete (h11 accepts a bare LF;
  RFC 9112 2.2 makes that a MAY, and we decline it: a proxy in front that
  splits lines differently is a smuggling risk).
* The request-target must have the form its method allows (RFC 9112 3.2):
  origin-form or absolute-form (``http``/``https``, no userinfo), asterisk-form
  for OPTIONS only, authority-form for CONNECT only. Its form is reported in
  :attr:`RequestHead.target_form`; which paths and hosts to serve is the
  server core's decision.
* Content-Length is ASCII digits only, at most 19 of them (no ``int()`` on
  unbounded peer digits).
* obs-fold, whitespace before the colon, and field values with CTL characters
  other than HTAB are refused (RFC 9112 5.1, 5.2; RFC 9110 5.5).
* Exactly one Host on HTTP/1.1 (RFC 9112 3.2).
* Framing per :func:`streamcore.chunked.framing_for_request`; Transfer-Encoding
  with Content-Length is decoded as chunked and the connection closed after
  the response (RFC 9112 6.1).
* ``Expect: 100-continue`` is honoured: the request event says so and the
  adapter sends the interim response before reading the body.

Every refusal raises :class:`Http11Error` (a :class:`RemoteProtocolError`)
carrying ``status_hint``; the connection is then unusable and must be closed
after the error response.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .._errors import RemoteProtocolError
from .._headers import DEFAULT_MAX_HEAD_SIZE

__all__ = [
    "Http11Error",
    "RequestHead",
    "NEED_DATA",
    "PAUSED",
    "END",
    "DEFAULT_MAX_HEAD_SIZE",
    "DEFAULT_MAX_FIELDS",
    "MAX_CONTENT_LENGTH_DIGITS",
    "target_form",
    "CLOSED",
]

#: Header field lines per request (Apache's LimitRequestFields default is 100).
DEFAULT_MAX_FIELDS = 128


class Http11Error(RemoteProtocolError):
    """The client sent an HTTP/1.1 message we refuse; answer ``status_hint`` and close."""


class RequestHead(NamedTuple):
    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]  # lower-case names
    http_version: bytes  # b"1.1" or b"1.0"
    expect_continue: bool
    #: RFC 9112 3.2: "origin", "absolute", "authority" or "asterisk".
    target_form: str = "origin"


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NEED_DATA = _Sentinel("NEED_DATA")  #: feed more bytes
PAUSED = _Sentinel("PAUSED")  #: a request is complete; respond before the next one is parsed
END = _Sentinel("END")  #: the current request's body is complete
CLOSED = _Sentinel("CLOSED")  #: the client closed its side cleanly between requests

# RFC 9110 5.6.2 token; RFC 9112 3 request-line. The target is any visible
# ASCII here; target_form() then checks its syntax.
_REQUEST_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP/1\.([01])")
_FIELD = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*((?:[\x21-\x7e\x80-\xff](?:[ \t]*[\x21-\x7e\x80-\xff])*)?)[ \t]*")
# RFC 9112 3.2 request-target forms, RFC 3986 3.3/3.4 (pchar, query).
_PCHAR = rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})"
_QUERY = rb"(?:\?(?:" + _PCHAR + rb"|[/?])*)?"
_ORIGIN_FORM = re.compile(rb"(?:/" + _PCHAR + rb"*)+" + _QUERY)
# absolute-form for http(s): no userinfo (RFC 9110 4.2.4), an authority with a
# host (RFC 9110 4.2.1); IP-literal hosts in brackets.
_HOST = rb"(?:\[[0-9A-Fa-fvV:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+)(?::[0-9]*)?"
_ABSOLUTE_FORM = re.compile(rb"[hH][tT][tT][pP][sS]?://" + _HOST + rb"(?:/" + _PCHAR + rb"*)*" + _QUERY)
_AUTHORITY_FORM = re.compile(_HOST)
# A bare LF, or a CR not followed by LF (the last byte is searched only once
# the byte after it has arrived).
_BARE = re.compile(rb"(?<!\r)\n|\r(?!\n)")
#: Digits of a Content-Length we parse (2**63 - 1 has 19).
MAX_CONTENT_LENGTH_DIGITS = 19
_SPECIAL = frozenset({b"transfer-encoding", b"connection", b"expect"})
_NAMES = {n: n for n in (
    b"host", b"accept", b"content-type", b"content-length", b"user-agent", b"accept-encoding", b"connection",
    b"mcp-session-id", b"mcp-protocol-version", b"last-event-id", b"authorization", b"origin", b"cache-control",
    b"accept-language", b"transfer-encoding", b"expect", b"x-forwarded-for", b"x-forwarded-proto", b"cookie",
)}
# The same ceiling framing_for_request applies (2**63 - 1).
_MAX_CONTENT_LENGTH = 2**63 - 1

# States of the request side.
_IDLE, _BODY_LENGTH, _BODY_CHUNKED, _DONE, _ERROR = range(5)


def target_form(method: bytes, target: bytes) -> str | None:
    """The form of a request-target (RFC 9112 3.2), or None when it is malformed
    or a form ``method`` may not use: asterisk-form for OPTIONS only (3.2.4),
    authority-form for CONNECT only (3.2.3)."""
    if target[:1] == b"/":
        return "origin" if _ORIGIN_FORM.fullmatch(target) is not None else None
    if target == b"*":
        return "asterisk" if method == b"OPTIONS" else None
    if method == b"CONNECT":
        return "authority" if _AUTHORITY_FORM.fullmatch(target) is not None else None
    return "absolute" if _ABSOLUTE_FORM.fullmatch(target) is not None else None


