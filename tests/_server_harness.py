"""A driver for the sans-IO server core in tests: requests in, replies out.

No sockets: it plays the adapter's part, keeping each exchange's status,
headers, body and end, and collecting the application events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from streamcore.events import (
    AppEvent,
    RequestReceived,
    ResponseData,
    ResponseEnd,
    ResponseHead,
)
from streamcore.server import Server, ServerConfig
from streamcore.sse import SseDecoder

ACCEPT_BOTH = b"application/json, text/event-stream"
HOST = b"127.0.0.1:8000"


@dataclass
class Reply:
    xid: int
    status: int | None = None
    headers: dict[bytes, bytes] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    ended: bool = False
    close: bool = False
    streaming: bool = False

    def json(self) -> Any:
        return json.loads(bytes(self.body))

    def sse(self) -> list:
        dec = SseDecoder()
        return dec.feed(bytes(self.body))

    def messages(self) -> list:
        """JSON-RPC messages carried by an SSE body (empty-data events skipped, CLI-SSE-04)."""
        return [json.loads(e.data) for e in self.sse() if e.data]

    @property
    def session_id(self) -> str | None:
        v = self.headers.get(b"mcp-session-id")
        return v.decode() if v is not None else None


class Harness:
    def __init__(self, **config: Any) -> None:
        self.server = Server(ServerConfig(**config))
        self.now = 1000.0
        self.replies: dict[int, Reply] = {}
        self.app: list[AppEvent] = []

    def pump(self) -> None:
        while (ev := self.server.next_event()) is not None:
            if isinstance(ev, ResponseHead):
                r = self.replies[ev.xid]
                assert r.status is None, "two heads for one exchange"
                r.status, r.streaming = ev.status, ev.streaming
                r.headers = dict(ev.headers)
            elif isinstance(ev, ResponseData):
                r = self.replies[ev.xid]
                assert r.status is not None and not r.ended
                r.body += ev.data
            elif isinstance(ev, ResponseEnd):
                r = self.replies[ev.xid]
                assert r.status is not None and not r.ended
                r.ended, r.close = True, ev.close
            else:
                self.app.append(ev)

    def send(
        self,
        method: bytes,
        body: bytes | Any = b"",
        *,
        session: str | None = None,
        version: str | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        accept: bytes | None = ACCEPT_BOTH,
        content_type: bytes | None = b"application/json",
        host: bytes | None = HOST,
        end: bool = True,
    ) -> Reply:
        if not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
        h: list[tuple[bytes, bytes]] = []
        if host is not None:
            h.append((b"host", host))
        if accept is not None:
            h.append((b"accept", accept))
        if content_type is not None and method == b"POST":
            h.append((b"content-type", content_type))
        if session is not None:
            h.append((b"mcp-session-id", session.encode()))
        if version is not None:
            h.append((b"mcp-protocol-version", version.encode()))
        h.extend(headers or [])
        xid = self.server.receive_request(method, b"/mcp", h, now=self.now)
        self.replies[xid] = Reply(xid)
        if body:
            self.server.receive_body(xid, bytes(body))
        if end:
            self.server.receive_end(xid, now=self.now)
        self.pump()
        return self.replies[xid]

    def post(self, message: Any, **kw: Any) -> Reply:
        return self.send(b"POST", message, **kw)

    def requests(self) -> list[RequestReceived]:
        out = [e for e in self.app if isinstance(e, RequestReceived)]
        return out

    def take(self, kind: type) -> list:
        got = [e for e in self.app if isinstance(e, kind)]
        self.app = [e for e in self.app if not isinstance(e, kind)]
        return got

    def respond(self, handle: int, result: Any = None, **kw: Any) -> None:
        self.server.respond(handle, result, now=self.now, **kw)
        self.pump()

    def initialize(self, version: str = "2025-11-25", **kw: Any) -> str:
        """Run the handshake; returns the session id."""
        r = self.post(
            {"jsonrpc": "2.0", "id": 0, "method": "initialize",
             "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}},
            **kw,
        )
        (req,) = self.take(RequestReceived)
        self.respond(req.handle, {"protocolVersion": version, "capabilities": {}, "serverInfo": {"name": "s", "version": "0"}})
        assert r.ended and r.status == 200, (r.status, bytes(r.body))
        sid = r.session_id
        assert sid is not None
        n = self.post(
            {"jsonrpc": "2.0", "method": "notifications/initialized"}, session=sid, version=version,
            headers=kw.get("headers"),
        )
        assert n.status == 202
        self.app.clear()
        return sid
