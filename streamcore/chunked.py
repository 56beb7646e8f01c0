"""HTTP/1.1 chunked transfer coding (RFC 9112 section 7.1): a streaming decoder and an encoder.

Decode a request or response body as it arrives; chunks are never buffered::

    from streamcore.chunked import ChunkedDecoder
    dec = ChunkedDecoder()
    for piece in socket_reads:
        body_part = dec.feed(piece)          # bytes, maybe b""
        if dec.done:
            trailers = dec.trailers          # [(b"x-checksum", b"abc")]
            next_message = dec.unused_data   # pipelined bytes, unconsumed
            break
    else:
        dec.close()                          # EOF: IncompleteBodyError unless done

Encode::

    from streamcore.chunked import encode_chunk, encode_last_chunk
    encode_chunk(b"hello")                   # b"5\\r\\nhello\\r\\n"; b"" for b""
    encode_last_chunk([("X-Checksum", "abc")])

:func:`framing_for_request` decides, from a request's header fields, whether
its body is chunked or Content-Length delimited (or unusable: 400/501).
:func:`encode_event_chunk` is :func:`streamcore.sse.encode_event_chunk`, one
SSE event already framed as one chunk. See ``docs/chunked.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._ext import implementation_of, load_twin

_impl = load_twin("chunked")
#: "compiled" or "pure"
IMPLEMENTATION = implementation_of(_impl)

if TYPE_CHECKING:
    from ._codecs._chunked_py import (
        DEFAULT_MAX_CHUNK_EXT_SIZE,
        DEFAULT_MAX_CHUNK_SIZE,
        DEFAULT_MAX_TRAILER_SIZE,
        FORBIDDEN_TRAILERS,
        BodyFraming,
        ChunkedDecodeError,
        ChunkedDecoder,
        FramingError,
        IncompleteBodyError,
        encode_chunk,
        encode_last_chunk,
        framing_for_request,
    )
    from .sse import encode_event_chunk
else:
    DEFAULT_MAX_CHUNK_EXT_SIZE = _impl.DEFAULT_MAX_CHUNK_EXT_SIZE
    DEFAULT_MAX_CHUNK_SIZE = _impl.DEFAULT_MAX_CHUNK_SIZE
    DEFAULT_MAX_TRAILER_SIZE = _impl.DEFAULT_MAX_TRAILER_SIZE
    FORBIDDEN_TRAILERS = _impl.FORBIDDEN_TRAILERS
    BodyFraming = _impl.BodyFraming
    ChunkedDecodeError = _impl.ChunkedDecodeError
    ChunkedDecoder = _impl.ChunkedDecoder
    FramingError = _impl.FramingError
    IncompleteBodyError = _impl.IncompleteBodyError
    encode_chunk = _impl.encode_chunk
    encode_last_chunk = _impl.encode_last_chunk
    framing_for_request = _impl.framing_for_request
    # The fused SSE-event-in-a-chunk encoder belongs to the SSE codec; the
    # re-export is guarded so this module imports even without it.
    try:
        from .sse import encode_event_chunk
    except ImportError:  # pragma: no cover - only while the SSE codec is absent
        pass

__all__ = [
    "ChunkedDecoder",
    "encode_chunk",
    "encode_last_chunk",
    "encode_event_chunk",
    "framing_for_request",
    "BodyFraming",
    "ChunkedDecodeError",
    "IncompleteBodyError",
    "FramingError",
    "FORBIDDEN_TRAILERS",
    "DEFAULT_MAX_CHUNK_EXT_SIZE",
    "DEFAULT_MAX_TRAILER_SIZE",
    "DEFAULT_MAX_CHUNK_SIZE",
    "IMPLEMENTATION",
]
if "encode_event_chunk" not in globals():  # pragma: no cover
    __all__.remove("encode_event_chunk")
