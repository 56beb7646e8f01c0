"""Attacks on the asyncio adapter and its HTTP/1.1 engines (issue 10), in
process over real loopback sockets, each bounded in time: inbound
backpressure, time limits and caps, burst output, a readable 413, peer
numbers, heads and targets, and the h11 engine's guarantees.

Every test runs on both engines where the attack applies to both, and fails
if the adapter logs a traceback (``no_tracebacks``).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import socket
from typing import Any, Awaitable, Callable

import pytest

from _logwatch import no_tracebacks  # noqa: F401  (fixture)
from streamcore.aio.server import RequestContext, StreamableHttpServer
from streamcore.server import ServerConfig
from streamcore.store import MemoryEventStore

ENGINES = ["fast", "h11"]
INIT = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                   "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}).encode()


class App:
    """initialize; tools/call streams `n` notifications of `size` bytes (yielding
    unless `burst`), recording the hub's buffered output after each."""

    def __init__(self) -> None:
        self.hub: StreamableHttpServer | None = None
        self.peak = 0
        self.done = asyncio.Event()

    async def handle_request(self, ctx: RequestContext) -> Any:
        if ctx.method == "initialize":
            return {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "t", "version": "0"}}
        p = ctx.params or {}
        try:
            for i in range(p.get("n", 0)):
                await ctx.notify("notifications/message", {"level": "info", "data": "x" * p.get("size", 10), "i": i})
                assert self.hub is not None
                self.peak = max(self.peak, self.hub.buffered_output)
                if not p.get("burst"):
                    await asyncio.sleep(p.get("delay", 0))
            if p.get("sleep"):
                await asyncio.sleep(p["sleep"])
        finally:
            self.done.set()
        return {"done": True}

    async def handle_notification(self, session_id: str | None, method: str, params: Any) -> None:
        return None


async def start(app: App | None = None, *, config: ServerConfig | None = None,
                **kw: Any) -> tuple[StreamableHttpServer, Any, int]:
    app = app or App()
    hub = StreamableHttpServer(app, config or ServerConfig(event_store=MemoryEventStore(), retry_ms=100), **kw)
    app.hub = hub
    srv = await hub.start("127.0.0.1", 0)
    return hub, srv, srv.sockets[0].getsockname()[1]


def request(method: bytes, body: bytes = b"", extra: list[tuple[bytes, bytes]] | None = None,
            target: bytes = b"/mcp") -> bytes:
    h = [(b"host", b"127.0.0.1"), (b"accept", b"application/json, text/event-stream"),
         (b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))] + (extra or [])
    return method + b" " + target + b" HTTP/1.1\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in h) + b"\r\n" + body


async def read_head(r: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)


async def read_all(r: asyncio.StreamReader, timeout: float = 5) -> bytes:
    return await asyncio.wait_for(r.read(), timeout)


def session_of(head: bytes) -> bytes:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"mcp-session-id:"):
            return line.split(b":", 1)[1].strip()
    raise AssertionError(head)


async def session(port: int) -> list[tuple[bytes, bytes]]:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(request(b"POST", INIT))
    head = await read_head(r)
    w.close()
    return [(b"mcp-session-id", session_of(head)), (b"mcp-protocol-version", b"2025-11-25")]


def run(coro: Callable[[], Awaitable[Any]], timeout: float = 20) -> Any:
    async def main() -> Any:
        return await asyncio.wait_for(coro(), timeout)
    return asyncio.run(main())


# -- 1. inbound backpressure --------------------------------------------------


@pytest.mark.parametrize("http1", ENGINES)
def test_bytes_pipelined_behind_an_open_stream_pause_reading(http1: str, no_tracebacks: Any) -> None:
    """Issue 10: 8 MiB sent behind an open GET stream stay in the kernel, not in the
    engine: the server buffers at most about max_inbound_buffer plus one read."""
    async def body() -> int:
        hub, srv, port = await start(http1=http1, max_inbound_buffer=64 * 1024)
        try:
            hv = await session(port)
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(request(b"GET", b"", hv))
            assert (await read_head(r)).startswith(b"HTTP/1.1 200")
            junk = request(b"POST", b"x" * 60000, hv) * 140  # ~8.4 MiB of pipelined requests
            w.write(junk)
            peak = 0
            for _ in range(30):
                await asyncio.sleep(0.05)
                peak = max(peak, hub.buffered_input)
            # the client could not send it all: the server stopped reading
            assert w.transport.get_write_buffer_size() > 0
            w.transport.abort()
            return peak
        finally:
            srv.close()
            await hub.aclose(0)
    peak = run(body)
    assert 0 < peak <= 64 * 1024 + 256 * 1024


