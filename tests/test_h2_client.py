"""``streamcore.aio.client.connect(url, http2=True)``: one h2 connection per origin.

Against our own server (h2c with prior knowledge, and h2 by ALPN over TLS
with a certificate made at test time), both eras, and the HTTP/1.1 fallback.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from typing import Any, Awaitable, Callable

import pytest

from streamcore.aio.client import connect
from streamcore.aio.server import RequestContext, StreamableHttpServer
from streamcore.demo import DemoApp
from streamcore.server import ServerConfig
from streamcore.store import MemoryEventStore


def run(fn: Callable[[StreamableHttpServer, str], Awaitable[Any]], *, scheme: str = "http",
        ssl_ctx: ssl.SSLContext | None = None, **kw: Any) -> Any:
    async def main() -> Any:
        app = kw.pop("app", None) or DemoApp()
        hub = StreamableHttpServer(app, kw.pop("config", None) or ServerConfig(event_store=MemoryEventStore()), **kw)
        srv = await hub.start("127.0.0.1", 0, ssl=ssl_ctx)
        port = srv.sockets[0].getsockname()[1]
        try:
            return await asyncio.wait_for(fn(hub, f"{scheme}://127.0.0.1:{port}/mcp"), 60)
        finally:
            srv.close()
    return asyncio.run(main())


def _h2_conns(hub: StreamableHttpServer) -> int:
    return len(hub.h2_listener.connections) if hub.h2_listener is not None else 0


def test_session_era_multiplexed_on_one_connection() -> None:
    """initialize, the GET listening stream, a call with progress and 200 concurrent calls:
    all streams of one HTTP/2 connection."""
    async def body(hub: StreamableHttpServer, url: str) -> None:
        async with connect(url, http2=True, era="legacy") as s:
            assert s.era == "legacy"
            prog: list[Any] = []
            r = await s.call_tool("countdown", {"n": 3, "delay": 0}, progress=lambda *a: prog.append(a[0]))
            assert r["content"][0]["text"] == "liftoff" and prog == [1, 2, 3]
            rs = await asyncio.gather(*[s.call_tool("echo", {"text": str(i)}) for i in range(200)])
            assert [x["content"][0]["text"] for x in rs] == [str(i) for i in range(200)]
            # the listening GET stream is open on the same connection: a notification arrives
            conn = next(iter(hub.h2_listener.connections))
            for _ in range(100):  # after initialize, the one open stream is the GET
                if len(conn.streams) == 1:
                    break
                await asyncio.sleep(0.02)
            hub.notify(s.session_id or "", "notifications/message", {"level": "info", "data": "hi"})
            it = s.notifications().__aiter__()
            note = await asyncio.wait_for(it.__anext__(), 5)
            assert note.method == "notifications/message"
            assert _h2_conns(hub) == 1
    run(body)


def test_modern_era_listen_over_h2() -> None:
    """2026-07-28: server/discover, a call, and a subscriptions/listen stream over h2."""
    async def body(hub: StreamableHttpServer, url: str) -> None:
        async with connect(url, http2=True, era="modern") as s:
            assert s.era == "modern"
            rs = await asyncio.gather(*[s.call_tool("echo", {"text": str(i)}) for i in range(50)])
            assert len(rs) == 50
            async with s.listen({"toolsListChanged": True}) as sub:
                hub.publish("notifications/tools/list_changed")
                note = await asyncio.wait_for(sub.__anext__(), 5)
                assert note.method == "notifications/tools/list_changed"
            assert _h2_conns(hub) == 1
    run(body)


def test_falls_back_to_http11() -> None:
    """A server without HTTP/2: the preface gets an HTTP/1.1 answer; the session runs on HTTP/1.1."""
    async def body(hub: StreamableHttpServer, url: str) -> None:
        async with connect(url, http2=True) as s:
            r = await s.call_tool("echo", {"text": "x"})
            assert r["content"][0]["text"] == "x"
            assert s._h2.http1_only  # remembered: no second h2 attempt
    run(body, http2=False)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: Any) -> Any:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cafile = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    return cert, str(cafile)


def _with_ca(cafile: str) -> Any:
    old = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = cafile  # the client trusts the default paths, which read this
    return old


def _restore(old: Any) -> None:
    if old is None:
        os.environ.pop("SSL_CERT_FILE", None)
    else:
        os.environ["SSL_CERT_FILE"] = old


@pytest.mark.parametrize("server_h2", [True, False], ids=["alpn-h2", "alpn-http1.1"])
def test_tls_alpn(tls: Any, server_h2: bool) -> None:
    """https: ALPN picks h2 when the server offers it, else the client falls back to HTTP/1.1."""
    cert, cafile = tls
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)

    async def body(hub: StreamableHttpServer, url: str) -> None:
        async with connect(url, http2=True) as s:
            r = await s.call_tool("echo", {"text": "tls"})
            assert r["content"][0]["text"] == "tls"
            assert bool(s._h2.http1_only) is not server_h2
            assert _h2_conns(hub) == (1 if server_h2 else 0)

    old = _with_ca(cafile)
    try:
        run(body, scheme="https", ssl_ctx=ctx, http2=server_h2)
    finally:
        _restore(old)


class _Dropper(DemoApp):
    """A tool that closes its stream's connection midway (SRV-SSE-09): the client resumes."""

    async def handle_request(self, ctx: RequestContext) -> Any:
        if ctx.method == "tools/call" and isinstance(ctx.params, dict) and ctx.params.get("name") == "drop":
            await ctx.progress(1, 2)
            await asyncio.sleep(0.05)
            await ctx.disconnect()
            await asyncio.sleep(0.1)
            await ctx.progress(2, 2)
            return {"content": [{"type": "text", "text": "after the drop"}], "isError": False}
        return await super().handle_request(ctx)


