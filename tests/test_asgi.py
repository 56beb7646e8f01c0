"""streamcore.asgi driven in-process: the ASGI messages in and out, no server in between.

The real servers (uvicorn, hypercorn, granian) are in ``test_asgi_servers.py``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from streamcore.asgi import DEFAULT_SHUTDOWN_RETRY_MS, StreamableHttpApp, TrustedProxies
from streamcore.aio import RequestContext
from streamcore.cors import CorsPolicy
from streamcore.demo import DemoApp
from streamcore.server import ServerConfig

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


ACCEPT = b"application/json, text/event-stream"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


class Exchange:
    """One ASGI http call: a receive queue we fill, the messages the app sends."""

    def __init__(self, app: Any, method: str, headers: list[tuple[bytes, bytes]], client: str = "127.0.0.1") -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.receives = 0
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": "/mcp", "raw_path": b"/mcp", "query_string": b"", "root_path": "",
                 "headers": headers, "client": (client, 50000), "server": ("127.0.0.1", 8000)}
        self.task = asyncio.ensure_future(app(scope, self._receive, self._send))

    async def _receive(self) -> dict[str, Any]:
        self.receives += 1
        return await self.inbox.get()

    async def _send(self, msg: dict[str, Any]) -> None:
        self.sent.append(msg)
        self.changed.set()

    def body(self, data: bytes, more: bool = False) -> None:
        self.inbox.put_nowait({"type": "http.request", "body": data, "more_body": more})

    def disconnect(self) -> None:
        self.inbox.put_nowait({"type": "http.disconnect"})

    @property
    def status(self) -> int | None:
        return next((m["status"] for m in self.sent if m["type"] == "http.response.start"), None)

    @property
    def head(self) -> dict[bytes, bytes]:
        return {k: v for m in self.sent if m["type"] == "http.response.start" for k, v in m["headers"]}

    @property
    def data(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    @property
    def complete(self) -> bool:
        return any(m["type"] == "http.response.body" and not m.get("more_body") for m in self.sent)

    async def until(self, pred: Any, timeout: float = 2.0) -> None:
        async def wait() -> None:
            while not pred():
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(wait(), timeout)


def _post_headers(sid: bytes | None = None, **extra: bytes) -> list[tuple[bytes, bytes]]:
    h = [(b"host", b"127.0.0.1:8000"), (b"accept", ACCEPT), (b"content-type", b"application/json")]
    if sid is not None:
        h += [(b"mcp-session-id", sid), (b"mcp-protocol-version", b"2025-11-25")]
    h += [(k.replace("_", "-").encode(), v) for k, v in extra.items()]
    return h


async def _initialize(app: StreamableHttpApp) -> bytes:
    ex = Exchange(app, "POST", _post_headers())
    ex.body(json.dumps(INIT).encode())
    await ex.until(lambda: ex.complete)
    sid = ex.head[b"mcp-session-id"]
    ex2 = Exchange(app, "POST", _post_headers(sid))
    ex2.body(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
    await ex2.until(lambda: ex2.complete)
    assert ex2.status == 202
    return sid


async def test_json_reply_is_one_body_message() -> None:
    """A JSON-mode reply goes out as head + one body message with more_body False."""
    app = StreamableHttpApp(DemoApp(), ServerConfig(json_response=True))
    ex = Exchange(app, "POST", _post_headers())
    ex.body(json.dumps(INIT).encode())
    await ex.until(lambda: ex.complete)
    assert ex.status == 200 and ex.head[b"content-type"] == b"application/json"
    bodies = [m for m in ex.sent if m["type"] == "http.response.body"]
    assert len(bodies) == 1 and json.loads(bodies[0]["body"])["result"]["serverInfo"]["name"] == "streamcore-demo"


async def test_each_sse_event_is_its_own_message() -> None:
    """SSE: every event is sent as it is produced, in its own more_body=True message (per-event flush)."""
    app = StreamableHttpApp(DemoApp())
    sid = await _initialize(app)
    ex = Exchange(app, "POST", _post_headers(sid))
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "countdown", "arguments": {"n": 3, "delay": 0.2}, "_meta": {"progressToken": 7}}}
    ex.body(json.dumps(call).encode())
    await ex.until(lambda: b"progress" in ex.data)
    assert not ex.complete  # the first progress event is out while the tool still runs
    await ex.until(lambda: ex.complete)
    events = [m["body"] for m in ex.sent if m["type"] == "http.response.body" and m["body"]]
    assert len(events) == 4 and all(e.startswith(b"data: ") for e in events)
    assert b'"id":2' in events[-1]


async def test_body_limit_boundary_without_content_length() -> None:
    """A streamed body of exactly max_body_size is served; one byte more is 413 before the rest is read."""
    body = json.dumps(INIT).encode()
    limit = len(body)
    app = StreamableHttpApp(DemoApp(), ServerConfig(max_body_size=limit))
    ok = Exchange(app, "POST", _post_headers())
    ok.body(body[:10], more=True)
    ok.body(body[10:])
    await ok.until(lambda: ok.complete)
    assert ok.status == 200

    big = body[:-1] + b" }"  # limit + 1 bytes, still valid JSON
    ex = Exchange(app, "POST", _post_headers())
    ex.body(big[:limit], more=True)
    ex.body(big[limit:], more=True)
    ex.body(b"x" * 1000, more=True)  # never read: the answer is already out
    await ex.until(lambda: ex.complete)
    assert ex.status == 413
    await asyncio.wait_for(ex.task, 1)
    assert ex.receives == 2


async def test_content_length_over_limit_is_refused_unread() -> None:
    """A Content-Length over the limit is answered 413 without reading any body."""
    app = StreamableHttpApp(DemoApp(), ServerConfig(max_body_size=100))
    ex = Exchange(app, "POST", _post_headers(content_length=b"101"))
    await ex.until(lambda: ex.complete)
    assert ex.status == 413 and ex.receives == 0


async def test_disconnect_detaches_the_get_stream() -> None:
    """http.disconnect on a GET stream is the core's connection_lost: a new GET is then accepted (not 409)."""
    app = StreamableHttpApp(DemoApp())
    sid = await _initialize(app)
    get_h = [(b"host", b"127.0.0.1"), (b"accept", b"text/event-stream"), (b"mcp-session-id", sid),
             (b"mcp-protocol-version", b"2025-11-25")]
    g1 = Exchange(app, "GET", get_h)
    g1.body(b"")
    await g1.until(lambda: g1.status is not None)
    assert g1.status == 200
    g2 = Exchange(app, "GET", get_h)
    g2.body(b"")
    await g2.until(lambda: g2.complete)
    assert g2.status == 409  # the first stream is still attached
    g1.disconnect()
    await asyncio.wait_for(g1.task, 1)
    g3 = Exchange(app, "GET", get_h)
    g3.body(b"")
    await g3.until(lambda: g3.status is not None)
    assert g3.status == 200
    g3.disconnect()
    await asyncio.wait_for(g3.task, 1)


