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
import contextvars
import logging
import signal
import sys
import time
import types
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Mapping, Protocol, cast

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
from .._http11 import (
    END, NEED_DATA, PAUSED, Http11Connection, Http11Error, MAX_CONTENT_LENGTH_DIGITS, RequestHead, target_form,
)
from .._era import META_CLIENT_CAPABILITIES, MISSING_REQUIRED_CLIENT_CAPABILITY, MODERN_VERSIONS
from .._errors import LocalProtocolError
from .._events import SubscriptionClosed, SubscriptionOpened
from .._results import discover_result
from .._mrtr import (
    INPUT_CAPABILITIES,
    MRTR_METHODS,
    InputRequest,
    InputRequired,
    InputRound,
    InvalidInputResponse,
    StateSealer,
)
from .._legacy_sse import L0_VERSION
from .._server import Server, ServerConfig
from ..cors import CorsPolicy
from ..web._front import REFUSE, Front
from ._auth import ResourceServer, load_jwks

if TYPE_CHECKING:  # pragma: no cover
    from ..redis import RedisCluster

__all__ = [
    "App", "McpError", "ClientRequestFailed", "RequestContext", "StreamableHttpServer", "serve",
    "DEFAULT_MAX_WRITE_BUFFER", "DEFAULT_MAX_TOTAL_WRITE_BUFFER", "DEFAULT_MAX_HEAD_SIZE",
    "DEFAULT_MAX_INBOUND_BUFFER", "DEFAULT_MAX_CONNECTIONS", "DEFAULT_HEAD_TIMEOUT",
    "DEFAULT_KEEP_ALIVE_TIMEOUT", "DEFAULT_BODY_TIMEOUT", "DEFAULT_WRITE_TIMEOUT",
    "DEFAULT_LINGER_TIME", "DEFAULT_LINGER_TIMEOUT", "DEFAULT_SHUTDOWN_GRACE", "ResourceServer", "load_jwks",
]

log = logging.getLogger("streamcore.server")
#: One INFO line per request when ``access_log=True`` (``python -m streamcore serve --access-log``).
_access = logging.getLogger("streamcore.access")

_EAGER = sys.version_info >= (3, 12)

#: SSE events up to this size are framed as one chunk in one piece (data()).
_FRAME_INLINE = 16 * 1024

#: Bytes a slow reader may leave unsent before its connection is aborted.
DEFAULT_MAX_WRITE_BUFFER = 8 * 1024 * 1024


class ClientRequestFailed(Exception):
    """The client answered a server-to-client request with an error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.data = code, message, data


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
    _meta: dict[str, Any] = field(default_factory=dict)
    #: 2026-07-28 only: this round of a multi-round-trip request.
    _round: InputRound | None = None
    _asked: int = 0

    @property
    def per_request(self) -> bool:
        """True on a 2026-07-28 (per-request era) request."""
        return self.protocol_version in MODERN_VERSIONS

    @property
    def client_capabilities(self) -> dict[str, Any] | None:
        """The client's declared capabilities on a 2026-07-28 request (``_meta``); None in the session era."""
        if not self.per_request:
            return None
        caps = self._meta.get(META_CLIENT_CAPABILITIES) if isinstance(self._meta, dict) else None
        return caps if isinstance(caps, dict) else {}

    @property
    def state(self) -> dict[str, Any]:
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
        self.server.core.disconnect_request(self.handle, now=self.server._now())
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

    Optional attributes the seam reads for the era defaults: ``server_info``
    (``{"name", "version"}``), ``capabilities`` (the ``ServerCapabilities``
    object) and ``instructions`` (str) build the ``server/discover`` answer
    (2026-07-28) and the ``initialize`` answer (session era) when the app
    does not answer them itself (it raises -32601). The core completes
    2026-07-28 results (``resultType``; ``ttlMs`` 0 and ``cacheScope``
    ``"private"`` on the cacheable ones, unless the result sets them) and
    answers the methods 2026-07-28 removed with 404.

    ``run_first_step_inline = True`` (optional; Python before 3.12, where
    asyncio has no eager tasks) lets the server run a handler's first step
    (up to its first ``await`` that suspends) outside any task, and start a
    task only if it suspends: a handler that answers at once then costs no
    task. Such a handler must not need a current task before it first
    suspends (``asyncio.current_task()``, ``asyncio.timeout()``, anyio cancel
    scopes); context variables it sets stay its own either way. From 3.12
    every handler starts eagerly, in its task, and this attribute is not read.
    """

    async def handle_request(self, ctx: RequestContext) -> Any:
        """Return the result (any JSON value, or ``jsonrpc.RawJson``), or raise :class:`McpError`."""

    async def handle_notification(self, session_id: str | None, method: str, params: Any) -> None:
        """A client notification; nothing is sent back."""


# -- limits -----------------------------------------------------------------------
# Each default names its precedent; every one is a keyword of StreamableHttpServer.

#: Seconds from a connection's first byte of a request head (or from accept) to
#: the end of that head; 408 and close past it (nginx ``client_header_timeout`` 60s).
DEFAULT_HEAD_TIMEOUT = 60.0
#: Seconds a keep-alive connection may sit idle between requests (uvicorn
#: ``timeout_keep_alive`` 5s).
DEFAULT_KEEP_ALIVE_TIMEOUT = 5.0
#: Seconds between two reads of a request body; 408 and close past it (nginx
#: ``client_body_timeout`` 60s).
DEFAULT_BODY_TIMEOUT = 60.0
#: Seconds a peer may leave the send buffer above its high-water mark without
#: reading; aborted past it (nginx ``send_timeout`` 60s).
DEFAULT_WRITE_TIMEOUT = 60.0
#: Bytes a connection may buffer inbound (a pipelined request behind a response
#: in progress) before reading pauses (uvicorn's flow-control ``HIGH_WATER_LIMIT``, 64 KiB).
DEFAULT_MAX_INBOUND_BUFFER = 64 * 1024
#: Output buffered for slow readers across all connections; past it the
#: connection adding to it is aborted (32 x ``max_write_buffer``: 32 slow readers
#: at their own cap; no server we follow has one, redis bounds per client class).
DEFAULT_MAX_TOTAL_WRITE_BUFFER = 32 * DEFAULT_MAX_WRITE_BUFFER
#: Ceiling of the open-connection cap; the default cap is also kept 64 below
#: the soft file-descriptor limit (as nginx's ``worker_connections`` must stay
#: under ``worker_rlimit_nofile``), so the process never runs out of descriptors.
DEFAULT_MAX_CONNECTIONS = 10_000
#: After a response that closes with the request body unread: keep reading and
#: discarding so the client can read the response (nginx ``lingering_close``):
#: at most this long in all (nginx ``lingering_time`` 30s) ...
DEFAULT_LINGER_TIME = 30.0
#: ... and at most this long between two reads (nginx ``lingering_timeout`` 5s).
DEFAULT_LINGER_TIMEOUT = 5.0
#: Seconds ``aclose()`` (Ctrl-C, SIGTERM) lets in-flight handlers finish before
#: cancelling them (hypercorn's ``graceful_timeout`` is 3s, gunicorn's 30s).
DEFAULT_SHUTDOWN_GRACE = 5.0
# Below this, a connection's unsent output does not count as a slow reader's
# for the global cap (asyncio's default low-water mark is 16 KiB, uvloop's 64 KiB).
_SLOW_READER_FLOOR = 64 * 1024

_IDLE, _HEAD, _BODY, _LINGER = "idle", "head", "body", "linger"
_METHODS = {m: m for m in (b"GET", b"POST", b"DELETE", b"HEAD", b"OPTIONS", b"PUT", b"PATCH")}


def _default_max_connections() -> int:
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):  # pragma: no cover - not POSIX
        return DEFAULT_MAX_CONNECTIONS
    if soft == resource.RLIM_INFINITY:
        return DEFAULT_MAX_CONNECTIONS
    return max(1, min(DEFAULT_MAX_CONNECTIONS, soft - 64))


def _document_answer(doc: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The adapter's whole answer for the OAuth Protected Resource Metadata document (RFC 9728)."""
    return 200, [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(doc)),
                 (b"cache-control", b"max-age=300")], doc


