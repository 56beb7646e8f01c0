# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# (Not freethreading_compatible: the member-name cache below is a process-wide
# table written without locks; on a free-threaded build the GIL stays on.)
"""JSON-RPC 2.0 body parser, compiled twin of ``_jsonrpc_py`` (the reference).

One recursive-descent pass over the body bytes builds the Python values
directly, so duplicate member names (JR-24) and id lexemes (JR-15, JR-16) are
seen without a second pass and envelope member names are compared as bytes,
never turned into ``str``. Every accept/reject decision mirrors the pure twin;
the differential tests in ``tests/test_jsonrpc_twins.py`` hold them together.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_New, PyDict_SetItem, PyDict_Size
from cpython.list cimport PyList_Append, PyList_New
from cpython.long cimport PyLong_FromLongLong, PyLong_FromString
from cpython.float cimport PyFloat_FromDouble
from cpython.unicode cimport PyUnicode_DecodeUTF8
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.tuple cimport PyTuple_SET_ITEM
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcmp, memcpy

from .._errors import JsonRpcDecodeError
from ._jsonrpc_common import (
    BATCH_PROTOCOL_VERSIONS,
    DEFAULT_MAX_BATCH_LENGTH,
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_DEPTH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    MAX_DEPTH_CEILING,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    R_AMBIGUOUS,
    R_BOTH,
    R_DUPLICATE,
    R_ERROR,
    R_ID,
    R_JSONRPC,
    R_METHOD,
    R_NO_KIND,
    R_NOT_OBJECT,
    R_PARAMS,
    R_PARAMS_ARRAY,
    R_RESULT,
    ErrorResponse,
    Invalid,
    Notification,
    Parsed,
    RawJson,
    Request,
    Response,
    as_bytes,
    batch_allowed,
    check_limits,
    make_encoders,
    py_value,
    result_type,
)

__all__ = [
    "parse",
    "decode_value",
    "encode",
    "encode_batch",
    "encode_request",
    "encode_notification",
    "encode_result",
    "encode_error",
    "error_body",
    "reply_body",
    "result_type",
    "batch_allowed",
    "RawJson",
    "Request",
    "Notification",
    "Response",
    "ErrorResponse",
    "Invalid",
    "Parsed",
    "PARSE_ERROR",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "INVALID_PARAMS",
    "INTERNAL_ERROR",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_BATCH_LENGTH",
    "MAX_DEPTH_CEILING",
    "BATCH_PROTOCOL_VERSIONS",
]

cdef extern from "Python.h":
    double PyOS_string_to_double(const char* s, char** endptr, PyObject* overflow_exception) except? -1.0
    ctypedef struct PyTypeObject:
        pass
    object PyType_GenericAlloc(PyTypeObject* t, Py_ssize_t n)

cdef object _object_new = object.__new__
cdef object _MISSING = object()

# C-level copies of the shared names used on the hot path: a cdef global is a
# plain pointer read, a module global is a dict lookup on every use.
cdef type _Request = Request
cdef type _Notification = Notification
cdef type _Response = Response
cdef type _ErrorResponse = ErrorResponse
cdef type _Invalid = Invalid
cdef type _Parsed = Parsed
cdef type _RawJson = RawJson
cdef object _INVALID_REQUEST = INVALID_REQUEST
cdef object _INVALID_PARAMS = INVALID_PARAMS
cdef object _R_NOT_OBJECT = R_NOT_OBJECT
cdef object _R_DUPLICATE = R_DUPLICATE
cdef object _R_JSONRPC = R_JSONRPC
cdef object _R_AMBIGUOUS = R_AMBIGUOUS
cdef object _R_METHOD = R_METHOD
cdef object _R_ID = R_ID
cdef object _R_PARAMS = R_PARAMS
cdef object _R_PARAMS_ARRAY = R_PARAMS_ARRAY
cdef object _R_NO_KIND = R_NO_KIND
cdef object _R_BOTH = R_BOTH
cdef object _R_RESULT = R_RESULT
cdef object _R_ERROR = R_ERROR


class _Syntax(Exception):
    """Internal: the text is not JSON (becomes -32700)."""


cdef inline object _make(type cls, tuple values):
    # Build a NamedTuple message without its Python-level __new__ (several times
    # cheaper): allocate the subclass instance and fill its items, which is
    # what tuple.__new__(cls, values) does, minus the argument handling.
    cdef Py_ssize_t k, m = len(values)
    r = PyType_GenericAlloc(<PyTypeObject*>cls, m)
    for k in range(m):
        v = values[k]
        Py_INCREF(v)  # PyTuple_SET_ITEM steals a reference
        PyTuple_SET_ITEM(r, k, v)
    return r


cdef inline object _make2(type cls, object a, object b):
    # as _make, without the temporary tuple (hot path: Parsed, Notification)
    r = PyType_GenericAlloc(<PyTypeObject*>cls, 2)
    Py_INCREF(a)
    PyTuple_SET_ITEM(r, 0, a)
    Py_INCREF(b)
    PyTuple_SET_ITEM(r, 1, b)
    return r


cdef inline object _make3(type cls, object a, object b, object c):
    r = PyType_GenericAlloc(<PyTypeObject*>cls, 3)
    Py_INCREF(a)
    PyTuple_SET_ITEM(r, 0, a)
    Py_INCREF(b)
    PyTuple_SET_ITEM(r, 1, b)
    Py_INCREF(c)
    PyTuple_SET_ITEM(r, 2, c)
    return r


cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    ctypedef unsigned int Py_UCS4


cdef inline bint _special8(unsigned long long x) noexcept:
    # any byte < 0x20, == '"' or == '\\' among the eight (RFC 8259 section 7:
    # those are what end or escape a string, or are forbidden in it)
    cdef unsigned long long ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL
    cdef unsigned long long q = x ^ (ones * 0x22), b = x ^ (ones * 0x5C)
    return ((((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs) != 0


cdef inline object _ascii(const unsigned char* q, Py_ssize_t m):
    # an ASCII str built directly: cheaper than the generic UTF-8 decoder
    r = PyUnicode_New(m, 127)
    memcpy(PyUnicode_DATA(r), q, m)
    return r


cdef enum:
    KEY_MAX = 24        # longest string the cache holds
    KEY_SLOTS = 1024    # direct-mapped, a power of two

# Direct-mapped cache of short ASCII strings (member names, mostly): a hit
# returns the same str object, so the dict insert finds its hash cached and no
# allocation happens. orjson keeps a similar key cache. Owned references.
cdef PyObject* _key_cache[KEY_SLOTS]


cdef inline object _cached_ascii(const unsigned char* q, Py_ssize_t m):
    cdef unsigned int h = 2166136261u
    cdef Py_ssize_t k
    for k in range(m):
        h = (h ^ q[k]) * 16777619u  # FNV-1a
    cdef unsigned int slot = h & (KEY_SLOTS - 1)
    cdef PyObject* c = _key_cache[slot]
    if c != NULL and PyUnicode_GET_LENGTH(<object>c) == m and memcmp(PyUnicode_DATA(<object>c), q, m) == 0:
        return <object>c
    r = _ascii(q, m)
    hash(r)  # cache the hash in the str once
    Py_INCREF(r)
    Py_XDECREF(c)
    _key_cache[slot] = <PyObject*>r
    return r


cdef inline object _raw_slice(object buf, Py_ssize_t start, Py_ssize_t end):
    # RawJson._slice without the classmethod call: a view on the body, no copy.
    r = _object_new(_RawJson)
    r._buf = buf
    r._start = start
    r._end = end
    return r


cdef inline Py_ssize_t _ws(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept:
    # RFC 8259 section 2: insignificant whitespace is exactly these four bytes
    while i < n:
        c = p[i]
        if c == 0x20 or c == 0x0A or c == 0x0D or c == 0x09:
            i += 1
        else:
            break
    return i


cdef inline bint _digit(unsigned char c) noexcept:
    return 0x30 <= c <= 0x39


cdef inline int _hex(unsigned char c) noexcept:
    if 0x30 <= c <= 0x39:
        return c - 0x30
    if 0x61 <= c <= 0x66:
        return c - 0x61 + 10
    if 0x41 <= c <= 0x46:
        return c - 0x41 + 10
    return -1


cdef inline int _hex4(const unsigned char* q) noexcept:
    cdef int a = _hex(q[0]), b = _hex(q[1]), c = _hex(q[2]), d = _hex(q[3])
    if a < 0 or b < 0 or c < 0 or d < 0:
        return -1
    return (a << 12) | (b << 8) | (c << 4) | d


# Envelope member names (JSON-RPC 2.0 section 4/5), compared as raw bytes.
cdef enum:
    K_JSONRPC = 0
    K_ID = 1
    K_METHOD = 2
    K_PARAMS = 3
    K_RESULT = 4
    K_ERROR = 5


cdef inline int _known(const unsigned char* q, Py_ssize_t m) noexcept:
    if m == 2 and memcmp(q, b"id", 2) == 0:
        return K_ID
    if m == 6:
        if memcmp(q, b"method", 6) == 0:
            return K_METHOD
        if memcmp(q, b"params", 6) == 0:
            return K_PARAMS
        if memcmp(q, b"result", 6) == 0:
            return K_RESULT
    elif m == 7 and memcmp(q, b"jsonrpc", 7) == 0:
        return K_JSONRPC
    elif m == 5 and memcmp(q, b"error", 5) == 0:
        return K_ERROR
    return -1


cdef inline int _known_str(str key) noexcept:
    # a member name written with escapes ("\u0069d") still names "id"
    if key == "id":
        return K_ID
    if key == "method":
        return K_METHOD
    if key == "params":
        return K_PARAMS
    if key == "result":
        return K_RESULT
    if key == "jsonrpc":
        return K_JSONRPC
    if key == "error":
        return K_ERROR
    return -1


cdef inline _Parser _parser(bytes buf, int max_depth, bint lazy, bint mcp):
    cdef _Parser w = _Parser.__new__(_Parser)
    w.buf = buf
    w.p = <const unsigned char*>PyBytes_AS_STRING(buf)
    w.n = PyBytes_GET_SIZE(buf)
    w.pos = 0
    w.max_depth = max_depth
    w.lazy = lazy
    w.mcp = mcp
    w.dup = False
    return w


cdef class _Parser:

    def __cinit__(self):
        # no arguments, so _Parser.__new__ is a plain tp_new call (see _parser)
        self.scratch = NULL
        self.scratch_cap = 0

    def __dealloc__(self):
        if self.scratch != NULL:
            free(self.scratch)

    cdef int grow(self, Py_ssize_t need) except -1:
        cdef Py_ssize_t cap = self.scratch_cap * 2
        if cap < need:
            cap = need
        if cap < 256:
            cap = 256
        cdef char* q = <char*>realloc(self.scratch, cap)
        if q == NULL:
            raise MemoryError()
        self.scratch = q
        self.scratch_cap = cap
        return 0

    # --- checking without decoding (lazy spans) -----------------------------

    cdef Py_ssize_t skip_string(self, Py_ssize_t i) except -1:
        # i is just after the opening quote. Find the first quote not escaped
        # by an odd run of backslashes; memchr is SIMD in libc, which is what
        # makes routing a 64 KB result cheap. Contents are checked on decode.
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t s = i, j, k
        cdef const unsigned char* q
        while True:
            q = <const unsigned char*>memchr(p + i, 0x22, self.n - i)
            if q == NULL:
                raise _Syntax("unterminated string")
            j = q - p
            k = j
            while k > s and p[k - 1] == 0x5C:
                k -= 1
            if (j - k) % 2 == 0:
                return j + 1
            i = j + 1

    cdef Py_ssize_t skip_number(self, Py_ssize_t i) except -1:
        # RFC 8259 section 6 grammar; returns the end of the lexeme
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t n = self.n
        if i < n and p[i] == 0x2D:
            i += 1
        if i >= n:
            raise _Syntax("bad number")
        if p[i] == 0x30:
            i += 1
        elif _digit(p[i]):
            while i < n and _digit(p[i]):
                i += 1
        else:
            raise _Syntax("bad number")
        if i < n and p[i] == 0x2E:
            i += 1
            if i >= n or not _digit(p[i]):
                raise _Syntax("bad fraction")
            while i < n and _digit(p[i]):
                i += 1
        if i < n and (p[i] == 0x65 or p[i] == 0x45):
            i += 1
            if i < n and (p[i] == 0x2B or p[i] == 0x2D):
                i += 1
            if i >= n or not _digit(p[i]):
                raise _Syntax("bad exponent")
            while i < n and _digit(p[i]):
                i += 1
        return i

    cdef Py_ssize_t skip_value(self, Py_ssize_t i, int depth) except -1:
        """Check one value (grammar outside strings, depth); return its end."""
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t n = self.n
        i = _ws(p, i, n)
        if i >= n:
            raise _Syntax("unexpected end")
        cdef unsigned char c = p[i]
        if c == 0x22:
            return self.skip_string(i + 1)
        if c == 0x7B or c == 0x5B:
            if depth + 1 > self.max_depth:
                raise _Syntax("nesting too deep")
            i = _ws(p, i + 1, n)
            if i < n and p[i] == c + 2:  # '}' is '{'+2, ']' is '['+2
                return i + 1
            while True:
                if c == 0x7B:
                    if i >= n or p[i] != 0x22:
                        raise _Syntax("expected a member name")
                    i = _ws(p, self.skip_string(i + 1), n)
                    if i >= n or p[i] != 0x3A:
                        raise _Syntax("expected :")
                    i += 1
                i = _ws(p, self.skip_value(i, depth + 1), n)
                if i >= n:
                    raise _Syntax("unexpected end")
                if p[i] == 0x2C:
                    i = _ws(p, i + 1, n)
                    continue
                if p[i] == c + 2:
                    return i + 1
                raise _Syntax("expected , or close")
        if c == 0x2D or _digit(c):
            return self.skip_number(i)
        if c == 0x74 and n - i >= 4 and memcmp(p + i, b"true", 4) == 0:
            return i + 4
        if c == 0x66 and n - i >= 5 and memcmp(p + i, b"false", 5) == 0:
            return i + 5
        if c == 0x6E and n - i >= 4 and memcmp(p + i, b"null", 4) == 0:
            return i + 4
        raise _Syntax("unexpected byte")

    # --- decoding ---------------------------------------------------------

    cdef object parse_string(self, Py_ssize_t i):
        """Decode the string whose opening quote is at i; self.pos = its end."""
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t n = self.n
        cdef Py_ssize_t s = i + 1, j = i + 1, o
        cdef unsigned char c
        cdef int cp, lo
        # fast path: no escapes. Only '"', '\\' and control bytes stop the scan
        # (RFC 8259 section 7); UTF-8 is checked by CPython's own decoder so the
        # verdict matches bytes.decode("utf-8") in the pure twin exactly.
        cdef unsigned long long w8, acc8 = 0
        cdef unsigned int acc = 0
        # eight bytes at a time while none is special (SWAR: the classic
        # "has zero byte" bit tricks); big tool results are mostly plain text
        while j + 8 <= n:
            memcpy(&w8, p + j, 8)
            if _special8(w8):
                break
            acc8 |= w8
            j += 8
        if acc8 & 0x8080808080808080ULL:
            acc = 0x80
        while j < n:
            c = p[j]
            if c == 0x22:
                self.pos = j + 1
                if acc < 0x80:
                    # pure ASCII: build the str directly; short member names
                    # come from the cache (no allocation, hash already known)
                    if j - s <= KEY_MAX:
                        return _cached_ascii(p + s, j - s)
                    return _ascii(p + s, j - s)
                try:
                    return PyUnicode_DecodeUTF8(<const char*>p + s, j - s, NULL)
                except UnicodeDecodeError:
                    raise _Syntax("invalid UTF-8") from None
            if c == 0x5C or c < 0x20:
                break
            acc |= c
            j += 1
        else:
            raise _Syntax("unterminated string")
        # slow path: unescape into scratch; the output is never longer than the
        # source, so one size check up front covers the whole string
        o = self.skip_string(s) - s
        if self.scratch_cap < o:
            self.grow(o)
        o = 0
        while True:
            if j >= n:
                raise _Syntax("unterminated string")
            c = p[j]
            if c == 0x22:
                break
            if c < 0x20:
                raise _Syntax("control character in string")
            if c != 0x5C:
                j += 1
                continue
            # flush the literal run [s, j)
            memcpy(self.scratch + o, p + s, j - s)
            o += j - s
            j += 1
            if j >= n:
                raise _Syntax("unterminated string")
            c = p[j]
            if c == 0x22 or c == 0x5C or c == 0x2F:
                self.scratch[o] = <char>c
                o += 1
            elif c == 0x62:
                self.scratch[o] = b'\b'
                o += 1
            elif c == 0x66:
                self.scratch[o] = b'\f'
                o += 1
            elif c == 0x6E:
                self.scratch[o] = b'\n'
                o += 1
            elif c == 0x72:
                self.scratch[o] = b'\r'
                o += 1
            elif c == 0x74:
                self.scratch[o] = b'\t'
                o += 1
            elif c == 0x75:
                if n - j < 5:
                    raise _Syntax("bad \\u escape")
                cp = _hex4(p + j + 1)
                if cp < 0:
                    raise _Syntax("bad \\u escape")
                j += 4
                if 0xD800 <= cp <= 0xDFFF:
                    # policy (JR-27): only a high+low pair is accepted; a lone
                    # surrogate has no UTF-8 form, so the text is refused
                    if cp >= 0xDC00 or n - j < 7 or p[j + 1] != 0x5C or p[j + 2] != 0x75:
                        raise _Syntax("lone surrogate escape")
                    lo = _hex4(p + j + 3)
                    if lo < 0xDC00 or lo > 0xDFFF:
                        raise _Syntax("lone surrogate escape")
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                    j += 6
                if cp < 0x80:
                    self.scratch[o] = <char>cp
                    o += 1
                elif cp < 0x800:
                    self.scratch[o] = <char>(0xC0 | (cp >> 6))
                    self.scratch[o + 1] = <char>(0x80 | (cp & 0x3F))
                    o += 2
                elif cp < 0x10000:
                    self.scratch[o] = <char>(0xE0 | (cp >> 12))
                    self.scratch[o + 1] = <char>(0x80 | ((cp >> 6) & 0x3F))
                    self.scratch[o + 2] = <char>(0x80 | (cp & 0x3F))
                    o += 3
                else:
                    self.scratch[o] = <char>(0xF0 | (cp >> 18))
                    self.scratch[o + 1] = <char>(0x80 | ((cp >> 12) & 0x3F))
                    self.scratch[o + 2] = <char>(0x80 | ((cp >> 6) & 0x3F))
                    self.scratch[o + 3] = <char>(0x80 | (cp & 0x3F))
                    o += 4
            else:
                raise _Syntax("bad escape")
            j += 1
            s = j
        memcpy(self.scratch + o, p + s, j - s)
        o += j - s
        self.pos = j + 1
        try:
            return PyUnicode_DecodeUTF8(self.scratch, o, NULL)
        except UnicodeDecodeError:
            raise _Syntax("invalid UTF-8") from None

    cdef object parse_number(self, Py_ssize_t i):
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t e = self.skip_number(i), k
        cdef long long v = 0
        cdef bint neg = p[i] == 0x2D
        cdef bint is_float = False
        cdef char small[64]
        self.pos = e
        for k in range(i, e):
            if p[k] == 0x2E or p[k] == 0x65 or p[k] == 0x45:
                is_float = True
                break
        if not is_float:
            if e - i - neg <= 18:
                # fits in 63 bits: skip PyLong_FromString's generic parsing
                for k in range(i + neg, e):
                    v = v * 10 + (p[k] - 0x30)
                return PyLong_FromLongLong(-v if neg else v)
            # big ints are exact (JR-16); ValueError past
            # sys.get_int_max_str_digits(), as in the stdlib json module
            tmp = PyBytes_FromStringAndSize(<const char*>p + i, e - i)
            try:
                return PyLong_FromString(PyBytes_AS_STRING(tmp), NULL, 10)
            except ValueError as exc:
                raise _Syntax(str(exc)) from None
        # float(lexeme), exactly what json.loads does (PyOS_string_to_double,
        # overflow gives +-inf)
        if e - i < 64:
            memcpy(small, p + i, e - i)
            small[e - i] = 0
            return PyFloat_FromDouble(PyOS_string_to_double(small, NULL, NULL))
        tmp = PyBytes_FromStringAndSize(<const char*>p + i, e - i)
        return PyFloat_FromDouble(PyOS_string_to_double(PyBytes_AS_STRING(tmp), NULL, NULL))

    cdef object parse_value(self, Py_ssize_t i, int depth):
        """Decode one value at or after i; self.pos = its end."""
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t n = self.n
        cdef Py_ssize_t count
        i = _ws(p, i, n)
        if i >= n:
            raise _Syntax("unexpected end")
        cdef unsigned char c = p[i]
        if c == 0x22:
            return self.parse_string(i)
        if c == 0x7B:
            if depth + 1 > self.max_depth:
                raise _Syntax("nesting too deep")
            d = PyDict_New()
            i = _ws(p, i + 1, n)
            if i < n and p[i] == 0x7D:
                self.pos = i + 1
                return d
            count = 0
            while True:
                if i >= n or p[i] != 0x22:
                    raise _Syntax("expected a member name")
                key = self.parse_string(i)
                i = _ws(p, self.pos, n)
                if i >= n or p[i] != 0x3A:
                    raise _Syntax("expected :")
                val = self.parse_value(i + 1, depth + 1)
                PyDict_SetItem(d, key, val)
                count += 1
                i = _ws(p, self.pos, n)
                if i >= n:
                    raise _Syntax("unexpected end")
                if p[i] == 0x2C:
                    i = _ws(p, i + 1, n)
                    continue
                if p[i] == 0x7D:
                    self.pos = i + 1
                    if PyDict_Size(d) != count:
                        self.dup = True  # RFC 8259 section 4; spec 5.3 rejects
                    return d
                raise _Syntax("expected , or }")
        if c == 0x5B:
            if depth + 1 > self.max_depth:
                raise _Syntax("nesting too deep")
            lst = PyList_New(0)
            i = _ws(p, i + 1, n)
            if i < n and p[i] == 0x5D:
                self.pos = i + 1
                return lst
            while True:
                PyList_Append(lst, self.parse_value(i, depth + 1))
                i = _ws(p, self.pos, n)
                if i >= n:
                    raise _Syntax("unexpected end")
                if p[i] == 0x2C:
                    i += 1
                    continue
                if p[i] == 0x5D:
                    self.pos = i + 1
                    return lst
                raise _Syntax("expected , or ]")
        if c == 0x2D or _digit(c):
            return self.parse_number(i)
        if c == 0x74 and n - i >= 4 and memcmp(p + i, b"true", 4) == 0:
            self.pos = i + 4
            return True
        if c == 0x66 and n - i >= 5 and memcmp(p + i, b"false", 5) == 0:
            self.pos = i + 5
            return False
        if c == 0x6E and n - i >= 4 and memcmp(p + i, b"null", 4) == 0:
            self.pos = i + 4
            return None
        raise _Syntax("unexpected byte")

    # --- messages -----------------------------------------------------------

    cdef object element(self, Py_ssize_t i, int depth):
        """One message; returns it (or _MISSING for a non-object), self.pos = end."""
        i = _ws(self.p, i, self.n)
        if i < self.n and self.p[i] == 0x7B:
            return self.envelope(i, depth)
        if self.lazy:
            self.pos = self.skip_value(i, depth)
        else:
            self.parse_value(i, depth)
        return _MISSING

    cdef object envelope(self, Py_ssize_t i, int depth):
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t n = self.n
        cdef Py_ssize_t ks, ke, vs, ve
        cdef int inner = depth + 1, key
        cdef unsigned int seen = 0
        cdef bint dup = False, dupid = False, has_id = False, decode, lazy = self.lazy
        cdef int jsonrpc_state = 0  # 0 absent, 1 exactly "2.0", 2 anything else
        cdef int id_kind = 3        # 0 str/int, 1 null, 2 non-integer lexeme, 3 bad/absent
        cdef object extra = None
        cdef int vk, pkind = 2, rkind = 2
        ident = None
        method = params = result = error = _MISSING
        if inner > self.max_depth:
            raise _Syntax("nesting too deep")
        self.dup = False
        i = _ws(p, i + 1, n)
        if i < n and p[i] == 0x7D:
            self.pos = i + 1
            return self.classify(False, False, False, False, 0, None, 3, _MISSING, _MISSING, _MISSING, _MISSING, 2, 2)
        while True:
            # member name: compared as bytes when it has no escapes (always,
            # in practice); anything else is decoded like the pure twin does
            if i >= n or p[i] != 0x22:
                raise _Syntax("expected a member name")
            ks = i + 1
            ke = self.skip_string(ks) - 1
            name = None
            if memchr(p + ks, 0x5C, ke - ks) == NULL:
                key = _known(p + ks, ke - ks)
                if key < 0:
                    name = self.parse_string(i)  # validates UTF-8
            else:
                name = self.parse_string(i)
                key = _known_str(name)
            i = _ws(p, ke + 1, n)
            if i >= n or p[i] != 0x3A:
                raise _Syntax("expected :")
            i = _ws(p, i + 1, n)
            # duplicate member names (JR-24)
            if key >= 0:
                # lazy mode decodes only the envelope proper (see docs)
                decode = not lazy or key == K_JSONRPC or key == K_ID or key == K_METHOD or key == K_ERROR
                if seen & (1 << key):
                    dup = True
                    if key == K_ID:
                        dupid = True
                    key = -2
                else:
                    seen |= 1 << key
            else:
                decode = not lazy
                if extra is None:
                    extra = set()
                if name in extra:
                    dup = True
                else:
                    extra.add(name)
                key = -1
            # value
            if key == K_JSONRPC:
                if n - i >= 5 and memcmp(p + i, b'"2.0"', 5) == 0:
                    # the one valid value, spelled plainly: no str needed
                    jsonrpc_state = 1
                    self.pos = i + 5
                else:
                    v = self.parse_value(i, inner)
                    jsonrpc_state = 1 if (type(v) is str and v == "2.0") else 2
            elif key == K_ID:
                has_id = True
                if i < n and (p[i] == 0x2D or _digit(p[i])):
                    ve = self.skip_number(i)
                    if ve - i == 2 and p[i] == 0x2D and p[i + 1] == 0x30:
                        ident = _RawJson(PyBytes_FromStringAndSize(<const char*>p + i, 2))
                        id_kind = 2  # AMB-16: "-0" has no exact int echo
                        self.pos = ve
                    elif memchr(p + i, 0x2E, ve - i) != NULL or memchr(p + i, 0x65, ve - i) != NULL or memchr(p + i, 0x45, ve - i) != NULL:
                        ident = _RawJson(PyBytes_FromStringAndSize(<const char*>p + i, ve - i))
                        id_kind = 2  # keep the lexeme (JR-15)
                        self.pos = ve
                    else:
                        ident = self.parse_number(i)
                        id_kind = 0
                else:
                    v = self.parse_value(i, inner)
                    if type(v) is str:
                        ident = v
                        id_kind = 0
                    elif v is None:
                        id_kind = 1
                    else:
                        id_kind = 3
            elif key == K_METHOD:
                method = self.parse_value(i, inner)
            elif key == K_ERROR:
                error = self.parse_value(i, inner)
            elif key == K_PARAMS or key == K_RESULT:
                # the object/array/other verdict needs only the first byte
                vk = 0 if p[i] == 0x7B else 1 if p[i] == 0x5B else 2
                if lazy:
                    ve = self.skip_value(i, inner)
                    v = _raw_slice(self.buf, i, ve)
                    self.pos = ve
                else:
                    v = self.parse_value(i, inner)
                if key == K_PARAMS:
                    params = v
                    pkind = vk
                else:
                    result = v
                    rkind = vk
            else:  # duplicates and unknown members: checked, then ignored
                if decode:
                    self.parse_value(i, inner)
                else:
                    self.pos = self.skip_value(i, inner)
            i = _ws(p, self.pos, n)
            if i >= n:
                raise _Syntax("unexpected end")
            if p[i] == 0x2C:
                i = _ws(p, i + 1, n)
                continue
            if p[i] == 0x7D:
                self.pos = i + 1
                break
            raise _Syntax("expected , or }")
        if dupid:
            ident = None
            id_kind = 3
        return self.classify(
            has_id, dup or self.dup, method is not _MISSING, result is not _MISSING or error is not _MISSING,
            jsonrpc_state, ident, id_kind, method, params, result, error, pkind, rkind,
        )

    cdef object classify(
        self, bint has_id, bint dup, bint has_method, bint has_response,
        int jsonrpc_state, object ident, int kind,
        object method, object params, object result, object error, int pkind, int rkind,
    ):
        """Spec 5.1/5.2 checks, in the same order as ``_Walker.classify``."""
        cdef bint mcp = self.mcp
        cdef bint has_result = result is not _MISSING
        cdef bint has_error = error is not _MISSING
        cdef bint ok_id = kind == 0 or (not mcp and kind != 3)
        cdef bint reply
        detected = ident if ok_id else None
        if has_method:
            reply = not (jsonrpc_state == 1 and type(method) is str and not has_id)
        else:
            reply = not (has_result or has_error)
        if dup:
            return _make(_Invalid, (_INVALID_REQUEST, _R_DUPLICATE, detected, reply))
        if jsonrpc_state != 1:
            return _make(_Invalid, (_INVALID_REQUEST, _R_JSONRPC, detected, reply))
        if has_method:
            if has_result or has_error:
                return _make(_Invalid, (_INVALID_REQUEST, _R_AMBIGUOUS, detected, reply))
            if type(method) is not str:
                return _make(_Invalid, (_INVALID_REQUEST, _R_METHOD, detected, reply))
            if has_id and not ok_id:
                return _make(_Invalid, (_INVALID_REQUEST, _R_ID, None, reply))
            if params is not _MISSING:
                if pkind == 2:
                    return _make(_Invalid, (_INVALID_REQUEST, _R_PARAMS, detected, reply))
                if pkind == 1 and mcp:
                    return _make(_Invalid, (_INVALID_PARAMS, _R_PARAMS_ARRAY, detected, reply))  # AMB-17
            else:
                params = None
            if has_id:
                return _make3(_Request, ident, method, params)
            return _make2(_Notification, method, params)
        if has_result and has_error:
            return _make(_Invalid, (_INVALID_REQUEST, _R_BOTH, detected, reply))
        if has_result:
            if not has_id or kind == 1 or not ok_id:
                return _make(_Invalid, (_INVALID_REQUEST, _R_ID, None, reply))
            if mcp and rkind != 0:
                return _make(_Invalid, (_INVALID_REQUEST, _R_RESULT, detected, reply))
            return _make2(_Response, ident, result)
        if has_error:
            if has_id and kind != 1 and not ok_id:
                return _make(_Invalid, (_INVALID_REQUEST, _R_ID, None, reply))
            if type(error) is not dict:
                return _make(_Invalid, (_INVALID_REQUEST, _R_ERROR, detected, reply))
            code = (<dict>error).get("code", _MISSING)
            message = (<dict>error).get("message", _MISSING)
            if type(code) is not int or type(message) is not str:
                return _make(_Invalid, (_INVALID_REQUEST, _R_ERROR, detected, reply))  # JR-19
            return _make(_ErrorResponse, (ident, code, message, (<dict>error).get("data")))
        return _make(_Invalid, (_INVALID_REQUEST, _R_NO_KIND, detected, reply))


def parse(
    body,
    *,
    bint allow_batch,
    bint mcp=True,
    bint lazy=False,
    bint allow_bom=True,
    Py_ssize_t max_body_size=DEFAULT_MAX_BODY_SIZE,
    int max_depth=DEFAULT_MAX_DEPTH,
    Py_ssize_t max_batch_length=DEFAULT_MAX_BATCH_LENGTH,
):
    """Parse a POST body into JSON-RPC messages (see ``_jsonrpc_py.parse``)."""
    if max_body_size < 0 or max_depth < 1 or max_depth > MAX_DEPTH_CEILING or max_batch_length < 1:
        check_limits(max_body_size, max_depth, max_batch_length)
    cdef bytes b = body if type(body) is bytes else as_bytes(body)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(b)
    cdef Py_ssize_t i = 0
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(b)
    cdef bint is_batch
    if n > max_body_size:
        raise JsonRpcDecodeError(
            f"body of {n} bytes exceeds max_body_size={max_body_size}", code_hint=PARSE_ERROR, status_hint=413
        )
    if allow_bom and n >= 3 and p[0] == 0xEF and p[1] == 0xBB and p[2] == 0xBF:
        i = 3  # RFC 8259 section 8.1
    cdef _Parser w = _parser(b, max_depth, lazy, mcp)
    try:
        i = _ws(p, i, n)
        if i < n and p[i] == 0x5B:  # a batch (JSON-RPC 2.0 section 6)
            if not allow_batch:
                # refused before any further work, like an oversized body
                raise JsonRpcDecodeError(
                    "a batch (JSON array) is not allowed in this protocol revision",  # SRV-POST-06
                    code_hint=_INVALID_REQUEST,
                    status_hint=400,
                )
            is_batch = True
            msgs = []
            i = _ws(p, i + 1, n)
            if i < n and p[i] == 0x5D:
                i += 1
            else:
                while True:
                    PyList_Append(msgs, w.element(i, 1))
                    if len(msgs) > max_batch_length:  # stop reading at once
                        raise JsonRpcDecodeError(
                            f"batch longer than max_batch_length={max_batch_length}",
                            code_hint=_INVALID_REQUEST,
                            status_hint=400,
                        )
                    i = _ws(p, w.pos, n)
                    if i >= n:
                        raise _Syntax("unexpected end")
                    if p[i] == 0x2C:
                        i += 1
                        continue
                    if p[i] == 0x5D:
                        i += 1
                        break
                    raise _Syntax("expected , or ]")
        else:
            is_batch = False
            msgs = [w.element(i, 0)]
            i = w.pos
        if _ws(p, i, n) != n:
            raise _Syntax("trailing data")  # spec 5.3
    except _Syntax as exc:
        raise JsonRpcDecodeError(f"Parse error: {exc}", code_hint=PARSE_ERROR, status_hint=400) from None
    if is_batch:
        if not msgs:
            raise JsonRpcDecodeError("an empty batch", code_hint=_INVALID_REQUEST, status_hint=400)  # JR-08
        for k in range(len(msgs)):
            if msgs[k] is _MISSING:
                msgs[k] = _make(_Invalid, (_INVALID_REQUEST, _R_NOT_OBJECT, None, True))  # JR-09
    elif msgs[0] is _MISSING:
        raise JsonRpcDecodeError("a JSON scalar or array is not a message", code_hint=_INVALID_REQUEST, status_hint=400)
    return _make2(_Parsed, msgs, True if is_batch else False)


def decode_value(data, *, int max_depth=DEFAULT_MAX_DEPTH):
    """Decode one JSON text with the parser's policy (see ``_jsonrpc_py.decode_value``)."""
    check_limits(0, max_depth, 1)
    cdef bytes b = data if type(data) is bytes else as_bytes(data)
    cdef _Parser w = _parser(b, max_depth, False, True)
    try:
        v = w.parse_value(0, 0)
        if _ws(w.p, w.pos, w.n) != w.n:
            raise _Syntax("trailing data")
    except _Syntax as exc:
        raise JsonRpcDecodeError(f"Parse error: {exc}", code_hint=PARSE_ERROR, status_hint=400) from None
    if w.dup:
        raise JsonRpcDecodeError("duplicate member name", code_hint=_INVALID_REQUEST, status_hint=400)
    return v