async def test_heartbeats_run_without_lifespan() -> None:
    """No lifespan was sent, yet the core's timers run: an idle SSE stream gets heartbeat comments."""
    app = StreamableHttpApp(DemoApp(), ServerConfig(heartbeat_interval=0.05))
    sid = await _initialize(app)
    g = Exchange(app, "GET", [(b"host", b"127.0.0.1"), (b"accept", b"text/event-stream"), (b"mcp-session-id", sid),
                              (b"mcp-protocol-version", b"2025-11-25")])
    g.body(b"")
    await g.until(lambda: b":" in g.data, timeout=2)
    g.disconnect()
    await asyncio.wait_for(g.task, 1)


class HookedApp(DemoApp):
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def startup(self) -> None:
        self.calls.append("startup")

    async def shutdown(self) -> None:
        self.calls.append("shutdown")


async def _lifespan(app: StreamableHttpApp, *msgs: str) -> list[str]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for m in msgs:
        inbox.put_nowait({"type": m})
    out: list[str] = []

    async def send(msg: dict[str, Any]) -> None:
        out.append(msg["type"])

    await asyncio.wait_for(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send), 3)
    return out


async def test_lifespan_runs_the_hooks() -> None:
    """With a lifespan, startup and shutdown run the app's hooks and complete."""
    inner = HookedApp()
    app = StreamableHttpApp(inner)
    out = await _lifespan(app, "lifespan.startup", "lifespan.shutdown")
    assert out == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert inner.calls == ["startup", "shutdown"]


async def test_without_lifespan_the_first_request_starts_the_app() -> None:
    """Without a lifespan the startup hook runs once, on the first request (no 'task group' error)."""
    inner = HookedApp()
    app = StreamableHttpApp(inner)
    await _initialize(app)
    await _initialize(app)
    assert inner.calls == ["startup"]


