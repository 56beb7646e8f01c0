"""The sans-IO Streamable HTTP server, session era (protocol 2025-03-26, 2025-06-18, 2025-11-25).

Theory of operation
===================

One :class:`Server` serves one MCP endpoint. It owns every session, every
SSE stream and the event store; it knows nothing of sockets, event loops or
clocks. An adapter (asyncio, ASGI, HTTP/2, tests) drives it:

* Each HTTP request becomes an *exchange* with an integer ``xid``:
  ``xid = server.receive_request(method, target, headers, now)``, then
  ``server.receive_body(xid, data)`` any number of times, then
  ``server.receive_end(xid, now)``. ``server.connection_lost(xid, now)`` says
  the client went away.
* ``server.next_event()`` returns the next event or ``None``. HTTP output
  (:class:`ResponseHead`, :class:`ResponseData`, :class:`ResponseEnd`) goes to
  the exchange it names; application events (:class:`RequestReceived`, ...)
  go to the application, which answers through ``respond``, ``notify``,
  ``send_request`` and friends. Any call can queue new events: drain after
  each.
* ``server.get_timer()`` says when ``server.handle_timer(now)`` must next be
  called (heartbeats, session expiry, event-store TTL).

Streams
-------
Every SSE response belongs to a *stream* (spec 2.0): a POST stream owes the
responses to the requests of its POST; the standalone GET stream of a session
carries server-initiated traffic. A stream outlives its connection: when the
client disconnects, work goes on (CANCEL-01) and, with an event store, output
is kept for a GET with ``Last-Event-ID`` to replay (SRV-RESUME-05), but only
on the same stream of the same session (SRV-RESUME-06, SEC-12). Event ids are
``<stream>.<seq>``, which names the stream (SRV-RESUME-03) and is unique in
the session (SRV-RESUME-02).

States
------
An exchange goes ``HEAD`` -> ``BODY`` -> one of ``JSON`` (a JSON reply being
prepared), ``STREAMING`` (attached to a stream), ``DONE``; ``REJECTED`` when
answered before its body was read (the rest of the body is discarded). A
session goes ``LIVE`` -> ``CLOSED``; a closed session's id gets 404
(SRV-SESS-05).
"""

from __future__ import annotations

import dataclasses
import enum
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Collection

from . import jsonrpc as _jr
from . import sse as _sse
from ._errors import JsonRpcDecodeError, LocalProtocolError, RemoteProtocolError
from ._events import (
    Event,
    NotificationReceived,
    RequestCancelled,
    RequestReceived,
    ResponseData,
    ResponseEnd,
    ResponseHead,
    ResponseReceived,
    SessionClosed,
)
from ._headers import JSON, SSE, Headers, accepts, is_json_content_type, valid_header_value
from ._era import classify
from ._modern import ModernConfig, ModernEndpoint
from ._store import EventStore
from ._protocol import UNSUPPORTED_PROTOCOL_VERSION
from ._results import discover_result
from ._versions import DEFAULT_NEGOTIATED_VERSION, LATEST_LEGACY_VERSION, LEGACY_VERSIONS, served_versions

__all__ = [
    "Server",
    "ServerConfig",
    "QueueFull",
    "SUPPORTED_VERSIONS",
    "LATEST_VERSION",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_SESSIONS",
    "DEFAULT_SESSION_IDLE_TIMEOUT",
    "DEFAULT_HEARTBEAT_INTERVAL",
    "DEFAULT_MAX_QUEUED_BYTES",
]

#: Session-era revisions this core speaks, oldest first.
SUPPORTED_VERSIONS: tuple[str, ...] = LEGACY_VERSIONS
LATEST_VERSION = LATEST_LEGACY_VERSION

#: 4 MiB, the Python SDK's limit for a POST body.
DEFAULT_MAX_BODY_SIZE = 4 * 1024 * 1024
#: Live sessions at once; the next initialize gets 503.
DEFAULT_MAX_SESSIONS = 10_000
#: Idle seconds (no request, no attached stream) before a session expires.
DEFAULT_SESSION_IDLE_TIMEOUT = 30 * 60.0
#: Seconds of silence before an SSE comment keep-alive (WHATWG 9.2.7: ~15 s).
DEFAULT_HEARTBEAT_INTERVAL = 15.0
#: Bytes of server-to-client messages a session may queue while no stream can
#: carry them (AMB-14); past that, ``notify``/``send_request`` raise QueueFull.
DEFAULT_MAX_QUEUED_BYTES = 1024 * 1024
#: Finished POST streams a session remembers for resumption; oldest forgotten first.
DEFAULT_MAX_STREAMS_PER_SESSION = 1024

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


class QueueFull(LocalProtocolError):
    """A session's queue of undeliverable messages is full (backpressure)."""

    status_hint = 503


