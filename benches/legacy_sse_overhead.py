"""What serving HTTP+SSE beside the endpoint costs a Streamable HTTP request in the sans-IO core.

One session-era request per iteration (POST tools/call, SSE reply, one
response), on a core with ``ServerConfig()`` ("plain") or with
``ServerConfig(sse_path="/sse")`` ("sse"). Count instructions, not time
(the machine is shared): run each mode at N=0 and N=4000 under callgrind and
divide the difference by 4000.

    PYTHONHASHSEED=0 NOGC=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        python benches/legacy_sse_overhead.py plain 4000      # and: sse, and N=0

Without valgrind it prints microseconds per request (noisy; compare the two
modes within one run).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time

from streamcore.events import RequestReceived
from streamcore.server import Server, ServerConfig

HOST = (b"host", b"127.0.0.1:8000")


def main(mode: str, n: int) -> None:
    if os.environ.get("NOGC"):
        gc.disable()
    s = Server(ServerConfig(sse_path="/sse") if mode == "sse" else ServerConfig())
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "b", "version": "0"}}}
    base = [HOST, (b"accept", b"application/json, text/event-stream"), (b"content-type", b"application/json")]
    x = s.receive_request(b"POST", b"/mcp", base, now=1.0)
    s.receive_body(x, json.dumps(init).encode())
    s.receive_end(x, now=1.0)
    sid = b""
    while (ev := s.next_event()) is not None:
        if isinstance(ev, RequestReceived):
            s.respond(ev.rid, {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "b", "version": "0"}},
                      now=1.0)
        elif getattr(ev, "headers", None):
            sid = dict(ev.headers).get(b"mcp-session-id", sid)
    hdr = base + [(b"mcp-session-id", sid), (b"mcp-protocol-version", b"2025-11-25")]
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo"}}).encode()
    t = time.perf_counter()
    for _ in range(n):
        x = s.receive_request(b"POST", b"/mcp", hdr, now=1.0)
        s.receive_body(x, body)
        s.receive_end(x, now=1.0)
        while (ev := s.next_event()) is not None:
            if isinstance(ev, RequestReceived):
                s.respond(ev.rid, {"content": []}, now=1.0)
    if n:
        print(f"{mode}: {(time.perf_counter() - t) / n * 1e6:.2f} us per request")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "plain", int(sys.argv[2]) if len(sys.argv) > 2 else 20000)
