"""Chunked transfer coding, pure-Python twin: the reference (RFC 9112 section 7.1).

The compiled twin ``_chunked_c`` must behave exactly like this module on every
input: same data, same trailers, same exception class and ``status_hint``, at
the same byte. The decoder is a byte-at-a-time state machine over the framing
(size lines, CRLFs, trailers) and hands chunk data out by slicing, so it never
buffers a chunk and memory stays bounded by one ``feed()``.

Grammar (spec section 4.1)::

    chunked-body    = *chunk last-chunk trailer-section CRLF
    chunk           = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
    chunk-ext       = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
    chunk-ext-val   = token / quoted-string
    trailer-section = *( field-line CRLF )
"""

from __future__ import annotations

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

# Decoder states. The compiled twin uses the same numbering (an enum in the .pyx).
_SIZE_START = 0  # first hex digit of a chunk-size expected
_SIZE = 1  # inside the hex digits
_BWS = 2  # whitespace after the size or an extension value: ";" must follow
_EXT_NAME_START = 3  # after ";" (and BWS): a token must start
_EXT_NAME = 4
_EXT_NAME_BWS = 5  # whitespace after a name: "=" or ";" must follow
_EXT_VAL_START = 6  # after "=" (and BWS): token or quoted-string
_EXT_TOKEN_VAL = 7
_EXT_QUOTED = 8
_EXT_QPAIR = 9  # after a backslash inside a quoted-string
_EXT_VAL_END = 10  # after the closing quote
_SIZE_LF = 11  # CR seen at the end of a size line
_DATA = 12
_DATA_CR = 13  # CR expected right after the chunk data
_DATA_LF = 14
_TR_LINE_START = 15  # a trailer field line, or the final CRLF
_TR_NAME = 16
_TR_VALUE = 17
_TR_LF = 18  # CR seen at the end of a trailer field line
_END_LF = 19  # CR of the final empty line seen
_DONE = 20

_SP = 0x20
_HTAB = 0x09
_CR = 0x0D
_LF = 0x0A

# hex digit value, or -1
_HEX = [-1] * 256
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i
# RFC 9110 section 5.6.2: tchar
_TCHAR = [False] * 256
for _c in b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
    _TCHAR[_c] = True
# RFC 9110 section 5.6.4: qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
_QDTEXT = [False] * 256
for _c in [_HTAB, _SP, 0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F), *range(0x80, 0x100)]:
    _QDTEXT[_c] = True
# quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
_QPAIR = [False] * 256
for _c in [_HTAB, *range(0x20, 0x7F), *range(0x80, 0x100)]:
    _QPAIR[_c] = True
del _i, _c

# Error messages, shared word for word with the compiled twin.
E_FAILED = "decoder already failed"
E_EMPTY_SIZE = "empty chunk-size"
E_BAD_SIZE = "invalid character in chunk-size line"
E_TOO_BIG = "chunk-size exceeds max_chunk_size"
E_EXT_LIMIT = "chunk-size line exceeds max_chunk_ext_size"
E_TRAILING_WS = "whitespace before the end of a chunk-size line (strict mode)"
E_BARE_LF_SIZE = "bare LF in a chunk-size line (CRLF required in strict mode)"
E_BARE_LF_TRAILER = "bare LF in the trailer section (CRLF required in strict mode)"
E_BARE_CR_SIZE = "bare CR in a chunk-size line"
E_BARE_CR_TRAILER = "bare CR in the trailer section"
E_EXT = "malformed chunk extension"
E_DATA_CRLF = "CRLF expected after chunk data"
E_TRAILER = "malformed trailer field line"
E_OBS_FOLD = "obs-fold or leading whitespace in the trailer section"
E_TRAILER_VALUE = "NUL in a trailer field value"
E_TRAILER_LIMIT = "trailer section exceeds max_trailer_size"
E_INCOMPLETE = "incomplete chunked body: EOF before the last chunk and trailers"


