"""streamcore.asgi under real ASGI servers: uvicorn, hypercorn and granian.

Each test starts the server as a child process on 127.0.0.1 and a free
ephemeral port, serving ``make_app()`` below (the demo app with a short
heartbeat), talks HTTP to it with httpx, and stops it by its pid.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
ACCEPT = "application/json, text/event-stream"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


def make_app() -> Any:
    """The app every server serves: the demo tools, heartbeats every 0.2 s."""
    from streamcore.asgi import StreamableHttpApp
    from streamcore.demo import DemoApp
    from streamcore.server import ServerConfig

    return StreamableHttpApp(DemoApp(), ServerConfig(heartbeat_interval=0.2))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _command(server: str, port: int) -> list[str]:
    target = "test_asgi_servers:make_app"
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "--factory", target, "--host", "127.0.0.1", "--port", str(port),
                "--log-level", "warning"]
    if server == "hypercorn":
        return [sys.executable, "-m", "hypercorn", f"{target}()", "--bind", f"127.0.0.1:{port}",
                "--graceful-timeout", "1"]
    return [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", target, "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1", "--log-level", "warning"]


def _available(server: str) -> str | None:
    try:
        __import__(server)
    except ImportError:
        return f"{server} is not installed (pip install -e '.[asgi]')"
    return None


@contextmanager
def running(server: str, cmd: list[str] | None = None,
            port: int | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    reason = _available(server)
    if reason is not None:
        pytest.skip(reason)
    port = port or _free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "tests"), str(ROOT), env.get("PYTHONPATH")) if p)
    log = open(os.devnull, "wb")
    proc = subprocess.Popen(cmd or _command(server, port), cwd=ROOT / "tests", env=env, stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), 0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{server} did not start (exit {proc.poll()})") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp", proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        log.close()


def _initialize(c: httpx.Client, url: str) -> str:
    r = c.post(url, json=INIT, headers={"accept": ACCEPT})
    assert r.status_code == 200, r.text
    sid = r.headers["mcp-session-id"]
    h = {"accept": ACCEPT, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"}
    assert c.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=h).status_code == 202
    return sid


SERVERS = ["uvicorn", "hypercorn", "granian"]


@pytest.mark.parametrize("server", SERVERS)
def test_session_and_sse_flush_per_event(server: str) -> None:
    """initialize, then a tool whose progress events are 0.3 s apart: each event arrives on its own,
    while the call still runs (the server flushed it), and the stream ends with the result."""
    with running(server) as (url, _), httpx.Client(timeout=10) as c:
        sid = _initialize(c, url)
        h = {"accept": ACCEPT, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"}
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "countdown", "arguments": {"n": 3, "delay": 0.3}, "_meta": {"progressToken": 1}}}
        seen: list[tuple[float, str]] = []
        with c.stream("POST", url, json=call, headers=h) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("data: "):
                    seen.append((time.monotonic(), line))
        assert len(seen) == 4 and '"id":2' in seen[-1][1]
        assert seen[-1][0] - seen[0][0] > 0.5  # not buffered until the end
        # DELETE ends the session; its id is then unknown
        assert c.delete(url, headers=h).status_code == 200
        assert c.post(url, json=call, headers=h).status_code == 404


@pytest.mark.parametrize("server", SERVERS)
def test_host_check_and_heartbeat(server: str) -> None:
    """A foreign Host is refused (403); an idle GET stream gets heartbeats with no lifespan help."""
    with running(server) as (url, _), httpx.Client(timeout=10) as c:
        r = c.post(url, json=INIT, headers={"accept": ACCEPT, "host": "evil.example"})
        assert r.status_code == 403
        sid = _initialize(c, url)
        h = {"accept": "text/event-stream", "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"}
        with c.stream("GET", url, headers=h) as r:
            assert r.status_code == 200
            for chunk in r.iter_raw():
                if b":" in chunk:
                    break


@pytest.mark.parametrize("server", SERVERS)
def test_client_disconnect_detaches_the_stream(server: str) -> None:
    """Closing a GET stream's connection is a lost connection in the core: a new GET is then accepted."""
    with running(server) as (url, _), httpx.Client(timeout=10) as c:
        sid = _initialize(c, url)
        h = {"accept": "text/event-stream", "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"}
        with httpx.Client(timeout=10) as c1, c1.stream("GET", url, headers=h) as r1:
            assert r1.status_code == 200
            with httpx.Client(timeout=10) as c2:
                assert c2.get(url, headers=h).status_code == 409
        deadline = time.monotonic() + 5
        while True:  # the server notices the close within a moment
            with httpx.Client(timeout=10) as c3, c3.stream("GET", url, headers=h) as r3:
                if r3.status_code == 200:
                    break
            assert time.monotonic() < deadline, "the first stream was never detached"
            time.sleep(0.1)


GRACEFUL = """
import asyncio, sys
sys.path[:0] = [{tests!r}, {root!r}]
import uvicorn
from test_asgi_servers import make_app

app = make_app()

class Server(uvicorn.Server):
    async def shutdown(self, sockets=None):
        await app.shutdown()          # end open streams with retry first
        await super().shutdown(sockets)

asyncio.run(Server(uvicorn.Config(app, host="127.0.0.1", port={port}, log_level="warning")).serve())
"""


def test_uvicorn_graceful_shutdown_ends_streams_with_retry() -> None:
    """With the documented two-line uvicorn recipe, SIGTERM ends an open SSE stream with a retry
    field and the server exits at once (uvicorn alone would wait for the stream forever)."""
    port = _free_port()
    code = GRACEFUL.format(tests=str(ROOT / "tests"), root=str(ROOT), port=port)
    with running("uvicorn", [sys.executable, "-c", code], port) as (_, proc), httpx.Client(timeout=10) as c:
        url = f"http://127.0.0.1:{port}/mcp"
        sid = _initialize(c, url)
        h = {"accept": "text/event-stream", "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"}
        got = b""
        with c.stream("GET", url, headers=h) as r:
            assert r.status_code == 200
            proc.send_signal(signal.SIGTERM)
            t0 = time.monotonic()
            for chunk in r.iter_raw():
                got += chunk
        assert got.endswith(b"retry: 1000\n\n")
        proc.wait(5)
        assert time.monotonic() - t0 < 5


def test_the_servers_are_in_the_test_extra() -> None:
    """The three servers are in the [test] extra, so CI runs these tests rather than skipping them."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for name in SERVERS:
        assert f'"{name}>=' in text