class FailingStart(DemoApp):
    async def startup(self) -> None:
        raise RuntimeError("no database")


async def test_failed_startup_is_reported() -> None:
    """A startup hook that raises gives lifespan.startup.failed, not a crash."""
    out = await _lifespan(StreamableHttpApp(FailingStart()), "lifespan.startup")
    assert out == ["lifespan.startup.failed"]


async def test_shutdown_ends_streams_with_retry_and_refuses_new_requests() -> None:
    """shutdown(): an open SSE stream gets a retry field and ends; a request waiting for a JSON reply
    gets 503; a new request gets 503 with Retry-After."""
    app = StreamableHttpApp(DemoApp())
    sid = await _initialize(app)
    g = Exchange(app, "GET", [(b"host", b"127.0.0.1"), (b"accept", b"text/event-stream"), (b"mcp-session-id", sid),
                              (b"mcp-protocol-version", b"2025-11-25")])
    g.body(b"")
    await g.until(lambda: g.status == 200)
    await app.shutdown(timeout=2)
    await asyncio.wait_for(g.task, 1)
    assert g.complete and g.data.endswith(b"retry: %d\n\n" % DEFAULT_SHUTDOWN_RETRY_MS)
    late = Exchange(app, "POST", _post_headers(sid))
    late.body(b"{}")
    await late.until(lambda: late.complete)
    assert late.status == 503 and late.head[b"retry-after"] == b"1"


async def test_shutdown_uses_the_configured_retry() -> None:
    """The retry sent at shutdown is ServerConfig.retry_ms when set."""
    app = StreamableHttpApp(DemoApp(), ServerConfig(retry_ms=2500))
    assert app.retry_ms == 2500


class Slow(DemoApp):
    async def handle_request(self, ctx: RequestContext) -> Any:
        if ctx.method == "tools/call":
            await asyncio.sleep(30)
        return await super().handle_request(ctx)


async def test_shutdown_answers_waiting_json_requests_503() -> None:
    """A JSON-mode request whose handler is still running gets 503 at shutdown, not a hang."""
    app = StreamableHttpApp(Slow(), ServerConfig(json_response=True))
    sid = await _initialize(app)
    ex = Exchange(app, "POST", _post_headers(sid))
    ex.body(b'{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{}}}')
    await asyncio.sleep(0.05)
    await app.shutdown(timeout=2)
    await asyncio.wait_for(ex.task, 1)
    assert ex.status == 503


async def test_slow_reader_is_dropped_past_max_pending_bytes() -> None:
    """Output queued past max_pending_bytes for an exchange drops it (bounded memory)."""
    app = StreamableHttpApp(DemoApp(), max_pending_bytes=1000)
    sid = await _initialize(app)
    ex = Exchange(app, "POST", _post_headers(sid))
    ex.body(b'{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"blob","arguments":{"size":5000}}}')
    await asyncio.wait_for(ex.task, 2)
    assert not ex.complete


@pytest.mark.parametrize("limit", [0, -1])
def test_max_pending_bytes_must_be_positive(limit: int) -> None:
    """The output bound is validated."""
    with pytest.raises(ValueError):
        StreamableHttpApp(DemoApp(), max_pending_bytes=limit)


# -- Host check behind proxies ---------------------------------------------------------

PROXY = TrustedProxies(addresses=("10.0.0.0/8",))
PUBLIC = ServerConfig(allowed_hosts=["mcp.example.com"])


async def _status(app: StreamableHttpApp, headers: list[tuple[bytes, bytes]], client: str) -> int | None:
    ex = Exchange(app, "POST", headers, client=client)
    ex.body(json.dumps(INIT).encode())
    await ex.until(lambda: ex.complete)
    return ex.status


@pytest.mark.parametrize("fwd", [
    (b"x-forwarded-host", b"mcp.example.com"),
    (b"x-forwarded-host", b"evil.example, mcp.example.com"),
    (b"forwarded", b'for=1.2.3.4;host="mcp.example.com";proto=https'),
    (b"forwarded", b"host=evil.example, for=1.2.3.4;host=mcp.example.com"),
])
async def test_trusted_proxy_forwarded_host_is_checked(fwd: tuple[bytes, bytes]) -> None:
    """From a trusted proxy, the (rightmost) forwarded host replaces Host in the Host check."""
    app = StreamableHttpApp(DemoApp(), PUBLIC, trusted_proxies=PROXY)
    h = [(b"host", b"10.1.2.3:8000"), (b"accept", ACCEPT), (b"content-type", b"application/json"), fwd]
    assert await _status(app, h, "10.1.2.3") == 200