# --- encoding -------------------------------------------------------------------
#
# The envelope code is shared (_jsonrpc_common.make_encoders); only the value
# encoder is compiled. It handles the exact types JSON-RPC payloads are made of
# (dict with str keys, list, str, int, float, bool, None) and hands anything
# else -- subclasses, tuples, non-str keys, NaN, huge ints, lone surrogates,
# very deep or circular data -- to the stdlib-based py_value for the whole
# value, so the bytes (or the LocalProtocolError) are always the pure twin's.


class _Fallback(Exception):
    """Internal: this value needs the reference encoder."""


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object o, Py_ssize_t* size) except NULL
    int PyUnicode_IS_ASCII(object o)

cdef extern from "math.h":
    bint isfinite(double x)

cdef extern from "stdio.h":
    int snprintf(char* s, size_t n, const char* fmt, ...)

cdef const char* _HEX = b"0123456789abcdef"


cdef class _Out:
    """A growable byte buffer (the encoder's output)."""

    def __dealloc__(self):
        if self.buf != NULL:
            free(self.buf)

    cdef int reserve(self, Py_ssize_t k) except -1:
        cdef Py_ssize_t cap
        cdef char* q
        if self.n + k <= self.cap:
            return 0
        cap = self.cap * 2 if self.cap else 256
        while cap < self.n + k:
            cap *= 2
        q = <char*>realloc(self.buf, cap)
        if q == NULL:
            raise MemoryError()
        self.buf = q
        self.cap = cap
        return 0

    cdef int put(self, const char* s, Py_ssize_t k) except -1:
        self.reserve(k)
        memcpy(self.buf + self.n, s, k)
        self.n += k
        return 0

    cdef int put_str(self, object s) except -1:
        # a JSON string, escaped as json.dumps(ensure_ascii=False) does:
        # '"' '\\' and the short escapes, other controls as \u00XX (lowercase)
        cdef Py_ssize_t m, k, start
        cdef const unsigned char* q
        cdef unsigned char c
        cdef unsigned long long w8
        if PyUnicode_IS_ASCII(s):
            q = <const unsigned char*>PyUnicode_DATA(s)
            m = PyUnicode_GET_LENGTH(s)
        else:
            try:
                q = <const unsigned char*>PyUnicode_AsUTF8AndSize(s, &m)
            except UnicodeEncodeError:
                raise _Fallback() from None
        # worst case: every byte becomes \u00XX; reserving once lets the loop
        # write through a bare pointer
        self.reserve(6 * m + 2)
        cdef char* w = self.buf + self.n
        w[0] = b'"'
        w += 1
        start = 0
        k = 0
        while k < m:
            # skip eight plain bytes at a time (same SWAR test as the parser)
            if k + 8 <= m:
                memcpy(&w8, q + k, 8)
                if not _special8(w8):
                    k += 8
                    continue
            c = q[k]
            if c >= 0x20 and c != 0x22 and c != 0x5C:
                k += 1
                continue
            memcpy(w, q + start, k - start)
            w += k - start
            k += 1
            start = k
            w[0] = b'\\'
            if c == 0x22 or c == 0x5C:
                w[1] = <char>c
            elif c == 0x0A:
                w[1] = b'n'
            elif c == 0x0D:
                w[1] = b'r'
            elif c == 0x09:
                w[1] = b't'
            elif c == 0x08:
                w[1] = b'b'
            elif c == 0x0C:
                w[1] = b'f'
            else:
                w[1] = b'u'
                w[2] = b'0'
                w[3] = b'0'
                w[4] = _HEX[c >> 4]
                w[5] = _HEX[c & 15]
                w += 4
            w += 2
        memcpy(w, q + start, m - start)
        w += m - start
        w[0] = b'"'
        w += 1
        self.n = w - self.buf
        return 0

    cdef int put_value(self, object obj, int depth) except -1:
        cdef char tmp[32]
        cdef int k
        cdef long long v
        cdef double d
        cdef bint first
        t = type(obj)
        if t is str:
            return self.put_str(obj)
        if obj is None:
            return self.put(b"null", 4)
        if obj is True:
            return self.put(b"true", 4)
        if obj is False:
            return self.put(b"false", 5)
        if t is int:
            try:
                v = obj
            except OverflowError:
                raise _Fallback() from None  # big ints: the exact digits via py_value
            k = snprintf(tmp, 32, "%lld", v)
            return self.put(tmp, k)
        if t is float:
            d = obj
            if not isfinite(d):
                raise _Fallback()  # py_value raises LocalProtocolError (RFC 8259 section 6)
            r = repr(obj)  # json.dumps writes float.__repr__, the shortest round trip
            return self.put(<const char*>PyUnicode_DATA(r), PyUnicode_GET_LENGTH(r))
        if depth >= 256:
            raise _Fallback()  # deep or circular: the stdlib decides
        if t is dict:
            self.put(b"{", 1)
            first = True
            for key, val in (<dict>obj).items():
                if type(key) is not str:
                    raise _Fallback()  # json.dumps's key coercions
                if not first:
                    self.put(b",", 1)
                first = False
                self.put_str(key)
                self.put(b":", 1)
                self.put_value(val, depth + 1)
            return self.put(b"}", 1)
        if t is list:
            self.put(b"[", 1)
            first = True
            for val in <list>obj:
                if not first:
                    self.put(b",", 1)
                first = False
                self.put_value(val, depth + 1)
            return self.put(b"]", 1)
        raise _Fallback()


def _c_value(obj):
    """One value as compact UTF-8 JSON; byte-identical to ``py_value``."""
    if type(obj) is RawJson:
        return obj.raw
    cdef _Out out = _Out.__new__(_Out)
    try:
        out.put_value(obj, 0)
    except _Fallback:
        return py_value(obj)
    return PyBytes_FromStringAndSize(out.buf, out.n)


_ENCODERS = make_encoders(_c_value)
encode_request = _ENCODERS["encode_request"]
encode_notification = _ENCODERS["encode_notification"]
encode_result = _ENCODERS["encode_result"]
encode_error = _ENCODERS["encode_error"]
encode = _ENCODERS["encode"]
encode_batch = _ENCODERS["encode_batch"]
error_body = _ENCODERS["error_body"]
reply_body = _ENCODERS["reply_body"]
