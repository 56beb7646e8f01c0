"""The server's per-request work, without sockets: for instruction counts.

    python benches/e2e/hotpath.py [N] [--json] [--modern] [--loop uvloop|asyncio]
    valgrind --tool=callgrind --callgrind-out-file=cg.%p python benches/e2e/hotpath.py 2000

The demo app behind the asyncio adapter (``StreamableHttpServer``, the fast
HTTP/1.1 engine) on a real event loop, one keep-alive connection whose
transport is an in-memory stand-in: each request's bytes go to
``data_received`` and the loop runs until the response has been written.
Everything the server does per request (the HTTP/1.1 engine, the head
policy, the era classifier, the session core, the handler task, the
adapter's drain and flush, the loop's handles) runs; the kernel's share and
the client's do not. Wall time on a shared machine is noise, so the figure to
compare is callgrind's instruction count: run N and 2N requests and take
(Ir(2N) - Ir(N)) / N as the instructions per request (``--ir`` does that,
running valgrind itself).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from streamcore.aio.server import StreamableHttpServer  # noqa: E402
from streamcore.demo import DemoApp  # noqa: E402


LAST_HUB: Any = None


class Transport(asyncio.Transport):
    """Just enough of a transport: collects what the server writes."""

    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.closing = False

    def write(self, data: Any) -> None:
        self.out += data

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def can_write_eof(self) -> bool:
        return True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def request(body: dict, headers: str) -> bytes:
    raw = json.dumps(body, separators=(",", ":")).encode()
    return (f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nAccept: application/json, text/event-stream\r\n"
            f"Content-Type: application/json\r\n{headers}Content-Length: {len(raw)}\r\n\r\n").encode() + raw


async def run(n: int, json_mode: bool, modern: bool, store: bool = False) -> float:
    from streamcore import ServerConfig
    from streamcore.store import MemoryEventStore

    hub = StreamableHttpServer(DemoApp(), ServerConfig(json_response=json_mode,
                                                       event_store=MemoryEventStore() if store else None))
    hub._loop = asyncio.get_running_loop()
    global LAST_HUB
    LAST_HUB = hub  # kept for inspection (tracked objects, the store's size) after the run
    conn = hub._engine(hub)
    t = Transport()
    conn.connection_made(t)

    async def exchange(req: bytes) -> bytes:
        start = len(t.out)
        conn.data_received(req)
        for _ in range(100):
            out = t.out[start:]
            if out.endswith(b"0\r\n\r\n") or (b"content-length: " in out and _complete(out)):
                return bytes(out)
            await asyncio.sleep(0)
        raise RuntimeError(f"no response: {bytes(t.out[start:])!r}")

    if modern:
        hdr = "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: echo\r\n"
        meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}}
    else:
        init = await exchange(request({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "hotpath", "version": "0"}}}, ""))
        m = re.search(rb"mcp-session-id: (\S+)", init)
        assert m is not None, init
        hdr = f"Mcp-Session-Id: {m.group(1).decode()}\r\nMCP-Protocol-Version: 2025-11-25\r\n"
        await exchange(request({"jsonrpc": "2.0", "method": "notifications/initialized"}, hdr))
        meta = None
    reqs = []
    for i in range(n):
        params: dict[str, Any] = {"name": "echo", "arguments": {"text": "hello, world"}}
        if meta is not None:
            params["_meta"] = meta
        reqs.append(request({"jsonrpc": "2.0", "id": 1000 + i, "method": "tools/call", "params": params}, hdr))
    t0 = time.perf_counter()
    for r in reqs:
        out = await exchange(r)
    dt = time.perf_counter() - t0
    assert b'"text":"hello, world"' in out, out
    return dt


def _complete(out: bytearray) -> bool:
    head, sep, body = bytes(out).partition(b"\r\n\r\n")
    m = re.search(rb"content-length: (\d+)", head)
    return bool(sep) and m is not None and len(body) >= int(m.group(1))


def ir(args: argparse.Namespace) -> None:
    """Instructions per request: callgrind on N and 2N requests."""
    counts = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (args.n, 2 * args.n):
            out = Path(tmp) / f"cg.{n}"
            argv = [sys.executable, __file__, str(n), "--loop", args.loop] + (["--json"] if args.json else []) \
                + (["--modern"] if args.modern else [])
            subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
                           check=True, capture_output=True)
            text = out.read_text(errors="replace")
            m = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
            assert m is not None
            counts.append(int(m.group(1)))
    per = (counts[1] - counts[0]) / args.n
    print(f"{per:,.0f} instructions per request ({args.loop}, {'modern' if args.modern else 'session'}, "
          f"{'json' if args.json else 'sse'}; callgrind, N={args.n} and {2 * args.n})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int, nargs="?", default=20000)
    ap.add_argument("--json", action="store_true", help="session era, JSON response mode")
    ap.add_argument("--modern", action="store_true", help="the per-request era (2026-07-28)")
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    ap.add_argument("--store", action="store_true", help="with the demo's default event store (bounded, 100,000 events)")
    ap.add_argument("--gc", action="store_true", help="report the garbage collector's pauses (gc.callbacks)")
    ap.add_argument("--ir", action="store_true", help="run callgrind on N and 2N requests; print Ir per request")
    args = ap.parse_args()
    if args.ir:
        ir(args)
        return
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    if args.gc:
        import gc
        started = [0.0]

        def timing(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                started[0] = time.thread_time()
            else:
                pauses[info["generation"]].append(time.thread_time() - started[0])
        gc.callbacks.append(timing)
    if args.loop == "uvloop":
        import uvloop
        dt = uvloop.run(run(args.n, args.json, args.modern, args.store))
    else:
        dt = asyncio.run(run(args.n, args.json, args.modern, args.store))
    print(f"{args.n} requests in {dt:.3f} s: {dt / args.n * 1e6:.1f} µs per request (wall, in-process)")
    if args.gc:
        for g, ps in pauses.items():
            print(f"  gc generation {g}: {len(ps)} collections, {sum(ps) * 1e3:.1f} ms in all, "
                  f"longest {max(ps, default=0) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
