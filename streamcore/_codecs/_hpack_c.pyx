# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""HPACK (RFC 7541), compiled twin of ``_hpack_py`` (the reference).

Same API, same results and same exception types as ``_hpack_py`` on every
input; any difference is a bug in this file. See ``_hpack_py`` for the theory
of operation (including the cache of the last block that left the table
untouched). What differs is only how the work is done:

* the header block is read in place through a ``const unsigned char *``;
  integers, string lengths and Huffman codes are decoded in C integers;
* Huffman decoding walks the canonical code one bit at a time in C arrays
  (first code, count and symbol offset per length), encoding packs bits in a
  64-bit accumulator into a buffer sized in advance;
* ``check_request`` scans names and values with a 256-entry byte class table.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memchr

from ._hpack_common import (
    CONNECTION_SPECIFIC,
    DEFAULT_HEADER_TABLE_SIZE,
    DEFAULT_MAX_HEADER_LIST_SIZE,
    HUFFMAN_CODES,
    HUFFMAN_COUNT,
    HUFFMAN_FIRST,
    HUFFMAN_LENGTHS,
    HUFFMAN_OFFSET,
    HUFFMAN_SYMBOLS,
    MAX_INTEGER,
    SENSITIVE,
    STATIC_FULL,
    STATIC_NAME,
    STATIC_TABLE,
    HeaderListTooLarge,
    HpackDecodeError,
    MalformedHeaders,
)

__all__ = [
    "DEFAULT_HEADER_TABLE_SIZE",
    "DEFAULT_MAX_HEADER_LIST_SIZE",
    "Decoder",
    "Encoder",
    "HeaderListTooLarge",
    "HpackDecodeError",
    "MalformedHeaders",
    "check_request",
    "huffman_decode",
    "huffman_encode",
]

cdef Py_ssize_t _NSTATIC = len(STATIC_TABLE)
cdef uint32_t _CODES[257]
cdef unsigned char _LENGTHS[257]
cdef uint32_t _FIRST[32]
cdef uint32_t _COUNT[32]
cdef uint32_t _OFFSET[32]
cdef unsigned short _SYMBOLS[257]
cdef unsigned char _NAME_OK[256]  # 1: allowed in a regular field name (RFC 9113 section 8.2.1)

cdef int _i
for _i in range(257):
    _CODES[_i] = HUFFMAN_CODES[_i]
    _LENGTHS[_i] = HUFFMAN_LENGTHS[_i]
    _SYMBOLS[_i] = HUFFMAN_SYMBOLS[_i]
for _i in range(32):
    _FIRST[_i] = HUFFMAN_FIRST[_i]
    _COUNT[_i] = HUFFMAN_COUNT[_i]
    _OFFSET[_i] = HUFFMAN_OFFSET[_i]
for _i in range(256):
    _NAME_OK[_i] = 1 if (0x21 <= _i < 0x7F and not 0x41 <= _i <= 0x5A and _i != 0x3A) else 0


def huffman_encode(bytes data):
    """``data`` in the Huffman code of RFC 7541 Appendix B, padded with 1 bits."""
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data), i, bits_total = 0, k = 0
    for i in range(n):
        bits_total += _LENGTHS[p[i]]
    out = PyBytes_FromStringAndSize(NULL, (bits_total + 7) >> 3)
    cdef unsigned char *o = <unsigned char *>PyBytes_AS_STRING(out)
    cdef uint64_t acc = 0
    cdef int bits = 0
    for i in range(n):
        acc = (acc << _LENGTHS[p[i]]) | _CODES[p[i]]
        bits += _LENGTHS[p[i]]
        while bits >= 8:
            bits -= 8
            o[k] = <unsigned char>((acc >> bits) & 0xFF)
            k += 1
        acc &= ((<uint64_t>1) << bits) - 1
    if bits:
        o[k] = <unsigned char>(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xFF)
    return out