async def test_untrusted_peer_cannot_forward_a_host() -> None:
    """The same forwarded header from a peer outside the trusted networks is ignored: 403."""
    app = StreamableHttpApp(DemoApp(), PUBLIC, trusted_proxies=PROXY)
    h = [(b"host", b"10.1.2.3"), (b"accept", ACCEPT), (b"content-type", b"application/json"),
         (b"x-forwarded-host", b"mcp.example.com")]
    assert await _status(app, h, "192.0.2.1") == 403


async def test_forwarded_host_not_allowed_is_refused() -> None:
    """A trusted proxy forwarding a host outside allowed_hosts gets 403 (the check still runs)."""
    app = StreamableHttpApp(DemoApp(), PUBLIC, trusted_proxies=PROXY)
    h = [(b"host", b"mcp.example.com"), (b"accept", ACCEPT), (b"content-type", b"application/json"),
         (b"x-forwarded-host", b"evil.example")]
    assert await _status(app, h, "10.0.0.1") == 403


def test_trusted_proxies_validates() -> None:
    """Addresses must be IPs or networks; a bare string is refused."""
    with pytest.raises(ValueError):
        TrustedProxies(addresses=("not-an-ip",))
    with pytest.raises(ValueError):
        TrustedProxies(addresses="10.0.0.1")  # type: ignore[arg-type]
    assert not PROXY.trusts(None) and not PROXY.trusts("bogus") and PROXY.trusts("10.9.9.9")


# -- test clients: Host: testserver ---------------------------------------------------------

async def test_httpx_asgitransport_needs_testserver_allowed() -> None:
    """httpx's ASGITransport sends Host: testserver: refused by default (403), served with
    allowed_hosts=["testserver"] (the one-line setting docs/asgi.md gives)."""
    body = json.dumps(INIT)
    h = {"accept": ACCEPT.decode(), "content-type": "application/json"}
    for cfg, expected in ((None, 403), (ServerConfig(allowed_hosts=["testserver"]), 200)):
        app = StreamableHttpApp(DemoApp(), cfg)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            r = await c.post("/mcp", content=body, headers=h)
        assert r.status_code == expected