class _Connection:
    """One TCP connection: bytes in, the core's output out.

    An :class:`asyncio.Protocol` by its methods, not by inheritance: the
    compiled build makes this an extension type (``server.pxd``), which
    cannot have a Python base class.

    The HTTP/1.1 engine is a subclass: :class:`_FastConnection` (streamcore's
    own strict parser and framing, the default) or :class:`_H11Connection`
    (h11, the reference engine).

    Time limits: one deadline for the inbound side (head, keep-alive idle,
    body progress, linger) and one for the outbound side (write stall), served
    by a single timer that may fire early and re-arms (the core's early-not-late
    rule); no timer exists while a response is in progress and nothing is
    owed, so idle SSE streams cost none.
    """

    __slots__ = (
        "hub", "transport", "xid", "closed", "out", "out_bytes", "sent_pending", "close_after_flush",
        "discarding", "phase", "phase_at", "linger_at", "stalled_at", "timer",
        "reading_paused", "responded", "streaming", "method", "target",
        "_doc", "_held",  # OAuth: a PRM document to answer; a head waiting for introspection
        "_cors",  # CORS header fields for the current response (cors=), or None
        "client",  # the peer's address, read once per connection
        "scheme",  # "https" over TLS, else "http": read once per connection (CORS's own-origin check)
    )

    def __init__(self, hub: "StreamableHttpServer") -> None:
        self.hub = hub
        self.transport: asyncio.Transport | None = None
        self.xid: int | None = None
        self.closed = False
        self.out: list[bytes] | None = None  # None rather than [] when empty: an idle stream keeps no list
        self.out_bytes = 0  # bytes in self.out
        self.sent_pending = 0  # the transport's buffer after the last flush (counted in hub._out_total)
        self.close_after_flush = False
        # discarding: inbound bytes are read and dropped; set when a response
        # closes with the request body unread, so that flush() half-closes and
        # lingers instead of closing (nginx lingering_close).
        self.discarding = False
        self.phase: str | None = _HEAD  # what the inbound deadline guards, None while responding
        self.phase_at = 0.0
        self.linger_at = 0.0
        self.stalled_at: float | None = None  # writing paused since
        self.timer: asyncio.TimerHandle | None = None
        self.reading_paused = False
        self.responded = False  # the current exchange's response head is out
        self.streaming = False
        self.method = b""
        self.target = b""  # kept for the access log only
        # An answer of the adapter's own (status, headers, body) for the request's end:
        # the OAuth metadata document, a static page, a CORS preflight.
        self._doc: tuple[int, list[tuple[bytes, bytes]], bytes] | None = None
        self._cors: list[tuple[bytes, bytes]] | None = None
        self._held = False  # oauth: the head waits for its token to be introspected
        self.client: Any = None
        self.scheme = "http"

    # -- connection lifetime ----------------------------------------------------

    def _peer(self, transport: asyncio.BaseTransport) -> None:
        """What the connection's requests need of its transport, read once: address and scheme."""
        peer = transport.get_extra_info("peername")
        self.client = peer[0] if isinstance(peer, tuple) and peer else None
        self.scheme = "https" if transport.get_extra_info("ssl_object") is not None else "http"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._peer(transport)
        hub = self.hub
        timer = hub._pending.pop(transport, None)  # type: ignore[call-overload]
        admitted = timer is not None  # counted already, by _Admission
        if timer is not None:
            timer.cancel()
        if not admitted and not hub._admit(transport):
            self.closed = True
            return
        hub._conns.add(self)
        self.phase_at = hub._now()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        hub = self.hub
        hub._conns.discard(self)
        hub._out_total -= self.sent_pending
        self.sent_pending = 0
        self._drop_out()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.xid is not None:
            xid, self.xid = self.xid, None
            hub._route.pop(xid, None)
            hub.core.connection_lost(xid, now=hub._now())
            hub._drain()

    def pause_writing(self) -> None:
        self.stalled_at = self.hub._now()
        self._arm()
        if self.xid is not None:
            self.hub.core.pause_writing(self.xid)

    def resume_writing(self) -> None:
        self.stalled_at = None
        self._account()
        if self.xid is not None:
            self.hub.core.resume_writing(self.xid, now=self.hub._now())
            self.hub._drain()

    # -- deadlines ----------------------------------------------------------------

    def _deadline(self) -> float | None:
        hub = self.hub
        at: float | None = None
        phase = self.phase
        if phase is not None:
            if phase is _LINGER:
                at = min(self.phase_at + hub.linger_timeout, self.linger_at + hub.linger_time)
            else:
                at = self.phase_at + (hub.head_timeout if phase is _HEAD else
                                      hub.keep_alive_timeout if phase is _IDLE else hub.body_timeout)
        if self.stalled_at is not None:
            w = self.stalled_at + hub.write_timeout
            at = w if at is None else min(at, w)
        return at

    def _arm(self) -> None:
        if self.closed:
            return
        at = self._deadline()
        if at is None:
            return  # a timer already armed fires, finds nothing due, and is not re-armed
        if self.timer is not None:
            if self.timer.when() <= at:
                return  # fires early and re-arms
            self.timer.cancel()
        self.timer = self.hub._loop_().call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        if self.closed:
            return
        now = self.hub._now()
        at = self._deadline()
        if at is None:
            return
        if now < at:
            self._arm()
            return
        if self.stalled_at is not None and now >= self.stalled_at + self.hub.write_timeout:
            log.debug("write timeout: the peer has not read for %.1fs", self.hub.write_timeout)
            self._abort()
            return
        phase = self.phase
        log.debug("%s timeout on a connection from %s", phase,
                  self.transport.get_extra_info("peername") if self.transport is not None else None)
        if phase is _HEAD and self.xid is None and self._has_partial_head():
            self._refuse(408, b"Request head timeout")
        elif phase is _BODY and self.xid is not None and not self.responded:
            self._refuse(408, b"Request body timeout")
        else:  # idle keep-alive, linger, a fresh connection that never spoke: close quietly
            self._abort() if phase is _BODY else self._close_now()

    def _has_partial_head(self) -> bool:  # pragma: no cover - engine-specific
        raise NotImplementedError

    def _inbound(self) -> int:  # pragma: no cover - engine-specific
        raise NotImplementedError

    # -- output -------------------------------------------------------------------

    def _error_bytes(self, status: int, message: bytes, *, retry_after: bool = False, code: int = -32600) -> bytes:
        body = b'{"jsonrpc":"2.0","id":null,"error":{"code":%d,"message":"%s"}}' % (code, message)
        return (
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s"
            b"connection: close\r\n\r\n" % (status, _REASONS.get(status, b""), len(body),
                                            b"retry-after: 1\r\n" if retry_after else b"")
        ) + body

    def _bad_request_bytes(self, status: int) -> bytes:
        return self._error_bytes(status, b"Bad HTTP request")

    def _refuse(self, status: int, message: bytes, code: int = -32600) -> None:
        """Answer an HTTP-level error outside the core and close (lingering if
        the request is unread), forgetting the exchange."""
        if self.xid is not None:
            xid, self.xid = self.xid, None
            self.hub._route.pop(xid, None)
            self.hub.core.connection_lost(xid, now=self.hub._now())
        t = self.transport
        if t is None or self.closed:
            return
        self._drop_out()
        t.write(self._error_bytes(status, message, code=code))
        if t.can_write_eof():
            # Half-close and discard what the client still sends, so it reads
            # the answer instead of a reset (as after a 413).
            t.write_eof()
            self._linger(t)
        else:
            self.closed = True
            t.close()
        self.hub._drain()

    def _drop_out(self) -> None:
        """Forget queued output (its bytes leave the global account)."""
        self.hub._out_total -= self.out_bytes
        self.out = None
        self.out_bytes = 0

    def _linger(self, t: asyncio.Transport) -> None:
        self.discarding = True
        self.phase = _LINGER
        self.phase_at = self.linger_at = self.hub._now()
        if self.reading_paused:
            self.reading_paused = False
            t.resume_reading()
        self._arm()

    def _close_now(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def _abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self._drop_out()
            self.transport.abort()

    def _overflow(self, why: str) -> None:
        log.warning("aborting a connection whose peer reads too slowly (%s)", why)
        xid, self.xid = self.xid, None
        self._abort()
        if xid is not None:
            # Now, not when the transport reports the loss: a handler that
            # never yields keeps producing, and the core must know the stream
            # is detached (kept for replay with an event store, else dropped).
            self.hub._route.pop(xid, None)
            self.hub.core.connection_lost(xid, now=self.hub._now())

    def _close_later(self) -> None:
        self.close_after_flush = True
        if not self.out:
            self.hub._dirty.append(self)

    def _write(self, data: bytes | None) -> None:
        # Output is gathered while the hub drains the core and written once
        # per loop iteration (flush): one send() per response instead of one
        # per head, body and end (uvloop's write-coalescing advice). It is
        # accounted here, where it is queued, so output produced in a burst
        # (a handler that never yields) meets max_write_buffer as well.
        if data and not self.closed:
            if self.out is None:
                self.hub._dirty.append(self)
                self.out = [data]
            else:
                self.out.append(data)
            n = len(data)
            self.out_bytes += n
            hub = self.hub
            hub._out_total += n
            mine = self.out_bytes + self.sent_pending
            if mine > hub.max_write_buffer:
                self._overflow(f"{mine} bytes unsent, max_write_buffer {hub.max_write_buffer}")
            elif hub._out_total > hub.max_total_write_buffer and mine > _SLOW_READER_FLOOR:
                self._overflow(f"{hub._out_total} bytes unsent in all, max_total_write_buffer "
                               f"{hub.max_total_write_buffer}")

    def _account(self) -> None:
        """Re-read the transport's buffer size into the global account."""
        t = self.transport
        size = t.get_write_buffer_size() if t is not None and not self.closed else 0
        self.hub._out_total += size - self.sent_pending
        self.sent_pending = size

    def flush(self) -> None:
        out, self.out = self.out, None
        hub = self.hub
        hub._out_total -= self.out_bytes
        self.out_bytes = 0
        t = self.transport
        if t is None or self.closed:
            return
        if out:
            t.write(out[0] if len(out) == 1 else b"".join(out))
            self._account()
            if self.sent_pending > hub.max_write_buffer:
                self._overflow(f"{self.sent_pending} bytes unsent, max_write_buffer {hub.max_write_buffer}")
                return
        if self.close_after_flush:
            if self.discarding and t.can_write_eof():
                # The request body is unread: half-close and discard what the
                # client still sends, so it can read our answer instead of
                # meeting a reset (nginx lingering_close).
                t.write_eof()
                self._linger(t)
            else:
                self.closed = True
                t.close()

    def _discard(self, data: bytes) -> None:
        self.phase_at = self.hub._now()  # linger: progress resets the between-reads limit

    def _response_started(self, status: int) -> None:
        self.responded = True
        self.phase = None  # no inbound deadline while we answer
        hub = self.hub
        if hub.access_log:
            peer = self.transport.get_extra_info("peername") if self.transport is not None else None
            who = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else str(peer)
            _access.info('%s "%s %s" %d', who, self.method.decode("latin-1"),
                         self.target.decode("latin-1"), status)

    def _next_request(self, buffered: int) -> None:
        """The response is done and the connection kept: wait for the next request."""
        self.responded = False
        self.streaming = False
        self.phase = _HEAD if buffered else _IDLE
        self.phase_at = self.hub._now()
        self._arm()
        if self.reading_paused and buffered <= self.hub.max_inbound_buffer and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()

    def _maybe_pause(self, buffered: int) -> None:
        """Inbound backpressure: bytes past a response in progress wait in the
        engine; stop reading once they exceed max_inbound_buffer."""
        if buffered > self.hub.max_inbound_buffer and not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()

    def _auth_hold(self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], has_body: bool) -> bool:
        """OAuth (docs/auth.md): True if the adapter takes this head: the PRM document, or a held token check."""
        auth = self.hub.auth
        assert auth is not None
        doc = auth.document(method, target)
        if doc is not None:
            self._doc = _document_answer(doc)
            self.method = _METHODS.get(method, method)
            return True
        pending = auth.prepare(headers)
        if pending is None:
            return False
        self._held = True
        paused = False
        if self.transport is not None and not self.reading_paused:
            self.transport.pause_reading()
            paused = True

        def done(_: Any) -> None:
            self._held = False
            if not self.closed:
                if paused and self.transport is not None:
                    self.transport.resume_reading()
                self._started_request(method, target, headers, has_body, checked=True)
                self._process()
        asyncio.ensure_future(pending).add_done_callback(done)
        return True

    def _front(self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
        """Static pages and CORS (``pages=``, ``cors=``): True if the adapter answers this head."""
        front = self.hub.front
        assert front is not None
        answer = front.check(method, target, headers, scheme=self.scheme)
        if answer is None:
            self._cors = front.response_headers(headers)
            return False
        self._cors = None
        self.method = _METHODS.get(method, method)
        if self.hub.access_log:
            self.target = target
        if answer == REFUSE:
            self._response_started(403)  # logged; and no 100 Continue after this
            # SEC-02, with the core's code, before the core reads a byte of it
            self._refuse(403, b"Forbidden: Origin not allowed", -32000)
        else:
            assert not isinstance(answer, str)
            self._doc = answer
        return True

    def _answer_doc(self) -> None:
        doc, self._doc = self._doc, None
        assert doc is not None
        self.head(ResponseHead(xid=-1, status=doc[0], headers=doc[1]))
        if doc[2]:
            self.data(ResponseData(xid=-1, data=doc[2]))
        self.end(ResponseEnd(xid=-1))  # -1: no exchange of the core

    def _process(self) -> None:  # pragma: no cover - engine-specific
        raise NotImplementedError

    def _started_request(self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]],
                         has_body: bool, checked: bool = False) -> int:
        hub = self.hub
        if hub.front is not None and not checked and self._front(method, target, headers):
            return -1  # a page, a preflight or a refused Origin: answered by the adapter
        if hub.auth is not None and not checked and self._auth_hold(method, target, headers, has_body):
            return -1  # answered by the adapter, or resumed once the token is introspected
        # Interned: an idle stream keeps no bytes of its own (RSS per stream).
        self.method = _METHODS.get(method, method)
        if hub.access_log:
            self.target = target
        self.responded = False
        self.phase = _BODY if has_body else None
        self.phase_at = hub._now()
        client = self.client  # for max_sessions_per_client
        xid = hub.core.receive_request(method, target, headers, now=self.phase_at, client=client)
        self.xid = xid
        hub._route[xid] = self
        if self.phase is not None or self.stalled_at is not None:
            self._arm()
        elif self.timer is not None and method == b"GET":
            # Nothing to time while we answer, and a GET stream stays open:
            # drop the head timer now rather than keep one (and two floats)
            # per idle stream until it fires. A POST keeps its timer: it
            # fires, finds nothing due and lapses, or is still armed when the
            # response ends, which saves a TimerHandle and a heap push and pop
            # per request on a keep-alive connection.
            self.timer.cancel()
            self.timer = None
            self.phase_at = 0.0
        return xid

    def shutdown_stream(self, retry_ms: int) -> bool:
        """End a streaming (SSE) response now with ``retry`` advice and close;
        True if there was one. The core sees the connection lost: in the session
        era the stream detaches and the client resumes with Last-Event-ID."""
        if self.closed or not self.streaming or self.xid is None:
            return False
        self._write_stream_end(b"retry: %d\n\n" % retry_ms)
        xid, self.xid = self.xid, None
        self.hub._route.pop(xid, None)
        self.hub.core.connection_lost(xid, now=self.hub._now())
        self._close_later()
        return True

    def _write_stream_end(self, data: bytes) -> None:  # pragma: no cover - engine-specific
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

    __slots__ = ("http",)

    def __init__(self, hub: "StreamableHttpServer") -> None:
        super().__init__(hub)
        self.http = Http11Connection(max_head_size=hub.max_head_size)

    def data_received(self, data: bytes) -> None:
        if self.discarding:
            self._discard(data)
            return
        if self.phase is _IDLE:
            self.phase = _HEAD
            self.phase_at = self.hub._now()
        elif self.phase is _BODY:
            self.phase_at = self.hub._now()
        self.http.receive_data(data)
        self._process()

    def eof_received(self) -> bool | None:
        if self.discarding:
            return None  # the transport closes
        self.http.receive_data(b"")
        self._process()
        return None

    def _has_partial_head(self) -> bool:
        return self.http.buffered > 0

    def _inbound(self) -> int:
        return self.http.buffered

    def _process(self) -> None:
        hub = self.hub
        core = hub.core
        http = self.http
        while not self.closed and not self.discarding and not self._held:
            try:
                ev = http.next_event()
            except Http11Error as exc:
                if self.xid is None or not self.responded:
                    self._refuse(exc.status_hint, b"Bad HTTP request")
                else:
                    self._abort()
                break
            if isinstance(ev, bytes):
                if self.xid is not None:
                    core.receive_body(self.xid, ev)
            elif isinstance(ev, RequestHead):
                self._started_request(ev.method, ev.target, ev.headers, http.expecting_body)
                if ev.expect_continue:
                    hub._drain()  # a refusal at the head is routed now ...
                    if not self.responded and not self.closed:  # ... and then no 100 (RFC 9110 10.1.1)
                        self._write(b"HTTP/1.1 100 Continue\r\n\r\n")
            elif ev is END:
                if self.phase is _BODY:
                    self.phase = None
                if self._doc is not None:
                    self._answer_doc()
                elif self.xid is not None:
                    core.receive_end(self.xid, now=hub._now())
            elif ev is NEED_DATA:
                break
            elif ev is PAUSED:
                self._maybe_pause(http.buffered)
                break
            else:  # CLOSED: the client finished between requests
                self._close_now()
                break
        hub._drain()

    def head(self, ev: ResponseHead) -> None:
        self._response_started(ev.status)
        self.streaming = ev.streaming
        headers = ev.headers if self._cors is None else [*ev.headers, *self._cors]
        self._write(self.http.response_head(ev.status, headers, streaming=ev.streaming))

    def data(self, ev: ResponseData) -> None:
        data = ev.data
        http = self.http
        if http.chunked_output:
            if len(data) <= _FRAME_INLINE:
                # One piece, one append: the small event is copied into its frame here
                # and once more by flush(), which costs less than two more appends.
                if data:
                    self._write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                # Three pieces rather than encode_chunk: flush() joins the pieces
                # anyway, so a large event's bytes are copied once, not twice.
                self._write(b"%x\r\n" % len(data))
                self._write(data)
                self._write(b"\r\n")
        elif not http.body_suppressed:  # HEAD: no body (RFC 9110 9.3.2)
            self._write(data)

    def _write_stream_end(self, data: bytes) -> None:
        http = self.http
        if http.chunked_output:
            self._write(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            self._write(data)
        self._write(http.response_end())

    def end(self, ev: ResponseEnd) -> None:
        http = self.http
        self._write(http.response_end())
        self.hub._route.pop(ev.xid, None)
        if ev.close or not http.keep_alive or self.hub._closing:
            self.xid = None
            if not http.request_complete:
                self.discarding = True  # bytes still coming belong to the refused body: linger
            self._close_later()
            return
        if http.request_complete:
            http.start_next_cycle()
            self.xid = None
            self._next_request(http.buffered)
            if http.has_buffered:  # a pipelined request is already here
                asyncio.get_running_loop().call_soon(self._process)


class _H11Connection(_Connection):
    """The h11 engine: slower, and the reference our own engine is tested against.

    Held to the guarantees of our engine: a request with both Content-Length
    and Transfer-Encoding closes the connection after its response (RFC 9112
    6.1; h11 would keep it alive), a HEAD response carries no body, any
    exception from h11 (e.g. ``int()`` on an endless Content-Length) is a 400,
    request targets are checked as our engine checks them, and huge chunk sizes
    meet the body timeout and ``max_body_size``. h11 recognises a lone LF as a
    line terminator (RFC 9112 2.2 allows it); our engine refuses it.
    """

    __slots__ = ("h11", "must_close")

    def __init__(self, hub: "StreamableHttpServer") -> None:
        super().__init__(hub)
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=hub.max_head_size)
        self.must_close = False  # Content-Length with Transfer-Encoding: close after the response

    def data_received(self, data: bytes) -> None:
        if self.discarding:
            self._discard(data)
            return
        if self.phase is _IDLE:
            self.phase = _HEAD
            self.phase_at = self.hub._now()
        elif self.phase is _BODY:
            self.phase_at = self.hub._now()
        self.h11.receive_data(data)
        self._process()

    def eof_received(self) -> bool | None:
        if self.discarding:
            return None
        self.h11.receive_data(b"")
        self._process()
        return None

    def _has_partial_head(self) -> bool:
        return bool(self.h11.trailing_data[0])

    def _inbound(self) -> int:
        return len(self.h11.trailing_data[0])

    def _process(self) -> None:
        hub = self.hub
        core = hub.core
        conn = self.h11
        while not self.closed and not self.discarding and not self._held:
            try:
                ev = conn.next_event()
                if isinstance(ev, h11.Request):
                    _check_h11_request(ev)
            except Exception as exc:  # h11.RemoteProtocolError, or ValueError from int() on peer digits
                status = getattr(exc, "error_status_hint", 400)
                if self.xid is None or not self.responded:
                    self._refuse(status, b"Bad HTTP request")
                else:
                    self._abort()
                break
            if ev is h11.NEED_DATA:
                break
            if ev is h11.PAUSED:
                self._maybe_pause(len(conn.trailing_data[0]))
                break
            if isinstance(ev, h11.Request):
                names = {n for n, _ in ev.headers}
                self.must_close = b"content-length" in names and b"transfer-encoding" in names
                self._started_request(ev.method, ev.target, list(ev.headers), conn.their_state is h11.SEND_BODY)
                if conn.they_are_waiting_for_100_continue:
                    hub._drain()
                    if not self.responded and not self.closed:
                        self._write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
            elif isinstance(ev, h11.Data):
                if self.xid is not None:
                    core.receive_body(self.xid, ev.data)
            elif isinstance(ev, h11.EndOfMessage):
                if self.phase is _BODY:
                    self.phase = None
                if self._doc is not None:
                    self._answer_doc()
                elif self.xid is not None:
                    core.receive_end(self.xid, now=hub._now())
                if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                    conn.start_next_cycle()
                    self.xid = None
                    self._next_request(len(conn.trailing_data[0]))
            elif isinstance(ev, h11.ConnectionClosed):
                self._close_now()
                break
        hub._drain()

    def head(self, ev: ResponseHead) -> None:
        self._response_started(ev.status)
        self.streaming = ev.streaming
        headers = ev.headers if self._cors is None else [*ev.headers, *self._cors]
        if self.must_close or self.hub._closing:
            headers = [*headers, (b"connection", b"close")]
        # h11 frames a response without Content-Length as chunked on HTTP/1.1.
        self._write(self.h11.send(h11.Response(
            status_code=ev.status, headers=headers, reason=_REASONS.get(ev.status, b""))))

    def data(self, ev: ResponseData) -> None:
        if self.method == b"HEAD":
            return  # h11 refuses a body on a HEAD response (RFC 9110 9.3.2)
        self._write(self.h11.send(h11.Data(data=ev.data)))

    def _write_stream_end(self, data: bytes) -> None:
        self._write(self.h11.send(h11.Data(data=data)))
        self._write(self.h11.send(h11.EndOfMessage()))

    def end(self, ev: ResponseEnd) -> None:
        conn = self.h11
        self._write(conn.send(h11.EndOfMessage()))
        self.hub._route.pop(ev.xid, None)
        if ev.close or conn.our_state is h11.MUST_CLOSE or self.must_close or self.hub._closing:
            self.xid = None
            if conn.their_state is h11.SEND_BODY:
                self.discarding = True
            self._close_later()
            return
        if conn.their_state is h11.DONE:
            conn.start_next_cycle()
            self.xid = None
            self._next_request(len(conn.trailing_data[0]))
            asyncio.get_running_loop().call_soon(self._process)


