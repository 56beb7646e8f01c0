"""The HTTP+SSE transport (2024-11-05, spec L0) over real sockets, with the official SDK clients.

* The TypeScript SDK's ``SSEClientTransport`` (``tests/interop/ts_legacy_client.mjs``)
  and the Python SDK's ``mcp.client.sse.sse_client`` each run a whole session
  against ``python -m streamcore serve`` at ``/sse``: initialize, tools/list, a
  call with progress, a call with an elicitation round trip.
* Our own client falls back to it (CLI-COMPAT-02) when given the ``/sse`` URL.
* The core owns the transport, so the ASGI adapter (under uvicorn) and the
  HTTP/2 adapter serve it too.
* In process (the asyncio adapter and an app that records what happens): a
  client that closes its stream has its requests cancelled and its session
  cleaned up; shutdown ends the stream cleanly.
* The pinned conformance suites have no scenario for this transport (checked
  below, so that one added by an upgrade is noticed).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import httpx
import pytest

from _logwatch import no_tracebacks  # noqa: F401 (a fixture)
from _procs import streamcore_server
from streamcore.aio.client import connect
from streamcore.aio.server import McpError, RequestContext, StreamableHttpServer
from streamcore.server import LocalProtocolError, ServerConfig

TESTS = Path(__file__).resolve().parent
INTEROP = TESTS / "interop"
CONFORMANCE = TESTS / "conformance" / "node_modules"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sse_url() -> Iterator[str]:
    """One demo server for the module (``python -m streamcore serve``); yields its /sse URL."""
    with streamcore_server() as url:
        yield url[: -len("/mcp")] + "/sse"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the TypeScript SDK interop tests need Node.js >= 18)")
    if not (INTEROP / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        pytest.skip("tests/interop/node_modules is missing: run `npm ci --prefix tests/interop`")
    return node


@pytest.mark.npm_packages("interop")
def test_ts_sdk_sse_client_full_session(sse_url: str) -> None:
    """L0-01..04, SRV-COMPAT-01: the TypeScript SDK's SSEClientTransport completes a whole session:
    the endpoint URL from the first event, initialize, tools/list, progress, elicitation."""
    proc = subprocess.run([_node(), str(INTEROP / "ts_legacy_client.mjs"), sse_url],
                          cwd=INTEROP, capture_output=True, text=True, timeout=60)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no summary from the TS client (rc={proc.returncode}): {proc.stdout!r} {proc.stderr!r}"
    s = json.loads(lines[-1])
    assert "error" not in s, s["error"]
    assert proc.returncode == 0, proc.stderr
    assert s["steps"] == ["initialize", "tools/list", "countdown", "ask_name", "close"]
    assert re.fullmatch(re.escape(sse_url[: -len("/sse")]) + r"/messages/\?session_id=[A-Za-z0-9_-]{32}", s["endpoint"])
    assert s["serverInfo"]["name"] == "streamcore-demo"
    assert {"echo", "add", "countdown", "ask_name", "blob"} <= set(s["tools"])
    assert s["countdown"] == "liftoff"
    # Every progress notification came before the response; the SDK drops (reports as errors)
    # those it reads in the same chunk as the response: together they are all three, in order.
    assert [p["progress"] for p in s["progress"]] + s["lateProgress"] == [1, 2, 3]
    assert all(p["total"] == 3 for p in s["progress"])
    assert s["elicitations"] == ["What is your name?"]
    assert s["greeting"] == "Hello, Ada!"


def _py_sdk_session(sse_url: str) -> dict[str, Any]:
    """A whole session with the Python SDK's sse_client + ClientSession; what it saw."""
    from mcp import ClientSession
    from mcp.client.sse import sse_client
    import mcp.types as types

    async def run() -> dict[str, Any]:
        out: dict[str, Any] = {"progress": []}

        async def elicit(ctx: Any, params: Any) -> Any:
            out["elicited"] = params.message
            return types.ElicitResult(action="accept", content={"name": "Ada"})

        async def on_progress(p: float, total: float | None, message: str | None) -> None:
            out["progress"].append((p, total))

        async with sse_client(sse_url) as (r, w):
            async with ClientSession(r, w, elicitation_callback=elicit) as s:
                init = await s.initialize()
                out["version"] = init.protocol_version
                out["server"] = init.server_info.name
                out["tools"] = [t.name for t in (await s.list_tools()).tools]
                res = await s.call_tool("countdown", {"n": 3, "delay": 0.01}, progress_callback=on_progress)
                out["countdown"] = res.content[0].text  # type: ignore[union-attr]
                res = await s.call_tool("ask_name", {})
                out["greeting"] = res.content[0].text  # type: ignore[union-attr]
        return out

    return asyncio.run(asyncio.wait_for(run(), 30))