@dataclass(slots=True)
class ServerConfig:
    """Every knob of the server core, with its default.

    ``allowed_hosts`` / ``allowed_origins``: host names (no port) accepted in
    ``Host`` and in ``Origin``. The default, the loopback names, is right for a
    server bound to loopback (SEC-04, SEC-06); behind a proxy, list the public
    names, or pass ``None`` to switch the check off.
    """

    json_response: bool = False
    enable_get: bool = True
    enable_delete: bool = True
    max_body_size: int = DEFAULT_MAX_BODY_SIZE
    max_sessions: int = DEFAULT_MAX_SESSIONS
    session_idle_timeout: float = DEFAULT_SESSION_IDLE_TIMEOUT
    heartbeat_interval: float | None = DEFAULT_HEARTBEAT_INTERVAL
    max_queued_bytes: int = DEFAULT_MAX_QUEUED_BYTES
    max_streams_per_session: int = DEFAULT_MAX_STREAMS_PER_SESSION
    event_store: EventStore | None = None
    #: ``retry`` (ms) sent with the priming event and before a polling close.
    retry_ms: int | None = None
    #: R3 polling (SRV-SSE-09): close each SSE connection right after priming;
    #: the client comes back with GET + Last-Event-ID. Needs an event store.
    close_after_priming: bool = False
    allowed_hosts: Collection[str] | None = _LOOPBACK_HOSTS
    allowed_origins: Collection[str] | None = _LOOPBACK_HOSTS
    #: ``authenticate(headers) -> identity``; None (the return value) means 401. It may raise a
    #: RemoteProtocolError with ``status_hint`` and ``headers`` (streamcore.auth.BearerAuth: 401/403 + challenge).
    authenticate: Callable[[Headers], Any] | None = None
    www_authenticate: bytes = b"Bearer"
    #: Several standalone GET streams per session: False answers 409 (AMB-07).
    allow_concurrent_get: bool = False
    #: Omit ``"id"`` instead of ``"id": null`` in error bodies (AMB-03).
    omit_null_id: bool = False
    supported_versions: tuple[str, ...] = SUPPORTED_VERSIONS
    #: The per-request era (2026-07-28) on the same endpoint (SRV-COMPAT-08);
    #: None serves the session era only.
    modern: ModernConfig | None = field(default_factory=ModernConfig)
    #: False makes a modern-only server: GET and DELETE get 405 with
    #: ``Allow: POST`` and ``initialize`` gets 400 -32022 (SRV-COMPAT-06/07).
    legacy: bool = True
    #: For the era classifier: tool name -> {Mcp-Param-* suffix: argument path}
    #: (``streamcore._era.param_headers_from_tools``), and method -> client
    #: capabilities it requires (-32021 when undeclared).
    param_headers: Any = None
    required_capabilities: Any = None
    #: Tool name -> ClientCapabilities its ``tools/call`` needs (2026-07-28:
    #: -32021 with HTTP 400 when the request did not declare them).
    tool_capabilities: Any = None
    #: Declared server information (``{"name", "version"}``). When set, the
    #: per-request era's ``server/discover`` is answered by the core from it,
    #: ``capabilities`` and ``instructions``, listing every served version.
    server_info: Any = None
    capabilities: Any = None
    instructions: str | None = None

    def __post_init__(self) -> None:
        if self.close_after_priming and self.event_store is None:
            raise LocalProtocolError("close_after_priming needs an event_store to resume from")
        for name in ("max_body_size", "max_sessions", "max_queued_bytes", "max_streams_per_session"):
            if getattr(self, name) < 0:
                raise LocalProtocolError(f"{name} must be >= 0")
        if not self.legacy and self.modern is None:
            raise LocalProtocolError("a server needs at least one era (legacy or modern)")
        if not self.legacy:
            self.enable_get = self.enable_delete = False
        if self.server_info is not None and self.modern is not None and self.modern.discover is None:
            self.modern = dataclasses.replace(self.modern, discover=discover_result(
                served_versions(self.supported_versions if self.legacy else (), self.modern.supported_versions),
                self.capabilities, server_info=self.server_info, instructions=self.instructions,
            ))

    @property
    def served_versions(self) -> list[str]:
        """Every version this endpoint serves, newest first (``data.supported`` of -32022)."""
        return served_versions(
            self.supported_versions if self.legacy else (),
            self.modern.supported_versions if self.modern is not None else (),
        )


class _X(enum.Enum):
    BODY = "BODY"
    PROCESSING = "PROCESSING"
    REJECTED = "REJECTED"
    JSON = "JSON"
    STREAMING = "STREAMING"
    DONE = "DONE"


class _Exchange:
    __slots__ = (
        "xid", "method", "headers", "state", "body", "identity", "session", "stream",
        "owed", "replies", "is_batch", "last_write", "fields", "size",
    )

    def __init__(self, xid: int, method: bytes, headers: Headers) -> None:
        self.xid = xid
        self.method = method
        self.headers = headers
        self.state = _X.BODY
        # Body pieces as they arrived; joined once in receive_end (usually a
        # single piece, which then needs no copy at all).
        self.body: list[bytes] = []
        self.size = 0
        self.identity: Any = None
        self.session: _Session | None = None
        self.stream: _Stream | None = None
        # JSON mode: handles still owed, and encoded replies so far.
        self.owed: set[int] = set()
        self.replies: list[bytes] = []
        self.is_batch = False
        self.last_write = 0.0
        self.fields: dict[bytes, bytes] = {}


class _Stream:
    __slots__ = ("key", "session", "is_get", "xid", "seq", "owed", "priming")

    def __init__(self, key: str, session: _Session, is_get: bool) -> None:
        self.key = key
        self.session = session
        self.is_get = is_get
        self.xid: int | None = None  # attached exchange
        self.seq = 0
        self.owed: set[int] = set()  # handles whose responses still go here
        self.priming = False

    @property
    def finished(self) -> bool:
        return not self.is_get and not self.owed


class _Session:
    __slots__ = (
        "id", "identity", "version", "streams", "get_stream", "next_stream", "inflight",
        "outbound", "queue", "queued_bytes", "last_active", "closed",
    )

    def __init__(self, sid: str, identity: Any, version: str, now: float) -> None:
        self.id = sid
        self.identity = identity
        self.version = version
        self.streams: dict[str, _Stream] = {}
        self.get_stream: _Stream | None = None
        self.next_stream = 1
        # Client request id -> handle, for notifications/cancelled.
        self.inflight: dict[Any, int] = {}
        # Server request ids awaiting the client's answer.
        self.outbound: set[Any] = set()
        # Encoded messages waiting for a GET stream (AMB-14).
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.last_active = now
        self.closed = False


@dataclass(slots=True)
class _Pending:
    """A client request the application has not answered yet."""

    handle: int
    request_id: Any
    method: str
    session: _Session | None
    stream: _Stream | None
    xid: int | None
    cancelled: bool = False


