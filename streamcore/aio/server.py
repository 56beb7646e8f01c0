"""The asyncio server adapter: sockets and tasks around the sans-IO core.

One :class:`StreamableHttpServer` owns one :class:`streamcore._server.Server`
and any number of TCP connections. Each connection parses HTTP/1.1 with h11
and feeds the core; the core's output events are routed back to the
connection that owns the exchange, and its application events become tasks
running your :class:`App`. uvloop works unchanged: install it as the event
loop policy (``python -m streamcore serve --uvloop``).

Backpressure: a connection whose peer does not read has its write buffer
capped (``max_write_buffer``); past it the connection is aborted. In the
session era that is not a loss: the stream detaches, work goes on, and with an
event store the client resumes with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Coroutine, Mapping, Protocol

import h11

from .._events import (
    NotificationReceived,
    RequestCancelled,
    RequestReceived,
    ResponseData,
    ResponseEnd,
    ResponseHead,
    ResponseReceived,
    SessionClosed,
)
from .._errors import McpError
from .._headers import DEFAULT_MAX_HEAD_SIZE, REASONS as _REASONS
from .._http11 import END, NEED_DATA, PAUSED, Http11Connection, Http11Error, RequestHead
from .._era import META_CLIENT_CAPABILITIES, MISSING_REQUIRED_CLIENT_CAPABILITY, MODERN_VERSIONS
from .._errors import LocalProtocolError
from .._modern import SubscriptionClosed, SubscriptionOpened, discover_result
from .._mrtr import (
    INPUT_CAPABILITIES,
    MRTR_METHODS,
    InputRequest,
    InputRequired,
    InputRound,
    InvalidInputResponse,
    StateSealer,
)
from .._server import Server, ServerConfig
from ._auth import ResourceServer, load_jwks

__all__ = [
    "App", "McpError", "ClientRequestFailed", "RequestContext", "StreamableHttpServer", "serve",
    "DEFAULT_MAX_WRITE_BUFFER", "REMOVED_IN_2026", "CACHEABLE_METHODS", "ResourceServer", "load_jwks",
]

log = logging.getLogger("streamcore.server")

_EAGER = sys.version_info >= (3, 12)

#: Bytes a slow reader may leave unsent before its connection is aborted.
DEFAULT_MAX_WRITE_BUFFER = 8 * 1024 * 1024


class ClientRequestFailed(Exception):
    """The client answered a server-to-client request with an error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.data = code, message, data


#: Methods of the session era that 2026-07-28 removed: the seam answers them
#: -32601 (HTTP 404) on a 2026-07-28 request without calling the app.
REMOVED_IN_2026: frozenset[str] = frozenset(
    {"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"}
)
#: 2026-07-28 results that are ``CacheableResult``s (SEP-2549): the seam adds
#: ``ttlMs`` and ``cacheScope`` to a dict result that lacks them.
CACHEABLE_METHODS: frozenset[str] = frozenset(
    {"tools/list", "prompts/list", "resources/list", "resources/templates/list", "resources/read"}
)
_METHOD_NOT_FOUND = -32601


