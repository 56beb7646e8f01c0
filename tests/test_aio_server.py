"""The asyncio server end to end, over real sockets, with real HTTP clients:
httpx, curl, and the official MCP Python SDK client."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess

import httpx
import pytest

from _procs import streamcore_server
from streamcore.sse import SseDecoder

ACCEPT = "application/json, text/event-stream"
INIT = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


def sse_messages(body: bytes) -> list:
    return [json.loads(e.data) for e in SseDecoder().feed(body) if e.data]


@pytest.fixture(scope="module", params=["fast", "h11", "fast+uvloop"])
def url(request: pytest.FixtureRequest) -> str:
    """The demo server, once per HTTP/1.1 engine, and once on uvloop."""
    engine, _, loop = request.param.partition("+")
    args = ["--retry-ms", "300", "--http1", engine]
    if loop:
        pytest.importorskip("uvloop", reason="uvloop is in the [test] extra; not on this interpreter")
        args.append("--uvloop")
    else:
        args.append("--asyncio")  # serve's default is uvloop when installed
    with streamcore_server(*args) as u:
        yield u


def _init(client: httpx.Client, url: str) -> str:
    r = client.post(url, json=INIT, headers={"Accept": ACCEPT})
    assert r.status_code == 200
    sid = r.headers["mcp-session-id"]
    client.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                headers={"Accept": ACCEPT, "Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"})
    return sid


def test_httpx_session_lifecycle(url: str) -> None:
    """T-02/T-03/T-05 over a real socket: initialize, a tools/call over SSE, DELETE, then 404."""
    with httpx.Client(timeout=10) as c:
        sid = _init(c, url)
        h = {"Accept": ACCEPT, "Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
        r = c.post(url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                              "params": {"name": "add", "arguments": {"a": 2, "b": 40}}}, headers=h)
        assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
        assert r.headers["x-accel-buffering"] == "no"
        msgs = sse_messages(r.content)
        assert msgs[-1]["result"]["content"][0]["text"] == "42"
        assert c.delete(url, headers=h).status_code == 200
        assert c.post(url, json={"jsonrpc": "2.0", "id": 3, "method": "ping"}, headers=h).status_code == 404


def test_httpx_keepalive_reuses_connection(url: str) -> None:
    """HTTP/1.1 persistence: several exchanges (including a 202 and an error) on one connection."""
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=1)) as c:
        sid = _init(c, url)
        h = {"Accept": ACCEPT, "Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
        for i in range(20):
            r = c.post(url, json={"jsonrpc": "2.0", "id": 10 + i, "method": "ping"}, headers=h)
            assert sse_messages(r.content)[-1] == {"jsonrpc": "2.0", "id": 10 + i, "result": {}}
        assert c.post(url, json={"jsonrpc": "2.0", "method": "x"}, headers=h).status_code == 202
        assert c.post(url, content=b"{", headers={**h, "Content-Type": "application/json"}).status_code == 400


def test_progress_streams_before_the_result(url: str) -> None:
    """SRV-SSE-02: progress notifications arrive on the POST stream, before the response, as they happen."""
    async def run() -> list:
        async with httpx.AsyncClient(timeout=10) as c:
            r = await c.post(url, json=INIT, headers={"Accept": ACCEPT})
            sid = r.headers["mcp-session-id"]
            h = {"Accept": ACCEPT, "Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
            body = {"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                    "params": {"name": "countdown", "arguments": {"n": 3, "delay": 0.05}, "_meta": {"progressToken": "p"}}}
            dec = SseDecoder()
            got = []
            async with c.stream("POST", url, json=body, headers=h) as resp:
                async for chunk in resp.aiter_raw():
                    for ev in dec.feed(chunk):
                        if ev.data:
                            got.append(json.loads(ev.data))
            return got
    got = asyncio.run(run())
    kinds = [m.get("method", "result") for m in got]
    assert kinds == ["notifications/progress"] * 3 + ["result"]
    assert [m["params"]["progress"] for m in got[:3]] == [1, 2, 3]


def test_bad_http_gets_400_not_a_crash(url: str) -> None:
    """Garbage on the socket: a 400 and a closed connection; the server keeps serving."""
    import socket
    host, port = url.split("//")[1].split("/")[0].rsplit(":", 1)
    with socket.create_connection((host, int(port)), 5) as s:
        s.sendall(b"BLAH\x00 / HTTP/9\r\n\r\n")
        data = s.recv(4096)
    assert data.startswith(b"HTTP/1.1 400")
    with httpx.Client(timeout=10) as c:
        assert c.post(url, json=INIT, headers={"Accept": ACCEPT}).status_code == 200


@pytest.mark.integration
def test_curl(url: str) -> None:
    """A real curl: initialize over SSE, streaming output (-N), and the 406 for a JSON-only Accept."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    out = subprocess.run(
        [curl, "-sS", "-N", "-i", "-X", "POST", url, "-H", f"Accept: {ACCEPT}",
         "-H", "Content-Type: application/json", "--data", json.dumps(INIT)],
        capture_output=True, timeout=20, check=True,
    ).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"mcp-session-id:" in head.lower()
    # curl de-chunks the body for us: it is the SSE stream.
    assert sse_messages(body)[-1]["result"]["serverInfo"]["name"] == "streamcore-demo"
    code = subprocess.run(
        [curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", url, "-H", "Accept: application/json",
         "-H", "Content-Type: application/json", "--data", json.dumps(INIT)],
        capture_output=True, timeout=20, check=True, text=True,
    ).stdout
    assert code == "406"


def test_official_python_sdk_client(url: str) -> None:
    """Interop: the official `mcp` client initializes, lists and calls tools (with progress and an
    elicitation round trip) against our server, then DELETEs the session."""
    from mcp import types
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def run() -> tuple:
        progress: list = []

        async def elicit(ctx, params):  # noqa: ANN001
            return types.ElicitResult(action="accept", content={"name": "Ada"})

        async def on_progress(p, total, msg):  # noqa: ANN001
            progress.append(p)

        async with streamable_http_client(url) as (r, w):
            async with ClientSession(r, w, elicitation_callback=elicit) as s:
                await s.initialize()
                tools = [t.name for t in (await s.list_tools()).tools]
                add = (await s.call_tool("add", {"a": 2, "b": 3})).content[0].text
                cd = (await s.call_tool("countdown", {"n": 3, "delay": 0.01}, progress_callback=on_progress)).content[0].text
                hello = (await s.call_tool("ask_name", {})).content[0].text
        return tools, add, cd, hello, progress

    tools, add, cd, hello, progress = asyncio.run(asyncio.wait_for(run(), 30))
    assert "countdown" in tools and add == "5" and cd == "liftoff" and hello == "Hello, Ada!"
    assert progress == [1.0, 2.0, 3.0]


def test_allow_host_flag() -> None:
    """SEC-06 behind a proxy: `serve --allow-host NAME` accepts that Host, still refuses others."""
    with streamcore_server("--allow-host", "mcp.example.com") as u:
        with httpx.Client(timeout=10) as c:
            ok = c.post(u, json=INIT, headers={"Accept": ACCEPT, "Host": "mcp.example.com"})
            bad = c.post(u, json=INIT, headers={"Accept": ACCEPT, "Host": "evil.example.com"})
    assert ok.status_code == 200 and bad.status_code == 403
