"""streamcore behind nginx with HTTP/2 to the client: what docs/http2.md says works.

nginx (Debian nginx-light) listens h2c and forwards to our server two ways:
``proxy_pass`` over HTTP/1.1, and ``grpc_pass`` over h2c (prior knowledge).
curl speaks HTTP/2 to nginx. Each way must carry a session and stream SSE
progressively (the first progress event arrives long before the result).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from streamcore.aio.server import StreamableHttpServer
from streamcore.demo import DemoApp
from streamcore.server import ServerConfig
from streamcore.store import MemoryEventStore

pytestmark = pytest.mark.integration

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
HS = ["-H", "accept: application/json, text/event-stream", "-H", "content-type: application/json"]


def _free_port() -> int:
    with socket.socket() as s:  # nginx needs a port in its config: pick a free ephemeral one
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _streamed(url: str, sid: str) -> tuple[float, float, str]:
    """Seconds until the first progress event and until the result, and the body."""
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "countdown", "arguments": {"n": 3, "delay": 0.5}, "_meta": {"progressToken": 1}}}
    t0 = time.monotonic()
    p = subprocess.Popen(["curl", "-s", "-N", "--max-time", "20", "--http2-prior-knowledge", *HS,
                          "-H", f"mcp-session-id: {sid}", "-d", json.dumps(call), url],
                         stdout=subprocess.PIPE, text=True)
    first = last = -1.0
    out = ""
    try:
        assert p.stdout is not None
        for line in p.stdout:
            out += line
            if first < 0 and "notifications/progress" in line:
                first = time.monotonic() - t0
            if "liftoff" in line:
                last = time.monotonic() - t0
    finally:
        p.wait(20)
    return first, last, out


@pytest.mark.parametrize("upstream", ["proxy_pass", "grpc_pass"])
def test_behind_nginx(upstream: str) -> None:
    """HTTP/2 at nginx; HTTP/1.1 (proxy_pass) or h2c (grpc_pass) to streamcore: a session
    works and SSE is not buffered on the way."""
    if shutil.which("nginx") is None or shutil.which("curl") is None:
        pytest.skip("nginx or curl is not installed (Debian packages nginx-light, curl)")

    async def main() -> None:
        hub = StreamableHttpServer(DemoApp(), ServerConfig(event_store=MemoryEventStore(), allowed_hosts=None))
        srv = await hub.start("127.0.0.1", 0)
        up = srv.sockets[0].getsockname()[1]
        made: list[int] = []  # HTTP/2 connections nginx opened to us
        listener = hub.h2_listener
        plain = listener.h2_connection

        def counting() -> Any:
            made.append(1)
            return plain()
        listener.h2_connection = counting
        d = Path(tempfile.mkdtemp())
        port = _free_port()
        if upstream == "proxy_pass":
            loc = (f"proxy_pass http://127.0.0.1:{up}; proxy_http_version 1.1; "
                   'proxy_set_header Connection ""; proxy_buffering off;')
        else:
            loc = f"grpc_pass grpc://127.0.0.1:{up};"
        temps = " ".join(f"{k}_temp_path {d};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (d / "nginx.conf").write_text(
            f"daemon off; pid {d}/nginx.pid; error_log {d}/error.log; worker_processes 1;\n"
            "events { worker_connections 64; }\n"
            f"http {{ access_log off; {temps}\n"
            f"  server {{ listen 127.0.0.1:{port} http2; location / {{ {loc} }} }} }}\n")
        ng = subprocess.Popen(["nginx", "-c", str(d / "nginx.conf"), "-p", str(d)], stderr=subprocess.PIPE)
        loop = asyncio.get_running_loop()
        try:
            url = f"http://127.0.0.1:{port}/mcp"
            for _ in range(50):  # until nginx listens
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    await asyncio.sleep(0.1)
            r: Any = await loop.run_in_executor(None, lambda: subprocess.run(
                ["curl", "-s", "-S", "--max-time", "10", "--http2-prior-knowledge", "-i", *HS,
                 "-d", json.dumps(INIT), url], capture_output=True, text=True))
            assert r.returncode == 0, r.stderr
            assert r.stdout.startswith("HTTP/2 200"), r.stdout[:200]
            sid = [ln.split(":", 1)[1].strip() for ln in r.stdout.splitlines()
                   if ln.lower().startswith("mcp-session-id")][0]
            first, last, out = await loop.run_in_executor(None, _streamed, url, sid)
            assert last > 0, out
            assert first >= 0 and last - first >= 0.7, (first, last)  # progressive, not buffered to the end
            assert bool(made) is (upstream == "grpc_pass")  # h2c upstream only with grpc_pass
        finally:
            ng.terminate()
            ng.wait(10)
            srv.close()

    asyncio.run(main())
