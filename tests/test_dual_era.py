"""One endpoint, both eras (SRV-COMPAT-08): the session era and 2026-07-28 side by side,
sans-IO and with the official Python SDK client in each mode."""

from __future__ import annotations

import asyncio
import json

from _procs import streamcore_server
from _server_harness import Harness
from streamcore.events import RequestCancelled, RequestReceived

MODERN = "2026-07-28"


def modern_call(id_: int, name: str = "echo", args: dict | None = None) -> tuple[dict, list]:
    body = {
        "jsonrpc": "2.0", "id": id_, "method": "tools/call",
        "params": {"name": name, "arguments": args or {"text": "hi"},
                   "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN,
                             "io.modelcontextprotocol/clientCapabilities": {}}},
    }
    headers = [(b"mcp-method", b"tools/call"), (b"mcp-name", name.encode())]
    return body, headers


def test_both_eras_on_one_endpoint() -> None:
    """SRV-COMPAT-08, SRV-SESS-08: a legacy session and a modern request are served side by
    side; the modern reply mints no session and carries resultType."""
    h = Harness()
    sid = h.initialize()
    body, hdrs = modern_call(5)
    r = h.post(body, version=MODERN, headers=hdrs)
    (req,) = h.take(RequestReceived)
    assert req.session_id is None and req.protocol_version == MODERN
    h.respond(req.handle, {"content": [{"type": "text", "text": "hi"}]})
    assert r.status == 200 and r.session_id is None
    assert r.json() == {"jsonrpc": "2.0", "id": 5,
                        "result": {"content": [{"type": "text", "text": "hi"}], "resultType": "complete"}}
    legacy = h.post({"jsonrpc": "2.0", "id": 6, "method": "ping"}, session=sid, version="2025-11-25")
    (lreq,) = h.take(RequestReceived)
    assert lreq.session_id == sid
    h.respond(lreq.handle, {})
    assert legacy.messages() == [{"jsonrpc": "2.0", "id": 6, "result": {}}]


def test_modern_header_mismatch_and_unknown_method() -> None:
    """SRV-HDR-01, SRV-VER-05, SRV-VER-08: header/body mismatch is 400/-32020; -32601 is HTTP 404."""
    h = Harness()
    body, hdrs = modern_call(1)
    bad = h.post(body, version=MODERN, headers=[(b"mcp-method", b"tools/list"), (b"mcp-name", b"echo")])
    assert bad.status == 400 and bad.json()["error"]["code"] == -32020
    body, hdrs = modern_call(2)
    r = h.post(body, version=MODERN, headers=hdrs)
    (req,) = h.take(RequestReceived)
    h.respond(req.handle, error=(-32601, "Method not found"))
    assert r.status == 404 and r.json()["error"]["code"] == -32601


def test_modern_disconnect_cancels() -> None:
    """CANCEL-06, AMB-09: closing a modern request's connection cancels it; nothing more is sent."""
    h = Harness()
    body, hdrs = modern_call(3)
    r = h.post(body, version=MODERN, headers=hdrs)
    (req,) = h.take(RequestReceived)
    h.server.connection_lost(r.xid, now=h.now)
    h.pump()
    (c,) = h.take(RequestCancelled)
    assert c.handle == req.handle
    h.respond(req.handle, {"late": True})
    assert r.status is None


def test_modern_only_server() -> None:
    """SRV-COMPAT-06/07, SRV-GET-08: a modern-only server answers GET/DELETE 405 Allow: POST and
    initialize 400 -32022 naming its versions."""
    h = Harness(legacy=False)
    g = h.send(b"GET", accept=b"text/event-stream")
    d = h.send(b"DELETE")
    assert g.status == d.status == 405 and g.headers[b"allow"] == b"POST"
    r = h.post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}})
    assert r.status == 400 and r.json()["error"]["code"] == -32022
    assert MODERN in r.json()["error"]["data"]["supported"]


def test_official_sdk_client_in_both_eras() -> None:
    """Interop: the official `mcp` 2.3.0 client talks to our demo server in the per-request era
    (server/discover, tools/call with progress) and in the session era (initialize), one endpoint."""
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def run(url: str) -> tuple:
        progress: list = []

        async def on_progress(p, total, msg):  # noqa: ANN001
            progress.append(p)

        async with streamable_http_client(url) as (r, w):
            async with ClientSession(r, w) as s:
                d = await s.discover()
                modern_tools = [t.name for t in (await s.list_tools()).tools]
                echo = (await s.call_tool("echo", {"text": "modern"})).content[0].text
                cd = (await s.call_tool("countdown", {"n": 2, "delay": 0.01}, progress_callback=on_progress)).content[0].text
        async with streamable_http_client(url) as (r, w):
            async with ClientSession(r, w) as s:
                init = await s.initialize()
                legacy_echo = (await s.call_tool("echo", {"text": "legacy"})).content[0].text
        return d.supported_versions, modern_tools, echo, cd, progress, init.protocol_version, legacy_echo

    with streamcore_server() as url:
        versions, tools, echo, cd, progress, legacy_version, legacy_echo = asyncio.run(asyncio.wait_for(run(url), 30))
    assert MODERN in versions and "echo" in tools
    assert (echo, cd, legacy_echo) == ("modern", "liftoff", "legacy")
    assert progress == [1.0, 2.0]
    assert legacy_version == "2025-11-25"


