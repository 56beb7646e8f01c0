"""Serve an official MCP Python SDK server (``mcp``) over streamcore's transport.

Change one line::

    app = mcp_server.streamable_http_app()           # the SDK's transport
    app = streamcore.mcp_sdk.streamable_http_app(mcp_server)   # streamcore's

or run it on streamcore's own asyncio engine, with no ASGI server at all::

    await streamcore.mcp_sdk.serve(mcp_server, host="127.0.0.1", port=8000)

``mcp_server`` is a low-level ``mcp.server.lowlevel.Server`` or the SDK's
high-level ``mcp.server.MCPServer`` (formerly FastMCP). The adapter is thin:
the SDK's own kernel (``mcp.server.runner.ServerRunner`` / ``serve_one``)
validates, dispatches and serialises every request exactly as under the SDK's
transport, with the SDK's ``Connection`` per session, its lifespan entered
once, and a ``DispatchContext`` whose back-channel is streamcore's request
stream (progress, logging, sampling, elicitation, roots). streamcore does the
HTTP: sessions, SSE, resumability, both protocol eras, limits. See
``docs/mcp-sdk.md`` for the option mapping and what differs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import anyio
from mcp.server.connection import Connection
from mcp.server.lowlevel.server import Server as LowLevelServer
from mcp.server.runner import ServerRunner, aclose_shielded, modern_error_data, serve_one
from mcp.shared.dispatcher import CallOptions
from mcp.shared.exceptions import MCPError, NoBackChannelError
from mcp.shared.jsonrpc_dispatcher import handler_exception_to_error_data
from mcp.shared.message import ServerMessageMetadata
from mcp.shared.transport_context import TransportContext
from mcp_types import DEFAULT_NEGOTIATED_VERSION, CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from .aio.server import ClientRequestFailed, McpError, RequestContext, StreamableHttpServer
from .asgi import StreamableHttpApp, TrustedProxies
from .cors import CorsPolicy
from .server import ModernConfig, ServerConfig
from .store import EventStore

__all__ = ["SdkApp", "streamable_http_app", "serve", "server_config", "SUPPORTED_MCP_VERSIONS"]

log = logging.getLogger("streamcore.mcp_sdk")

#: The ``mcp`` releases this adapter is tested against (it uses the SDK's
#: kernel API, ``mcp.server.runner``, which the SDK calls provisional in 2.x).
SUPPORTED_MCP_VERSIONS = ("2.3.0",)

_TRANSPORT_KIND = "streamable-http"


def _lowlevel(server: Any) -> LowLevelServer[Any]:
    if isinstance(server, LowLevelServer):
        return server
    # mcp.server.MCPServer keeps its low-level server in _lowlevel_server, the
    # standalone fastmcp.FastMCP (4.x) in _mcp_server: both are the SDK's Server.
    for attr in ("_lowlevel_server", "_mcp_server"):
        inner = getattr(server, attr, None)
        if isinstance(inner, LowLevelServer):
            return inner
    raise TypeError(f"expected an mcp Server, MCPServer or fastmcp.FastMCP, got {type(server).__name__}")


class _Dispatch:
    """The SDK's ``DispatchContext`` for one request, over streamcore's :class:`RequestContext`."""

    def __init__(self, ctx: RequestContext | None, request_id: Any, *, can_send_request: bool,
                 hub: StreamableHttpServer | None = None, session_id: str | None = None) -> None:
        self._ctx = ctx
        self.request_id = request_id
        self.can_send_request = can_send_request
        self.transport = TransportContext(kind=_TRANSPORT_KIND, can_send_request=can_send_request)
        self.cancel_requested = anyio.Event()
        close_sse = close_get = None
        if ctx is not None and ctx.session_id is not None and ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            close_sse = ctx.disconnect
            close_get = _close_get(ctx.server, ctx.session_id)
        elif hub is not None and session_id is not None:
            close_get = _close_get(hub, session_id)
        self.message_metadata = ServerMessageMetadata(
            related_request_id=request_id, close_sse_stream=close_sse, close_standalone_sse_stream=close_get,
            can_send_request=can_send_request,
        )

    async def send_raw_request(self, method: str, params: Mapping[str, Any] | None,
                               opts: CallOptions | None = None) -> dict[str, Any]:
        if not self.can_send_request or self._ctx is None:
            raise NoBackChannelError(method)
        timeout = (opts or {}).get("timeout", 60.0)
        try:
            result = await self._ctx.request(method, dict(params) if params is not None else None, timeout=timeout)
        except ClientRequestFailed as exc:
            raise MCPError(code=exc.code, message=exc.message, data=exc.data) from None
        return result if isinstance(result, dict) else {}

    async def notify(self, method: str, params: Mapping[str, Any] | None, opts: CallOptions | None = None) -> None:
        if self._ctx is None:
            return
        try:
            await self._ctx.notify(method, dict(params) if params is not None else None)
        except Exception:  # best effort, as the SDK's own transports: a full queue drops it
            log.debug("dropped %s", method, exc_info=True)

    async def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        if self._ctx is not None:
            await self._ctx.progress(progress, total, message)


def _close_get(hub: StreamableHttpServer, session_id: str) -> Callable[[], Any]:
    async def close() -> None:
        hub.core.disconnect_session(session_id, now=hub._now())
        hub._drain()
    return close


class _SessionOutbound:
    """A session's standalone channel (the GET stream) as the SDK's ``Outbound``."""

    def __init__(self, hub: StreamableHttpServer, session_id: str) -> None:
        self._hub = hub
        self._sid = session_id

    async def send_raw_request(self, method: str, params: Mapping[str, Any] | None,
                               opts: CallOptions | None = None) -> dict[str, Any]:
        timeout = (opts or {}).get("timeout", 60.0)
        try:
            result = await self._hub.request(self._sid, method, dict(params) if params is not None else None,
                                             timeout=timeout)
        except ClientRequestFailed as exc:
            raise MCPError(code=exc.code, message=exc.message, data=exc.data) from None
        return result if isinstance(result, dict) else {}

    async def notify(self, method: str, params: Mapping[str, Any] | None, opts: CallOptions | None = None) -> None:
        try:
            self._hub.notify(self._sid, method, dict(params) if params is not None else None)
        except Exception:
            log.debug("dropped %s for session %s", method, self._sid, exc_info=True)


class SdkApp:
    """A :class:`streamcore.aio.App` that runs an ``mcp`` SDK server's own kernel.

    Served by :func:`streamable_http_app` (ASGI) and :func:`serve` (asyncio);
    build it yourself to hand it to :class:`streamcore.aio.StreamableHttpServer`
    or :class:`streamcore.asgi.StreamableHttpApp` with settings of your own
    (call :meth:`bind` with that hub first).
    """

    def __init__(self, server: Any, *, stateless: bool = False, json_response: bool = False) -> None:
        self.server = _lowlevel(server)
        self.stateless = stateless
        self.json_response = json_response
        self.hub: StreamableHttpServer | None = None
        self._runners: dict[str, ServerRunner[Any]] = {}
        self._lifespan_state: Any = None
        self._stop: asyncio.Event | None = None
        self._lifespan_task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[Any] | None = None

    @property
    def lifespan_state(self) -> Any:
        """What the SDK server's lifespan yielded (None before :meth:`startup`)."""
        return self._lifespan_state

    def bind(self, hub: StreamableHttpServer) -> None:
        """The hub serving this app (for the session's standalone channel)."""
        self.hub = hub

    # -- lifespan: the SDK server's own, entered once ------------------------------

    async def startup(self) -> None:
        """Enter the SDK server's lifespan (in a task of its own, which holds it open until :meth:`shutdown`)."""
        if self._ready is not None:  # started, or being started by a concurrent first request
            self._lifespan_state = await asyncio.shield(self._ready)
            return
        self._ready = ready = asyncio.get_running_loop().create_future()
        self._stop = stop = asyncio.Event()

        async def hold() -> None:
            try:
                async with self.server.lifespan(self.server) as state:
                    ready.set_result(state)
                    await stop.wait()
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc)
                raise

        self._lifespan_task = asyncio.ensure_future(hold())
        self._lifespan_state = await ready

    async def shutdown(self) -> None:
        """Close every session's SDK connection, then leave the lifespan."""
        runners, self._runners = self._runners, {}
        for r in runners.values():
            await aclose_shielded(r.connection)
        if self._stop is not None and self._lifespan_task is not None:
            self._stop.set()
            try:
                await self._lifespan_task
            except Exception:
                log.exception("the SDK server's lifespan failed on exit")
            self._lifespan_task = None
            self._ready = None

    # -- the App seam ------------------------------------------------------------------

    def _runner(self, session_id: str) -> ServerRunner[Any]:
        r = self._runners.get(session_id)
        if r is None:
            assert self.hub is not None, "SdkApp.bind(hub) was not called"
            connection = Connection.for_loop(_SessionOutbound(self.hub, session_id), session_id=session_id)
            r = self._runners[session_id] = ServerRunner(self.server, connection, self._lifespan_state)
        return r

    async def handle_request(self, ctx: RequestContext) -> Any:
        if self._ready is None or not self._ready.done():
            await self.startup()
        params = ctx.params if isinstance(ctx.params, dict) else None
        modern = ctx.protocol_version in MODERN_PROTOCOL_VERSIONS
        try:
            if modern:
                meta = (params or {}).get("_meta") or {}
                connection = Connection.from_envelope(
                    ctx.protocol_version, meta.get(CLIENT_INFO_META_KEY), meta.get(CLIENT_CAPABILITIES_META_KEY))
                dctx = _Dispatch(ctx, ctx.request_id, can_send_request=False)
                return await serve_one(self.server, dctx, ctx.method, params, connection=connection,
                                       lifespan_state=self._lifespan_state)
            if self.stateless or ctx.session_id is None:
                # The SDK's stateless mode: a born-ready connection per request, no back-channel.
                connection = Connection.from_envelope(ctx.protocol_version or DEFAULT_NEGOTIATED_VERSION, None, None)
                dctx = _Dispatch(ctx, ctx.request_id, can_send_request=False)
                return await serve_one(self.server, dctx, ctx.method, params, connection=connection,
                                       lifespan_state=self._lifespan_state)
            dctx = _Dispatch(ctx, ctx.request_id, can_send_request=not self.json_response)
            return await self._runner(ctx.session_id).on_request(dctx, ctx.method, params)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = handler_exception_to_error_data(exc)
            if error is None:
                if modern:
                    error = modern_error_data(exc)
                else:  # what the SDK's own dispatcher sends for an unmapped exception
                    log.exception("handler for %r raised", ctx.method)
                    raise McpError(0, str(exc)) from None
            raise McpError(error.code, error.message, error.data) from None

    async def handle_notification(self, session_id: str | None, method: str, params: Any) -> None:
        if session_id is None or self.stateless:
            return  # the SDK's per-request and stateless entries acknowledge and drop notifications
        if self._ready is None or not self._ready.done():
            await self.startup()
        dctx = _Dispatch(None, None, can_send_request=False, hub=self.hub, session_id=session_id)
        await self._runner(session_id).on_notify(dctx, method, params if isinstance(params, dict) else None)

    async def handle_session_closed(self, session_id: str, reason: str) -> None:
        """The session ended (DELETE, expiry, close): unwind its SDK connection."""
        r = self._runners.pop(session_id, None)
        if r is not None:
            await aclose_shielded(r.connection)