# -- 2. time limits and caps ----------------------------------------------------


@pytest.mark.parametrize("http1", ENGINES)
def test_head_timeout_answers_408_and_closes(http1: str, no_tracebacks: Any) -> None:
    """A head trickled slower than head_timeout gets 408 and the connection closes."""
    async def body() -> tuple[bytes, float]:
        hub, srv, port = await start(http1=http1, head_timeout=0.5)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            t0 = asyncio.get_running_loop().time()
            for b in b"POST /mcp HTTP/1.1\r\nHost: 1":
                if r.at_eof() or w.transport.is_closing() or r._buffer:  # the answer is here
                    break
                try:
                    w.write(bytes([b]))
                except (ConnectionError, OSError):
                    break
                await asyncio.sleep(0.05)
            data = await read_all(r)
            return data, asyncio.get_running_loop().time() - t0
        finally:
            srv.close()
            await hub.aclose(0)
    data, took = run(body)
    assert data.startswith(b"HTTP/1.1 408"), data
    assert 0.4 <= took < 3


@pytest.mark.parametrize("http2", [None, False], ids=["h2-sniffing", "http1-only"])
@pytest.mark.parametrize("http1", ENGINES)
def test_silent_connection_is_closed_after_head_timeout(http1: str, http2: bool | None, no_tracebacks: Any) -> None:
    """A connection that never sends a byte is closed (quietly) at head_timeout, also
    while HTTP/2 on the same port waits for the first bytes to choose a protocol."""
    async def body() -> tuple[bytes, float]:
        hub, srv, port = await start(http1=http1, head_timeout=0.3, http2=http2)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            t0 = asyncio.get_running_loop().time()
            data = await read_all(r)
            return data, asyncio.get_running_loop().time() - t0
        finally:
            srv.close()
            await hub.aclose(0)
    data, took = run(body)
    assert data == b"" and 0.25 <= took < 3


@pytest.mark.parametrize("http1", ENGINES)
def test_keep_alive_idle_timeout(http1: str, no_tracebacks: Any) -> None:
    """After a response, an idle keep-alive connection is closed at keep_alive_timeout,
    and one that sends its next request in time is served."""
    async def body() -> tuple[float, bytes]:
        hub, srv, port = await start(http1=http1, keep_alive_timeout=0.4)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(request(b"POST", INIT))
            head = await read_head(r)
            n = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0]) if b"content-length" in head.lower() else 0
            if n:
                await r.readexactly(n)
            else:  # SSE: read to the end of the chunked body
                await asyncio.wait_for(r.readuntil(b"0\r\n\r\n"), 5)
            await asyncio.sleep(0.2)  # within the limit: still usable
            w.write(request(b"POST", INIT))
            second = await read_head(r)
            if b"content-length" in second.lower():
                await r.readexactly(int(second.lower().split(b"content-length: ")[1].split(b"\r\n")[0]))
            else:
                await asyncio.wait_for(r.readuntil(b"0\r\n\r\n"), 5)
            t0 = asyncio.get_running_loop().time()
            rest = await read_all(r)
            assert rest == b""
            return asyncio.get_running_loop().time() - t0, second
        finally:
            srv.close()
            await hub.aclose(0)
    took, second = run(body)
    assert second.startswith(b"HTTP/1.1 200")
    assert 0.3 <= took < 3


@pytest.mark.parametrize("http1", ENGINES)
def test_body_timeout_answers_408(http1: str, no_tracebacks: Any) -> None:
    """A body that stops arriving for body_timeout gets 408 and a close."""
    async def body() -> tuple[bytes, float]:
        hub, srv, port = await start(http1=http1, body_timeout=0.4)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            raw = request(b"POST", INIT)
            w.write(raw[:-10])  # all but the last 10 body bytes
            t0 = asyncio.get_running_loop().time()
            data = await read_all(r)
            return data, asyncio.get_running_loop().time() - t0
        finally:
            srv.close()
            await hub.aclose(0)
    data, took = run(body)
    assert data.startswith(b"HTTP/1.1 408"), data
    assert 0.3 <= took < 3