def _check_h11_request(ev: h11.Request) -> None:
    """The request-target checks of our engine (RFC 9112 3.2), for h11's events."""
    if target_form(ev.method, ev.target) is None:
        raise h11.RemoteProtocolError("malformed request target", 400)
    for name, value in ev.headers:
        if name == b"content-length" and len(value) > MAX_CONTENT_LENGTH_DIGITS:
            raise h11.RemoteProtocolError("Content-Length too long", 400)


class _Admission(asyncio.Protocol):
    """The first protocol when HTTP/2 shares the port: the connection cap and
    the head timeout apply before the HTTP/2 sniffer (which waits for the first
    bytes to choose) hands the connection to a protocol; then it steps aside."""

    __slots__ = ("hub", "inner")

    def __init__(self, hub: "StreamableHttpServer", inner: asyncio.Protocol) -> None:
        self.hub = hub
        self.inner = inner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        hub = self.hub
        if not hub._admit(transport):
            return
        tr = cast(asyncio.Transport, transport)  # a stream transport: the server is TCP
        hub._pending[tr] = hub._loop_().call_later(hub.head_timeout, hub._expire_pending, tr, self.inner)
        transport.set_protocol(self.inner)
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        pass  # refused at admission


_ENGINES = {"fast": _FastConnection, "h11": _H11Connection}


