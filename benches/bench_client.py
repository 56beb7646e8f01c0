"""Client benchmarks: SSE stream consumption and tools/call round trips.

    python benches/bench_client.py [--events 20000] [--calls 500] [--repeat 3]

1. **Stream consumption.** A raw asyncio server on 127.0.0.1 answers one
   ``tools/call`` with a chunked ``text/event-stream`` carrying N pre-encoded
   ``notifications/progress`` events (about 200 B or 2 KB each) and then the
   response, written as fast as the socket takes it. Each client consumes the
   stream and hands every progress notification to a callback; we report
   events per second (best of ``--repeat``).
2. **Round trips.** Sequential ``tools/call echo`` against our demo server
   (``python -m streamcore serve``, SSE replies), in calls per second.

Clients: streamcore's asyncio client; the official Python SDK client
(``mcp``: ``streamable_http_client`` + ``ClientSession``); and ``httpx`` +
``httpx-sse`` driven by hand (POST, iterate SSE, ``json.loads`` each event:
no MCP session logic, a floor for what an httpx-based client can do).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamcore.aio.client import connect  # noqa: E402

ACCEPT = "application/json, text/event-stream"


# -- the streaming server -----------------------------------------------------------


def build_stream(n: int, size: int) -> list[bytes]:
    """N progress events of about ``size`` bytes each, grouped into HTTP chunks of about 64 KiB."""
    pad = "x" * max(0, size - 110)
    events = []
    for i in range(n):
        data = json.dumps({"jsonrpc": "2.0", "method": "notifications/progress",
                           "params": {"progressToken": "TOKEN", "progress": i + 1, "total": n, "message": pad}},
                          separators=(",", ":"))
        events.append(f"id: {i}\ndata: {data}\n\n".encode())
    # whole events per piece, so that the token placeholder never straddles two pieces
    pieces, cur, size_now = [], [], 0
    for ev in events:
        cur.append(ev)
        size_now += len(ev)
        if size_now >= 65536:
            pieces.append(b"".join(cur))
            cur, size_now = [], 0
    if cur:
        pieces.append(b"".join(cur))
    return pieces


class StreamServer:
    """Answers initialize/notifications, 405 to GET, and streams the pre-encoded events to tools/call."""

    def __init__(self, n: int, size: int) -> None:
        self.n = n
        self.template = build_stream(n, size)

    async def start(self) -> str:
        self.server = await asyncio.start_server(self.conn, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/mcp"

    async def conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                body = await reader.readexactly(int(m.group(1))) if m else b""
                if head.startswith(b"GET") or head.startswith(b"DELETE"):
                    writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                    continue
                msg = json.loads(body)
                if msg.get("method") == "initialize":
                    out = json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {
                        "protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"tools": {}},
                        "serverInfo": {"name": "bench", "version": "0"}}}).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nMcp-Session-Id: B\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(out), out))
                elif msg.get("method") == "tools/list":  # the mcp client validates results against it
                    out = json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {"tools": [
                        {"name": "stream", "inputSchema": {"type": "object"}}]}}).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(out), out))
                elif "id" not in msg or "method" not in msg:
                    writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                else:
                    token = json.dumps(((msg.get("params") or {}).get("_meta") or {}).get("progressToken", "T"))
                    tok = token.encode()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nMcp-Session-Id: B\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n")
                    for piece in self.template:
                        piece = piece.replace(b'"TOKEN"', tok)
                        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        await writer.drain()
                    last = b"data: " + json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {
                        "content": [{"type": "text", "text": "done"}]}}).encode() + b"\n\n"
                    writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(last), last))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


# -- clients: one stream -------------------------------------------------------------


async def stream_streamcore(url: str, n: int) -> float:
    count = 0

    def cb(p: Any, t: Any, m: Any) -> None:
        nonlocal count
        count += 1

    async with connect(url, listen=False, max_queued_notifications=1) as s:
        t0 = time.perf_counter()
        await s.call_tool("stream", {}, progress=cb)
        dt = time.perf_counter() - t0
    assert count == n, count
    return dt


async def stream_mcp(url: str, n: int) -> float:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    count = 0

    async def cb(p: float, t: float | None, m: str | None) -> None:
        nonlocal count
        count += 1

    async with streamable_http_client(url, max_sse_event_size=1 << 20) as (r, w, *_):
        async with ClientSession(r, w) as s:
            await s.initialize()
            t0 = time.perf_counter()
            await s.call_tool("stream", {}, progress_callback=cb)
            dt = time.perf_counter() - t0
    assert count == n, count
    return dt


async def stream_httpx(url: str, n: int) -> float:
    import httpx
    from httpx_sse import EventSource

    count = 0
    async with httpx.AsyncClient(timeout=60) as c:
        h = {"Accept": ACCEPT}
        r = await c.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "b", "version": "0"}}}, headers=h)
        h["Mcp-Session-Id"] = r.headers["mcp-session-id"]
        h["MCP-Protocol-Version"] = "2025-11-25"
        await c.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=h)
        t0 = time.perf_counter()
        # (httpx_sse.aconnect_sse would replace our Accept header with text/event-stream alone)
        async with c.stream("POST", url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
                "name": "stream", "arguments": {}, "_meta": {"progressToken": 1}}}, headers=h) as resp:
            async for ev in EventSource(resp).aiter_sse():
                if not ev.data:
                    continue
                m = json.loads(ev.data)
                if m.get("method") == "notifications/progress":
                    count += 1
                elif m.get("id") == 2:
                    break
        dt = time.perf_counter() - t0
    assert count == n, count
    return dt


# -- clients: round trips ---------------------------------------------------------------


async def rt_streamcore(url: str, calls: int) -> float:
    async with connect(url, listen=False) as s:
        await s.call_tool("echo", {"text": "warm"})
        t0 = time.perf_counter()
        for i in range(calls):
            await s.call_tool("echo", {"text": "hello"})
        return time.perf_counter() - t0


async def rt_mcp(url: str, calls: int) -> float:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with streamable_http_client(url) as (r, w, *_):
        async with ClientSession(r, w) as s:
            await s.initialize()
            await s.call_tool("echo", {"text": "warm"})
            t0 = time.perf_counter()
            for i in range(calls):
                await s.call_tool("echo", {"text": "hello"})
            return time.perf_counter() - t0


async def rt_httpx(url: str, calls: int) -> float:
    import httpx
    from httpx_sse import EventSource

    async with httpx.AsyncClient(timeout=60) as c:
        h = {"Accept": ACCEPT}
        r = await c.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "b", "version": "0"}}}, headers=h)
        h["Mcp-Session-Id"] = r.headers["mcp-session-id"]
        h["MCP-Protocol-Version"] = "2025-11-25"
        await c.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=h)
        t0 = time.perf_counter()
        for i in range(calls):
            async with c.stream("POST", url, json={"jsonrpc": "2.0", "id": i + 2, "method": "tools/call",
                                                   "params": {"name": "echo", "arguments": {"text": "hello"}}},
                                headers=h) as resp:
                async for ev in EventSource(resp).aiter_sse():
                    if ev.data and json.loads(ev.data).get("id") == i + 2:
                        break
        return time.perf_counter() - t0


CLIENTS: dict[str, tuple[Callable, Callable]] = {
    "streamcore": (stream_streamcore, rt_streamcore),
    "mcp (official SDK)": (stream_mcp, rt_mcp),
    "httpx + httpx-sse": (stream_httpx, rt_httpx),
}


def start_demo() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "streamcore", "serve", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    m = re.search(r"(http://\S+/mcp)", proc.stdout.readline())
    if m is None:
        proc.kill()
        raise RuntimeError("demo server did not start")
    return proc, m.group(1)


def _serve_stream(n: int, size: int, conn: Any) -> None:
    """Child process: run a StreamServer until killed; send its URL through ``conn``."""

    async def run() -> None:
        srv = StreamServer(n, size)
        conn.send(await srv.start())
        await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


async def main_async(args: argparse.Namespace) -> dict:
    import multiprocessing as mp

    results: dict[str, dict[str, float]] = {name: {} for name in CLIENTS}
    for size, n in ((200, args.events), (2048, max(1, args.events // 4))):
        # the server runs in its own process so that it does not share the client's CPU
        parent, child = mp.Pipe()
        proc = mp.get_context("spawn").Process(target=_serve_stream, args=(n, size, child), daemon=True)
        proc.start()
        try:
            if not parent.poll(60):
                raise RuntimeError("stream server did not start")
            url = parent.recv()
            for name, (fn, _) in CLIENTS.items():
                best = min([await asyncio.wait_for(fn(url, n), 300) for _ in range(args.repeat)])
                results[name][f"stream {size} B ev/s"] = n / best
                print(f"  stream {size:>5} B  {name:<20} {n / best:>12,.0f} events/s", file=sys.stderr)
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.join(10)
    proc, url = start_demo()
    try:
        for name, (_, fn) in CLIENTS.items():
            best = min([await asyncio.wait_for(fn(url, args.calls), 300) for _ in range(args.repeat)])
            results[name]["tools/call rt/s"] = args.calls / best
            print(f"  tools/call        {name:<20} {args.calls / best:>12,.0f} calls/s", file=sys.stderr)
    finally:
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(10)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20000, help="events of 200 B per stream (2 KB: a quarter)")
    ap.add_argument("--calls", type=int, default=500, help="sequential tools/call round trips")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    results = asyncio.run(main_async(args))
    cols = ["stream 200 B ev/s", "stream 2048 B ev/s", "tools/call rt/s"]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    base = results["mcp (official SDK)"]
    print(f"python {platform.python_version()} on {platform.machine()}, events={args.events}, calls={args.calls}, "
          f"best of {args.repeat}")
    print("| client | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for name, row in results.items():
        cells = [f"{row[c]:,.0f} ({row[c] / base[c]:.1f}x)" for c in cols]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