class ChunkedDecoder:
    """Streaming decoder of a chunked message body (RFC 9112 section 7.1).

    ``feed(data)`` returns the body bytes it could decode from ``data`` (maybe
    ``b""``) at once; chunks are never buffered. Once the last chunk and the
    trailer section are read, ``done`` is True, ``trailers`` holds the trailer
    fields as ``(lower-case name, value)`` pairs (fields in
    :data:`FORBIDDEN_TRAILERS` dropped), and ``unused_data`` holds whatever
    followed the body (the next pipelined message); later feeds append there.
    ``close()`` or ``feed(b"")`` signals EOF and raises
    :class:`IncompleteBodyError` unless ``done``.

    Any violation raises :class:`ChunkedDecodeError` (``status_hint`` 400,
    413 for an oversized chunk, 431 for oversized trailers); the decoder then
    stays failed and every later call raises again.
    """

    __slots__ = (
        "max_chunk_ext_size",
        "max_trailer_size",
        "max_chunk_size",
        "lenient",
        "done",
        "trailers",
        "unused_data",
        "_state",
        "_size",
        "_remaining",
        "_ext_count",
        "_trailer_count",
        "_name",
        "_value",
        "_error",
    )

    def __init__(
        self,
        *,
        max_chunk_ext_size: int = DEFAULT_MAX_CHUNK_EXT_SIZE,
        max_trailer_size: int = DEFAULT_MAX_TRAILER_SIZE,
        max_chunk_size: int = DEFAULT_MAX_CHUNK_SIZE,
        lenient: bool = False,
    ) -> None:
        self.max_chunk_ext_size = check_limit("max_chunk_ext_size", max_chunk_ext_size, 2**62)
        self.max_trailer_size = check_limit("max_trailer_size", max_trailer_size, 2**62)
        self.max_chunk_size = check_limit("max_chunk_size", max_chunk_size, DEFAULT_MAX_CHUNK_SIZE)
        self.lenient = bool(lenient)
        self.done = False
        self.trailers: list[tuple[bytes, bytes]] = []
        self.unused_data = b""
        self._state = _SIZE_START
        self._size = 0
        self._remaining = 0
        self._ext_count = 0
        self._trailer_count = 0
        self._name = bytearray()
        self._value = bytearray()
        self._error: ChunkedDecodeError | None = None

    def _fail(self, msg: str, status_hint: int = 400) -> ChunkedDecodeError:
        err = ChunkedDecodeError(msg, status_hint=status_hint)
        self._error = err
        return err

    def close(self) -> None:
        """Signal EOF: raise :class:`IncompleteBodyError` unless the body ended (RFC 9112 8)."""
        if self._error is not None:
            raise type(self._error)(E_FAILED, status_hint=self._error.status_hint)
        if not self.done:
            err = IncompleteBodyError(E_INCOMPLETE, status_hint=400)
            self._error = err
            raise err

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """Decode ``data``; return the body bytes it contained. ``b""`` means EOF."""
        if type(data) is not bytes:
            data = _to_bytes(data)
        if self._error is not None:
            raise type(self._error)(E_FAILED, status_hint=self._error.status_hint)
        n = len(data)
        if n == 0:
            self.close()
            return b""
        if self.done:
            self.unused_data += data
            return b""
        out: list[bytes] = []
        st = self._state
        i = 0
        while i < n:
            if st == _DATA:
                # chunk data: hand out a slice of this feed, never buffer it
                take = min(self._remaining, n - i)
                out.append(data[i : i + take])
                i += take
                self._remaining -= take
                if self._remaining == 0:
                    st = _DATA_CR
                continue
            c = data[i]
            i += 1
            if st == _DATA_CR:
                if c != _CR:
                    raise self._fail(E_DATA_CRLF)
                st = _DATA_LF
            elif st == _DATA_LF:
                if c != _LF:
                    raise self._fail(E_DATA_CRLF)
                st = _SIZE_START
            elif st == _SIZE_START or st == _SIZE:
                d = _HEX[c]
                if d >= 0:
                    if self._size == 0:
                        if d == 0:
                            if st == _SIZE:
                                # extra leading zeros count against the line
                                # budget, so "000...0" cannot run forever
                                self._ext_count += 1
                                if self._ext_count > self.max_chunk_ext_size:
                                    raise self._fail(E_EXT_LIMIT)
                            st = _SIZE
                            continue
                    elif self._size > self.max_chunk_size >> 4:
                        # size * 16 would exceed the maximum: refuse before
                        # growing, so the value never wraps (RFC 9112 7.1)
                        raise self._fail(E_TOO_BIG, 413)
                    st = _SIZE
                    self._size = self._size * 16 + d
                    if self._size > self.max_chunk_size:
                        raise self._fail(E_TOO_BIG, 413)
                elif st == _SIZE_START:
                    raise self._fail(E_EMPTY_SIZE if c == _CR or c == _LF else E_BAD_SIZE)
                else:
                    st = self._size_line_char(c, _SIZE)
            else:
                if st <= _EXT_VAL_END:
                    st = self._size_line_char(c, st)
                elif st == _SIZE_LF:
                    if c != _LF:
                        raise self._fail(E_BARE_CR_SIZE)
                    st = self._end_size_line()
                elif st == _TR_LINE_START:
                    if c == _CR:
                        st = _END_LF
                    elif c == _LF:
                        if not self.lenient:
                            raise self._fail(E_BARE_LF_TRAILER)
                        st = _DONE
                    elif c == _SP or c == _HTAB:
                        raise self._fail(E_OBS_FOLD)
                    elif _TCHAR[c]:
                        self._count_trailer()
                        self._name.append(c)
                        st = _TR_NAME
                    else:
                        raise self._fail(E_TRAILER)
                elif st == _TR_NAME:
                    self._count_trailer()
                    if _TCHAR[c]:
                        self._name.append(c)
                    elif c == 0x3A:  # ":"
                        st = _TR_VALUE
                    else:
                        raise self._fail(E_TRAILER)
                elif st == _TR_VALUE:
                    self._count_trailer()
                    if c == _CR:
                        st = _TR_LF
                    elif c == _LF:
                        if not self.lenient:
                            raise self._fail(E_BARE_LF_TRAILER)
                        self._end_trailer_line()
                        st = _TR_LINE_START
                    elif c == 0:
                        raise self._fail(E_TRAILER_VALUE)
                    else:
                        self._value.append(c)
                elif st == _TR_LF:
                    self._count_trailer()
                    if c != _LF:
                        raise self._fail(E_BARE_CR_TRAILER)
                    self._end_trailer_line()
                    st = _TR_LINE_START
                else:  # _END_LF
                    if c != _LF:
                        raise self._fail(E_BARE_CR_TRAILER)
                    st = _DONE
            if st == _DONE:
                self.done = True
                # RFC 9112 section 7.1 and spec 4.3: bytes after the final CRLF
                # belong to the next message; hand them back unconsumed.
                self.unused_data = data[i:]
                break
        self._state = st
        if not out:
            return b""
        return out[0] if len(out) == 1 else b"".join(out)

    def _size_line_char(self, c: int, st: int) -> int:
        # One byte of a size line after the first non-digit: BWS, extensions,
        # the line end. Returns the new state.
        if c == _CR or c == _LF:
            if st == _SIZE or st == _EXT_NAME or st == _EXT_TOKEN_VAL or st == _EXT_VAL_END:
                pass
            elif st == _BWS or st == _EXT_NAME_BWS:
                # RFC 9112 has no trailing OWS after the size; h11 tolerates it
                if not self.lenient:
                    raise self._fail(E_TRAILING_WS)
            elif st == _EXT_QUOTED or st == _EXT_QPAIR:
                raise self._fail(E_EXT)  # unterminated quoted-string
            else:  # _EXT_NAME_START, _EXT_VAL_START: empty name or value
                raise self._fail(E_EXT)
            if c == _CR:
                return _SIZE_LF
            if not self.lenient:
                raise self._fail(E_BARE_LF_SIZE)
            return self._end_size_line()
        self._ext_count += 1
        if self._ext_count > self.max_chunk_ext_size:
            raise self._fail(E_EXT_LIMIT)
        ws = c == _SP or c == _HTAB
        if st == _SIZE:
            if c == 0x3B:  # ";"
                return _EXT_NAME_START
            if ws:
                return _BWS
            raise self._fail(E_BAD_SIZE)
        if st == _BWS or st == _EXT_VAL_END:
            if c == 0x3B:
                return _EXT_NAME_START
            if ws:
                return _BWS
            raise self._fail(E_EXT)
        if st == _EXT_NAME_START:
            if _TCHAR[c]:
                return _EXT_NAME
            if ws:
                return st
            raise self._fail(E_EXT)
        if st == _EXT_NAME or st == _EXT_NAME_BWS:
            if st == _EXT_NAME and _TCHAR[c]:
                return st
            if c == 0x3D:  # "="
                return _EXT_VAL_START
            if c == 0x3B:
                return _EXT_NAME_START
            if ws:
                return _EXT_NAME_BWS
            raise self._fail(E_EXT)
        if st == _EXT_VAL_START:
            if _TCHAR[c]:
                return _EXT_TOKEN_VAL
            if c == 0x22:  # DQUOTE
                return _EXT_QUOTED
            if ws:
                return st
            raise self._fail(E_EXT)
        if st == _EXT_TOKEN_VAL:
            if _TCHAR[c]:
                return st
            if c == 0x3B:
                return _EXT_NAME_START
            if ws:
                return _BWS
            raise self._fail(E_EXT)
        if st == _EXT_QUOTED:
            if c == 0x22:
                return _EXT_VAL_END
            if c == 0x5C:  # backslash
                return _EXT_QPAIR
            if _QDTEXT[c]:
                return st
            raise self._fail(E_EXT)
        # _EXT_QPAIR
        if _QPAIR[c]:
            return _EXT_QUOTED
        raise self._fail(E_EXT)

    def _end_size_line(self) -> int:
        size = self._size
        self._size = 0
        self._ext_count = 0
        if size == 0:
            return _TR_LINE_START
        self._remaining = size
        return _DATA

    def _count_trailer(self) -> None:
        self._trailer_count += 1
        if self._trailer_count > self.max_trailer_size:
            raise self._fail(E_TRAILER_LIMIT, 431)

    def _end_trailer_line(self) -> None:
        name = bytes(self._name).lower()
        value = bytes(self._value).strip(b" \t")
        self._name.clear()
        self._value.clear()
        # RFC 9110 section 6.5.1: never merge trailers into the header
        # section; fields that may not appear there are dropped.
        if name not in FORBIDDEN_TRAILERS:
            self.trailers.append((name, value))


def encode_chunk(data: bytes | bytearray | memoryview) -> bytes:
    """One chunk: hex size, CRLF, ``data``, CRLF. Empty data gives ``b""``.

    An empty write must never produce ``0\\r\\n\\r\\n``, which would end the
    body (RFC 9112 section 7.1, spec 4.4).
    """
    if type(data) is not bytes:
        data = _to_bytes(data)
    n = len(data)
    if n == 0:
        return b""
    return b"%x\r\n%b\r\n" % (n, data)


def _to_bytes(data: object) -> bytes:
    # Any contiguous buffer, as the compiled twin's PyObject_GetBuffer(PyBUF_SIMPLE)
    # takes it; anything else is the caller's TypeError / BufferError.
    with memoryview(data) as mv:  # type: ignore[arg-type]
        if not mv.c_contiguous:
            raise BufferError("data must be a C-contiguous buffer")
        return mv.tobytes()