def test_body_progress_resets_the_body_timeout(no_tracebacks: Any) -> None:
    """A body trickled faster than body_timeout (but slower in all) is served."""
    async def body() -> bytes:
        hub, srv, port = await start(body_timeout=0.3)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            raw = request(b"POST", INIT)
            cut = raw.index(b"\r\n\r\n") + 4
            w.write(raw[:cut])
            for i in range(cut, len(raw), 20):  # ~5 pieces, 0.15 s apart: 0.75 s in all
                w.write(raw[i:i + 20])
                await asyncio.sleep(0.15)
            return await read_head(r)
        finally:
            srv.close()
            await hub.aclose(0)
    assert run(body).startswith(b"HTTP/1.1 200")


class _Listener(App):
    async def handle_request(self, ctx: RequestContext) -> Any:
        if ctx.method == "tools/call":
            for _ in range(200):
                await ctx.notify("notifications/message", {"data": "y" * 32768})
                await asyncio.sleep(0)
            await asyncio.sleep(30)
        return await super().handle_request(ctx)


@pytest.mark.parametrize("http1", ENGINES)
def test_write_timeout_aborts_a_reader_that_stalls(http1: str, no_tracebacks: Any, caplog: Any) -> None:
    """A peer that stops reading is aborted write_timeout after its send buffer
    filled, even below max_write_buffer."""
    async def body() -> float:
        hub, srv, port = await start(_Listener(), http1=http1, write_timeout=0.5, max_write_buffer=64 * 1024 * 1024)
        try:
            hv = await session(port)
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
            call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {}}).encode()
            s.sendall(request(b"POST", call, hv))
            t0 = asyncio.get_running_loop().time()
            while hub.connections > 0 and asyncio.get_running_loop().time() - t0 < 8:
                await asyncio.sleep(0.05)
            took = asyncio.get_running_loop().time() - t0
            s.close()
            return took
        finally:
            srv.close()
            await hub.aclose(0)
    with caplog.at_level(logging.DEBUG, logger="streamcore.server"):
        took = run(body)
    assert took < 5
    assert any("write timeout" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("http2", [None, False], ids=["h2-sniffing", "http1-only"])
@pytest.mark.parametrize("http1", ENGINES)
def test_connection_cap_answers_503(http1: str, http2: bool | None, no_tracebacks: Any, caplog: Any) -> None:
    """max_connections open (silent ones count too): the next connection gets 503 with
    Retry-After, and one line in the log, not one per connection; a slot that frees is usable again."""
    async def body() -> tuple[list[bytes], bytes]:
        hub, srv, port = await start(http1=http1, max_connections=3, http2=http2)
        try:
            held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
            await asyncio.sleep(0.05)
            refused = []
            for _ in range(3):
                r, w = await asyncio.open_connection("127.0.0.1", port)
                refused.append(await read_all(r))
                w.close()
            held[0][1].close()
            await asyncio.sleep(0.1)
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(request(b"POST", INIT))
            ok = await read_head(r)
            for _, hw in held[1:]:
                hw.close()
            w.close()
            return refused, ok
        finally:
            srv.close()
            await hub.aclose(0)
    with caplog.at_level(logging.WARNING, logger="streamcore.server"):
        refused, ok = run(body)
    assert all(x.startswith(b"HTTP/1.1 503") and b"retry-after: 1" in x for x in refused)
    assert ok.startswith(b"HTTP/1.1 200")
    assert sum("max_connections" in r.getMessage() for r in caplog.records) == 1


# -- 3. burst output ------------------------------------------------------------


@pytest.mark.parametrize("http1", ENGINES)
def test_burst_output_meets_max_write_buffer(http1: str, no_tracebacks: Any, caplog: Any) -> None:
    """Issue 10: a handler emitting 2,000 16 KiB notifications without yielding is cut
    off at max_write_buffer; output queued for it never exceeds that by more than one event."""
    async def body() -> int:
        app = App()
        hub, srv, port = await start(app, http1=http1, max_write_buffer=1024 * 1024)
        try:
            hv = await session(port)
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", port))
            call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                               "params": {"n": 2000, "size": 16384, "burst": True}}).encode()
            s.sendall(request(b"POST", call, hv))
            await asyncio.wait_for(app.done.wait(), 10)
            s.close()
            return app.peak
        finally:
            srv.close()
            await hub.aclose(0)
    with caplog.at_level(logging.WARNING, logger="streamcore.server"):
        peak = run(body)
    assert peak <= 1024 * 1024 + 20000
    assert any("max_write_buffer" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("http1", ENGINES)
def test_global_output_cap(http1: str, no_tracebacks: Any, caplog: Any) -> None:
    """Two slow readers, each under max_write_buffer, together over
    max_total_write_buffer: the one that pushes the total over is aborted."""
    async def body() -> int:
        hub, srv, port = await start(_Listener(), http1=http1, max_write_buffer=64 * 1024 * 1024,
                                     max_total_write_buffer=2 * 1024 * 1024, write_timeout=60)
        try:
            hv = await session(port)
            socks = []
            for i in range(2):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.connect(("127.0.0.1", port))
                call = json.dumps({"jsonrpc": "2.0", "id": 10 + i, "method": "tools/call", "params": {}}).encode()
                s.sendall(request(b"POST", call, hv))
                socks.append(s)
            peak = 0
            for _ in range(40):
                await asyncio.sleep(0.05)
                peak = max(peak, hub.buffered_output)
            for s in socks:
                s.close()
            return peak
        finally:
            srv.close()
            await hub.aclose(0)
    with caplog.at_level(logging.WARNING, logger="streamcore.server"):
        peak = run(body)
    assert peak <= 2 * 1024 * 1024 + 40000
    assert any("max_total_write_buffer" in r.getMessage() for r in caplog.records)


# -- 4. a 413 the client can read -------------------------------------------------


@pytest.mark.parametrize("http1", ENGINES)
def test_413_is_readable_by_http_client(http1: str, no_tracebacks: Any) -> None:
    """Issue 10: a 5 MiB POST (over the 4 MiB default) with http.client reads its 413
    instead of meeting BrokenPipeError/ConnectionResetError."""
    async def body() -> tuple[int, bytes]:
        hub, srv, port = await start(http1=http1)
        try:
            def post() -> tuple[int, bytes]:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                c.request("POST", "/mcp", body=b"x" * (5 * 1024 * 1024),
                          headers={"Accept": "application/json, text/event-stream",
                                   "Content-Type": "application/json"})
                resp = c.getresponse()
                out = resp.status, resp.read()
                c.close()
                return out
            return await asyncio.to_thread(post)
        finally:
            srv.close()
            await hub.aclose(0)
    status, data = run(body, 30)
    assert status == 413
    assert json.loads(data)["error"]["code"] == -32600


@pytest.mark.parametrize("http1", ENGINES)
def test_no_100_continue_when_the_head_says_413(http1: str, no_tracebacks: Any) -> None:
    """Expect: 100-continue with an over-limit Content-Length: the first response is the 413."""
    async def body() -> bytes:
        hub, srv, port = await start(http1=http1)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            raw = request(b"POST", b"", [(b"expect", b"100-continue")]).replace(
                b"content-length: 0", b"content-length: %d" % (5 * 1024 * 1024))
            w.write(raw)
            head = await read_head(r)
            w.close()
            return head
        finally:
            srv.close()
            await hub.aclose(0)
    assert run(body).startswith(b"HTTP/1.1 413")


def test_100_continue_within_the_limit(no_tracebacks: Any) -> None:
    """Expect: 100-continue on an acceptable head still gets its 100 first."""
    async def body() -> tuple[bytes, bytes]:
        hub, srv, port = await start()
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(request(b"POST", b"", [(b"expect", b"100-continue")]).replace(
                b"content-length: 0", b"content-length: %d" % len(INIT)))
            first = await read_head(r)
            w.write(INIT)
            second = await read_head(r)
            w.close()
            return first, second
        finally:
            srv.close()
            await hub.aclose(0)
    first, second = run(body)
    assert first.startswith(b"HTTP/1.1 100") and second.startswith(b"HTTP/1.1 200")


def test_linger_is_bounded(no_tracebacks: Any) -> None:
    """After a 413 the server half-closes and discards: a client that keeps sending
    an over-limit body forever is closed at linger_time; one that stops sending,
    at linger_timeout."""
    async def body() -> tuple[float, float]:
        hub, srv, port = await start(linger_time=0.8, linger_timeout=0.3)
        try:
            loop = asyncio.get_running_loop()
            big = request(b"POST", b"").replace(b"content-length: 0", b"content-length: %d" % (1 << 40))

            async def until_closed() -> float:
                t0 = loop.time()
                while hub.connections and loop.time() - t0 < 5:
                    await asyncio.sleep(0.01)
                return loop.time() - t0
            # stops sending: closed about linger_timeout after the 413
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(big)
            assert (await read_head(r)).startswith(b"HTTP/1.1 413")
            quiet = await until_closed()
            w.transport.abort()
            # keeps sending every 0.1 s
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(big)
            assert (await read_head(r)).startswith(b"HTTP/1.1 413")

            async def feed() -> None:
                while True:
                    w.write(b"x" * 4096)
                    await asyncio.sleep(0.1)
            feeder = asyncio.ensure_future(feed())
            busy = await until_closed()
            feeder.cancel()
            w.transport.abort()
            return quiet, busy
        finally:
            srv.close()
            await hub.aclose(0)
    quiet, busy = run(body)
    assert 0.2 <= quiet < 0.7
    assert 0.7 <= busy < 2


# -- 5. numbers from the peer ------------------------------------------------------


@pytest.mark.parametrize("http1", ENGINES)
@pytest.mark.parametrize("value", [b"1" * 5000, b"\xc2\xb2", b"+5", b"0x10", b"1" * 20])
def test_bad_content_length_is_400(http1: str, value: bytes, no_tracebacks: Any) -> None:
    """Content-Length that is not 1-19 ASCII digits: 400, never a traceback."""
    async def body() -> bytes:
        hub, srv, port = await start(http1=http1)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(request(b"POST", b"").replace(b"content-length: 0", b"content-length: " + value))
            data = await read_all(r)
            return data
        finally:
            srv.close()
            await hub.aclose(0)
    assert run(body).startswith(b"HTTP/1.1 400")


@pytest.mark.parametrize("size", [b"1" * 5000, b"f" * 40])
def test_huge_chunk_size_is_400(size: bytes, no_tracebacks: Any) -> None:
    """A chunk size beyond the decoder's bound (max_chunk_size): 413 at once (our engine)."""
    async def body() -> bytes:
        hub, srv, port = await start()
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            raw = request(b"POST", b"").replace(b"content-length: 0", b"transfer-encoding: chunked")
            w.write(raw + size + b"\r\n")
            return await read_all(r)
        finally:
            srv.close()
            await hub.aclose(0)
    assert run(body).startswith(b"HTTP/1.1 413")


def test_h11_huge_chunk_size_is_bounded(no_tracebacks: Any) -> None:
    """h11 accepts a 20-digit chunk size; the body then meets max_body_size (413)
    or, if the client stalls, the body timeout: never a wait forever."""
    async def body() -> bytes:
        hub, srv, port = await start(http1="h11", body_timeout=0.4)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            raw = request(b"POST", b"").replace(b"content-length: 0", b"transfer-encoding: chunked")
            w.write(raw + b"f" * 20 + b"\r\n" + b"x" * 100)
            return await read_all(r)
        finally:
            srv.close()
            await hub.aclose(0)
    assert run(body).startswith(b"HTTP/1.1 408")


# -- 6. heads and targets -------------------------------------------------------------


@pytest.mark.parametrize("head", [
    b"POST /mcp HTTP/1.1\nHost: 127.0.0.1\n\n",
    b"POST /mcp HTTP/1.1\rHost: 127.0.0.1\r\r",
    b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\n\n",
])
def test_bare_lf_or_cr_head_is_400_at_once(head: bytes, no_tracebacks: Any) -> None:
    """Issue 10: a head ended by LFLF or bare CRs is answered 400 at once (RFC 9112 2.2:
    we decline the lone-LF MAY), not held until a timeout."""
    async def body() -> tuple[bytes, float]:
        hub, srv, port = await start()
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            t0 = asyncio.get_running_loop().time()
            w.write(head)
            data = await read_all(r, 2)
            return data, asyncio.get_running_loop().time() - t0
        finally:
            srv.close()
            await hub.aclose(0)
    data, took = run(body)
    assert data.startswith(b"HTTP/1.1 400") and took < 1


@pytest.mark.parametrize("http1", ENGINES)
@pytest.mark.parametrize("method,target", [
    (b"POST", b"*"), (b"GET", b"*"), (b"POST", b"/mcp%zz"), (b"POST", b"http://u@127.0.0.1/mcp"),
    (b"POST", b"mcp"), (b"POST", b"ftp://127.0.0.1/mcp"), (b"POST", b"127.0.0.1:80"), (b"POST", b"/a\x7fb"),
])
def test_malformed_or_misplaced_target_is_400(http1: str, method: bytes, target: bytes, no_tracebacks: Any) -> None:
    """Request-target syntax (RFC 9112 3.2): asterisk-form outside OPTIONS, authority-form
    outside CONNECT, bad percent-escapes, userinfo, non-http schemes: 400."""
    async def body() -> bytes:
        hub, srv, port = await start(http1=http1)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(request(method, b"", target=target))
            return await read_all(r)
        finally:
            srv.close()
            await hub.aclose(0)
    assert run(body).startswith(b"HTTP/1.1 400")


# -- 7. the h11 engine's guarantees ------------------------------------------------------


@pytest.mark.parametrize("http1", ENGINES)
def test_cl_and_te_closes_after_the_response(http1: str, no_tracebacks: Any) -> None:
    """Issue 10: Content-Length with Transfer-Encoding: the chunked body is read,
    answered with connection: close, and the bytes after it are never served."""
    async def body() -> bytes:
        hub, srv, port = await start(http1=http1)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            head = request(b"POST", b"").replace(b"content-length: 0", b"content-length: 4\r\ntransfer-encoding: chunked")
            smuggled = b"DELETE /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
            w.write(head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(INIT), INIT) + smuggled)
            return await read_all(r)
        finally:
            srv.close()
            await hub.aclose(0)
    data = run(body)
    assert data.startswith(b"HTTP/1.1 200")
    assert b"connection: close" in data.lower()
    assert data.count(b"HTTP/1.1 ") == 1