@dataclass
class RequestContext:
    """What a handler gets for one client request.

    Asking the client for input (elicitation, sampling, roots) is the same
    call in both eras: ``await ctx.request(method, params, key=...)``. In the
    session era it is a server-to-client request on the request's stream. In
    2026-07-28 the first call whose answer is not known yet ends the handler
    (it raises :class:`streamcore.mrtr.InputRequired`, a ``BaseException``)
    and the request is answered with an ``InputRequiredResult``; the client's
    retry runs the handler again from the top, and this time ``request``
    returns the answer. See ``docs/conformance.md``.
    """

    server: "StreamableHttpServer"
    handle: int
    method: str
    params: Any
    request_id: Any
    session_id: str | None
    protocol_version: str
    identity: Any = None
    _meta: dict = field(default_factory=dict)
    #: 2026-07-28 only: this round of a multi-round-trip request.
    _round: InputRound | None = None
    _asked: int = 0

    @property
    def per_request(self) -> bool:
        """True on a 2026-07-28 (per-request era) request."""
        return self.protocol_version in MODERN_VERSIONS

    @property
    def client_capabilities(self) -> dict | None:
        """The client's declared capabilities on a 2026-07-28 request (``_meta``); None in the session era."""
        if not self.per_request:
            return None
        caps = self._meta.get(META_CLIENT_CAPABILITIES) if isinstance(self._meta, dict) else None
        return caps if isinstance(caps, dict) else {}

    @property
    def state(self) -> dict:
        """Small JSON values a handler keeps across the rounds of one 2026-07-28 request
        (sealed into ``requestState``); a plain dict for this request in the session era."""
        if self._round is None:
            self._round = InputRound(method=self.method, binding="")
        return self._round.state

    async def notify(self, method: str, params: Any = None) -> None:
        """A notification related to this request (SRV-SSE-02): on its stream when it has one."""
        self.server._notify(self.session_id, method, params, related=self.handle)

    async def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """``notifications/progress`` for this request, if the client asked for it (a progressToken)."""
        token = self._meta.get("progressToken") if isinstance(self._meta, dict) else None
        if token is None:
            return
        params: dict[str, Any] = {"progressToken": token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        await self.notify("notifications/progress", params)

    async def disconnect(self) -> None:
        """Close the connection carrying this request's SSE stream, not the stream
        (SRV-SSE-09): the client resumes with GET + Last-Event-ID."""
        self.server.core.disconnect(self.handle, self.server._now())
        self.server._drain()

    def _check_capability(self, method: str) -> None:
        caps = self.client_capabilities
        need = INPUT_CAPABILITIES.get(method)
        if caps is not None and need is not None and need not in caps:
            raise McpError(
                MISSING_REQUIRED_CLIENT_CAPABILITY,
                f"{method} needs the client capability {need!r}, which this request did not declare",
                {"requiredCapabilities": {need: {}}},
            )

    async def request(self, method: str, params: Any = None, *, key: str | None = None,
                      timeout: float | None = 60.0) -> Any:
        """Ask the client for input (``elicitation/create``, ``sampling/createMessage``,
        ``roots/list``) and return its result, in either era.

        ``key`` names the input in a 2026-07-28 ``InputRequiredResult``
        (default: ``input-1``, ``input-2``, ... in call order, which is stable
        because the handler re-runs the same way). A method that needs a
        client capability the 2026-07-28 request did not declare raises
        :class:`McpError` -32021 (``data.requiredCapabilities``). In the
        session era ``key`` is unused and ``timeout`` bounds the wait.
        """
        answers = await self.request_many({key or self._next_key(): (method, params)}, timeout=timeout)
        return next(iter(answers.values()))

    async def request_many(self, requests: Mapping[str, tuple[str, Any]], *,
                           timeout: float | None = 60.0) -> dict[str, Any]:
        """Several inputs at once (key -> (method, params)); returns key -> result.

        In 2026-07-28 every missing one goes into one ``InputRequiredResult``;
        in the session era they are concurrent server-to-client requests.
        """
        for method, _ in requests.values():
            self._check_capability(method)
        if not self.per_request:
            keys = list(requests)
            results = await asyncio.gather(*(
                self.server._client_request(self.session_id, m, p, related=self.handle, timeout=timeout)
                for m, p in requests.values()
            ))
            return dict(zip(keys, results))
        if self.method not in MRTR_METHODS:
            raise LocalProtocolError(
                f"a {self.method} request cannot ask for input (only {', '.join(sorted(MRTR_METHODS))} can)"
            )
        rnd = self._round
        if rnd is None:
            raise LocalProtocolError("no input round for this request")
        out: dict[str, Any] = {}
        missing: dict[str, InputRequest] = {}
        for k, (method, params) in requests.items():
            got = rnd.take(k)
            if got is None:
                missing[k] = InputRequest(method=method, params=params)
            else:
                out[k] = got
        if missing:
            raise InputRequired(missing)
        return out

    def _next_key(self) -> str:
        self._asked += 1
        return f"input-{self._asked}"


class App(Protocol):
    """What the server calls. Keep it small: frameworks build their model on top.

    Optional attributes the seam reads for the 2026-07-28 era defaults:
    ``server_info`` (``{"name", "version"}``), ``capabilities`` (the
    ``ServerCapabilities`` object), ``instructions`` (str) build the
    ``server/discover`` answer when the app does not answer it itself
    (it raises -32601); ``cache_ttl_ms`` (int, default 0) and ``cache_scope``
    (``"private"`` by default, or ``"public"``) complete the results of
    :data:`CACHEABLE_METHODS`.
    """

    async def handle_request(self, ctx: RequestContext) -> Any:
        """Return the result (any JSON value, or ``jsonrpc.RawJson``), or raise :class:`McpError`."""

    async def handle_notification(self, session_id: str | None, method: str, params: Any) -> None:
        """A client notification; nothing is sent back."""


class _Connection(asyncio.Protocol):
    """One TCP connection: bytes in, the core's output out.

    The HTTP/1.1 engine is a subclass: :class:`_FastConnection` (streamcore's
    own strict parser and framing, the default) or :class:`_H11Connection`
    (h11, the reference engine).
    """

    def __init__(self, hub: "StreamableHttpServer") -> None:
        self.hub = hub
        self.transport: asyncio.Transport | None = None
        self.xid: int | None = None
        self.closed = False
        self.out: list[bytes] = []
        self.close_after_flush = False
        self._doc: bytes | None = None  # oauth: a metadata document to answer at the request's end
        self._held = False  # oauth: the head waits for its token to be introspected

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.xid is not None:
            xid, self.xid = self.xid, None
            self.hub._route.pop(xid, None)
            self.hub.core.connection_lost(xid, self.hub._now())
            self.hub._drain()

    def pause_writing(self) -> None:
        if self.xid is not None:
            self.hub.core.pause_writing(self.xid)

    def resume_writing(self) -> None:
        if self.xid is not None:
            self.hub.core.resume_writing(self.xid, self.hub._now())
            self.hub._drain()

    def _bad_request_bytes(self, status: int) -> bytes:
        body = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad HTTP request"}}'
        return (
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n" % (status, _REASONS.get(status, b""), len(body))
        ) + body

    def _close_later(self) -> None:
        self.close_after_flush = True
        if not self.out:
            self.hub._dirty.append(self)

    def _write(self, data: bytes | None) -> None:
        # Output is gathered while the hub drains the core and written once
        # per loop iteration (flush): one send() per response instead of one
        # per head, body and end (uvloop's write-coalescing advice).
        if data and not self.closed:
            if not self.out:
                self.hub._dirty.append(self)
            self.out.append(data)

    def flush(self) -> None:
        out, self.out = self.out, []
        t = self.transport
        if out and t is not None and not self.closed:
            t.write(out[0] if len(out) == 1 else b"".join(out))
            if t.get_write_buffer_size() > self.hub.max_write_buffer:
                log.warning("aborting a connection whose peer reads too slowly")
                t.abort()
        if self.close_after_flush and t is not None and not self.closed:
            t.close()
            self.closed = True

    def _auth_hold(self, method: bytes, target: bytes, headers: Any, resume: Callable[[], None]) -> bool:
        """OAuth (docs/auth.md): True if the adapter takes this head: the PRM document, or a held token check."""
        auth = self.hub.auth
        if auth is None:
            return False
        self._doc = auth.document(method, target)
        if self._doc is not None:
            return True
        pending = auth.prepare(headers)
        if pending is None:
            return False
        self._held = True
        if self.transport is not None:
            self.transport.pause_reading()

        def done(_: Any) -> None:
            self._held = False
            if not self.closed:
                if self.transport is not None:
                    self.transport.resume_reading()
                resume()
                self._process()
        asyncio.ensure_future(pending).add_done_callback(done)
        return True

    def _answer_doc(self) -> None:
        doc, self._doc = self._doc, None
        assert doc is not None
        self.head(ResponseHead(-1, 200, [(b"content-type", b"application/json"),
                                         (b"content-length", b"%d" % len(doc)), (b"cache-control", b"max-age=300")]))
        self.data(ResponseData(-1, doc))
        self.end(ResponseEnd(-1))

    def _process(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # engine-specific
    def head(self, ev: ResponseHead) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def data(self, ev: ResponseData) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def end(self, ev: ResponseEnd) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class _FastConnection(_Connection):
    """streamcore's own HTTP/1.1 engine (:mod:`streamcore._http11`)."""

    def __init__(self, hub: "StreamableHttpServer") -> None:
        super().__init__(hub)
        self.http = Http11Connection(max_head_size=hub.max_head_size)

    def data_received(self, data: bytes) -> None:
        self.http.receive_data(data)
        self._process()

    def eof_received(self) -> bool | None:
        self.http.receive_data(b"")
        self._process()
        return None

    def _process(self) -> None:
        hub = self.hub
        core = hub.core
        http = self.http
        while not self.closed and not self._held:
            try:
                ev = http.next_event()
            except Http11Error as exc:
                if self.transport is not None:
                    if self.xid is None:
                        self.transport.write(self._bad_request_bytes(exc.status_hint))
                    self.transport.close()
                self.closed = True
                break
            if isinstance(ev, bytes):
                if self.xid is not None:
                    core.receive_body(self.xid, ev)
            elif isinstance(ev, RequestHead):
                if not self._auth_hold(ev.method, ev.target, ev.headers, functools.partial(self._head_in, ev)):
                    self._head_in(ev)
            elif ev is END:
                if self._doc is not None:
                    self._answer_doc()
                elif self.xid is not None:
                    core.receive_end(self.xid, hub._now())
            elif ev is NEED_DATA or ev is PAUSED:
                break
            else:  # CLOSED: the client finished between requests
                if self.transport is not None:
                    self.transport.close()
                self.closed = True
                break
        hub._drain()

    def _head_in(self, ev: RequestHead) -> None:
        hub = self.hub
        xid = hub.core.receive_request(ev.method, ev.target, ev.headers, hub._now())
        self.xid = xid
        hub._route[xid] = self
        if ev.expect_continue:
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def head(self, ev: ResponseHead) -> None:
        self._write(self.http.response_head(ev.status, ev.headers, streaming=ev.streaming))

    def data(self, ev: ResponseData) -> None:
        data = ev.data
        if self.http.chunked_output:
            # Frame as three pieces rather than with encode_chunk: flush() joins
            # the pieces anyway, so the event bytes are copied once, not twice.
            if data:
                self._write(b"%x\r\n" % len(data))
                self._write(data)
                self._write(b"\r\n")
        else:
            self._write(data)

    def end(self, ev: ResponseEnd) -> None:
        http = self.http
        self._write(http.response_end())
        self.hub._route.pop(ev.xid, None)
        if ev.close or not http.keep_alive:
            self.xid = None
            self._close_later()
            return
        if http.request_complete:
            http.start_next_cycle()
            self.xid = None
            if http.has_buffered:  # a pipelined request is already here
                asyncio.get_running_loop().call_soon(self._process)


class _H11Connection(_Connection):
    """The h11 engine: slower, and the reference our own engine is tested against."""

    def __init__(self, hub: "StreamableHttpServer") -> None:
        super().__init__(hub)
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=hub.max_head_size)

    def data_received(self, data: bytes) -> None:
        self.h11.receive_data(data)
        self._process()

    def eof_received(self) -> bool | None:
        self.h11.receive_data(b"")
        self._process()
        return None

    def _process(self) -> None:
        hub = self.hub
        core = hub.core
        while not self.closed and not self._held:
            try:
                ev = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                if self.transport is not None:
                    if self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                        self.transport.write(self._bad_request_bytes(exc.error_status_hint))
                    self.transport.close()
                self.closed = True
                return
            if ev is h11.NEED_DATA or ev is h11.PAUSED:
                break
            if isinstance(ev, h11.Request):
                if not self._auth_hold(ev.method, ev.target, ev.headers, functools.partial(self._head_in, ev)):
                    self._head_in(ev)
            elif isinstance(ev, h11.Data):
                if self.xid is not None:
                    core.receive_body(self.xid, ev.data)
            elif isinstance(ev, h11.EndOfMessage):
                if self._doc is not None:
                    self._answer_doc()
                elif self.xid is not None:
                    core.receive_end(self.xid, hub._now())
                if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
                    self.h11.start_next_cycle()
                    self.xid = None
            elif isinstance(ev, h11.ConnectionClosed):
                if self.transport is not None:
                    self.transport.close()
                break
        hub._drain()

    def _head_in(self, ev: h11.Request) -> None:
        hub = self.hub
        xid = hub.core.receive_request(ev.method, ev.target, ev.headers, hub._now())
        self.xid = xid
        hub._route[xid] = self

    def head(self, ev: ResponseHead) -> None:
        # h11 frames a response without Content-Length as chunked on HTTP/1.1.
        self._write(self.h11.send(h11.Response(
            status_code=ev.status, headers=ev.headers, reason=_REASONS.get(ev.status, b""))))

    def data(self, ev: ResponseData) -> None:
        self._write(self.h11.send(h11.Data(data=ev.data)))

    def end(self, ev: ResponseEnd) -> None:
        self._write(self.h11.send(h11.EndOfMessage()))
        self.hub._route.pop(ev.xid, None)
        if ev.close or self.h11.our_state is h11.MUST_CLOSE:
            self.xid = None
            self._close_later()
            return
        if self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            self.xid = None
            asyncio.get_running_loop().call_soon(self._process)


_ENGINES = {"fast": _FastConnection, "h11": _H11Connection}


class StreamableHttpServer:
    """Serve an :class:`App` over Streamable HTTP on asyncio."""

    def __init__(
        self,
        app: App,
        config: ServerConfig | None = None,
        *,
        max_write_buffer: int = DEFAULT_MAX_WRITE_BUFFER,
        max_head_size: int = DEFAULT_MAX_HEAD_SIZE,
        request_timeout: float | None = None,
        http1: str = "fast",
        request_state: StateSealer | None = None,
        http2: bool | None = None,
        h2_config: Any = None,
        auth: ResourceServer | None = None,
    ) -> None:
        self.auth = auth  # OAuth resource server: PRM document, token introspection (docs/auth.md)
        if http1 not in _ENGINES:
            raise ValueError(f"http1 must be one of {sorted(_ENGINES)}")
        self._engine = _ENGINES[http1]
        self.max_head_size = max_head_size
        self.app = app
        self.core = Server(config)
        self.max_write_buffer = max_write_buffer
        self.request_timeout = request_timeout
        #: Seals 2026-07-28 ``requestState`` (MRTR); give every instance the same keys.
        self.request_state = request_state if request_state is not None else StateSealer.ephemeral()
        self._route: dict[int, _Connection] = {}
        self._tasks: dict[int, asyncio.Task[Any]] = {}
        self._waiting: dict[tuple[str | None, Any], asyncio.Future[Any]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False
        self._dirty: list[_Connection] = []
        self._flush_handle: asyncio.Handle | None = None
        self._spawned = False  # a handler task was started during this drain
        # HTTP/2 on the same port (streamcore.aio._h2server): None = when h2 is installed.
        self._http2, self._h2_config = http2, h2_config
        self.h2_listener: Any = None

    def _now(self) -> float:
        loop = self._loop or asyncio.get_running_loop()
        return loop.time()

    async def start(self, host: str = "127.0.0.1", port: int = 8000, **kw: Any) -> asyncio.base_events.Server:
        """Listen; returns the asyncio server (its ``sockets`` tell the bound port)."""
        self._loop = asyncio.get_running_loop()
        engine = self._engine
        factory: Callable[[], asyncio.Protocol] = lambda: engine(self)
        if self._http2 is not False:
            try:
                from ._h2server import listen_h2
            except ImportError:  # h2 not installed: HTTP/1.1 only, unless HTTP/2 was asked for
                if self._http2:
                    raise
            else:
                factory = listen_h2(self, factory, kw, config=self._h2_config)
        return await self._loop.create_server(factory, host, port, **kw)

    # -- the pump ---------------------------------------------------------------

    def _drain(self) -> None:
        if self._draining:
            return  # re-entered from a handler running inside the loop below
        self._draining = True
        try:
            core = self.core
            while (ev := core.next_event()) is not None:
                # isinstance rather than type() identity: as fast on these
                # slotted classes, and it lets type checkers narrow.
                if isinstance(ev, ResponseData):
                    conn = self._route.get(ev.xid)
                    if conn is not None:
                        conn.data(ev)
                elif isinstance(ev, ResponseHead):
                    conn = self._route.get(ev.xid)
                    if conn is not None:
                        conn.head(ev)
                elif isinstance(ev, ResponseEnd):
                    conn = self._route.get(ev.xid)
                    if conn is not None:
                        conn.end(ev)
                elif isinstance(ev, RequestReceived):
                    self._start(ev)
                elif isinstance(ev, NotificationReceived):
                    m = ev.message
                    self._spawn(self.app.handle_notification(ev.session_id, m.method, m.params))
                elif isinstance(ev, ResponseReceived):
                    fut = self._waiting.pop((ev.session_id, ev.message.id), None)
                    if fut is not None and not fut.done():
                        fut.set_result(ev.message)
                elif isinstance(ev, RequestCancelled):
                    task = self._tasks.pop(ev.handle, None)
                    if task is not None:
                        task.cancel()
                elif isinstance(ev, (SubscriptionOpened, SubscriptionClosed)):
                    # Optional hook: an app that wants to know about listen streams.
                    hook = getattr(self.app, "handle_subscription", None)
                    if hook is not None:
                        self._spawn(hook(ev))
                elif isinstance(ev, SessionClosed):
                    # Optional hook: an app that keeps per-session state (streamcore.mcp_sdk).
                    closed = getattr(self.app, "handle_session_closed", None)
                    if closed is not None:
                        self._spawn(closed(ev.session_id, ev.reason))
                    for key in [k for k in self._waiting if k[0] == ev.session_id]:
                        fut = self._waiting.pop(key)
                        if not fut.done():
                            fut.set_exception(ConnectionResetError("session closed"))
        finally:
            self._draining = False
            if self._dirty and (self._flush_handle is None or self._spawned):
                # Flush after the handler tasks started above have run their
                # first step: a handler that answers without awaiting gets head,
                # body and end in one send(). A flush already queued is moved
                # behind the new tasks (several connections can be read in one
                # loop iteration). SSE heads still go out within the iteration
                # that follows, i.e. at once.
                if self._flush_handle is not None:
                    self._flush_handle.cancel()
                self._flush_handle = (self._loop or asyncio.get_running_loop()).call_soon(self._flush)
            self._spawned = False
        self._arm_timer()

    def _flush(self) -> None:
        self._flush_handle = None
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            conn.flush()

    def _arm_timer(self) -> None:
        at = self.core.get_timer()
        if at == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = at
        if at is not None:
            loop = self._loop or asyncio.get_running_loop()
            self._timer = loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.core.handle_timer(self._now())
        self._drain()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        if _EAGER:
            # Python 3.12+: run the handler's first step now; one that answers
            # without awaiting never waits for a loop iteration. Re-entry into
            # _drain is safe (the outer drain picks up what it queues).
            task: asyncio.Task[Any] = asyncio.Task(  # type: ignore[call-arg,arg-type]
                coro, loop=self._loop or asyncio.get_running_loop(), eager_start=True
            )
        else:
            task = asyncio.ensure_future(coro)
        task.add_done_callback(_log_failure)
        return task

    def _start(self, ev: RequestReceived) -> None:
        m = ev.message
        params = m.params
        meta = params.get("_meta", {}) if isinstance(params, dict) else {}
        ctx = RequestContext(self, ev.handle, m.method, params, m.id, ev.session_id, ev.protocol_version,
                             ev.identity, meta if isinstance(meta, dict) else {})
        if ctx.per_request:
            # Era defaults of 2026-07-28, before the app runs (docs/conformance.md).
            if m.method in REMOVED_IN_2026:
                self.core.respond(ev.handle, error=(
                    _METHOD_NOT_FOUND, f"Method not found: {m.method} (removed in {ev.protocol_version})"),
                    now=self._now())
                self._drain()
                return
            if m.method in MRTR_METHODS:
                try:
                    ctx._round = InputRound.open(m.method, params, self.request_state, now=time.time())
                except InvalidInputResponse as exc:
                    self.core.respond(ev.handle, error=(exc.code_hint, str(exc), {"reason": exc.reason}),
                                      now=self._now())
                    self._drain()
                    return
        task = self._spawn(self._run(ctx))
        if not task.done():  # an eager task may have finished already (3.12+)
            self._tasks[ev.handle] = task
            self._spawned = True

    async def _call_app(self, ctx: RequestContext) -> Any:
        if self.request_timeout is not None:
            return await asyncio.wait_for(self._call_app_once(ctx), self.request_timeout)
        return await self._call_app_once(ctx)

    async def _call_app_once(self, ctx: RequestContext) -> Any:
        if ctx.per_request and ctx.method == "server/discover":
            try:
                return await self.app.handle_request(ctx)
            except McpError as exc:
                if exc.code != _METHOD_NOT_FOUND:
                    raise
            return self._discover()
        return await self.app.handle_request(ctx)

    def _discover(self) -> dict:
        """``server/discover`` from the app's declared ``server_info``/``capabilities``/``instructions``."""
        cfg = self.core.config
        versions: list[str] = []
        if cfg.modern is not None:
            versions += cfg.modern.supported_versions
        if cfg.legacy:
            versions += reversed(cfg.supported_versions)
        app = self.app
        info = getattr(app, "server_info", None)
        caps = getattr(app, "capabilities", None)
        return discover_result(
            versions, caps if isinstance(caps, Mapping) else {},
            server_info=info if isinstance(info, Mapping) else None,
            instructions=getattr(app, "instructions", None),
        )

    def _complete_result(self, ctx: RequestContext, result: Any) -> Any:
        """2026-07-28: ``ttlMs``/``cacheScope`` on a cacheable dict result that lacks them (a copy)."""
        if ctx.method in CACHEABLE_METHODS and isinstance(result, dict) and (
                "ttlMs" not in result or "cacheScope" not in result):
            ttl = getattr(self.app, "cache_ttl_ms", 0)
            scope = getattr(self.app, "cache_scope", "private")
            result = {"ttlMs": ttl, "cacheScope": scope, **result}
        return result

    async def _run(self, ctx: RequestContext) -> None:
        core = self.core
        try:
            result = await self._call_app(ctx)
            if ctx.per_request:
                result = self._complete_result(ctx, result)
        except asyncio.CancelledError:
            self._tasks.pop(ctx.handle, None)
            return
        except InputRequired as exc:
            rnd = ctx._round
            if rnd is None or not ctx.per_request or ctx.method not in MRTR_METHODS:
                log.error("handler for %s raised InputRequired outside a 2026-07-28 %s request",
                          ctx.method, "/".join(sorted(MRTR_METHODS)))
                core.respond(ctx.handle, error=(-32603, "Internal error"), now=self._now())
            else:
                try:
                    core.respond(ctx.handle, rnd.input_required(exc.requests, self.request_state, now=time.time()),
                                 now=self._now())
                except LocalProtocolError as err:  # the state outgrew max_state_bytes
                    log.error("handler for %s: %s", ctx.method, err)
                    core.respond(ctx.handle, error=(-32603, "Internal error: request state too large"),
                                 now=self._now())
        except McpError as exc:
            core.respond(ctx.handle, error=(exc.code, exc.message, exc.data), now=self._now())
        except asyncio.TimeoutError:
            core.respond(ctx.handle, error=(-32001, "Request timed out"), now=self._now())
        except Exception:
            log.exception("handler for %s failed", ctx.method)
            core.respond(ctx.handle, error=(-32603, "Internal error"), now=self._now())
        else:
            core.respond(ctx.handle, result, now=self._now())
        self._tasks.pop(ctx.handle, None)
        self._drain()

    def _notify(self, session_id: str | None, method: str, params: Any, *, related: int | None) -> None:
        self.core.notify(session_id, method, params, related=related, now=self._now())
        self._drain()

    async def _client_request(
        self, session_id: str | None, method: str, params: Any, *, related: int | None, timeout: float | None
    ) -> Any:
        rid = self.core.send_request(session_id, method, params, related=related, now=self._now())
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[(session_id, rid)] = fut
        self._drain()
        try:
            msg = await asyncio.wait_for(fut, timeout)
        finally:
            self._waiting.pop((session_id, rid), None)
        if hasattr(msg, "code"):
            raise ClientRequestFailed(msg.code, msg.message, msg.data)
        return msg.result

    # -- server-initiated traffic outside a request -------------------------------

    def publish(self, method: str, params: Any = None) -> None:
        """A notification to every matching ``subscriptions/listen`` stream (2026-07-28)."""
        self.core.publish(method, params, now=self._now())
        self._drain()

    def close_listen(self, handle: int) -> bool:
        """End one listen stream gracefully, with its completion result (SRV-SUB-04)."""
        done = self.core.close_listen(handle, now=self._now())
        self._drain()
        return done

    def notify(self, session_id: str, method: str, params: Any = None) -> None:
        """A notification unrelated to any request: on the session's GET stream, or queued."""
        self._notify(session_id, method, params, related=None)

    async def request(self, session_id: str, method: str, params: Any = None, *, timeout: float | None = 60.0) -> Any:
        """A server-to-client request unrelated to any client request."""
        return await self._client_request(session_id, method, params, related=None, timeout=timeout)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("task failed", exc_info=task.exception())


async def serve(app: App, host: str = "127.0.0.1", port: int = 8000, config: ServerConfig | None = None,
                *, ready: Callable[[int], None] | None = None, http1: str = "fast",
                ssl: Any = None, http2: bool | None = None, auth: ResourceServer | None = None) -> None:
    """Run until cancelled. ``ready(port)`` is called once listening. With ``ssl``
    (an ``ssl.SSLContext``) the port speaks TLS, HTTP/2 chosen by ALPN. ``auth``: the
    OAuth resource server's adapter part (docs/auth.md)."""
    hub = StreamableHttpServer(app, config, http1=http1, http2=http2, auth=auth)
    srv = await hub.start(host, port, ssl=ssl)
    bound = srv.sockets[0].getsockname()[1]
    if ready is not None:
        ready(bound)
    try:
        async with srv:
            await srv.serve_forever()
    finally:
        if hub.h2_listener is not None:
            hub.h2_listener.goaway()  # GOAWAY with the last stream id to every HTTP/2 peer
