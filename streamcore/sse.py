"""Server-sent events (``text/event-stream``): an incremental decoder and an encoder.

The decoder follows the WHATWG HTML event-stream algorithm exactly (9.2.5 and
9.2.6) and returns :class:`SseEvent` objects whose fields are ``str``::

    from streamcore.sse import SseDecoder
    dec = SseDecoder()
    for chunk in body_chunks:
        for ev in dec.feed(chunk):
            if ev.event == "message" and ev.data:   # CLI-SSE-04, CLI-SSE-06
                handle(ev.data)
    dec.close()

The encoder writes UTF-8 bytes ready for the wire::

    from streamcore.sse import encode_event, encode_priming, encode_comment
    encode_priming("s1-0", retry=3000)        # b"id: s1-0\\nretry: 3000\\ndata: \\n\\n"
    encode_event(b'{"jsonrpc":"2.0"}', id="s1-1")
    encode_comment()                          # b":\\n", a keep-alive

:func:`encode_event_chunk` returns the same event already framed as one
HTTP/1.1 chunk. See ``docs/sse.md`` for limits, errors and policy decisions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._ext import implementation_of, load_twin

_impl = load_twin("sse")
#: "compiled" or "pure"
IMPLEMENTATION = implementation_of(_impl)

if TYPE_CHECKING:
    from ._codecs._sse_py import (
        DEFAULT_MAX_EVENT_SIZE,
        DEFAULT_MAX_LINE_SIZE,
        MAX_RETRY,
        SseDecoder,
        SseEvent,
        encode_comment,
        encode_event,
        encode_event_chunk,
        encode_priming,
    )
else:
    DEFAULT_MAX_EVENT_SIZE = _impl.DEFAULT_MAX_EVENT_SIZE
    DEFAULT_MAX_LINE_SIZE = _impl.DEFAULT_MAX_LINE_SIZE
    MAX_RETRY = _impl.MAX_RETRY
    SseDecoder = _impl.SseDecoder
    SseEvent = _impl.SseEvent
    encode_comment = _impl.encode_comment
    encode_event = _impl.encode_event
    encode_event_chunk = _impl.encode_event_chunk
    encode_priming = _impl.encode_priming

from ._codecs._sse_common import SseEventBase  # noqa: E402
from ._errors import SseDecodeError  # noqa: E402

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "DEFAULT_MAX_LINE_SIZE",
    "IMPLEMENTATION",
    "MAX_RETRY",
    "SseDecodeError",
    "SseDecoder",
    "SseEvent",
    "SseEventBase",
    "encode_comment",
    "encode_event",
    "encode_event_chunk",
    "encode_priming",
]