def _check_py_sdk_session(out: dict[str, Any]) -> None:
    assert out["server"] == "streamcore-demo" and out["version"] == "2025-11-25"
    assert "countdown" in out["tools"]
    assert out["countdown"] == "liftoff" and out["progress"] == [(1.0, 3.0), (2.0, 3.0), (3.0, 3.0)]
    assert out["elicited"] == "What is your name?" and out["greeting"] == "Hello, Ada!"


def test_python_sdk_sse_client_full_session(sse_url: str) -> None:
    """L0-01..04: the Python SDK's sse_client + ClientSession complete a whole session,
    progress and an elicitation round trip included."""
    _check_py_sdk_session(_py_sdk_session(sse_url))


def make_asgi_app() -> Any:
    """The demo app under ASGI with HTTP+SSE on (for uvicorn --factory)."""
    from streamcore.asgi import StreamableHttpApp
    from streamcore.demo import DemoApp

    return StreamableHttpApp(DemoApp(), ServerConfig(sse_path="/sse"))


def test_python_sdk_sse_client_under_uvicorn() -> None:
    """The transport lives in the sans-IO core, so the ASGI adapter serves it too: the Python
    SDK's sse_client runs the same session against streamcore.asgi under uvicorn."""
    from test_asgi_servers import _free_port, running

    port = _free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "test_legacy_interop:make_asgi_app",
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with running("uvicorn", cmd, port) as (url, _):
        base = url[: -len("/mcp")]
        _check_py_sdk_session(_py_sdk_session(base + "/sse"))
        # a hang-up under ASGI ends the session too: its endpoint URL is then 404
        with httpx.Client(base_url=base, timeout=10) as c:
            with c.stream("GET", "/sse", headers={"accept": "text/event-stream"}) as resp:
                lines = resp.iter_lines()
                assert next(lines) == "event: endpoint"
                post_url = next(lines)[len("data: "):]
                ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
                assert c.post(post_url, json=ping).status_code == 202
            for _ in range(100):
                status = c.post(post_url, json=ping).status_code
                if status == 404:
                    break
                time.sleep(0.05)
            assert status == 404


def test_our_client_over_http2() -> None:
    """The HTTP/2 adapter serves it too (same core): our client, HTTP/2 prior knowledge, falls back
    to HTTP+SSE at /sse and calls a tool with progress."""
    pytest.importorskip("h2")
    from streamcore.demo import DemoApp

    async def run() -> tuple[bool, Any, list[Any]]:
        hub = StreamableHttpServer(DemoApp(), ServerConfig(sse_path="/sse"), http2=True)
        srv = await hub.start("127.0.0.1", 0)
        url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/sse"
        got: list[Any] = []
        try:
            async with connect(url, http2=True) as s:
                r = await s.call_tool("countdown", {"n": 2, "delay": 0.01}, progress=lambda p, t, m: got.append(p))
                return s.legacy, r, got
        finally:
            await hub.aclose()

    legacy, r, got = asyncio.run(asyncio.wait_for(run(), 20))
    assert legacy is True and r["content"][0]["text"] == "liftoff" and got == [1, 2]


