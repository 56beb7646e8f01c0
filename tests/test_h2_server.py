"""HTTP/2 on the asyncio server: h2c by preface, h2 by ALPN, limits, flow control.

The raw tests speak HTTP/2 with the h2 package's client side over an asyncio
socket, so each limit is driven exactly to its boundary; the peer tests use
httpx (``http2=True``), curl and h2load.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
import subprocess
import sys
from typing import Any, Awaitable, Callable

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import httpx
import pytest

from streamcore.aio.server import StreamableHttpServer
from streamcore.demo import DemoApp
from streamcore.server import ServerConfig
from streamcore.store import MemoryEventStore
from streamcore.aio.http2 import H2Config, DEFAULT_MAX_CONCURRENT_STREAMS

ACCEPT = b"application/json, text/event-stream"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
H = {"accept": ACCEPT.decode(), "content-type": "application/json"}


def run(coro_fn: Callable[..., Awaitable[Any]], **server_kw: Any) -> Any:
    """Run ``coro_fn(hub, port)`` against a fresh server on an ephemeral port (bounded: 60 s)."""
    async def main() -> Any:
        config = server_kw.pop("config", None) or ServerConfig(event_store=MemoryEventStore())
        ssl_ctx = server_kw.pop("ssl", None)
        hub = StreamableHttpServer(server_kw.pop("app", None) or DemoApp(), config, **server_kw)
        srv = await hub.start("127.0.0.1", 0, ssl=ssl_ctx)
        port = srv.sockets[0].getsockname()[1]
        try:
            return await asyncio.wait_for(coro_fn(hub, port), 60)
        finally:
            srv.close()
            for c in list(hub.h2_listener.connections):
                if c.transport is not None:
                    c.transport.abort()
    return asyncio.run(main())


class Raw:
    """A bare HTTP/2 client (h2, client side) for driving the server frame by frame."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, window: int = 65535) -> None:
        self.r, self.w = reader, writer
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.h2.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.events: list[h2.events.Event] = []
        self.closed = False

    @classmethod
    async def open(cls, port: int, window: int = 65535) -> "Raw":
        r, w = await asyncio.open_connection("127.0.0.1", port)
        raw = cls(r, w, window)
        raw.h2.initiate_connection()
        raw.flush()
        return raw

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and not self.w.is_closing():
            self.w.write(data)

    def request(self, method: str, body: bytes | None = None, headers: list[tuple[bytes, bytes]] | None = None,
                authority: bytes = b"127.0.0.1", end: bool = True) -> int:
        sid = self.h2.get_next_available_stream_id()
        hdrs = [(b":method", method.encode()), (b":scheme", b"http"), (b":authority", authority),
                (b":path", b"/mcp"), (b"accept", ACCEPT), (b"content-type", b"application/json")]
        hdrs += headers or []
        self.h2.send_headers(sid, hdrs, end_stream=body is None and end)
        if body is not None:
            self.h2.send_data(sid, body, end_stream=end)
        self.flush()
        return sid

    async def pump(self, until: Callable[[], bool], timeout: float = 10.0, ack: bool = True) -> None:
        async def loop() -> None:
            while not until():
                data = await self.r.read(65536)
                if not data:
                    self.closed = True
                    return
                for ev in self.h2.receive_data(data):
                    self.events.append(ev)
                    if ack and isinstance(ev, h2.events.DataReceived) and ev.flow_controlled_length:
                        self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                self.flush()
        await asyncio.wait_for(loop(), timeout)

    def of(self, kind: type, sid: int | None = None) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind) and (sid is None or getattr(e, "stream_id", None) == sid)]

    def body(self, sid: int) -> bytes:
        return b"".join(e.data for e in self.of(h2.events.DataReceived, sid))

    def status(self, sid: int) -> int | None:
        for e in self.of(h2.events.ResponseReceived, sid):
            return int(dict(e.headers)[b":status"])
        return None

    def ended(self, sid: int) -> bool:
        return bool(self.of(h2.events.StreamEnded, sid)) or bool(self.of(h2.events.StreamReset, sid))

    def goaway(self) -> Any:
        g = self.of(h2.events.ConnectionTerminated)
        return g[0] if g else None

    async def session(self) -> bytes:
        sid = self.request("POST", json.dumps(INIT).encode())
        await self.pump(lambda: self.ended(sid))
        assert self.status(sid) == 200
        value: bytes = dict(self.of(h2.events.ResponseReceived, sid)[0].headers)[b"mcp-session-id"]
        return value


def sse_messages(body: bytes) -> list[Any]:
    out = []
    for block in body.split(b"\n\n"):
        for line in block.split(b"\n"):
            if line.startswith(b"data: ") and len(line) > 6:
                out.append(json.loads(line[6:]))
    return out


