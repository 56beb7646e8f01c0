# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False, freethreading_compatible=True
"""Chunked transfer coding, compiled twin (RFC 9112 section 7.1).

Mirrors ``_chunked_py`` (the reference) state for state: same states, same
checks in the same order, same messages, so both fail on the same byte with
the same exception. Speed comes from reading the caller's buffer through a
pointer, copying chunk data once (or not at all), and C tables for the
character classes.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject
from cpython.ref cimport Py_XDECREF
from libc.string cimport memcpy

from .._errors import ChunkedDecodeError
from ._chunked_common import (
    DEFAULT_MAX_CHUNK_EXT_SIZE,
    DEFAULT_MAX_CHUNK_SIZE,
    DEFAULT_MAX_TRAILER_SIZE,
    FORBIDDEN_TRAILERS,
    BodyFraming,
    FramingError,
    IncompleteBodyError,
    check_limit,
    encode_last_chunk,
    framing_for_request,
)
# The error texts live in the reference twin, so both say the same thing.
from ._chunked_py import (
    E_BAD_SIZE,
    E_BARE_CR_SIZE,
    E_BARE_CR_TRAILER,
    E_BARE_LF_SIZE,
    E_BARE_LF_TRAILER,
    E_DATA_CRLF,
    E_EMPTY_SIZE,
    E_EXT,
    E_EXT_LIMIT,
    E_FAILED,
    E_INCOMPLETE,
    E_OBS_FOLD,
    E_TOO_BIG,
    E_TRAILER,
    E_TRAILER_LIMIT,
    E_TRAILER_VALUE,
    E_TRAILING_WS,
)

__all__ = [
    "ChunkedDecoder",
    "encode_chunk",
    "encode_last_chunk",
    "framing_for_request",
    "BodyFraming",
    "ChunkedDecodeError",
    "IncompleteBodyError",
    "FramingError",
    "FORBIDDEN_TRAILERS",
    "DEFAULT_MAX_CHUNK_EXT_SIZE",
    "DEFAULT_MAX_TRAILER_SIZE",
    "DEFAULT_MAX_CHUNK_SIZE",
]

cdef extern from "Python.h":
    # Raw-pointer variants: the output object is managed by hand so that it can
    # be shrunk in place with _PyBytes_Resize (needs refcount 1, no Cython temp).
    PyObject* _bytes_new "PyBytes_FromStringAndSize"(const char* v, Py_ssize_t n)
    char* _bytes_ptr "PyBytes_AS_STRING"(PyObject* o)
    int _bytes_resize "_PyBytes_Resize"(PyObject** o, Py_ssize_t n) except -1


# Same numbering as _chunked_py.
cdef enum:
    SIZE_START = 0
    SIZE = 1
    BWS = 2
    EXT_NAME_START = 3
    EXT_NAME = 4
    EXT_NAME_BWS = 5
    EXT_VAL_START = 6
    EXT_TOKEN_VAL = 7
    EXT_QUOTED = 8
    EXT_QPAIR = 9
    EXT_VAL_END = 10
    SIZE_LF = 11
    DATA = 12
    DATA_CR = 13
    DATA_LF = 14
    TR_LINE_START = 15
    TR_NAME = 16
    TR_VALUE = 17
    TR_LF = 18
    END_LF = 19
    DONE = 20

cdef enum:
    C_SP = 0x20
    C_HTAB = 0x09
    C_CR = 0x0D
    C_LF = 0x0A

# Character classes as 256-entry C tables: one load per byte instead of range tests.
cdef signed char HEX[256]
cdef unsigned char TCHAR[256]
cdef unsigned char QDTEXT[256]
cdef unsigned char QPAIR[256]


cdef void _init_tables() noexcept:
    cdef int c
    for c in range(256):
        HEX[c] = -1
        TCHAR[c] = 0
        QDTEXT[c] = c == C_HTAB or c == C_SP or c == 0x21 or (0x23 <= c <= 0x5B) or (0x5D <= c <= 0x7E) or c >= 0x80
        QPAIR[c] = c == C_HTAB or (0x20 <= c <= 0x7E) or c >= 0x80
    for c in range(10):
        HEX[0x30 + c] = c
    for c in range(6):
        HEX[0x61 + c] = 10 + c
        HEX[0x41 + c] = 10 + c
    for c in b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
        TCHAR[c] = 1


_init_tables()

cdef bytes EMPTY = b""
cdef bytes HEXDIGITS = b"0123456789abcdef"
cdef const char* HEXP = HEXDIGITS


cdef inline int _emit(_Out* o, const unsigned char* ptr, Py_ssize_t k, const unsigned char* end) except -1:
    # First span: just remember it. Second span: allocate the worst case (what
    # is already out plus everything left in the input) once, copy both.
    if o.obj == NULL:
        if o.first == NULL:
            o.first = ptr
            o.first_len = k
            return 0
        o.cap = o.first_len + (end - ptr)
        o.obj = _bytes_new(NULL, o.cap)
        if o.obj == NULL:
            raise MemoryError()
        o.buf = _bytes_ptr(o.obj)
        memcpy(o.buf, o.first, o.first_len)
        o.len = o.first_len
    memcpy(o.buf + o.len, ptr, k)
    o.len += k
    return 0


cdef inline int _ba_push(bytearray ba, unsigned char c) except -1:
    # bytearray growth is amortised by CPython's over-allocation; trailers only.
    cdef Py_ssize_t n = PyByteArray_GET_SIZE(ba)
    PyByteArray_Resize(ba, n + 1)
    PyByteArray_AS_STRING(ba)[n] = <char>c
    return 0


cdef class ChunkedDecoder:
    """Streaming decoder of a chunked message body (RFC 9112 section 7.1).

    See ``streamcore._codecs._chunked_py.ChunkedDecoder``, the reference.
    """

    def __init__(
        self,
        *,
        max_chunk_ext_size=DEFAULT_MAX_CHUNK_EXT_SIZE,
        max_trailer_size=DEFAULT_MAX_TRAILER_SIZE,
        max_chunk_size=DEFAULT_MAX_CHUNK_SIZE,
        lenient=False,
    ):
        self.max_chunk_ext_size = check_limit("max_chunk_ext_size", max_chunk_ext_size, 2**62)
        self.max_trailer_size = check_limit("max_trailer_size", max_trailer_size, 2**62)
        self.max_chunk_size = check_limit("max_chunk_size", max_chunk_size, DEFAULT_MAX_CHUNK_SIZE)
        self.lenient = bool(lenient)
        self.done = False
        self.trailers = []
        self.unused_data = EMPTY
        self._state = SIZE_START
        self._size = 0
        self._remaining = 0
        self._ext_count = 0
        self._trailer_count = 0
        self._name = bytearray()
        self._value = bytearray()
        self._error = None

    cdef object _fail(self, str msg, int status_hint=400):
        err = ChunkedDecodeError(msg, status_hint=status_hint)
        self._error = err
        return err

    def close(self):
        """Signal EOF: raise IncompleteBodyError unless the body ended (RFC 9112 8)."""
        if self._error is not None:
            raise type(self._error)(E_FAILED, status_hint=self._error.status_hint)
        if not self.done:
            err = IncompleteBodyError(E_INCOMPLETE, status_hint=400)
            self._error = err
            raise err

    def feed(self, data):
        """Decode ``data``; return the body bytes it contained. ``b""`` means EOF."""
        cdef Py_buffer view
        if type(data) is bytes:
            # exact bytes: read it in place, no buffer-protocol round trip
            if self._error is not None:
                raise type(self._error)(E_FAILED, status_hint=self._error.status_hint)
            return self._feed(<const unsigned char*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), data)
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            if self._error is not None:
                raise type(self._error)(E_FAILED, status_hint=self._error.status_hint)
            return self._feed(<const unsigned char*>view.buf, view.len, None)
        finally:
            PyBuffer_Release(&view)

    cdef object _feed(self, const unsigned char* p, Py_ssize_t n, object src):
        cdef _Out o
        if n == 0:
            self.close()
            return EMPTY
        if self.done:
            self.unused_data += PyBytes_FromStringAndSize(<const char*>p, n)
            return EMPTY
        o.obj = NULL
        o.buf = NULL
        o.len = 0
        o.cap = 0
        o.first = NULL
        o.first_len = 0
        try:
            self._run(p, n, &o)
        except BaseException:
            Py_XDECREF(o.obj)
            raise
        if o.obj != NULL:
            if o.len != o.cap:
                _bytes_resize(&o.obj, o.len)  # shrink once; frees and NULLs on failure
            res = <object>o.obj
            Py_XDECREF(o.obj)
            return res
        if o.first == NULL:
            return EMPTY
        if o.first == p and o.first_len == n and src is not None:
            return src  # the whole input was chunk data: hand it back, zero copies
        return PyBytes_FromStringAndSize(<const char*>o.first, o.first_len)

    cdef int _run(self, const unsigned char* p, Py_ssize_t n, _Out* o) except -1:
        cdef const unsigned char* end = p + n
        cdef Py_ssize_t i = 0
        cdef Py_ssize_t take
        cdef int st = self._state
        cdef int d
        cdef unsigned char c
        cdef unsigned long long maxsize = self.max_chunk_size
        while i < n:
            if st == DATA:
                # chunk data: copy straight to the output, never buffer it
                take = n - i
                if <unsigned long long>take > self._remaining:
                    take = <Py_ssize_t>self._remaining
                _emit(o, p + i, take, end)
                i += take
                self._remaining -= take
                if self._remaining == 0:
                    # RFC 9112 7.1: CRLF after the data, in every mode; the common
                    # case (both bytes here) is checked in one go.
                    if i + 1 < n and p[i] == C_CR and p[i + 1] == C_LF:
                        i += 2
                        st = SIZE_START
                    else:
                        st = DATA_CR
                continue
            c = p[i]
            i += 1
            if st == SIZE_START or st == SIZE:
                d = HEX[c]
                if d >= 0:
                    if self._size == 0:
                        if d == 0:
                            if st == SIZE:
                                # extra leading zeros count against the line budget
                                self._ext_count += 1
                                if self._ext_count > self.max_chunk_ext_size:
                                    raise self._fail(E_EXT_LIMIT)
                            st = SIZE
                            continue
                    elif self._size > (maxsize >> 4):
                        # size * 16 would exceed the maximum: refuse before
                        # growing, so the value never wraps (RFC 9112 7.1)
                        raise self._fail(E_TOO_BIG, 413)
                    st = SIZE
                    self._size = self._size * 16 + <unsigned long long>d
                    if self._size > maxsize:
                        raise self._fail(E_TOO_BIG, 413)
                elif st == SIZE_START:
                    raise self._fail(E_EMPTY_SIZE if (c == C_CR or c == C_LF) else E_BAD_SIZE)
                else:
                    st = self._size_line_char(c, SIZE)
            elif st == DATA_CR:
                if c != C_CR:
                    raise self._fail(E_DATA_CRLF)
                st = DATA_LF
            elif st == DATA_LF:
                if c != C_LF:
                    raise self._fail(E_DATA_CRLF)
                st = SIZE_START
            elif st <= EXT_VAL_END:
                st = self._size_line_char(c, st)
            elif st == SIZE_LF:
                if c != C_LF:
                    raise self._fail(E_BARE_CR_SIZE)
                st = self._end_size_line()
            elif st == TR_LINE_START:
                if c == C_CR:
                    st = END_LF
                elif c == C_LF:
                    if not self.lenient:
                        raise self._fail(E_BARE_LF_TRAILER)
                    st = DONE
                elif c == C_SP or c == C_HTAB:
                    raise self._fail(E_OBS_FOLD)
                elif TCHAR[c]:
                    self._count_trailer()
                    _ba_push(self._name, c)
                    st = TR_NAME
                else:
                    raise self._fail(E_TRAILER)
            elif st == TR_NAME:
                self._count_trailer()
                if TCHAR[c]:
                    _ba_push(self._name, c)
                elif c == 0x3A:  # ":"
                    st = TR_VALUE
                else:
                    raise self._fail(E_TRAILER)
            elif st == TR_VALUE:
                self._count_trailer()
                if c == C_CR:
                    st = TR_LF
                elif c == C_LF:
                    if not self.lenient:
                        raise self._fail(E_BARE_LF_TRAILER)
                    self._end_trailer_line()
                    st = TR_LINE_START
                elif c == 0:
                    raise self._fail(E_TRAILER_VALUE)
                else:
                    _ba_push(self._value, c)
            elif st == TR_LF:
                self._count_trailer()
                if c != C_LF:
                    raise self._fail(E_BARE_CR_TRAILER)
                self._end_trailer_line()
                st = TR_LINE_START
            else:  # END_LF
                if c != C_LF:
                    raise self._fail(E_BARE_CR_TRAILER)
                st = DONE
            if st == DONE:
                self.done = True
                # spec 4.3: bytes after the final CRLF belong to the next message
                self.unused_data = PyBytes_FromStringAndSize(<const char*>(p + i), n - i)
                break
        self._state = st
        return 0

    cdef int _size_line_char(self, unsigned char c, int st) except -1:
        # One byte of a size line after the first non-digit (see the py twin).
        cdef bint ws
        if c == C_CR or c == C_LF:
            if st == SIZE or st == EXT_NAME or st == EXT_TOKEN_VAL or st == EXT_VAL_END:
                pass
            elif st == BWS or st == EXT_NAME_BWS:
                if not self.lenient:
                    raise self._fail(E_TRAILING_WS)
            else:  # unterminated quoted-string, or an empty name or value
                raise self._fail(E_EXT)
            if c == C_CR:
                return SIZE_LF
            if not self.lenient:
                raise self._fail(E_BARE_LF_SIZE)
            return self._end_size_line()
        self._ext_count += 1
        if self._ext_count > self.max_chunk_ext_size:
            raise self._fail(E_EXT_LIMIT)
        ws = c == C_SP or c == C_HTAB
        if st == SIZE:
            if c == 0x3B:  # ";"
                return EXT_NAME_START
            if ws:
                return BWS
            raise self._fail(E_BAD_SIZE)
        if st == BWS or st == EXT_VAL_END:
            if c == 0x3B:
                return EXT_NAME_START
            if ws:
                return BWS
            raise self._fail(E_EXT)
        if st == EXT_NAME_START:
            if TCHAR[c]:
                return EXT_NAME
            if ws:
                return st
            raise self._fail(E_EXT)
        if st == EXT_NAME or st == EXT_NAME_BWS:
            if st == EXT_NAME and TCHAR[c]:
                return st
            if c == 0x3D:  # "="
                return EXT_VAL_START
            if c == 0x3B:
                return EXT_NAME_START
            if ws:
                return EXT_NAME_BWS
            raise self._fail(E_EXT)
        if st == EXT_VAL_START:
            if TCHAR[c]:
                return EXT_TOKEN_VAL
            if c == 0x22:  # DQUOTE
                return EXT_QUOTED
            if ws:
                return st
            raise self._fail(E_EXT)
        if st == EXT_TOKEN_VAL:
            if TCHAR[c]:
                return st
            if c == 0x3B:
                return EXT_NAME_START
            if ws:
                return BWS
            raise self._fail(E_EXT)
        if st == EXT_QUOTED:
            if c == 0x22:
                return EXT_VAL_END
            if c == 0x5C:  # backslash
                return EXT_QPAIR
            if QDTEXT[c]:
                return st
            raise self._fail(E_EXT)
        # EXT_QPAIR
        if QPAIR[c]:
            return EXT_QUOTED
        raise self._fail(E_EXT)

    cdef int _end_size_line(self) noexcept:
        cdef unsigned long long size = self._size
        self._size = 0
        self._ext_count = 0
        if size == 0:
            return TR_LINE_START
        self._remaining = size
        return DATA

    cdef int _count_trailer(self) except -1:
        self._trailer_count += 1
        if self._trailer_count > self.max_trailer_size:
            raise self._fail(E_TRAILER_LIMIT, 431)
        return 0

    cdef int _end_trailer_line(self) except -1:
        name = bytes(self._name).lower()
        value = bytes(self._value).strip(b" \t")
        PyByteArray_Resize(self._name, 0)
        PyByteArray_Resize(self._value, 0)
        # RFC 9110 6.5.1: never merged into the headers; forbidden fields dropped
        if name not in FORBIDDEN_TRAILERS:
            self.trailers.append((name, value))
        return 0


def encode_chunk(data):
    """One chunk: hex size, CRLF, ``data``, CRLF. Empty data gives ``b""``.

    An empty write must never produce ``0\\r\\n\\r\\n``, which would end the
    body (RFC 9112 section 7.1, spec 4.4).
    """
    cdef Py_buffer view
    if type(data) is bytes:
        return _encode_chunk(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        return _encode_chunk(<const char*>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)


cdef object _encode_chunk(const char* src, Py_ssize_t n):
    # One allocation: size the bytes object exactly, then write hex digits,
    # CRLF, the payload (memcpy) and CRLF into it (spec 4.4).
    cdef int k = 0
    cdef size_t v = <size_t>n
    cdef char* w
    cdef int j
    if n == 0:
        return EMPTY
    while v:
        k += 1
        v >>= 4
    out = PyBytes_FromStringAndSize(NULL, k + n + 4)
    w = PyBytes_AS_STRING(out)
    v = <size_t>n
    for j in range(k - 1, -1, -1):
        w[j] = HEXP[v & 15]
        v >>= 4
    w[k] = b'\r'
    w[k + 1] = b'\n'
    memcpy(w + k + 2, src, n)
    w[k + 2 + n] = b'\r'
    w[k + 3 + n] = b'\n'
    return out