def test_our_client_falls_back_to_http_sse(sse_url: str) -> None:
    """CLI-COMPAT-01/02, T-20: our client POSTs initialize to the /sse URL, gets 405, GETs it,
    reads the endpoint event and runs the session over HTTP+SSE, elicitation included."""
    async def run() -> dict[str, Any]:
        async def elicit(params: Any) -> Any:
            return {"action": "accept", "content": {"name": "Grace"}}

        got: list[Any] = []
        async with connect(sse_url, handlers={"elicitation/create": elicit}) as s:
            legacy = s.legacy
            tools = [t["name"] for t in await s.list_tools()]
            r = await s.call_tool("countdown", {"n": 2, "delay": 0.01}, progress=lambda p, t, m: got.append(p))
            g = await s.call_tool("ask_name", {})
        return {"legacy": legacy, "tools": tools, "countdown": r, "progress": got, "greeting": g}

    out = asyncio.run(asyncio.wait_for(run(), 30))
    assert out["legacy"] is True
    assert "countdown" in out["tools"]
    assert out["countdown"]["content"][0]["text"] == "liftoff" and out["progress"] == [1, 2]
    assert out["greeting"]["content"][0]["text"] == "Hello, Grace!"


def test_our_client_against_a_server_with_only_http_sse(no_tracebacks: Any) -> None:
    """T-20: a server that serves only HTTP+SSE (no Streamable HTTP path at all): /mcp is 404,
    and our client, given the SSE URL, runs its session over HTTP+SSE."""
    from streamcore.demo import DemoApp

    async def run() -> tuple[int, bool, Any]:
        hub = StreamableHttpServer(DemoApp(), ServerConfig(sse_path="/events", sse_messages_path="/post",
                                                           endpoint_paths=()))
        srv = await hub.start("127.0.0.1", 0)
        base = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
        try:
            async with httpx.AsyncClient(base_url=base) as c:
                status = (await c.post("/mcp", json={}, headers={"accept": "application/json, text/event-stream"})
                          ).status_code
            async with connect(base + "/events") as s:
                return status, s.legacy, await s.call_tool("echo", {"text": "hi"})
        finally:
            await hub.aclose()

    status, legacy, r = asyncio.run(asyncio.wait_for(run(), 20))
    assert status == 404 and legacy is True
    assert r["content"][0]["text"] == "hi"


def test_origin_refused_and_post_probe_405(sse_url: str) -> None:
    """SEC-02, HTTP-01: over real HTTP, a foreign Origin gets 403 on both paths; a POST to /sse 405."""
    base = sse_url[: -len("/sse")]
    r = httpx.get(sse_url, headers={"origin": "http://evil.example", "accept": "text/event-stream"})
    assert r.status_code == 403
    r = httpx.post(base + "/messages/?session_id=x", json={}, headers={"origin": "http://evil.example"})
    assert r.status_code == 403
    r = httpx.post(sse_url, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}},
                   headers={"accept": "application/json, text/event-stream"})
    assert r.status_code == 405 and r.headers["allow"] == "GET"


def test_serve_no_sse_flag() -> None:
    """`serve --no-sse` leaves HTTP+SSE off: /sse is 404, /mcp unchanged."""
    with streamcore_server("--no-sse") as url:
        base = url[: -len("/mcp")]
        assert httpx.get(base + "/sse", headers={"accept": "text/event-stream"}).status_code == 404
        assert httpx.post(base + "/messages/?session_id=x", json={}).status_code == 404


# -- in process: cancellation on hang-up, shutdown ---------------------------------------


