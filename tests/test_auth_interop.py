"""OAuth end to end with real peers, all on 127.0.0.1, every process stopped by its pid:

* our client (``streamcore.aio.client.OAuth``) against our server (``BearerAuth``
  with a JWKS-backed ``JwtVerifier`` or RFC 7662 introspection), both through
  ``tests/oauth_test_as.py``, a small authorization server for tests;
* the official Python SDK client (``mcp`` 2.3.0 ``OAuthClientProvider``) against our server;
* our client against the official Python SDK server with auth on (``tests/py_sdk_auth_server.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import pytest

from streamcore.aio.client import HttpStatusError, OAuth, connect
from streamcore.aio.server import ResourceServer, StreamableHttpServer, load_jwks
from streamcore.auth import (
    BearerAuth,
    IntrospectionVerifier,
    JwtVerifier,
    MemoryTokenStorage,
    OAuthConfig,
    ProtectedResource,
)
from streamcore.demo import DemoApp
from streamcore.server import ServerConfig

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _procs import wait_port  # noqa: E402

pytestmark = pytest.mark.integration
REDIRECT = "http://127.0.0.1:9/callback"  # never listened on: the headless consent reads the Location


@contextmanager
def _proc(cmd: list[str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(cmd, cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


@contextmanager
def auth_server(*args: str) -> Iterator[str]:
    """``tests/oauth_test_as.py``; yields its issuer URL."""
    pytest.importorskip("uvicorn", reason="uvicorn (a dependency of mcp) is not installed")
    pytest.importorskip("jwt", reason="PyJWT is not installed (the [jwt] extra)")
    with _proc([sys.executable, str(HERE / "oauth_test_as.py"), *args]) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("http://"):
            raise RuntimeError(f"test authorization server did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
        port = int(line.rsplit(":", 1)[1])
        wait_port("127.0.0.1", port, 20)
        yield line


def as_log(issuer: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(issuer + "/log", timeout=10) as r:
        return json.loads(r.read())


@asynccontextmanager
async def our_server(issuer: str, *, verifier: str = "jwt", required: tuple[str, ...] = ("mcp:read",),
                     scope_hint: str | None = None, http1: str = "fast") -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    resource = ProtectedResource(url, [issuer], scopes_supported=["mcp:read", "mcp:write"])
    introspection = None
    if verifier == "jwt":
        v: Any = JwtVerifier(await load_jwks(issuer + "/jwks"), issuer=issuer)
    else:
        v = introspection = IntrospectionVerifier(issuer + "/introspect", client_id="rs", client_secret="rs-secret")
    config = ServerConfig(authenticate=BearerAuth(v, resource, required_scopes=required, scope_hint=scope_hint))
    hub = StreamableHttpServer(DemoApp(), config, auth=ResourceServer(resource, introspection=introspection),
                               http1=http1)
    srv = await hub.start(None, None, sock=sock)  # type: ignore[arg-type]
    try:
        yield url
    finally:
        srv.close()
        await srv.wait_closed()


def _oauth(**kw: Any) -> OAuth:
    return OAuth(OAuthConfig(redirect_uri=REDIRECT, client_name="streamcore-test", **kw))


def test_our_client_our_server_jwt() -> None:
    """Discovery from the 401, registration, PKCE code flow with resource, JWT verified via JWKS, retry."""
    with auth_server() as issuer:
        async def main() -> None:
            async with our_server(issuer) as url:
                auth = _oauth()
                async with connect(url, auth=auth, listen=False, timeout=10) as s:
                    tools = await s.list_tools()
                    assert tools
                    await s.call_tool("echo", {"text": "hi"}) if any(t["name"] == "echo" for t in tools) else None
                t = auth.client.tokens_for(url)
                assert t is not None and t.resource == url and t.scope and "mcp:read" in t.scope.split()
        asyncio.run(asyncio.wait_for(main(), 60))
        log = as_log(issuer)
        paths = [e["path"] for e in log]
        assert "/register" in paths and "/authorize" in paths and "/token" in paths
        authz = next(e for e in log if e["path"] == "/authorize")["query"]
        assert authz["resource"].endswith("/mcp") and authz["code_challenge_method"] == "S256"
        assert authz["scope"].split() == ["mcp:read"]  # the challenge's scope hint (required scopes)
        reg = next(e for e in log if e["path"] == "/register")["body"]
        assert reg["application_type"] == "native" and "refresh_token" in reg["grant_types"]


def test_step_up_403_then_success() -> None:
    """401 hints mcp:read; the token lacks mcp:write, so 403 insufficient_scope; the client re-authorizes with the union."""
    with auth_server() as issuer:
        async def main() -> None:
            async with our_server(issuer, required=("mcp:read", "mcp:write"), scope_hint="mcp:read") as url:
                auth = _oauth(offline_access=False)
                async with connect(url, auth=auth, listen=False, timeout=10) as s:
                    await s.list_tools()
                t = auth.client.tokens_for(url)
                assert t is not None and set((t.scope or "").split()) == {"mcp:read", "mcp:write"}
        asyncio.run(asyncio.wait_for(main(), 60))
        scopes = [e["query"].get("scope") for e in as_log(issuer) if e["path"] == "/authorize"]
        assert scopes == ["mcp:read", "mcp:read mcp:write"]


def test_refresh_before_expiry() -> None:
    """A token about to expire is refreshed (grant_type=refresh_token, same resource) before the next request."""
    with auth_server("--expires-in", "3") as issuer:
        async def main() -> None:
            async with our_server(issuer) as url:
                auth = OAuth(OAuthConfig(redirect_uri=REDIRECT, refresh_margin=1.0))
                async with connect(url, auth=auth, listen=False, timeout=10) as s:
                    await s.list_tools()
                    first = auth.client.tokens_for(url)
                    await asyncio.sleep(2.2)
                    await s.list_tools()
                    second = auth.client.tokens_for(url)
                assert first is not None and second is not None and first.access_token != second.access_token
        asyncio.run(asyncio.wait_for(main(), 60))
        grants = [e["form"]["grant_type"] for e in as_log(issuer) if e["path"] == "/token"]
        assert grants[0] == "authorization_code" and "refresh_token" in grants[1:]
        assert [e["path"] for e in as_log(issuer)].count("/authorize") == 1


@pytest.mark.parametrize("http1", ["fast", "h11"])
def test_introspection_verifier_end_to_end(http1: str) -> None:
    """RFC 7662: the adapter introspects an unknown token before the core sees the request, then caches it
    (both HTTP/1.1 engines hold the request head meanwhile)."""
    with auth_server() as issuer:
        async def main() -> None:
            async with our_server(issuer, verifier="introspection", http1=http1) as url:
                async with connect(url, auth=_oauth(), listen=False, timeout=10) as s:
                    await s.list_tools()
                    await s.list_tools()
        asyncio.run(asyncio.wait_for(main(), 60))
        assert [e["path"] for e in as_log(issuer)].count("/introspect") == 1  # cached after the first


def test_token_not_for_this_resource_is_rejected() -> None:
    """Audience check: a token issued for another MCP server is answered 401 invalid_token, never accepted."""
    with auth_server() as issuer:
        async def main() -> None:
            storage = MemoryTokenStorage()
            async with our_server(issuer) as url_a:
                auth = OAuth(OAuthConfig(redirect_uri=REDIRECT), storage=storage)
                async with connect(url_a, auth=auth, listen=False, timeout=10) as s:
                    await s.list_tools()
                token_a = auth.client.tokens_for(url_a)
                assert token_a is not None
            async with our_server(issuer) as url_b:
                import urllib.request as ur

                body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "x", "version": "0"}}})
                req = ur.Request(url_b, data=body.encode(), method="POST", headers={
                    "authorization": f"Bearer {token_a.access_token}", "content-type": "application/json",
                    "accept": "application/json, text/event-stream"})
                loop = asyncio.get_running_loop()
                err = await loop.run_in_executor(None, _expect_http_error, req)
                assert err[0] == 401 and 'error="invalid_token"' in err[1] and "resource_metadata=" in err[1]
        asyncio.run(asyncio.wait_for(main(), 60))


def _read_response(sock: socket.socket, buf: bytes) -> tuple[bytes, bytes, bytes]:
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(
        b"content-length:")))
    while len(rest) < length:
        rest += sock.recv(65536)
    return head, rest[:length], rest[length:]


def _prm_then_post(port: int) -> tuple[bytes, bytes]:
    """GET the PRM document, then POST without a token, on one keep-alive connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        host = f"127.0.0.1:{port}".encode()
        sock.sendall(b"GET /.well-known/oauth-protected-resource/mcp HTTP/1.1\r\nhost: " + host + b"\r\n\r\n")
        head, body, rest = _read_response(sock, b"")
        assert head.startswith(b"HTTP/1.1 200 "), head
        post = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
        sock.sendall(b"POST /mcp HTTP/1.1\r\nhost: " + host + b"\r\ncontent-type: application/json\r\n"
                     b"accept: application/json, text/event-stream\r\ncontent-length: %d\r\n\r\n" % len(post) + post)
        head2, _, _ = _read_response(sock, rest)
        return body, head2


