"""The asyncio client against our demo server and against small scripted servers.

Scripted servers are raw asyncio servers on 127.0.0.1 that play one fault each:
a reply dribbled a few bytes at a time, garbage, an oversized event, silence,
streams closed with ``retry`` (polling), a legacy HTTP+SSE (2024-11-05) server.
Every test is bounded by ``asyncio.wait_for``.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

from streamcore._server import ServerConfig
from streamcore._store import MemoryEventStore
from streamcore.aio.client import (
    ClientSession,
    ConnectionLost,
    HttpStatusError,
    McpError,
    RequestTimeout,
    StreamProtocolError,
    connect,
    elicitation_defaults,
)
from streamcore.aio.server import StreamableHttpServer
from streamcore.demo import DemoApp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _procs import streamcore_server  # noqa: E402


def run(coro: Awaitable[Any], timeout: float = 20.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def demo(**cfg: Any) -> tuple[Any, str]:
    hub = StreamableHttpServer(DemoApp(), ServerConfig(**cfg))
    srv = await hub.start("127.0.0.1", 0)
    return srv, f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/mcp"


async def elicit(params: dict) -> dict:
    return {"action": "accept", "content": {"name": "Ada"}}


# -- scripted raw server ---------------------------------------------------------

Handler = Callable[[str, str, dict, bytes, asyncio.StreamWriter], Awaitable[bool]]


class Raw:
    """A raw HTTP/1.1 server: ``handler(method, path, headers, body, writer)`` answers each
    request and returns True to keep the connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[tuple[str, str, dict, bytes]] = []
        self.connections = 0
        self.server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> "Raw":
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/mcp"

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append((method, path, headers, body))
                if not await self.handler(method, path, headers, body, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


def msg(body: bytes) -> dict:
    return json.loads(body) if body else {}


def init_result(rid: Any, version: str = "2025-11-25") -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "result": {
        "protocolVersion": version, "capabilities": {}, "serverInfo": {"name": "raw", "version": "0"}}}).encode()


def json_reply(payload: bytes, extra: str = "Mcp-Session-Id: S\r\n") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}Content-Length: {len(payload)}\r\n\r\n"
            .encode() + payload)


ACCEPTED = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
NO_GET = b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n"


async def basic(method: str, path: str, h: dict, body: bytes, w: asyncio.StreamWriter) -> bool | None:
    """Answer initialize, notifications, GET (405) and DELETE; None for everything else."""
    m = msg(body)
    if method == "GET" or method == "DELETE":
        w.write(NO_GET)
        return True
    if m.get("method") == "initialize":
        w.write(json_reply(init_result(m["id"])))
        return True
    if "id" not in m or "method" not in m:
        w.write(ACCEPTED)
        return True
    return None


# -- against the demo server ------------------------------------------------------


@pytest.mark.parametrize("json_mode", [False, True])
def test_demo_session(json_mode: bool) -> None:
    """Initialize, list, call with progress, elicitation round trip, DELETE: SSE and JSON replies."""

    async def main() -> None:
        srv, url = await demo(json_response=json_mode, event_store=MemoryEventStore())
        async with srv:
            seen: list = []
            async with connect(url, era="legacy", handlers={"elicitation/create": elicit}) as s:
                assert s.session_id and s.protocol_version == "2025-11-25"
                assert s.server_info["name"] == "streamcore-demo"
                names = [t["name"] for t in await s.list_tools()]
                assert names == ["echo", "add", "countdown", "ask_name", "route", "blob", "announce"]
                r = await s.call_tool("countdown", {"n": 4, "delay": 0}, progress=lambda *a: seen.append(a))
                assert r["content"][0]["text"] == "liftoff"
                if not json_mode:
                    assert [p for p, _, _ in seen] == [1, 2, 3, 4]
                r = await s.call_tool("ask_name", {})
                assert r["content"][0]["text"] == "Hello, Ada!"
                assert len((await s.call_tool("blob", {"size": 1_000_000}))["content"][0]["text"]) == 1_000_000
                with pytest.raises(McpError) as ei:
                    await s.call_tool("nope", {})
                assert ei.value.code == -32602
                assert s.session_id

    run(main())


