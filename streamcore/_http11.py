"""A strict, bounded, sans-IO HTTP/1.1 server connection (RFC 9112).

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

from ._errors import LocalProtocolError, RemoteProtocolError
from ._headers import DEFAULT_MAX_HEAD_SIZE, REASONS as _REASONS
from .chunked import ChunkedDecodeError, ChunkedDecoder, encode_chunk, framing_for_request

__all__ = [
    "Http11Error",
    "Http11Connection",
    "RequestHead",
    "NEED_DATA",
    "PAUSED",
    "END",
    "DEFAULT_MAX_HEAD_SIZE",
    "DEFAULT_MAX_FIELDS",
    "MAX_CONTENT_LENGTH_DIGITS",
    "target_form",
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


class Http11Connection:
    """One server-side HTTP/1.1 connection: ``receive_data`` / ``next_event`` in,
    ``response_*`` out (each returns the bytes to write)."""

    __slots__ = (
        "max_head_size", "max_fields", "_buf", "_scanned", "_state", "_remaining", "_chunked",
        "_eof", "_keep_alive", "_version", "_streaming", "_responding", "_must_close", "_pending_end",
        "_head_method",
    )

    def __init__(self, *, max_head_size: int = DEFAULT_MAX_HEAD_SIZE, max_fields: int = DEFAULT_MAX_FIELDS) -> None:
        self.max_head_size = max_head_size
        self.max_fields = max_fields
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf already searched for the end of the head
        self._state = _IDLE
        self._remaining = 0
        self._chunked: ChunkedDecoder | None = None
        self._eof = False
        self._keep_alive = True
        self._version = b"1.1"
        self._streaming = False
        self._responding = False
        self._must_close = False
        self._pending_end = False  # the body is read; END not yet returned
        self._head_method = False  # the request is HEAD: the response has no body

    @property
    def keep_alive(self) -> bool:
        """Whether the connection may carry another request after this response."""
        return self._keep_alive and not self._must_close and not self._eof

    # -- input ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes from the socket; ``b""`` means the client closed its side."""
        if data:
            self._buf += data
        else:
            self._eof = True

    def next_event(self) -> object:
        """The next of: :class:`RequestHead`, body ``bytes``, :data:`END`,
        :data:`NEED_DATA`, :data:`PAUSED`, :data:`CLOSED`."""
        state = self._state
        if state == _IDLE:
            return self._head()
        if state == _BODY_LENGTH:
            buf = self._buf
            if not buf:
                if self._eof:
                    return self._fail("connection closed in the middle of a request body")
                return NEED_DATA
            n = self._remaining
            if len(buf) <= n:
                data = bytes(buf)
                buf.clear()
            else:
                data = bytes(buf[:n])
                del buf[:n]  # amortised O(1) per byte (h2's frame buffer)
            self._remaining = n - len(data)
            if self._remaining == 0:
                self._state = _DONE
                self._pending_end = True
            return data if data else self._end()
        if state == _BODY_CHUNKED:
            dec = self._chunked
            assert dec is not None
            buf = self._buf
            if not buf:
                if self._eof:
                    return self._fail("connection closed in the middle of a chunked body")
                return NEED_DATA
            try:
                data = dec.feed(bytes(buf))
            except ChunkedDecodeError as exc:
                return self._fail(str(exc), exc.status_hint)
            buf.clear()
            if dec.done:
                self._buf = bytearray(dec.unused_data)
                self._state = _DONE
                self._chunked = None
                if data:
                    self._pending_end = True
                    return data
                return self._end()
            return data if data else NEED_DATA
        if state == _DONE:
            if self._pending_end:
                return self._end()
            return PAUSED
        raise Http11Error("connection already failed", status_hint=400)

    def _end(self) -> object:
        self._pending_end = False
        self._state = _DONE
        return END

    def _fail(self, msg: str, status: int = 400) -> object:
        self._state = _ERROR
        raise Http11Error(msg, status_hint=status)

    def _head(self) -> object:
        buf = self._buf
        # RFC 9112 2.2: a recipient SHOULD ignore at least one empty line
        # before the request-line. We ignore any number of CRLFs between
        # requests, however they arrive (whole or split, found by the fuzzer).
        if buf[:2] == b"\r\n":
            n = 0
            while buf[n:n + 2] == b"\r\n":
                n += 2
            del buf[:n]
            self._scanned = 0
        # Resume the search just before where the last one stopped, in case
        # the terminator straddles two reads: no byte is scanned twice.
        end = buf.find(b"\r\n\r\n", max(0, self._scanned - 3))
        if end == -1:
            if len(buf) > self.max_head_size:
                return self._fail("request head too large", 431)
            # A head ended by LFLF or bare CRs would never be found: refuse it
            # now (only the bytes not searched before are looked at).
            n = len(buf)
            if _BARE.search(buf, max(0, self._scanned - 1), n - 1 if buf.endswith(b"\r") else n) is not None:
                return self._fail("bare LF or CR in the request head (lines must end with CRLF)")
            self._scanned = len(buf)
            if self._eof:
                if not buf:
                    return CLOSED
                return self._fail("connection closed in the middle of a request head")
            return NEED_DATA
        if end + 4 > self.max_head_size:
            return self._fail("request head too large", 431)
        head = bytes(buf[:end])
        if len(buf) == end + 4:
            # The usual case (nothing pipelined): a fresh empty buffer, so an
            # idle stream does not keep the head's allocation (RSS per stream).
            self._buf = bytearray()
        else:
            del buf[: end + 4]
        self._scanned = 0
        lines = head.split(b"\r\n")
        m = _REQUEST_LINE.fullmatch(lines[0])
        if m is None:
            return self._fail("malformed request line")
        method, target, minor = m.group(1), m.group(2), m.group(3)
        form = target_form(method, target)
        if form is None:
            return self._fail("malformed request target, or a form its method does not allow")
        if len(lines) - 1 > self.max_fields:
            return self._fail("too many header fields", 431)
        headers: list[tuple[bytes, bytes]] = []
        fullmatch = _FIELD.fullmatch
        # The fields that steer framing are noted in the same pass, so the
        # common request (one Host, one plain Content-Length) needs no second look.
        hosts = 0
        lengths: list[bytes] = []
        special = False  # Transfer-Encoding, Connection or Expect present
        for line in lines[1:]:
            fm = fullmatch(line)
            if fm is None:
                # Covers obs-fold (a line starting with SP/HTAB), whitespace
                # before the colon, bare CR/LF, NUL and other CTLs.
                return self._fail("malformed header field line")
            name = fm.group(1).lower()
            value = fm.group(2)
            headers.append((name, value))
            if name == b"host":
                hosts += 1
            elif name == b"content-length":
                lengths.append(value)
            elif name in _SPECIAL:
                special = True
        version = b"1." + minor
        self._version = version
        if version == b"1.1" and hosts != 1:
            return self._fail("HTTP/1.1 requires exactly one Host")
        expect_continue = False
        if not special and version == b"1.1" and len(lengths) <= 1 and (
            not lengths or (lengths[0].isdigit() and len(lengths[0]) <= MAX_CONTENT_LENGTH_DIGITS)
        ):
            # bytes.isdigit() is ASCII-only; the length bound keeps int() cheap.
            # Fast path: keep-alive by default, no transfer coding.
            self._keep_alive = True
            self._must_close = False
            n = int(lengths[0]) if lengths else 0
            if n > _MAX_CONTENT_LENGTH:
                return self._fail("Content-Length too large")
            chunked = False
        else:
            connection = b",".join(v for n, v in headers if n == b"connection").lower()
            tokens = {t.strip() for t in connection.split(b",")}
            if version == b"1.1":
                self._keep_alive = b"close" not in tokens
            else:
                self._keep_alive = b"keep-alive" in tokens and b"close" not in tokens
            try:
                framing = framing_for_request(headers, http_version=version)
            except ChunkedDecodeError as exc:  # FramingError
                return self._fail(str(exc), exc.status_hint)
            self._must_close = framing.must_close
            chunked = framing.chunked
            n = framing.content_length or 0
            expect_continue = b",".join(v for n_, v in headers if n_ == b"expect").lower() == b"100-continue"
        if chunked:
            self._state = _BODY_CHUNKED
            self._chunked = ChunkedDecoder()
        elif n:
            self._state = _BODY_LENGTH
            self._remaining = n
        else:
            self._state = _DONE
            self._pending_end = True
        has_body = self._state != _DONE
        self._head_method = method == b"HEAD"
        return RequestHead(method, target, headers, version, has_body and expect_continue, form)

    # -- output --------------------------------------------------------------

    def response_head(self, status: int, headers: list[tuple[bytes, bytes]], *, streaming: bool = False) -> bytes:
        """Status line and fields. ``streaming`` (unknown length): chunked on
        HTTP/1.1, close-delimited on HTTP/1.0. Otherwise ``headers`` must carry
        ``content-length`` (the core always sets it)."""
        if self._responding:
            raise LocalProtocolError("a response is already in progress")
        self._responding = True
        self._streaming = streaming
        out = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b""))]
        for name, value in headers:
            out.append(name + b": " + value + b"\r\n")
        if streaming:
            if self._version == b"1.1":
                if not self._head_method:
                    out.append(b"transfer-encoding: chunked\r\n")
            else:
                self._keep_alive = False  # RFC 9112 6.3 item 8: close-delimited
        if self._state != _DONE:
            # Answered before the body was read (an early refusal): we will not
            # read the rest, so the connection cannot carry another request.
            self._must_close = True
        if not self.keep_alive:
            out.append(b"connection: close\r\n")
        elif self._version == b"1.0":
            out.append(b"connection: keep-alive\r\n")
        out.append(b"\r\n")
        return b"".join(out)

    @property
    def chunked_output(self) -> bool:
        """The response in progress is framed chunked (a stream, on HTTP/1.1)."""
        return self._streaming and self._version == b"1.1" and not self._head_method

    @property
    def body_suppressed(self) -> bool:
        """The request was HEAD: the response carries no body (RFC 9110 9.3.2)."""
        return self._head_method

    @property
    def expecting_body(self) -> bool:
        """The request in progress has body bytes still to come."""
        return self._state == _BODY_LENGTH or self._state == _BODY_CHUNKED

    @property
    def buffered(self) -> int:
        """Bytes received and not yet parsed (a pipelined request behind the
        response in progress): the adapter pauses reading past its bound."""
        return len(self._buf)

    def response_data(self, data: bytes) -> bytes:
        """One piece of the body, framed."""
        if not data or self._head_method:
            return b""
        if self._streaming and self._version == b"1.1":
            return encode_chunk(data)
        return data

    def response_end(self) -> bytes:
        """The end of the response. Then check :attr:`keep_alive`: if True and the
        request was fully read, call :meth:`start_next_cycle`."""
        self._responding = False
        if self._streaming and self._version == b"1.1" and not self._head_method:
            self._streaming = False
            return b"0\r\n\r\n"
        self._streaming = False
        return b""

    @property
    def has_buffered(self) -> bool:
        """Bytes of a next (pipelined) request are already buffered."""
        return bool(self._buf)

    @property
    def request_complete(self) -> bool:
        return self._state == _DONE and not self._pending_end

    def start_next_cycle(self) -> None:
        """Ready for the next request on this connection."""
        if self._state != _DONE or self._responding:
            raise LocalProtocolError("the current exchange is not finished")
        self._state = _IDLE
        self._version = b"1.1"
        self._keep_alive = True
        self._head_method = False
