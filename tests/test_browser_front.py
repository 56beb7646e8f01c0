"""What the asyncio server answers for browsers before the core (docs/browser.md):
the ``pages`` hook (the client page at ``/``) and the ``cors`` policy (preflights,
exposed headers, the exact Origin check, SEC-02), on both HTTP/1.1 engines.
Plus ``serve --cors-origin`` / ``--no-page`` on the command line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from _logwatch import no_tracebacks  # noqa: F401  (fixture)
from streamcore import web
from streamcore.aio.server import StreamableHttpServer
from streamcore.cors import CorsPolicy
from streamcore.demo import DemoApp
from streamcore.server import ServerConfig

ROOT = Path(__file__).resolve().parent.parent
APP = b"http://127.0.0.1:5173"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


async def exchange(port: int, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]],
                   body: bytes = b"") -> tuple[int, dict[bytes, list[bytes]], bytes]:
    """One request on a fresh connection: (status, headers by name, body read to its length)."""
    h = [(b"host", b"127.0.0.1:%d" % port), *headers]
    if body:
        h.append((b"content-length", b"%d" % len(body)))
    r, w = await asyncio.open_connection("127.0.0.1", port)
    try:
        w.write(method + b" " + target + b" HTTP/1.1\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in h)
                + b"\r\n" + body)
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        fields: dict[bytes, list[bytes]] = {}
        for line in lines[1:]:
            if line:
                k, v = line.split(b":", 1)
                fields.setdefault(k.strip().lower(), []).append(v.strip())
        n = int(fields.get(b"content-length", [b"0"])[0])
        data = b"" if method == b"HEAD" else await asyncio.wait_for(r.readexactly(n), 10)
        return status, fields, data
    finally:
        w.close()


def run(coro_fn: Any, http1: str = "fast", **kw: Any) -> Any:
    async def body() -> Any:
        hub = StreamableHttpServer(DemoApp(), kw.pop("config", ServerConfig(json_response=True)), http1=http1, **kw)
        srv = await hub.start("127.0.0.1", 0)
        try:
            return await coro_fn(srv.sockets[0].getsockname()[1])
        finally:
            srv.close()
            await hub.aclose(0)
    return asyncio.run(asyncio.wait_for(body(), 20))


ENGINES = pytest.mark.parametrize("http1", ["fast", "h11"])
POST_H = [(b"accept", b"application/json, text/event-stream"), (b"content-type", b"application/json")]


@ENGINES
def test_pages_are_answered_by_the_adapter(http1: str, no_tracebacks: Any) -> None:
    """GET and HEAD of a page path get the page (the query ignored); another method 405 with
    Allow; other paths still reach the core (404 outside /mcp); no pages, no page."""
    async def body(port: int) -> None:
        status, h, data = await exchange(port, b"GET", b"/", [])
        assert status == 200 and data == web.page() and h[b"content-type"] == [b"text/html; charset=utf-8"]
        assert h[b"x-content-type-options"] == [b"nosniff"] and b"vary" not in h
        status, h, _ = await exchange(port, b"HEAD", b"/?era=2026-07-28", [])
        assert status == 200 and h[b"content-length"] == [b"%d" % len(web.page())]
        status, h, _ = await exchange(port, b"POST", b"/", POST_H, b"{}")
        assert status == 405 and h[b"allow"] == [b"GET, HEAD"]
        assert (await exchange(port, b"GET", b"/other", []))[0] == 404
        status, _, data = await exchange(port, b"POST", b"/mcp", POST_H, json.dumps(INIT).encode())
        assert status == 200 and json.loads(data)["result"]["serverInfo"]["name"] == "streamcore-demo"
    run(body, http1, pages=web.demo_pages())

    async def without(port: int) -> None:
        assert (await exchange(port, b"GET", b"/", []))[0] == 404
    run(without, http1)


@ENGINES
def test_cors_preflight_expose_and_exact_origin_check(http1: str, no_tracebacks: Any) -> None:
    """Preflights for POST/GET/DELETE with the MCP headers are answered 204 (one Vary); responses,
    errors too (a 404 for a lost session, which a page must read to re-initialize), expose
    Mcp-Session-Id; an Origin neither allowed nor the server's own gets 403 before the core,
    even when its host passes the core's host-name check (SEC-02, AMB-18)."""
    async def body(port: int) -> None:
        for m in (b"POST", b"GET", b"DELETE"):
            status, h, _ = await exchange(port, b"OPTIONS", b"/mcp", [
                (b"origin", APP), (b"access-control-request-method", m),
                (b"access-control-request-headers", b"content-type, mcp-session-id, mcp-protocol-version, "
                                                    b"last-event-id, mcp-method, mcp-name, mcp-param-region")])
            assert status == 204 and h[b"access-control-allow-origin"] == [APP] and h[b"vary"] == [b"origin"]
            assert h[b"access-control-allow-methods"] == [b"POST, GET, DELETE"]
        status, h, _ = await exchange(port, b"OPTIONS", b"/mcp", [
            (b"origin", b"http://127.0.0.1:5174"), (b"access-control-request-method", b"POST")])
        assert status == 403 and b"access-control-allow-origin" not in h
        status, h, data = await exchange(port, b"POST", b"/mcp", [*POST_H, (b"origin", APP)], json.dumps(INIT).encode())
        assert status == 200 and h[b"access-control-allow-origin"] == [APP]
        assert b"mcp-session-id" in h[b"access-control-expose-headers"][0].split(b", ")
        assert h[b"mcp-session-id"]
        status, h, _ = await exchange(port, b"POST", b"/mcp", [
            *POST_H, (b"origin", APP), (b"mcp-session-id", b"gone"), (b"mcp-protocol-version", b"2025-11-25")],
            b'{"jsonrpc":"2.0","id":2,"method":"ping"}')
        assert status == 404 and h[b"access-control-allow-origin"] == [APP]
        for bad in (b"http://127.0.0.1:5174", b"http://localhost:5173", b"null", b"https://evil.example"):
            status, h, data = await exchange(port, b"POST", b"/mcp", [*POST_H, (b"origin", bad)],
                                             json.dumps(INIT).encode())
            assert status == 403 and b"access-control-allow-origin" not in h, bad
            assert json.loads(data)["error"]["message"] == "Forbidden: Origin not allowed"
        own = b"http://127.0.0.1:%d" % port  # same-origin: the page served by this server
        status, h, _ = await exchange(port, b"POST", b"/mcp", [*POST_H, (b"origin", own)], json.dumps(INIT).encode())
        assert status == 200 and h[b"vary"] == [b"origin"] and b"access-control-allow-origin" not in h
        assert (await exchange(port, b"POST", b"/mcp", POST_H, json.dumps(INIT).encode()))[0] == 200  # no Origin
    run(body, http1, cors=CorsPolicy(allowed_origins=(APP.decode(),)))