class _SlowApp:
    """`slow` sleeps until cancelled, recording that it was."""

    server_info = {"name": "slow", "version": "0"}

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.closed: list[tuple[str, str]] = []

    async def handle_request(self, ctx: RequestContext) -> Any:
        if ctx.method == "tools/call":
            self.started.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
            return {"content": []}
        raise McpError(-32601, "Method not found")

    async def handle_notification(self, session_id: str | None, method: str, params: Any) -> None:
        pass

    async def handle_session_closed(self, session_id: str, reason: str) -> None:
        self.closed.append((session_id, reason))


async def _events(resp: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    event, data = "message", []
    async for line in resp.aiter_lines():
        if line == "":
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))


async def _serve(app: _SlowApp) -> tuple[StreamableHttpServer, str]:
    hub = StreamableHttpServer(app, ServerConfig(sse_path="/sse", heartbeat_interval=None), shutdown_grace=0.2)
    srv = await hub.start("127.0.0.1", 0)
    return hub, f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"


def test_client_closing_the_stream_cancels_and_cleans_up(no_tracebacks: Any) -> None:
    """The stream is the session: closing it cancels the handler in flight (its task), closes the
    session (handle_session_closed) and the session id is then 404."""
    async def run() -> None:
        app = _SlowApp()
        hub, base = await _serve(app)
        try:
            async with httpx.AsyncClient(base_url=base, timeout=10) as c:
                async with c.stream("GET", "/sse", headers={"accept": "text/event-stream"}) as resp:
                    assert resp.status_code == 200
                    events = _events(resp)
                    kind, url = await events.__anext__()
                    assert kind == "endpoint"
                    r = await c.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                                "params": {"name": "slow", "arguments": {}}})
                    assert r.status_code == 202
                    await asyncio.wait_for(app.started.wait(), 5)
                    assert hub.core.sessions == 1 and hub.core.in_flight == 1
                # the stream is closed by the client here
                await asyncio.wait_for(app.cancelled.wait(), 5)
                for _ in range(100):
                    if app.closed:
                        break
                    await asyncio.sleep(0.02)
                assert app.closed and app.closed[0][1] == "closed"
                assert hub.core.sessions == 0 and hub.core.in_flight == 0
                r = await c.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
                assert r.status_code == 404
        finally:
            await hub.aclose()

    asyncio.run(asyncio.wait_for(run(), 20))


def test_shutdown_ends_the_stream_cleanly(no_tracebacks: Any) -> None:
    """Shutdown (aclose): the L0 stream ends with retry advice and a clean end of the response
    (no reset), the handler in flight is cancelled, no traceback is logged."""
    async def run() -> None:
        app = _SlowApp()
        hub, base = await _serve(app)
        async with httpx.AsyncClient(base_url=base, timeout=10) as c:
            async with c.stream("GET", "/sse", headers={"accept": "text/event-stream"}) as resp:
                lines = resp.aiter_lines()
                first = await lines.__anext__()
                assert first == "event: endpoint"
                url = (await lines.__anext__())[len("data: "):]
                await lines.__anext__()
                await c.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                        "params": {"name": "slow", "arguments": {}}})
                await asyncio.wait_for(app.started.wait(), 5)
                closing = asyncio.ensure_future(hub.aclose())
                rest = [ln async for ln in lines]  # ends without an exception: a clean end of the body
                await asyncio.wait_for(closing, 10)
        assert any(ln.startswith("retry:") for ln in rest)
        assert app.cancelled.is_set()
        assert hub.core.sessions == 0

    asyncio.run(asyncio.wait_for(run(), 20))


