"""Sans-IO MCP client core for the session era (2025-03-26, 2025-06-18, 2025-11-25).

Theory of operation
-------------------
The core never touches a socket or a clock. It drives *abstract* HTTP
exchanges: :meth:`Client.data_to_send` hands the adapter a list of
:class:`HttpRequest` (method, URL, headers, body) and :class:`HttpAbort`
items; the adapter performs them and reports back, per exchange handle, with
:meth:`Client.receive_response` (status and headers), :meth:`Client.receive_data`
(body bytes, already de-chunked; ``b""`` means the body ended) and
:meth:`Client.receive_error` (the connection broke). What the application
must see comes out of :meth:`Client.next_event` as nouns
(:class:`RequestResult`, :class:`RequestFailed`, :class:`ServerRequest`, ...).
Time is an argument: :meth:`Client.get_timer` says when to call
:meth:`Client.handle_timer`.

States: ``IDLE`` -> ``INITIALIZING`` -> ``READY`` -> ``CLOSING`` -> ``CLOSED``,
plus ``PROBING_LEGACY`` and ``LEGACY`` for the 2024-11-05 HTTP+SSE fallback
(CLI-COMPAT-02), and ``FAILED`` when initialization failed for good.

Recovery rules (IDs from ``spec/streamable-http.md``):

* CLI-SSE-04 / AMB-13: SSE events with empty data (priming) are skipped;
  CLI-SSE-03 comments never reach us (the decoder drops them); CLI-SSE-06:
  only ``message`` events are JSON-parsed.
* CLI-SSE-01/02, CLI-RESUME-01/02, CLI-SSE-05, AMB-12: a stream that breaks
  or ends while requests still wait on it is resumed with GET +
  ``Last-Event-ID`` after the server's ``retry`` (else exponential backoff
  with jitter, bounded attempts); a POST stream that never showed an event id
  fails its requests instead. The GET listening stream is reconnected the same
  way until 404, 405 or session end.
* CLI-SESS-02: a 404 to a request carrying ``Mcp-Session-Id`` starts a new
  session (a new ``initialize`` without the id) and retries the request once.
* CLI-SESS-01, CLI-VER-01, AUTH-01: session id, protocol version and the
  caller's extra headers ride on every request (POST, GET, DELETE).
* CLI-SESS-03: :meth:`Client.close` sends DELETE; 405 is accepted.
* Every HTTP or protocol failure reaches the request waiting on it, and every
  request has a deadline, so nothing waits forever.

The per-request era (2026-07-28, "R4"; ``ClientConfig(era="modern")`` or
``era="auto"``): states ``DISCOVERING`` -> ``MODERN``. No session, no GET,
no DELETE, no ``initialize``; :meth:`Client.initialize` POSTs
``server/discover`` instead.

* CLI-POST-07, CLI-VER-04, CLI-HDR-01/02: every POST carries
  ``MCP-Protocol-Version`` (equal to ``params._meta`` protocolVersion),
  ``Mcp-Method`` and, for ``tools/call``/``prompts/get``/``resources/read``,
  ``Mcp-Name`` (the ``=?base64?...?=`` form where a value needs it); ``_meta``
  carries protocolVersion, clientCapabilities and clientInfo (spec 5.2).
* CLI-HDR-03/04: ``tools/list`` results are filtered (tools with invalid
  ``x-mcp-header`` annotations are dropped, with a logged warning) and the
  annotated arguments of the remaining tools are mirrored into
  ``Mcp-Param-{Name}`` on ``tools/call``.
* CLI-HDR-05: a 400 ``HeaderMismatch`` (-32020) about ``Mcp-Param-*`` refreshes
  ``tools/list`` and retries the call once.
* CLI-RESUME-09: a response stream that breaks (or ends) before the response
  is re-issued as a new request with a new id (``max_reissue_attempts``); never
  resumed with ``Last-Event-ID``. A ``subscriptions/listen`` stream that
  closes without its completion result is re-issued the same way (CLI-SUB-06);
  its attempts count restarts with every acknowledgment.
* CLI-COMPAT-03..05, CLI-VER-09: with ``era="auto"`` the client tries
  ``server/discover`` first. A 400 whose body is a recognised modern error
  (-32020/-32021/-32022) means a modern server (on -32022 a mutual version from
  ``data.supported`` is tried: another modern one, else the newest mutual
  legacy one through ``initialize``); an empty or unrecognised body, or 404 or
  405, means ``initialize``. The era is remembered per origin in an
  :class:`EraCache`; a cached "legacy" skips the probe, and is re-probed when
  ``initialize`` meets a modern error.
* JR-30: an absent ``resultType`` is ``"complete"``; ``"complete"`` and
  ``"input_required"`` are delivered; any other value fails the request with
  :class:`StreamProtocolError`.
* CANCEL-06: cancelling a modern request closes its stream (no
  ``notifications/cancelled``).
"""

from __future__ import annotations

import enum
import heapq
import itertools
import json
import logging
import random
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urljoin, urlsplit

from . import jsonrpc
from ._era import (
    HEADER_MISMATCH,
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_PROTOCOL_VERSION,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    MODERN_VERSIONS,
    NAME_SOURCES,
    UNSUPPORTED_PROTOCOL_VERSION,
    encode_header_value,
    x_mcp_header_problems,
    x_mcp_headers,
)
from ._errors import JsonRpcDecodeError, LocalProtocolError, McpError, RemoteProtocolError, SseDecodeError
from ._protocol import SUBSCRIPTION_ID
from ._versions import CLIENT_LEGACY_VERSIONS, LATEST_LEGACY_VERSION
from .sse import SseDecoder

__all__ = [
    "Client",
    "ClientConfig",
    "ClientState",
    "HttpRequest",
    "HttpAbort",
    "Initialized",
    "SessionExpired",
    "RequestResult",
    "RequestFailed",
    "ServerRequest",
    "ServerNotification",
    "Closed",
    "ClientError",
    "McpError",
    "HttpStatusError",
    "StreamProtocolError",
    "ConnectionLost",
    "RequestTimeout",
    "ClientClosed",
    "SUPPORTED_VERSIONS",
    "LATEST_VERSION",
    "MODERN_VERSION",
    "EraCache",
    "DEFAULT_ERA_CACHE",
    "MODERN_ERROR_CODES",
    "SUBSCRIPTION_ID",
    "modern_error",
]

#: Session-era revisions this client speaks, oldest first (L0 for the fallback).
SUPPORTED_VERSIONS = CLIENT_LEGACY_VERSIONS
LATEST_VERSION = LATEST_LEGACY_VERSION
#: The per-request-era revision this client speaks (spec 1.2, R4).
MODERN_VERSION = MODERN_VERSIONS[0]
#: JSON-RPC codes that only a 2026-07-28 server sends with HTTP 400 (spec 5.2; CLI-COMPAT-03).
MODERN_ERROR_CODES = frozenset({HEADER_MISMATCH, MISSING_REQUIRED_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION})
#: resultType values this client understands (JR-30); anything else is invalid.
_RESULT_TYPES = frozenset({"complete", "input_required"})
_log = logging.getLogger("streamcore.client")