def call(i: int, name: str = "echo", args: dict[str, Any] | None = None, token: Any = None) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "arguments": args if args is not None else {"text": str(i)}}
    if token is not None:
        params["_meta"] = {"progressToken": token}
    return {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": params}


# -- real peers: httpx --------------------------------------------------------------


def test_httpx_full_session_one_connection() -> None:
    """httpx (http2=True, prior knowledge): initialize, a tool call with progress on its
    stream, the GET listening stream, and 50 concurrent calls, all on one connection."""
    async def body(hub: StreamableHttpServer, port: int) -> None:
        url = f"http://127.0.0.1:{port}/mcp"
        async with httpx.AsyncClient(http1=False, http2=True, timeout=20) as c:
            r = await c.post(url, headers=H, json=INIT)
            assert r.http_version == "HTTP/2" and r.status_code == 200
            sid = r.headers["mcp-session-id"]
            hs = dict(H, **{"mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"})
            assert (await c.post(url, headers=hs, json={"jsonrpc": "2.0", "method": "notifications/initialized"})).status_code == 202
            r = await c.post(url, headers=hs, json=call(2, "countdown", {"n": 3, "delay": 0}, token="p"))
            msgs = sse_messages(r.content)
            assert [m["params"]["progress"] for m in msgs if m.get("method") == "notifications/progress"] == [1, 2, 3]
            assert msgs[-1]["result"]["content"][0]["text"] == "liftoff"
            async with c.stream("GET", url, headers={"accept": "text/event-stream", **{k: v for k, v in hs.items() if k != "content-type"}}) as listen:
                assert listen.status_code == 200
                hub.notify(sid, "notifications/message", {"level": "info", "data": "hello"})
                got = b""
                async for chunk in listen.aiter_bytes():
                    got += chunk
                    if b"hello" in got:
                        break
                rs = await asyncio.gather(*[c.post(url, headers=hs, json=call(100 + i)) for i in range(50)])
                assert sorted(sse_messages(x.content)[-1]["id"] for x in rs) == list(range(100, 150))
            assert len(hub.h2_listener.connections) == 1
    run(body)


def test_http11_still_served_on_the_same_port() -> None:
    """HTTP/1.1 clients (and an ``Upgrade: h2c`` request, which we do not honour) get HTTP/1.1."""
    async def body(hub: StreamableHttpServer, port: int) -> None:
        url = f"http://127.0.0.1:{port}/mcp"
        async with httpx.AsyncClient(timeout=10) as c:
            r = await c.post(url, headers={**H, "connection": "Upgrade, HTTP2-Settings", "upgrade": "h2c",
                                           "http2-settings": "AAMAAABkAAQCAAAAAAIAAAAA"}, json=INIT)
            assert r.http_version == "HTTP/1.1" and r.status_code == 200
            assert "upgrade" not in r.headers
        assert not hub.h2_listener.connections
    run(body)


def test_partial_preface_then_http11() -> None:
    """Bytes that start like the preface but diverge are HTTP/1.1 (here: a bad request, 400)."""
    async def body(hub: StreamableHttpServer, port: int) -> None:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"PRI * HT")
        await asyncio.sleep(0.05)
        w.write(b"TP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        line = await asyncio.wait_for(r.readline(), 5)
        assert line.startswith(b"HTTP/1.1 4")
        w.close()
    run(body)


# -- security checks as over HTTP/1.1 ----------------------------------------------------


def test_authority_is_the_host_and_origin_is_checked() -> None:
    """``:authority`` goes through the Host check (SEC-06) and Origin through SEC-04: 403."""
    async def body(hub: StreamableHttpServer, port: int) -> None:
        raw = await Raw.open(port)
        a = raw.request("POST", json.dumps(INIT).encode(), authority=b"evil.example")
        b = raw.request("POST", json.dumps(INIT).encode(), headers=[(b"origin", b"http://evil.example")])
        c = raw.request("POST", json.dumps(INIT).encode())
        await raw.pump(lambda: raw.ended(a) and raw.ended(b) and raw.ended(c))
        assert (raw.status(a), raw.status(b), raw.status(c)) == (403, 403, 200)
        assert json.loads(raw.body(a))["error"]["message"].startswith("Forbidden")
    run(body)


def test_body_too_large_is_answered_early_and_the_stream_stopped() -> None:
    """A body past max_body_size: 413 before it has all arrived, then RST_STREAM NO_ERROR
    (RFC 9113 section 8.1); the connection stays usable."""
    async def body(hub: StreamableHttpServer, port: int) -> None:
        raw = await Raw.open(port)
        sid = raw.request("POST", b"[" * 999, end=False)
        big = raw.request("POST", b"x" * 1001)  # exactly one byte over
        ok = raw.request("POST", b" " * (1000 - len(json.dumps(INIT))) + json.dumps(INIT).encode())
        await raw.pump(lambda: raw.ended(big) and raw.ended(ok))
        assert raw.status(big) == 413 and raw.status(ok) == 200
        raw.h2.send_data(sid, b"}", end_stream=True)
        raw.flush()
        await raw.pump(lambda: raw.ended(sid))
        assert raw.status(sid) == 400  # a parse error: the connection carried on
        assert raw.goaway() is None
    run(body, config=ServerConfig(max_body_size=1000))


# -- limits ---------------------------------------------------------------------------------


def test_max_concurrent_streams_boundary() -> None:
    """The advertised SETTINGS_MAX_CONCURRENT_STREAMS is honoured up to the limit; one
    more open stream gets RST_STREAM REFUSED_STREAM (RFC 9113 section 5.1.2) and the
    connection lives on. The refused block was decoded all the same: the next
    request, whose fields are indexed references into the HPACK table that
    block filled, is answered."""
    limit = 5

    async def body(hub: StreamableHttpServer, port: int) -> None:
        raw = await Raw.open(port)
        await raw.pump(lambda: bool(raw.of(h2.events.RemoteSettingsChanged)))
        assert raw.h2.remote_settings.max_concurrent_streams == limit
        sid = await raw.session()
        hs = [(b"mcp-session-id", sid), (b"mcp-protocol-version", b"2025-11-25")]
        # open streams (requests whose body has not ended) up to the limit
        sids = [raw.request("POST", b"{", end=False) for _ in range(limit)]
        raw.h2.ping(b"12345678")
        raw.flush()
        await raw.pump(lambda: bool(raw.of(h2.events.PingAckReceived)))
        assert raw.goaway() is None and len(hub.h2_listener.connections) == 1
        raw.h2.remote_settings.max_concurrent_streams = limit + 1  # misbehave on purpose
        raw.h2.remote_settings.acknowledge()
        extra = raw.request("POST", json.dumps(call(7)).encode(), headers=hs + [(b"x-new-field", b"only-here")],
                            end=False)
        await raw.pump(lambda: bool(raw.of(h2.events.StreamReset, extra)) or raw.closed)
        assert raw.of(h2.events.StreamReset, extra)[0].error_code == h2.errors.ErrorCodes.REFUSED_STREAM
        assert raw.goaway() is None
        for s in sids:  # free the slots
            raw.h2.end_stream(s)
        raw.flush()
        await raw.pump(lambda: all(raw.ended(s) for s in sids))
        again = raw.request("POST", json.dumps(call(8)).encode(), headers=hs + [(b"x-new-field", b"only-here")])
        await raw.pump(lambda: raw.ended(again))
        assert raw.status(again) == 200 and raw.goaway() is None
        assert sse_messages(raw.body(again))[-1]["id"] == 8
    run(body, h2_config=H2Config(max_concurrent_streams=limit))
    assert DEFAULT_MAX_CONCURRENT_STREAMS == 100


def test_refused_streams_count_as_resets() -> None:
    """Opening stream after stream past the limit is refused each time, and those
    refusals count against max_resets like the peer's own RST_STREAMs (Rapid Reset)."""
    async def body(hub: StreamableHttpServer, port: int) -> None:
        raw = await Raw.open(port)
        await raw.pump(lambda: bool(raw.of(h2.events.RemoteSettingsChanged)))
        raw.request("POST", b"{", end=False)  # the one allowed stream stays open
        raw.h2.remote_settings.max_concurrent_streams = 100
        raw.h2.remote_settings.acknowledge()
        refused = [raw.request("POST", b"{", end=False) for _ in range(3)]
        await raw.pump(lambda: len(raw.of(h2.events.StreamReset)) == 3 or raw.closed)
        assert all(raw.of(h2.events.StreamReset, s)[0].error_code == h2.errors.ErrorCodes.REFUSED_STREAM
                   for s in refused)
        assert raw.goaway() is None
        raw.request("POST", b"{", end=False)  # the 4th refusal: over max_resets=3
        await raw.pump(lambda: raw.goaway() is not None or raw.closed)
        assert raw.goaway().error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    run(body, h2_config=H2Config(max_concurrent_streams=1, max_resets=3))


@pytest.mark.parametrize("bad", [
    [(b"X-Upper", b"1")],
    [(b"connection", b"keep-alive")],
    [(b"te", b"gzip")],
    [(b"x-a", b" padded")],
    [(b":status", b"200")],
    [(b"host", b"other.example")],
])
def test_malformed_request_is_a_stream_error(bad: list[tuple[bytes, bytes]]) -> None:
    """RFC 9113 section 8.1.1: a malformed request (section 8.2, 8.3) gets RST_STREAM
    PROTOCOL_ERROR; the connection and its other streams go on."""
    async def body(hub: StreamableHttpServer, port: int) -> None:
        raw = await Raw.open(port)
        raw.h2.config.validate_outbound_headers = False  # send what a broken peer would
        raw.h2.config.normalize_outbound_headers = False
        sid = await raw.session()
        s = raw.request("POST", b"{}", headers=bad)
        await raw.pump(lambda: raw.ended(s))
        assert raw.of(h2.events.StreamReset, s)[0].error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR
        ok = raw.request("POST", json.dumps(call(3)).encode(),
                         headers=[(b"mcp-session-id", sid), (b"mcp-protocol-version", b"2025-11-25")])
        await raw.pump(lambda: raw.ended(ok))
        assert raw.status(ok) == 200 and raw.goaway() is None
    run(body)


def test_header_list_size_boundary() -> None:
    """A header list at the limit is served; past it the connection ends with GOAWAY."""
    limit = 4096

    async def body(hub: StreamableHttpServer, port: int) -> None:
        raw = await Raw.open(port)
        await raw.pump(lambda: bool(raw.of(h2.events.RemoteSettingsChanged)))
        assert raw.h2.remote_settings.max_header_list_size == limit
        base = [(b":method", b"POST"), (b":scheme", b"http"), (b":authority", b"127.0.0.1"), (b":path", b"/mcp"),
                (b"accept", ACCEPT), (b"content-type", b"application/json")]
        size = sum(len(n) + len(v) + 32 for n, v in base)
        pad = limit - size - (len(b"x-pad") + 32)
        ok = raw.request("POST", json.dumps(INIT).encode(), headers=[(b"x-pad", b"a" * pad)])
        await raw.pump(lambda: raw.ended(ok))
        assert raw.status(ok) == 200
        raw.request("POST", json.dumps(INIT).encode(), headers=[(b"x-pad", b"b" * (pad + 1))])
        await raw.pump(lambda: raw.goaway() is not None or raw.closed)
        assert raw.goaway() is not None and raw.goaway().error_code != h2.errors.ErrorCodes.NO_ERROR
    run(body, h2_config=H2Config(max_header_list_size=limit))


def _frame(ftype: int, flags: int, sid: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big") + payload


def test_continuation_flood_boundary() -> None:
    """A header block in HEADERS + N CONTINUATION frames is served for N = the limit and
    stopped at N + 1 with GOAWAY ENHANCE_YOUR_CALM (the 2024 CONTINUATION flood)."""
    limit = 3

    async def body(hub: StreamableHttpServer, port: int) -> None:
        for n, served in ((limit, True), (limit + 1, False)):
            raw = await Raw.open(port)
            await raw.pump(lambda: bool(raw.of(h2.events.RemoteSettingsChanged)))
            sid = raw.h2.get_next_available_stream_id()
            raw.h2.send_headers(sid, [(b":method", b"POST"), (b":scheme", b"http"), (b":authority", b"127.0.0.1"),
                                      (b":path", b"/mcp"), (b"accept", ACCEPT), (b"content-type", b"application/json"),
                                      (b"x-pad", b"z" * 200)])
            wire = raw.h2.data_to_send()
            assert wire[3] == 0x1 and wire[4] & 0x4 and len(wire) == 9 + int.from_bytes(wire[:3], "big")
            block = wire[9:]  # re-frame h2's HEADERS as HEADERS + n CONTINUATION frames
            step = -(-len(block) // (n + 1))
            parts = [block[i:i + step] for i in range(0, len(block), step)]
            assert len(parts) == n + 1
            out = _frame(0x1, 0, sid, parts[0])
            for i, part in enumerate(parts[1:]):
                out += _frame(0x9, 0x4 if i == n - 1 else 0, sid, part)
            raw.w.write(out)
            raw.h2.send_data(sid, json.dumps(INIT).encode(), end_stream=True)
            raw.flush()
            if served:
                await raw.pump(lambda: raw.ended(sid))
                assert raw.status(sid) == 200
            else:
                await raw.pump(lambda: raw.goaway() is not None or raw.closed)
                assert raw.goaway().error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
            raw.w.close()
    run(body, h2_config=H2Config(max_continuation_frames=limit))


def test_rapid_reset_boundary() -> None:
    """``max_resets`` stream resets within the window are fine; one more gets GOAWAY
    ENHANCE_YOUR_CALM (CVE-2023-44487), and the reset requests were cancelled in the core."""
    limit = 20

    async def body(hub: StreamableHttpServer, port: int) -> None:
        raw = await Raw.open(port)
        sid = await raw.session()
        for _ in range(limit):
            s = raw.request("POST", json.dumps(call(5, "countdown", {"n": 50, "delay": 0.05})).encode(),
                            headers=[(b"mcp-session-id", sid), (b"mcp-protocol-version", b"2025-11-25")])
            raw.h2.reset_stream(s, h2.errors.ErrorCodes.CANCEL)
            raw.flush()
        raw.h2.ping(b"rr-ping!")
        raw.flush()
        await raw.pump(lambda: bool(raw.of(h2.events.PingAckReceived)))
        assert raw.goaway() is None
        s = raw.request("POST", b"{}")
        raw.h2.reset_stream(s, h2.errors.ErrorCodes.CANCEL)
        raw.flush()
        await raw.pump(lambda: raw.goaway() is not None or raw.closed)
        assert raw.goaway().error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    run(body, h2_config=H2Config(max_resets=limit))


def test_keepalive_ping_and_idle_timeout() -> None:
    """A silent peer is PINGed after keepalive_interval; a connection with no stream is
    closed with GOAWAY NO_ERROR after idle_timeout; a peer that never ACKs is dropped."""
    async def body(hub: StreamableHttpServer, port: int) -> None:
        raw = await Raw.open(port)
        await raw.pump(lambda: bool(raw.of(h2.events.PingReceived)), timeout=3)  # h2 ACKs it for us
        await raw.pump(lambda: raw.goaway() is not None or raw.closed, timeout=5)
        g = raw.goaway()
        assert g is not None and g.error_code == h2.errors.ErrorCodes.NO_ERROR
        # a peer that reads nothing (so never ACKs): dropped after interval + timeout
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        w2.write(h2.connection.H2Connection().data_to_send() or b"")
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        c.initiate_connection()
        w2.write(c.data_to_send())
        sid = c.get_next_available_stream_id()  # an open stream keeps the idle timer away
        c.send_headers(sid, [(":method", "POST"), (":scheme", "http"), (":authority", "127.0.0.1"), (":path", "/mcp"),
                             ("accept", ACCEPT.decode()), ("content-type", "application/json")])
        w2.write(c.data_to_send())
        t0 = asyncio.get_running_loop().time()
        while await r2.read(65536):
            pass
        assert 0.3 <= asyncio.get_running_loop().time() - t0 < 5
    run(body, h2_config=H2Config(keepalive_interval=0.3, keepalive_timeout=0.3, idle_timeout=1.0))


def test_graceful_goaway_lets_open_streams_finish() -> None:
    """``goaway()``: GOAWAY NO_ERROR naming the last stream; a stream in flight completes."""
    async def body(hub: StreamableHttpServer, port: int) -> None:
        raw = await Raw.open(port)
        sid = await raw.session()
        s = raw.request("POST", json.dumps(call(3, "countdown", {"n": 3, "delay": 0.1})).encode(),
                        headers=[(b"mcp-session-id", sid), (b"mcp-protocol-version", b"2025-11-25")])
        await raw.pump(lambda: raw.status(s) is not None)
        hub.h2_listener.goaway(grace=5)
        # h2's client state machine accepts nothing after a GOAWAY, so from here
        # the frames are read by hand (no HEADERS follow: no HPACK needed).
        frames = []
        buf = b""
        while True:
            data = await asyncio.wait_for(raw.r.read(65536), 10)
            if not data:
                break
            buf += data
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            frames.append((buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, buf[9:9 + n]))
            buf = buf[9 + n:]
        goaways = [f for f in frames if f[0] == 0x7]
        assert len(goaways) == 1
        payload = goaways[0][3]
        assert int.from_bytes(payload[:4], "big") == s and int.from_bytes(payload[4:8], "big") == 0  # NO_ERROR
        after = frames[frames.index(goaways[0]):]
        data = b"".join(f[3] for f in after if f[0] == 0x0 and f[2] == s)
        assert any(f[0] == 0x0 and f[2] == s and f[1] & 0x1 for f in after)  # END_STREAM after the GOAWAY
        assert sse_messages(raw.body(s) + data)[-1]["result"]["content"][0]["text"] == "liftoff"
    run(body)


# -- flow control ------------------------------------------------------------------------------


def test_slow_reader_window_exhausted_memory_bounded() -> None:
    """A peer that never opens its window: the server sends exactly the window, queues at
    most max_stream_buffer, then resets that stream (CANCEL); other streams go on."""
    cap = 32 * 1024

    async def body(hub: StreamableHttpServer, port: int) -> None:
        raw = await Raw.open(port)
        sid = await raw.session()
        hdr = [(b"mcp-session-id", sid), (b"mcp-protocol-version", b"2025-11-25")]
        s = raw.request("POST", json.dumps(call(3, "countdown", {"n": 1000, "delay": 0}, token="slow")).encode(),
                        headers=hdr)
        await raw.pump(lambda: raw.ended(s), ack=False, timeout=30)
        got = len(raw.body(s))
        assert raw.of(h2.events.StreamReset, s)[0].error_code == h2.errors.ErrorCodes.CANCEL
        assert got <= 65535  # never past the window (the initial 65535 of the connection)
        conn = next(iter(hub.h2_listener.connections))
        assert not conn.streams or all(st.pending_len <= cap for st in conn.streams.values())
        # the connection is fine: with acknowledgments a small call completes
        for e in raw.of(h2.events.DataReceived):
            raw.h2.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
        raw.flush()
        ok = raw.request("POST", json.dumps(call(4)).encode(), headers=hdr)
        await raw.pump(lambda: raw.ended(ok))
        assert sse_messages(raw.body(ok))[-1]["id"] == 4
    run(body, h2_config=H2Config(max_stream_buffer=cap))


def test_large_response_flows_with_window_updates() -> None:
    """A 2 MiB result crosses a 64 KiB window intact when the peer acknowledges."""
    async def body(hub: StreamableHttpServer, port: int) -> None:
        raw = await Raw.open(port)
        sid = await raw.session()
        s = raw.request("POST", json.dumps(call(3, "blob", {"size": 2 * 1024 * 1024})).encode(),
                        headers=[(b"mcp-session-id", sid), (b"mcp-protocol-version", b"2025-11-25")])
        await raw.pump(lambda: raw.ended(s), timeout=30)
        text = sse_messages(raw.body(s))[-1]["result"]["content"][0]["text"]
        assert len(text) == 2 * 1024 * 1024
    run(body)


class _Wire:
    """A transport that records what the server writes (for byte-exact, timing-free tests)."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.closing = False

    def write(self, data: bytes) -> None:
        self.out += data

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    abort = close

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def frames(self) -> list[tuple[int, int, int, bytes]]:
        out, buf = [], bytes(self.out)
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            out.append((buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, buf[9:9 + n]))
            buf = buf[9 + n:]
        return out


def test_inbound_window_overrun_is_a_flow_control_error() -> None:
    """A peer sending past our advertised window gets GOAWAY FLOW_CONTROL_ERROR: the
    adapter never holds more than the window of unread request body. (Fed in one piece
    to the connection: over a socket the reads could split it and our acknowledgments,
    made as the core consumes, would legitimately reopen the window in between.)"""
    window = 65535

    async def body(hub: StreamableHttpServer, port: int) -> None:
        conn = hub.h2_listener.h2_connection()
        wire = _Wire()
        conn.connection_made(wire)  # type: ignore[arg-type]
        client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        client.initiate_connection()
        sid = client.get_next_available_stream_id()
        client.send_headers(sid, [(b":method", b"POST"), (b":scheme", b"http"), (b":authority", b"127.0.0.1"),
                                  (b":path", b"/mcp"), (b"accept", ACCEPT), (b"content-type", b"application/json")])
        chunk = b" " * 16384
        at_limit = b"".join(_frame(0x0, 0, sid, chunk) for _ in range(window // 16384)) \
            + _frame(0x0, 0, sid, b" " * (window % 16384))
        conn.data_received(client.data_to_send() + at_limit)  # exactly the window: fine
        assert not [f for f in wire.frames() if f[0] == 0x7]
        conn.data_received(_frame(0x0, 0, sid, b" "))  # legal: the core consumed, so we reopened the window
        assert not [f for f in wire.frames() if f[0] == 0x7]
        conn.data_received(b"".join(_frame(0x0, 0, sid, chunk) for _ in range(window // 16384 + 1)))
        goaways = [f for f in wire.frames() if f[0] == 0x7]
        assert len(goaways) == 1 and int.from_bytes(goaways[0][3][4:8], "big") == h2.errors.ErrorCodes.FLOW_CONTROL_ERROR
        assert wire.closing
    run(body, h2_config=H2Config(initial_window_size=window))


def test_large_request_body_is_acknowledged_as_consumed() -> None:
    """A body four times the window arrives whole: WINDOW_UPDATEs follow consumption."""
    async def body(hub: StreamableHttpServer, port: int) -> None:
        raw = await Raw.open(port)
        await raw.pump(lambda: bool(raw.of(h2.events.RemoteSettingsChanged)))
        text = "y" * (4 * 65535)
        params: dict[str, Any] = dict(INIT["params"])  # type: ignore[call-overload]
        params["clientInfo"] = {"name": text, "version": "1"}
        data = json.dumps(dict(INIT, params=params)).encode()
        s = raw.request("POST", None, end=False)
        off = 0
        while off < len(data):
            w = min(raw.h2.local_flow_control_window(s), raw.h2.max_outbound_frame_size, len(data) - off)
            if w == 0:
                await raw.pump(lambda: raw.h2.local_flow_control_window(s) > 0)
                continue
            raw.h2.send_data(s, data[off:off + w], end_stream=off + w == len(data))
            off += w
            raw.flush()
        await raw.pump(lambda: raw.ended(s))
        assert raw.status(s) == 200
    run(body, h2_config=H2Config(initial_window_size=65535))


def test_reset_mid_stream_session_era_resumes() -> None:
    """A stream reset in the middle of a streaming call (session era, event store): the call
    goes on (CANCEL-01) and a GET with Last-Event-ID replays the rest on the same connection."""
    async def body(hub: StreamableHttpServer, port: int) -> None:
        raw = await Raw.open(port)
        sid = await raw.session()
        hdr = [(b"mcp-session-id", sid), (b"mcp-protocol-version", b"2025-11-25")]
        s = raw.request("POST", json.dumps(call(7, "countdown", {"n": 4, "delay": 0.1}, token="t")).encode(), headers=hdr)
        await raw.pump(lambda: b"progress" in raw.body(s))
        last = [ln for ln in raw.body(s).split(b"\n") if ln.startswith(b"id: ")][-1][4:]
        raw.h2.reset_stream(s, h2.errors.ErrorCodes.CANCEL)
        raw.flush()
        g = raw.request("GET", None, headers=hdr + [(b"last-event-id", last)])
        await raw.pump(lambda: b'"id":7' in raw.body(g), timeout=10)
        msgs = sse_messages(raw.body(g))
        assert msgs[-1]["result"]["content"][0]["text"] == "liftoff"
    run(body)


# -- curl, h2load, TLS -------------------------------------------------------------------------


def _curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-s", "-S", "--max-time", "20", *args], capture_output=True, text=True, timeout=30)


def _in_thread(fn: Callable[[], Any]) -> Awaitable[Any]:
    return asyncio.get_running_loop().run_in_executor(None, fn)


@pytest.mark.integration
def test_curl_http2_prior_knowledge() -> None:
    """``curl --http2-prior-knowledge``: initialize and a streaming call over h2c."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (Debian package curl)")

    async def body(hub: StreamableHttpServer, port: int) -> None:
        url = f"http://127.0.0.1:{port}/mcp"
        hs = ["-H", "accept: application/json, text/event-stream", "-H", "content-type: application/json"]
        p = await _in_thread(lambda: _curl("--http2-prior-knowledge", "-i", *hs, "-d", json.dumps(INIT), url))
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith("HTTP/2 200")
        sid = [ln.split(":", 1)[1].strip() for ln in p.stdout.splitlines() if ln.lower().startswith("mcp-session-id")][0]
        p = await _in_thread(lambda: _curl("--http2-prior-knowledge", *hs, "-H", f"mcp-session-id: {sid}",
                                           "-d", json.dumps(call(2, "countdown", {"n": 2, "delay": 0}, token=1)), url))
        msgs = sse_messages(p.stdout.encode())
        assert [m.get("method") for m in msgs] == ["notifications/progress"] * 2 + [None]
    run(body)


@pytest.fixture(scope="module")
def tls() -> Any:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    return ca, cert


@pytest.mark.integration
def test_curl_http2_over_tls_alpn(tls: Any, tmp_path: Any) -> None:
    """``curl --http2`` over TLS negotiates h2 by ALPN; ``--http1.1`` on the same port gets HTTP/1.1."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (Debian package curl)")
    ca, cert = tls
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)

    async def body(hub: StreamableHttpServer, port: int) -> None:
        url = f"https://127.0.0.1:{port}/mcp"
        hs = ["-H", "accept: application/json, text/event-stream", "-H", "content-type: application/json"]
        for flag, version in (("--http2", "HTTP/2 200"), ("--http1.1", "HTTP/1.1 200")):
            p = await _in_thread(lambda: _curl(flag, "--cacert", str(cafile), "-i", *hs, "-d", json.dumps(INIT), url))
            assert p.returncode == 0, p.stderr
            assert p.stdout.startswith(version), p.stdout[:100]
    run(body, ssl=ctx)


def test_httpx_over_tls(tls: Any) -> None:
    """httpx with http2=True over TLS: ALPN picks h2; the session works."""
    ca, cert = tls
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)

    async def body(hub: StreamableHttpServer, port: int) -> None:
        cctx = ssl.create_default_context()
        ca.configure_trust(cctx)
        async with httpx.AsyncClient(http2=True, verify=cctx, timeout=10) as c:
            r = await c.post(f"https://127.0.0.1:{port}/mcp", headers=H, json=INIT)
            assert r.http_version == "HTTP/2" and r.status_code == 200
    run(body, ssl=ctx)


@pytest.mark.integration
def test_h2load_many_streams_one_connection(tmp_path: Any) -> None:
    """h2load: 2000 initialize requests, 100 concurrent streams on one connection, all 2xx."""
    if shutil.which("h2load") is None:
        pytest.skip("h2load is not installed (Debian package nghttp2-client)")
    data = tmp_path / "init.json"
    data.write_text(json.dumps(INIT))

    async def body(hub: StreamableHttpServer, port: int) -> None:
        p = await _in_thread(lambda: subprocess.run(
            ["h2load", "-n", "2000", "-c", "1", "-m", "100", "-d", str(data),
             "-H", "accept: application/json, text/event-stream", "-H", "content-type: application/json",
             f"http://127.0.0.1:{port}/mcp"], capture_output=True, text=True, timeout=60))
        assert p.returncode == 0, p.stderr
        assert "2000 succeeded, 0 failed, 0 errored" in p.stdout, p.stdout
        assert "status codes: 2000 2xx" in p.stdout, p.stdout
    run(body, config=ServerConfig(max_sessions=100_000))


def test_cli_serves_tls_with_certfile(tls: Any, tmp_path: Any) -> None:
    """``python -m streamcore serve --certfile --keyfile``: https URL, h2 by ALPN."""
    ca, cert = tls
    certfile, keyfile = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-m", "streamcore", "serve", "--port", "0", "--certfile", str(certfile),
                             "--keyfile", str(keyfile)], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "https://" in line, line
        url = line.split()[-1]
        cctx = ssl.create_default_context()
        ca.configure_trust(cctx)
        with httpx.Client(http2=True, verify=cctx, timeout=10) as c:
            r = c.post(url, headers=H, json=INIT)
        assert r.http_version == "HTTP/2" and r.status_code == 200
    finally:
        proc.kill()
        proc.wait(5)


MODERN = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}


def _modern(method: str, params: dict[str, Any], id: int, name: str | None = None) -> tuple[dict[str, str], dict[str, Any]]:
    hs = {**H, "mcp-protocol-version": MODERN, "mcp-method": method}
    if name is not None:
        hs["mcp-name"] = name
    return hs, {"jsonrpc": "2.0", "id": id, "method": method, "params": {"_meta": META, **params}}


def test_httpx_per_request_era() -> None:
    """2026-07-28 over h2 with httpx: concurrent calls with progress, and a
    subscriptions/listen stream that gets a published notification, on one connection."""
    async def body(hub: StreamableHttpServer, port: int) -> None:
        url = f"http://127.0.0.1:{port}/mcp"
        async with httpx.AsyncClient(http1=False, http2=True, timeout=20) as c:
            async def one(i: int) -> Any:
                hs, msg = _modern("tools/call", {"name": "countdown", "arguments": {"n": 2, "delay": 0},
                                                 "_meta": dict(META, progressToken=i)}, i, "countdown")
                r = await c.post(url, headers=hs, json=msg)
                assert r.http_version == "HTTP/2" and r.status_code == 200
                return sse_messages(r.content)
            results = await asyncio.gather(*[one(i) for i in range(30)])
            for i, msgs in enumerate(results):
                assert [m.get("method") for m in msgs] == ["notifications/progress"] * 2 + [None]
                assert msgs[-1]["id"] == i and msgs[-1]["result"]["content"][0]["text"] == "liftoff"
            hs, msg = _modern("subscriptions/listen", {"notifications": {"toolsListChanged": True}}, 99)
            async with c.stream("POST", url, headers=hs, json=msg) as listen:
                assert listen.status_code == 200
                got = b""
                async for chunk in listen.aiter_bytes():
                    got += chunk
                    if b"acknowledged" in got and b"list_changed" not in got:
                        hub.publish("notifications/tools/list_changed")
                    if b"notifications/tools/list_changed" in got:
                        break
            assert len(hub.h2_listener.connections) == 1
    run(body)


@pytest.mark.integration
def test_h2load_per_request_era(tmp_path: Any) -> None:
    """h2load, 2026-07-28 tools/call (stateless): 2000 calls, 16 streams on each of 4 connections."""
    if shutil.which("h2load") is None:
        pytest.skip("h2load is not installed (Debian package nghttp2-client)")
    hs, msg = _modern("tools/call", {"name": "echo", "arguments": {"text": "hi"}}, 1, "echo")
    data = tmp_path / "call.json"
    data.write_text(json.dumps(msg))

    async def body(hub: StreamableHttpServer, port: int) -> None:
        argv = ["h2load", "-n", "2000", "-c", "4", "-m", "16", "-d", str(data)]
        for k, v in hs.items():
            argv += ["-H", f"{k}: {v}"]
        p = await _in_thread(lambda: subprocess.run(argv + [f"http://127.0.0.1:{port}/mcp"],
                                                    capture_output=True, text=True, timeout=60))
        assert "2000 succeeded, 0 failed, 0 errored" in p.stdout, p.stdout
        assert "status codes: 2000 2xx" in p.stdout, p.stdout
    run(body)


@pytest.mark.integration
def test_curl_upgrade_h2c_is_answered_over_http11() -> None:
    """``curl --http2`` on an http URL asks for ``Upgrade: h2c``; we answer over HTTP/1.1
    (no 101), and the request is served."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (Debian package curl)")

    async def body(hub: StreamableHttpServer, port: int) -> None:
        url = f"http://127.0.0.1:{port}/mcp"
        hs = ["-H", "accept: application/json, text/event-stream", "-H", "content-type: application/json"]
        p = await _in_thread(lambda: _curl("--http2", "-v", "-i", *hs, "-d", json.dumps(INIT), url))
        assert p.returncode == 0, p.stderr
        assert "upgrade: h2c" in p.stderr.lower()  # curl did ask
        assert p.stdout.startswith("HTTP/1.1 200"), p.stdout[:100]
        assert not hub.h2_listener.connections
    run(body)


def test_garbage_after_the_preface_is_one_goaway_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """Random bytes (seeded, bounded) after the preface and SETTINGS: the server ends the
    connection (GOAWAY or close), logs no traceback, and keeps serving others."""
    import random

    rnd = random.Random(1414)

    async def body(hub: StreamableHttpServer, port: int) -> None:
        for i in range(30):
            raw = await Raw.open(port)
            junk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200)))
            if i % 2:  # a plausible frame header with a random type, flags and length
                junk = rnd.randrange(64).to_bytes(3, "big") + bytes([rnd.randrange(16), rnd.randrange(256)]) \
                    + rnd.randrange(8).to_bytes(4, "big") + junk
            raw.w.write(junk)
            try:
                await raw.pump(lambda: raw.goaway() is not None or raw.closed, timeout=0.5)
            except (asyncio.TimeoutError, h2.exceptions.ProtocolError):
                pass  # the server may wait for more bytes, or send what our h2 rejects
            raw.w.close()
        raw = await Raw.open(port)
        s = raw.request("POST", json.dumps(INIT).encode())
        await raw.pump(lambda: raw.ended(s))
        assert raw.status(s) == 200

    with caplog.at_level("WARNING"):
        run(body)
    assert not [r for r in caplog.records if r.exc_info or r.levelname in ("ERROR", "CRITICAL")]


