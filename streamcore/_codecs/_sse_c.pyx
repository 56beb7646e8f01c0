# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False, freethreading_compatible=True
"""Server-sent events codec, compiled twin of ``_sse_py`` (the reference).

Same API, same results and same exception types as ``_sse_py`` on every
input; any difference is a bug in this file. See ``_sse_py`` for the theory
of operation. What differs is only how the work is done:

* ``feed`` reads the caller's buffer in place (``PyObject_GetBuffer``) and
  decodes whole lines straight out of it; only a line split across reads is
  copied, into the one ``bytearray`` that holds the partial tail.
* Terminators are found with ``memchr``; the positions of the next CR and the
  next LF are cached, so each byte is searched at most once per terminator
  byte, whatever the line count (one memchr per line for each byte would be
  quadratic when one of the two bytes never occurs).
* The encoder sizes its output first and writes it into one bytes object.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uint64_t
from libc.string cimport memchr, memcmp, memcpy

from .._errors import LocalProtocolError, SseDecodeError
from ._sse_common import (
    DEFAULT_MAX_EVENT_SIZE,
    DEFAULT_MAX_LINE_SIZE,
    MAX_RETRY,
    SseEventBase,
    check_limit,
)

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "DEFAULT_MAX_LINE_SIZE",
    "MAX_RETRY",
    "SseDecoder",
    "SseEvent",
    "encode_comment",
    "encode_event",
    "encode_event_chunk",
    "encode_priming",
]

cdef const unsigned char* _BOM = b"\xef\xbb\xbf"
cdef const char* _HEX = b"0123456789abcdef"
cdef str _MESSAGE = "message"
cdef str _EMPTY = ""
cdef uint64_t _U64_MAX = 0xFFFFFFFFFFFFFFFF


# freelist: a stream allocates and drops one event per message, so recycling
# the objects skips malloc/free. no_gc: a decoded event only ever holds str,
# int or None, which cannot form a cycle, so GC tracking (and the gen-0
# collections its allocations trigger) is pure cost; measured ~6% of decode
# time for 200 B events. (An event built by hand around a cyclic object would
# leak that cycle; fields are documented as str/int/None.)
@cython.freelist(256)
@cython.no_gc
cdef class SseEvent:
    """One dispatched SSE event (WHATWG 9.2.6, "dispatch the event").

    ``event`` is the type (``"message"`` when the stream sent none), ``data``
    the data with its lines joined by LF, ``id`` the last event ID string in
    force at dispatch (``""`` if none), and ``retry`` the value of a valid
    ``retry`` field seen in this event's block, else ``None``. All text is
    ``str``, decoded as WHATWG UTF-8 (malformed bytes become U+FFFD).
    Instances are immutable, hashable, and compare equal to events of the
    other twin with equal fields.
    """

    # a cdef class with C slots: the decoder fills them directly after a bare
    # tp_new, which costs a fraction of calling a Python-level __init__
    cdef readonly object event
    cdef readonly object data
    cdef readonly object id
    cdef readonly object retry

    def __init__(self, data, *, event="message", id="", retry=None):
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry

    def __eq__(self, other):
        if not isinstance(other, SseEventBase):
            return NotImplemented
        return (
            self.data == other.data
            and self.event == other.event
            and self.id == other.id
            and self.retry == other.retry
        )

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self):
        return hash((self.event, self.data, self.id, self.retry))

    def __repr__(self):
        return (
            f"SseEvent(event={self.event!r}, data={self.data!r}, "
            f"id={self.id!r}, retry={self.retry!r})"
        )

    def __reduce__(self):
        return (_rebuild, (self.data, self.event, self.id, self.retry))


def _rebuild(data, event, id, retry):
    return SseEvent(data, event=event, id=id, retry=retry)


SseEventBase.register(SseEvent)


cdef inline str _text(const char* p, Py_ssize_t n):
    # WHATWG "UTF-8 decode" (Encoding Standard 4.1): CPython's "replace"
    # handler substitutes one U+FFFD per maximal subpart, as WHATWG does; its
    # ASCII fast path makes compact JSON cost about a memcpy.
    return PyUnicode_DecodeUTF8(p, n, "replace")


cdef class SseDecoder:
    """Incremental ``text/event-stream`` decoder (WHATWG HTML 9.2.5-9.2.6).

    ``feed(data)`` returns the events completed by ``data``; ``close()``
    ends the stream (discarding an unfinished event, WHATWG 9.2.6) and returns
    ``[]``. ``last_event_id`` is the last event ID string and ``retry`` the
    reconnection time in milliseconds (``None`` until the stream sets one).

    A line longer than ``max_line_size`` bytes or an event whose data exceeds
    ``max_event_size`` bytes raises :class:`~streamcore.SseDecodeError`;
    the decoder is then broken, and every later call raises again.
    """

    cdef readonly Py_ssize_t max_line_size
    cdef readonly Py_ssize_t max_event_size
    cdef readonly object last_event_id
    cdef readonly object retry
    # the unterminated tail of the input: never contains CR or LF
    cdef bytearray _buf
    # how many bytes of a leading BOM have matched so far; -1 once decided
    cdef int _bom
    # the previous read ended in CR: drop one LF if it comes next (WHATWG 9.2.5)
    cdef bint _skip_lf
    # data lines of the pending event: None (no data line yet), one str (the
    # common case, no list allocated), or a list of str
    cdef object _data
    # bytes in the data buffer, counting one LF per data line
    cdef Py_ssize_t _data_size
    cdef object _type
    # the last-event-ID buffer (WHATWG 9.2.6); persists across events
    cdef object _id
    cdef object _block_retry
    cdef object _error

    def __init__(self, *, max_line_size=DEFAULT_MAX_LINE_SIZE,
                 max_event_size=DEFAULT_MAX_EVENT_SIZE):
        self.max_line_size = check_limit("max_line_size", max_line_size)
        self.max_event_size = check_limit("max_event_size", max_event_size)
        self.last_event_id = _EMPTY
        self.retry = None
        self._buf = bytearray()
        self._bom = 0
        self._skip_lf = False
        self._data = None
        self._data_size = 0
        self._type = _EMPTY
        self._id = _EMPTY
        self._block_retry = None
        self._error = None

    def feed(self, data):
        """Decode the next bytes of the stream; return the events they complete."""
        cdef Py_buffer view
        if self._error is not None:
            raise SseDecodeError(f"decoder failed earlier: {self._error}")
        try:
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        except BufferError as exc:
            # the pure twin's memoryview.cast raises TypeError here
            raise TypeError(str(exc)) from None
        try:
            return self._feed(<const unsigned char*>view.buf, view.len)
        except SseDecodeError as exc:
            self._error = exc
            raise
        finally:
            PyBuffer_Release(&view)

    def close(self):
        """End of stream: discard a partial line and an undispatched event (WHATWG 9.2.6)."""
        if self._error is not None:
            raise SseDecodeError(f"decoder failed earlier: {self._error}")
        PyByteArray_Resize(self._buf, 0)
        self._data = None
        self._data_size = 0
        self._type = _EMPTY
        self._block_retry = None
        self._skip_lf = False
        return []

    cdef int _append(self, const unsigned char* p, Py_ssize_t n) except -1:
        # grow the partial-line buffer; callers have checked the limit
        cdef Py_ssize_t old = PyByteArray_GET_SIZE(self._buf)
        if n:
            PyByteArray_Resize(self._buf, old + n)
            memcpy(PyByteArray_AS_STRING(self._buf) + old, p, <size_t>n)
        return 0

    cdef list _feed(self, const unsigned char* p, Py_ssize_t n):
        cdef Py_ssize_t pos = 0, eol, next_cr = -1, next_lf = -1, blen, total, start, ln
        cdef Py_ssize_t max_line = self.max_line_size
        cdef int k
        cdef const void* q
        cdef list events
        # bom: WHATWG UTF-8 decode strips one BOM at offset 0 of the stream only
        if self._bom >= 0:
            k = self._bom
            while pos < n and k < 3:
                if p[pos] != _BOM[k]:
                    # not a BOM after all: the bytes matched so far are content
                    # (EF/BB, never a terminator) and start the partial line
                    self._append(_BOM, k)
                    k = -1
                    break
                k += 1
                pos += 1
            if k == 3:
                k = -1
            self._bom = k
            if k >= 0:
                return []
        events = []
        if self._skip_lf and pos < n:
            # the CR ending the previous read was half of a CRLF
            if p[pos] == 10:
                pos += 1
            self._skip_lf = False
        while True:
            # refresh a cached terminator position only once we have passed
            # it; "not found" caches n, which is never passed (linear scan)
            if next_lf < pos:
                q = memchr(p + pos, 10, <size_t>(n - pos))
                next_lf = (<const unsigned char*>q - p) if q != NULL else n
            if next_cr < pos:
                q = memchr(p + pos, 13, <size_t>(n - pos))
                next_cr = (<const unsigned char*>q - p) if q != NULL else n
            eol = next_lf if next_lf < next_cr else next_cr
            blen = PyByteArray_GET_SIZE(self._buf)
            if eol == n:
                # tail: check the limit before growing the buffer
                if blen + (n - pos) > max_line:
                    raise SseDecodeError(f"SSE line longer than {max_line} bytes")
                self._append(p + pos, n - pos)
                return events
            if blen:
                total = blen + (eol - pos)
                if total > max_line:
                    raise SseDecodeError(f"SSE line longer than {max_line} bytes")
                self._append(p + pos, eol - pos)
            elif eol - pos > max_line:
                raise SseDecodeError(f"SSE line longer than {max_line} bytes")
            start = pos
            ln = eol - pos
            if p[eol] == 13:
                if eol + 1 < n:
                    if p[eol + 1] == 10:
                        eol += 1
                else:
                    # CR ends the line now; a LF in the next read is dropped
                    self._skip_lf = True
            pos = eol + 1
            if blen:
                # the line was split across reads: interpret it from the
                # buffer (bounded by max_line_size), then empty the buffer
                self._line(<const unsigned char*>PyByteArray_AS_STRING(self._buf),
                           blen + ln, events)
                PyByteArray_Resize(self._buf, 0)
            else:
                # fast path: interpret the line in place in the caller's buffer
                self._line(p + start, ln, events)

    cdef int _line(self, const unsigned char* s, Py_ssize_t n, list events) except -1:
        # WHATWG 9.2.6: interpret one complete line
        cdef const unsigned char* v
        cdef const void* c
        cdef Py_ssize_t nlen, vlen, size, i
        cdef uint64_t r, d
        cdef bint overflow
        cdef object text
        if n == 0:
            self._dispatch(events)
            return 0
        if s[0] == 58:  # ":" comment
            return 0
        # fast path: "data:" is nearly every line of an MCP stream; matching
        # the prefix directly skips the memchr for the colon
        if n >= 5 and memcmp(s, b"data:", 5) == 0:
            c = s + 4
        else:
            c = memchr(s, 58, <size_t>n)
        if c != NULL:
            nlen = <const unsigned char*>c - s
            v = s + nlen + 1
            vlen = n - nlen - 1
            if vlen and v[0] == 32:
                v += 1
                vlen -= 1
        else:
            nlen = n
            v = s + n
            vlen = 0
        # field names compared by length, then memcmp (no str built)
        if nlen == 4 and memcmp(s, b"data", 4) == 0:
            size = self._data_size + vlen + 1
            # the data buffer minus its final LF must fit the limit
            if size - 1 > self.max_event_size:
                raise SseDecodeError(f"SSE event data larger than {self.max_event_size} bytes")
            self._data_size = size
            text = _text(<const char*>v, vlen)
            if self._data is None:
                self._data = text
            elif type(self._data) is list:
                (<list>self._data).append(text)
            else:
                self._data = [self._data, text]
        elif nlen == 2 and s[0] == 105 and s[1] == 100:  # "id"
            if vlen == 0 or memchr(v, 0, <size_t>vlen) == NULL:
                self._id = _text(<const char*>v, vlen)
        elif nlen == 5 and memcmp(s, b"event", 5) == 0:
            self._type = _text(<const char*>v, vlen)
        elif nlen == 5 and memcmp(s, b"retry", 5) == 0:
            # ASCII digits only; empty is ignored (AMB-06); overflow ignored
            if vlen == 0:
                return 0
            r = 0
            overflow = False
            for i in range(vlen):
                if v[i] < 48 or v[i] > 57:
                    return 0
                d = v[i] - 48
                if not overflow:
                    if r > (_U64_MAX - d) // 10:
                        overflow = True
                    else:
                        r = r * 10 + d
            if not overflow:
                self.retry = r
                self._block_retry = self.retry
        # any other field name is ignored
        return 0

    cdef int _dispatch(self, list events) except -1:
        # WHATWG 9.2.6 "dispatch the event"
        cdef SseEvent ev
        cdef object data = self._data
        self.last_event_id = self._id
        if data is not None:
            if type(data) is list:
                data = "\n".join(<list>data)
            # bare tp_new, then fill the C slots: no __init__ call
            ev = SseEvent.__new__(SseEvent)
            ev.data = data
            ev.event = self._type if len(<str>self._type) else _MESSAGE
            ev.id = self._id
            ev.retry = self._block_retry
            events.append(ev)
            self._data = None
        self._data_size = 0
        self._type = _EMPTY
        self._block_retry = None
        return 0


# -- encoder -------------------------------------------------------------------


cdef object _field(object value, str what, const char** p, Py_ssize_t* n):
    """Point ``p``/``n`` at the UTF-8 bytes of ``value``; return their owner.

    A str yields its cached UTF-8 form (for ASCII, the str's own storage) so
    no bytes object is made; bytearray and memoryview are copied to bytes,
    as the pure twin does.
    """
    if isinstance(value, str):
        try:
            p[0] = PyUnicode_AsUTF8AndSize(value, n)
        except UnicodeEncodeError:
            raise LocalProtocolError(f"SSE {what} is not encodable as UTF-8") from None
        return value
    if isinstance(value, bytes):
        p[0] = PyBytes_AS_STRING(value)
        n[0] = PyBytes_GET_SIZE(value)
        return value
    if isinstance(value, (bytearray, memoryview)):
        value = bytes(value)
        p[0] = PyBytes_AS_STRING(value)
        n[0] = PyBytes_GET_SIZE(value)
        return value
    raise LocalProtocolError(f"SSE {what} must be str or bytes, not {type(value).__name__}")


cdef object _single_line(object value, str what, bint nul, const char** p, Py_ssize_t* n):
    cdef object owner = _field(value, what, p, n)
    if n[0] and (memchr(p[0], 10, <size_t>n[0]) != NULL
                 or memchr(p[0], 13, <size_t>n[0]) != NULL
                 or (nul and memchr(p[0], 0, <size_t>n[0]) != NULL)):
        bad = "CR, LF or NUL" if nul else "CR or LF"
        raise LocalProtocolError(
            f"SSE {what} must not contain {bad}: {PyBytes_FromStringAndSize(p[0], n[0])!r}")
    return owner


cdef Py_ssize_t _data_lines(const char* p, Py_ssize_t n, char* out):
    """Size of the ``data:`` lines for ``p[:n]``; also write them if ``out``.

    spec 3.2: one ``data: `` line per CR, LF or CRLF-separated line; always
    ``"data: "`` + value, so a value starting with a space keeps it.
    """
    cdef Py_ssize_t pos = 0, eol, next_cr = -1, next_lf = -1, size = 0, ln
    cdef const void* q
    while True:
        # cached terminator positions, as in SseDecoder._feed (linear)
        if next_lf < pos:
            q = memchr(p + pos, 10, <size_t>(n - pos))
            next_lf = (<const char*>q - p) if q != NULL else n
        if next_cr < pos:
            q = memchr(p + pos, 13, <size_t>(n - pos))
            next_cr = (<const char*>q - p) if q != NULL else n
        eol = next_lf if next_lf < next_cr else next_cr
        ln = eol - pos
        if out != NULL:
            memcpy(out + size, b"data: ", 6)
            memcpy(out + size + 6, p + pos, <size_t>ln)
            out[size + 6 + ln] = 10
        size += 7 + ln
        if eol == n:
            return size
        if p[eol] == 13 and eol + 1 < n and p[eol + 1] == 10:
            eol += 1
        pos = eol + 1


cdef inline int _u64_digits(uint64_t v, char* tmp):
    # decimal digits of v, most significant first, into tmp[0:20]; returns count
    cdef int k = 0, i
    cdef char c
    while True:
        tmp[k] = <char>(48 + v % 10)
        k += 1
        v //= 10
        if v == 0:
            break
    for i in range(k // 2):
        c = tmp[i]
        tmp[i] = tmp[k - 1 - i]
        tmp[k - 1 - i] = c
    return k


cdef bytes _encode(object data, object event, object id, object retry, bint chunk):
    cdef const char* ep = NULL
    cdef const char* ip = NULL
    cdef const char* dp = NULL
    cdef Py_ssize_t en = 0, inn = 0, dn = 0, size = 0, body, hexn, i
    cdef bint has_event = False
    cdef char rbuf[24]
    cdef int rn = 0
    cdef uint64_t rv, t
    cdef object eo = None, io = None, do = None
    cdef bytes out
    cdef char* w
    # size pass: validate each field (same order as the pure twin) and add up
    if event is not None:
        eo = _single_line(event, "event type", True, &ep, &en)
        if en and not (en == 7 and memcmp(ep, b"message", 7) == 0):
            has_event = True
            size += 8 + en  # "event: " + value + LF
    if id is not None:
        io = _single_line(id, "id", True, &ip, &inn)
        size += 5 + inn  # "id: " + value + LF
    if retry is not None:
        # spec 3.2: non-negative decimal ASCII digits only (bool is not a number here)
        if type(retry) is not int or retry < 0 or retry > MAX_RETRY:
            raise LocalProtocolError(f"SSE retry must be an int in [0, 2**64-1], got {retry!r}")
        rv = retry
        rn = _u64_digits(rv, rbuf)
        size += 8 + rn  # "retry: " + digits + LF
    if data is not None:
        do = _field(data, "data", &dp, &dn)
        size += _data_lines(dp, dn, NULL)
    size += 1  # the blank line that dispatches
    body = size
    hexn = 0
    if chunk:
        # RFC 9112 7.1: chunk-size in hex, CRLF, data, CRLF
        t = <uint64_t>body
        while t:
            hexn += 1
            t >>= 4
        size += hexn + 4
    # one allocation, then write in place (the bytes is not shared yet)
    out = PyBytes_FromStringAndSize(NULL, size)
    w = PyBytes_AS_STRING(out)
    if chunk:
        t = <uint64_t>body
        for i in range(hexn - 1, -1, -1):
            w[i] = _HEX[t & 15]
            t >>= 4
        w[hexn] = 13
        w[hexn + 1] = 10
        w += hexn + 2
    if has_event:
        memcpy(w, b"event: ", 7)
        memcpy(w + 7, ep, <size_t>en)
        w[7 + en] = 10
        w += 8 + en
    if io is not None:
        memcpy(w, b"id: ", 4)
        memcpy(w + 4, ip, <size_t>inn)
        w[4 + inn] = 10
        w += 5 + inn
    if rn:
        memcpy(w, b"retry: ", 7)
        memcpy(w + 7, rbuf, <size_t>rn)
        w[7 + rn] = 10
        w += 8 + rn
    if do is not None:
        w += _data_lines(dp, dn, w)
    w[0] = 10
    if chunk:
        w[1] = 13
        w[2] = 10
    return out


def encode_event(data, *, event=None, id=None, retry=None):
    """One SSE event as bytes, ending with the blank line that dispatches it.

    ``data`` (str, or bytes taken to be UTF-8 already) is split at every CR,
    LF and CRLF into ``data:`` lines; ``None`` writes no data line, so the
    block only sets the id and/or retry and dispatches nothing. ``event`` is
    omitted when ``None``, ``""`` or ``"message"``. Fields come in the order
    event, id, retry, data. Raises :class:`~streamcore.LocalProtocolError` for
    an ``event`` or ``id`` containing CR, LF or NUL, or a bad ``retry``.
    """
    return _encode(data, event, id, retry, False)


def encode_event_chunk(data, *, event=None, id=None, retry=None):
    """:func:`encode_event` framed as one HTTP/1.1 chunk (RFC 9112 7.1).

    Exactly ``b"%x\\r\\n" % len(ev) + ev + b"\\r\\n"``; never empty, so it can
    never be mistaken for the last-chunk. Built in one allocation.
    """
    return _encode(data, event, id, retry, True)


def encode_comment(text=""):
    """A comment line (``b":\\n"``, or ``b": text\\n"``), e.g. a keep-alive.

    Raises :class:`~streamcore.LocalProtocolError` if ``text`` contains CR or LF.
    """
    cdef const char* p = NULL
    cdef Py_ssize_t n = 0
    owner = _single_line(text, "comment", False, &p, &n)
    if n == 0:
        return b":\n"
    return b": " + PyBytes_FromStringAndSize(p, n) + b"\n"


def encode_priming(id, *, retry=None):
    """The MCP priming event (SRV-SSE-08): an ``id`` and empty data.

    ``id`` must be non-empty. A WHATWG client dispatches it as a ``message``
    with data ``""``, which MCP clients skip (CLI-SSE-04).
    """
    cdef const char* p = NULL
    cdef Py_ssize_t n = 0
    if id is None:
        raise LocalProtocolError("SSE priming event needs a non-empty id")
    owner = _single_line(id, "id", True, &p, &n)
    if n == 0:
        raise LocalProtocolError("SSE priming event needs a non-empty id")
    return _encode("", None, id, retry, False)
