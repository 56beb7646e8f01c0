"""A strict, bounded, sans-IO HTTP/1.1 server connection (RFC 9112): the pure twin.

This is the reference implementation (the specification of the compiled twin
``_http11_c``); the policy it applies is described in ``_http11_common``. The
raw path under the asyncio adapter: it parses request heads and bodies
(Content-Length or chunked, with :mod:`streamcore.chunked`) and frames
responses (Content-Length, or chunked for SSE streams). ``h11`` remains the
reference both twins are tested against (``tests/test_http11.py``).
"""

from __future__ import annotations

from .._errors import LocalProtocolError
from .._headers import REASONS as _REASONS
from ..chunked import ChunkedDecodeError, ChunkedDecoder, encode_chunk, framing_for_request
from ._http11_common import (
    _BARE,
    _DONE,
    _ERROR,
    _FIELD,
    _IDLE,
    _MAX_CONTENT_LENGTH,
    _NAMES,
    _REQUEST_LINE,
    _SPECIAL,
    _BODY_CHUNKED,
    _BODY_LENGTH,
    CLOSED,
    DEFAULT_MAX_FIELDS,
    DEFAULT_MAX_HEAD_SIZE,
    END,
    MAX_CONTENT_LENGTH_DIGITS,
    NEED_DATA,
    PAUSED,
    Http11Error,
    RequestHead,
    target_form,
)

__all__ = [
    "Http11Error",
    "Http11Connection",
    "RequestHead",
    "NEED_DATA",
    "PAUSED",
    "END",
    "CLOSED",
    "DEFAULT_MAX_HEAD_SIZE",
    "DEFAULT_MAX_FIELDS",
    "MAX_CONTENT_LENGTH_DIGITS",
    "target_form",
]


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
            name = _NAMES.get(name, name)  # one shared object per common name (the core keeps heads of streams)
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
