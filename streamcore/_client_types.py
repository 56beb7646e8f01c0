"""The client core's vocabulary: errors, abstract HTTP items, events, config, era cache.

Everything here is shared by both era parts of the client (``_client_session``,
``_client_modern``) and by adapters; it imports nothing of the client itself.
Words: an *exchange* is one HTTP request/response, named by an int ``xid``; a
JSON-RPC request in flight is named by an int ``rid`` (never its wire id).
Headers are ``list[tuple[bytes, bytes]]`` with lower-case names (as h11).
"""

from __future__ import annotations

import enum
import json
import random
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

from ._errors import LocalProtocolError, McpError, RemoteProtocolError
from ._protocol import HEADER_MISMATCH, MISSING_REQUIRED_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION
from ._versions import CLIENT_LEGACY_VERSIONS, LATEST_LEGACY_VERSION, MODERN_VERSIONS

__all__ = [
    "SUPPORTED_VERSIONS", "LATEST_VERSION", "MODERN_VERSION", "MODERN_ERROR_CODES", "Headers",
    "ClientError", "McpError", "HttpStatusError", "StreamProtocolError", "ConnectionLost", "RequestTimeout",
    "ClientClosed", "HttpRequest", "HttpAbort", "Event", "Initialized", "SessionExpired", "RequestResult",
    "RequestFailed", "ServerRequest", "ServerNotification", "InputRequired", "Closed", "ClientState",
    "EraCache", "DEFAULT_ERA_CACHE", "modern_error", "error_of", "ClientConfig", "ERAS",
]

#: Session-era revisions this client speaks, oldest first (L0 for the fallback).
SUPPORTED_VERSIONS = CLIENT_LEGACY_VERSIONS
LATEST_VERSION = LATEST_LEGACY_VERSION
#: The per-request-era revision this client speaks (spec 1.2, R4).
MODERN_VERSION = MODERN_VERSIONS[0]
#: JSON-RPC codes that only a 2026-07-28 server sends with HTTP 400 (spec 5.2; CLI-COMPAT-03).
MODERN_ERROR_CODES = frozenset({HEADER_MISMATCH, MISSING_REQUIRED_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION})
#: the values of ``ClientConfig.era``
ERAS = ("auto", "legacy", "modern")
#: bodies of error replies are kept only this far, for messages
_ERROR_SNIPPET = 512

Headers = list[tuple[bytes, bytes]]


# -- errors -------------------------------------------------------------------


class ClientError(Exception):
    """Base of every error a request can fail with (besides :class:`streamcore.McpError`,
    the JSON-RPC error answer, shared with the server side)."""


class HttpStatusError(RemoteProtocolError, ClientError):
    """The server answered with an HTTP status the request cannot use (4xx, 5xx, ...)."""

    def __init__(self, status: int, body: bytes = b"", detail: str = "") -> None:
        snippet = body[:_ERROR_SNIPPET].decode("utf-8", "replace").strip()
        msg = f"HTTP {status}" + (f": {detail}" if detail else "") + (f": {snippet}" if snippet else "")
        super().__init__(msg, status_hint=status)
        self.status = status
        self.body = body


class StreamProtocolError(RemoteProtocolError, ClientError):
    """The server sent something unreadable (bad JSON, oversized event, wrong type, bad framing)."""


class ConnectionLost(ClientError):
    """The connection failed or the stream ended before the response, with no way to resume."""


class RequestTimeout(ClientError, TimeoutError):
    """No response arrived before the request's deadline."""


class ClientClosed(ClientError):
    """The client was closed while the request waited."""


# -- validation of user-built items (core-built ones skip it, as h11's _parsed) ------


def _check(obj: object, name: str, types: type | tuple[type, ...], optional: bool = False) -> None:
    v = getattr(obj, name)
    if optional and v is None:
        return
    if isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise LocalProtocolError(f"{type(obj).__name__}.{name} must not be a bool")
    if not isinstance(v, types):
        raise LocalProtocolError(f"{type(obj).__name__}.{name} has type {type(v).__name__}")


def _build(cls: type, **fields: Any) -> Any:
    """Make a frozen event without ``__post_init__``: the core's own values are valid."""
    obj: Any = object.__new__(cls)
    for k, v in fields.items():
        object.__setattr__(obj, k, v)
    return obj