def _expect_http_error(req: urllib.request.Request) -> tuple[int, str]:
    try:
        urllib.request.urlopen(req, timeout=10)
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("www-authenticate", "")
    return 200, ""


@pytest.mark.parametrize("http1", ["fast", "h11"])
def test_prm_document_served(http1: str) -> None:
    """RFC 9728 section 3: GET /.well-known/oauth-protected-resource/mcp returns the document; no token needed;
    the connection then serves an MCP request (keep-alive cycle intact)."""
    with auth_server() as issuer:
        async def main() -> dict[str, Any]:
            async with our_server(issuer, http1=http1) as url:
                base, _, _ = url.rpartition("/mcp")
                loop = asyncio.get_running_loop()
                port = int(base.rsplit(":", 1)[1])
                raw, second = await loop.run_in_executor(None, _prm_then_post, port)
                doc: dict[str, Any] = json.loads(raw)
                assert doc["resource"] == url
                assert second.startswith(b"HTTP/1.1 401 ") and b"resource_metadata=" in second
                return doc
        doc = asyncio.run(asyncio.wait_for(main(), 60))
        assert doc["authorization_servers"] == [issuer] and doc["scopes_supported"] == ["mcp:read", "mcp:write"]


def test_python_sdk_client_against_our_server() -> None:
    """The official Python SDK's OAuthClientProvider authorizes against our server and calls a tool."""
    pytest.importorskip("mcp", reason="the official Python SDK (mcp) is not installed")
    import httpx2
    from mcp import ClientSession
    from mcp.client.auth import OAuthClientProvider
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

    class Store:
        def __init__(self) -> None:
            self.tokens: OAuthToken | None = None
            self.client: OAuthClientInformationFull | None = None

        async def get_tokens(self) -> OAuthToken | None:
            return self.tokens

        async def set_tokens(self, tokens: OAuthToken) -> None:
            self.tokens = tokens

        async def get_client_info(self) -> OAuthClientInformationFull | None:
            return self.client

        async def set_client_info(self, info: OAuthClientInformationFull) -> None:
            self.client = info

    with auth_server() as issuer:
        async def main() -> list[str]:
            async with our_server(issuer) as url:
                redirect: dict[str, str] = {}

                async def on_redirect(auth_url: str) -> None:
                    async with httpx2.AsyncClient() as c:
                        r = await c.get(auth_url, follow_redirects=False)
                    redirect["location"] = r.headers["location"]

                async def on_callback() -> AuthorizationCodeResult:
                    q = dict(httpx2.URL(redirect["location"]).params)
                    return AuthorizationCodeResult(code=q["code"], state=q.get("state"), iss=q.get("iss"))

                store = Store()
                provider = OAuthClientProvider(
                    url, OAuthClientMetadata(client_name="sdk", redirect_uris=[REDIRECT],  # type: ignore[list-item]
                                             grant_types=["authorization_code", "refresh_token"],
                                             response_types=["code"], token_endpoint_auth_method="none"),
                    store, redirect_handler=on_redirect, callback_handler=on_callback)
                async with httpx2.AsyncClient(auth=provider, timeout=10) as http:
                    async with streamable_http_client(url, http_client=http) as (read, write, *_):
                        async with ClientSession(read, write) as session:
                            await session.initialize()
                            tools = await session.list_tools()
                            assert store.tokens is not None
                            return [t.name for t in tools.tools]
        names = asyncio.run(asyncio.wait_for(main(), 60))
        assert names
        authz = next(e for e in as_log(issuer) if e["path"] == "/authorize")["query"]
        assert authz["resource"].endswith("/mcp")


