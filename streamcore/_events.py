"""Events the sans-IO server core hands out, and that an embedder may build itself.

Two families, told apart by their base class and drained from two queues:

* :class:`HttpOutput`: bytes for one HTTP exchange (``xid``), for the adapter
  to frame and write: :class:`ResponseHead`, :class:`ResponseData`,
  :class:`ResponseEnd` (``Server.next_output()``).
* :class:`AppEvent`: work for the application: :class:`RequestReceived`,
  :class:`NotificationReceived`, :class:`ResponseReceived`,
  :class:`RequestCancelled`, :class:`SessionClosed`,
  :class:`SubscriptionOpened`, :class:`SubscriptionClosed`
  (``Server.next_app_event()``).

Events are nouns: frozen, slotted, keyword-only dataclasses (h11, wsproto).
One built by hand is validated in ``__post_init__`` (a wrong field type is a
:class:`~streamcore.LocalProtocolError`); the core builds its own with
``_parsed=True`` and skips the checks (h11's ``_parsed``).

Vocabulary (the same on the client side): ``xid`` names an HTTP exchange,
``rid`` a JSON-RPC request in flight (never its wire id), ``session_id`` a
session. ``handle`` is the old name of ``rid`` and is kept as a read-only
alias.
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass
from typing import Any

from . import jsonrpc as _jr
from ._errors import LocalProtocolError

__all__ = [
    "Event",
    "HttpOutput",
    "ResponseHead",
    "ResponseData",
    "ResponseEnd",
    "AppEvent",
    "RequestEvent",
    "RequestReceived",
    "NotificationReceived",
    "ResponseReceived",
    "RequestCancelled",
    "SessionClosed",
    "SubscriptionOpened",
    "SubscriptionClosed",
    "SESSION_CLOSE_REASONS",
    "SUBSCRIPTION_CLOSE_REASONS",
]

#: Why a session ended (``SessionClosed.reason``).
SESSION_CLOSE_REASONS = frozenset({"deleted", "expired", "closed"})
#: Why a listen stream ended (``SubscriptionClosed.reason``).
SUBSCRIPTION_CLOSE_REASONS = frozenset({"disconnected", "closed", "overflow"})


def _int(name: str, v: object) -> None:
    if type(v) is not int:
        raise LocalProtocolError(f"{name} must be an int, not {type(v).__name__}")


def _bool(name: str, v: object) -> None:
    if type(v) is not bool:
        raise LocalProtocolError(f"{name} must be a bool, not {type(v).__name__}")


def _str(name: str, v: object, *, optional: bool = False) -> None:
    if not (isinstance(v, str) or (optional and v is None)):
        raise LocalProtocolError(f"{name} must be a str{' or None' if optional else ''}, not {type(v).__name__}")


def _of(name: str, v: object, *types: type) -> None:
    if not isinstance(v, types):
        raise LocalProtocolError(f"{name} must be a {' or '.join(t.__name__ for t in types)}, not {type(v).__name__}")


class Event:
    """Base of every event."""

    __slots__ = ()

    def __post_init__(self, _parsed: bool) -> None:
        # Every event dataclass passes its ``_parsed`` InitVar here: the core's
        # own events skip the checks, hand-built ones are validated.
        if not _parsed:
            self._validate()

    def _validate(self) -> None:
        """Raise LocalProtocolError for a field of the wrong type or value."""


class HttpOutput(Event):
    """Something to write on the HTTP exchange ``xid``."""

    __slots__ = ()
    xid: int


@dataclass(frozen=True, slots=True, kw_only=True)
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
    _parsed: InitVar[bool] = False

    def _validate(self) -> None:
        _int("xid", self.xid)
        _int("status", self.status)
        if not 100 <= self.status <= 599:
            raise LocalProtocolError(f"status {self.status} is not an HTTP status")
        _of("headers", self.headers, list)
        for pair in self.headers:
            if type(pair) is not tuple or len(pair) != 2 or type(pair[0]) is not bytes or type(pair[1]) is not bytes:
                raise LocalProtocolError("headers must be a list of (bytes, bytes) pairs")
        _bool("streaming", self.streaming)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseData(HttpOutput):
    """Body bytes: a whole JSON body, or one or more whole SSE events."""

    xid: int
    data: bytes
    _parsed: InitVar[bool] = False

    def _validate(self) -> None:
        _int("xid", self.xid)
        _of("data", self.data, bytes)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseEnd(HttpOutput):
    """The response is complete. ``close`` asks the adapter to close the connection after it."""

    xid: int
    close: bool = False
    _parsed: InitVar[bool] = False

    def _validate(self) -> None:
        _int("xid", self.xid)
        _bool("close", self.close)


class AppEvent(Event):
    """Something for the application to act on."""

    __slots__ = ()


class RequestEvent(AppEvent):
    """An application event about one request in flight, named by ``rid``."""

    __slots__ = ()
    rid: int

    @property
    def handle(self) -> int:
        """The old name of :attr:`rid`."""
        return self.rid


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestReceived(RequestEvent):
    """A client request. Answer it with ``server.respond(rid, ..., now=...)``.

    ``message`` is a :class:`streamcore.jsonrpc.Request`. ``identity`` is what
    the configured ``authenticate`` hook returned for this HTTP request.
    ``session_id`` is None in the per-request era.
    """

    rid: int
    message: Any
    session_id: str | None
    protocol_version: str
    identity: Any = None
    _parsed: InitVar[bool] = False

    def _validate(self) -> None:
        _int("rid", self.rid)
        _of("message", self.message, _jr.Request)
        _str("session_id", self.session_id, optional=True)
        _str("protocol_version", self.protocol_version)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationReceived(AppEvent):
    """A client notification (never answered)."""

    message: Any
    session_id: str | None
    protocol_version: str
    identity: Any = None
    _parsed: InitVar[bool] = False

    def _validate(self) -> None:
        _of("message", self.message, _jr.Notification)
        _str("session_id", self.session_id, optional=True)
        _str("protocol_version", self.protocol_version)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseReceived(AppEvent):
    """The client's answer (result or error) to a request the server sent.

    ``message`` is a :class:`streamcore.jsonrpc.Response` or
    :class:`~streamcore.jsonrpc.ErrorResponse`; ``known`` is False when its id
    matches no request the server has outstanding in that session.
    """

    message: Any
    session_id: str | None
    known: bool
    _parsed: InitVar[bool] = False

    def _validate(self) -> None:
        _of("message", self.message, _jr.Response, _jr.ErrorResponse)
        _str("session_id", self.session_id, optional=True)
        _bool("known", self.known)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestCancelled(RequestEvent):
    """The client cancelled ``rid`` (``notifications/cancelled``, CANCEL-02, or a
    2026-07-28 hang-up, CANCEL-06). The core has already made sure no
    response will be sent for it; a late ``respond`` is ignored."""

    rid: int
    reason: str | None
    _parsed: InitVar[bool] = False

    def _validate(self) -> None:
        _int("rid", self.rid)
        _str("reason", self.reason, optional=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionClosed(AppEvent):
    """A session ended: ``reason`` is ``"deleted"``, ``"expired"`` or ``"closed"``."""

    session_id: str
    reason: str
    _parsed: InitVar[bool] = False

    def _validate(self) -> None:
        _str("session_id", self.session_id)
        if self.reason not in SESSION_CLOSE_REASONS:
            raise LocalProtocolError(f"reason must be one of {sorted(SESSION_CLOSE_REASONS)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionOpened(RequestEvent):
    """A ``subscriptions/listen`` stream is open and acknowledged (2026-07-28).

    ``rid`` names it in ``close_listen``; ``subscription_id`` is the listen
    request's JSON-RPC id; ``filter`` is the acknowledged subset.
    """

    rid: int
    subscription_id: Any
    filter: dict[str, Any]
    protocol_version: str
    identity: Any = None
    _parsed: InitVar[bool] = False

    def _validate(self) -> None:
        _int("rid", self.rid)
        _of("filter", self.filter, dict)
        _str("protocol_version", self.protocol_version)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionClosed(RequestEvent):
    """A listen stream ended: ``reason`` is ``"disconnected"`` (the client
    closed it), ``"closed"`` (``close_listen``) or ``"overflow"`` (its queue
    overflowed while paused)."""

    rid: int
    subscription_id: Any
    reason: str
    _parsed: InitVar[bool] = False

    def _validate(self) -> None:
        _int("rid", self.rid)
        if self.reason not in SUBSCRIPTION_CLOSE_REASONS:
            raise LocalProtocolError(f"reason must be one of {sorted(SUBSCRIPTION_CLOSE_REASONS)}")
