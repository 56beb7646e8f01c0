"""The asyncio client in the per-request era (2026-07-28) against real servers over sockets.

Peers: our dual-era server (``python -m streamcore serve``, and in process for
``subscriptions/listen`` with ``publish``), the official Python SDK server
(``mcp`` 2.x, dual-era; ``tests/py_sdk_peer_server.py``), and the TypeScript
SDK server (``tests/interop/ts_server.mjs``; SDK 1.32.2 does not speak
2026-07-28, so it exercises the legacy fallback). Every server listens on
127.0.0.1 and is stopped by pid. IDs refer to ``spec/streamable-http.md``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from _procs import streamcore_server
from streamcore._client import EraCache, HttpStatusError, McpError
from streamcore.aio.client import connect
from test_client_interop import INTEROP, _child, _free_port, _node, py_sdk_server, run

ROOT = Path(__file__).resolve().parent.parent


async def _exercise(s, progress: list) -> None:
    """discover done; list, call with a non-ASCII argument, progress, concurrency."""
    names = [t["name"] for t in await s.list_tools()]
    assert {"echo", "add", "countdown"} <= set(names)
    r = await s.call_tool("echo", {"text": "héllo \u2603"})
    assert r["content"][0]["text"] == "héllo \u2603"
    r = await s.call_tool("add", {"a": 2, "b": 3})
    assert "5" in json.dumps(r)
    r = await s.call_tool("countdown", {"n": 2}, progress=lambda p, t, m: progress.append(p))
    assert r["content"][0]["text"] == "liftoff"
    results = await asyncio.gather(*(s.call_tool("echo", {"text": str(i)}) for i in range(10)))
    assert [x["content"][0]["text"] for x in results] == [str(i) for i in range(10)]


def test_modern_client_against_our_server() -> None:
    """CLI-POST-07, CLI-HDR-01/02, SRV-VER-10: era="modern" discovers, lists and calls with no session,
    progress arrives on the call's stream; our server's classifier accepts every POST."""

    async def main(url: str) -> None:
        async with connect(url, era="modern", timeout=10) as s:
            assert s.era == "modern" and s.session_id is None and s.protocol_version == "2026-07-28"
            assert s.server_info.get("name") == "streamcore-demo"
            progress: list = []
            await _exercise(s, progress)
            assert progress == [1, 2]
            with pytest.raises(McpError) as ei:
                await s.request("no/such/method", {})
            assert ei.value.code == -32601 and ei.value.http_status == 404  # SRV-VER-08

    with streamcore_server() as url:
        run(main(url))


def test_both_eras_against_one_endpoint() -> None:
    """SRV-COMPAT-08 / CLI-COMPAT-03: a negotiated (auto -> modern) client and a legacy session
    talk to the same endpoint at the same time."""

    async def main(url: str) -> None:
        cache = EraCache()
        async with connect(url, era="auto", era_cache=cache, timeout=10) as new, \
                connect(url, era="legacy", timeout=10) as old:
            assert new.era == "modern" and new.session_id is None and cache.get(url) == "modern"
            assert old.era == "legacy" and old.session_id and old.protocol_version == "2025-11-25"
            a, b = await asyncio.gather(new.call_tool("echo", {"text": "m"}), old.call_tool("echo", {"text": "l"}))
            assert a["resultType"] == "complete" and a["content"][0]["text"] == "m"
            assert "resultType" not in b and b["content"][0]["text"] == "l"

    with streamcore_server() as url:
        run(main(url))


def test_listen_stream_against_our_server() -> None:
    """SRV-SUB-01..03 from the client: listen() waits for the acknowledgment, then yields only the
    requested notifications, tagged with the subscription id; leaving the block closes the stream."""
    from streamcore._server import ServerConfig
    from streamcore.aio.server import StreamableHttpServer
    from streamcore.demo import DemoApp

    async def main() -> None:
        hub = StreamableHttpServer(DemoApp(), ServerConfig())
        srv = await hub.start("127.0.0.1", 0)
        url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/mcp"
        try:
            async with connect(url, era="modern", timeout=10) as s:
                async with s.listen({"toolsListChanged": True}) as sub:
                    assert sub.acknowledged == {"toolsListChanged": True}
                    assert sub.subscription_id is not None
                    hub.publish("notifications/resources/list_changed")  # not asked for (SRV-SUB-01)
                    hub.publish("notifications/tools/list_changed")
                    note = await asyncio.wait_for(sub.__anext__(), 5)
                    assert note.method == "notifications/tools/list_changed"
                    assert note.params["_meta"]["io.modelcontextprotocol/subscriptionId"] == sub.subscription_id
                    # the session keeps working beside the open listen stream
                    r = await s.call_tool("echo", {"text": "x"})
                    assert r["content"][0]["text"] == "x"
                assert s.core.stats["reissues"] == 0
        finally:
            srv.close()

    run(main(), 20)


def test_modern_client_against_python_sdk_server() -> None:
    """CLI-POST-07 interop: the official Python SDK server (dual-era) accepts our modern requests
    (its own header validation included) and acknowledges our listen; era="auto" picks modern there too."""

    async def main(url: str) -> None:
        async with connect(url, era="modern", timeout=10) as s:
            assert s.era == "modern" and s.session_id is None
            progress: list = []
            await _exercise(s, progress)
            assert progress == [1, 2]
            async with s.listen({"toolsListChanged": True}) as sub:  # SRV-SUB-02 from the SDK
                assert sub.acknowledged == {"toolsListChanged": True} and sub.subscription_id is not None
        cache = EraCache()
        async with connect(url, era="auto", era_cache=cache, timeout=10) as s:
            assert s.era == "modern" and cache.get(url) == "modern" and s.core.stats["fallbacks"] == 0
            assert (await s.call_tool("echo", {"text": "a"}))["content"][0]["text"] == "a"

    with py_sdk_server() as url:
        run(main(url), 60)


@pytest.mark.integration
def test_typescript_sdk_server_negotiates_legacy() -> None:
    """CLI-COMPAT-03..05: the TS SDK 1.32.2 server does not speak 2026-07-28: it answers
    server/discover with 400 and a non-modern body (-32000), so era="auto" falls back to
    initialize, remembers "legacy" for the origin and skips the probe next time; era="modern" fails."""
    node = _node()
    port = _free_port()

    async def main(url: str) -> None:
        cache = EraCache()
        async with connect(url, era="auto", era_cache=cache, timeout=10) as s:
            assert s.era == "legacy" and s.session_id and s.core.stats["fallbacks"] == 1
            assert cache.get(url) == "legacy"
            assert (await s.call_tool("echo", {"text": "héllo"}))["content"][0]["text"] == "héllo"
        async with connect(url, era="auto", era_cache=cache, timeout=10) as s:
            assert s.era == "legacy" and s.core.stats["fallbacks"] == 0  # the probe was skipped
        with pytest.raises(HttpStatusError) as ei:
            async with connect(url, era="modern", timeout=10):
                pass
        assert ei.value.status == 400

    with _child([node, str(INTEROP / "ts_server.mjs"), str(port)], port, INTEROP) as url:
        run(main(url))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streamcore", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_cli_negotiates_with_our_server_in_both_eras() -> None:
    """CLI: `tools` and `call` work against our dual-era server negotiated (auto -> modern) and
    forced legacy."""
    with streamcore_server() as url:
        for era in ("auto", "modern", "legacy"):
            r = _cli("tools", url, "--json", "--era", era)
            assert r.returncode == 0, r.stderr
            assert "echo" in [t["name"] for t in json.loads(r.stdout)]
            r = _cli("call", url, "echo", "text=hi", "--era", era)
            assert r.returncode == 0 and r.stdout.strip() == "hi", r.stderr


@pytest.mark.integration
def test_cli_falls_back_against_a_legacy_server() -> None:
    """CLI-COMPAT-03: `tools` and `call` (default --era auto) work against the legacy-only TS server."""
    node = _node()
    port = _free_port()
    with _child([node, str(INTEROP / "ts_server.mjs"), str(port)], port, INTEROP) as url:
        r = _cli("tools", url, "--json")
        assert r.returncode == 0, r.stderr
        assert [t["name"] for t in json.loads(r.stdout)] == ["echo"]
        r = _cli("call", url, "echo", "text=hi")
        assert r.returncode == 0 and r.stdout.strip() == "hi", r.stderr


# -- scripted server over sockets: broken streams ------------------------------------------------


class ScriptedServer:
    """A raw asyncio HTTP/1.1 server on 127.0.0.1 for failure cases no real server produces on
    demand. Each POST gets ``script(request_body, headers)`` -> (head, payload, close_early): the
    bytes are written after the head and the connection is then closed (the body is read to EOF)."""

    def __init__(self, script) -> None:
        self.script = script
        self.seen: list[dict] = []
        self.headers: list[dict] = []

    async def start(self) -> str:
        self.server = await asyncio.start_server(self.conn, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/mcp"

    async def conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            lines = head.decode("latin-1").split("\r\n")
            hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            body = json.loads(await reader.readexactly(int(hdrs.get("content-length", "0"))))
            self.seen.append(body)
            self.headers.append(hdrs)
            status, ctype, payload = self.script(body, len(self.seen))
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nConnection: close\r\n\r\n".encode()
                         + payload)
            await writer.drain()
        finally:
            writer.close()


def _sse(*msgs: dict) -> bytes:
    return b"".join(b"data: " + json.dumps(m).encode() + b"\n\n" for m in msgs)


DISCOVERED = {"resultType": "complete", "supportedVersions": ["2026-07-28"], "capabilities": {},
              "ttlMs": 0, "cacheScope": "public"}


def test_broken_call_stream_is_reissued_over_sockets() -> None:
    """CLI-RESUME-09 over sockets: the first tools/call stream closes after a progress event; the
    client POSTs the call again under a new id (no GET, no Last-Event-ID) and gets the result."""

    def script(b: dict, n: int):
        if b["method"] == "server/discover":
            return 200, "application/json", json.dumps({"jsonrpc": "2.0", "id": b["id"], "result": DISCOVERED}).encode()
        calls = [x for x in srv.seen if x["method"] == "tools/call"]
        if len(calls) == 1:
            return 200, "text/event-stream", b"id: 1\n" + _sse({"jsonrpc": "2.0", "method": "notifications/progress",
                                                               "params": {"progressToken": "t", "progress": 1}})
        return 200, "text/event-stream", _sse({"jsonrpc": "2.0", "id": b["id"],
                                              "result": {"content": [{"type": "text", "text": "ok"}]}})

    srv = ScriptedServer(script)

    async def main() -> None:
        url = await srv.start()
        try:
            async with connect(url, era="modern", timeout=10) as s:
                r = await s.call_tool("echo", {"text": "x"})
                assert r["content"][0]["text"] == "ok" and s.core.stats["reissues"] == 1
        finally:
            srv.server.close()

    run(main(), 20)
    calls = [(b, h) for b, h in zip(srv.seen, srv.headers) if b["method"] == "tools/call"]
    assert len(calls) == 2 and calls[0][0]["id"] != calls[1][0]["id"]
    assert all("last-event-id" not in h and h["mcp-name"] == "echo" for _, h in calls)


def test_listen_unexpected_close_reissues_then_completes_over_sockets() -> None:
    """CLI-SUB-06 and SRV-SUB-04 over sockets: a listen stream closed after its acknowledgment
    without a result is re-issued (new id, new subscription id); the second one delivers a
    notification and ends with the completion result, which ends the iteration."""

    def script(b: dict, n: int):
        if b["method"] == "server/discover":
            return 200, "application/json", json.dumps({"jsonrpc": "2.0", "id": b["id"], "result": DISCOVERED}).encode()
        listens = [x for x in srv.seen if x["method"] == "subscriptions/listen"]
        meta = {"io.modelcontextprotocol/subscriptionId": b["id"]}
        ack = {"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
               "params": {"_meta": meta, "notifications": {"toolsListChanged": True}}}
        if len(listens) == 1:
            return 200, "text/event-stream", _sse(ack)
        return 200, "text/event-stream", _sse(
            ack, {"jsonrpc": "2.0", "method": "notifications/tools/list_changed", "params": {"_meta": meta}},
            {"jsonrpc": "2.0", "id": b["id"], "result": {"resultType": "complete", "_meta": meta}})

    srv = ScriptedServer(script)

    async def main() -> tuple:
        url = await srv.start()
        try:
            async with connect(url, era="modern", timeout=10) as s:
                async with s.listen({"toolsListChanged": True, "promptsListChanged": True}) as sub:
                    first = sub.subscription_id
                    assert sub.unsupported == ["promptsListChanged"]
                    notes = [n async for n in sub]
                    return first, sub.subscription_id, [n.method for n in notes], sub.result
        finally:
            srv.server.close()

    first, last, methods, result = run(main(), 20)
    listens = [b for b in srv.seen if b["method"] == "subscriptions/listen"]
    assert len(listens) == 2 and listens[0]["id"] != listens[1]["id"]
    assert (first, last) == (listens[0]["id"], listens[1]["id"])
    assert methods == ["notifications/tools/list_changed"]
    assert result["resultType"] == "complete"


def test_listen_graceful_close_from_our_server() -> None:
    """SRV-SUB-04 with our server: close_listen ends the client's iteration with the completion result."""
    from streamcore._server import ServerConfig
    from streamcore.aio.server import StreamableHttpServer
    from streamcore.demo import DemoApp

    opened: list = []

    class App(DemoApp):
        async def handle_subscription(self, ev):  # noqa: ANN001
            opened.append(ev)

    async def main() -> None:
        hub = StreamableHttpServer(App(), ServerConfig())
        if not hasattr(hub, "close_listen"):
            pytest.skip("StreamableHttpServer has no close_listen pass-through (reported)")
        srv = await hub.start("127.0.0.1", 0)
        url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/mcp"
        try:
            async with connect(url, era="modern", timeout=10) as s:
                async with s.listen({"toolsListChanged": True}) as sub:
                    for _ in range(100):
                        if opened:
                            break
                        await asyncio.sleep(0.01)
                    hub.close_listen(opened[0].handle)
                    notes = await asyncio.wait_for(_collect(sub), 5)
                    assert notes == [] and sub.result["resultType"] == "complete"
        finally:
            srv.close()

    run(main(), 20)