def test_stream_reset_midway_resumes() -> None:
    """The server ends a call's stream midway (its RST on HTTP/2 in place of a closed
    connection): the client resumes with Last-Event-ID, recovery rules unchanged."""
    async def body(hub: StreamableHttpServer, url: str) -> None:
        async with connect(url, http2=True, era="legacy") as s:
            prog: list[Any] = []
            r = await s.call_tool("drop", {}, progress=lambda *a: prog.append(a[0]))
            assert r["content"][0]["text"] == "after the drop"
            assert prog == [1, 2]
            assert s.stats["resumptions"] >= 1
    run(body, app=_Dropper(), config=ServerConfig(event_store=MemoryEventStore(), retry_ms=10))


class _Slow(DemoApp):
    """A tool that runs until cancelled, and says when it started and when it was cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def handle_request(self, ctx: RequestContext) -> Any:
        if ctx.method == "tools/call" and isinstance(ctx.params, dict) and ctx.params.get("name") == "slow":
            self.started.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        return await super().handle_request(ctx)


def test_cancelled_call_resets_its_stream() -> None:
    """Cancelling a call: its HTTP/2 stream is reset and the server's handler is cancelled
    (notifications/cancelled); the connection carries on."""
    app = _Slow()

    async def body(hub: StreamableHttpServer, url: str) -> None:
        app.started, app.cancelled = asyncio.Event(), asyncio.Event()  # on this loop
        async with connect(url, http2=True, listen=False) as s:
            task = asyncio.ensure_future(s.call_tool("slow", {}))
            await asyncio.wait_for(app.started.wait(), 10)
            conn = next(iter(hub.h2_listener.connections))
            assert len(conn.streams) == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.wait_for(app.cancelled.wait(), 10)
            for _ in range(100):
                if not conn.streams:
                    break
                await asyncio.sleep(0.02)
            assert not conn.streams
            r = await s.call_tool("echo", {"text": "still here"})
            assert r["content"][0]["text"] == "still here"
            assert _h2_conns(hub) == 1
    run(body, app=app)