@pytest.mark.parametrize("http1", ENGINES)
def test_head_with_a_body_gets_no_body_back(http1: str, no_tracebacks: Any) -> None:
    """Issue 10: HEAD (with a request body) is answered without a response body and
    without a traceback."""
    async def body() -> bytes:
        hub, srv, port = await start(http1=http1)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(request(b"HEAD", b"abc") + request(b"POST", INIT))
            head = await read_head(r)
            second = await read_head(r)
            w.close()
            return head + b"|" + second
        finally:
            srv.close()
            await hub.aclose(0)
    data = run(body)
    first, second = data.split(b"|")
    assert first.startswith(b"HTTP/1.1 405")
    assert second.startswith(b"HTTP/1.1 200"), second  # nothing of a HEAD body came between


_EMFILE_CHILD = """
import socket, time
socks = []
for _ in range(120):
    try:
        socks.append(socket.create_connection(("127.0.0.1", PORT), timeout=2))
    except OSError:
        pass
time.sleep(3)
for s in socks:
    s.close()
time.sleep(1.5)
s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
s.sendall(b"POST /mcp HTTP/1.1\\r\\nhost: 127.0.0.1\\r\\naccept: application/json, text/event-stream\\r\\n"
          b"content-type: application/json\\r\\ncontent-length: 2\\r\\n\\r\\n{}")
print(s.recv(100)[:12])
"""