def test_demo_subprocess_and_delete() -> None:
    """Against `python -m streamcore serve`: DELETE ends the session (a reuse of its id gets 404)."""

    async def main(url: str) -> None:
        async with connect(url, era="legacy") as s:
            await s.ping()
            sid = s.session_id
        import urllib.request

        req = urllib.request.Request(url, method="DELETE", headers={"Mcp-Session-Id": sid})
        with pytest.raises(Exception) as ei:
            await asyncio.to_thread(urllib.request.urlopen, req, None, 5)
        assert "404" in str(ei.value)

    with streamcore_server() as url:
        run(main(url))


def test_notifications_iterator_and_concurrency() -> None:
    """Progress notifications reach the async iterator; concurrent requests share the pool."""

    async def main() -> None:
        srv, url = await demo(event_store=MemoryEventStore())
        async with srv:
            async with connect(url, era="legacy") as s:
                results = await asyncio.gather(*(s.call_tool("add", {"a": i, "b": 1}) for i in range(20)))
                assert [r["content"][0]["text"] for r in results] == [str(i + 1) for i in range(20)]
                await s.call_tool("countdown", {"n": 2, "delay": 0}, progress=lambda *a: None)  # not queued
                await s.request("tools/call", {"name": "countdown", "arguments": {"n": 3, "delay": 0},
                                               "_meta": {"progressToken": "mine"}})
                got = []
                async for n in s.notifications():
                    got.append((n.method, n.params["progressToken"], n.params["progress"]))
                    if len(got) == 3:
                        break
                assert got == [("notifications/progress", "mine", i) for i in (1, 2, 3)]

    run(main())


