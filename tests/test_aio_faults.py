"""Faults against the asyncio server, in process over real loopback sockets:
a client that vanishes mid-stream, a client that never reads, a second DELETE."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from streamcore._server import ServerConfig
from streamcore._store import MemoryEventStore
from streamcore.aio.server import RequestContext, StreamableHttpServer
from streamcore.sse import SseDecoder

ACCEPT = b"application/json, text/event-stream"


class SlowApp:
    """Streams `n` progress notifications of `size` bytes, then answers."""

    def __init__(self) -> None:
        self.finished = asyncio.Event()

    async def handle_request(self, ctx: RequestContext) -> Any:
        if ctx.method == "initialize":
            return {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "t", "version": "0"}}
        p = ctx.params or {}
        for i in range(p.get("n", 0)):
            await ctx.notify("notifications/message", {"level": "info", "data": "x" * p.get("size", 10), "i": i})
            await asyncio.sleep(p.get("delay", 0))
        self.finished.set()
        return {"done": True}

    async def handle_notification(self, session_id: str | None, method: str, params: Any) -> None:
        return None


async def http(port: int, method: bytes, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None,
               read: bool = True) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    h = [(b"host", b"127.0.0.1"), (b"accept", ACCEPT), (b"content-type", b"application/json"),
         (b"content-length", b"%d" % len(body))] + (headers or [])
    writer.write(method + b" /mcp HTTP/1.1\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in h) + b"\r\n" + body)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n") if read else b""
    return reader, writer, head


def session_of(head: bytes) -> bytes:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"mcp-session-id:"):
            return line.split(b":", 1)[1].strip()
    raise AssertionError(head)


async def start(app: Any, **kw: Any) -> tuple[StreamableHttpServer, Any, int]:
    hub = StreamableHttpServer(app, ServerConfig(event_store=MemoryEventStore(), retry_ms=100), **kw)
    srv = await hub.start("127.0.0.1", 0)
    return hub, srv, srv.sockets[0].getsockname()[1]


INIT = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                   "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}).encode()


def test_client_vanishes_mid_stream_and_resumes() -> None:
    """T-12, CANCEL-01, SRV-RESUME-05 over sockets: the client drops the POST stream after the
    priming event; the work completes; GET + Last-Event-ID replays the rest, response included."""
    async def run() -> list:
        app = SlowApp()
        hub, srv, port = await start(app)
        try:
            r, w, head = await http(port, b"POST", INIT)
            sid = session_of(head)
            w.close()
            call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                               "params": {"n": 3, "delay": 0.05}}).encode()
            hv = [(b"mcp-session-id", sid), (b"mcp-protocol-version", b"2025-11-25")]
            r, w, head = await http(port, b"POST", call, hv)
            dec = SseDecoder()
            first: list = []
            while not first:  # the priming event
                first = dec.feed(await r.read(4096))
            w.transport.abort()  # vanish
            await asyncio.wait_for(app.finished.wait(), 5)
            await asyncio.sleep(0.05)
            r, w, head = await http(port, b"GET", b"", hv + [(b"last-event-id", first[0].id.encode())])
            assert head.startswith(b"HTTP/1.1 200")
            dec = SseDecoder()
            msgs: list = []
            while not msgs or "result" not in msgs[-1]:
                chunk = await asyncio.wait_for(r.read(65536), 5)
                assert chunk, "stream ended before the response"
                msgs += [json.loads(e.data) for e in dec.feed(chunk.split(b"\r\n", 1)[-1]) if e.data]
            w.close()
            return msgs
        finally:
            srv.close()
    msgs = asyncio.run(asyncio.wait_for(run(), 20))
    assert [m.get("params", {}).get("i") for m in msgs[:-1]] == [0, 1, 2]
    assert msgs[-1] == {"jsonrpc": "2.0", "id": 1, "result": {"done": True}}


def test_client_that_never_reads_is_cut_off(caplog: Any) -> None:
    """Backpressure: a peer that never reads is aborted once max_write_buffer is exceeded;
    the server's memory stays bounded and it keeps serving others."""
    async def run() -> bytes:
        app = SlowApp()
        hub, srv, port = await start(app, max_write_buffer=256 * 1024)
        try:
            r, w, head = await http(port, b"POST", INIT)
            sid = session_of(head)
            hv = [(b"mcp-session-id", sid), (b"mcp-protocol-version", b"2025-11-25")]
            call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                               "params": {"n": 400, "size": 16384}}).encode()
            # Shrink our receive buffer and never read: the server's send buffer fills.
            import socket
            r2, w2, _ = await http(port, b"POST", call, hv, read=False)
            w2.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            await asyncio.wait_for(app.finished.wait(), 10)
            # The slow connection is gone from the routing table (aborted) ...
            assert all(not c.transport or c.transport.get_write_buffer_size() <= 256 * 1024 + 20000
                       for c in hub._route.values())
            # ... and others are still served.
            r3, w3, head3 = await http(port, b"POST", INIT)
            w2.close()
            w3.close()
            return head3
        finally:
            srv.close()
    with caplog.at_level("WARNING", logger="streamcore.server"):
        head = asyncio.run(asyncio.wait_for(run(), 30))
    assert head.startswith(b"HTTP/1.1 200")
    assert any("reads too slowly" in r.message for r in caplog.records)


def test_second_delete_is_404() -> None:
    """SRV-SESS-05, T-05: DELETE ends the session (200); a second DELETE gets 404."""
    async def run() -> tuple[bytes, bytes]:
        hub, srv, port = await start(SlowApp())
        try:
            r, w, head = await http(port, b"POST", INIT)
            sid = session_of(head)
            hv = [(b"mcp-session-id", sid), (b"mcp-protocol-version", b"2025-11-25")]
            _, w1, h1 = await http(port, b"DELETE", b"", hv)
            _, w2, h2 = await http(port, b"DELETE", b"", hv)
            for x in (w, w1, w2):
                x.close()
            return h1, h2
        finally:
            srv.close()
    h1, h2 = asyncio.run(asyncio.wait_for(run(), 10))
    assert h1.startswith(b"HTTP/1.1 200") and h2.startswith(b"HTTP/1.1 404")