def server_config(
    config: ServerConfig | None = None, *, json_response: bool = False, event_store: EventStore | None = None,
    retry_interval: int | None = None, session_idle_timeout: float | None = None,
    max_sessions: int | None = None, max_request_body_size: int | None = None,
) -> ServerConfig:
    """A :class:`ServerConfig` from the SDK-style options (see the mapping in ``docs/mcp-sdk.md``)."""
    if config is not None:
        return config
    kw: dict[str, Any] = {"json_response": json_response,
                          "modern": ModernConfig(reply_mode="json" if json_response else "auto")}
    if event_store is not None:
        kw["event_store"] = event_store
    if retry_interval is not None:
        kw["retry_ms"] = retry_interval
    if session_idle_timeout is not None:
        kw["session_idle_timeout"] = session_idle_timeout
    if max_sessions is not None:
        kw["max_sessions"] = max_sessions
    if max_request_body_size is not None:
        kw["max_body_size"] = max_request_body_size
    return ServerConfig(**kw)


def streamable_http_app(
    server: Any, *, config: ServerConfig | None = None, stateless: bool = False, json_response: bool = False,
    event_store: EventStore | None = None, retry_interval: int | None = None,
    session_idle_timeout: float | None = None, max_sessions: int | None = None,
    max_request_body_size: int | None = None, cors: CorsPolicy | None = None,
    trusted_proxies: TrustedProxies | None = None,
) -> StreamableHttpApp:
    """An ASGI app serving the SDK server ``server`` at the path it is mounted on (lifespan optional)."""
    cfg = server_config(config, json_response=json_response, event_store=event_store, retry_interval=retry_interval,
                        session_idle_timeout=session_idle_timeout, max_sessions=max_sessions,
                        max_request_body_size=max_request_body_size)
    app = SdkApp(server, stateless=stateless, json_response=cfg.json_response)
    asgi = StreamableHttpApp(app, cfg, cors=cors, trusted_proxies=trusted_proxies)
    app.bind(asgi.hub)
    return asgi


async def serve(
    server: Any, host: str = "127.0.0.1", port: int = 8000, *, config: ServerConfig | None = None,
    stateless: bool = False, json_response: bool = False, event_store: EventStore | None = None,
    retry_interval: int | None = None, ready: Callable[[int], None] | None = None, http1: str = "fast",
) -> None:
    """Serve the SDK server on streamcore's asyncio engine until cancelled; ``ready(port)`` once listening."""
    cfg = server_config(config, json_response=json_response, event_store=event_store, retry_interval=retry_interval)
    app = SdkApp(server, stateless=stateless, json_response=cfg.json_response)
    hub = StreamableHttpServer(app, cfg, http1=http1)
    app.bind(hub)
    await app.startup()
    try:
        srv = await hub.start(host, port)
        if ready is not None:
            ready(srv.sockets[0].getsockname()[1])
        async with srv:
            await srv.serve_forever()
    finally:
        await app.shutdown()