def test_listen_stream_over_sockets() -> None:
    """SRV-SUB-01..03 through the asyncio adapter: a subscriptions/listen POST is acknowledged
    first; StreamableHttpServer.publish reaches it with the subscription id in _meta; types it
    did not ask for never arrive."""
    from streamcore.server import ServerConfig
    from streamcore.aio.server import StreamableHttpServer
    from streamcore.demo import DemoApp
    from streamcore.chunked import ChunkedDecoder
    from streamcore.sse import SseDecoder

    async def run() -> list:
        hub = StreamableHttpServer(DemoApp(), ServerConfig())
        srv = await hub.start("127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        try:
            body = json.dumps({
                "jsonrpc": "2.0", "id": "L1", "method": "subscriptions/listen",
                "params": {"notifications": {"toolsListChanged": True},
                           "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN,
                                     "io.modelcontextprotocol/clientCapabilities": {}}},
            }).encode()
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json, text/event-stream\r\n"
                    b"Content-Type: application/json\r\nMCP-Protocol-Version: 2026-07-28\r\n"
                    b"Mcp-Method: subscriptions/listen\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await w.drain()
            dec = SseDecoder()
            got: list = []
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += await asyncio.wait_for(r.read(4096), 5)
            head, _, rest = buf.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200")

            chunks = ChunkedDecoder()

            async def read_messages(n: int, rest: bytes = b"") -> None:
                data = rest
                while True:
                    for ev in dec.feed(chunks.feed(data)) if data else []:
                        if ev.data:
                            got.append(json.loads(ev.data))
                    if len(got) >= n:
                        return
                    data = await asyncio.wait_for(r.read(65536), 5)

            await read_messages(1, rest)
            hub.publish("notifications/resources/list_changed")  # not asked for
            hub.publish("notifications/tools/list_changed")
            await read_messages(2)
            w.close()
            return got
        finally:
            srv.close()

    got = asyncio.run(asyncio.wait_for(run(), 15))
    assert got[0]["method"] == "notifications/subscriptions/acknowledged"
    assert got[0]["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "L1"
    assert [m["method"] for m in got[1:]] == ["notifications/tools/list_changed"]
    assert got[1]["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "L1"


def test_modern_disconnect_cancels_the_handler_promptly() -> None:
    """CANCEL-06, AMB-09 through the asyncio adapter: when the client drops a 2026-07-28 request's
    connection, the handler task is cancelled at once (the session era keeps working: test_aio_faults)."""
    from typing import Any

    from streamcore.server import ServerConfig
    from streamcore.aio.server import RequestContext, StreamableHttpServer

    class App:
        def __init__(self) -> None:
            self.cancelled: list[str] = []
            self.started: asyncio.Event = asyncio.Event()

        async def handle_request(self, ctx: RequestContext) -> Any:
            if ctx.method == "initialize":
                return {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "t", "version": "0"}}
            self.started.set()
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                self.cancelled.append(ctx.protocol_version)
                raise
            return {}

        async def handle_notification(self, *a: Any) -> None:
            return None

    async def run() -> tuple[list, float]:
        app = App()
        hub = StreamableHttpServer(app, ServerConfig())
        srv = await hub.start("127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        try:
            body, hdrs = modern_call(1)
            raw = json.dumps(body).encode()
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json, text/event-stream\r\n"
                    b"Content-Type: application/json\r\nMCP-Protocol-Version: 2026-07-28\r\n"
                    + b"".join(k + b": " + v + b"\r\n" for k, v in hdrs)
                    + b"Content-Length: %d\r\n\r\n" % len(raw) + raw)
            await w.drain()
            await asyncio.wait_for(app.started.wait(), 5)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            w.transport.abort()
            while not app.cancelled and loop.time() - t0 < 2:
                await asyncio.sleep(0.005)
            return app.cancelled, loop.time() - t0
        finally:
            srv.close()

    cancelled, took = asyncio.run(asyncio.wait_for(run(), 10))
    assert cancelled == [MODERN]
    assert took < 1.0  # "promptly": well before the handler's 5 s of work