async def _collect(sub) -> list:
    return [n async for n in sub]


def test_mcp_param_headers_against_python_sdk_validation() -> None:
    """CLI-HDR-03/05 against the official SDK's header validation (tests/py_sdk_xheader_server.py):
    the first call, made before tools/list, lacks Mcp-Param-* and gets 400 -32020; the client
    refreshes tools/list and retries once. Later calls mirror string (sentinel-encoded when
    needed), integer and boolean arguments and are accepted at once."""
    pytest.importorskip("mcp", reason="the official Python SDK (mcp) is not installed")
    pytest.importorskip("uvicorn", reason="uvicorn is not installed")
    port = _free_port()

    async def main(url: str) -> None:
        async with connect(url, era="modern", timeout=10) as s:
            r = await s.call_tool("route", {"region": "Zürich", "shard": 3, "dry": True})
            assert r["content"][0]["text"] == "Zürich/3/True"
            assert s.core.stats["tool_refreshes"] == 1
            assert s.core.tool_headers["route"] == {"Region": ("region",), "Shard": ("shard",), "Dry": ("dry",)}
            for args, text in [({"region": " padded "}, " padded /0/False"),
                               ({"region": "=?base64?x?=", "shard": -7}, "=?base64?x?=/-7/False"),
                               ({"region": "us-west1", "dry": False}, "us-west1/0/False")]:
                r = await s.call_tool("route", args)
                assert r["content"][0]["text"] == text
            assert s.core.stats["tool_refreshes"] == 1  # no further mismatches

    here = Path(__file__).resolve().parent
    with _child([sys.executable, str(here / "py_sdk_xheader_server.py"), str(port)], port, here) as url:
        run(main(url))
