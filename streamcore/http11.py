"""streamcore's HTTP/1.1 engine: a sans-IO server connection (bytes <-> HTTP events).

Strict RFC 9112 parsing, bounded, compiled (Cython) with a pure-Python twin
like the codecs (``IMPLEMENTATION`` says which one is in use); an embedder on a custom event loop uses it
instead of bringing h11. See ``docs/http11.md``.
"""

from __future__ import annotations

from ._http11 import (
    IMPLEMENTATION,
    _impl,
    DEFAULT_MAX_FIELDS,
    DEFAULT_MAX_HEAD_SIZE,
    END,
    Http11Connection,
    Http11Error,
    NEED_DATA,
    PAUSED,
    MAX_CONTENT_LENGTH_DIGITS,
    RequestHead,
    target_form,
)

__all__ = [
    "Http11Error",
    "Http11Connection",
    "RequestHead",
    "NEED_DATA",
    "PAUSED",
    "END",
    "DEFAULT_MAX_HEAD_SIZE",
    "DEFAULT_MAX_FIELDS",
    "MAX_CONTENT_LENGTH_DIGITS",
    "target_form",
    "IMPLEMENTATION",
]