class Server:
    """The server side of one Streamable HTTP endpoint (see the module docstring)."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self._events: deque[Event] = deque()
        self._exchanges: dict[int, _Exchange] = {}
        self._sessions: dict[str, _Session] = {}
        self._pending: dict[int, _Pending] = {}
        self._next_xid = 1
        self._next_handle = 1
        self._next_server_request = 1
        # The latest time any input carried; used where the API takes no `now`.
        self._now = 0.0
        # Earliest time handle_timer may have work (see get_timer).
        self._wake: float | None = None
        cfg = self.config
        self._modern: ModernEndpoint | None = None
        self._modern_b: frozenset[bytes] = frozenset()
        if cfg.modern is not None:
            # One handle space for both eras, so respond() can route by handle.
            self._modern = ModernEndpoint(cfg.modern, emit=self._events.append, new_handle=self._alloc_handle)
            self._modern_b = frozenset(v.encode() for v in cfg.modern.supported_versions)
        # Cached verdicts on header values (Accept, Content-Type, Host, Origin):
        # clients repeat the same values on every request.
        self._verdicts: dict[tuple[bytes, bytes | None], bool] = {}
        self._supported_b = frozenset(v.encode() for v in self.config.supported_versions)
        self._allow = b"GET, POST, DELETE" if self.config.enable_get and self.config.enable_delete else (
            b", ".join(
                [m for m, on in ((b"GET", self.config.enable_get), (b"POST", True), (b"DELETE", self.config.enable_delete)) if on]
            )
        )

    def _alloc_handle(self) -> int:
        h = self._next_handle
        self._next_handle += 1
        return h

    # -- output ------------------------------------------------------------

    def next_event(self) -> Event | None:
        """The next event, or None when there is nothing to do."""
        return self._events.popleft() if self._events else None

    @property
    def sessions(self) -> int:
        """Live sessions."""
        return len(self._sessions)

    # -- input -------------------------------------------------------------

    def receive_request(self, method: bytes | str, target: bytes | str, headers: Headers, now: float) -> int:
        """A request head arrived; returns its exchange id.

        Checks that need only the head (Host, Origin, authentication, Accept,
        Content-Type, Content-Length) run here, so a bad request is answered
        before its body is read.
        """
        if isinstance(method, str):
            method = method.encode("ascii")
        self._now = now
        xid = self._next_xid
        self._next_xid += 1
        x = _Exchange(xid, method, headers)
        self._exchanges[xid] = x
        self._check_head(x)
        return xid

    def receive_body(self, xid: int, data: bytes) -> None:
        """Body bytes of exchange ``xid`` (kept by reference until the end: pass
        ``bytes``; other buffers are copied, since an adapter may reuse them)."""
        if type(data) is not bytes:
            data = bytes(data)
        x = self._exchanges.get(xid)
        if x is None or x.state is not _X.BODY:
            return  # rejected, or already answered: discard
        if x.size + len(data) > self.config.max_body_size:
            self._reject(x, 413, -32600, "Request body too large", close=True)
            return
        x.body.append(data)
        x.size += len(data)

    def receive_end(self, xid: int, now: float) -> None:
        """The whole request of ``xid`` has arrived: process it."""
        x = self._exchanges.get(xid)
        if x is None:
            return
        if x.state is _X.REJECTED:
            self._retire(x)
            return
        if x.state is not _X.BODY:
            return
        self._now = now
        x.state = _X.PROCESSING
        if x.method == b"POST":
            pieces = x.body
            body = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            x.body = []  # joined: the exchange need not hold the pieces any longer
            if self._modern is not None and self._route_modern(x, body, now):
                return
            self._post(x, body, now)
        elif x.method == b"GET":
            self._get(x, now)
        elif x.method == b"DELETE":
            self._delete(x, now)
        else:  # pragma: no cover - filtered in _check_head
            self._reject(x, 405, -32000, "Method not allowed")

    def connection_lost(self, xid: int, now: float) -> None:
        """The client went away from ``xid`` (or the adapter gave up on it).

        Not a cancellation in the session era (CANCEL-01): work goes on and its
        output is kept for replay when an event store is configured.
        """
        self._now = now
        if self._modern is not None and self._modern.owns_xid(xid):
            self._modern.connection_lost(xid, now)  # R4: closing the stream cancels (CANCEL-06)
            return
        x = self._exchanges.pop(xid, None)
        if x is None:
            return
        if x.stream is not None and x.stream.xid == xid:
            x.stream.xid = None
            if x.session is not None:
                x.session.last_active = now
            self._forget_stream_if_done(x.stream)
        # JSON-mode replies for a lost exchange are dropped with it; their
        # pending entries stay until the application answers (then discarded).

    # -- head checks ---------------------------------------------------------

    def _check_head(self, x: _Exchange) -> None:
        cfg = self.config
        # One pass over the fields picks out the few we read (repeated fields
        # joined with ", "); every later lookup is a dict hit.
        f = x.fields = _pick(x.headers)
        verdicts = self._verdicts
        # Security first (SEC-01, SEC-02, SEC-06, AMB-18): no other answer may
        # leak to a page that a DNS-rebinding attack pointed at us.
        if cfg.allowed_hosts is not None:
            host = f.get(b"host")
            ok = verdicts.get((b"host", host))
            if ok is None:
                ok = verdicts[(b"host", host)] = host is not None and _hostname(host) in cfg.allowed_hosts
            if not ok:
                return self._reject(x, 403, -32000, "Forbidden: Host not allowed")
        origin = f.get(b"origin")
        if origin is not None and cfg.allowed_origins is not None:
            ok = verdicts.get((b"origin", origin))
            if ok is None:
                ok = verdicts[(b"origin", origin)] = _origin_host(origin) in cfg.allowed_origins
            if not ok:
                return self._reject(x, 403, -32000, "Forbidden: Origin not allowed")
        for name in _CHECKED_VALUES:  # HTTP-04: the values we act on
            value = f.get(name)
            if value is not None and not valid_header_value(value):
                return self._reject(x, 400, -32600, f"Bad value in header {name.decode('latin-1')}")
        if cfg.authenticate is not None:
            try:
                identity = cfg.authenticate(x.headers)
            except RemoteProtocolError as exc:  # a token verifier's verdict (streamcore.auth): 401/403 + challenge
                return self._reject(x, exc.status_hint, -32000, str(exc), extra=list(getattr(exc, "headers", ())))
            if identity is None:
                return self._reject(
                    x, 401, -32000, "Unauthorized", extra=[(b"www-authenticate", cfg.www_authenticate)]
                )
            x.identity = identity
        method = x.method
        if method == b"POST":
            accept = f.get(b"accept")
            ok = verdicts.get((b"post-accept", accept))
            if ok is None:
                ok = verdicts[(b"post-accept", accept)] = accepts(accept, JSON) and accepts(accept, SSE)
            if not ok:  # CLI-POST-02, AMB-01
                return self._reject(
                    x, 406, -32000, "Not Acceptable: Accept must allow application/json and text/event-stream"
                )
            ctype = f.get(b"content-type")
            ok = verdicts.get((b"ctype", ctype))
            if ok is None:
                ok = verdicts[(b"ctype", ctype)] = is_json_content_type(ctype)
            if not ok:  # AMB-02
                return self._reject(x, 415, -32000, "Unsupported Media Type: Content-Type must be application/json")
            length = f.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > cfg.max_body_size:
                return self._reject(x, 413, -32600, "Request body too large", close=True)
        elif method == b"GET":
            if not cfg.enable_get:
                return self._reject(x, 405, -32000, "Method not allowed", extra=[(b"allow", self._allow)])
            if not accepts(f.get(b"accept"), SSE):  # CLI-GET-02
                return self._reject(x, 406, -32000, "Not Acceptable: Accept must allow text/event-stream")
        elif method == b"DELETE":
            if not cfg.enable_delete:
                return self._reject(x, 405, -32000, "Method not allowed", extra=[(b"allow", self._allow)])
        else:
            return self._reject(x, 405, -32000, "Method not allowed", extra=[(b"allow", self._allow)])
        version = f.get(b"mcp-protocol-version")
        if method != b"POST" and version is not None and version not in self._supported_b:
            # SRV-VER-02, SRV-VER-06. A POST is checked once its body is read,
            # so that the error can echo the request id.
            return self._unsupported_version(x, version, None)
        if len(verdicts) > 256:
            # Peers normally send a handful of distinct values; a peer cycling
            # through many must not grow this without bound.
            verdicts.clear()
        return None

    def _unsupported_version(self, x: _Exchange, version: bytes, rid: Any) -> None:
        """SRV-VER-02, SRV-VER-06: 400, -32022, every version the endpoint serves and the one asked for."""
        requested = version.decode("latin-1")
        self._reject(
            x, 400, UNSUPPORTED_PROTOCOL_VERSION, f"Unsupported protocol version: {requested}", rid=rid,
            data={"supported": self.config.served_versions, "requested": requested},
        )

    # -- POST ------------------------------------------------------------------

    def _post(self, x: _Exchange, body: bytes, now: float) -> None:
        cfg = self.config
        sid = x.fields.get(b"mcp-session-id")
        session: _Session | None = None
        if sid is not None:
            session = self._lookup_session(x, sid)
        header_version = x.fields.get(b"mcp-protocol-version")
        version = (
            session.version if session is not None
            else header_version.decode("latin-1") if header_version is not None
            else DEFAULT_NEGOTIATED_VERSION
        )
        try:
            parsed = _jr.parse(
                body, allow_batch=_jr.batch_allowed(version), max_body_size=cfg.max_body_size
            )
        except JsonRpcDecodeError as exc:
            # SRV-POST-02/03, SRV-POST-06, JR-05, JR-08.
            return self._reject(x, exc.status_hint, exc.code_hint, str(exc) or "Parse error")
        messages = parsed.messages
        x.is_batch = parsed.is_batch
        # Errors from here on echo the request id when the body is one request
        # (sep-2575-http-server-error-jsonrpc-id).
        rid = messages[0].id if not parsed.is_batch and type(messages[0]) is _jr.Request else None
        if header_version is not None and header_version not in self._supported_b:
            return self._unsupported_version(x, header_version, rid)  # AMB-11: initialize too
        if sid is not None and session is None:
            return self._reject(x, 404, -32001, "Session not found", rid=rid)  # SRV-SESS-05, SESS-09
        init = [m for m in messages if type(m) is _jr.Request and m.method == "initialize"]
        if init:
            if parsed.is_batch:  # lc: initialize MUST NOT be batched (CLI-POST-08)
                return self._reject(x, 400, -32600, "Invalid Request: initialize must not be batched")
            if session is not None:
                return self._reject(x, 400, -32600, "Invalid Request: session already initialized", rid=rid)
            if len(self._sessions) >= cfg.max_sessions:
                return self._reject(x, 503, -32000, "Too many sessions", extra=[(b"retry-after", b"1")], rid=rid)
            session = self._new_session(x, init[0], now)
            version = session.version
        elif session is None:
            # SRV-SESS-04
            return self._reject(x, 400, -32000, "Bad Request: Mcp-Session-Id header is required", rid=rid)
        session.last_active = now
        x.session = session

        requests = []
        errors: list[bytes] = []
        for m in messages:
            t = type(m)
            if t is _jr.Request:
                requests.append(m)
            elif t is _jr.Notification:
                self._notification(session, m, version, x.identity)
            elif t is _jr.Response or t is _jr.ErrorResponse:
                known = m.id in session.outbound
                session.outbound.discard(m.id)
                self._events.append(ResponseReceived(m, session.id, known))
            elif m.reply:  # Invalid, answerable
                errors.append(_jr.encode(m, omit_null_id=cfg.omit_null_id))
        if not requests:
            if errors:
                # Nothing was accepted that needs an answer, but something was
                # wrong: the input is refused (SRV-POST-02), errors in the body.
                body = errors[0] if not parsed.is_batch else b"[" + b",".join(errors) + b"]"
                return self._json_reply(x, 400, body)
            return self._accepted(x)  # SRV-POST-01, T-01

        if cfg.json_response:
            x.state = _X.JSON
            x.replies = errors
        else:
            stream = self._new_stream(session, is_get=False)
            x.state = _X.STREAMING
            self._sse_head(x, stream, now)
            for e in errors:
                self._stream_send(stream, e, now)
        post_stream = x.stream  # None in JSON mode
        for m in requests:
            handle = self._next_handle
            self._next_handle += 1
            p = _Pending(handle, m.id, m.method, session, post_stream, x.xid)
            self._pending[handle] = p
            session.inflight[m.id] = handle
            if post_stream is not None:
                post_stream.owed.add(handle)
            else:
                x.owed.add(handle)
            self._events.append(RequestReceived(handle, m, session.id, version, x.identity))
        if x.stream is not None and cfg.close_after_priming and x.stream.priming:
            self._poll_close(x.stream, now)

    def _route_modern(self, x: _Exchange, body: bytes, now: float) -> bool:
        """Classify a POST (spec 2.12, SRV-COMPAT-08); serve it here if it is
        per-request era (or refused by the classifier). True when handled."""
        modern = self._modern
        assert modern is not None
        cfg = self.config
        v = classify(
            b"POST", x.headers, body,
            supported_modern=cfg.modern.supported_versions if cfg.modern else (),
            supported_legacy=cfg.supported_versions if cfg.legacy else (),
            param_headers=cfg.param_headers, required_capabilities=cfg.required_capabilities,
            tool_capabilities=cfg.tool_capabilities,
        )
        if v.accepted and v.era != "modern":
            return False  # the session era's path takes it from here
        # The modern endpoint owns this exchange from now on.
        self._exchanges.pop(x.xid, None)
        x.state = _X.DONE
        if not v.accepted:
            modern.reject(x.xid, v)
        else:
            modern.post(x.xid, v.message_obj, protocol_version=v.protocol_version or "", identity=x.identity, now=now)
        return True

    def _notification(self, session: _Session, m: Any, version: str, identity: Any) -> None:
        if m.method == "notifications/cancelled":  # CANCEL-02, CANCEL-05
            params = m.params if isinstance(m.params, dict) else {}
            rid = params.get("requestId")
            handle = session.inflight.get(rid) if type(rid) in (int, str) else None
            if handle is not None:
                p = self._pending.get(handle)
                if p is not None and p.method != "initialize":  # CANCEL-04
                    reason = params.get("reason")
                    p.cancelled = True
                    self._finish(p, None)
                    self._events.append(RequestCancelled(handle, reason if isinstance(reason, str) else None))
        self._events.append(NotificationReceived(m, session.id, version, identity))

    def _new_session(self, x: _Exchange, init: Any, now: float) -> _Session:
        params = init.params if isinstance(init.params, dict) else {}
        requested = params.get("protocolVersion")
        # LIFE-05: the requested version if supported, else our latest. The
        # application may still answer another; respond() records what it says.
        version = requested if requested in self.config.supported_versions else self.config.supported_versions[-1]
        sid = secrets.token_urlsafe(24)  # SEC-09: CSPRNG, 0x21-0x7E only (SRV-SESS-03)
        session = _Session(sid, x.identity, version, now)
        self._sessions[sid] = session
        self._schedule(now + self.config.session_idle_timeout)
        return session

    def _require_session(self, x: _Exchange) -> _Session | None:
        """The session a GET or DELETE names; None after answering 400 or 404."""
        sid = x.fields.get(b"mcp-session-id")
        if sid is None:
            self._reject(x, 400, -32000, "Bad Request: Mcp-Session-Id header is required")  # SRV-SESS-04
            return None
        return self._find_session(x, sid)

    def _find_session(self, x: _Exchange, sid: bytes) -> _Session | None:
        s = self._lookup_session(x, sid)
        if s is None:
            self._reject(x, 404, -32001, "Session not found")  # SRV-SESS-05, SESS-09
        return s

    def _lookup_session(self, x: _Exchange, sid: bytes) -> _Session | None:
        s = self._sessions.get(sid.decode("latin-1"))
        # SEC-10: a session belongs to the identity that created it; to anyone
        # else it does not exist (404, not 403: existence is not revealed).
        if s is None or s.closed or (self.config.authenticate is not None and s.identity != x.identity):
            return None
        return s

    # -- GET -------------------------------------------------------------------

    def _get(self, x: _Exchange, now: float) -> None:
        session = self._require_session(x)
        if session is None:
            return
        session.last_active = now
        x.session = session
        last = x.fields.get(b"last-event-id")
        if last is not None and self.config.event_store is not None:
            return self._resume(x, session, last, now)
        stream = session.get_stream
        if stream is not None and stream.xid is not None and not self.config.allow_concurrent_get:
            return self._reject(x, 409, -32000, "Conflict: a GET stream is already open for this session")
        if stream is None:
            stream = session.get_stream = self._new_stream(session, is_get=True)
        elif stream.xid is not None:  # allow_concurrent_get: the newer connection takes over
            self._detach(stream, now)
        x.state = _X.STREAMING
        self._sse_head(x, stream, now)
        # AMB-14: hand over what waited for a stream.
        while session.queue:
            data = session.queue.popleft()
            session.queued_bytes -= len(data)
            self._stream_send(stream, data, now)
        if self.config.close_after_priming and stream.priming:
            self._poll_close(stream, now)

    def _resume(self, x: _Exchange, session: _Session, last: bytes, now: float) -> None:
        # SRV-RESUME-05/06, SEC-12: only the named stream, only of this session.
        key, _, seq_b = last.decode("latin-1").rpartition(".")
        stream = session.streams.get(key)
        if stream is None or not seq_b.isdigit():
            return self._reject(x, 400, -32000, "Bad Request: Last-Event-ID names no stream of this session")
        store = self.config.event_store
        assert store is not None
        events = store.replay_after(session.id, key, int(seq_b), now)
        if events is None:
            return self._reject(x, 410, -32000, "Gone: events after Last-Event-ID are no longer kept")
        if stream.xid is not None:
            self._detach(stream, now)
        x.state = _X.STREAMING
        x.stream = stream
        stream.xid = x.xid
        self._head(x, 200, _sse_headers(session), streaming=True)
        out = [_sse.encode_event(data, id=f"{key}.{seq}") for seq, data in events]
        if out:
            self._write(x, b"".join(out), now)
        if stream.finished:
            self._end(x)
            return
        if self.config.close_after_priming and self.config.retry_ms is not None:
            # Keep polling: close again, with retry, once caught up.
            self._poll_close(stream, now)

    # -- DELETE ----------------------------------------------------------------

    def _delete(self, x: _Exchange, now: float) -> None:
        session = self._require_session(x)
        if session is None:
            return
        self._close_session(session, "deleted")
        self._head(x, 200, [(b"content-length", b"0")])  # AMB-08
        self._end(x)

    # -- application API -------------------------------------------------------

    def respond(
        self, handle: int, result: Any = None, *,
        error: tuple[int, str] | tuple[int, str, Any] | None = None, now: float | None = None,
    ) -> None:
        """Answer request ``handle`` with ``result`` or ``error=(code, message[, data])``.

        ``result`` may be a Python value or a :class:`streamcore.jsonrpc.RawJson`
        (already-encoded JSON, spliced in as is). Answering a cancelled or
        unknown handle does nothing (CANCEL-05: late answers are tolerated).
        """
        if self._modern is not None and self._modern.owns(handle):
            self._modern.respond(handle, result, error=error, now=self._now if now is None else now)
            return
        p = self._pending.get(handle)
        if p is None or p.cancelled:
            self._pending.pop(handle, None)
            return
        if error is not None:
            data = _jr.encode_error(p.request_id, error[0], error[1], error[2] if len(error) > 2 else None)
        else:
            data = _jr.encode_result(p.request_id, result)
            if p.method == "initialize" and p.session is not None and isinstance(result, dict):
                v = result.get("protocolVersion")
                if v in self.config.supported_versions:
                    p.session.version = v
        if now is not None:
            self._now = now
        self._finish(p, data)
        if error is not None and p.method == "initialize" and p.session is not None:
            self._close_session(p.session, "closed")

    def notify(
        self, session_id: str | None, method: str, params: Any = None, *,
        related: int | None = None, now: float | None = None,
    ) -> None:
        """Send a notification, on ``related``'s stream if it has one (SRV-SSE-02),
        else on the session's GET stream, else queued until one opens (AMB-14)."""
        if now is not None:
            self._now = now
        if related is not None and self._modern is not None and self._modern.owns(related):
            self._modern.notify(related, method, params, now=self._now)  # SRV-SSE-03
            return
        self._send_message(session_id, _jr.encode_notification(method, params), related)

    def send_request(
        self, session_id: str | None, method: str, params: Any = None, *,
        related: int | None = None, now: float | None = None,
    ) -> int:
        """Send a server-to-client request; returns its id. The answer comes as
        :class:`ResponseReceived`."""
        if related is not None and self._modern is not None and self._modern.owns(related):
            # SRV-SSE-04, EP-05: no server-to-client requests in the per-request era.
            raise LocalProtocolError("a 2026-07-28 request cannot carry server-to-client requests (use MRTR)")
        rid = self._next_server_request
        self._next_server_request += 1
        session = self._sessions.get(session_id) if session_id is not None else None
        if now is not None:
            self._now = now
        data = _jr.encode_request(rid, method, params)
        self._send_message(session_id, data, related)
        if session is not None:
            session.outbound.add(rid)
        return rid

    def publish(self, method: str, params: Any = None, *, now: float | None = None) -> None:
        """A notification to every matching ``subscriptions/listen`` stream (R4, SRV-SUB-01/03)."""
        if self._modern is not None:
            self._modern.publish(method, params, now=self._now if now is None else now)

    def pause_writing(self, xid: int) -> None:
        """The adapter's send buffer for ``xid`` is full (backpressure): listen
        streams queue, bounded, until :meth:`resume_writing`."""
        if self._modern is not None:
            self._modern.pause_writing(xid)

    def resume_writing(self, xid: int, now: float | None = None) -> None:
        if self._modern is not None:
            self._modern.resume_writing(xid, self._now if now is None else now)

    def close_listen(self, handle: int, *, now: float | None = None) -> bool:
        """End a listen stream gracefully, with its completion result (SRV-SUB-04)."""
        if self._modern is None:
            return False
        return self._modern.close_listen(handle, now=self._now if now is None else now)

    def close_session(self, session_id: str) -> None:
        """End a session from the server side (SRV-SESS-05): its id then gets 404."""
        s = self._sessions.get(session_id)
        if s is not None:
            self._close_session(s, "closed")

    def disconnect(self, handle_or_session: int | str, now: float | None = None) -> None:
        """Close the connection carrying a request's stream (an ``int`` handle) or a
        session's GET stream (a ``str`` session id), without ending the stream
        (SRV-SSE-09, SRV-GET-06): with ``retry`` first when configured; the
        client resumes with GET + Last-Event-ID."""
        if isinstance(handle_or_session, int):
            p = self._pending.get(handle_or_session)
            stream = p.stream if p is not None else None
        else:
            s = self._sessions.get(handle_or_session)
            stream = s.get_stream if s is not None else None
        if stream is not None and stream.xid is not None:
            self._poll_close(stream, self._now if now is None else now)

    # -- timers ------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When ``handle_timer`` must next run, or None.

        O(1): this is asked after every drain. The value may be early (a
        deadline that traffic has since pushed back), never late; an early
        call finds nothing due and recomputes the true deadline.
        """
        if self._modern is not None:
            m = self._modern.get_timer()
            if m is not None and (self._wake is None or m < self._wake):
                return m
        return self._wake

    def _schedule(self, t: float) -> None:
        if self._wake is None or t < self._wake:
            self._wake = t

    def handle_timer(self, now: float) -> None:
        """Send due heartbeats (SRV-SSE-12) and expire idle sessions."""
        self._now = now
        if self._modern is not None:
            self._modern.handle_timer(now)
        wake: float | None = None
        hb = self.config.heartbeat_interval
        if hb is not None:
            for x in list(self._exchanges.values()):
                if x.state is _X.STREAMING:
                    if x.last_write + hb <= now:
                        self._write(x, _sse.encode_comment(), now)
                    t = x.last_write + hb
                    if wake is None or t < wake:
                        wake = t
        idle = self.config.session_idle_timeout
        for s in list(self._sessions.values()):
            if s.last_active + idle <= now:
                attached = any(st.xid is not None for st in s.streams.values())
                if attached:
                    s.last_active = now  # an open stream is activity
                else:
                    self._close_session(s, "expired")
                    continue
            t = s.last_active + idle
            if wake is None or t < wake:
                wake = t
        self._wake = wake

    # -- internals: streams and output -------------------------------------------

    def _new_stream(self, session: _Session, *, is_get: bool) -> _Stream:
        key = str(session.next_stream) if not is_get else "0"
        if not is_get:
            session.next_stream += 1
        stream = _Stream(key, session, is_get)
        streams = session.streams
        streams[key] = stream
        if len(streams) > self.config.max_streams_per_session:
            # Forget the oldest finished, detached stream. Dicts keep insertion
            # order, so in the steady state the first entry qualifies and this
            # loop stops at once (no copy of the table).
            for k, st in streams.items():
                if st.finished and st.xid is None:
                    del streams[k]
                    break
        return stream

    def _sse_head(self, x: _Exchange, stream: _Stream, now: float) -> None:
        session = stream.session
        x.stream = stream
        stream.xid = x.xid
        self._head(x, 200, _sse_headers(session), streaming=True)
        # SRV-SSE-08: a priming event, only with resumability and only to
        # clients at 2025-11-25 or later (older SDK clients crashed on empty
        # data; spec 2.17).
        if self.config.event_store is not None and session.version >= "2025-11-25":
            stream.seq += 1
            eid = f"{stream.key}.{stream.seq}"
            self.config.event_store.append(session.id, stream.key, stream.seq, b"", now)
            self._write(x, _sse.encode_priming(eid, retry=self.config.retry_ms), now)
            stream.priming = True
        else:
            x.last_write = now

    def _stream_send(self, stream: _Stream, data: bytes, now: float) -> None:
        """One JSON-RPC message on ``stream``: stored, then written if attached."""
        store = self.config.event_store
        if store is not None:
            stream.seq += 1
            store.append(stream.session.id, stream.key, stream.seq, data, now)
            if stream.xid is not None:
                x = self._exchanges[stream.xid]
                self._write(x, _sse.encode_event(data, id=f"{stream.key}.{stream.seq}"), now)
        elif stream.xid is not None:
            self._write(self._exchanges[stream.xid], _sse.encode_event(data), now)
        # else: detached with no store; the message is lost, as the spec allows
        # for a non-resumable stream (SRV-MULTI-02 is a MAY).

    def _send_message(self, session_id: str | None, data: bytes, related: int | None) -> None:
        now = self._now
        p = self._pending.get(related) if related is not None else None
        if p is not None and p.stream is not None and not p.cancelled:
            # SRV-SSE-02: on the originating request's stream.
            self._stream_send(p.stream, data, now)
            return
        session = self._sessions.get(session_id) if session_id is not None else None
        if session is None:
            raise LocalProtocolError(f"no live session {session_id!r}")
        gs = session.get_stream
        if gs is not None and (gs.xid is not None or self.config.event_store is not None):
            self._stream_send(gs, data, now)
            return
        # AMB-14: queue, bounded.
        if session.queued_bytes + len(data) > self.config.max_queued_bytes:
            raise QueueFull(f"session {session_id} has {session.queued_bytes} bytes queued")
        session.queue.append(data)
        session.queued_bytes += len(data)

    def _finish(self, p: _Pending, data: bytes | None) -> None:
        """Deliver (or, cancelled, drop) the answer to ``p`` and close what it completes."""
        self._pending.pop(p.handle, None)
        session = p.session
        if session is not None and session.inflight.get(p.request_id) == p.handle:
            del session.inflight[p.request_id]
        t = self._now
        stream = p.stream
        if stream is not None:
            if data is not None:
                self._stream_send(stream, data, t)
            stream.owed.discard(p.handle)
            if stream.finished:
                if stream.xid is not None:  # SRV-SSE-07
                    self._end(self._exchanges[stream.xid])
                self._forget_stream_if_done(stream)
            return
        x = self._exchanges.get(p.xid) if p.xid is not None else None
        if x is None or x.state is not _X.JSON:
            return  # the client left; a JSON reply cannot be resumed
        x.owed.discard(p.handle)
        if data is not None:
            x.replies.append(data)
        if not x.owed:
            if not x.replies:
                self._accepted(x)  # every request was cancelled: nothing to say
            elif x.is_batch:
                self._json_reply(x, 200, b"[" + b",".join(x.replies) + b"]")  # AMB-04
            else:
                self._json_reply(x, 200, x.replies[0])

    def _poll_close(self, stream: _Stream, now: float) -> None:
        """SRV-SSE-09/10: end the connection, not the stream."""
        if stream.xid is None:
            return
        x = self._exchanges[stream.xid]
        if self.config.retry_ms is not None and not stream.priming:
            self._write(x, b"retry: %d\n\n" % self.config.retry_ms, now)
        stream.priming = False
        self._detach(stream, now)

    def _detach(self, stream: _Stream, now: float) -> None:
        if stream.xid is None:
            return
        x = self._exchanges[stream.xid]
        stream.xid = None
        self._end(x)

    def _forget_stream_if_done(self, stream: _Stream) -> None:
        if stream.finished and self.config.event_store is None:
            stream.session.streams.pop(stream.key, None)

    def _close_session(self, session: _Session, reason: str) -> None:
        if session.closed:
            return
        session.closed = True
        self._sessions.pop(session.id, None)
        for st in list(session.streams.values()):
            if st.xid is not None:
                self._detach(st, self._now)
        for handle in [h for h in session.inflight.values()]:
            p = self._pending.pop(handle, None)
            if p is not None:
                p.cancelled = True
        session.inflight.clear()
        if self.config.event_store is not None:
            self.config.event_store.drop_session(session.id)
        self._events.append(SessionClosed(session.id, reason))

    def _head(self, x: _Exchange, status: int, headers: list[tuple[bytes, bytes]], *, streaming: bool = False) -> None:
        if streaming:
            x.last_write = self._now
            if self.config.heartbeat_interval is not None:
                self._schedule(self._now + self.config.heartbeat_interval)
        self._events.append(ResponseHead(x.xid, status, headers, streaming))

    def _write(self, x: _Exchange, data: bytes, now: float) -> None:
        x.last_write = now
        self._events.append(ResponseData(x.xid, data))

    def _end(self, x: _Exchange, *, close: bool = False) -> None:
        if x.stream is not None and x.stream.xid == x.xid:
            x.stream.xid = None
        self._events.append(ResponseEnd(x.xid, close))
        self._retire(x)

    def _retire(self, x: _Exchange) -> None:
        x.state = _X.DONE
        self._exchanges.pop(x.xid, None)

    def _accepted(self, x: _Exchange) -> None:
        self._head(x, 202, [(b"content-length", b"0")])  # HTTP-02
        self._end(x)

    def _json_reply(self, x: _Exchange, status: int, body: bytes) -> None:
        headers = [(b"content-type", JSON), (b"content-length", b"%d" % len(body))]
        if x.session is not None:
            headers.append((b"mcp-session-id", x.session.id.encode()))
        self._head(x, status, headers)
        self._events.append(ResponseData(x.xid, body))
        self._end(x)

    def _reject(
        self, x: _Exchange, status: int, code: int, message: str,
        *, close: bool = False, extra: list[tuple[bytes, bytes]] | None = None, rid: Any = None, data: Any = None,
    ) -> None:
        """An HTTP error with a JSON-RPC error body: ``id`` is the request's when
        known, else null (SRV-POST-03, AMB-03)."""
        body = _jr.encode_error(rid, code, message, data, omit_null_id=self.config.omit_null_id)
        headers = [(b"content-type", JSON), (b"content-length", b"%d" % len(body))]
        if extra:
            headers.extend(extra)
        self._events.append(ResponseHead(x.xid, status, headers))
        self._events.append(ResponseData(x.xid, body))
        self._events.append(ResponseEnd(x.xid, close))
        if x.state is _X.BODY:
            # Answered early: the rest of the body is read and thrown away.
            x.state = _X.REJECTED
            x.body = []
        else:
            self._retire(x)


def _sse_headers(session: _Session | None) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-type", SSE),
        (b"cache-control", b"no-cache, no-transform"),  # HTTP-07
        (b"x-accel-buffering", b"no"),  # SRV-SSE-11: nginx must not buffer
    ]
    if session is not None:
        headers.append((b"mcp-session-id", session.id.encode()))  # SRV-SESS-01, AMB-15
    return headers


_PICKED = frozenset({
    b"host", b"origin", b"accept", b"content-type", b"content-length",
    b"mcp-session-id", b"mcp-protocol-version", b"last-event-id",
})
_CHECKED_VALUES = (b"mcp-session-id", b"mcp-protocol-version", b"last-event-id")


def _pick(headers: Headers) -> dict[bytes, bytes]:
    f: dict[bytes, bytes] = {}
    for name, value in headers:
        if name in _PICKED:
            prev = f.get(name)
            f[name] = value if prev is None else prev + b", " + value
    return f


def _hostname(host: bytes) -> str:
    """``Host`` without its port: ``[::1]:8080`` -> ``[::1]``, ``a.b:80`` -> ``a.b``."""
    h = host.decode("latin-1").strip().lower()
    if h.startswith("["):
        end = h.find("]")
        return h[: end + 1] if end != -1 else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def _origin_host(origin: bytes) -> str:
    """The host of a serialized origin; ``"null"`` and garbage map to ``""`` (AMB-18)."""
    o = origin.decode("latin-1").strip().lower()
    scheme, sep, rest = o.partition("://")
    if not sep or scheme not in ("http", "https") or not rest:
        return ""
    return _hostname(rest.split("/", 1)[0].encode("latin-1"))