def test_starlette_mount_beside_other_routes() -> None:
    """Mounted in Starlette beside a plain route, with Starlette's TestClient (no lifespan forwarded to the mount)."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route
    from starlette.testclient import TestClient

    async def health(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    mcp = StreamableHttpApp(HookedApp(), ServerConfig(allowed_hosts=["testserver"]))
    host = Starlette(routes=[Route("/health", health), Mount("/mcp", app=mcp)])
    with TestClient(host) as client:
        assert client.get("/health").text == "ok"
        r = client.post("/mcp/", json=INIT, headers={"accept": ACCEPT.decode()})
        assert r.status_code == 200 and b"streamcore-demo" in r.content
        assert r.headers["mcp-session-id"]


async def test_websocket_scope_is_closed() -> None:
    """A websocket scope is not an MCP transport: closed with 1003."""
    sent: list[dict[str, Any]] = []

    async def send(m: dict[str, Any]) -> None:
        sent.append(m)

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    await StreamableHttpApp(DemoApp())({"type": "websocket"}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1003}]


# -- CORS through the ASGI app ---------------------------------------------------------------

BROWSER = "https://app.example"


def _cors_app() -> StreamableHttpApp:
    policy = CorsPolicy(allowed_origins=(BROWSER,))
    return StreamableHttpApp(DemoApp(), ServerConfig(allowed_origins=policy.origin_hosts), cors=policy)


async def test_cors_preflight_and_exposed_session_id() -> None:
    """A preflight is answered by the policy; the real response exposes Mcp-Session-Id to the page."""
    app = _cors_app()
    pre = Exchange(app, "OPTIONS", [(b"host", b"127.0.0.1"), (b"origin", BROWSER.encode()),
                                    (b"access-control-request-method", b"POST"),
                                    (b"access-control-request-headers", b"content-type, mcp-protocol-version")])
    await pre.until(lambda: pre.complete)
    assert pre.status == 204 and pre.head[b"access-control-allow-origin"] == BROWSER.encode()
    ex = Exchange(app, "POST", _post_headers(origin=BROWSER.encode()))
    ex.body(json.dumps(INIT).encode())
    await ex.until(lambda: ex.complete)
    assert ex.status == 200
    assert b"mcp-session-id" in ex.head[b"access-control-expose-headers"]
    assert ex.head[b"access-control-allow-origin"] == BROWSER.encode()


async def test_cors_keeps_the_origin_check() -> None:
    """An origin outside the policy gets no CORS headers on its preflight (403) and 403 on its request."""
    app = _cors_app()
    pre = Exchange(app, "OPTIONS", [(b"host", b"127.0.0.1"), (b"origin", b"https://evil.example"),
                                    (b"access-control-request-method", b"POST")])
    await pre.until(lambda: pre.complete)
    assert pre.status == 403 and b"access-control-allow-origin" not in pre.head
    ex = Exchange(app, "POST", _post_headers(origin=b"https://evil.example"))
    ex.body(json.dumps(INIT).encode())
    await ex.until(lambda: ex.complete)
    assert ex.status == 403


async def test_cors_origin_check_is_exact() -> None:
    """With a CORS policy, an origin whose host the core accepts but whose port differs is refused
    403 (SEC-02); the server's own origin (scheme://Host) passes without being listed."""
    policy = CorsPolicy(allowed_origins=("http://127.0.0.1:5173",))
    app = StreamableHttpApp(DemoApp(), ServerConfig(), cors=policy)
    other = Exchange(app, "POST", _post_headers(origin=b"http://127.0.0.1:5174"))
    other.body(json.dumps(INIT).encode())
    await other.until(lambda: other.complete)
    assert other.status == 403 and b"access-control-allow-origin" not in other.head
    own = Exchange(app, "POST", _post_headers(origin=b"http://127.0.0.1:8000"))
    own.body(json.dumps(INIT).encode())
    await own.until(lambda: own.complete)
    assert own.status == 200 and b"access-control-allow-origin" not in own.head


def test_cors_policy_must_agree_with_the_origin_check() -> None:
    """A policy allowing an origin the core's Origin check refuses is a configuration error."""
    with pytest.raises(ValueError, match="allowed_origins"):
        StreamableHttpApp(DemoApp(), cors=CorsPolicy(allowed_origins=(BROWSER,)))


def test_one_app_under_successive_test_clients() -> None:
    """Two TestClient sessions in a row (two loops, two lifespans) both work: the app rebinds and
    the first lifespan's shutdown does not leave it refusing requests."""
    from starlette.testclient import TestClient

    inner = HookedApp()
    mcp = StreamableHttpApp(inner, ServerConfig(allowed_hosts=["testserver"]))
    for _ in range(2):
        with TestClient(mcp) as client:
            r = client.post("/mcp", json=INIT, headers={"accept": ACCEPT.decode()})
            assert r.status_code == 200
    assert inner.calls == ["startup", "shutdown", "startup", "shutdown"]


async def test_explicit_endpoint_paths_are_kept() -> None:
    """The core's path check is off by default under ASGI, and applies when set to other paths."""
    app = StreamableHttpApp(DemoApp(), ServerConfig(endpoint_paths=("/api/mcp",)))
    ex = Exchange(app, "POST", _post_headers())  # path /mcp
    ex.body(json.dumps(INIT).encode())
    await ex.until(lambda: ex.complete)
    assert ex.status == 404
    assert StreamableHttpApp(DemoApp()).core.config.endpoint_paths is None


async def test_shutdown_lets_in_flight_calls_finish() -> None:
    """A tool call still running at shutdown gets to deliver its result within the timeout."""
    app = StreamableHttpApp(DemoApp())
    sid = await _initialize(app)
    ex = Exchange(app, "POST", _post_headers(sid))
    ex.body(b'{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"countdown",'
            b'"arguments":{"n":3,"delay":0.1},"_meta":{"progressToken":1}}}')
    await ex.until(lambda: b"progress" in ex.data)
    await app.shutdown(timeout=3)
    await asyncio.wait_for(ex.task, 1)
    assert b'"id":4' in ex.data and b"liftoff" in ex.data and b"retry:" not in ex.data
