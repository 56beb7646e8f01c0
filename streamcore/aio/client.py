"""asyncio MCP client: the sans-IO :class:`streamcore.client.Client` over HTTP/1.1 (or HTTP/2).

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
import collections
import inspect
from typing import Any, AsyncIterator, Awaitable, Callable

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
    InputRequired,
    McpError,
    RequestFailed,
    RequestResult,
    RequestTimeout,
    ServerNotification,
    ServerRequest,
    SessionExpired,
    StreamProtocolError,
)
from .._errors import LocalProtocolError
from .._headers import DEFAULT_MAX_HEAD_SIZE
from ._auth import BrowserConsent, OAuth, headless_consent
from ._h1client import DEFAULT_POOL_SIZE, DEFAULT_READ_SIZE, H1Transport

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
    "DEFAULT_MAX_CONCURRENT_SERVER_REQUESTS",
]

#: server-to-client requests answered at once (handler running or its answer being POSTed);
#: more wait in a queue, and past ``SERVER_WORK_QUEUE_FACTOR`` times this many the client stops
#: reading the stream that carries them until the queue drains (backpressure, not memory)
DEFAULT_MAX_CONCURRENT_SERVER_REQUESTS = 16
SERVER_WORK_QUEUE_FACTOR = 4

Handler = Callable[[Any], Awaitable[Any]]
_CAPABILITY_OF = {"elicitation/create": "elicitation", "sampling/createMessage": "sampling", "roots/list": "roots"}


def elicitation_defaults(schema: dict[str, Any]) -> dict[str, Any]:
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


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()  # a failure nobody awaits any more (an abandoned listen, ...) is not "lost"


def _future(loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
    """A future for a request's outcome. Its exception is raised to whoever awaits it; if
    nobody does (the caller left), asyncio must not report it as never retrieved."""
    fut = loop.create_future()
    fut.add_done_callback(_retrieve)
    return fut


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
        client_info: dict[str, Any] | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        connect_timeout: float = 10.0,
        max_queued_notifications: int = 10_000,
        max_concurrent_server_requests: int = DEFAULT_MAX_CONCURRENT_SERVER_REQUESTS,
        http2: bool = False,
        auth: OAuth | None = None,
        **config: Any,
    ) -> None:
        # (over 60 lines only because every field of the session is set here, in one place)
        if type(max_concurrent_server_requests) is not int or max_concurrent_server_requests < 1:
            raise LocalProtocolError("max_concurrent_server_requests must be a positive int, "
                                     f"not {max_concurrent_server_requests!r}")
        self._auth = auth  # OAuth 2.1 (docs/auth.md): Authorization on every request, 401/403 -> flow -> retry
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
        # the pool keeps a connection for every answer slot: answers reuse them instead of churning
        self._h1 = H1Transport(max(pool_size, max_concurrent_server_requests + 1), connect_timeout)
        self._h2: Any = None  # HTTP/2 (streamcore.aio._h2client): one multiplexed connection per origin
        if http2:
            from ._h2client import H2Transport

            self._h2 = H2Transport(connect_timeout)
        self._tasks: dict[int, asyncio.Task[Any]] = {}
        self._futures: dict[int, asyncio.Future[Any]] = {}
        self._progress: dict[Any, Callable[..., Any]] = {}
        self._progress_ids = 0
        self._notes: asyncio.Queue[ServerNotification] = asyncio.Queue(max_queued_notifications)
        self._closed = self._loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when: float | None = None
        self._bg: set[asyncio.Future[Any]] = set()
        self.initialize_result: dict[str, Any] | None = None
        self._init_rid: int | None = None
        self.dropped_notifications = 0
        self._subs: dict[int, Subscription] = {}
        # server-to-client requests: a queue served by at most max_concurrent workers
        self._work: collections.deque[ServerRequest] = collections.deque()
        self._max_workers = max_concurrent_server_requests
        self._workers: set[asyncio.Task[None]] = set()
        self._work_room = asyncio.Event()  # set while the queue is below its bound
        self._work_room.set()
        self._answering: set[asyncio.Task[Any]] = set()  # exchanges that carry answers: never paused

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
    def server_info(self) -> dict[str, Any]:
        res = self.initialize_result or {}
        if self.era == "modern":
            meta = res.get("_meta")
            info = meta.get("io.modelcontextprotocol/serverInfo") if isinstance(meta, dict) else None
        else:
            info = res.get("serverInfo")
        return info if isinstance(info, dict) else {}

    @property
    def era(self) -> str | None:
        """``"legacy"`` (initialize, sessions) or ``"modern"`` (2026-07-28), once connected."""
        return self._core.era

    @property
    def core(self) -> Client:
        """The sans-IO core (for inspection: ``tool_headers``, ``excluded_tools``, ``stats``)."""
        return self._core

    # -- API -----------------------------------------------------------------

    async def initialize(self) -> dict[str, Any]:
        """Run the handshake (``connect`` does it for you)."""
        rid = self._core.initialize(now=self._loop.time())
        self._init_rid = rid
        fut = self._futures[rid] = _future(self._loop)
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
        rid = self._core.send_request(method, params, now=now, timeout=timeout)
        fut = self._futures[rid] = _future(self._loop)
        self._pump()
        try:
            return await fut
        except asyncio.CancelledError:
            if self._futures.pop(rid, None) is not None:
                self._core.cancel(rid, "cancelled by the client", now=self._loop.time())
                self._pump()
            raise
        finally:
            if token is not None:
                self._progress.pop(token, None)

    async def notify(self, method: str, params: Any = None) -> None:
        """Send a notification."""
        self._core.send_notification(method, params, now=self._loop.time())
        self._pump()

    async def notifications(self) -> AsyncIterator[ServerNotification]:
        """Server notifications until the session closes (all of them except progress
        notifications already delivered to a request's ``progress`` callback)."""
        while True:
            get = asyncio.ensure_future(self._notes.get())
            try:
                done, _ = await asyncio.wait({get, self._closed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not get.done():
                    get.cancel()  # the consumer left, or the session closed: no task left pending
            if get in done:
                yield get.result()
            else:
                return

    def listen(self, notifications: dict[str, Any], *, ack_timeout: float = 30.0,
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

    async def list_tools(self) -> list[dict[str, Any]]:
        """All tools, following ``nextCursor`` pagination (at most 1000 pages)."""
        tools: list[dict[str, Any]] = []
        cursor = None
        for _ in range(1000):
            res = await self.request("tools/list", {"cursor": cursor} if cursor else {})
            tools.extend(res.get("tools", []))
            cursor = res.get("nextCursor")
            if not cursor:
                break
        return tools

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None, *,
                        progress: Callable[..., Any] | None = None, timeout: float | None = -1.0) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("tools/call", {"name": name, "arguments": arguments or {}},
                                                    progress=progress, timeout=timeout)
        return result

    async def close(self, timeout: float = 5.0) -> None:
        """DELETE the session (CLI-SESS-03), fail what waits, close every connection."""
        if not self._closed.done():
            self._core.close(now=self._loop.time())
            self._pump()
            try:
                await asyncio.wait_for(asyncio.shield(self._closed), timeout)
            except asyncio.TimeoutError:
                pass
        self._work.clear()
        self._work_room.set()
        tasks = list(self._tasks.values()) + list(self._bg) + list(self._workers)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        if self._timer is not None:
            self._timer.cancel()
        self._h1.close()
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
                    self._tasks[item.xid] = self._loop.create_task(self._exchange(item))
                elif type(item) is HttpAbort:
                    t = self._tasks.pop(item.xid, None)
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
        self._core.handle_timer(now=self._loop.time())
        self._pump()

    def _dispatch(self, ev: Any) -> None:
        t = type(ev)
        if t is ServerNotification and ev.rid is not None and ev.rid in self._subs:
            self._subs[ev.rid]._note(ev)
            return
        if t is RequestResult:
            fut = self._futures.pop(ev.rid, None)
            if fut is not None and not fut.done():
                fut.set_result(ev.result)
        elif t is RequestFailed:
            fut = self._futures.pop(ev.rid, None)
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
            self._work.append(ev)
            if len(self._work) >= self._max_workers * SERVER_WORK_QUEUE_FACTOR:
                self._work_room.clear()  # the exchanges that carry them pause reading
            if len(self._workers) < self._max_workers and not self._closed.done():
                w = self._loop.create_task(_serve_worker(self))
                self._workers.add(w)
                w.add_done_callback(self._workers.discard)
        elif t is Initialized:
            fut = self._futures.pop(self._init_rid, None) if self._init_rid is not None else None
            if fut is not None and not fut.done():
                fut.set_result(ev.result)
            else:  # a transparent re-initialization (CLI-SESS-02)
                self.initialize_result = ev.result
        elif t is InputRequired:
            self._spawn(_answer_input(self, ev))
        elif t is Closed:
            if not self._closed.done():
                self._closed.set_result(None)
        elif t is SessionExpired:
            pass

    def _spawn(self, aw: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(aw)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    async def _exchange(self, req: HttpRequest) -> None:
        if self._h2 is not None and await self._h2.exchange(self, req):
            return  # carried over HTTP/2; False means the server speaks HTTP/1.1 only
        await self._h1.exchange(self, req)

    # reports to the core, for an exchange the core has not aborted (an HttpAbort cancels the
    # task, but the code between two awaits still runs: it must not report any more)

    def _live(self, xid: int) -> bool:
        return xid in self._tasks

    def _feed_response(self, xid: int, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        if self._live(xid):
            self._core.receive_response(xid, status, headers, now=self._loop.time())
            self._pump()

    def _feed_data(self, xid: int, data: bytes) -> None:
        if self._live(xid):
            self._core.receive_data(xid, data, now=self._loop.time())
            self._pump()

    def _feed_error(self, xid: int, error: BaseException | str) -> None:
        if self._live(xid):
            self._core.receive_error(xid, error, now=self._loop.time())
            self._pump()

    async def _room(self) -> None:
        """Backpressure: while too many server requests wait for a worker, stop reading the
        stream that brings them (its socket fills and the server stops sending)."""
        if not self._work_room.is_set() and asyncio.current_task() not in self._answering:
            await self._work_room.wait()


# -- server-to-client work: session-era requests and 2026-07-28 input requests ---------


async def _serve_worker(s: "ClientSession") -> None:
    """Answer queued server requests one at a time: run the handler, POST the answer and
    wait for that exchange to end, so answers in flight stay within the bound and their
    connections go back to the pool for the next one."""
    work = s._work
    while work:
        ev = work.popleft()
        if len(work) < s._max_workers * SERVER_WORK_QUEUE_FACTOR:
            s._work_room.set()
        xid = await _answer(s, ev)
        task = s._tasks.get(xid) if xid is not None else None
        if task is not None:
            s._answering.add(task)
            try:
                await asyncio.wait({task})
            finally:
                s._answering.discard(task)

async def _answer_input(s: "ClientSession", ev: InputRequired) -> None:
    """SEP-2322: answer an InputRequiredResult's requests with the handlers that serve
    server-to-client requests in the session era, then let the core retry the request.
    A missing handler or a failing one fails the request (as the official SDKs do)."""
    responses: dict[str, Any] = {}
    error: Exception | None = None
    for key, req in ev.requests.items():
        method = req.get("method")
        handler = s.handlers.get(method) if isinstance(method, str) else None
        if handler is None:
            error = McpError(-32601, f"no handler for input request {method!r}")
            break
        try:
            responses[key] = await handler(req.get("params"))
        except McpError as exc:
            error = exc
            break
        except Exception as exc:
            error = McpError(-32603, f"client handler failed: {exc}")
            break
    fut = s._futures.get(ev.rid)
    if fut is None or fut.done():
        return  # the caller gave up meanwhile
    if error is not None:
        s._futures.pop(ev.rid, None)
        s._core.cancel(ev.rid, "input request failed", now=s._loop.time())
        fut.set_exception(error)
    else:
        try:
            s._core.answer_input(ev.rid, responses, now=s._loop.time())
        except LocalProtocolError:
            return  # the request ended meanwhile (deadline): its failure is already out
    s._pump()

async def _answer(s: "ClientSession", ev: ServerRequest) -> int | None:
    handler = s.handlers.get(ev.method)
    now = s._loop.time
    core = s._core
    try:
        if handler is None:
            if ev.method == "ping":
                xid = core.respond(ev.id, {}, now=now())
            else:
                xid = core.respond_error(ev.id, -32601, f"Method not found: {ev.method}", None, now=now())
        else:
            try:
                result = await handler(ev.params)
            except McpError as exc:
                xid = core.respond_error(ev.id, exc.code, exc.message, exc.data, now=now())
            except Exception as exc:  # the handler failed: tell the server, keep the session
                xid = core.respond_error(ev.id, -32603, f"client handler failed: {exc}", None, now=now())
            else:
                xid = core.respond(ev.id, result, now=now())
    except LocalProtocolError:
        return None  # the session ended while the handler ran: nobody to answer
    s._pump()
    return xid

# -- HTTP/1.1 -------------------------------------------------------------


_END = object()


class Subscription:
    """One ``subscriptions/listen`` stream; see :meth:`ClientSession.listen`.

    ``acknowledged`` is the filter the server granted; ``subscription_id`` the
    id in ``_meta`` (it changes when the stream is re-issued); ``result`` the
    completion result once the server ended the stream gracefully.
    """

    def __init__(self, session: ClientSession, notifications: dict[str, Any], ack_timeout: float, max_queued: int) -> None:
        self.session = session
        self.filter = dict(notifications)
        self.ack_timeout = ack_timeout
        self.acknowledged: dict[str, Any] | None = None
        self.subscription_id: Any = None
        self.dropped = 0
        self._queue: asyncio.Queue[Any] = asyncio.Queue(max_queued)
        self._acked = session._loop.create_future()
        self._rid: int | None = None
        self._fut: asyncio.Future[Any] | None = None

    @property
    def result(self) -> dict[str, Any] | None:
        """The completion result, once the server ended the stream gracefully (SRV-SUB-04)."""
        fut = self._fut
        if fut is None or not fut.done() or fut.cancelled() or fut.exception() is not None:
            return None
        result: dict[str, Any] | None = fut.result()
        return result

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
        rid = s._core.send_request("subscriptions/listen", {"notifications": self.filter}, now=s._loop.time(),
                                   timeout=None)
        self._rid = rid
        s._subs[rid] = self
        fut = self._fut = s._futures[rid] = _future(s._loop)
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

    def _done(self, fut: asyncio.Future[Any]) -> None:
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
                note: ServerNotification = item
                return note
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
            s._core.cancel(rid, "listen closed by the client", now=s._loop.time())  # CANCEL-06: close the stream
            s._pump()
        if self._fut is not None and not self._fut.done():
            self._fut.cancel()


class connect:
    """``async with connect(url, ...) as session``: initialize on entry, DELETE on exit.

    Keyword arguments go to :class:`ClientSession` (``headers``, ``timeout``,
    ``handlers``, ``protocol_version``, ``listen``, and any
    :class:`~streamcore.client.ClientConfig` field such as
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
