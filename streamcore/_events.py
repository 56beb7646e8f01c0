"""Events the sans-IO server core hands out through ``next_event()``.

Two families, told apart by their base class:

* :class:`HttpOutput`: bytes for one HTTP exchange (``xid``), for the adapter
  to frame and write: :class:`ResponseHead`, :class:`ResponseData`,
  :class:`ResponseEnd`.
* :class:`AppEvent`: work for the application: :class:`RequestReceived`,
  :class:`NotificationReceived`, :class:`ResponseReceived`,
  :class:`RequestCancelled`, :class:`SessionClosed`.

Events are nouns, frozen and slotted (h11, wsproto). The core builds them
itself, so they carry no validation of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "Event",
    "HttpOutput",
    "ResponseHead",
    "ResponseData",
    "ResponseEnd",
    "AppEvent",
    "RequestReceived",
    "NotificationReceived",
    "ResponseReceived",
    "RequestCancelled",
    "SessionClosed",
]


class Event:
    """Base of every event."""

    __slots__ = ()


class HttpOutput(Event):
    """Something to write on the HTTP exchange ``xid``."""

    __slots__ = ()
    xid: int


@dataclass(frozen=True, slots=True)
class ResponseHead(HttpOutput):
    """Status line and header fields; lower-case names, as h11 and h2 want them.

    ``streaming`` is True for an SSE response, whose length is unknown: the
    adapter frames it chunked on HTTP/1.1 (or as DATA frames on HTTP/2) and
    flushes every :class:`ResponseData` at once.
    """

    xid: int
    status: int
    headers: list[tuple[bytes, bytes]]
    streaming: bool = False


@dataclass(frozen=True, slots=True)
class ResponseData(HttpOutput):
    """Body bytes: a whole JSON body, or one or more whole SSE events."""

    xid: int
    data: bytes


@dataclass(frozen=True, slots=True)
class ResponseEnd(HttpOutput):
    """The response is complete. ``close`` asks the adapter to close the connection after it."""

    xid: int
    close: bool = False


class AppEvent(Event):
    """Something for the application to act on."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class RequestReceived(AppEvent):
    """A client request. Answer it with ``server.respond(handle, ...)``.

    ``message`` is a :class:`streamcore.jsonrpc.Request`. ``identity`` is what
    the configured ``authenticate`` hook returned for this HTTP request.
    """

    handle: int
    message: Any
    session_id: str | None
    protocol_version: str
    identity: Any = None


@dataclass(frozen=True, slots=True)
class NotificationReceived(AppEvent):
    """A client notification (never answered)."""

    message: Any
    session_id: str | None
    protocol_version: str
    identity: Any = None


@dataclass(frozen=True, slots=True)
class ResponseReceived(AppEvent):
    """The client's answer (result or error) to a request the server sent.

    ``message`` is a :class:`streamcore.jsonrpc.Response` or
    :class:`~streamcore.jsonrpc.ErrorResponse`; ``known`` is False when its id
    matches no request the server has outstanding in that session.
    """

    message: Any
    session_id: str | None
    known: bool


@dataclass(frozen=True, slots=True)
class RequestCancelled(AppEvent):
    """The client cancelled ``handle`` (``notifications/cancelled``, CANCEL-02).

    The core has already made sure no response will be sent for it.
    """

    handle: int
    reason: str | None


@dataclass(frozen=True, slots=True)
class SessionClosed(AppEvent):
    """A session ended: ``reason`` is ``"deleted"``, ``"expired"`` or ``"closed"``."""

    session_id: str
    reason: str
