"""asyncio MCP client: the sans-IO :class:`streamcore._client.Client` over HTTP/1.1.

The adapter owns only HTTP framing and sockets. Response bodies go through
streamcore's own codecs on the read path (``streamcore.chunked`` for
``Transfer-Encoding: chunked``; the core feeds ``streamcore.sse``), which is
where client throughput is decided. Connections are reused: a small pool of
idle keep-alive connections per origin.

Usage::

    async with connect("http://127.0.0.1:8000/mcp") as session:
        tools = await session.list_tools()
        result = await session.call_tool("countdown", {"n": 3}, progress=print)

The per-request era (2026-07-28): ``connect(url, era="auto")`` negotiates
(``server/discover`` first, ``initialize`` as the fallback), ``era="modern"``
speaks only 2026-07-28. There, ``session.listen({...})`` opens a
``subscriptions/listen`` stream::

    async with session.listen({"toolsListChanged": True}) as sub:
        async for note in sub:
            ...
"""

from __future__ import annotations

import asyncio
import inspect
import ssl as _ssl
from typing import Any, AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

from .._client import (
    LATEST_VERSION,
    SUBSCRIPTION_ID,
    Client,
    ClientClosed,
    ClientConfig,
    ClientError,
    Closed,
    ConnectionLost,
    HttpAbort,
    HttpRequest,
    HttpStatusError,
    Initialized,
    McpError,
    RequestFailed,
    RequestResult,
    RequestTimeout,
    ServerNotification,
    ServerRequest,
    SessionExpired,
    StreamProtocolError,
)
from .._errors import ChunkedDecodeError
from .._headers import DEFAULT_MAX_HEAD_SIZE
from ..chunked import ChunkedDecoder
from ._auth import BrowserConsent, OAuth, headless_consent

__all__ = [
    "connect",
    "elicitation_defaults",
    "Subscription",
    "ClientSession",
    "OAuth",
    "BrowserConsent",
    "headless_consent",
    "ClientError",
    "McpError",
    "HttpStatusError",
    "StreamProtocolError",
    "ConnectionLost",
    "RequestTimeout",
    "ClientClosed",
    "DEFAULT_READ_SIZE",
    "DEFAULT_MAX_HEAD_SIZE",
    "DEFAULT_POOL_SIZE",
]

#: bytes asked of the socket per read (h11 and httpx use 64 KiB too)
DEFAULT_READ_SIZE = 64 * 1024
#: idle keep-alive connections kept per origin
DEFAULT_POOL_SIZE = 8

Handler = Callable[[Any], Awaitable[Any]]
_CAPABILITY_OF = {"elicitation/create": "elicitation", "sampling/createMessage": "sampling", "roots/list": "roots"}


def elicitation_defaults(schema: dict) -> dict:
    """The ``default`` of every property of an elicitation ``requestedSchema`` (SEP-1034).

    A handler that accepts with what it has can start from this and overlay
    the user's answers.
    """
    props = schema.get("properties") if isinstance(schema, dict) else None
    out = {}
    if isinstance(props, dict):
        for name, spec in props.items():
            if isinstance(spec, dict) and "default" in spec:
                out[name] = spec["default"]
    return out


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:  # pragma: no cover - already torn down
            pass


class _Pool:
    """Idle keep-alive connections, keyed by origin (scheme, host, port)."""

    def __init__(self, size: int, connect_timeout: float) -> None:
        self.size = size
        self.connect_timeout = connect_timeout
        self.idle: dict[tuple, list[_Conn]] = {}

    async def get(self, origin: tuple) -> tuple[_Conn, bool]:
        idle = self.idle.get(origin)
        while idle:
            conn = idle.pop()
            if not conn.reader.at_eof() and not conn.writer.is_closing():
                return conn, True
            conn.close()
        scheme, host, port = origin
        ctx = _ssl.create_default_context() if scheme == "https" else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx, limit=DEFAULT_READ_SIZE), self.connect_timeout
        )
        return _Conn(reader, writer), False

    def put(self, origin: tuple, conn: _Conn) -> None:
        idle = self.idle.setdefault(origin, [])
        if len(idle) >= self.size:
            conn.close()
        else:
            idle.append(conn)

    def close(self) -> None:
        for conns in self.idle.values():
            for c in conns:
                c.close()
        self.idle.clear()


