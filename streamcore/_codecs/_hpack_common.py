"""Pure pieces shared by both HPACK twins: the RFC 7541 tables, limits and errors.

Both ``_hpack_py`` and ``_hpack_c`` import this module, so a table or a limit
can never drift between them.

* The static table is RFC 7541 Appendix A.
* The Huffman code is RFC 7541 Appendix B. It is canonical (codes of one length
  are consecutive, in symbol order, and shorter codes come first), so the code
  lengths alone define it; the codes are rebuilt from them at import.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_HEADER_TABLE_SIZE",
    "DEFAULT_MAX_HEADER_LIST_SIZE",
    "MAX_INTEGER",
    "HpackDecodeError",
    "HeaderListTooLarge",
    "MalformedHeaders",
    "STATIC_TABLE",
    "STATIC_FULL",
    "STATIC_NAME",
    "HUFFMAN_CODES",
    "HUFFMAN_LENGTHS",
    "HUFFMAN_FIRST",
    "HUFFMAN_COUNT",
    "HUFFMAN_OFFSET",
    "HUFFMAN_SYMBOLS",
    "CONNECTION_SPECIFIC",
    "REQUEST_PSEUDO",
    "SENSITIVE",
]

#: SETTINGS_HEADER_TABLE_SIZE's initial value (RFC 9113 section 6.5.2).
DEFAULT_HEADER_TABLE_SIZE: int = 4096
#: The decoder's bound on a decoded header list (name + value + 32 per field,
#: RFC 9113 section 6.5.2), the same 64 KiB as our HTTP/1.1 head limit.
DEFAULT_MAX_HEADER_LIST_SIZE: int = 64 * 1024
#: Largest integer a representation may carry (RFC 7541 section 5.1 sets no
#: bound; every real value, an index, a length or a table size, fits 32 bits).
MAX_INTEGER: int = 2**32 - 1

_decode_bases: tuple[type[Exception], ...] = (ValueError,)
_too_large_bases: tuple[type[Exception], ...] = ()
try:  # h2 maps hpack's exceptions to its own errors: be one of them when it is installed
    from hpack.exceptions import HPACKDecodingError, OversizedHeaderListError
except ImportError:  # pragma: no cover - the http2 extra is not installed
    pass
else:
    _decode_bases = (HPACKDecodingError, ValueError)
    _too_large_bases = (OversizedHeaderListError,)


class HpackDecodeError(*_decode_bases):  # type: ignore[misc]
    """A header block that is not valid HPACK (RFC 7541): a COMPRESSION_ERROR
    (RFC 9113 section 4.3). A ``ValueError``; also ``hpack``'s
    ``HPACKDecodingError`` when the ``hpack`` package is installed."""


class HeaderListTooLarge(HpackDecodeError, *_too_large_bases):  # type: ignore[misc]
    """The decoded header list is over ``max_header_list_size`` (an HPACK bomb)."""


class MalformedHeaders(ValueError):
    """A request header list that RFC 9113 section 8.2 and 8.3 call malformed
    (a stream error of type PROTOCOL_ERROR, section 8.1.1)."""


STATIC_TABLE: tuple[tuple[bytes, bytes], ...] = tuple(
    (n.encode(), v.encode())
    for n, v in (
        (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"),
        (":path", "/index.html"), (":scheme", "http"), (":scheme", "https"), (":status", "200"),
        (":status", "204"), (":status", "206"), (":status", "304"), (":status", "400"),
        (":status", "404"), (":status", "500"), ("accept-charset", ""), ("accept-encoding", "gzip, deflate"),
        ("accept-language", ""), ("accept-ranges", ""), ("accept", ""), ("access-control-allow-origin", ""),
        ("age", ""), ("allow", ""), ("authorization", ""), ("cache-control", ""),
        ("content-disposition", ""), ("content-encoding", ""), ("content-language", ""), ("content-length", ""),
        ("content-location", ""), ("content-range", ""), ("content-type", ""), ("cookie", ""),
        ("date", ""), ("etag", ""), ("expect", ""), ("expires", ""),
        ("from", ""), ("host", ""), ("if-match", ""), ("if-modified-since", ""),
        ("if-none-match", ""), ("if-range", ""), ("if-unmodified-since", ""), ("last-modified", ""),
        ("link", ""), ("location", ""), ("max-forwards", ""), ("proxy-authenticate", ""),
        ("proxy-authorization", ""), ("range", ""), ("referer", ""), ("refresh", ""),
        ("retry-after", ""), ("server", ""), ("set-cookie", ""), ("strict-transport-security", ""),
        ("transfer-encoding", ""), ("user-agent", ""), ("vary", ""), ("via", ""),
        ("www-authenticate", ""),
    )
)
#: (name, value) -> its static index (1-based); name -> its first static index.
STATIC_FULL: dict[tuple[bytes, bytes], int] = {}
STATIC_NAME: dict[bytes, int] = {}
for _i, _f in enumerate(STATIC_TABLE, 1):
    STATIC_FULL.setdefault(_f, _i)
    STATIC_NAME.setdefault(_f[0], _i)

#: Code length in bits of each symbol 0..255 and EOS (256), RFC 7541 Appendix B.
HUFFMAN_LENGTHS: tuple[int, ...] = tuple(bytes.fromhex(
    "0d171c1c1c1c1c1c1c181e1c1c1e1c1c1c1c1c1c1c1c1e1c1c1c1c1c1c1c1c1c060a0a0c0d06080b0a0a080b0806060605050506"
    "06060606060607080f060c0a0d06070707070707070707070707070707070707070707070807080d130d0e060f0506050605060606"
    "0507070606060506070605050607070707070f0b0e0d1c141614141616161716171717171718171818161718171717171516171617"
    "171816151416161717151716161815161717151516151716171714161616171616171a1a1413161716191a1a1a1b1b1a181913151a"
    "1b1b1a1b1815151a1a1c1b1b1b14181415161515171616191918181a171a1b1a1a1b1b1b1b1b1c1b1b1b1b1b1a1e"
))


def _canonical() -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    order = sorted(range(257), key=lambda s: (HUFFMAN_LENGTHS[s], s))
    codes = [0] * 257
    first = [0] * 32  # first code of each length
    count = [0] * 32  # codes of each length
    offset = [0] * 32  # index in `order` of the first symbol of each length
    code, prev = 0, HUFFMAN_LENGTHS[order[0]]
    for i, s in enumerate(order):
        length = HUFFMAN_LENGTHS[s]
        if i:
            code = (code + 1) << (length - prev)
        prev = length
        codes[s] = code
        if count[length] == 0:
            first[length], offset[length] = code, i
        count[length] += 1
    return tuple(codes), tuple(first), tuple(count), tuple(offset), tuple(order)


HUFFMAN_CODES, HUFFMAN_FIRST, HUFFMAN_COUNT, HUFFMAN_OFFSET, HUFFMAN_SYMBOLS = _canonical()
assert len(HUFFMAN_LENGTHS) == 257 and HUFFMAN_CODES[256] == 2**30 - 1  # EOS: thirty 1 bits

#: Fields RFC 9113 section 8.2.2 forbids in HTTP/2 (``te`` is allowed as "trailers" only).
CONNECTION_SPECIFIC: frozenset[bytes] = frozenset(
    {b"connection", b"proxy-connection", b"keep-alive", b"transfer-encoding", b"upgrade"}
)
#: Pseudo-header fields of a request (RFC 9113 section 8.3.1; ``:protocol``, RFC 8441).
REQUEST_PSEUDO: frozenset[bytes] = frozenset({b":method", b":scheme", b":authority", b":path", b":protocol"})
#: Fields the encoder never adds to the dynamic table, and marks never-indexed
#: (RFC 7541 section 7.1.3): credentials must not be guessable by compression.
SENSITIVE: frozenset[bytes] = frozenset({b"authorization", b"proxy-authorization", b"cookie", b"set-cookie"})
