"""HTTP/2 for the asyncio adapters. The server runs on streamcore's own HTTP/2
connection and HPACK codec; the client needs the h2 package
(``pip install 'streamcore[http2]'``).

The public face of :mod:`streamcore.aio._h2server` and :mod:`streamcore.aio._h2client`:
``H2Config`` holds every HTTP/2 limit of the server, with its default; pass it as
``StreamableHttpServer(..., h2_config=H2Config(...))``. See ``docs/http2.md``.
"""

from __future__ import annotations

from ._h2client import DEFAULT_H2_WINDOW, H2Transport
from ._h2server import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_INITIAL_WINDOW_SIZE,
    DEFAULT_KEEPALIVE_INTERVAL,
    DEFAULT_KEEPALIVE_TIMEOUT,
    DEFAULT_MAX_CONCURRENT_STREAMS,
    DEFAULT_MAX_CONTINUATION_FRAMES,
    DEFAULT_MAX_HEADER_LIST_SIZE,
    DEFAULT_MAX_RESETS,
    DEFAULT_MAX_STREAM_BUFFER,
    DEFAULT_RESET_WINDOW,
    DEFAULT_SHUTDOWN_GRACE,
    PREFACE,
    H2Config,
    H2Connection,
    H2Listener,
)

__all__ = [
    "H2Config",
    "H2Listener",
    "H2Connection",
    "H2Transport",
    "PREFACE",
    "DEFAULT_H2_WINDOW",
    "DEFAULT_MAX_CONCURRENT_STREAMS",
    "DEFAULT_MAX_HEADER_LIST_SIZE",
    "DEFAULT_INITIAL_WINDOW_SIZE",
    "DEFAULT_MAX_STREAM_BUFFER",
    "DEFAULT_MAX_RESETS",
    "DEFAULT_RESET_WINDOW",
    "DEFAULT_MAX_CONTINUATION_FRAMES",
    "DEFAULT_KEEPALIVE_INTERVAL",
    "DEFAULT_KEEPALIVE_TIMEOUT",
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_SHUTDOWN_GRACE",
]
