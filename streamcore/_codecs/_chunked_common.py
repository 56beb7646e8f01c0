"""Pure-Python pieces shared by both twins of the chunked codec.

Everything here is either cold (trailers are rare, framing is decided once per
message) or must be *the same object* in both twins (exception classes, limit
checks), so it lives once, in Python, and ``_chunked_py`` / ``_chunked_c``
both import it. Spec: ``streamable-http.md`` section 4 (RFC 9112 sections 6,
7.1 and 11.2; RFC 9110 section 6.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Tuple, Union

from .._errors import ChunkedDecodeError, LocalProtocolError

__all__ = [
    "DEFAULT_MAX_CHUNK_EXT_SIZE",
    "DEFAULT_MAX_TRAILER_SIZE",
    "DEFAULT_MAX_CHUNK_SIZE",
    "MAX_CONTENT_LENGTH",
    "FORBIDDEN_TRAILERS",
    "IncompleteBodyError",
    "FramingError",
    "BodyFraming",
    "check_limit",
    "encode_last_chunk",
    "framing_for_request",
]

#: Bytes a chunk-size line may carry besides its significant hex digits and its
#: CRLF: leading zeros, BWS and chunk extensions. Precedent: Go's
#: ``net/http/internal/chunked.go`` caps a chunk line at 4096 bytes
#: (``maxLineLength``); RFC 9112 section 7.1.1 says a server ought to cap it.
DEFAULT_MAX_CHUNK_EXT_SIZE = 4096

#: Bytes of the trailer section (its field lines with their CRLFs; the final
#: empty line is not counted). Precedent: h11's
#: ``DEFAULT_MAX_INCOMPLETE_EVENT_SIZE`` (16 KiB), which bounds a header block,
#: and Node.js's default ``--max-http-header-size`` (16 KiB).
DEFAULT_MAX_TRAILER_SIZE = 16 * 1024

#: Largest chunk-size accepted. Precedent: Go's ``parseHexUint`` and llhttp
#: (used by httptools) both read the size into a 64-bit integer; we use the
#: signed maximum so the compiled twin holds it in an ``int64`` without ever
#: wrapping (RFC 9112 section 7.1: guard against overflow).
DEFAULT_MAX_CHUNK_SIZE = 2**63 - 1

#: Largest Content-Length :func:`framing_for_request` accepts (same bound).
MAX_CONTENT_LENGTH = 2**63 - 1

#: Field names that must not be sent in trailers and that the decoder drops
#: when a peer sends them (RFC 9110 section 6.5.1 and the older, explicit list
#: in RFC 7230 section 4.1.2): framing, routing, request modifiers,
#: authentication, response control data, content format, and hop-by-hop
#: connection options (RFC 9110 section 7.6.1).
FORBIDDEN_TRAILERS = frozenset(
    {
        # framing
        b"content-length",
        b"transfer-encoding",
        b"trailer",
        # routing
        b"host",
        # request modifiers: controls and conditionals
        b"cache-control",
        b"expect",
        b"max-forwards",
        b"pragma",
        b"range",
        b"te",
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
        b"if-range",
        # authentication
        b"authorization",
        b"proxy-authorization",
        b"www-authenticate",
        b"proxy-authenticate",
        b"cookie",
        b"set-cookie",
        # response control data
        b"age",
        b"expires",
        b"date",
        b"location",
        b"retry-after",
        b"vary",
        b"warning",
        # content format and processing
        b"content-type",
        b"content-encoding",
        b"content-range",
        # connection options (hop-by-hop)
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"upgrade",
    }
)


class IncompleteBodyError(ChunkedDecodeError):
    """EOF arrived before the last chunk and the trailer section ended.

    RFC 9112 section 8: such a message is *incomplete*, never a success.
    """


class FramingError(ChunkedDecodeError):
    """The request's Transfer-Encoding / Content-Length fields are unusable.

    ``status_hint`` is 400 (malformed framing) or 501 (a transfer coding we
    do not implement). The connection must be closed after responding: the
    body's extent is unknown.
    """


def check_limit(name: str, value: object, maximum: int) -> int:
    """Validate a limit keyword: an ``int`` in ``0..maximum`` (caller misuse raises)."""
    if type(value) is bool or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= maximum:
        raise ValueError(f"{name} must be between 0 and {maximum}, got {value}")
    return int(value)


# RFC 9110 section 5.6.2: tchar
_TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

_Str = Union[bytes, bytearray, memoryview, str]


def _as_bytes(what: str, value: _Str) -> bytes:
    if isinstance(value, str):
        try:
            return value.encode("ascii")
        except UnicodeEncodeError:
            raise LocalProtocolError(f"trailer {what} {value!r} is not ASCII") from None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"trailer {what} must be bytes or str, not {type(value).__name__}")


def encode_last_chunk(trailers: Iterable[Tuple[_Str, _Str]] | None = None) -> bytes:
    """The last chunk, the trailer section and the final CRLF (RFC 9112 section 7.1).

    ``trailers`` is an iterable of ``(name, value)`` pairs (bytes or ASCII
    str); names keep their case. Raises :class:`LocalProtocolError` when a
    name is not a token, when a value holds CR, LF or NUL or starts or ends
    with whitespace (it would not survive the trip), or when the field may
    not appear in trailers (:data:`FORBIDDEN_TRAILERS`, RFC 9110 6.5.1).
    """
    if not trailers:
        return b"0\r\n\r\n"
    parts = [b"0\r\n"]
    for name, value in trailers:
        n = _as_bytes("name", name)
        v = _as_bytes("value", value)
        if not n or not _TCHAR.issuperset(n):
            raise LocalProtocolError(f"trailer name {n!r} is not a token")
        if n.lower() in FORBIDDEN_TRAILERS:
            raise LocalProtocolError(f"field {n!r} is not allowed in trailers (RFC 9110 6.5.1)")
        if b"\r" in v or b"\n" in v or b"\x00" in v:
            raise LocalProtocolError(f"trailer value {v!r} contains CR, LF or NUL")
        if v[:1] in (b" ", b"\t") or v[-1:] in (b" ", b"\t"):
            raise LocalProtocolError(f"trailer value {v!r} has leading or trailing whitespace")
        parts += (n, b": ", v, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class BodyFraming:
    """How to read a request body, from :func:`framing_for_request`.

    ``chunked`` True: decode with :class:`ChunkedDecoder`. Otherwise read
    exactly ``content_length`` bytes (0 when the request has neither field).
    ``must_close``: close the connection after responding (RFC 9112 6.1:
    Transfer-Encoding together with Content-Length, or on HTTP/1.0).
    """

    chunked: bool
    content_length: int | None
    must_close: bool


_OWS = b" \t"


def _list_elements(values: list[bytes]) -> list[bytes]:
    # RFC 9110 section 5.6.1: a recipient accepts and ignores empty list elements.
    out = []
    for value in values:
        for element in value.split(b","):
            element = element.strip(_OWS)
            if element:
                out.append(element)
    return out


def framing_for_request(
    headers: Iterable[Tuple[_Str, _Str]], *, http_version: _Str = b"1.1"
) -> BodyFraming:
    """Decide a request body's framing from its header fields (RFC 9112 section 6).

    ``headers`` holds ``(name, value)`` pairs, any case. Raises
    :class:`FramingError` (status_hint 400 or 501; always close the
    connection after answering) for:

    * a Transfer-Encoding whose last coding is not ``chunked`` (400, 6.3),
      ``chunked`` applied twice (400, 6.1), ``chunked`` with parameters
      (400, 7), an empty Transfer-Encoding (400);
    * any transfer coding besides ``chunked`` (501, 6.1: we implement none);
    * a Content-Length that is not 1*DIGIT, exceeds 2**63-1, or lists
      differing values (400, 6.3 and 8.6 of RFC 9110).

    Transfer-Encoding with Content-Length decodes by chunked, ignores the
    Content-Length and sets ``must_close`` (6.1, 6.3 item 3). So does
    Transfer-Encoding on HTTP/1.0 (6.1: faulty framing).
    """
    te_values: list[bytes] = []
    cl_values: list[bytes] = []
    for name, value in headers:
        n = _as_bytes("name", name).lower()
        if n == b"transfer-encoding":
            te_values.append(_as_bytes("value", value))
        elif n == b"content-length":
            cl_values.append(_as_bytes("value", value))
    version = _as_bytes("value", http_version)
    if te_values:
        codings = [c.lower() for c in _list_elements(te_values)]
        if not codings:
            raise FramingError("empty Transfer-Encoding", status_hint=400)
        last = codings[-1]
        if last.split(b";", 1)[0].rstrip(_OWS) == b"chunked" and last != b"chunked":
            raise FramingError("parameters on the chunked coding", status_hint=400)
        if last != b"chunked":
            raise FramingError("Transfer-Encoding does not end in chunked", status_hint=400)
        if codings.count(b"chunked") > 1:
            raise FramingError("chunked applied more than once", status_hint=400)
        if len(codings) > 1:
            raise FramingError(f"unsupported transfer coding {codings[0]!r}", status_hint=501)
        return BodyFraming(
            chunked=True, content_length=None, must_close=bool(cl_values) or version == b"1.0"
        )
    if cl_values:
        elements = [v.strip(_OWS) for value in cl_values for v in value.split(b",")]
        first = elements[0]
        if not first or not all(0x30 <= c <= 0x39 for c in first) or len(first) > 19:
            raise FramingError(f"invalid Content-Length {first!r}", status_hint=400)
        if any(e != first for e in elements):
            raise FramingError("conflicting Content-Length values", status_hint=400)
        length = int(first)
        if length > MAX_CONTENT_LENGTH:
            raise FramingError(f"Content-Length {length} too large", status_hint=400)
        return BodyFraming(chunked=False, content_length=length, must_close=False)
    # RFC 9112 section 6.3 item 7: a request with neither has no content.
    return BodyFraming(chunked=False, content_length=0, must_close=False)