cdef bytes _huffman_decode(const unsigned char *p, Py_ssize_t n):
    cdef bytearray out = bytearray(n * 8 // 5 + 1)  # at most one symbol per 5 bits
    cdef unsigned char *o = <unsigned char *>(<char *>out)
    cdef Py_ssize_t i, k = 0
    cdef uint32_t code = 0, sym
    cdef int length = 0, shift
    cdef long d
    for i in range(n):
        for shift in range(7, -1, -1):
            code = (code << 1) | ((p[i] >> shift) & 1)
            length += 1
            d = <long>code - <long>_FIRST[length]
            if 0 <= d < <long>_COUNT[length]:
                sym = _SYMBOLS[_OFFSET[length] + d]
                if sym == 256:
                    raise HpackDecodeError("EOS symbol in a Huffman-coded string")
                o[k] = <unsigned char>sym
                k += 1
                code = 0
                length = 0
            elif length >= 30:
                raise HpackDecodeError("invalid Huffman code")
    if length > 7 or code != ((<uint32_t>1) << length) - 1:
        raise HpackDecodeError("invalid Huffman padding")
    return PyBytes_FromStringAndSize(<char *>o, k)


def huffman_decode(bytes data):
    """Decode a Huffman-coded string; :class:`HpackDecodeError` on EOS, on a code
    longer than 30 bits, or on padding that is not a prefix of EOS (section 5.2)."""
    return _huffman_decode(<const unsigned char *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


cdef inline Py_ssize_t _integer(const unsigned char *p, Py_ssize_t i, Py_ssize_t end, int prefix,
                                uint64_t *value) except -1:
    cdef uint64_t mask = (1 << prefix) - 1
    cdef uint64_t v = p[i] & mask
    cdef unsigned char b
    cdef int shift = 0
    i += 1
    if v < mask:
        value[0] = v
        return i
    while True:
        if i >= end:
            raise HpackDecodeError("truncated integer")
        b = p[i]
        i += 1
        if shift > 28:
            raise HpackDecodeError("integer too large")
        v += (<uint64_t>(b & 0x7F)) << shift
        if v > MAX_INTEGER:
            raise HpackDecodeError("integer too large")
        if not b & 0x80:
            value[0] = v
            return i
        shift += 7


cdef inline Py_ssize_t _string(bytes data, const unsigned char *p, Py_ssize_t i, Py_ssize_t end,
                               list into) except -1:
    cdef uint64_t length
    cdef bint huff
    if i >= end:
        raise HpackDecodeError("truncated string")
    huff = p[i] & 0x80
    i = _integer(p, i, end, 7, &length)
    if length > <uint64_t>(end - i):
        raise HpackDecodeError("string longer than the header block")
    if huff:
        into.append(_huffman_decode(p + i, <Py_ssize_t>length))
    else:
        into.append(data[i:i + <Py_ssize_t>length])
    return i + <Py_ssize_t>length


cdef inline void _put_integer(bytearray out, int first, int prefix, uint64_t value):
    cdef uint64_t mask = (1 << prefix) - 1
    if value < mask:
        out.append(first | <int>value)
        return
    out.append(first | <int>mask)
    value -= mask
    while value >= 0x80:
        out.append(<int>((value & 0x7F) | 0x80))
        value >>= 7
    out.append(<int>value)


cdef inline void _put_string(bytearray out, bytes s, bint huffman):
    cdef Py_ssize_t n = PyBytes_GET_SIZE(s), bits = 0, i
    cdef const unsigned char *p
    if huffman and n:
        p = <const unsigned char *>PyBytes_AS_STRING(s)
        for i in range(n):
            bits += _LENGTHS[p[i]]
        if (bits + 7) >> 3 < n:
            _put_integer(out, 0x80, 7, (bits + 7) >> 3)
            out += huffman_encode(s)
            return
    _put_integer(out, 0, 7, n)
    out += s


cdef class Decoder:
    """The decoding side of one HPACK context (see ``_hpack_py.Decoder``)."""

    cdef public Py_ssize_t max_header_list_size
    cdef public Py_ssize_t max_allowed_table_size
    cdef list _table
    cdef Py_ssize_t _size, _max
    cdef unsigned long long _gen, _last_gen
    cdef bytes _last_block
    cdef list _last_out
    cdef Py_ssize_t _last_size

    def __init__(self, max_header_list_size=DEFAULT_MAX_HEADER_LIST_SIZE,
                 max_allowed_table_size=DEFAULT_HEADER_TABLE_SIZE):
        self.max_header_list_size = max_header_list_size
        self.max_allowed_table_size = max_allowed_table_size
        self._table = []
        self._size = 0
        self._max = DEFAULT_HEADER_TABLE_SIZE
        self._gen = 1
        self._last_gen = 0
        self._last_block = b""
        self._last_out = []
        self._last_size = 0

    @property
    def header_table_size(self):
        """The dynamic table's current maximum size (the peer's last size update)."""
        return self._max

    @property
    def table(self):
        """The dynamic table, newest entry first (a copy)."""
        return self._table[::-1]

    cdef void _evict(self, Py_ssize_t room):
        cdef Py_ssize_t k = 0
        cdef tuple f
        while self._size > room:
            f = <tuple>self._table[k]
            self._size -= PyBytes_GET_SIZE(f[0]) + PyBytes_GET_SIZE(f[1]) + 32
            k += 1
        if k:
            del self._table[:k]

    cdef void _add(self, tuple field):
        cdef Py_ssize_t size = PyBytes_GET_SIZE(field[0]) + PyBytes_GET_SIZE(field[1]) + 32
        self._gen += 1
        if size > self._max:
            self._table.clear()
            self._size = 0
            return
        self._evict(self._max - size)
        self._table.append(field)
        self._size += size

    cdef tuple _get(self, uint64_t index):
        cdef Py_ssize_t j
        if index == 0:
            raise HpackDecodeError("index 0")
        if index <= <uint64_t>_NSTATIC:
            return <tuple>STATIC_TABLE[index - 1]
        j = <Py_ssize_t>(index - _NSTATIC)
        if j > len(self._table):
            raise HpackDecodeError(f"index {index} past the end of the table")
        return <tuple>self._table[len(self._table) - j]

    def decode(self, data, raw=True):
        """Decode one complete header block into a list of ``(name, value)`` byte pairs."""
        if not raw:
            raise ValueError("only raw (bytes) decoding is supported")
        cdef bytes block = data if type(data) is bytes else bytes(data)
        cdef unsigned long long gen = self._gen
        if gen == self._last_gen and block == self._last_block:
            if self._last_size > self.max_header_list_size:
                raise HeaderListTooLarge("header list larger than max_header_list_size")
            return list(self._last_out)
        cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(block)
        cdef Py_ssize_t i = 0, end = PyBytes_GET_SIZE(block), size = 0, limit = self.max_header_list_size
        cdef list out = []
        cdef list parts = []
        cdef bint fields = False
        cdef unsigned char b
        cdef uint64_t index
        cdef tuple field
        while i < end:
            b = p[i]
            if b & 0x80:
                i = _integer(p, i, end, 7, &index)
                field = self._get(index)
            elif b & 0x40 or not b & 0x20:
                i = _integer(p, i, end, 6 if b & 0x40 else 4, &index)
                del parts[:]
                if index:
                    parts.append(self._get(index)[0])
                else:
                    i = _string(block, p, i, end, parts)
                i = _string(block, p, i, end, parts)
                field = (parts[0], parts[1])
                if b & 0x40:
                    self._add(field)
            else:
                if fields:
                    raise HpackDecodeError("table size update after a field (section 4.2)")
                i = _integer(p, i, end, 5, &index)
                if index > <uint64_t>self.max_allowed_table_size:
                    raise HpackDecodeError(f"table size update to {index} past SETTINGS_HEADER_TABLE_SIZE")
                self._max = <Py_ssize_t>index
                self._evict(self._max)
                self._gen += 1
                continue
            fields = True
            size += PyBytes_GET_SIZE(field[0]) + PyBytes_GET_SIZE(field[1]) + 32
            if size > limit:
                raise HeaderListTooLarge("header list larger than max_header_list_size")
            out.append(field)
        if self._gen == gen:
            self._last_block = block
            self._last_gen = gen
            self._last_out = out
            self._last_size = size
            return list(out)
        return out


cdef class Encoder:
    """The encoding side of one HPACK context (see ``_hpack_py.Encoder``)."""

    cdef public bint huffman
    cdef list _table
    cdef Py_ssize_t _size, _max, _ins, _min_resize
    cdef dict _full, _name
    cdef unsigned long long _gen, _last_gen
    cdef bint _resize
    cdef list _last_in
    cdef bytes _last_out

    def __init__(self, huffman=True):
        self.huffman = huffman
        self._table = []
        self._size = 0
        self._max = DEFAULT_HEADER_TABLE_SIZE
        self._ins = 0
        self._full = {}
        self._name = {}
        self._gen = 1
        self._last_gen = 0
        self._resize = False
        self._min_resize = 0
        self._last_in = []
        self._last_out = b""

    @property
    def header_table_size(self):
        return self._max

    @header_table_size.setter
    def header_table_size(self, value):
        if not isinstance(value, int) or not 0 <= value <= MAX_INTEGER:
            raise ValueError(f"header table size must be an int in [0, 2**32 - 1], got {value!r}")
        if not self._resize:
            self._min_resize = value
        else:
            self._min_resize = min(self._min_resize, value)
        self._resize = True
        self._max = value
        self._evict(value)
        self._gen += 1

    cdef void _evict(self, Py_ssize_t room):
        cdef Py_ssize_t k = 0
        cdef tuple e
        while self._size > room:
            e = <tuple>self._table[k]
            self._size -= PyBytes_GET_SIZE(e[0]) + PyBytes_GET_SIZE(e[1]) + 32
            key = (e[0], e[1])
            if self._full.get(key) == e[2]:
                del self._full[key]
            if self._name.get(e[0]) == e[2]:
                del self._name[e[0]]
            k += 1
        if k:
            del self._table[:k]

    cdef void _add(self, bytes name, bytes value, Py_ssize_t size):
        self._gen += 1
        self._evict(self._max - size)
        ins = self._ins
        self._ins += 1
        self._table.append((name, value, ins))
        self._size += size
        self._full[(name, value)] = ins
        self._name[name] = ins

    def encode(self, headers, huffman=None):
        """One header block for ``headers``, ``(name, value)`` pairs of bytes (or str, as UTF-8)."""
        cdef list fields = headers if type(headers) is list else list(headers)
        cdef unsigned long long gen = self._gen
        if gen == self._last_gen and fields == self._last_in:
            return self._last_out
        cdef bint huff = self.huffman if huffman is None else huffman
        cdef bytearray out = bytearray()
        cdef int first, prefix
        cdef Py_ssize_t size, nindex
        cdef bytes name, value
        if self._resize:
            if self._min_resize < self._max:
                _put_integer(out, 0x20, 5, self._min_resize)
            _put_integer(out, 0x20, 5, self._max)
            self._resize = False
        for h in fields:
            n, v = h[0], h[1]
            name = n if type(n) is bytes else (n.encode("utf-8") if isinstance(n, str) else bytes(n))
            value = v if type(v) is bytes else (v.encode("utf-8") if isinstance(v, str) else bytes(v))
            key = (name, value)
            index = STATIC_FULL.get(key)
            if index is not None:
                _put_integer(out, 0x80, 7, index)
                continue
            ins = self._full.get(key)
            if ins is not None:
                _put_integer(out, 0x80, 7, _NSTATIC + self._ins - <Py_ssize_t>ins)
                continue
            index = STATIC_NAME.get(name)
            if index is None:
                ins = self._name.get(name)
                nindex = 0 if ins is None else _NSTATIC + self._ins - <Py_ssize_t>ins
            else:
                nindex = index
            size = PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(value) + 32
            if name in SENSITIVE or (len(h) > 2 and h[2]):
                first, prefix = 0x10, 4
            elif size > self._max:
                first, prefix = 0x00, 4
            else:
                first, prefix = 0x40, 6
            _put_integer(out, first, prefix, nindex)
            if not nindex:
                _put_string(out, name, huff)
            _put_string(out, value, huff)
            if first == 0x40:
                self._add(name, value, size)
        cdef bytes block = bytes(out)
        if self._gen == gen:
            self._last_in = list(fields)
            self._last_gen = gen
            self._last_out = block
        return block


cdef inline bint _is_ws(unsigned char c):
    return c == 0x20 or c == 0x09


def check_request(headers):
    """Check a decoded request header list (see ``_hpack_py.check_request``)."""
    cdef object method = None, scheme = None, path = None, authority = None, protocol = None, host = None
    cdef list cookies = None
    cdef list fields = []
    cdef bint regular = False
    cdef bytes name, value
    cdef const unsigned char *p
    cdef Py_ssize_t n, j
    for h in headers:
        name, value = h[0], h[1]
        n = PyBytes_GET_SIZE(name)
        if n == 0:
            raise MalformedHeaders("empty field name")
        j = PyBytes_GET_SIZE(value)
        if j:
            p = <const unsigned char *>PyBytes_AS_STRING(value)
            if memchr(p, 0, j) or memchr(p, 13, j) or memchr(p, 10, j):
                raise MalformedHeaders(f"NUL, CR or LF in the value of {name!r}")
            if _is_ws(p[0]) or _is_ws(p[j - 1]):
                raise MalformedHeaders(f"white space around the value of {name!r}")
        p = <const unsigned char *>PyBytes_AS_STRING(name)
        if p[0] == 0x3A:
            if regular:
                raise MalformedHeaders(f"pseudo-header {name!r} after a regular field")
            if name == b":method":
                if method is not None:
                    raise MalformedHeaders("repeated :method")
                method = value
            elif name == b":path":
                if path is not None:
                    raise MalformedHeaders("repeated :path")
                path = value
            elif name == b":scheme":
                if scheme is not None:
                    raise MalformedHeaders("repeated :scheme")
                scheme = value
            elif name == b":authority":
                if authority is not None:
                    raise MalformedHeaders("repeated :authority")
                authority = value
            elif name == b":protocol":
                if protocol is not None:
                    raise MalformedHeaders("repeated :protocol")
                protocol = value
            else:
                raise MalformedHeaders(f"unknown pseudo-header {name!r}")
            continue
        regular = True
        for j in range(n):
            if not _NAME_OK[p[j]]:
                raise MalformedHeaders(f"invalid field name {name!r}")
        if name in CONNECTION_SPECIFIC:
            raise MalformedHeaders(f"connection-specific field {name!r}")
        if n == 2 and name == b"te" and value.lower() != b"trailers":
            raise MalformedHeaders("te other than trailers")
        if n == 6 and name == b"cookie":
            if cookies is None:
                cookies = []
            cookies.append(value)
            continue
        if n == 4 and host is None and name == b"host":
            host = value
        fields.append((name, value))
    if method is None:
        raise MalformedHeaders("no :method")
    if method == b"CONNECT" and protocol is None:
        if scheme is not None or path is not None:
            raise MalformedHeaders("CONNECT with :scheme or :path")
    else:
        if protocol is not None and method != b"CONNECT":
            raise MalformedHeaders(":protocol without CONNECT")
        if scheme is None or path is None:
            raise MalformedHeaders("no :scheme or no :path")
    if path is not None and not path:
        raise MalformedHeaders("empty :path")
    if authority is None and host is None:
        raise MalformedHeaders("neither :authority nor host")
    if authority is not None and host is not None and authority != host:
        raise MalformedHeaders(":authority and host differ")
    if authority and host is None:
        fields.insert(0, (b"host", authority))
    if cookies is not None:
        fields.append((b"cookie", b"; ".join(cookies)))
    return method, path or b"", authority or b"", fields
