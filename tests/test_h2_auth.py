"""OAuth on HTTP/2, as on HTTP/1.1 (docs/auth.md): the Protected Resource Metadata
document (RFC 9728) is served on an h2 stream, and a request whose token must be
introspected is held, its body waiting unacknowledged, until the introspection
answers; other streams of the connection go on meanwhile."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h2.events
import pytest

from streamcore.aio.server import ResourceServer, StreamableHttpServer
from streamcore.auth import BearerAuth, IntrospectionVerifier, ProtectedResource
from streamcore.demo import DemoApp
from streamcore.server import ServerConfig

from test_h2_server import INIT, Raw


def test_prm_document_and_held_introspection_over_h2() -> None:
    async def main() -> None:
        gate = asyncio.Event()
        asked: list[bytes] = []

        async def introspect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            asked.append(head)
            await gate.wait()
            body = b'{"active": true, "exp": 99999999999, "scope": "mcp:read"}'
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
            writer.close()
        isrv = await asyncio.start_server(introspect, "127.0.0.1", 0)
        iport = isrv.sockets[0].getsockname()[1]
        resource = ProtectedResource("http://127.0.0.1/mcp", ["http://as.example"])
        iv = IntrospectionVerifier(f"http://127.0.0.1:{iport}/introspect", client_id="rs", client_secret="s")
        config = ServerConfig(authenticate=BearerAuth(iv, resource, check_audience=False))
        hub = StreamableHttpServer(DemoApp(), config, auth=ResourceServer(resource, introspection=iv))
        srv = await hub.start("127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        raw = await Raw.open(port)
        try:
            # the PRM document, answered by the adapter on its own stream
            sid = raw.h2.get_next_available_stream_id()
            raw.h2.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"127.0.0.1"),
                                      (b":path", resource.metadata_path.encode())], end_stream=True)
            raw.flush()
            await raw.pump(lambda: raw.ended(sid))
            assert raw.status(sid) == 200
            doc = json.loads(raw.body(sid))
            assert doc["resource"] == "http://127.0.0.1/mcp" and doc["authorization_servers"] == ["http://as.example"]
            # no token: 401 with the PRM's address (BearerAuth in the core, as on HTTP/1.1)
            s401 = raw.request("POST", json.dumps(INIT).encode())
            await raw.pump(lambda: raw.ended(s401))
            assert raw.status(s401) == 401
            # a token to introspect: held, with its body, until the introspection answers
            held = raw.request("POST", json.dumps(INIT).encode()[:10], end=False,
                               headers=[(b"authorization", b"Bearer tok-1")])
            await asyncio.sleep(0.2)
            raw.h2.send_data(held, json.dumps(INIT).encode()[10:], end_stream=True)
            raw.flush()
            await asyncio.sleep(0.2)
            assert asked and not raw.ended(held) and raw.status(held) is None
            other = raw.h2.get_next_available_stream_id()  # the connection is not blocked meanwhile
            raw.h2.send_headers(other, [(b":method", b"GET"), (b":scheme", b"http"),
                                        (b":authority", b"127.0.0.1"),
                                        (b":path", resource.metadata_path.encode())], end_stream=True)
            raw.flush()
            await raw.pump(lambda: raw.ended(other))
            gate.set()
            await raw.pump(lambda: raw.ended(held))
            assert raw.status(held) == 200
            assert any(m.get("result", {}).get("protocolVersion") for m in _messages(raw.body(held)))
            assert raw.goaway() is None
        finally:
            raw.w.close()
            srv.close()
            isrv.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def _messages(body: bytes) -> list[Any]:
    if body.startswith(b"{"):
        return [json.loads(body)]
    return [json.loads(line[6:]) for line in body.split(b"\n") if line.startswith(b"data: ") and len(line) > 6]


def test_held_stream_reset_by_the_peer_is_forgotten() -> None:
    """A held request whose stream the peer resets never reaches the core."""
    async def main() -> None:
        gate = asyncio.Event()

        async def introspect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            await gate.wait()
            body = b'{"active": true, "exp": 99999999999}'
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
            writer.close()
        isrv = await asyncio.start_server(introspect, "127.0.0.1", 0)
        iport = isrv.sockets[0].getsockname()[1]
        resource = ProtectedResource("http://127.0.0.1/mcp", ["http://as.example"])
        iv = IntrospectionVerifier(f"http://127.0.0.1:{iport}/introspect", client_id="rs", client_secret="s")
        hub = StreamableHttpServer(DemoApp(), ServerConfig(authenticate=BearerAuth(iv, resource, check_audience=False)),
                                   auth=ResourceServer(resource, introspection=iv))
        srv = await hub.start("127.0.0.1", 0)
        raw = await Raw.open(srv.sockets[0].getsockname()[1])
        try:
            s = raw.request("POST", json.dumps(INIT).encode(), headers=[(b"authorization", b"Bearer tok-2")])
            await asyncio.sleep(0.2)
            raw.h2.reset_stream(s, 8)
            raw.flush()
            await asyncio.sleep(0.1)
            gate.set()
            await asyncio.sleep(0.3)
            conn = next(iter(hub.h2_listener.connections))
            assert not conn.streams and not conn.by_xid
            assert not raw.of(h2.events.ResponseReceived, s)
        finally:
            raw.w.close()
            srv.close()
            isrv.close()

    asyncio.run(asyncio.wait_for(main(), 30))


@pytest.mark.integration
@pytest.mark.parametrize("verifier", ["jwt", "introspection"])
def test_our_client_over_h2_with_oauth(verifier: str) -> None:
    """``connect(url, http2=True, auth=...)``: the 401 challenge, discovery (the PRM over
    h2), the code flow and the retry with the token all happen on HTTP/2 (AUTH-07);
    with introspection, the server holds each new token's first stream meanwhile."""
    from test_auth_interop import _oauth, as_log, auth_server, our_server

    from streamcore.aio.client import connect

    with auth_server() as issuer:
        async def main() -> None:
            async with our_server(issuer, verifier=verifier) as url:
                auth = _oauth()
                async with connect(url, auth=auth, listen=False, timeout=10, http2=True) as s:
                    out = await s.call_tool("echo", {"text": "over h2"})
                    assert "over h2" in json.dumps(out)
                    h2t = s._h2
                    assert h2t is not None and h2t.conns and not h2t.http1_only  # no fallback
                t = auth.client.tokens_for(url)
                assert t is not None and t.resource == url
        asyncio.run(asyncio.wait_for(main(), 60))
        paths = [e["path"] for e in as_log(issuer)]
        assert "/token" in paths and ("/introspect" in paths) == (verifier == "introspection")