ACCEPT_POST = "application/json, text/event-stream"  # CLI-POST-02
ACCEPT_SSE = "text/event-stream"  # CLI-GET-02
# Bodies of error replies are kept only this far, for messages.
_ERROR_SNIPPET = 512


# -- errors -------------------------------------------------------------------


class ClientError(Exception):
    """Base of every error a request can fail with."""


class HttpStatusError(RemoteProtocolError, ClientError):
    """The server answered with an HTTP status the request cannot use (4xx, 5xx, ...)."""

    def __init__(self, status: int, body: bytes = b"", detail: str = "") -> None:
        snippet = body[:_ERROR_SNIPPET].decode("utf-8", "replace").strip()
        msg = f"HTTP {status}" + (f": {detail}" if detail else "") + (f": {snippet}" if snippet else "")
        super().__init__(msg, status_hint=status)
        self.status = status
        self.body = body


class StreamProtocolError(RemoteProtocolError, ClientError):
    """The server sent something unreadable (bad JSON, oversized event, wrong type)."""


class ConnectionLost(ClientError):
    """The connection failed or the stream ended before the response, with no way to resume."""


class RequestTimeout(ClientError, TimeoutError):
    """No response arrived before the request's deadline."""


class ClientClosed(ClientError):
    """The client was closed while the request waited."""


# -- abstract HTTP ------------------------------------------------------------


@dataclass(slots=True)
class HttpRequest:
    """One HTTP exchange for the adapter to perform; report back under ``handle``."""

    handle: int
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes | None = None
    #: True for SSE streams that may stay open indefinitely (GET).
    streaming: bool = False


@dataclass(slots=True)
class HttpAbort:
    """Abandon exchange ``handle`` (close its connection); report nothing more for it."""

    handle: int


# -- events -------------------------------------------------------------------


