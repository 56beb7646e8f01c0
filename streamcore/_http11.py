"""The HTTP/1.1 server engine in use: the compiled twin if built and allowed, else the pure one.

The twins are ``streamcore._codecs._http11_py`` (the reference) and
``streamcore._codecs._http11_c`` (Cython), selected like the codecs
(``STREAMCORE_NO_EXTENSIONS``, see ``docs/design.md``, "Twins"); their shared
pieces (the error, the events, the target-form check) are in
``_http11_common``. The public face is :mod:`streamcore.http11`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._ext import implementation_of, load_twin

_impl = load_twin("http11")
#: "compiled" or "pure"
IMPLEMENTATION = implementation_of(_impl)

if TYPE_CHECKING:
    from ._codecs._http11_py import (
        CLOSED,
        DEFAULT_MAX_FIELDS,
        DEFAULT_MAX_HEAD_SIZE,
        END,
        MAX_CONTENT_LENGTH_DIGITS,
        NEED_DATA,
        PAUSED,
        Http11Connection,
        Http11Error,
        RequestHead,
        target_form,
    )
else:
    CLOSED = _impl.CLOSED
    DEFAULT_MAX_FIELDS = _impl.DEFAULT_MAX_FIELDS
    DEFAULT_MAX_HEAD_SIZE = _impl.DEFAULT_MAX_HEAD_SIZE
    END = _impl.END
    MAX_CONTENT_LENGTH_DIGITS = _impl.MAX_CONTENT_LENGTH_DIGITS
    NEED_DATA = _impl.NEED_DATA
    PAUSED = _impl.PAUSED
    Http11Connection = _impl.Http11Connection
    Http11Error = _impl.Http11Error
    RequestHead = _impl.RequestHead
    target_form = _impl.target_form

__all__ = [
    "Http11Error",
    "Http11Connection",
    "RequestHead",
    "NEED_DATA",
    "PAUSED",
    "END",
    "CLOSED",
    "DEFAULT_MAX_HEAD_SIZE",
    "DEFAULT_MAX_FIELDS",
    "MAX_CONTENT_LENGTH_DIGITS",
    "target_form",
    "IMPLEMENTATION",
]