_EMFILE_SCRIPT = """
import asyncio, logging, resource, subprocess, sys
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
from streamcore.aio.server import StreamableHttpServer
from streamcore.server import ServerConfig

class App:
    async def handle_request(self, ctx):
        return {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "t", "version": "0"}}
    async def handle_notification(self, *a):
        return None

async def main():
    hub = StreamableHttpServer(App(), ServerConfig(), max_connections=100000, http2=False)
    srv = await hub.start("127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    child = subprocess.Popen([sys.executable, "-c", CHILD.replace("PORT", str(port))], stdout=subprocess.PIPE, text=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))  # the child keeps its own limit
    line = await asyncio.to_thread(child.stdout.readline)
    print("CHILD", line.strip(), flush=True)
    await hub.aclose(0)

CHILD = sys.argv[1]
asyncio.run(main())
"""


def test_out_of_descriptors_logs_one_line_and_recovers(tmp_path: Any) -> None:
    """Issue 10: with the descriptor limit reached (64 here, 120 clients), accepting backs
    off with at most a line per 10 s (not a traceback per accept), and once descriptors
    free up a new client is served."""
    import os
    import subprocess
    import sys
    path = tmp_path / "emfile.py"
    path.write_text(_EMFILE_SCRIPT)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, str(path), _EMFILE_CHILD], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": root})
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    lines = [ln for ln in r.stderr.splitlines() if "cannot accept connections" in ln]
    assert len(lines) == 1, r.stderr[-3000:]
    assert "CHILD b'HTTP/1.1 " in r.stdout, (r.stdout, r.stderr[-2000:])  # answered (400: no session)