class _HeadError(Exception):
    pass


def _parse_head(head: bytes) -> tuple[int, list[tuple[str, str]]]:
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit() or len(parts[1]) != 3:
        raise _HeadError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        k, sep, v = line.partition(b":")
        if not sep or not k or k != k.strip():
            raise _HeadError(f"malformed header line {line[:80]!r}")
        headers.append((k.decode("latin-1").lower(), v.strip().decode("latin-1")))
    return int(parts[1]), headers


class ClientSession:
    """One MCP session over Streamable HTTP (or the legacy HTTP+SSE transport).

    Build it with :func:`connect`. Every method is a coroutine except
    :meth:`notifications`, an async iterator of server notifications.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float | None = 60.0,
        handlers: dict[str, Handler] | None = None,
        protocol_version: str = LATEST_VERSION,
        listen: bool = True,
        client_info: dict | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        connect_timeout: float = 10.0,
        max_queued_notifications: int = 10_000,
        http2: bool = False,
        auth: OAuth | None = None,
        **config: Any,
    ) -> None:
        self._auth = auth  # OAuth 2.1 (docs/auth.md): Authorization on every request, 401/403 -> flow -> retry
        if auth is not None and http2:
            raise ValueError("auth= works over HTTP/1.1 only so far; leave http2 off with OAuth (docs/auth.md)")
        self.handlers: dict[str, Handler] = dict(handlers or {})
        caps: dict[str, Any] = {}
        for m in self.handlers:
            if m in _CAPABILITY_OF:
                caps[_CAPABILITY_OF[m]] = {}
        self._core = Client(
            ClientConfig(
                url=url,
                headers=dict(headers or {}),
                protocol_version=protocol_version,
                request_timeout=timeout,
                listen=listen,
                capabilities=caps,
                client_info=client_info or {"name": "streamcore-aio", "version": "0"},
                **config,
            )
        )
        self.url = url
        self._loop = asyncio.get_running_loop()
        self._pool = _Pool(pool_size, connect_timeout)
        self._h2: Any = None  # HTTP/2 (streamcore.aio._h2client): one multiplexed connection per origin
        if http2:
            from ._h2client import H2Transport

            self._h2 = H2Transport(connect_timeout)
        self._tasks: dict[int, asyncio.Task] = {}
        self._futures: dict[int, asyncio.Future] = {}
        self._progress: dict[Any, Callable[..., Any]] = {}
        self._progress_ids = 0
        self._notes: asyncio.Queue = asyncio.Queue(max_queued_notifications)
        self._closed = self._loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when: float | None = None
        self._bg: set[asyncio.Task] = set()
        self.initialize_result: dict | None = None
        self._init_rid: int | None = None
        self.dropped_notifications = 0
        self._subs: dict[int, Subscription] = {}

    # -- session facts ------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        return self._core.session_id

    @property
    def protocol_version(self) -> str | None:
        return self._core.protocol_version

    @property
    def legacy(self) -> bool:
        """True when talking the deprecated 2024-11-05 HTTP+SSE transport."""
        return self._core._legacy_stream is not None

    @property
    def stats(self) -> dict[str, int]:
        """Recovery counters: resumptions, reinitializations, listen_reconnects."""
        return self._core.stats

    @property
    def server_info(self) -> dict:
        res = self.initialize_result or {}
        if self.era == "modern":
            meta = res.get("_meta")
            return (meta or {}).get("io.modelcontextprotocol/serverInfo", {}) if isinstance(meta, dict) else {}
        return res.get("serverInfo", {})

    @property
    def era(self) -> str | None:
        """``"legacy"`` (initialize, sessions) or ``"modern"`` (2026-07-28), once connected."""
        return self._core.era

    @property
    def core(self) -> Client:
        """The sans-IO core (for inspection: ``tool_headers``, ``excluded_tools``, ``stats``)."""
        return self._core

    # -- API -----------------------------------------------------------------

    async def initialize(self) -> dict:
        """Run the handshake (``connect`` does it for you)."""
        rid = self._core.initialize(self._loop.time())
        self._init_rid = rid
        fut = self._futures[rid] = self._loop.create_future()
        self._pump()
        self.initialize_result = await fut
        return self.initialize_result

    async def request(
        self, method: str, params: Any = None, *, progress: Callable[..., Any] | None = None,
        timeout: float | None = -1.0,
    ) -> Any:
        """Send a request and return its result; raises :class:`ClientError` subclasses.

        ``progress(progress, total, message)`` is called per ``notifications/progress``
        (a ``progressToken`` is attached). Cancelling the awaiting task sends
        ``notifications/cancelled``.
        """
        token = None
        if progress is not None:
            self._progress_ids += 1
            token = f"sc-{self._progress_ids}"
            params = dict(params or {})
            meta = dict(params.get("_meta") or {})
            meta["progressToken"] = token
            params["_meta"] = meta
            self._progress[token] = progress
        now = self._loop.time()
        rid = self._core.send_request(method, params, now, timeout=timeout)
        fut = self._futures[rid] = self._loop.create_future()
        self._pump()
        try:
            return await fut
        except asyncio.CancelledError:
            if self._futures.pop(rid, None) is not None:
                self._core.cancel(rid, "cancelled by the client", self._loop.time())
                self._pump()
            raise
        finally:
            if token is not None:
                self._progress.pop(token, None)

    async def notify(self, method: str, params: Any = None) -> None:
        """Send a notification."""
        self._core.send_notification(method, params, self._loop.time())
        self._pump()

    async def notifications(self) -> AsyncIterator[ServerNotification]:
        """Server notifications until the session closes (all of them except progress
        notifications already delivered to a request's ``progress`` callback)."""
        while True:
            get = asyncio.ensure_future(self._notes.get())
            done, _ = await asyncio.wait({get, self._closed}, return_when=asyncio.FIRST_COMPLETED)
            if get in done:
                yield get.result()
            else:
                get.cancel()
                return

    def listen(self, notifications: dict, *, ack_timeout: float = 30.0,
               max_queued: int = 10_000) -> "Subscription":
        """A ``subscriptions/listen`` stream (2026-07-28 only): ``async with s.listen(f) as sub``.

        ``notifications`` is the filter (``{"toolsListChanged": True}``,
        ``{"resourceSubscriptions": [uri]}``, ...). Entering waits for the
        acknowledgment; iterating yields the notifications and ends at the
        server's completion result. A stream that closes without it is
        re-issued (CLI-SUB-06, ``max_reissue_attempts`` in a row without an
        acknowledgment). Leaving the block closes the stream.
        """
        return Subscription(self, notifications, ack_timeout, max_queued)

    async def ping(self) -> None:
        await self.request("ping")

    async def list_tools(self) -> list[dict]:
        """All tools, following ``nextCursor`` pagination (at most 1000 pages)."""
        tools: list[dict] = []
        cursor = None
        for _ in range(1000):
            res = await self.request("tools/list", {"cursor": cursor} if cursor else {})
            tools.extend(res.get("tools", []))
            cursor = res.get("nextCursor")
            if not cursor:
                break
        return tools

    async def call_tool(self, name: str, arguments: dict | None = None, *,
                        progress: Callable[..., Any] | None = None, timeout: float | None = -1.0) -> dict:
        return await self.request("tools/call", {"name": name, "arguments": arguments or {}},
                                  progress=progress, timeout=timeout)

    async def close(self, timeout: float = 5.0) -> None:
        """DELETE the session (CLI-SESS-03), fail what waits, close every connection."""
        if not self._closed.done():
            self._core.close(self._loop.time())
            self._pump()
            try:
                await asyncio.wait_for(asyncio.shield(self._closed), timeout)
            except asyncio.TimeoutError:
                pass
        for t in list(self._tasks.values()) + list(self._bg):
            t.cancel()
        if self._tasks or self._bg:
            await asyncio.wait(list(self._tasks.values()) + list(self._bg), timeout=1.0)
        if self._timer is not None:
            self._timer.cancel()
        self._pool.close()
        if self._h2 is not None:
            self._h2.close()
        if not self._closed.done():
            self._closed.set_result(None)

    # -- the pump: core outputs -> actions ----------------------------------

    def _pump(self) -> None:
        core = self._core
        for _ in range(1000):  # bounded: each pass drains what the previous one produced
            out = core.data_to_send()
            events = core.events()
            if not out and not events:
                break
            for item in out:
                if type(item) is HttpRequest:
                    self._tasks[item.handle] = self._loop.create_task(self._exchange(item))
                elif type(item) is HttpAbort:
                    t = self._tasks.pop(item.handle, None)
                    if t is not None:
                        t.cancel()
            for ev in events:
                self._dispatch(ev)
        when = core.get_timer()
        if when != self._timer_when:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_when = when
            self._timer = None if when is None else self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_when = None
        self._core.handle_timer(self._loop.time())
        self._pump()

    def _dispatch(self, ev: Any) -> None:
        t = type(ev)
        if t is ServerNotification and ev.request_id is not None and ev.request_id in self._subs:
            self._subs[ev.request_id]._note(ev)
            return
        if t is RequestResult:
            fut = self._futures.pop(ev.request_id, None)
            if fut is not None and not fut.done():
                fut.set_result(ev.result)
        elif t is RequestFailed:
            fut = self._futures.pop(ev.request_id, None)
            if fut is not None and not fut.done():
                fut.set_exception(ev.error)
        elif t is ServerNotification:
            if ev.method == "notifications/progress" and isinstance(ev.params, dict):
                cb = self._progress.get(ev.params.get("progressToken"))
                if cb is not None:  # consumed by the request's progress callback, not queued
                    p = ev.params
                    r = cb(p.get("progress"), p.get("total"), p.get("message"))
                    if r is not None and inspect.isawaitable(r):
                        self._spawn(r)
                    return
            try:
                self._notes.put_nowait(ev)
            except asyncio.QueueFull:
                self.dropped_notifications += 1
        elif t is ServerRequest:
            self._spawn(self._answer(ev))
        elif t is Initialized:
            fut = self._futures.pop(self._init_rid, None) if self._init_rid is not None else None
            if fut is not None and not fut.done():
                fut.set_result(ev.result)
            else:  # a transparent re-initialization (CLI-SESS-02)
                self.initialize_result = ev.result
        elif t is Closed:
            if not self._closed.done():
                self._closed.set_result(None)
        elif t is SessionExpired:
            pass

    def _spawn(self, aw: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(aw)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    async def _answer(self, ev: ServerRequest) -> None:
        handler = self.handlers.get(ev.method)
        now = self._loop.time
        if handler is None:
            if ev.method == "ping":
                self._core.respond(ev.id, {}, now())
            else:
                self._core.respond_error(ev.id, -32601, f"Method not found: {ev.method}", None, now())
        else:
            try:
                result = await handler(ev.params)
            except McpError as exc:
                self._core.respond_error(ev.id, exc.code, exc.message, exc.data, now())
            except Exception as exc:  # the handler failed: tell the server, keep the session
                self._core.respond_error(ev.id, -32603, f"client handler failed: {exc}", None, now())
            else:
                self._core.respond(ev.id, result, now())
        self._pump()

    # -- HTTP/1.1 -------------------------------------------------------------

    async def _exchange(self, req: HttpRequest, retried: int = 0) -> None:
        core = self._core
        h = req.handle
        loop = self._loop
        u = urlsplit(req.url)
        scheme = u.scheme or "http"
        port = u.port or (443 if scheme == "https" else 80)
        origin = (scheme, u.hostname or "127.0.0.1", port)
        path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        host = u.netloc.rsplit("@", 1)[-1]
        lines = [f"{req.method} {path} HTTP/1.1", f"Host: {host}"]
        for k, v in req.headers:
            lines.append(f"{k}: {v}")
        auth = self._auth
        creds = await auth.headers(req.method, req.url) if auth is not None else []
        for k, v in creds:  # AUTH-01: Authorization (and a DPoP proof) on every request, never in the query
            lines.append(f"{k}: {v}")
        sent = creds[0][1] if creds else None
        body = req.body
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        elif req.method == "DELETE":
            lines.append("Content-Length: 0")
        wire = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        if self._h2 is not None and await self._h2.exchange(self, req):
            return  # carried over HTTP/2; False means the server speaks HTTP/1.1 only
        conn = None
        reusable = False
        try:
            for attempt in (0, 1):
                try:
                    conn, reused = await self._pool.get(origin)
                except (OSError, asyncio.TimeoutError) as exc:
                    core.receive_error(h, exc or "connect timeout", loop.time())
                    return
                conn.writer.write(wire)
                try:
                    head, rest = await self._read_head(conn)
                    break
                except (ConnectionError, _EOF) as exc:
                    conn.close()
                    conn = None
                    if reused and attempt == 0:
                        continue  # a pooled connection the server had closed: retry once on a new one
                    core.receive_error(h, exc or "connection closed", loop.time())
                    return
            assert conn is not None
            status, headers = _parse_head(head)
            while 100 <= status < 200:  # interim responses
                head, rest = await self._read_head(conn, rest)
                status, headers = _parse_head(head)
            if auth is not None and status in (401, 403) and retried < 2:  # AUTH-07: authorize, retry (401 then 403)
                if await auth.challenge(req.url, status, headers, sent):
                    conn.close()
                    conn = None
                    return await self._exchange(req, retried + 1)
            elif auth is not None and sent is not None and status < 400:
                auth.succeeded(req.url, headers)
            core.receive_response(h, status, headers, loop.time())
            self._pump()
            te = cl = None
            keep = True
            for k, v in headers:
                if k == "transfer-encoding":
                    te = v.lower()
                elif k == "content-length":
                    cl = v
                elif k == "connection" and "close" in v.lower():
                    keep = False
            reader = conn.reader
            if req.method == "HEAD" or status in (204, 304):
                reusable = keep
            elif te is not None and te.endswith("chunked"):
                dec = ChunkedDecoder()
                data = rest
                for _ in iter(int, 1):  # until the last chunk or EOF
                    if data:
                        out = dec.feed(data)
                        if out:
                            core.receive_data(h, out, loop.time())
                            self._pump()
                        if dec.done:
                            reusable = keep and not dec.unused_data
                            break
                    data = await reader.read(DEFAULT_READ_SIZE)
                    if not data:
                        raise _EOF("connection closed in the middle of a chunked body")
            elif cl is not None:
                if not cl.isdigit():
                    raise _HeadError(f"bad Content-Length {cl!r}")
                left = int(cl)
                data = rest
                while True:
                    if data:
                        if len(data) > left:
                            data = data[:left]  # excess bytes: the connection is not reused
                            keep = False
                        left -= len(data)
                        core.receive_data(h, data, loop.time())
                        self._pump()
                    if left <= 0:
                        reusable = keep
                        break
                    data = await reader.read(min(left, DEFAULT_READ_SIZE))
                    if not data:
                        raise _EOF("connection closed before the whole body arrived")
            else:  # read until EOF (RFC 9112 section 6.3 item 8)
                data = rest
                while True:
                    if data:
                        core.receive_data(h, data, loop.time())
                        self._pump()
                    data = await reader.read(DEFAULT_READ_SIZE)
                    if not data:
                        break
            core.receive_data(h, b"", loop.time())
        except asyncio.CancelledError:
            reusable = False
            return  # aborted by the core, or the session closed: nothing more to report
        except (OSError, _EOF, _HeadError, ChunkedDecodeError) as exc:
            reusable = False
            core.receive_error(h, exc, loop.time())
        finally:
            if self._tasks.get(h) is asyncio.current_task():
                del self._tasks[h]
            if conn is not None:
                if reusable:
                    self._pool.put(origin, conn)
                else:
                    conn.close()
            self._pump()  # also after the early returns above

    async def _read_head(self, conn: _Conn, buf: bytes = b"") -> tuple[bytes, bytes]:
        data = bytearray(buf)
        start = 0
        while True:
            i = data.find(b"\r\n\r\n", start)
            if i >= 0:
                return bytes(data[:i]), bytes(data[i + 4:])
            if len(data) > DEFAULT_MAX_HEAD_SIZE:
                raise _HeadError(f"response head exceeds {DEFAULT_MAX_HEAD_SIZE} bytes")
            start = max(0, len(data) - 3)
            chunk = await conn.reader.read(DEFAULT_READ_SIZE)
            if not chunk:
                raise _EOF("connection closed before a response")
            data += chunk


class _EOF(Exception):
    pass


_END = object()


class Subscription:
    """One ``subscriptions/listen`` stream; see :meth:`ClientSession.listen`.

    ``acknowledged`` is the filter the server granted; ``subscription_id`` the
    id in ``_meta`` (it changes when the stream is re-issued); ``result`` the
    completion result once the server ended the stream gracefully.
    """

    def __init__(self, session: ClientSession, notifications: dict, ack_timeout: float, max_queued: int) -> None:
        self.session = session
        self.filter = dict(notifications)
        self.ack_timeout = ack_timeout
        self.acknowledged: dict | None = None
        self.subscription_id: Any = None
        self.dropped = 0
        self._queue: asyncio.Queue = asyncio.Queue(max_queued)
        self._acked = session._loop.create_future()
        self._rid: int | None = None
        self._fut: asyncio.Future | None = None

    @property
    def result(self) -> dict | None:
        """The completion result, once the server ended the stream gracefully (SRV-SUB-04)."""
        fut = self._fut
        if fut is None or not fut.done() or fut.cancelled() or fut.exception() is not None:
            return None
        return fut.result()

    @property
    def unsupported(self) -> list[str]:
        """Requested filter fields the acknowledgment left out (the server does not honour them)."""
        got = self.acknowledged or {}
        return [k for k, v in self.filter.items() if v and k not in got]

    def _note(self, ev: ServerNotification) -> None:
        params = ev.params if isinstance(ev.params, dict) else {}
        if ev.method == "notifications/subscriptions/acknowledged":
            meta = params.get("_meta")
            self.subscription_id = meta.get(SUBSCRIPTION_ID) if isinstance(meta, dict) else None
            granted = params.get("notifications")
            self.acknowledged = granted if isinstance(granted, dict) else {}
            if not self._acked.done():
                self._acked.set_result(None)
            return
        try:
            self._queue.put_nowait(ev)
        except asyncio.QueueFull:
            self.dropped += 1

    async def __aenter__(self) -> "Subscription":
        s = self.session
        if s.era != "modern":
            raise ClientError("subscriptions/listen needs the 2026-07-28 era (this session is legacy)")
        rid = s._core.send_request("subscriptions/listen", {"notifications": self.filter}, s._loop.time(),
                                   timeout=None)
        self._rid = rid
        s._subs[rid] = self
        fut = self._fut = s._futures[rid] = s._loop.create_future()
        fut.add_done_callback(self._done)
        s._pump()
        await asyncio.wait({self._acked, fut}, timeout=self.ack_timeout, return_when=asyncio.FIRST_COMPLETED)
        if not self._acked.done():
            await self.__aexit__(None, None, None)
            if fut.done() and not fut.cancelled() and fut.exception() is not None:
                raise fut.exception()  # type: ignore[misc]
            if fut.done():
                raise StreamProtocolError("subscriptions/listen ended before its acknowledgment")
            raise RequestTimeout("subscriptions/listen: no acknowledgment within the timeout")
        return self

    def _done(self, fut: asyncio.Future) -> None:
        try:
            self._queue.put_nowait(_END)
        except asyncio.QueueFull:  # the consumer sees the end once it drains the queue
            pass

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> ServerNotification:
        fut = self._fut
        if fut is None:
            raise StopAsyncIteration
        for _ in iter(int, 1):  # until a notification or the end
            if not self._queue.empty():
                item = self._queue.get_nowait()
            elif fut.done():
                item = _END
            else:
                item = await self._queue.get()
            if item is not _END:
                return item
            if self._queue.empty():
                if not fut.cancelled() and fut.exception() is not None:
                    raise fut.exception()  # type: ignore[misc]
                raise StopAsyncIteration
        raise StopAsyncIteration  # pragma: no cover

    async def __aexit__(self, *exc: Any) -> None:
        s = self.session
        rid = self._rid
        if rid is None:
            return
        s._subs.pop(rid, None)
        if s._futures.pop(rid, None) is not None:
            s._core.cancel(rid, "listen closed by the client", s._loop.time())  # CANCEL-06: close the stream
            s._pump()
        if self._fut is not None and not self._fut.done():
            self._fut.cancel()


class connect:
    """``async with connect(url, ...) as session``: initialize on entry, DELETE on exit.

    Keyword arguments go to :class:`ClientSession` (``headers``, ``timeout``,
    ``handlers``, ``protocol_version``, ``listen``, and any
    :class:`~streamcore._client.ClientConfig` field such as
    ``max_reconnect_attempts`` or ``jitter``).
    """

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url = url
        self.kwargs = kwargs
        self.session: ClientSession | None = None

    async def __aenter__(self) -> ClientSession:
        self.session = ClientSession(self.url, **self.kwargs)
        try:
            await self.session.initialize()
        except BaseException:
            await self.session.close(timeout=1.0)
            raise
        return self.session

    async def __aexit__(self, *exc: Any) -> None:
        assert self.session is not None
        await self.session.close()
