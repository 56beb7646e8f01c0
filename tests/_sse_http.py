"""A small blocking MCP-over-HTTP client for the cluster tests: raw http.client, SSE read line by line.

Raw on purpose: these tests count events by id and cut connections at chosen
points, which an SDK client hides.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field
from typing import Any, Iterator

VERSION = "2025-11-25"
ACCEPT = "application/json, text/event-stream"


def init_body(rid: int = 1, version: str = VERSION) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": {"elicitation": {}},
                       "clientInfo": {"name": "cluster-test", "version": "1"}}}


@dataclass
class Event:
    id: str | None
    data: str
    retry: int | None = None

    def message(self) -> Any:
        return json.loads(self.data) if self.data else None


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    conn: http.client.HTTPConnection
    resp: http.client.HTTPResponse
    body: bytes | None = None
    events: list[Event] = field(default_factory=list)

    def close(self) -> None:
        self.conn.close()

    def sse(self) -> Iterator[Event]:
        """The SSE events as they arrive (comments skipped), until the body ends."""
        ev_id: str | None = None
        data: list[str] = []
        retry: int | None = None
        while True:
            raw = self.resp.readline()
            if not raw:
                return
            line = raw.decode("utf-8").rstrip("\r\n")
            if line == "":
                if data or ev_id is not None:
                    ev = Event(ev_id, "\n".join(data), retry)
                    self.events.append(ev)
                    yield ev
                ev_id, data, retry = None, [], None
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id":
                ev_id = value
            elif name == "data":
                data.append(value)
            elif name == "retry" and value.isdigit():
                retry = int(value)

    def json(self) -> Any:
        if self.body is None:
            self.body = self.resp.read()
        return json.loads(self.body)


def request(port: int, method: str, body: Any = None, *, sid: str | None = None, last_event_id: str | None = None,
            version: str | None = VERSION, timeout: float = 10.0, host: str = "127.0.0.1") -> Reply:
    """Send one request; the body is left unread (read it with ``sse()`` or ``json()``)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"accept": ACCEPT if method == "POST" else "text/event-stream"}
    if body is not None:
        headers["content-type"] = "application/json"
    if sid:
        headers["mcp-session-id"] = sid
        if version:
            headers["mcp-protocol-version"] = version
    if last_event_id is not None:
        headers["last-event-id"] = last_event_id
    conn.request(method, "/mcp", json.dumps(body) if body is not None else None, headers)
    resp = conn.getresponse()
    return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, conn, resp)


def initialize(port: int, timeout: float = 10.0) -> str:
    """initialize + notifications/initialized; the session id."""
    r = request(port, "POST", init_body(), timeout=timeout)
    try:
        assert r.status == 200, (r.status, r.resp.read())
        sid = r.headers["mcp-session-id"]
        if r.headers.get("content-type", "").startswith("text/event-stream"):
            list(r.sse())
        else:
            r.json()
    finally:
        r.close()
    n = request(port, "POST", {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid=sid, timeout=timeout)
    n.resp.read()
    n.close()
    assert n.status == 202, n.status
    return sid


def countdown(rid: int, n: int, delay: float) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": "tools/call",
            "params": {"name": "countdown", "arguments": {"n": n, "delay": delay}, "_meta": {"progressToken": rid}}}