def test_huge_window_but_no_reading_aborts_at_max_write_buffer() -> None:
    """A peer that opens a 2 GiB window and then reads nothing: the socket buffer is capped
    at max_write_buffer (the HTTP/1.1 bound), then the connection is aborted."""
    async def body(hub: StreamableHttpServer, port: int) -> None:
        raw = await Raw.open(port, window=2**31 - 1)
        raw.h2.increment_flow_control_window(2**31 - 1 - 65535)
        raw.flush()
        sid = await raw.session()
        for i in (3, 4):  # 8 MiB in all (the demo's blob stops at 4 MiB): more than the kernel buffers
            raw.request("POST", json.dumps(call(i, "blob", {"size": 4 * 1024 * 1024})).encode(),
                        headers=[(b"mcp-session-id", sid), (b"mcp-protocol-version", b"2025-11-25")])
        await asyncio.sleep(0.5)  # not reading
        conn = next(iter(hub.h2_listener.connections), None)
        for _ in range(100):
            if conn is None or conn.closed:
                break
            await asyncio.sleep(0.05)
        assert conn is None or conn.closed
        got = 0
        while True:  # what was in flight, then EOF (aborted, not hung)
            data = await asyncio.wait_for(raw.r.read(1 << 20), 10)
            if not data:
                break
            got += len(data)
        assert got < 8 * 1024 * 1024
    run(body, max_write_buffer=1024 * 1024)


def test_header_block_bytes_bounded_before_decoding() -> None:
    """HEADERS + CONTINUATION whose compressed block passes max_header_list_size is
    stopped (GOAWAY ENHANCE_YOUR_CALM) before h2 buffers or decodes it; at the limit it is not."""
    limit = 4096

    async def body(hub: StreamableHttpServer, port: int) -> None:
        for extra, stopped in ((0, False), (1, True)):
            conn = hub.h2_listener.h2_connection()
            wire = _Wire()
            conn.connection_made(wire)  # type: ignore[arg-type]
            client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            client.initiate_connection()
            head = b"\x00" * 3000
            cont = b"\x00" * (limit - len(head) + extra)
            conn.data_received(client.data_to_send() + _frame(0x1, 0, 1, head) + _frame(0x9, 0, 1, cont))
            goaways = [f for f in wire.frames() if f[0] == 0x7]
            if stopped:
                assert len(goaways) == 1
                assert int.from_bytes(goaways[0][3][4:8], "big") == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
            else:
                assert not goaways and not wire.closing  # still waiting for END_HEADERS
            conn.connection_lost(None)
    run(body, h2_config=H2Config(max_header_list_size=limit))