def test_polling_nothing_lost_or_duplicated() -> None:
    """T-18: the server closes every stream after priming with retry; all progress arrives once, in order."""

    async def main() -> None:
        srv, url = await demo(event_store=MemoryEventStore(), retry_ms=20, close_after_priming=True)
        async with srv:
            seen: list = []
            async with connect(url, era="legacy", listen=False) as s:
                r = await s.call_tool("countdown", {"n": 6, "delay": 0.03}, progress=lambda p, t, m: seen.append(p))
                assert r["content"][0]["text"] == "liftoff"
                assert seen == [1, 2, 3, 4, 5, 6]
                assert (await s.call_tool("echo", {"text": "é"}))["content"][0]["text"] == "é"

    run(main())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _killable_server:
    """``python -m streamcore serve --port PORT`` that the test can SIGKILL by its pid."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> str:
        self.proc = subprocess.Popen([sys.executable, "-m", "streamcore", "serve", "--port", str(self.port)],
                                     cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = re.search(r"(http://\S+/mcp)", line)
        if m is None:
            self.kill()
            raise RuntimeError(f"server did not start: {line!r}")
        return m.group(1)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)

    def __exit__(self, *exc: Any) -> None:
        self.kill()


def test_server_killed_mid_stream_and_restarted() -> None:
    """Kill the server during a streamed call, restart it: resume fails with 404, the client
    re-initializes (CLI-SESS-02) and re-issues the request, which then succeeds."""
    port = _free_port()

    async def main() -> None:
        # killed for real (SIGKILL, off the event loop): a SIGINT'd server may finish the
        # stream before it exits (Python 3.12+ waits for open connections), and a blocking
        # stop on the loop let the whole countdown arrive before the "kill"
        ctx = _killable_server(port)
        url = ctx.__enter__()
        restarted = None
        try:
            async with connect(url, era="legacy", backoff_initial=0.2, max_reconnect_attempts=8, jitter=lambda: 0.5) as s:
                first = s.session_id
                seen: list = []
                task = asyncio.ensure_future(
                    s.call_tool("countdown", {"n": 10, "delay": 0.1}, progress=lambda p, t, m: seen.append(p)))
                for _ in range(100):
                    if seen:
                        break
                    await asyncio.sleep(0.02)
                assert seen
                await asyncio.to_thread(ctx.kill)
                ctx = None
                restarted = streamcore_server("--port", str(port))
                await asyncio.to_thread(restarted.__enter__)
                r = await asyncio.wait_for(task, 15)
                assert r["content"][0]["text"] == "liftoff"
                assert s.session_id != first
                assert (await s.call_tool("add", {"a": 2, "b": 2}))["content"][0]["text"] == "4"
        finally:
            if ctx is not None:
                ctx.__exit__(None, None, None)
            if restarted is not None:
                restarted.__exit__(None, None, None)

    run(main(), 40)


# -- scripted faults ---------------------------------------------------------------


def test_reads_a_few_bytes_at_a_time_chunked() -> None:
    """A chunked SSE reply written three bytes at a time decodes to the same result."""

    async def handler(method: str, path: str, h: dict, body: bytes, w: asyncio.StreamWriter) -> bool:
        r = await basic(method, path, h, body, w)
        if r is not None:
            return r
        m = msg(body)
        events = (b": c\n\nid: 1\ndata: \n\n"
                  + b'data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"'
                  + m["params"]["_meta"]["progressToken"].encode() + b'","progress":1,"total":1}}\n\n'
                  + b"id: 2\ndata: " + json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": {"v": "é" * 50}}).encode()
                  + b"\n\n")
        wire = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        for i in range(0, len(events), 7):
            piece = events[i:i + 7]
            wire += b"%x\r\n%s\r\n" % (len(piece), piece)
        wire += b"0\r\n\r\n"
        for i in range(0, len(wire), 3):
            w.write(wire[i:i + 3])
            await w.drain()
        return True

    async def main() -> None:
        async with Raw(handler) as raw:
            async with connect(raw.url, era="legacy") as s:
                seen = []
                r = await s.request("x", {}, progress=lambda *a: seen.append(a))
                assert r == {"v": "é" * 50} and seen == [(1, 1, None)]
                r = await s.request("y", {}, progress=lambda *a: None)
                assert r == {"v": "é" * 50}
            assert raw.connections <= 3  # reused: concurrent sends (initialized + GET) need a second one

    run(main())


def test_connection_reuse_json() -> None:
    """Sequential requests reuse one keep-alive connection."""

    async def handler(method: str, path: str, h: dict, body: bytes, w: asyncio.StreamWriter) -> bool:
        r = await basic(method, path, h, body, w)
        if r is not None:
            return r
        w.write(json_reply(json.dumps({"jsonrpc": "2.0", "id": msg(body)["id"], "result": {}}).encode()))
        return True

    async def main() -> None:
        async with Raw(handler) as raw:
            async with connect(raw.url, era="legacy", listen=False) as s:
                for _ in range(20):
                    await s.ping()
            assert raw.connections <= 2  # the initialized notification and the first ping overlap
            assert all(h.get("mcp-session-id") == "S" for m, p, h, b in raw.requests[1:])

    run(main())


@pytest.mark.parametrize("garbage", [
    b"HELLO WORLD\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{oops",
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\nid: 1\ndata: [1,2\n\n",
    b"\x00\xff" * 40000,
])
def test_garbage_gives_clean_errors(garbage: bytes) -> None:
    """Garbage from the server fails the request with a ClientError, never a hang or crash."""

    async def handler(method: str, path: str, h: dict, body: bytes, w: asyncio.StreamWriter) -> bool:
        r = await basic(method, path, h, body, w)
        if r is not None:
            return r
        w.write(garbage)
        await w.drain()
        return False

    async def main() -> None:
        async with Raw(handler) as raw:
            async with connect(raw.url, era="legacy", timeout=5) as s:
                with pytest.raises((ConnectionLost, StreamProtocolError)):
                    await s.ping()

    run(main())


def test_oversized_event_bounded() -> None:
    """An endless SSE event is cut at max_event_size: a clean error, bounded memory."""

    async def handler(method: str, path: str, h: dict, body: bytes, w: asyncio.StreamWriter) -> bool:
        r = await basic(method, path, h, body, w)
        if r is not None:
            return r
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\nid: 1\ndata: ")
        try:
            for _ in range(2000):
                w.write(b"x" * 65536)
                await w.drain()
        except ConnectionError:
            pass
        return False

    async def main() -> None:
        async with Raw(handler) as raw:
            async with connect(raw.url, era="legacy", max_event_size=1 << 20) as s:
                with pytest.raises(StreamProtocolError):
                    await s.ping()

    run(main())


def test_server_never_answers() -> None:
    """A server that accepts and stays silent: RequestTimeout, then notifications/cancelled."""

    async def handler(method: str, path: str, h: dict, body: bytes, w: asyncio.StreamWriter) -> bool:
        r = await basic(method, path, h, body, w)
        if r is not None:
            return r
        await asyncio.sleep(30)
        return False

    async def main() -> None:
        async with Raw(handler) as raw:
            async with connect(raw.url, era="legacy", timeout=0.3) as s:
                with pytest.raises(RequestTimeout):
                    await s.ping()
                for _ in range(50):
                    if any(msg(b).get("method") == "notifications/cancelled" for _, _, _, b in raw.requests):
                        break
                    await asyncio.sleep(0.02)
                assert any(msg(b).get("method") == "notifications/cancelled" for _, _, _, b in raw.requests)

    run(main())


def test_http_errors_and_connection_refused() -> None:
    """401 reaches the caller as HttpStatusError; a refused connection as ConnectionLost."""

    async def handler(method: str, path: str, h: dict, body: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 4\r\n\r\nnope")
        return True

    async def main() -> None:
        async with Raw(handler) as raw:
            with pytest.raises(HttpStatusError) as ei:
                async with connect(raw.url, era="legacy"):
                    pass
            assert ei.value.status == 401
        with pytest.raises(ConnectionLost):
            async with connect(f"http://127.0.0.1:{_free_port()}/mcp", era="legacy"):
                pass

    run(main())


def test_cancellation_sends_cancelled() -> None:
    """Cancelling the awaiting task sends notifications/cancelled with the request id."""
    async def main() -> None:
        seen = asyncio.Event()

        async def handler(method: str, path: str, h: dict, body: bytes, w: asyncio.StreamWriter) -> bool:
            r = await basic(method, path, h, body, w)
            if r is not None:
                return r
            seen.set()
            await asyncio.sleep(30)
            return False

        async with Raw(handler) as raw:
            async with connect(raw.url, era="legacy") as s:
                task = asyncio.ensure_future(s.request("slow", {}))
                await asyncio.wait_for(seen.wait(), 5)
                rid = [msg(b) for _, _, _, b in raw.requests if msg(b).get("method") == "slow"][0]["id"]
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                for _ in range(100):
                    notes = [msg(b) for _, _, _, b in raw.requests if msg(b).get("method") == "notifications/cancelled"]
                    if notes:
                        break
                    await asyncio.sleep(0.02)
                assert notes[0]["params"]["requestId"] == rid

    run(main())


def test_scripted_polling_server() -> None:
    """A raw server that closes each stream after one event with `retry: 30`: the client comes
    back with GET + Last-Event-ID each time and gets every event exactly once."""
    log: list[str] = []

    async def main() -> None:
        state = {"rid": None}

        async def handler(method: str, path: str, h: dict, body: bytes, w: asyncio.StreamWriter) -> bool:
            m = msg(body)
            if method == "GET" and "last-event-id" in h:
                n = int(h["last-event-id"].split("-")[1])
                log.append(h["last-event-id"])
                if n < 4:
                    data = json.dumps({"jsonrpc": "2.0", "method": "notifications/progress",
                                       "params": {"progressToken": state["tok"], "progress": n + 1}})
                else:
                    data = json.dumps({"jsonrpc": "2.0", "id": state["rid"], "result": {"n": n}})
                ev = f"id: e-{n + 1}\nretry: 30\ndata: {data}\n\n".encode()
                w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s"
                        % (len(ev), ev))
                return True
            r = await basic(method, path, h, body, w)
            if r is not None:
                return r
            state["rid"] = m["id"]
            state["tok"] = m["params"]["_meta"]["progressToken"]
            ev = b"id: e-0\nretry: 30\ndata: \n\n"
            w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(ev), ev))
            return True

        async with Raw(handler) as raw:
            async with connect(raw.url, era="legacy", listen=False) as s:
                seen = []
                r = await s.request("work", {}, progress=lambda p, t, m: seen.append(p))
                assert r == {"n": 4} and seen == [1, 2, 3, 4]

    run(main())
    assert log == ["e-0", "e-1", "e-2", "e-3", "e-4"]


def test_legacy_http_sse_server() -> None:
    """CLI-COMPAT-02 / T-20 against a tiny 2024-11-05 server: POST 405 -> GET -> `endpoint`
    -> POSTs to the endpoint, replies on the SSE stream."""

    async def main() -> None:
        stream: asyncio.Queue = asyncio.Queue()

        async def handler(method: str, path: str, h: dict, body: bytes, w: asyncio.StreamWriter) -> bool:
            if path == "/mcp" and method == "POST":
                w.write(NO_GET)
                return True
            if path == "/mcp" and method == "GET":
                w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
                        b"event: endpoint\ndata: /messages?session_id=42\n\n")
                await w.drain()
                for _ in range(1000):
                    item = await stream.get()
                    if item is None:
                        break
                    w.write(b"event: message\ndata: " + item + b"\n\n")
                    await w.drain()
                return False
            if path.startswith("/messages?session_id=42") and method == "POST":
                m = msg(body)
                w.write(ACCEPTED)
                if m.get("method") == "initialize":
                    stream.put_nowait(init_result(m["id"], "2024-11-05"))
                elif m.get("method") == "tools/list":
                    stream.put_nowait(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": {"tools": [
                        {"name": "echo", "inputSchema": {"type": "object"}}]}}).encode())
                elif m.get("method") == "tools/call":
                    stream.put_nowait(json.dumps({"jsonrpc": "2.0", "method": "notifications/progress", "params": {
                        "progressToken": m["params"]["_meta"]["progressToken"], "progress": 1}}).encode())
                    stream.put_nowait(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": {
                        "content": [{"type": "text", "text": m["params"]["arguments"]["text"]}]}}).encode())
                return True
            w.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return True

        async with Raw(handler) as raw:
            async with connect(raw.url, era="legacy") as s:
                assert s.legacy and s.protocol_version == "2024-11-05"
                assert [t["name"] for t in await s.list_tools()] == ["echo"]
                seen = []
                r = await s.call_tool("echo", {"text": "hi"}, progress=lambda *a: seen.append(a))
                assert r["content"][0]["text"] == "hi" and seen == [(1, None, None)]
            stream.put_nowait(None)
            posts = [(p, msg(b).get("method")) for m, p, h, b in raw.requests if m == "POST"]
            assert posts[0] == ("/mcp", "initialize")
            assert all(p.startswith("/messages") for p, _ in posts[1:])
            assert [m for _, m in posts[1:3]] == ["initialize", "notifications/initialized"]

    run(main())


def test_handler_errors_are_reported_to_server() -> None:
    """A server request without a handler gets -32601; a failing handler gets -32603."""

    async def main() -> None:
        srv, url = await demo(event_store=MemoryEventStore())
        async with srv:
            async with connect(url, era="legacy") as s:  # no elicitation handler: the server's tool fails
                with pytest.raises(McpError):
                    await s.call_tool("ask_name", {})

            async def broken(params: dict) -> dict:
                raise RuntimeError("no UI")

            async with connect(url, era="legacy", handlers={"elicitation/create": broken}) as s:
                with pytest.raises(McpError):
                    await s.call_tool("ask_name", {})

    run(main())


def test_elicitation_defaults_helper() -> None:
    """SEP-1034: elicitation_defaults collects every property's default."""
    schema = {"type": "object", "properties": {"a": {"type": "string", "default": "x"}, "b": {"type": "integer"},
                                               "c": {"type": "boolean", "default": False}}}
    assert elicitation_defaults(schema) == {"a": "x", "c": False}
    assert elicitation_defaults({}) == {} and elicitation_defaults("nope") == {}  # type: ignore[arg-type]


def test_session_close_is_idempotent() -> None:
    """close() twice is harmless; requests after close fail with ClientClosed."""
    from streamcore.aio.client import ClientClosed

    async def main() -> None:
        srv, url = await demo(event_store=MemoryEventStore())
        async with srv:
            s = ClientSession(url)
            await s.initialize()
            await s.close()
            await s.close()
            with pytest.raises(ClientClosed):
                await s.ping()

    run(main())