def test_slow_reader_is_cut_off_and_its_session_ends(no_tracebacks: Any) -> None:
    """Limits: output for a client that does not read is bounded by the adapter's max_write_buffer;
    past it the connection is aborted and the L0 session ends with it (the next notify finds no
    session), so memory stays bounded."""
    async def run() -> tuple[int, int]:
        app = _SlowApp()
        hub = StreamableHttpServer(app, ServerConfig(sse_path="/sse", heartbeat_interval=None),
                                   max_write_buffer=64 * 1024)
        srv = await hub.start("127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET /sse HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n\r\n")
            head = await reader.readuntil(b"session_id=")
            assert head.startswith(b"HTTP/1.1 200")
            sid = (await reader.readuntil(b"\n")).strip().decode()
            # From here on the client reads nothing.
            blob = "x" * (16 * 1024)
            sent = 0
            for _ in range(10_000):  # 160 MB at most; the kernel's buffers hold a few MB
                try:
                    hub.notify(sid, "notifications/message", {"level": "info", "data": blob})
                except LocalProtocolError:  # "no live session": the connection was aborted
                    break
                sent += 1
                await asyncio.sleep(0)
            return sent, hub.core.sessions
        finally:
            writer.close()
            await hub.aclose()

    sent, sessions = asyncio.run(asyncio.wait_for(run(), 30))
    # more than the write buffer went out (the kernel took it), and far less than was offered
    assert 4 < sent < 10_000 and sessions == 0, sent


def test_seam_default_initialize_serves_2024_11_05_on_http_sse() -> None:
    """LIFE-05: an app that leaves `initialize` to the seam (it declares server_info) answers an
    HTTP+SSE client asking for 2024-11-05 with 2024-11-05, the transport's own revision; over
    Streamable HTTP the same request still gets the latest session-era revision."""
    async def run() -> tuple[list[str], str]:
        app = _SlowApp()
        hub, base = await _serve(app)
        got: list[str] = []
        try:
            async with httpx.AsyncClient(base_url=base, timeout=10) as c:
                for asked in ("2024-11-05", "2025-06-18"):
                    async with c.stream("GET", "/sse", headers={"accept": "text/event-stream"}) as resp:
                        events = _events(resp)
                        _, url = await events.__anext__()
                        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                            "protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
                        assert (await c.post(url, json=init)).status_code == 202
                        kind, data = await events.__anext__()
                        assert kind == "message"
                        got.append(json.loads(data)["result"]["protocolVersion"])
                r = await c.post("/mcp", json=init | {"params": init["params"] | {"protocolVersion": "2024-11-05"}},
                                 headers={"accept": "application/json, text/event-stream"})
                modern = [json.loads(ln[5:]) for ln in r.text.splitlines() if ln.startswith("data:") and ln[5:].strip()]
        finally:
            await hub.aclose()
        return got, modern[0]["result"]["protocolVersion"]

    got, streamable = asyncio.run(asyncio.wait_for(run(), 20))
    assert got == ["2024-11-05", "2025-06-18"]
    assert streamable == "2025-11-25"


# -- the conformance suites ----------------------------------------------------------


@pytest.mark.npm_packages("conformance")
@pytest.mark.parametrize("suite", ["@modelcontextprotocol/conformance", "conformance-next"])
def test_conformance_suites_have_no_http_sse_scenario(suite: str) -> None:
    """The pinned suites (0.1.16, 0.2.0-alpha.12) drive servers and clients only with the SDK's
    Streamable HTTP transports; their `backcompat` suite holds two client-side OAuth scenarios
    of 2025-03-26. No scenario concerns HTTP+SSE, so none can be run for it; if an upgrade brings
    one (an import of the SDK's `sse.js` transports), this fails and it must be added here."""
    dist = CONFORMANCE / suite / "dist" / "index.js"
    if not dist.is_file():
        pytest.skip(f"{dist.relative_to(TESTS)} is missing: run `npm ci --prefix tests/conformance`")
    text = dist.read_text(encoding="utf-8")
    assert "streamableHttp.js" in text  # the check below reads the right file
    assert not re.search(r"(client|server)/sse\.js|SSEClientTransport|SSEServerTransport", text)
    backcompat = set(re.findall(r"this\.name=`(auth/2025-03-26-[a-z-]+)`", text))
    assert backcompat == {"auth/2025-03-26-oauth-metadata-backcompat", "auth/2025-03-26-oauth-endpoint-fallback"}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