def test_cors_origins_must_pass_the_core_check() -> None:
    """A policy allowing origins that the core's host-name check refuses is a configuration error."""
    with pytest.raises(ValueError, match="allowed_origins"):
        StreamableHttpServer(DemoApp(), cors=CorsPolicy(allowed_origins=("https://app.example",)))
    StreamableHttpServer(DemoApp(), ServerConfig(allowed_origins={"app.example"}),
                         cors=CorsPolicy(allowed_origins=("https://app.example",)))


@pytest.mark.parametrize("pages, err", [
    ({"page": ("text/html", b"")}, ValueError), ({"/?x": ("text/html", b"")}, ValueError),
    ({"/": ("text/html", "str")}, TypeError)])
def test_bad_pages_are_refused(pages: Any, err: type[Exception]) -> None:
    """Page paths are absolute without a query; bodies are bytes."""
    with pytest.raises(err):
        StreamableHttpServer(DemoApp(), pages=pages)
    with pytest.raises(ValueError):
        web.demo_pages("index.html")


def test_serve_rejects_a_bad_cors_origin() -> None:
    """``serve --cors-origin`` takes scheme://host[:port]; anything else is a usage error (exit 2)."""
    r = subprocess.run([sys.executable, "-m", "streamcore", "serve", "--port", "0", "--cors-origin", "app.example"],
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--cors-origin" in r.stderr and "not an origin" in r.stderr


def test_pages_and_cors_over_http2(no_tracebacks: Any) -> None:
    """The same answers on HTTP/2 (h2c here; browsers use h2 over TLS): the page, HEAD without
    a body, a preflight, exposed headers on the core's response, 403 for an origin not allowed."""
    import httpx

    async def body(port: int) -> None:
        async with httpx.AsyncClient(http1=False, http2=True, base_url=f"http://127.0.0.1:{port}") as c:
            r = await c.get("/?era=2026-07-28")
            assert r.http_version == "HTTP/2" and r.status_code == 200 and r.content == web.page()
            r = await c.head("/")
            assert r.status_code == 200 and r.content == b"" and int(r.headers["content-length"]) == len(web.page())
            r = await c.options("/mcp", headers={"origin": APP.decode(), "access-control-request-method": "GET",
                                                 "access-control-request-headers": "mcp-session-id, last-event-id"})
            assert r.status_code == 204 and r.headers["access-control-allow-origin"] == APP.decode()
            h = {"accept": "application/json, text/event-stream", "origin": APP.decode()}
            r = await c.post("/mcp", json=INIT, headers=h)
            assert r.status_code == 200 and "mcp-session-id" in r.headers["access-control-expose-headers"]
            r = await c.post("/mcp", json=INIT, headers={**h, "origin": "http://127.0.0.1:5174"})
            assert r.status_code == 403 and r.json()["error"]["message"] == "Forbidden: Origin not allowed"
            assert (await c.post("/", content=b"x" * 100000)).status_code == 405  # a body for an answered stream
            assert (await c.get("/mcp", headers={"accept": "text/event-stream"})).status_code == 400  # still the core
    run(body, cors=CorsPolicy(allowed_origins=(APP.decode(),)), pages=web.demo_pages())
