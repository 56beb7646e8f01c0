"""The asyncio OAuth pieces at their limits, on loopback sockets only: fetch's body bound, the introspection
calls in flight (max_pending), the headless consent without a redirect."""

from __future__ import annotations

import asyncio

import pytest

from streamcore.aio.client import headless_consent
from streamcore.aio.server import ResourceServer
from streamcore.auth import IntrospectionVerifier, OAuthError, ProtectedResource


async def _serve(body: bytes, status: bytes = b"200 OK", extra: bytes = b"") -> tuple[asyncio.AbstractServer, int]:
    async def on(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: %d\r\n" % len(body) + extra + b"\r\n" + body)
        await writer.drain()
        writer.close()
    srv = await asyncio.start_server(on, "127.0.0.1", 0)
    return srv, srv.sockets[0].getsockname()[1]


def test_document_bound_while_reading() -> None:
    """The driver reads at most max_document_size bytes of a response: a PRM document of exactly the limit is
    read (the flow goes on to the next step), one byte more ends the flow while reading."""
    import json as _json

    from streamcore.aio.client import OAuth
    from streamcore.auth import OAuthConfig

    async def attempt(size: int) -> str:
        doc = {"resource": "http://127.0.0.1:1/mcp", "authorization_servers": ["http://127.0.0.1:1"], "pad": ""}
        doc["pad"] = "x" * (size - len(_json.dumps(doc).encode()))
        body = _json.dumps(doc).encode()
        assert len(body) == size
        srv, port = await _serve(body)
        try:
            auth = OAuth(OAuthConfig(max_document_size=1024), timeout=5)
            www = f'Bearer resource_metadata="http://127.0.0.1:{port}/prm"'
            assert not await auth.challenge("http://127.0.0.1:1/mcp", 401, [("www-authenticate", www)], None)
            return str(auth.last_error)
        finally:
            srv.close()

    async def main() -> None:
        at_limit = await attempt(1024)
        over = await attempt(1025)
        assert "larger than" not in at_limit  # read whole; failed later (no authorization server there)
        assert "larger than 1024 bytes" in over
    asyncio.run(asyncio.wait_for(main(), 30))


def test_headless_consent_needs_a_redirect() -> None:
    """An authorization endpoint that answers 200 (a login page) cannot be consented to headlessly."""
    async def main() -> None:
        srv, port = await _serve(b"<html>login</html>")
        try:
            with pytest.raises(OAuthError):
                await headless_consent(f"http://127.0.0.1:{port}/authorize")
        finally:
            srv.close()
        srv, port = await _serve(b"", b"302 Found", b"location: /cb?code=1&state=s\r\n")
        try:
            assert await headless_consent(f"http://127.0.0.1:{port}/authorize?x") == f"http://127.0.0.1:{port}/cb?code=1&state=s"
        finally:
            srv.close()
    asyncio.run(asyncio.wait_for(main(), 20))


def test_introspection_max_pending() -> None:
    """One introspection per token however many requests wait; past max_pending tokens, no new call (401)."""
    async def main() -> None:
        gate = asyncio.Event()

        async def on(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            await gate.wait()
            body = b'{"active": true, "exp": 99999999999}'
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
            writer.close()
        srv = await asyncio.start_server(on, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        iv = IntrospectionVerifier(f"http://127.0.0.1:{port}/introspect", client_id="rs", client_secret="s")
        rs = ResourceServer(ProtectedResource("http://127.0.0.1:1/mcp", ["http://as"]), introspection=iv,
                            max_pending=1)
        a1 = rs.prepare([(b"authorization", b"Bearer a")])
        a2 = rs.prepare([(b"authorization", b"Bearer a")])
        assert a1 is not None and a2 is not None
        assert rs.prepare([(b"authorization", b"Bearer b")]) is None  # one call in flight already
        gate.set()
        await asyncio.gather(a1, a2)
        assert iv.verify("a", now=0) is not None
        assert rs.prepare([(b"authorization", b"Bearer a")]) is None  # cached now
        assert rs.prepare([(b"authorization", b"Bearer b")]) is not None  # room again
        srv.close()
    asyncio.run(asyncio.wait_for(main(), 20))
