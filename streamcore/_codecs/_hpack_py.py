"""HPACK (RFC 7541): header block encoder and decoder, the pure-Python reference twin.

The compiled twin ``_hpack_c`` has the identical API; this module is the spec.

Both objects have the interface ``h2.connection.H2Connection`` expects of its
``encoder`` and ``decoder`` attributes (``encode(headers)``,
``header_table_size``; ``decode(data, raw=True)``, ``max_header_list_size``,
``max_allowed_table_size``), so the HTTP/2 adapter swaps them into h2.

Repeated blocks cost one comparison. MCP traffic on one connection repeats its
header blocks exactly (every ``tools/call`` POST of a session carries the same
fields, every reply the same head), and once the fields are in the dynamic
table such a block is nothing but indexed references: decoding it again, or
encoding the same list again, cannot change the table, so the result of the
last block that left the table untouched is kept, with the table's generation,
and a block equal to it is answered from there.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from ._hpack_common import (
    DEFAULT_HEADER_TABLE_SIZE,
    DEFAULT_MAX_HEADER_LIST_SIZE,
    MAX_INTEGER,
    CONNECTION_SPECIFIC,
    HUFFMAN_CODES,
    HUFFMAN_COUNT,
    HUFFMAN_FIRST,
    HUFFMAN_LENGTHS,
    HUFFMAN_OFFSET,
    HUFFMAN_SYMBOLS,
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

Header = tuple[bytes, bytes]
_NSTATIC = len(STATIC_TABLE)  # 61

# Bytes allowed in a field name (RFC 9113 section 8.2.1): visible ASCII but
# upper case letters, and no colon past the first byte (checked apart).
_NAME_CHARS = bytes(c for c in range(0x21, 0x7F) if not 0x41 <= c <= 0x5A and c != 0x3A)


def huffman_encode(data: bytes) -> bytes:
    """``data`` in the Huffman code of RFC 7541 Appendix B, padded with 1 bits."""
    out = bytearray()
    acc = bits = 0
    codes, lengths = HUFFMAN_CODES, HUFFMAN_LENGTHS
    for b in data:
        acc = (acc << lengths[b]) | codes[b]
        bits += lengths[b]
        while bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
        acc &= (1 << bits) - 1
    if bits:
        out.append(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xFF)
    return bytes(out)


def huffman_decode(data: bytes) -> bytes:
    """Decode a Huffman-coded string; :class:`HpackDecodeError` on EOS, on a code
    longer than 30 bits, or on padding that is not a prefix of EOS (section 5.2)."""
    out = bytearray()
    first, count, offset, symbols = HUFFMAN_FIRST, HUFFMAN_COUNT, HUFFMAN_OFFSET, HUFFMAN_SYMBOLS
    code = length = 0
    for byte in data:
        for shift in (7, 6, 5, 4, 3, 2, 1, 0):
            code = (code << 1) | ((byte >> shift) & 1)
            length += 1
            k = code - first[length]
            if 0 <= k < count[length]:
                sym = symbols[offset[length] + k]
                if sym == 256:
                    raise HpackDecodeError("EOS symbol in a Huffman-coded string")
                out.append(sym)
                code = length = 0
            elif length >= 30:
                raise HpackDecodeError("invalid Huffman code")
    if length > 7 or code != (1 << length) - 1:
        raise HpackDecodeError("invalid Huffman padding")
    return bytes(out)


def _integer(data: bytes, i: int, end: int, prefix: int) -> tuple[int, int]:
    """The integer whose first byte is ``data[i]`` with a ``prefix``-bit prefix (section 5.1)."""
    mask = (1 << prefix) - 1
    value = data[i] & mask
    i += 1
    if value < mask:
        return value, i
    shift = 0
    while True:
        if i >= end:
            raise HpackDecodeError("truncated integer")
        b = data[i]
        i += 1
        if shift > 28:
            raise HpackDecodeError("integer too large")
        value += (b & 0x7F) << shift
        if value > MAX_INTEGER:
            raise HpackDecodeError("integer too large")
        if not b & 0x80:
            return value, i
        shift += 7


def _string(data: bytes, i: int, end: int) -> tuple[bytes, int]:
    if i >= end:
        raise HpackDecodeError("truncated string")
    huff = data[i] & 0x80
    length, i = _integer(data, i, end, 7)
    if length > end - i:
        raise HpackDecodeError("string longer than the header block")
    s = data[i:i + length]
    return (huffman_decode(s) if huff else s), i + length


def _put_integer(out: bytearray, first: int, prefix: int, value: int) -> None:
    mask = (1 << prefix) - 1
    if value < mask:
        out.append(first | value)
        return
    out.append(first | mask)
    value -= mask
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _put_string(out: bytearray, s: bytes, huffman: bool) -> None:
    if huffman and s:
        h = huffman_encode(s)
        if len(h) < len(s):
            _put_integer(out, 0x80, 7, len(h))
            out += h
            return
    _put_integer(out, 0, 7, len(s))
    out += s


class Decoder:
    """The decoding side of one HPACK context (one per HTTP/2 connection).

    ``max_header_list_size`` bounds the decoded list (:class:`HeaderListTooLarge`);
    ``max_allowed_table_size`` is our SETTINGS_HEADER_TABLE_SIZE, the largest
    table the peer may ask for with a size update. Any other fault raises
    :class:`HpackDecodeError`, after which the context is unusable (the
    connection must end with COMPRESSION_ERROR, RFC 9113 section 4.3).
    """

    __slots__ = ("max_header_list_size", "max_allowed_table_size", "_table", "_size", "_max", "_gen",
                 "_last_block", "_last_gen", "_last_out", "_last_size")

    def __init__(self, max_header_list_size: int = DEFAULT_MAX_HEADER_LIST_SIZE,
                 max_allowed_table_size: int = DEFAULT_HEADER_TABLE_SIZE) -> None:
        self.max_header_list_size = max_header_list_size
        self.max_allowed_table_size = max_allowed_table_size
        self._table: list[Header] = []  # newest last
        self._size = 0
        self._max = DEFAULT_HEADER_TABLE_SIZE
        self._gen = 0  # bumped on every change of the table
        self._last_block = b""
        self._last_gen = -1
        self._last_out: list[Header] = []
        self._last_size = 0

    @property
    def header_table_size(self) -> int:
        """The dynamic table's current maximum size (the peer's last size update)."""
        return self._max

    @property
    def table(self) -> list[Header]:
        """The dynamic table, newest entry first (a copy)."""
        return self._table[::-1]

    def _add(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value) + 32
        self._gen += 1
        if size > self._max:  # section 4.4: not an error, the table empties
            self._table.clear()
            self._size = 0
            return
        self._evict(self._max - size)
        self._table.append((name, value))
        self._size += size

    def _evict(self, room: int) -> None:
        table = self._table
        k = 0
        while self._size > room:
            n, v = table[k]
            self._size -= len(n) + len(v) + 32
            k += 1
        if k:
            del table[:k]

    def _get(self, index: int) -> Header:
        if index == 0:
            raise HpackDecodeError("index 0")
        if index <= _NSTATIC:
            return STATIC_TABLE[index - 1]
        j = index - _NSTATIC
        if j > len(self._table):
            raise HpackDecodeError(f"index {index} past the end of the table")
        return self._table[-j]

    def decode(self, data: bytes, raw: bool = True) -> list[Header]:
        """Decode one complete header block into a list of ``(name, value)`` byte pairs."""
        if not raw:
            raise ValueError("only raw (bytes) decoding is supported")
        if not isinstance(data, bytes):
            data = bytes(data)
        gen = self._gen
        if gen == self._last_gen and data == self._last_block:
            if self._last_size > self.max_header_list_size:
                raise HeaderListTooLarge("header list larger than max_header_list_size")
            return list(self._last_out)
        out: list[Header] = []
        limit = self.max_header_list_size
        size = 0
        i, end = 0, len(data)
        fields = False
        while i < end:
            b = data[i]
            if b & 0x80:  # indexed field (section 6.1)
                index, i = _integer(data, i, end, 7)
                field = self._get(index)
            elif b & 0x40:  # literal, incremental indexing (6.2.1)
                index, i = _integer(data, i, end, 6)
                name = self._get(index)[0] if index else None
                if name is None:
                    name, i = _string(data, i, end)
                value, i = _string(data, i, end)
                field = (name, value)
                self._add(name, value)
            elif b & 0x20:  # dynamic table size update (6.3)
                if fields:
                    raise HpackDecodeError("table size update after a field (section 4.2)")
                new, i = _integer(data, i, end, 5)
                if new > self.max_allowed_table_size:
                    raise HpackDecodeError(f"table size update to {new} past SETTINGS_HEADER_TABLE_SIZE")
                self._max = new
                self._evict(new)
                self._gen += 1
                continue
            else:  # literal without indexing (6.2.2) or never indexed (6.2.3)
                index, i = _integer(data, i, end, 4)
                name = self._get(index)[0] if index else None
                if name is None:
                    name, i = _string(data, i, end)
                value, i = _string(data, i, end)
                field = (name, value)
            fields = True
            size += len(field[0]) + len(field[1]) + 32
            if size > limit:
                raise HeaderListTooLarge("header list larger than max_header_list_size")
            out.append(field)
        if self._gen == gen:
            self._last_block, self._last_gen, self._last_out, self._last_size = data, gen, out, size
            return list(out)
        return out


class Encoder:
    """The encoding side of one HPACK context.

    Every field is indexed when the static or dynamic table holds it, else sent
    as a literal added to the dynamic table (a literal never indexed for the
    credential fields in ``SENSITIVE``, and a literal not indexed when it is
    larger than the table). Strings are Huffman-coded when that is shorter.
    Set ``header_table_size`` to the peer's SETTINGS_HEADER_TABLE_SIZE; the
    size update is signalled at the start of the next block (section 4.2).
    """

    __slots__ = ("_table", "_size", "_max", "_ins", "_full", "_name", "_gen", "_resize", "_min_resize",
                 "_last_in", "_last_gen", "_last_out", "huffman")

    def __init__(self, huffman: bool = True) -> None:
        self.huffman = huffman
        self._table: list[tuple[bytes, bytes, int]] = []  # (name, value, insertion number), newest last
        self._size = 0
        self._max = DEFAULT_HEADER_TABLE_SIZE
        self._ins = 0  # insertions so far: entry k sits at index 62 + (_ins - 1 - k)
        self._full: dict[Header, int] = {}
        self._name: dict[bytes, int] = {}
        self._gen = 0
        self._resize = False
        self._min_resize = 0
        self._last_in: list[Sequence[bytes]] = []
        self._last_gen = -1
        self._last_out = b""

    @property
    def header_table_size(self) -> int:
        return self._max

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
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

    def _evict(self, room: int) -> None:
        table = self._table
        k = 0
        while self._size > room:
            n, v, ins = table[k]
            self._size -= len(n) + len(v) + 32
            if self._full.get((n, v)) == ins:
                del self._full[(n, v)]
            if self._name.get(n) == ins:
                del self._name[n]
            k += 1
        if k:
            del table[:k]

    def _add(self, name: bytes, value: bytes, size: int) -> None:
        self._gen += 1
        self._evict(self._max - size)
        ins = self._ins
        self._ins = ins + 1
        self._table.append((name, value, ins))
        self._size += size
        self._full[(name, value)] = ins
        self._name[name] = ins

    def encode(self, headers: Iterable[Sequence[bytes]], huffman: bool | None = None) -> bytes:
        """One header block for ``headers``, ``(name, value)`` pairs of bytes (or str, as UTF-8)."""
        fields = headers if isinstance(headers, list) else list(headers)
        gen = self._gen
        if gen == self._last_gen and fields == self._last_in:
            return self._last_out
        huff = self.huffman if huffman is None else huffman
        out = bytearray()
        if self._resize:
            if self._min_resize < self._max:
                _put_integer(out, 0x20, 5, self._min_resize)
            _put_integer(out, 0x20, 5, self._max)
            self._resize = False
        for h in fields:
            name, value = h[0], h[1]
            if not isinstance(name, bytes):
                name = bytes(name, "utf-8") if isinstance(name, str) else bytes(name)
            if not isinstance(value, bytes):
                value = bytes(value, "utf-8") if isinstance(value, str) else bytes(value)
            key = (name, value)
            index = STATIC_FULL.get(key)
            if index is not None:
                _put_integer(out, 0x80, 7, index)
                continue
            ins = self._full.get(key)
            if ins is not None:
                _put_integer(out, 0x80, 7, _NSTATIC + self._ins - ins)
                continue
            nindex = STATIC_NAME.get(name)
            if nindex is None:
                ins = self._name.get(name)
                nindex = 0 if ins is None else _NSTATIC + self._ins - ins
            size = len(name) + len(value) + 32
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
        block = bytes(out)
        if self._gen == gen:
            self._last_in = list(fields)
            self._last_gen, self._last_out = gen, block
        return block


def check_request(headers: Sequence[Sequence[bytes]]) -> tuple[bytes, bytes, bytes, list[Header]]:
    """Check a decoded request header list as RFC 9113 sections 8.2 and 8.3 ask;
    return ``(method, path, authority, fields)``.

    ``fields`` are the regular fields in order, with ``host`` first from
    ``:authority`` when the request has no Host (section 8.3.1) and the
    ``cookie`` fields joined into one (section 8.2.3). Raises
    :class:`MalformedHeaders`: an empty, upper-case or otherwise invalid name,
    a value with NUL, CR or LF or with surrounding white space, a
    connection-specific field, ``te`` other than "trailers", an unknown,
    repeated or late pseudo-header, a missing ``:method``/``:scheme``/``:path``,
    an empty ``:path``, neither ``:authority`` nor Host, or the two differing.
    """
    method = scheme = path = authority = protocol = host = None
    cookies: list[bytes] | None = None
    fields: list[Header] = []
    regular = False
    for h in headers:
        name, value = h[0], h[1]
        if not name:
            raise MalformedHeaders("empty field name")
        if value:
            if b"\x00" in value or b"\r" in value or b"\n" in value:
                raise MalformedHeaders(f"NUL, CR or LF in the value of {name!r}")
            if value[0] in (0x20, 0x09) or value[-1] in (0x20, 0x09):
                raise MalformedHeaders(f"white space around the value of {name!r}")
        if name[0] == 0x3A:
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
        if name.translate(None, _NAME_CHARS):
            raise MalformedHeaders(f"invalid field name {name!r}")
        if name in CONNECTION_SPECIFIC:
            raise MalformedHeaders(f"connection-specific field {name!r}")
        if name == b"te" and value.lower() != b"trailers":
            raise MalformedHeaders("te other than trailers")
        if name == b"cookie":
            if cookies is None:
                cookies = []
            cookies.append(value)
            continue
        if name == b"host" and host is None:
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