# -- abstract HTTP ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRequest:
    """One HTTP exchange for the adapter to perform; report back under ``xid``."""

    xid: int
    method: str
    url: str
    headers: Headers
    body: bytes | None = None
    #: True for SSE streams that may stay open indefinitely (GET)
    streaming: bool = False

    def __post_init__(self) -> None:
        _check(self, "xid", int)
        _check(self, "method", str)
        _check(self, "url", str)
        _check(self, "headers", list)
        _check(self, "body", bytes, optional=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpAbort:
    """Abandon exchange ``xid`` (close its connection); report nothing more for it."""

    xid: int

    def __post_init__(self) -> None:
        _check(self, "xid", int)


# -- events -------------------------------------------------------------------


class Event:
    """Base of what :meth:`Client.next_event` returns."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Initialized(Event):
    """Connected: a session (``initialize``) or a 2026-07-28 ``server/discover`` result;
    also after a transparent re-initialization."""

    session_id: str | None
    protocol_version: str
    result: dict[str, Any]
    legacy: bool = False
    #: "legacy" (an initialize handshake) or "modern" (server/discover, 2026-07-28)
    era: str = "legacy"

    def __post_init__(self) -> None:
        _check(self, "session_id", str, optional=True)
        _check(self, "protocol_version", str)
        _check(self, "result", dict)
        _check(self, "legacy", bool)
        if self.era not in ("legacy", "modern"):
            raise LocalProtocolError(f"Initialized.era is 'legacy' or 'modern', not {self.era!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionExpired(Event):
    """The server forgot the session (404); the client is re-initializing (CLI-SESS-02)."""

    session_id: str | None

    def __post_init__(self) -> None:
        _check(self, "session_id", str, optional=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestResult(Event):
    """The result of request ``rid``."""

    rid: int
    result: Any

    def __post_init__(self) -> None:
        _check(self, "rid", int)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestFailed(Event):
    """Request ``rid`` failed; ``error`` is a :class:`ClientError` or a :class:`streamcore.McpError`."""

    rid: int
    error: Exception

    def __post_init__(self) -> None:
        _check(self, "rid", int)
        _check(self, "error", (ClientError, McpError))


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerRequest(Event):
    """A server-to-client request (session era); answer with :meth:`Client.respond` or
    :meth:`Client.respond_error` under its ``id`` (the server's JSON-RPC id)."""

    id: int | str
    method: str
    params: Any

    def __post_init__(self) -> None:
        _check(self, "id", (int, str))
        _check(self, "method", str)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerNotification(Event):
    """A server notification (``notifications/progress``, ``notifications/message``, ...)."""

    method: str
    params: Any
    #: in the per-request era: the request whose response stream carried it
    #: (a ``subscriptions/listen`` request for list-changed notifications)
    rid: int | None = None

    def __post_init__(self) -> None:
        _check(self, "method", str)
        _check(self, "rid", int, optional=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class InputRequired(Event):
    """2026-07-28 MRTR (SEP-2322): request ``rid`` needs input before it can complete.

    ``requests`` maps each key to ``{"method": ..., "params": ...}`` (``elicitation/create``,
    ``sampling/createMessage``, ``roots/list``): answer them all with
    :meth:`Client.answer_input`, which retries the request with the responses and the
    server's ``requestState`` under a new JSON-RPC id. No other event comes for the
    request until then (its deadline still runs)."""

    rid: int
    requests: dict[str, Any]

    def __post_init__(self) -> None:
        _check(self, "rid", int)
        _check(self, "requests", dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Closed(Event):
    """The client is closed (after DELETE, if a session existed)."""


class ClientState(enum.Enum):
    IDLE = "IDLE"
    INITIALIZING = "INITIALIZING"
    PROBING_LEGACY = "PROBING_LEGACY"
    READY = "READY"
    LEGACY = "LEGACY"
    CLOSING = "CLOSING"
    CLOSED = "CLOSED"
    FAILED = "FAILED"
    DISCOVERING = "DISCOVERING"
    MODERN = "MODERN"


# -- era cache (CLI-COMPAT-05) ------------------------------------------------


def _origin(url: str) -> str:
    u = urlsplit(url)
    scheme = (u.scheme or "http").lower()
    port = u.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{(u.hostname or '').lower()}:{port}"


class EraCache:
    """Which era each origin spoke last time: ``"modern"``, ``"legacy"`` or unknown (CLI-COMPAT-05).

    In memory only; pass your own (``ClientConfig(era_cache=...)``) to share,
    persist or isolate it. Keys are origins (scheme, host, port).
    """

    def __init__(self) -> None:
        self._eras: dict[str, str] = {}

    def get(self, url: str) -> str | None:
        return self._eras.get(_origin(url))

    def set(self, url: str, era: str) -> None:
        if era not in ("modern", "legacy"):
            raise LocalProtocolError(f"era is 'modern' or 'legacy', not {era!r}")
        self._eras[_origin(url)] = era

    def forget(self, url: str) -> None:
        self._eras.pop(_origin(url), None)

    def __len__(self) -> int:
        return len(self._eras)


#: The process-wide cache clients with ``era="auto"`` use unless given one.
DEFAULT_ERA_CACHE = EraCache()


def modern_error(body: bytes) -> tuple[int, str, Any] | None:
    """``(code, message, data)`` when ``body`` is a JSON-RPC error with a modern code
    (-32020/-32021/-32022), else None: the test of CLI-COMPAT-03/04."""
    err = error_of(body)
    if err is not None and err[0] in MODERN_ERROR_CODES:
        return err
    return None


def error_of(body: bytes) -> tuple[int, str, Any] | None:
    """``(code, message, data)`` of a JSON-RPC error response body, else None."""
    if not body or body.lstrip()[:1] != b"{":
        return None
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    if not isinstance(obj, dict) or obj.get("jsonrpc") != "2.0":
        return None
    err = obj.get("error")
    if not isinstance(err, dict):
        return None
    code = err.get("code")
    if type(code) is not int:
        return None
    msg = err.get("message")
    return code, msg if isinstance(msg, str) else "", err.get("data")


# -- configuration ------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class ClientConfig:
    """Every knob of the client core, with its default (see ``docs/client.md``)."""

    url: str
    #: extra headers on every request, e.g. ``{"Authorization": "Bearer ..."}`` (AUTH-01)
    headers: dict[str, str] = field(default_factory=dict)
    #: the session-era version offered in ``initialize``
    protocol_version: str = LATEST_VERSION
    client_info: dict[str, Any] = field(default_factory=lambda: {"name": "streamcore", "version": "0"})
    capabilities: dict[str, Any] = field(default_factory=dict)
    #: seconds before a request fails with RequestTimeout (None: never)
    request_timeout: float | None = 60.0
    #: open the GET listening stream after initialization (CLI-GET-01)
    listen: bool = False
    #: consecutive failed reconnection attempts before giving up on a stream
    max_reconnect_attempts: int = 5
    #: exponential backoff when the server gave no ``retry``: initial * factor**(n-1), capped
    backoff_initial: float = 0.25
    backoff_factor: float = 2.0
    backoff_max: float = 10.0
    #: returns a float in [0, 1); the delay is scaled by 0.5 + 0.5 * jitter()
    jitter: Callable[[], float] = random.random
    #: re-initialize transparently on 404 (CLI-SESS-02)
    reinitialize: bool = True
    #: try the 2024-11-05 HTTP+SSE transport when the initial POST fails (CLI-COMPAT-02)
    legacy_fallback: bool = True
    max_body_size: int = 16 * 1024 * 1024
    max_event_size: int = 16 * 1024 * 1024
    #: "auto" (server/discover first, initialize as the fallback; CLI-COMPAT-03), "legacy"
    #: (initialize only) or "modern" (2026-07-28 only); see docs/client.md for the default
    era: str = "auto"
    #: the per-request-era revision to speak
    modern_version: str = MODERN_VERSION
    #: per-origin era memory for era="auto" (None: the process-wide DEFAULT_ERA_CACHE)
    era_cache: EraCache | None = None
    #: re-issues of a modern request whose stream broke, before it fails (CLI-RESUME-09)
    max_reissue_attempts: int = 2
    #: MRTR (SEP-2322): InputRequiredResult rounds one request may take before it fails
    #: (the official Python SDK's DEFAULT_INPUT_REQUIRED_MAX_ROUNDS is 10 too)
    max_input_rounds: int = 10
    #: MRTR: inputRequests one InputRequiredResult may carry before the request fails
    max_input_requests: int = 64

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url:
            raise LocalProtocolError("url must be a non-empty str")
        if self.protocol_version not in SUPPORTED_VERSIONS:
            raise LocalProtocolError(f"unsupported protocol version {self.protocol_version!r}")
        if self.era not in ERAS:
            raise LocalProtocolError(f"era is 'legacy', 'modern' or 'auto', not {self.era!r}")
        if self.modern_version not in MODERN_VERSIONS:
            raise LocalProtocolError(f"unsupported modern protocol version {self.modern_version!r}")
        if not isinstance(self.headers, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.headers.items()):
            raise LocalProtocolError("headers must be a dict of str to str")
        for name in ("max_reissue_attempts", "max_reconnect_attempts"):
            if type(getattr(self, name)) is not int or getattr(self, name) < 0:
                raise LocalProtocolError(f"{name} must be an int >= 0")
        for name in ("max_input_rounds", "max_input_requests", "max_body_size", "max_event_size"):
            if type(getattr(self, name)) is not int or getattr(self, name) < 1:
                raise LocalProtocolError(f"{name} must be an int >= 1")

    def extra_headers(self) -> Headers:
        """The caller's headers in wire form (lower-case names; AUTH-01)."""
        return [(k.strip().lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
