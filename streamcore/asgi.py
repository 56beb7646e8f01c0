"""An ASGI 3 application serving one Streamable HTTP endpoint.

:class:`StreamableHttpApp` wraps the same :class:`streamcore.aio.App` seam the
asyncio adapter serves (it drives the very same hub,
:class:`streamcore.aio.StreamableHttpServer`, with ASGI exchanges in place of
TCP connections), so an application written for ``streamcore.aio`` runs
unchanged under uvicorn, hypercorn or granian, or mounted in Starlette or
FastAPI beside other routes. See ``docs/asgi.md``.

* Each ASGI ``http`` request is one exchange of the core. Body messages are fed
  to the core as they arrive: nothing is buffered here, and the core refuses a
  body past ``max_body_size`` (413) before it grows.
* Every SSE event is sent as its own ``http.response.body`` message
  (``more_body=True``), so the server flushes it at once.
* ``http.disconnect`` is the core's ``connection_lost``: in the session era the
  stream detaches (and stays resumable with an event store), in the per-request
  era it cancels the request.
* No lifespan is needed: the hub arms its timers (heartbeats, session expiry)
  on the first request. With a lifespan, startup runs the application's
  ``startup()`` hook and shutdown runs :meth:`StreamableHttpApp.shutdown`.
* :meth:`StreamableHttpApp.shutdown` ends every open SSE stream with a
  ``retry`` field so clients reconnect (elsewhere), answers requests still
  waiting with 503, and refuses new ones with 503 + ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from .aio.server import App, StreamableHttpServer
from .cors import CorsPolicy
from .events import ResponseData, ResponseEnd, ResponseHead
from .server import DEFAULT_ENDPOINT_PATHS, ServerConfig
from .web._front import ORIGIN_REFUSED

__all__ = [
    "StreamableHttpApp",
    "TrustedProxies",
    "DEFAULT_MAX_PENDING_BYTES",
    "DEFAULT_SHUTDOWN_RETRY_MS",
]

log = logging.getLogger("streamcore.asgi")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

#: Bytes of response output queued for one exchange while the ASGI server
#: waits on a slow reader; past it the exchange is dropped as lost (the same
#: bound and the same action as the asyncio adapter's ``max_write_buffer``).
DEFAULT_MAX_PENDING_BYTES = 8 * 1024 * 1024
#: ``retry`` (ms) sent on every open SSE stream at shutdown when the server
#: config sets no ``retry_ms``.
DEFAULT_SHUTDOWN_RETRY_MS = 1000

_SHUTTING_DOWN = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Server shutting down"}}'


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedProxies:
    """Reverse proxies whose ``Forwarded`` / ``X-Forwarded-Host`` the Host check believes.

    Only when the TCP peer (the ASGI ``client``) is one of ``addresses`` (IP
    addresses or networks such as ``"10.0.0.0/8"``) is the forwarded host used
    in place of ``Host``; the core's ``allowed_hosts`` check then runs on it.
    ``Forwarded`` (RFC 7239 ``host=``) wins over ``X-Forwarded-Host``; of a
    list, the last (rightmost) element is used: the one the nearest proxy wrote.
    """

    addresses: tuple[str, ...]
    forwarded: bool = True
    x_forwarded_host: bool = True
    _nets: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.addresses, str):
            raise ValueError("addresses must be a tuple of IP addresses or networks")
        object.__setattr__(self, "_nets", tuple(ipaddress.ip_network(a, strict=False) for a in self.addresses))

    def trusts(self, peer: str | None) -> bool:
        """Whether ``peer`` (an IP address) is a trusted proxy."""
        if peer is None:
            return False
        try:
            ip = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(ip in n for n in self._nets)

    def forwarded_host(self, headers: Headers) -> bytes | None:
        """The host the nearest proxy forwarded, or None."""
        if self.forwarded:
            last: bytes | None = None
            for k, v in headers:
                if k == b"forwarded":
                    for element in v.split(b","):
                        for pair in element.split(b";"):
                            name, _, value = pair.strip().partition(b"=")
                            if name.lower() == b"host" and value:
                                last = value.strip(b'"')
            if last is not None:
                return last
        if self.x_forwarded_host:
            last = None
            for k, v in headers:
                if k == b"x-forwarded-host":
                    last = v.split(b",")[-1].strip() or last
            return last
        return None


class _Exchange:
    """One ASGI request as the hub sees a connection: the core's output queued for its coroutine."""

    __slots__ = ("items", "wake", "pending", "lost", "started", "ended", "streaming", "hub", "xid", "limit",
                 "get", "closing")

    def __init__(self, hub: StreamableHttpServer, limit: int) -> None:
        self.items: deque[ResponseHead | ResponseData | ResponseEnd | bytes | None] = deque()
        self.wake = asyncio.Event()
        self.pending = 0
        self.lost = False
        self.started = False
        self.ended = False
        self.streaming = False
        self.hub = hub
        self.xid = 0
        self.limit = limit
        self.get = False
        self.closing = False

    # The hub calls these three while it drains the core.
    def head(self, ev: ResponseHead) -> None:
        self.streaming = ev.streaming
        self.items.append(ev)
        self.wake.set()

    def data(self, ev: ResponseData) -> None:
        self.pending += len(ev.data)
        if self.pending > self.limit:
            log.warning("dropping an ASGI exchange whose client reads too slowly")
            self.lost = True
        self.items.append(ev)
        self.wake.set()

    def end(self, ev: ResponseEnd) -> None:
        self.hub._route.pop(ev.xid, None)
        self.ended = True
        self.items.append(ev)
        self.wake.set()


