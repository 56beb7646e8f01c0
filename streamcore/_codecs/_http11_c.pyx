# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False, freethreading_compatible=True
"""A strict, bounded, sans-IO HTTP/1.1 server connection (RFC 9112): the compiled twin.

Mirrors ``_http11_py`` (the reference) state for state: the same states, the
same checks in the same order, the same messages and status hints, so both
twins refuse the same request with the same error. Speed comes from scanning
the request head once through a pointer with C character tables (request
line, origin-form target, field lines, Content-Length digits) instead of one
regular expression per line; the rare paths (other target forms, Connection,
Transfer-Encoding, Expect, HTTP/1.0) call the same Python code as the pure
twin (``_http11_common.target_form``, ``framing_for_request``).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE

from .._errors import LocalProtocolError
from .._headers import REASONS as _REASONS
from ..chunked import ChunkedDecodeError, ChunkedDecoder, encode_chunk, framing_for_request
from ._http11_common import (
    _BARE,
    _NAMES,
    _SPECIAL,
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

# States of the request side (the same numbers as _http11_common's).
DEF S_IDLE = 0
DEF S_BODY_LENGTH = 1
DEF S_BODY_CHUNKED = 2
DEF S_DONE = 3
DEF S_ERROR = 4

# Character classes, built once at import.
cdef unsigned char TCHAR[256]     # RFC 9110 5.6.2 token
cdef unsigned char VCHAR[256]     # field-vchar: VCHAR / obs-text (RFC 9110 5.5)
cdef unsigned char PCHAR[256]     # RFC 3986 pchar minus pct-encoded, plus "/" (origin-form path)
cdef unsigned char HEX[256]


cdef void _tables():
    cdef int c
    for c in range(256):
        TCHAR[c] = 0
        VCHAR[c] = 1 if (0x21 <= c <= 0x7e or c >= 0x80) else 0
        PCHAR[c] = 0
        HEX[c] = 1 if (48 <= c <= 57 or 65 <= c <= 70 or 97 <= c <= 102) else 0
    for c in b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
        TCHAR[c] = 1
    for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/":
        PCHAR[c] = 1


_tables()

# One status line per status, made on first use.
cdef dict _STATUS_LINES = {}
cdef bytes _V11 = b"1.1"
cdef bytes _V10 = b"1.0"
cdef bytes _HEAD_METHOD = b"HEAD"
cdef bytes _CRLF = b"\r\n"
cdef bytes _SEP = b": "


cdef bytes _status_line(int status):
    line = _STATUS_LINES.get(status)
    if line is None:
        line = b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b""))
        if len(_STATUS_LINES) < 1000:  # bounded: status is the caller's int
            _STATUS_LINES[status] = line
    return <bytes>line


cdef bint _origin_form(const unsigned char* p, Py_ssize_t n):
    """RFC 9112 3.2.1 origin-form (``_ORIGIN_FORM`` of the reference), ``p[0]`` being ``/``."""
    cdef Py_ssize_t i = 0
    cdef bint query = False
    cdef unsigned char c
    while i < n:
        c = p[i]
        if c == b'%':
            if i + 2 >= n or not HEX[p[i + 1]] or not HEX[p[i + 2]]:
                return False
            i += 3
            continue
        if c == b'?':
            query = True
        elif not PCHAR[c]:
            return False
        i += 1
    return True


cdef class Http11Connection:
    """One server-side HTTP/1.1 connection: ``receive_data`` / ``next_event`` in,
    ``response_*`` out (each returns the bytes to write)."""

    cdef public Py_ssize_t max_head_size
    cdef public Py_ssize_t max_fields
    cdef bytearray _buf
    cdef Py_ssize_t _scanned  # bytes of _buf already searched for the end of the head
    cdef int _state
    cdef Py_ssize_t _remaining
    cdef object _chunked
    cdef bint _eof
    cdef bint _keep_alive
    cdef bytes _version
    cdef bint _streaming
    cdef bint _responding
    cdef bint _must_close
    cdef bint _pending_end  # the body is read; END not yet returned
    cdef bint _head_method  # the request is HEAD: the response has no body

    def __init__(self, *, max_head_size: int = DEFAULT_MAX_HEAD_SIZE, max_fields: int = DEFAULT_MAX_FIELDS) -> None:
        self.max_head_size = max_head_size
        self.max_fields = max_fields
        self._buf = bytearray()
        self._scanned = 0
        self._state = S_IDLE
        self._remaining = 0
        self._chunked = None
        self._eof = False
        self._keep_alive = True
        self._version = _V11
        self._streaming = False
        self._responding = False
        self._must_close = False
        self._pending_end = False
        self._head_method = False

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
        cdef int state = self._state
        cdef bytearray buf
        cdef Py_ssize_t n
        if state == S_IDLE:
            return self._head()
        if state == S_BODY_LENGTH:
            buf = self._buf
            if not buf:
                if self._eof:
                    return self._fail("connection closed in the middle of a request body", 400)
                return NEED_DATA
            n = self._remaining
            if len(buf) <= n:
                data = bytes(buf)
                if len(buf) == n:
                    self._buf = bytearray()  # nothing pipelined: a fresh buffer, like the head's
                else:
                    buf.clear()
            else:
                data = bytes(buf[:n])
                del buf[:n]  # amortised O(1) per byte (h2's frame buffer)
            self._remaining = n - len(data)
            if self._remaining == 0:
                self._state = S_DONE
                self._pending_end = True
            return data if data else self._end()
        if state == S_BODY_CHUNKED:
            dec = self._chunked
            buf = self._buf
            if not buf:
                if self._eof:
                    return self._fail("connection closed in the middle of a chunked body", 400)
                return NEED_DATA
            try:
                data = dec.feed(bytes(buf))
            except ChunkedDecodeError as exc:
                return self._fail(str(exc), exc.status_hint)
            buf.clear()
            if dec.done:
                self._buf = bytearray(dec.unused_data)
                self._state = S_DONE
                self._chunked = None
                if data:
                    self._pending_end = True
                    return data
                return self._end()
            return data if data else NEED_DATA
        if state == S_DONE:
            if self._pending_end:
                return self._end()
            return PAUSED
        raise Http11Error("connection already failed", status_hint=400)

    cdef object _end(self):
        self._pending_end = False
        self._state = S_DONE
        return END

    cdef object _fail(self, str msg, int status):
        self._state = S_ERROR
        raise Http11Error(msg, status_hint=status)

    cdef object _head(self):
        cdef bytearray buf = self._buf
        cdef Py_ssize_t n, end, i, j, k, eol, start, nlines, vstart, vend
        cdef unsigned char minor
        cdef bytes head
        cdef const unsigned char* p
        cdef unsigned char c
        cdef bint lower
        cdef int hosts = 0
        cdef int nlengths = 0
        cdef bint special = False
        cdef unsigned long long clen = 0
        cdef char* q
        # RFC 9112 2.2: ignore any number of CRLFs between requests, however they arrive.
        if buf[:2] == b"\r\n":
            n = 0
            while buf[n:n + 2] == b"\r\n":
                n += 2
            del buf[:n]
            self._scanned = 0
        end = buf.find(b"\r\n\r\n", max(0, self._scanned - 3))
        if end == -1:
            if len(buf) > self.max_head_size:
                return self._fail("request head too large", 431)
            n = len(buf)
            if _BARE.search(buf, max(0, self._scanned - 1), n - 1 if buf.endswith(b"\r") else n) is not None:
                return self._fail("bare LF or CR in the request head (lines must end with CRLF)", 400)
            self._scanned = len(buf)
            if self._eof:
                if not buf:
                    return CLOSED
                return self._fail("connection closed in the middle of a request head", 400)
            return NEED_DATA
        if end + 4 > self.max_head_size:
            return self._fail("request head too large", 431)
        head = bytes(buf[:end])
        if len(buf) == end + 4:
            self._buf = bytearray()  # nothing pipelined: an idle stream keeps no allocation
        else:
            del buf[: end + 4]
        self._scanned = 0
        p = <const unsigned char*>PyBytes_AS_STRING(head)
        n = PyBytes_GET_SIZE(head)
        nlines = head.count(b"\r\n") + 1

        # request-line: method SP target SP "HTTP/1." [01] (RFC 9112 3)
        eol = head.find(b"\r\n")
        if eol < 0:
            eol = n
        i = 0
        while i < eol and TCHAR[p[i]]:
            i += 1
        if i == 0 or i >= eol or p[i] != b' ':
            return self._fail("malformed request line", 400)
        method = PyBytes_FromStringAndSize(<char*>p, i)
        start = i + 1
        j = start
        while j < eol and 0x21 <= p[j] <= 0x7e:
            j += 1
        if j == start or eol - j != 9 or p[j] != b' ' or head[j + 1:j + 8] != b"HTTP/1." or (p[j + 8] != b'0' and p[j + 8] != b'1'):
            return self._fail("malformed request line", 400)
        target = PyBytes_FromStringAndSize(<char*>p + start, j - start)
        minor = p[j + 8]
        if p[start] == b'/':
            form = "origin" if _origin_form(p + start, j - start) else None
        else:
            form = target_form(method, target)
        if form is None:
            return self._fail("malformed request target, or a form its method does not allow", 400)
        if nlines - 1 > self.max_fields:
            return self._fail("too many header fields", 431)

        # field-line = field-name ":" OWS field-value OWS (RFC 9112 5)
        headers = []
        length = None
        names = _NAMES
        i = eol + 2
        while i < n:
            eol = head.find(b"\r\n", i)
            if eol < 0:
                eol = n
            j = i
            lower = True
            while j < eol and TCHAR[p[j]]:
                if 65 <= p[j] <= 90:
                    lower = False
                j += 1
            if j == i or j >= eol or p[j] != b':':
                return self._fail("malformed header field line", 400)
            vstart = j + 1
            while vstart < eol and (p[vstart] == b' ' or p[vstart] == b'\t'):
                vstart += 1
            vend = vstart
            k = vstart
            while k < eol:
                c = p[k]
                if VCHAR[c]:
                    vend = k + 1
                elif c != b' ' and c != b'\t':
                    return self._fail("malformed header field line", 400)
                k += 1
            if lower:
                name = PyBytes_FromStringAndSize(<char*>p + i, j - i)
            else:
                name = PyBytes_FromStringAndSize(NULL, j - i)
                q = PyBytes_AS_STRING(name)
                for k in range(j - i):
                    c = p[i + k]
                    q[k] = c + 32 if 65 <= c <= 90 else c
            name = names.get(name, name)  # one shared object per common name (the core keeps heads of streams)
            value = PyBytes_FromStringAndSize(<char*>p + vstart, vend - vstart)
            headers.append((name, value))
            if name == b"host":
                hosts += 1
            elif name == b"content-length":
                nlengths += 1
                length = value
            elif name in _SPECIAL:
                special = True
            i = eol + 2

        version = _V11 if minor == b'1' else _V10
        self._version = version
        if minor == b'1' and hosts != 1:
            return self._fail("HTTP/1.1 requires exactly one Host", 400)
        expect_continue = False
        fast = not special and minor == b'1' and nlengths <= 1
        if fast and nlengths == 1:
            # ASCII digits only, at most MAX_CONTENT_LENGTH_DIGITS of them (as bytes.isdigit() and len())
            n = PyBytes_GET_SIZE(length)
            if n == 0 or n > MAX_CONTENT_LENGTH_DIGITS:
                fast = False
            else:
                q = PyBytes_AS_STRING(length)
                for k in range(n):
                    c = <unsigned char>q[k]
                    if c < 48 or c > 57:
                        fast = False
                        break
                    clen = clen * 10 + (c - 48)
        if fast:
            self._keep_alive = True
            self._must_close = False
            if clen > 9223372036854775807ULL:
                return self._fail("Content-Length too large", 400)
            chunked = False
            nbody = <object>clen
        else:
            connection = b",".join([v for n_, v in headers if n_ == b"connection"]).lower()
            tokens = {t.strip() for t in connection.split(b",")}
            if minor == b'1':
                self._keep_alive = b"close" not in tokens
            else:
                self._keep_alive = b"keep-alive" in tokens and b"close" not in tokens
            try:
                framing = framing_for_request(headers, http_version=version)
            except ChunkedDecodeError as exc:  # FramingError
                return self._fail(str(exc), exc.status_hint)
            self._must_close = framing.must_close
            chunked = framing.chunked
            nbody = framing.content_length or 0
            expect_continue = b",".join([v for n_, v in headers if n_ == b"expect"]).lower() == b"100-continue"
        if chunked:
            self._state = S_BODY_CHUNKED
            self._chunked = ChunkedDecoder()
        elif nbody:
            self._state = S_BODY_LENGTH
            self._remaining = nbody
        else:
            self._state = S_DONE
            self._pending_end = True
        has_body = self._state != S_DONE
        self._head_method = method == _HEAD_METHOD
        return RequestHead(method, target, headers, version, has_body and expect_continue, form)

    # -- output --------------------------------------------------------------

    def response_head(self, int status, headers, *, bint streaming=False) -> bytes:
        """Status line and fields. ``streaming`` (unknown length): chunked on
        HTTP/1.1, close-delimited on HTTP/1.0. Otherwise ``headers`` must carry
        ``content-length`` (the core always sets it)."""
        if self._responding:
            raise LocalProtocolError("a response is already in progress")
        self._responding = True
        self._streaming = streaming
        out = [_status_line(status)]
        for name, value in headers:
            out.append(name)
            out.append(_SEP)
            out.append(value)
            out.append(_CRLF)
        if streaming:
            if self._version == _V11:
                if not self._head_method:
                    out.append(b"transfer-encoding: chunked\r\n")
            else:
                self._keep_alive = False  # RFC 9112 6.3 item 8: close-delimited
        if self._state != S_DONE:
            # Answered before the body was read (an early refusal): the
            # connection cannot carry another request.
            self._must_close = True
        if not (self._keep_alive and not self._must_close and not self._eof):
            out.append(b"connection: close\r\n")
        elif self._version == _V10:
            out.append(b"connection: keep-alive\r\n")
        out.append(_CRLF)
        return b"".join(out)

    @property
    def chunked_output(self) -> bool:
        """The response in progress is framed chunked (a stream, on HTTP/1.1)."""
        return self._streaming and self._version == _V11 and not self._head_method

    @property
    def body_suppressed(self) -> bool:
        """The request was HEAD: the response carries no body (RFC 9110 9.3.2)."""
        return self._head_method

    @property
    def expecting_body(self) -> bool:
        """The request in progress has body bytes still to come."""
        return self._state == S_BODY_LENGTH or self._state == S_BODY_CHUNKED

    @property
    def buffered(self) -> int:
        """Bytes received and not yet parsed (a pipelined request behind the
        response in progress): the adapter pauses reading past its bound."""
        return len(self._buf)

    def response_data(self, data: bytes) -> bytes:
        """One piece of the body, framed."""
        if not data or self._head_method:
            return b""
        if self._streaming and self._version == _V11:
            return encode_chunk(data)
        return data

    def response_end(self) -> bytes:
        """The end of the response. Then check :attr:`keep_alive`: if True and the
        request was fully read, call :meth:`start_next_cycle`."""
        self._responding = False
        if self._streaming and self._version == _V11 and not self._head_method:
            self._streaming = False
            return b"0\r\n\r\n"
        self._streaming = False
        return b""

    @property
    def has_buffered(self) -> bool:
        """Bytes of a next (pipelined) request are already buffered."""
        return len(self._buf) > 0

    @property
    def request_complete(self) -> bool:
        return self._state == S_DONE and not self._pending_end

    def start_next_cycle(self) -> None:
        """Ready for the next request on this connection."""
        if self._state != S_DONE or self._responding:
            raise LocalProtocolError("the current exchange is not finished")
        self._state = S_IDLE
        self._version = _V11
        self._keep_alive = True
        self._head_method = False
