"""Exception hierarchy shared by every layer of streamcore.

Modelled on h11: one abstract base that carries a *hint* saying what to send
back, split into "you (the caller) misused the API" and "the peer sent
something illegal". Codecs raise specific subclasses of
:class:`RemoteProtocolError`, so an adapter can catch exactly one type for
"garbage from the wire" and still tell the cases apart when it wants to.
"""

from __future__ import annotations

__all__ = [
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "SseDecodeError",
    "ChunkedDecodeError",
    "JsonRpcDecodeError",
    "McpError",
]


class ProtocolError(Exception):
    """Base of every protocol error raised by streamcore.

    ``status_hint`` is the HTTP status a server would answer with; some
    subclasses also carry ``code_hint``, the JSON-RPC error code.
    Do not instantiate this class directly: raise one of the subclasses.
    """

    status_hint: int = 400

    def __init__(self, msg: str, *, status_hint: int | None = None) -> None:
        if type(self) is ProtocolError:
            raise TypeError("ProtocolError is abstract; raise a subclass")
        super().__init__(msg)
        if status_hint is not None:
            self.status_hint = status_hint


class LocalProtocolError(ProtocolError):
    """The caller asked streamcore to do something the protocol forbids.

    For example: encoding an SSE ``id`` containing a line break.
    """

    status_hint = 500


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol forbids.

    Every codec's decoder raises a documented subclass of this class, and
    only that, for any input whatsoever.
    """


# Codec errors. Both twins of a codec raise these very classes (they live here,
# in pure Python, so that ``except SseDecodeError`` works whichever twin runs).


class SseDecodeError(RemoteProtocolError):
    """An SSE stream exceeded a decoder limit (line or event size).

    The WHATWG algorithm itself never fails on content; only our bounds do.
    """

    status_hint = 502


class ChunkedDecodeError(RemoteProtocolError):
    """A chunked message body violates RFC 9112 section 7.1 or a limit."""


class JsonRpcDecodeError(RemoteProtocolError):
    """A body could not be read as JSON-RPC 2.0 at all.

    ``code_hint`` is the JSON-RPC error code to answer with (-32700 parse
    error, -32600 invalid request, ...). Errors confined to one element of a
    batch are reported in the parse result instead, not raised.
    """

    code_hint: int = -32700

    def __init__(self, msg: str, *, code_hint: int | None = None, status_hint: int | None = None) -> None:
        super().__init__(msg, status_hint=status_hint)
        if code_hint is not None:
            self.code_hint = code_hint


class McpError(Exception):
    """A JSON-RPC error an application answers with, or a peer answered with.

    The one error class of the application seam on both sides: a server
    handler raises it to answer its request with ``{"code", "message",
    "data"}``; the client fails a request with it when the server's answer is
    a JSON-RPC error. ``http_status`` is the HTTP status that carried the
    error, when known (the client sets it; 2026-07-28 maps codes to statuses).
    """

    def __init__(self, code: int, message: str, data: object = None) -> None:
        if type(code) is not int:
            raise LocalProtocolError(f"McpError code must be an int, not {type(code).__name__}")
        if not isinstance(message, str):
            raise LocalProtocolError(f"McpError message must be a str, not {type(message).__name__}")
        super().__init__(f"{message} (JSON-RPC error {code})")
        self.code = code
        self.message = message
        self.data = data
        self.http_status: int | None = None

    def __repr__(self) -> str:
        return f"McpError({self.code!r}, {self.message!r}, {self.data!r})"