class StreamableHttpApp:
    """An ASGI 3 application serving ``app`` (a :class:`streamcore.aio.App`) at whatever path it is mounted on."""

    def __init__(
        self,
        app: App,
        config: ServerConfig | None = None,
        *,
        cors: CorsPolicy | None = None,
        trusted_proxies: TrustedProxies | None = None,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        request_timeout: float | None = None,
        shutdown_retry_ms: int = DEFAULT_SHUTDOWN_RETRY_MS,
    ) -> None:
        config = config or ServerConfig()
        if config.endpoint_paths == DEFAULT_ENDPOINT_PATHS:
            # Under ASGI the endpoint is wherever the app is mounted (or routed):
            # the core's own path check stays off unless set to other paths.
            config = dataclasses.replace(config, endpoint_paths=None)
        if cors is not None and config.allowed_origins is not None:
            hosts = cors.origin_hosts
            missing = [h for h in (hosts or ("*",)) if h not in config.allowed_origins]
            if missing:
                raise ValueError(
                    f"the CORS policy allows origins the server's Origin check refuses: {missing}; "
                    "add them to ServerConfig.allowed_origins (CorsPolicy.origin_hosts)")
        if max_pending_bytes <= 0:
            raise ValueError("max_pending_bytes must be positive")
        self.app = app
        self.hub = StreamableHttpServer(app, config, request_timeout=request_timeout)
        self.core = self.hub.core
        self.cors = cors
        self.trusted_proxies = trusted_proxies
        self.max_pending_bytes = max_pending_bytes
        self.retry_ms = config.retry_ms if config.retry_ms is not None else shutdown_retry_ms
        self._live: set[_Exchange] = set()
        self._started = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._start_lock: asyncio.Lock | None = None
        self._closing = False

    # -- lifecycle ----------------------------------------------------------------

    async def startup(self) -> None:
        """Bind to the running loop and run the application's ``startup()`` hook, once.

        Called on ASGI lifespan startup, or by the first request when the ASGI
        server (or a host app that mounts this one) sends no lifespan.
        """
        loop = asyncio.get_running_loop()
        if self._started and self._loop is loop:
            return
        if self._start_lock is None or self._loop is not loop:
            self._start_lock = asyncio.Lock()
            self._bind(loop)
        async with self._start_lock:
            if self._started:
                return
            hook = getattr(self.app, "startup", None)
            if hook is not None:
                await hook()
            self._started = True

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve on ``loop`` (a test client may run the same app on one loop after another)."""
        self._loop = loop
        self._started = False
        hub = self.hub
        hub._loop = loop
        if hub._timer is not None:
            hub._timer.cancel()
        hub._timer = None
        hub._timer_at = None
        hub._flush_handle = None

    async def shutdown(self, *, timeout: float = 5.0) -> None:
        """Refuse new requests (503), end GET streams with ``retry`` at once, give in-flight
        handlers ``timeout`` seconds to answer, then end what is still open (SSE with ``retry``,
        the rest 503) and cancel the handlers left.

        Runs on ASGI lifespan shutdown; call it yourself when the ASGI server
        waits for open connections before it sends lifespan shutdown (uvicorn
        does: see ``docs/asgi.md``). Then runs the application's ``shutdown()``.
        """
        if self._closing:
            return
        self._closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # GET streams end at once; in-flight handlers get until the deadline to
        # answer (their POST streams and JSON replies go out as usual); then
        # every exchange still open is ended: SSE with retry, the rest 503.
        self._end_open(get_only=True)
        tasks = [t for t in self.hub._tasks.values() if not t.done()]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
            for t in late:
                t.cancel()
        self._end_open(get_only=False)
        while self._live and loop.time() < deadline + 1.0:
            await asyncio.sleep(0.01)
        timer = self.hub._timer
        if timer is not None:
            timer.cancel()
            self.hub._timer = None
            self.hub._timer_at = None
        hook = getattr(self.app, "shutdown", None)
        if hook is not None and self._started:
            await hook()
        self._started = False

    def _end_open(self, *, get_only: bool) -> None:
        retry = b"retry: %d\n\n" % self.retry_ms
        for ex in list(self._live):
            if ex.closing or (get_only and not ex.get):
                continue
            ex.closing = True
            ex.items.append(retry if ex.streaming and (ex.started or ex.items) else None)
            ex.wake.set()

    # -- ASGI ---------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:  # websocket: not an MCP transport
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1003})
            return

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                self._closing = False  # a new serving cycle (after an earlier lifespan's shutdown)
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                try:
                    await self.shutdown()
                except Exception as exc:
                    log.exception("shutdown failed")
                    await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _simple(self, send: Send, status: int, headers: Headers, body: bytes = b"") -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._closing and (not self._started or self._loop is not asyncio.get_running_loop()):
            await self.startup()
        headers: Headers = [(bytes(k), bytes(v)) for k, v in scope["headers"]]
        method: bytes = scope["method"].encode("ascii")
        cors = self.cors
        extra: Headers = []
        if cors is not None:
            if cors.is_preflight(method, headers):
                status, out = cors.preflight(headers)
                await self._simple(send, status, out)
                return
            if cors.refuses(headers, scheme=scope.get("scheme", "http")):  # exact origin (SEC-02)
                await self._simple(send, 403, [(b"content-type", b"application/json"), (b"vary", b"origin"),
                                               (b"content-length", b"%d" % len(ORIGIN_REFUSED))], ORIGIN_REFUSED)
                return
            extra = cors.response_headers(headers)
        if self._closing:
            await self._simple(send, 503, [(b"content-type", b"application/json"), (b"retry-after", b"1"),
                                           (b"content-length", b"%d" % len(_SHUTTING_DOWN)), *extra], _SHUTTING_DOWN)
            return
        tp = self.trusted_proxies
        if tp is not None:
            client = scope.get("client")
            if tp.trusts(client[0] if client else None):
                fwd = tp.forwarded_host(headers)
                if fwd is not None:
                    headers = [(k, v) for k, v in headers if k != b"host"]
                    headers.append((b"host", fwd))
        target: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]

        hub = self.hub
        core = hub.core
        ex = _Exchange(hub, self.max_pending_bytes)
        ex.get = method == b"GET"
        xid = core.receive_request(method, target, headers, now=hub._now())
        ex.xid = xid
        # The hub routes the core's output by exchange to anything with head/data/end.
        hub._route[xid] = ex  # type: ignore[assignment]
        self._live.add(ex)
        body_done = False
        watcher: asyncio.Task[None] | None = None
        try:
            hub._drain()
            # body: fed to the core piece by piece; it refuses past max_body_size
            while not ex.items:
                msg = await receive()
                if msg["type"] == "http.request":
                    chunk = msg.get("body", b"")
                    if chunk:
                        core.receive_body(xid, chunk)
                    if not msg.get("more_body", False):
                        body_done = True
                        core.receive_end(xid, now=hub._now())
                        hub._drain()
                        break
                    hub._drain()
                elif msg["type"] == "http.disconnect":
                    ex.lost = True
                    return
            if body_done:
                watcher = asyncio.ensure_future(self._watch(receive, ex))
            await self._pump(ex, send, extra)
        except OSError:  # the ASGI server reports a client gone on send
            ex.lost = True
        finally:
            if watcher is not None:
                watcher.cancel()
            self._live.discard(ex)
            if not ex.ended:
                hub._route.pop(xid, None)
                core.connection_lost(xid, now=hub._now())
                hub._drain()
            elif not body_done:
                core.connection_lost(xid, now=hub._now())  # a head-refused exchange: retire it

    async def _watch(self, receive: Receive, ex: _Exchange) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                ex.lost = True
                ex.wake.set()
                return

    async def _pump(self, ex: _Exchange, send: Send, extra: Headers) -> None:
        items = ex.items
        while True:
            while items:
                if ex.lost:
                    return
                item = items.popleft()
                if isinstance(item, ResponseData):
                    ex.pending -= len(item.data)
                    if item.data:
                        await send({"type": "http.response.body", "body": item.data, "more_body": True})
                elif isinstance(item, ResponseHead):
                    head = item.headers + extra if extra else item.headers
                    await send({"type": "http.response.start", "status": item.status, "headers": head})
                    ex.started = True
                    if not item.streaming:
                        # A JSON (or empty) reply: the body and the end are
                        # usually queued already; send them as one message.
                        body: list[bytes] = []
                        while items and isinstance(items[0], ResponseData):
                            d = items.popleft()
                            assert isinstance(d, ResponseData)
                            ex.pending -= len(d.data)
                            body.append(d.data)
                        if items and isinstance(items[0], ResponseEnd):
                            items.popleft()
                            await send({"type": "http.response.body", "body": b"".join(body), "more_body": False})
                            return
                        if body:
                            await send({"type": "http.response.body", "body": b"".join(body), "more_body": True})
                elif isinstance(item, ResponseEnd):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                elif isinstance(item, bytes):  # shutdown: retry, then end
                    await send({"type": "http.response.body", "body": item, "more_body": False})
                    return
                else:  # shutdown of an exchange not streaming
                    if not ex.started:
                        await self._simple(send, 503, [
                            (b"content-type", b"application/json"), (b"retry-after", b"1"),
                            (b"content-length", b"%d" % len(_SHUTTING_DOWN)), *extra], _SHUTTING_DOWN)
                    else:
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
            if ex.lost:
                return
            ex.wake.clear()
            await ex.wake.wait()