class Event:
    """Base of what :meth:`Client.next_event` returns."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Initialized(Event):
    """A session is established (also after a transparent re-initialization)."""

    session_id: str | None
    protocol_version: str
    result: dict
    legacy: bool = False
    #: "legacy" (an initialize handshake) or "modern" (server/discover, 2026-07-28)
    era: str = "legacy"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionExpired(Event):
    """The server forgot the session (404); the client is re-initializing (CLI-SESS-02)."""

    session_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestResult(Event):
    """The result of request ``request_id``."""

    request_id: int
    result: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestFailed(Event):
    """Request ``request_id`` failed; ``error`` is a :class:`ClientError`."""

    request_id: int
    error: ClientError


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerRequest(Event):
    """A server-to-client request; answer with :meth:`Client.respond` or :meth:`Client.respond_error`."""

    id: Any
    method: str
    params: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerNotification(Event):
    """A server notification (``notifications/progress``, ``notifications/message``, ...)."""

    method: str
    params: Any
    #: in the per-request era: the request whose response stream carried it
    #: (a ``subscriptions/listen`` request for list-changed notifications)
    request_id: int | None = None


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
    err = _error_of(body)
    if err is not None and err[0] in MODERN_ERROR_CODES:
        return err
    return None


def _error_of(body: bytes) -> tuple[int, str, Any] | None:
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
    """Every knob of the client core, with its default."""

    url: str
    #: extra headers on every request, e.g. ``{"Authorization": "Bearer ..."}`` (AUTH-01)
    headers: dict[str, str] = field(default_factory=dict)
    protocol_version: str = LATEST_VERSION
    client_info: dict = field(default_factory=lambda: {"name": "streamcore", "version": "0"})
    capabilities: dict = field(default_factory=dict)
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
    #: "legacy" (initialize), "modern" (2026-07-28 only) or "auto" (try modern, fall back; CLI-COMPAT-03)
    era: str = "legacy"
    #: the per-request-era revision to speak
    modern_version: str = MODERN_VERSION
    #: per-origin era memory for era="auto" (None: the process-wide DEFAULT_ERA_CACHE)
    era_cache: EraCache | None = None
    #: re-issues of a modern request whose stream broke, before it fails (CLI-RESUME-09)
    max_reissue_attempts: int = 2

    def __post_init__(self) -> None:
        if self.protocol_version not in SUPPORTED_VERSIONS:
            raise LocalProtocolError(f"unsupported protocol version {self.protocol_version!r}")
        if self.era not in ("legacy", "modern", "auto"):
            raise LocalProtocolError(f"era is 'legacy', 'modern' or 'auto', not {self.era!r}")
        if self.modern_version not in MODERN_VERSIONS:
            raise LocalProtocolError(f"unsupported modern protocol version {self.modern_version!r}")
        if self.max_reissue_attempts < 0:
            raise LocalProtocolError("max_reissue_attempts must be >= 0")
        if self.max_reconnect_attempts < 0:
            raise LocalProtocolError("max_reconnect_attempts must be >= 0")


# -- internal bookkeeping -----------------------------------------------------

_POST, _NOTIFY, _GET_RESUME, _GET_LISTEN, _DELETE, _LEGACY_GET, _MPOST = range(7)


class _Pending:
    __slots__ = ("id", "method", "params", "deadline", "internal", "reinit_done", "body",
                 "modern", "wire", "reissues", "hdr_retry", "then", "version", "version_retry")

    def __init__(self, rid: int, method: str, params: Any, deadline: float | None, internal: bool) -> None:
        self.id = rid
        self.method = method
        self.params = params
        self.deadline = deadline
        self.internal = internal
        self.reinit_done = False
        self.body = jsonrpc.encode_request(rid, method, params)
        self.modern = False  # posted in the per-request era
        self.wire = rid  # the JSON-RPC id of its latest POST (changes on re-issue)
        self.reissues = 0  # consecutive re-issues (CLI-RESUME-09)
        self.hdr_retry = False  # retried once after a -32020 about Mcp-Param (CLI-HDR-05)
        self.then: int | None = None  # an internal tools/list: the call to retry afterwards
        self.version: str | None = None  # an internal server/discover: the version it offers
        self.version_retry = False  # retried once with a version from data.supported (CLI-VER-09)


class _Exchange:
    __slots__ = (
        "handle", "kind", "rids", "status", "sse", "body", "decoder", "last_event_id",
        "retry_ms", "attempts", "had_session", "message", "progress", "json",
    )

    def __init__(self, handle: int, kind: int, rids: set | None = None) -> None:
        self.handle = handle
        self.kind = kind
        self.rids: set = rids if rids is not None else set()
        self.status = 0
        self.sse = False
        self.body: bytearray | None = None
        self.decoder: SseDecoder | None = None
        self.last_event_id = ""
        self.retry_ms: int | None = None
        self.attempts = 0
        self.had_session = False
        self.message: bytes | None = None  # a notification/response body, for replay after 404
        self.progress = False  # this connection delivered a new event id
        self.json = False  # the reply is application/json


def _param_headers(annotated: dict[str, tuple[str, ...]], arguments: Any) -> list[tuple[str, str]]:
    """CLI-HDR-03: ``Mcp-Param-{Name}`` for each annotated argument that has a value."""
    out = []
    for suffix, path in annotated.items():
        node = arguments
        for key in path:
            if not isinstance(node, dict) or key not in node:
                node = None
                break
            node = node[key]
        if node is None:
            continue  # null or absent: no header
        if isinstance(node, float) and node.is_integer():
            node = int(node)  # 42.0 is the integer 42 (SRV-HDR-03's mirror)
        try:
            out.append((f"Mcp-Param-{suffix}", encode_header_value(node)))
        except (TypeError, ValueError):
            continue  # no header form (object, fraction, out of range): the server will say
    return out


def _about_params(message: str, data: Any) -> bool:
    """Is a -32020 about ``Mcp-Param-*`` (CLI-HDR-05)? Yes when it says so, and when it names
    none of the standard headers (which this client derives from the body, so they cannot
    disagree with it): servers word the message freely."""
    text = (message + " " + repr(data)).lower()
    if "mcp-param" in text:
        return True
    return not any(h in text for h in ("mcp-name", "mcp-method", "mcp-protocol-version"))


class Client:
    """The sans-IO client; see the module docstring for the protocol."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.state = ClientState.IDLE
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self.server_result: dict | None = None
        self.listening_supported = True
        #: counters for observability and tests: GET resumptions of broken streams,
        #: re-initializations after 404, reconnections of the listening stream
        self.stats = {"resumptions": 0, "reinitializations": 0, "listen_reconnects": 0,
                      "reissues": 0, "tool_refreshes": 0, "fallbacks": 0}
        #: "legacy" or "modern" once known
        self.era: str | None = None
        #: CLI-HDR-03: tool name -> {header suffix: argument path}, from tools/list results
        self.tool_headers: dict[str, dict[str, tuple[str, ...]]] = {}
        #: CLI-HDR-04: tools left out of tools/list results, name -> problems
        self.excluded_tools: dict[str, list[str]] = {}
        self._era_cache = config.era_cache if config.era_cache is not None else DEFAULT_ERA_CACHE
        self._probe_skipped = False  # era="auto" went straight to initialize on a cached "legacy"
        self._legacy_version = config.protocol_version
        self._alias: dict[int, int] = {}  # wire id of a re-issued request -> its request id
        self._endpoint = config.url  # where POSTs go (the L0 endpoint after fallback)
        self._ids = itertools.count(1)
        self._handles = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._exchanges: dict[int, _Exchange] = {}
        self._out: list[HttpRequest | HttpAbort] = []
        self._events: list[Event] = []
        self._queued: list[tuple[str, Any]] = []  # held until initialized
        # a heap of (when, seq, fn, rid): rid set for request deadlines, which go
        # stale once the request completes and are dropped lazily (O(log n) each)
        self._timers: list[tuple[float, int, Any, Any]] = []
        self._timer_seq = itertools.count()
        self._init_id: int | None = None
        self._init_error: ClientError | None = None
        self._ever_ready = False
        self._legacy_stream: int | None = None
        self._legacy_endpoint_seen = False
        self._listen_handle: int | None = None

    # -- application side -------------------------------------------------

    def initialize(self, now: float) -> int:
        """Start the session: POST ``initialize``; returns its request id."""
        if self.state not in (ClientState.IDLE, ClientState.FAILED):
            raise LocalProtocolError(f"initialize in state {self.state.name}")
        self._init_error = None
        return self._begin(now)

    def _begin(self, now: float) -> int:
        era = self.config.era
        if era == "legacy":
            return self._start_initialize(now)
        if era == "auto" and self._era_cache.get(self.config.url) == "legacy":
            self._probe_skipped = True  # CLI-COMPAT-05: re-probed if initialize meets a modern error
            return self._start_initialize(now)
        return self._start_discover(now)

    def send_request(self, method: str, params: Any = None, now: float = 0.0, *, timeout: float | None = -1.0) -> int:
        """Queue a request; its outcome arrives as RequestResult/RequestFailed with the returned id.

        ``timeout`` (seconds) overrides ``config.request_timeout``; None means none.
        """
        if method == "initialize":
            raise LocalProtocolError("use initialize(); the client owns the handshake")
        rid = next(self._ids)
        t = self.config.request_timeout if timeout == -1.0 else timeout
        p = _Pending(rid, method, params, None if t is None else now + t, False)
        self._pending[rid] = p
        if p.deadline is not None:
            self._at(p.deadline, None, rid)
        if self.state in (ClientState.READY, ClientState.LEGACY, ClientState.MODERN):
            self._post_request(p)
        elif self.state in (ClientState.CLOSING, ClientState.CLOSED):
            self._fail(rid, ClientClosed("the client is closed"))
        elif self.state is ClientState.FAILED:
            self._fail(rid, self._init_error or ConnectionLost("initialization failed"))
        else:
            if self.state is ClientState.IDLE:
                self._begin(now)
            self._queued.append(("request", rid))
        return rid

    def send_notification(self, method: str, params: Any = None, now: float = 0.0) -> None:
        """POST a notification (expects 202)."""
        if self.state is ClientState.MODERN:
            self._post_modern_notification(method, params)
        elif self.state is ClientState.DISCOVERING:
            self._queued.append(("notify", (method, params)))
        else:
            self._send_message(jsonrpc.encode_notification(method, params))

    def respond(self, id: Any, result: Any, now: float = 0.0) -> None:
        """Answer a :class:`ServerRequest` with a result."""
        self._send_message(jsonrpc.encode_result(id, result))

    def respond_error(self, id: Any, code: int, message: str, data: Any = None, now: float = 0.0) -> None:
        """Answer a :class:`ServerRequest` with a JSON-RPC error."""
        self._send_message(jsonrpc.encode_error(id, code, message, data))

    def cancel(self, request_id: int, reason: str = "cancelled", now: float = 0.0) -> None:
        """Give up on a request: no event will come for it, the server gets
        ``notifications/cancelled``, and its stream is abandoned if it carried nothing else."""
        p = self._pending.pop(request_id, None)
        if p is None:
            return
        if p.wire != request_id:
            self._alias.pop(p.wire, None)
        self._queued = [q for q in self._queued if q != ("request", request_id)]
        if self.state in (ClientState.READY, ClientState.LEGACY):
            self.send_notification("notifications/cancelled", {"requestId": request_id, "reason": reason})
        self._drop_rid(request_id)

    def close(self, now: float = 0.0) -> None:
        """Fail what waits, drop the streams, DELETE the session (CLI-SESS-03)."""
        if self.state in (ClientState.CLOSING, ClientState.CLOSED):
            return
        for rid in list(self._pending):
            self._fail(rid, ClientClosed("the client was closed"))
        self._queued.clear()
        self._timers.clear()
        for h in list(self._exchanges):
            self._abort(h)
        if self.session_id is not None and self.state is ClientState.READY:
            self.state = ClientState.CLOSING
            ex = self._new(_DELETE)
            self._out.append(HttpRequest(ex.handle, "DELETE", self.config.url, self._headers(post=False)))
        else:
            self.state = ClientState.CLOSED
            self._events.append(Closed())

    # -- sans-IO verbs ----------------------------------------------------

    def data_to_send(self) -> list[HttpRequest | HttpAbort]:
        """The HTTP exchanges to start (and abandon) now, in order."""
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        """The next event for the application, or None."""
        if self._events:
            return self._events.pop(0)
        return None

    def events(self) -> list[Event]:
        """All pending events at once (cheaper than next_event in a loop)."""
        ev, self._events = self._events, []
        return ev

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` should next be called (absolute, same clock as ``now``)."""
        t = self._timers
        while t and t[0][3] is not None and t[0][3] not in self._pending:
            heapq.heappop(t)
        return t[0][0] if t else None

    def handle_timer(self, now: float) -> None:
        """Fire due timers: request deadlines and scheduled reconnections."""
        t = self._timers
        for _ in range(len(t)):
            if not t or t[0][0] > now:
                break
            _, _, fn, rid = heapq.heappop(t)
            if rid is None:
                fn(now)
            elif rid in self._pending:
                self._expire(rid, now)

    def receive_response(self, handle: int, status: int, headers: list[tuple[str, str]], now: float = 0.0) -> None:
        """The status line and headers of exchange ``handle`` arrived (names any case)."""
        ex = self._exchanges.get(handle)
        if ex is None:
            return
        ex.status = status
        ctype = ""
        sid = None
        for k, v in headers:
            k = k.lower()
            if k == "content-type":
                ctype = v.split(";", 1)[0].strip().lower()
            elif k == "mcp-session-id":
                sid = v.strip()
        if 200 <= status < 300 and ex.kind == _POST and self._init_id in ex.rids and sid:
            self.session_id = sid  # CLI-SESS-01
        # a 404 to the listening GET alone is not trusted as session expiry: a server
        # without a GET route would otherwise make us re-initialize forever
        if status == 404 and ex.had_session and self.config.reinitialize and self._ever_ready \
                and ex.kind != _GET_LISTEN and self.state in (ClientState.READY, ClientState.INITIALIZING):
            self._session_lost(ex, now)
            return
        if ex.kind == _LEGACY_GET and (status != 200 or ctype != "text/event-stream"):
            self._legacy_failed(ex, HttpStatusError(status, b"", "no HTTP+SSE stream at the URL either"))
            return
        if status == 200 and ctype == "text/event-stream":
            ex.sse = True
            ex.decoder = SseDecoder(max_event_size=self.config.max_event_size)
        elif 200 <= status < 300:
            ex.body = bytearray()
            ex.json = ctype == "application/json" or ctype.endswith("+json")
        else:
            ex.body = bytearray()  # collect the error body for the message

    def receive_data(self, handle: int, data: bytes, now: float = 0.0) -> None:
        """Body bytes of exchange ``handle`` (de-chunked); ``b""`` means the body ended."""
        ex = self._exchanges.get(handle)
        if ex is None:
            return
        if not data:
            self._end(ex, now)
            return
        dec = ex.decoder
        if dec is not None:
            try:
                events = dec.feed(data)
            except SseDecodeError as exc:
                self._stream_broken(ex, StreamProtocolError(f"bad SSE stream: {exc}", status_hint=502), now, fatal=True)
                return
            if events:
                for ev in events:
                    # CLI-SSE-04 (empty data: priming) and CLI-SSE-06 (other types)
                    if ev.data and ev.event == "message":
                        self._route_json(ex, ev.data.encode(), now)
                    elif ev.event == "endpoint" and ex.kind == _LEGACY_GET:
                        self._legacy_endpoint(ex, ev.data, now)
                    if ex.kind == _LEGACY_GET and not self._legacy_endpoint_seen:
                        self._legacy_failed(ex, StreamProtocolError("the first SSE event was not `endpoint`"))
                        return
                    if ev.id and ev.id != ex.last_event_id:
                        ex.last_event_id = ev.id
                        ex.progress = True
                    if handle not in self._exchanges:
                        return
                if dec.retry is not None:
                    ex.retry_ms = dec.retry
            elif dec.retry is not None:
                ex.retry_ms = dec.retry
            return
        body = ex.body
        if body is None:
            return
        if len(body) + len(data) > self.config.max_body_size:
            if 200 <= ex.status < 300:
                self._stream_broken(
                    ex, StreamProtocolError(f"response body exceeds max_body_size={self.config.max_body_size}", status_hint=502),
                    now, fatal=True)
                return
            return  # error bodies: keep the head only
        body += data

    def receive_error(self, handle: int, error: BaseException | str, now: float = 0.0) -> None:
        """Exchange ``handle`` failed (connect error, reset, EOF mid-body)."""
        ex = self._exchanges.get(handle)
        if ex is None:
            return
        self._stream_broken(ex, ConnectionLost(f"connection failed: {error}"), now)

    # -- outbound ---------------------------------------------------------

    def _headers(self, *, post: bool, last_event_id: str = "") -> list[tuple[str, str]]:
        h = [("Accept", ACCEPT_POST if post else ACCEPT_SSE)]
        if post:
            h.append(("Content-Type", "application/json"))  # CLI-POST-09
        if self.state is not ClientState.LEGACY and self.state is not ClientState.PROBING_LEGACY:
            if self.session_id is not None:
                h.append(("Mcp-Session-Id", self.session_id))  # CLI-SESS-01
            if self.protocol_version is not None:
                h.append(("MCP-Protocol-Version", self.protocol_version))  # CLI-VER-01
        if last_event_id:
            h.append(("Last-Event-ID", last_event_id))  # CLI-RESUME-01/02
        h.extend(self.config.headers.items())  # AUTH-01
        return h

    def _new(self, kind: int, rids: set | None = None) -> _Exchange:
        ex = _Exchange(next(self._handles), kind, rids)
        ex.had_session = self.session_id is not None and self.state is ClientState.READY
        self._exchanges[ex.handle] = ex
        return ex

    def _start_initialize(self, now: float, prev: _Pending | None = None) -> int:
        self.state = ClientState.INITIALIZING
        self.session_id = None
        self.protocol_version = None
        # a fallback from server/discover keeps its request id and deadline
        rid = next(self._ids) if prev is None else prev.id
        params = {
            "protocolVersion": self._legacy_version,
            "capabilities": self.config.capabilities,
            "clientInfo": self.config.client_info,
        }
        t = self.config.request_timeout
        deadline = (None if t is None else now + t) if prev is None else prev.deadline
        p = _Pending(rid, "initialize", params, deadline, True)
        self._pending[rid] = p
        self._init_id = rid
        if p.deadline is not None and prev is None:
            self._at(p.deadline, None, rid)
        self._post_request(p)
        return rid

    def _post_request(self, p: _Pending) -> None:
        if self.state is ClientState.MODERN or p.modern:
            self._post_modern(p)
            return
        ex = self._new(_POST, {p.id})
        self._out.append(HttpRequest(ex.handle, "POST", self._endpoint, self._headers(post=True), p.body))

    def _send_message(self, body: bytes) -> None:
        if self.state in (ClientState.READY, ClientState.LEGACY):
            ex = self._new(_NOTIFY)
            ex.message = body
            self._out.append(HttpRequest(ex.handle, "POST", self._endpoint, self._headers(post=True), body))
        elif self.state in (ClientState.INITIALIZING, ClientState.PROBING_LEGACY, ClientState.IDLE):
            self._queued.append(("message", body))
        else:
            raise LocalProtocolError(f"cannot send in state {self.state.name}")

    def _abort(self, handle: int) -> None:
        if self._exchanges.pop(handle, None) is not None:
            self._out.append(HttpAbort(handle))
        if handle == self._listen_handle:
            self._listen_handle = None

    def _open_listen(self, last_event_id: str = "", attempts: int = 0, retry_ms: int | None = None) -> None:
        ex = self._new(_GET_LISTEN)
        ex.attempts = attempts
        ex.retry_ms = retry_ms
        ex.last_event_id = last_event_id
        self._listen_handle = ex.handle
        self._out.append(HttpRequest(ex.handle, "GET", self.config.url,
                                     self._headers(post=False, last_event_id=last_event_id), None, True))

    # -- inbound ----------------------------------------------------------

    def _route_json(self, ex: _Exchange, body: bytes, now: float) -> None:
        try:
            parsed = jsonrpc.parse(body, allow_batch=True, max_body_size=max(len(body), 1))
        except JsonRpcDecodeError as exc:
            self._stream_broken(ex, StreamProtocolError(f"unreadable JSON-RPC from server: {exc}", status_hint=502),
                                now, fatal=True)
            return
        alias = self._alias
        modern = ex.kind == _MPOST
        for m in parsed.messages:
            t = type(m)
            if t is jsonrpc.Response:
                self._complete(alias.pop(m.id, m.id) if alias else m.id, m.result, None, now)
            elif t is jsonrpc.ErrorResponse:
                self._complete(alias.pop(m.id, m.id) if alias else m.id, None,
                               McpError(m.code, m.message, m.data), now)
            elif t is jsonrpc.Notification:
                if modern:
                    rid = next(iter(ex.rids), None)
                    ex.progress = True
                    if m.method == "notifications/subscriptions/acknowledged":
                        p = self._pending.get(rid) if rid is not None else None
                        if p is not None:
                            p.reissues = 0  # CLI-SUB-06: an acknowledged listen starts its count again
                    self._events.append(ServerNotification(method=m.method, params=m.params, request_id=rid))
                else:
                    self._events.append(ServerNotification(method=m.method, params=m.params))
            elif t is jsonrpc.Request:
                if modern:
                    continue  # R4 servers MUST NOT send requests on a response stream; nobody could answer
                self._events.append(ServerRequest(id=m.id, method=m.method, params=m.params))
            else:  # Invalid: a reply to one of ours fails that request; the rest is ignored
                if m.id is not None and m.id in self._pending:
                    self._complete(m.id, None, StreamProtocolError(f"invalid response: {m.message}"), now)

    def _complete(self, rid: Any, result: Any, error: ClientError | None, now: float) -> None:
        p = self._pending.pop(rid, None) if type(rid) is int else None
        if p is None:
            return  # late, cancelled or foreign: ignore
        if p.wire != rid:
            self._alias.pop(p.wire, None)
        self._drop_rid(rid, abort=False)
        if p.modern and error is None:
            result, error = self._check_result(p, result)
        if p.internal:
            if p.method == "initialize":
                self._initialized(p, result, error, now)
            elif p.method == "server/discover":
                self._discovered(p, result, error, now)
            else:
                self._refreshed(p, error, now)
        elif error is None:
            self._events.append(RequestResult(request_id=rid, result=result))
        else:
            self._events.append(RequestFailed(request_id=rid, error=error))

    def _fail(self, rid: int, error: ClientError) -> None:
        p = self._pending.pop(rid, None)
        if p is None:
            return
        if p.wire != rid:
            self._alias.pop(p.wire, None)
        self._drop_rid(rid, abort=False)
        if p.internal:
            if p.method in ("initialize", "server/discover"):
                self._init_failed(error)
            else:
                self._refreshed(p, error, 0.0)
                return
        self._events.append(RequestFailed(request_id=rid, error=error))

    def _drop_rid(self, rid: int, abort: bool = True) -> None:
        for ex in list(self._exchanges.values()):
            if rid in ex.rids:
                ex.rids.discard(rid)
                # a resumed stream has no other use; a POST stream is dropped only on request
                # (closing a modern request's stream is its cancellation: CANCEL-06)
                if not ex.rids and (ex.kind == _GET_RESUME or abort and ex.kind in (_POST, _MPOST)):
                    self._abort(ex.handle)

    def _initialized(self, p: _Pending, result: Any, error: ClientError | None, now: float) -> None:
        if error is not None:
            self._init_failed(error)
            self._events.append(RequestFailed(request_id=p.id, error=error))
            return
        version = result.get("protocolVersion") if isinstance(result, dict) else None
        if version not in SUPPORTED_VERSIONS:
            err = StreamProtocolError(f"server chose unsupported protocol version {version!r}")
            self._init_failed(err)
            self._events.append(RequestFailed(request_id=p.id, error=err))
            return
        self.protocol_version = version
        self.server_result = result
        self.state = ClientState.LEGACY if self._legacy_stream is not None else ClientState.READY
        self._ever_ready = True
        self._init_id = None
        self._send_message(jsonrpc.encode_notification("notifications/initialized"))
        self._events.append(Initialized(session_id=self.session_id, protocol_version=version, result=result,
                                        legacy=self.state is ClientState.LEGACY))
        queued, self._queued = self._queued, []
        for kind, item in queued:
            if kind == "request":
                q = self._pending.get(item)
                if q is not None:
                    self._post_request(q)
            elif kind == "notify":
                self._send_message(jsonrpc.encode_notification(*item))
            else:
                self._send_message(item)
        if self.era != "legacy" and self.config.era == "auto":
            self._era_cache.set(self.config.url, "legacy")
        self.era = "legacy"
        if self.config.listen and self.state is ClientState.READY and self.listening_supported:
            self._open_listen()

    def _init_failed(self, error: ClientError) -> None:
        self.state = ClientState.FAILED
        self._init_error = error
        self._init_id = None
        for kind, item in self._queued:
            if kind == "request":
                q = self._pending.pop(item, None)
                if q is not None:
                    self._events.append(RequestFailed(request_id=item, error=error))
        self._queued.clear()

    def _end(self, ex: _Exchange, now: float) -> None:
        """The body of ``ex`` ended normally."""
        if ex.decoder is not None:
            ex.decoder.close()
        status = ex.status
        if ex.kind == _DELETE:
            self._exchanges.pop(ex.handle, None)
            self.state = ClientState.CLOSED
            self.session_id = None
            self._events.append(Closed())  # any status: 2xx, 404, 405 (CLI-SESS-03)
            return
        if not 200 <= status < 300:
            if ex.kind == _MPOST:
                self._modern_http_error(ex, status, bytes(ex.body or b""), now)
                return
            self._http_error(ex, HttpStatusError(status, bytes(ex.body or b"")), now)
            return
        if ex.kind == _NOTIFY:
            self._exchanges.pop(ex.handle, None)
            if ex.body and ex.json:  # a JSON reply to a notification/response is tolerated, routed
                self._route_json(ex, bytes(ex.body), now)
            return
        if ex.sse:
            self._stream_broken(ex, ConnectionLost("the stream ended"), now)
            return
        # a JSON (or empty) reply
        self._exchanges.pop(ex.handle, None)
        if ex.body and ex.kind == _MPOST:
            self._route_json(ex, bytes(ex.body), now)
        elif ex.body and ex.kind == _POST and (ex.json or self._legacy_stream is None):
            self._route_json(ex, bytes(ex.body), now)
        if ex.kind == _POST and self._legacy_stream is not None:
            return  # L0: the reply travels on the GET stream
        for rid in list(ex.rids):
            if status == 202:
                err: ClientError = StreamProtocolError("202 Accepted to a request: no response will come")
            else:
                err = StreamProtocolError("the reply did not contain the response")
            self._fail(rid, err)

    def _http_error(self, ex: _Exchange, err: HttpStatusError, now: float) -> None:
        self._exchanges.pop(ex.handle, None)
        status = err.status
        if ex.kind == _POST and self._init_id in ex.rids and self._probe_skipped and modern_error(err.body):
            # CLI-COMPAT-05: the cached "legacy" was wrong; probe the modern era again
            self._probe_skipped = False
            self._era_cache.forget(self.config.url)
            p = self._pending.get(self._init_id) if self._init_id is not None else None
            if p is not None:
                self._start_discover(now, p)
                return
        if ex.kind == _POST and self._init_id in ex.rids and self.config.legacy_fallback and not self._ever_ready \
                and self._legacy_stream is None and self._fallback_status(status):
            self._probe_legacy(ex, err)
            return
        if ex.kind == _GET_LISTEN:
            self._listen_handle = None
            if status == 405:
                self.listening_supported = False  # CLI-GET: no listening stream
            # 404 and the rest: no listening stream for this session (a new session tries again)
            return
        if ex.kind == _NOTIFY:
            return  # nothing waits on a notification
        for rid in list(ex.rids):
            self._fail(rid, err)

    def _fallback_status(self, status: int) -> bool:
        # CLI-COMPAT-02: any 4xx up to 2025-06-18; only 400/404/405 from 2025-11-25
        if self.config.protocol_version >= "2025-11-25":
            return status in (400, 404, 405)
        return 400 <= status < 500

    def _session_lost(self, ex: _Exchange, now: float) -> None:
        """CLI-SESS-02: a 404 to a request that carried our session id."""
        self._exchanges.pop(ex.handle, None)
        old = self.session_id
        again = self.state is ClientState.INITIALIZING  # a re-initialization is already under way
        retry = []
        for rid in ex.rids:
            p = self._pending.get(rid)
            if p is None:
                continue
            if p.reinit_done:
                self._fail(rid, HttpStatusError(404, b"", "session expired again after re-initialization"))
            else:
                p.reinit_done = True
                retry.append(rid)
        if not again:
            for h in list(self._exchanges):
                e = self._exchanges[h]
                if e.kind in (_GET_LISTEN, _GET_RESUME):
                    for rid in e.rids:
                        if rid in self._pending:
                            retry.append(rid)
                    self._abort(h)
            self._events.append(SessionExpired(session_id=old))
            self.stats["reinitializations"] += 1
            self._start_initialize(now)
        self._queued.extend(("request", rid) for rid in retry)
        if ex.message is not None and ex.kind == _NOTIFY:
            self._queued.append(("message", ex.message))

    def _stream_broken(self, ex: _Exchange, err: ClientError, now: float, fatal: bool = False) -> None:
        """A stream ended or broke; resume it or fail what waits on it (CLI-SSE-05, AMB-12)."""
        self._exchanges.pop(ex.handle, None)
        if ex.kind == _MPOST:
            self._reissue(ex, err, now, fatal)
            return
        if ex.kind == _DELETE:
            self.state = ClientState.CLOSED
            self._events.append(Closed())
            return
        if ex.kind == _LEGACY_GET:
            self._legacy_failed(ex, err)
            return
        if ex.kind == _GET_LISTEN:
            self._listen_handle = None
            if fatal or self.state is not ClientState.READY:
                return
            attempts = 1 if ex.progress else ex.attempts + 1
            if attempts > self.config.max_reconnect_attempts:
                return
            delay = self._delay(ex.retry_ms, attempts)
            lid, rms = ex.last_event_id, ex.retry_ms

            def reopen(n: float) -> None:
                if self.state is ClientState.READY and self._listen_handle is None:
                    self.stats["listen_reconnects"] += 1
                    self._open_listen(lid, attempts, rms)

            self._at(now + delay, reopen)
            if ex.decoder is not None:
                ex.decoder = None
            return
        rids = [r for r in ex.rids if r in self._pending]
        if not rids:
            return
        resumable_state = self.state is ClientState.READY or (
            self.state is ClientState.INITIALIZING and self.session_id is not None)
        if fatal or not ex.sse or not ex.last_event_id or not resumable_state:
            if ex.sse and not ex.last_event_id and not fatal:
                err = ConnectionLost("the response stream ended before the response, and no event id "
                                     "was seen to resume from (CLI-SSE-05)")
            for rid in rids:
                self._fail(rid, err)
            return
        # attempts: consecutive reconnections without progress, this one included
        attempts = 1 if ex.progress else ex.attempts + 1
        if attempts > self.config.max_reconnect_attempts:
            for rid in rids:
                self._fail(rid, ConnectionLost(f"gave up resuming the stream after {attempts - 1} attempts"))
            return
        delay = self._delay(ex.retry_ms, attempts)
        nex = _Exchange(next(self._handles), _GET_RESUME, set(rids))
        nex.last_event_id = ex.last_event_id
        nex.retry_ms = ex.retry_ms
        nex.attempts = attempts
        nex.sse = True  # a resumption: whatever breaks it is resumable again
        self._exchanges[nex.handle] = nex  # registered now, so the requests stay attached

        def resume(n: float) -> None:
            if self._exchanges.get(nex.handle) is not nex or not nex.rids:
                self._exchanges.pop(nex.handle, None)
                return
            nex.had_session = self.session_id is not None
            self.stats["resumptions"] += 1
            self._out.append(HttpRequest(nex.handle, "GET", self.config.url,
                                         self._headers(post=False, last_event_id=nex.last_event_id), None, True))

        self._at(now + delay, resume)

    def _delay(self, retry_ms: int | None, attempts: int) -> float:
        if retry_ms is not None:
            return retry_ms / 1000.0  # CLI-SSE-02
        c = self.config
        base = min(c.backoff_max, c.backoff_initial * c.backoff_factor ** max(0, attempts - 1))
        return base * (0.5 + 0.5 * c.jitter())

    def _expire(self, rid: int, now: float) -> None:
        p = self._pending.get(rid)
        if p is None:
            return
        self._drop_rid(rid)  # abandon its stream first (the request is still known)
        self._fail(rid, RequestTimeout(f"{p.method}: no response within the timeout"))
        if self.state in (ClientState.READY, ClientState.LEGACY) and not p.internal:
            self.send_notification("notifications/cancelled", {"requestId": rid, "reason": "timeout"})

    def _at(self, when: float, fn: Callable[[float], None] | None, rid: int | None = None) -> None:
        heapq.heappush(self._timers, (when, next(self._timer_seq), fn, rid))

    # -- the per-request era (2026-07-28) ---------------------------------

    def _start_discover(self, now: float, prev: _Pending | None = None, version: str | None = None) -> int:
        """POST ``server/discover`` in the modern form (CLI-COMPAT-03: the modern request first)."""
        self.state = ClientState.DISCOVERING
        self.session_id = None
        self.protocol_version = None
        rid = next(self._ids) if prev is None else prev.id
        t = self.config.request_timeout
        deadline = (None if t is None else now + t) if prev is None else prev.deadline
        p = _Pending(rid, "server/discover", {}, deadline, True)
        p.version = version or self.config.modern_version
        if prev is not None:
            p.version_retry = prev.version_retry
        self._pending[rid] = p
        self._init_id = rid
        if deadline is not None and prev is None:
            self._at(deadline, None, rid)
        self._post_modern(p)
        return rid

    def _discovered(self, p: _Pending, result: Any, error: ClientError | None, now: float) -> None:
        if error is not None:
            if self.config.era == "auto" and isinstance(error, McpError) and error.code not in MODERN_ERROR_CODES:
                # a JSON-RPC error at 2xx that no modern server sends to discover: not modern
                self._fall_back(p, now)
                return
            self._init_failed(error)
            self._events.append(RequestFailed(request_id=p.id, error=error))
            return
        version = p.version or self.config.modern_version
        supported = result.get("supportedVersions") if isinstance(result, dict) else None
        if isinstance(supported, list) and version not in supported:
            mutual = [v for v in MODERN_VERSIONS if v in supported]
            if mutual and not p.version_retry:
                p.version_retry = True
                self._start_discover(now, p, mutual[0])
                return
            legacy = [v for v in SUPPORTED_VERSIONS if v in supported]
            if self.config.era == "auto" and legacy:
                self._legacy_version = legacy[-1]
                self._fall_back(p, now)
                return
            err = StreamProtocolError(f"server supports none of our versions: {supported!r}")
            self._init_failed(err)
            self._events.append(RequestFailed(request_id=p.id, error=err))
            return
        self.state = ClientState.MODERN
        self.era = "modern"
        self.protocol_version = version
        self.server_result = result
        self._ever_ready = True
        self._init_id = None
        if self.config.era == "auto":
            self._era_cache.set(self.config.url, "modern")
        self._events.append(Initialized(session_id=None, protocol_version=version, result=result, era="modern"))
        queued, self._queued = self._queued, []
        for kind, item in queued:
            if kind == "request":
                q = self._pending.get(item)
                if q is not None:
                    self._post_modern(q)
            elif kind == "notify":
                self._post_modern_notification(*item)
            # pre-encoded legacy messages (responses) have no modern form (CLI-POST-05)

    def _fall_back(self, p: _Pending, now: float) -> None:
        """CLI-COMPAT-03/04: not a modern server; run ``initialize`` under the same request id."""
        self._pending.pop(p.id, None)
        self.stats["fallbacks"] += 1
        if self.config.era == "auto":
            self._era_cache.set(self.config.url, "legacy")
        self._start_initialize(now, p)

    def _modern_body(self, p: _Pending, wire: int, version: str) -> bytes:
        params = dict(p.params) if isinstance(p.params, dict) else {}
        meta = dict(params.get("_meta") or {})
        meta[META_PROTOCOL_VERSION] = version  # spec 5.2 (R4 RequestMetaObject)
        meta[META_CLIENT_CAPABILITIES] = self.config.capabilities
        meta[META_CLIENT_INFO] = self.config.client_info
        params["_meta"] = meta
        return jsonrpc.encode_request(wire, p.method, params)

    def _modern_headers(self, method: str, params: Any, version: str) -> list[tuple[str, str]]:
        """CLI-POST-07: the request-metadata headers (CLI-VER-04, CLI-HDR-01/02/03)."""
        h = [("Accept", ACCEPT_POST), ("Content-Type", "application/json"),
             ("MCP-Protocol-Version", version), ("Mcp-Method", method)]
        src = NAME_SOURCES.get(method)
        if src is not None and isinstance(params, dict):
            name = params.get(src)
            if isinstance(name, str):
                h.append(("Mcp-Name", encode_header_value(name)))  # CLI-HDR-02: sentinel when needed
                if method == "tools/call":
                    annotated = self.tool_headers.get(name)
                    if annotated:
                        h.extend(_param_headers(annotated, params.get("arguments")))
        h.extend(self.config.headers.items())  # AUTH-01
        return h

    def _post_modern(self, p: _Pending) -> None:
        version = p.version if p.version is not None else (self.protocol_version or self.config.modern_version)
        if p.modern:  # a re-issue or retry: a new request, a new id (CLI-RESUME-09)
            self._alias.pop(p.wire, None)
            p.wire = next(self._ids)
            self._alias[p.wire] = p.id
        p.modern = True
        ex = self._new(_MPOST, {p.id})
        self._out.append(HttpRequest(ex.handle, "POST", self.config.url,
                                     self._modern_headers(p.method, p.params, version),
                                     self._modern_body(p, p.wire, version)))

    def _post_modern_notification(self, method: str, params: Any) -> None:
        version = self.protocol_version or self.config.modern_version
        params = dict(params) if isinstance(params, dict) else {}
        meta = dict(params.get("_meta") or {})
        meta[META_PROTOCOL_VERSION] = version
        meta[META_CLIENT_CAPABILITIES] = self.config.capabilities
        params["_meta"] = meta
        ex = self._new(_NOTIFY)
        self._out.append(HttpRequest(ex.handle, "POST", self.config.url, self._modern_headers(method, params, version),
                                     jsonrpc.encode_notification(method, params)))

    def _check_result(self, p: _Pending, result: Any) -> tuple[Any, ClientError | None]:
        """JR-30: resultType absent -> "complete"; unknown -> invalid. CLI-HDR-04 for tools/list."""
        if not isinstance(result, dict):
            return None, StreamProtocolError(f"{p.method}: the result is not an object")
        rt = result.get("resultType", "complete")
        if rt not in _RESULT_TYPES:
            return None, StreamProtocolError(f"{p.method}: unknown resultType {rt!r} (JR-30)")
        if p.method == "tools/list" and isinstance(result.get("tools"), list):
            result = self._filter_tools(result)
        return result, None

    def _filter_tools(self, result: dict) -> dict:
        kept = []
        for tool in result["tools"]:
            if not isinstance(tool, dict):
                continue
            name = tool.get("name")
            problems = x_mcp_header_problems(tool.get("inputSchema") or {})
            if problems:
                # CLI-HDR-04: MUST exclude, SHOULD warn
                _log.warning("tool %r excluded: invalid x-mcp-header: %s", name, "; ".join(problems))
                if isinstance(name, str):
                    self.excluded_tools[name] = problems
                    self.tool_headers.pop(name, None)
                continue
            if isinstance(name, str):
                self.excluded_tools.pop(name, None)
                headers = x_mcp_headers(tool.get("inputSchema") or {})
                if headers:
                    self.tool_headers[name] = headers
                else:
                    self.tool_headers.pop(name, None)
            kept.append(tool)
        if len(kept) == len(result["tools"]):
            return result
        out = dict(result)
        out["tools"] = kept
        return out

    def _modern_http_error(self, ex: _Exchange, status: int, body: bytes, now: float) -> None:
        self._exchanges.pop(ex.handle, None)
        err = _error_of(body)
        recognised = err is not None and err[0] in MODERN_ERROR_CODES
        for rid in list(ex.rids):
            p = self._pending.get(rid)
            if p is None:
                continue
            if p.internal and p.method == "server/discover":
                self._discover_rejected(p, status, body, err if recognised else None, now)
                continue
            if recognised and err is not None:
                code, message, data = err
                if code == HEADER_MISMATCH and p.method == "tools/call" and not p.hdr_retry \
                        and _about_params(message, data):
                    p.hdr_retry = True  # CLI-HDR-05: refresh tools/list, retry once
                    self._refresh_tools(p, now)
                    continue
                if code == UNSUPPORTED_PROTOCOL_VERSION and not p.version_retry:
                    supported = data.get("supported") if isinstance(data, dict) else None
                    mutual = [v for v in MODERN_VERSIONS if isinstance(supported, list) and v in supported
                              and v != self.protocol_version]
                    if mutual:  # CLI-VER-09
                        p.version_retry = True
                        p.version = mutual[0]
                        self._post_modern(p)
                        continue
            elif status in (400, 404, 405) and err is None and self.config.era == "auto":
                # CLI-COMPAT-05: the modern assumption failed; the next connection re-probes
                self._era_cache.forget(self.config.url)
            if err is not None:
                e: ClientError = McpError(*err)
                e.http_status = status  # type: ignore[attr-defined]
            else:
                e = HttpStatusError(status, body)
            self._fail(rid, e)

    def _discover_rejected(self, p: _Pending, status: int, body: bytes,
                           err: tuple[int, str, Any] | None, now: float) -> None:
        """The decision table of CLI-COMPAT-03/04 and CLI-VER-09 for the first modern request."""
        if err is not None:  # a modern server
            code, message, data = err
            if code == UNSUPPORTED_PROTOCOL_VERSION and not p.version_retry:
                supported = data.get("supported") if isinstance(data, dict) else None
                if isinstance(supported, list):
                    mutual = [v for v in MODERN_VERSIONS if v in supported and v != p.version]
                    if mutual:
                        p.version_retry = True
                        self._pending.pop(p.id, None)
                        self._start_discover(now, p, mutual[0])
                        return
                    legacy = [v for v in SUPPORTED_VERSIONS if v in supported]
                    if legacy and self.config.era == "auto":
                        self._legacy_version = legacy[-1]
                        self._fall_back(p, now)
                        return
            self._fail(p.id, McpError(code, message, data))
            return
        if self.config.era == "auto" and status in (400, 404, 405):
            self._fall_back(p, now)  # empty or unrecognised body: a legacy server
            return
        self._fail(p.id, HttpStatusError(status, body, "server/discover failed"))

    def _refresh_tools(self, call: _Pending, now: float) -> None:
        self.stats["tool_refreshes"] += 1
        rid = next(self._ids)
        t = self.config.request_timeout
        q = _Pending(rid, "tools/list", {}, None if t is None else now + t, True)
        q.then = call.id
        self._pending[rid] = q
        if q.deadline is not None:
            self._at(q.deadline, None, rid)
        self._post_modern(q)

    def _refreshed(self, q: _Pending, error: ClientError | None, now: float) -> None:
        call = self._pending.get(q.then) if q.then is not None else None
        if call is None:
            return
        if error is not None:
            self._fail(call.id, error)
            return
        if self.state is ClientState.MODERN:
            self._post_modern(call)  # with the refreshed Mcp-Param-* headers, under a new id

    def _reissue(self, ex: _Exchange, err: ClientError, now: float, fatal: bool) -> None:
        """CLI-RESUME-09 (and CLI-SUB-06): a broken modern stream is re-issued under a new id."""
        for rid in list(ex.rids):
            p = self._pending.get(rid)
            if p is None:
                continue
            p.reissues += 1
            if fatal or p.reissues > self.config.max_reissue_attempts:
                if not fatal:
                    err = ConnectionLost(f"{p.method}: the response stream broke {p.reissues} times: {err}")
                self._fail(rid, err)
                continue
            self.stats["reissues"] += 1
            if p.reissues == 1:
                self._post_modern(p)
            else:
                def again(n: float, rid: int = rid) -> None:
                    q = self._pending.get(rid)
                    if q is not None and self.state in (ClientState.MODERN, ClientState.DISCOVERING):
                        self._post_modern(q)
                self._at(now + self._delay(None, p.reissues - 1), again)

    # -- legacy HTTP+SSE (2024-11-05) ------------------------------------

    def _probe_legacy(self, ex: _Exchange, err: HttpStatusError) -> None:
        self.state = ClientState.PROBING_LEGACY
        self._init_error = err
        g = self._new(_LEGACY_GET, set(ex.rids))
        self._legacy_stream = g.handle
        self._out.append(HttpRequest(g.handle, "GET", self.config.url, self._headers(post=False), None, True))

    def _legacy_endpoint(self, ex: _Exchange, data: str, now: float) -> None:
        if self.state is not ClientState.PROBING_LEGACY:
            return
        self._endpoint = urljoin(self.config.url, data.strip())  # L0-02
        p = self._pending.get(self._init_id) if self._init_id is not None else None
        self._legacy_endpoint_seen = True
        if p is None:
            return
        self._post_request(p)  # the result comes back on this GET stream (L0-04)

    def _legacy_failed(self, ex: _Exchange, err: ClientError) -> None:
        self._exchanges.pop(ex.handle, None)
        if self.state is ClientState.PROBING_LEGACY:
            first = self._init_error or err
            init = self._init_id
            if init is not None:
                self._fail(init, first)
            return
        self._legacy_stream = None
        for rid in list(self._pending):
            self._fail(rid, ConnectionLost(f"the HTTP+SSE stream ended: {err}"))
        if self.state is ClientState.LEGACY:
            self.state = ClientState.FAILED
            self._init_error = ConnectionLost("the HTTP+SSE stream ended")