def test_our_client_against_python_sdk_server() -> None:
    """Our client follows the official Python SDK server's 401 (its PRM, our test AS) and calls its tool."""
    pytest.importorskip("mcp", reason="the official Python SDK (mcp) is not installed")
    with auth_server() as issuer:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with _proc([sys.executable, str(HERE / "py_sdk_auth_server.py"), str(port), issuer]) as proc:
            try:
                wait_port("127.0.0.1", port, 20)
            except OSError:
                raise RuntimeError(f"SDK server did not start: {proc.stderr.read() if proc.stderr else ''}")
            url = f"http://127.0.0.1:{port}/mcp"

            async def main() -> str:
                auth = _oauth()
                async with connect(url, auth=auth, listen=False, timeout=10) as s:
                    res = await s.call_tool("whoami", {})
                client = auth.client.storage.get_client(issuer)
                assert client is not None
                text: str = res["content"][0]["text"]
                assert text == client.client_id
                return text
            asyncio.run(asyncio.wait_for(main(), 60))
        authz = next(e for e in as_log(issuer) if e["path"] == "/authorize")["query"]
        assert authz["resource"] == url and authz["scope"].split()[0] == "mcp:read"


def test_failed_authorization_surfaces_the_401() -> None:
    """An authorization server that is down: the request fails with the server's 401, and the reason is kept."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"

    async def main() -> None:
        async with _server_with_dead_as(dead) as url:
            auth = _oauth()
            with pytest.raises(HttpStatusError) as ei:
                async with connect(url, auth=auth, listen=False, timeout=10) as s:
                    await s.list_tools()
            assert ei.value.status == 401
            assert auth.last_error is not None
    asyncio.run(asyncio.wait_for(main(), 60))


@asynccontextmanager
async def _server_with_dead_as(issuer: str) -> AsyncIterator[str]:
    from streamcore.auth import StaticTokens

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    resource = ProtectedResource(url, [issuer])
    hub = StreamableHttpServer(DemoApp(), ServerConfig(authenticate=BearerAuth(StaticTokens({}), resource)),
                               auth=ResourceServer(resource))
    srv = await hub.start(None, None, sock=sock)  # type: ignore[arg-type]
    try:
        yield url
    finally:
        srv.close()
        await srv.wait_closed()


def test_browser_consent_loopback_redirect() -> None:
    """BrowserConsent: the 'browser' (a thread following redirects) lands on our loopback listener with the code."""
    import threading

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    opened: list[str] = []

    def browser(url: str) -> None:
        opened.append(url)
        threading.Thread(target=lambda: urllib.request.urlopen(url, timeout=10).read(), daemon=True).start()

    from streamcore.aio.client import BrowserConsent

    with auth_server() as issuer:
        async def main() -> None:
            async with our_server(issuer) as url:
                consent = BrowserConsent(port=port, open_browser=browser, timeout=20)
                auth = OAuth(consent=consent)
                assert auth.client.config.redirect_uri == f"http://127.0.0.1:{port}/callback"
                async with connect(url, auth=auth, listen=False, timeout=10) as s:
                    await s.list_tools()
        asyncio.run(asyncio.wait_for(main(), 60))
    assert len(opened) == 1 and "code_challenge=" in opened[0]