class StreamableHttpServer:
    """Serve an :class:`App` over Streamable HTTP on asyncio.

    Every limit is a keyword with a default (``DEFAULT_*`` in this module,
    precedents cited there); ``docs/aio.md`` lists them.

    Browser clients (``docs/browser.md``): ``cors`` (a
    :class:`streamcore.cors.CorsPolicy`) answers preflights, exposes
    ``Mcp-Session-Id`` and refuses other origins with 403; ``pages``
    (``{path: (content type, body)}``, e.g. :func:`streamcore.web.demo_pages`)
    are answered by the adapter for ``GET`` and ``HEAD``.
    ``cluster``: a :class:`streamcore.redis.RedisCluster` makes this server one
    instance of several sharing one Redis (event store, session registry,
    message bus; see :mod:`streamcore.redis`). Its event store becomes the
    config's, ``start()`` connects to Redis first, ``aclose()`` flushes and
    gives up the lease, and ``publish`` reaches every instance's listen streams.
    """

    def __init__(
        self,
        app: App,
        config: ServerConfig | None = None,
        *,
        max_write_buffer: int = DEFAULT_MAX_WRITE_BUFFER,
        max_total_write_buffer: int = DEFAULT_MAX_TOTAL_WRITE_BUFFER,
        max_head_size: int = DEFAULT_MAX_HEAD_SIZE,
        max_inbound_buffer: int = DEFAULT_MAX_INBOUND_BUFFER,
        max_connections: int | None = None,
        head_timeout: float = DEFAULT_HEAD_TIMEOUT,
        keep_alive_timeout: float = DEFAULT_KEEP_ALIVE_TIMEOUT,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
        linger_time: float = DEFAULT_LINGER_TIME,
        linger_timeout: float = DEFAULT_LINGER_TIMEOUT,
        shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE,
        request_timeout: float | None = None,
        access_log: bool = False,
        http1: str = "fast",
        request_state: StateSealer | None = None,
        http2: bool | None = None,
        h2_config: Any = None,
        auth: ResourceServer | None = None,
        cors: CorsPolicy | None = None,
        pages: Mapping[str, tuple[str, bytes]] | None = None,
        cluster: "RedisCluster | None" = None,
    ) -> None:
        self.auth = auth  # OAuth resource server: PRM document, token introspection (docs/auth.md)
        # Browser clients (docs/browser.md): CORS, and static pages answered by the adapter.
        self.front = Front(cors, pages) if cors is not None or pages else None
        if http1 not in _ENGINES:
            raise ValueError(f"http1 must be one of {sorted(_ENGINES)}")
        for name, value in (("max_write_buffer", max_write_buffer), ("max_total_write_buffer", max_total_write_buffer),
                            ("max_head_size", max_head_size), ("max_inbound_buffer", max_inbound_buffer),
                            ("max_connections", 1 if max_connections is None else max_connections)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, not {value!r}")
        for name, t in (("head_timeout", head_timeout), ("keep_alive_timeout", keep_alive_timeout),
                        ("body_timeout", body_timeout), ("write_timeout", write_timeout),
                        ("linger_time", linger_time), ("linger_timeout", linger_timeout),
                        ("shutdown_grace", shutdown_grace)):
            if not isinstance(t, (int, float)) or isinstance(t, bool) or not t >= 0:
                raise ValueError(f"{name} must be a number >= 0, not {t!r}")
        self._engine = _ENGINES[http1]
        self.max_head_size = max_head_size
        self.app = app
        #: Several instances as one server (streamcore.redis): the Redis store, registry and bus.
        self.cluster = cluster
        self.core = Server(config) if cluster is None else cluster._make_core(config or ServerConfig(), self)
        self._own_sealer = request_state is None
        allowed = self.core.config.allowed_origins
        if cors is not None and allowed is not None:  # the core's Origin check must not refuse them
            missing = [h for h in (cors.origin_hosts or ("*",)) if h not in allowed]
            if missing:
                raise ValueError(f"the CORS policy allows origins the server's Origin check refuses: {missing}; "
                                 "add them to ServerConfig.allowed_origins (CorsPolicy.origin_hosts)")
        self.max_write_buffer = max_write_buffer
        self.max_total_write_buffer = max_total_write_buffer
        self.max_inbound_buffer = max_inbound_buffer
        self.max_connections = _default_max_connections() if max_connections is None else max_connections
        self.head_timeout = float(head_timeout)
        self.keep_alive_timeout = float(keep_alive_timeout)
        self.body_timeout = float(body_timeout)
        self.write_timeout = float(write_timeout)
        self.linger_time = float(linger_time)
        self.linger_timeout = float(linger_timeout)
        self.shutdown_grace = float(shutdown_grace)
        self.request_timeout = request_timeout
        self.access_log = access_log
        #: Seals 2026-07-28 ``requestState`` (MRTR); give every instance the same keys.
        self.request_state = request_state if request_state is not None else StateSealer.ephemeral()
        self._route: dict[int, _Connection] = {}
        self._tasks: dict[int, asyncio.Task[Any]] = {}
        self._waiting: dict[tuple[str | None, Any], asyncio.Future[Any]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = 0  # nesting depth of _drain
        self._dirty: list[_Connection] = []
        self._flush_handle: asyncio.Handle | None = None
        self._spawned = False  # a handler task was started during this drain
        self._inline = getattr(app, "run_first_step_inline", False) is True  # App's docstring
        self._conns: set[_Connection] = set()
        # admitted, protocol not chosen yet (HTTP/2 sniffing) -> its head timer
        self._pending: dict[asyncio.Transport, asyncio.TimerHandle] = {}
        self._out_total = 0  # unsent output of all connections (queued + in transports)
        self._servers: list[asyncio.base_events.Server] = []
        self._closing = False
        self._full_logged_at = -1e9
        self._emfile_logged_at = -1e9
        # HTTP/2 on the same port (streamcore.aio._h2server, no package needed): None = on.
        self._http2, self._h2_config = http2, h2_config
        self.h2_listener: Any = None

    def _now(self) -> float:
        loop = self._loop or asyncio.get_running_loop()
        return loop.time()

    def _loop_(self) -> asyncio.AbstractEventLoop:
        return self._loop or asyncio.get_running_loop()

    @property
    def connections(self) -> int:
        """Open connections (those over ``max_connections`` are refused and not counted)."""
        return len(self._conns)

    @property
    def buffered_input(self) -> int:
        """Bytes received and not yet parsed, over all connections (each is held
        near ``max_inbound_buffer`` by pausing its reading). O(connections)."""
        return sum(c._inbound() for c in self._conns)

    @property
    def buffered_output(self) -> int:
        """Bytes of output not yet sent, over all connections (``max_total_write_buffer`` caps it)."""
        return self._out_total

    async def start(self, host: str | None = "127.0.0.1", port: int | None = 8000,
                    **kw: Any) -> asyncio.base_events.Server:
        """Listen; returns the asyncio server (its ``sockets`` tell the bound port).
        ``kw`` go to ``loop.create_server`` (``reuse_port=True``; or ``sock=`` a
        listening socket, with ``host`` and ``port`` None).

        Also installs a loop exception handler that turns asyncio's per-accept
        "out of system resource" tracebacks (EMFILE, ENFILE) into one log line
        per 10 s; asyncio already backs off accepting for 1 s each time.
        """
        self._loop = loop = asyncio.get_running_loop()
        if self.cluster is not None and not self._servers:
            await self.cluster._start()
            if self._own_sealer and self.cluster.sealer_key is not None:
                self.request_state = StateSealer(self.cluster.sealer_key)  # the same on every instance
        engine = self._engine
        # A _Connection is an asyncio.Protocol by its methods (its docstring).
        factory = cast(Callable[[], asyncio.Protocol], lambda: engine(self))
        if self._http2 is not False:
            try:
                from ._h2server import listen_h2
            except ImportError:  # h2 not installed: HTTP/1.1 only, unless HTTP/2 was asked for
                if self._http2:
                    raise
            else:
                sniff = listen_h2(self, factory, kw, config=self._h2_config)
                factory = lambda: _Admission(self, sniff())  # noqa: E731
        srv = await loop.create_server(factory, host, port, **kw)
        self._servers.append(srv)
        previous = loop.get_exception_handler()
        if getattr(previous, "_streamcore_hub", None) is None:
            def handler(lp: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
                if context.get("message") == "socket.accept() out of system resource":
                    now = lp.time()
                    if now - self._emfile_logged_at >= 10.0:
                        self._emfile_logged_at = now
                        log.error("cannot accept connections: %s (%d open); retrying every second",
                                  context.get("exception"), len(self._conns))
                    return
                handle = context.get("handle")
                if (isinstance(context.get("exception"), (ValueError, OSError)) and "_start_serving" in repr(handle)
                        and not any(s.is_serving() for s in self._servers)):
                    # asyncio's accept backoff firing after the listener closed
                    # (shutdown while out of descriptors): nothing to resume.
                    return
                if previous is not None:
                    previous(lp, context)
                else:
                    lp.default_exception_handler(context)
            handler._streamcore_hub = self  # type: ignore[attr-defined]
            loop.set_exception_handler(handler)
        return srv

    def _open_count(self) -> int:
        h2 = self.h2_listener
        return len(self._conns) + len(self._pending) + (len(h2.connections) if h2 is not None else 0)

    def _admit(self, transport: asyncio.BaseTransport) -> bool:
        """Below max_connections (and not shutting down), or answer 503 and close."""
        if not self._closing and self._open_count() >= self.max_connections and self._pending:
            # Connections admitted but since handed to HTTP/2 are counted twice
            # until their head timer: recount before refusing.
            self._pending = {t: h for t, h in self._pending.items()
                             if not t.is_closing() and not isinstance(t.get_protocol(), _Connection)}
        if self._closing or self._open_count() >= self.max_connections:
            # Over the cap (uvicorn's --limit-concurrency answers 503 the same way).
            if not self._closing:
                self._note_full()
            body = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Server busy"}}'
            transport.write(  # type: ignore[attr-defined]
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                b"retry-after: 1\r\nconnection: close\r\n\r\n%s" % (len(body), body))
            transport.close()
            return False
        return True

    def _expire_pending(self, transport: asyncio.Transport, sniffer: asyncio.Protocol) -> None:
        """Head timeout of a connection that never said which protocol it speaks."""
        self._pending.pop(transport, None)
        if transport.get_protocol() is sniffer and not transport.is_closing():
            log.debug("head timeout before the first bytes of a connection")
            transport.close()

    def _note_full(self) -> None:
        now = self._now()
        if now - self._full_logged_at >= 10.0:
            self._full_logged_at = now
            log.warning("connection refused with 503: %d open connections (max_connections)", len(self._conns))

    async def aclose(self, grace: float | None = None) -> None:
        """Shut down gracefully and within bounds: stop accepting; end GET streams
        at once with ``retry`` advice (clients resume, elsewhere); let in-flight
        handlers finish for ``grace`` seconds (default ``shutdown_grace``), then
        cancel them; end every remaining stream the same way; close every
        connection. Cancelling ``aclose`` itself (a second Ctrl-C) aborts at once."""
        grace = self.shutdown_grace if grace is None else grace
        self._closing = True
        retry_ms = self.core.config.retry_ms or 1000
        try:
            for srv in self._servers:
                srv.close()
            if self.h2_listener is not None:
                self.h2_listener.goaway(grace)  # GOAWAY with the last stream id to every HTTP/2 peer
            self._flush()
            for conn in list(self._conns):
                if conn.xid is None and not conn.close_after_flush:
                    conn._close_now()  # idle keep-alive
                elif conn.method == b"GET":
                    conn.shutdown_stream(retry_ms)
            self._drain()
            self._flush()
            tasks = [t for t in self._tasks.values() if not t.done()]
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=grace)
                for t in pending:
                    t.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=1.0)
            for conn in list(self._conns):
                conn.shutdown_stream(retry_ms)
            self._drain()
            self._flush()
            for conn in list(self._conns):
                if conn.xid is not None or not conn.close_after_flush:
                    conn._close_now()
            # Let transports deliver what is buffered (bounded by the grace too).
            deadline = self._now() + max(grace, 0.1)
            while self._conns and self._now() < deadline:
                await asyncio.sleep(0.02)
        except asyncio.CancelledError:
            self._abort_all()
            raise
        self._abort_all()
        if self.cluster is not None:
            await self.cluster._aclose()

    def _abort_all(self) -> None:
        for t in list(self._tasks.values()):
            t.cancel()
        for conn in list(self._conns):
            conn._abort()
        for tr, h in list(self._pending.items()):
            h.cancel()
            tr.abort()
        self._pending.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = None

    # -- the pump ---------------------------------------------------------------

    def _drain(self) -> None:
        # Re-entered from a handler that runs inside the loop below (an eager
        # task on 3.12+, or a notify from a handler's first step): the nested
        # call drains too, so output produced in a burst reaches the
        # connections (and their max_write_buffer check) as it is produced
        # instead of piling up in the core's queue.
        self._draining += 1
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
                    elif self._draining > 1:
                        # The handler may be starting in the frame below us
                        # (registered once _start returns): cancel it then.
                        self._loop_().call_soon(self._cancel_late, ev.handle)
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
            self._draining -= 1
        if self._draining:
            return
        if self._dirty and (self._flush_handle is None or self._spawned):
            # Flush after the handler tasks started above have run their
            # first step: a handler that answers without awaiting gets head,
            # body and end in one send(). A flush already queued is moved
            # behind the new tasks (several connections can be read in one
            # loop iteration). SSE heads still go out within the iteration
            # that follows, i.e. at once.
            if self._flush_handle is not None:
                self._flush_handle.cancel()
            self._flush_handle = self._loop_().call_soon(self._flush)
        self._spawned = False
        self._arm_timer()

    def _cancel_late(self, handle: int) -> None:
        task = self._tasks.pop(handle, None)
        if task is not None:
            task.cancel()

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
            self._timer = self._loop_().call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.core.handle_timer(now=self._now())
        self._drain()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        if _EAGER:
            # Python 3.12+: run the handler's first step now; one that answers
            # without awaiting never waits for a loop iteration. Re-entry into
            # _drain is safe (the nested drain routes what it queues).
            task: asyncio.Task[Any] = asyncio.Task(  # type: ignore[call-arg,unused-ignore]
                coro, loop=self._loop_(), eager_start=True
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
            # The retry of a multi-round-trip request: its state opens, or it is refused.
            if m.method in MRTR_METHODS:
                try:
                    ctx._round = InputRound.open(m.method, params, self.request_state, now=time.time())
                except InvalidInputResponse as exc:
                    self.core.respond(ev.handle, error=(exc.code_hint, str(exc), {"reason": exc.reason}),
                                      now=self._now())
                    self._drain()
                    return
        coro = self._run(ctx)
        if not _EAGER and self._inline:
            # Before 3.12 (no eager tasks): an app that allows it has its
            # handler's first step run here, in a context of its own; one that
            # answers without awaiting (the common tool call) costs no task,
            # no loop handle and no done callback. One that awaits goes on in
            # a task from where it stopped. Measured: 8 % of the instructions
            # per request of the demo's echo (benches/e2e/hotpath.py --ir).
            context = contextvars.copy_context()
            try:
                first = context.run(coro.send, None)
            except StopIteration:
                return
            task = context.run(self._spawn, _resume(coro, first))
        else:
            task = self._spawn(coro)
        if not task.done():  # an eager task may have finished already (3.12+)
            self._tasks[ev.handle] = task
            self._spawned = True

    async def _call_app(self, ctx: RequestContext) -> Any:
        if self.request_timeout is not None:
            return await asyncio.wait_for(self._call_app_once(ctx), self.request_timeout)
        return await self._call_app_once(ctx)

    async def _call_app_once(self, ctx: RequestContext) -> Any:
        # server/discover (2026-07-28) and initialize (session era) fall back to
        # the app's declared info when the app does not answer them itself.
        default = None
        if ctx.method == "server/discover" and ctx.per_request:
            default = self._discover
        elif ctx.method == "initialize" and not ctx.per_request:
            default = lambda: self._initialize(ctx)  # noqa: E731
        if default is None:
            return await self.app.handle_request(ctx)
        try:
            return await self.app.handle_request(ctx)
        except McpError as exc:
            if exc.code != _METHOD_NOT_FOUND or (ctx.method == "initialize" and not hasattr(self.app, "server_info")):
                raise
        return default()

    def _initialize(self, ctx: RequestContext) -> dict[str, Any]:
        """``initialize`` from the app's declared info: the client's version if served, else the latest."""
        versions = self.core.config.supported_versions
        if ctx.protocol_version == L0_VERSION:  # an HTTP+SSE session: its own revision is served too
            versions = (L0_VERSION,) + tuple(versions)
        p = ctx.params if isinstance(ctx.params, dict) else {}
        requested = p.get("protocolVersion")
        app = self.app
        caps = getattr(app, "capabilities", None)
        out: dict[str, Any] = {
            "protocolVersion": requested if requested in versions else versions[-1],
            "capabilities": dict(caps) if isinstance(caps, Mapping) else {},
            "serverInfo": dict(getattr(app, "server_info")),
        }
        instructions = getattr(app, "instructions", None)
        if isinstance(instructions, str):
            out["instructions"] = instructions
        return out

    def _discover(self) -> dict[str, Any]:
        """``server/discover`` from the app's declared ``server_info``/``capabilities``/``instructions``
        (when ``ServerConfig.server_info`` is set the core answers it and the app never sees it)."""
        app = self.app
        info = getattr(app, "server_info", None)
        caps = getattr(app, "capabilities", None)
        return discover_result(
            self.core.config.served_versions, caps if isinstance(caps, Mapping) else {},
            server_info=info if isinstance(info, Mapping) else None,
            instructions=getattr(app, "instructions", None),
        )

    async def _run(self, ctx: RequestContext) -> None:
        core = self.core
        try:
            result = await self._call_app(ctx)
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
        if self.cluster is not None:
            self.cluster._broadcast(method, params)  # the listen streams of the other instances
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


@types.coroutine
def _resume(coro: Any, first: Any) -> Any:
    """Go on with a coroutine whose first step already ran: a task drives this."""
    value: Any = first
    while True:
        try:
            sent = yield value
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - thrown in by the task (cancel), handed on
            try:
                value = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                value = coro.send(sent)
            except StopIteration as stop:
                return stop.value


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("task failed", exc_info=task.exception())


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def serve(app: App, host: str = "127.0.0.1", port: int = 8000, config: ServerConfig | None = None,
                *, ready: Callable[[int], None] | None = None, http1: str = "fast",
                ssl: Any = None, http2: bool | None = None, sock: Any = None, reuse_port: bool = False,
                **settings: Any) -> None:
    """Run until cancelled (Ctrl-C under ``asyncio.run``; SIGTERM too, where the
    loop supports signal handlers), then shut down gracefully within
    ``shutdown_grace`` (see :meth:`StreamableHttpServer.aclose`). ``ready(port)``
    is called once listening. With ``ssl`` (an ``ssl.SSLContext``) the port
    speaks TLS, HTTP/2 chosen by ALPN. ``settings`` are :class:`StreamableHttpServer`
    keywords (limits, timeouts, ``access_log``). ``reuse_port=True`` binds with
    ``SO_REUSEPORT`` (several processes on one port); ``sock``, a listening
    socket, is served instead of binding ``host``:``port``.

    ``async with server:`` / ``serve_forever()`` are not used: on Python 3.12.1+
    their exit waits for every connection to close, which an open SSE stream
    never does.
    """
    hub = StreamableHttpServer(app, config, http1=http1, http2=http2, **settings)
    if sock is not None:
        srv = await hub.start(None, None, ssl=ssl, sock=sock)
    else:
        srv = await hub.start(host, port, ssl=ssl, **({"reuse_port": True} if reuse_port else {}))
    bound = srv.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()
    # SIGTERM ends serve() normally, after the same graceful shutdown. Before
    # 3.11, asyncio.run has no SIGINT handler of its own: Ctrl-C raises
    # KeyboardInterrupt out of the loop and asyncio.run then cancels every
    # task, handlers included; so there SIGINT resolves `stop` as SIGTERM does.
    sigs = (signal.SIGTERM,) if sys.version_info >= (3, 11) else (signal.SIGTERM, signal.SIGINT)
    installed: list[signal.Signals] = []
    for sig in sigs:
        try:
            loop.add_signal_handler(sig, _resolve, stop)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover - not the main thread, Windows
            pass
    if ready is not None:
        ready(bound)
    try:
        await stop  # until SIGTERM, or cancelled (Ctrl-C under asyncio.run)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await hub.aclose()
