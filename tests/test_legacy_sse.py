"""The deprecated HTTP+SSE transport (2024-11-05, spec 2.15 L0) in the sans-IO server core.

Each test cites the spec IDs it checks. The stream is opened with GET on
``sse_path``; its first event names the POST URL (L0-02); POSTs are answered
202 and their answers arrive on the stream as ``message`` events (L0-04).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from _server_harness import HOST, Harness, Reply
from streamcore.events import (
    NotificationReceived,
    RequestCancelled,
    RequestReceived,
    ResponseReceived,
    SessionClosed,
)
from streamcore.server import LocalProtocolError, ServerConfig
from streamcore.store import MemoryEventStore


def init_msg(id_: Any = 0) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": "initialize",
            "params": {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}


def call(id_: Any = 1, name: str = "echo") -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": {"name": name, "arguments": {}}}


class L0(Harness):
    """The shared harness, with any target and the L0 steps."""

    def __init__(self, **config: Any) -> None:
        config.setdefault("sse_path", "/sse")
        super().__init__(**config)

    def request(self, method: bytes, target: bytes, body: bytes | Any = b"", *,
                headers: list[tuple[bytes, bytes]] | None = None, host: bytes | None = HOST,
                content_type: bytes | None = b"application/json", accept: bytes | None = None,
                end: bool = True, client: Any = None) -> Reply:
        if not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
        h: list[tuple[bytes, bytes]] = []
        if host is not None:
            h.append((b"host", host))
        if accept is not None:
            h.append((b"accept", accept))
        if content_type is not None and method == b"POST":
            h.append((b"content-type", content_type))
        h.extend(headers or [])
        xid = self.server.receive_request(method, target, h, now=self.now, client=client)
        self.replies[xid] = Reply(xid)
        if body:
            self.server.receive_body(xid, bytes(body))
        if end:
            self.server.receive_end(xid, now=self.now)
        self.pump()
        return self.replies[xid]

    def open(self, **kw: Any) -> tuple[Reply, str]:
        """GET the SSE path; returns the stream and the POST URL of its ``endpoint`` event."""
        kw.setdefault("accept", b"text/event-stream")
        r = self.request(b"GET", b"/sse", **kw)
        assert r.status == 200, (r.status, bytes(r.body))
        first = r.sse()[0]
        assert first.event == "endpoint"
        return r, first.data

    def messages(self, stream: Reply) -> list[Any]:
        """JSON-RPC messages on the stream (every ``message`` event)."""
        return [json.loads(e.data) for e in stream.sse() if e.event == "message"]


def sid_of(url: str) -> str:
    return url.split("session_id=", 1)[1]


def test_get_opens_stream_with_endpoint_event_first() -> None:
    """L0-01, L0-02, HTTP-07: GET on the SSE path is an SSE stream whose first event is `endpoint`,
    naming the messages path with `session_id` in the query (the official SDKs' form)."""
    h = L0()
    r, url = h.open()
    assert r.streaming and not r.ended
    assert r.headers[b"content-type"] == b"text/event-stream"
    assert r.headers[b"cache-control"] == b"no-cache, no-transform"
    assert url.startswith("/messages/?session_id=") and len(sid_of(url)) >= 32
    assert h.server.sessions == 1
    # a second stream is a second session, with its own id
    _, url2 = h.open()
    assert sid_of(url2) != sid_of(url) and h.server.sessions == 2


def test_post_is_202_and_the_answer_arrives_on_the_stream() -> None:
    """L0-03, L0-04, HTTP-02: a POST to the endpoint URL gets 202 with no body; the response
    is a `message` event on the stream, and the session's stream stays open."""
    h = L0()
    stream, url = h.open()
    sid = sid_of(url)
    p = h.request(b"POST", url.encode(), init_msg(7))
    assert (p.status, bytes(p.body), p.headers[b"content-length"], p.ended) == (202, b"", b"0", True)
    (req,) = h.take(RequestReceived)
    assert req.message.method == "initialize" and req.session_id == sid and req.protocol_version == "2024-11-05"
    h.respond(req.handle, {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "s", "version": "0"}})
    assert h.messages(stream) == [{"jsonrpc": "2.0", "id": 7, "result": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "s", "version": "0"}}}]
    assert not stream.ended
    n = h.request(b"POST", url.encode(), {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert n.status == 202
    (note,) = h.take(NotificationReceived)
    assert note.session_id == sid
    # later requests see the negotiated version
    h.request(b"POST", url.encode(), call(8))
    (req,) = h.take(RequestReceived)
    assert req.protocol_version == "2025-11-25"


def test_progress_and_server_to_client_request_round_trip() -> None:
    """L0-04, SRV-SSE-02 analogue: a related notification and a server-to-client request go on the
    stream; the client's answer, POSTed to the endpoint, reaches the application (ResponseReceived)."""
    h = L0()
    stream, url = h.open()
    sid = sid_of(url)
    h.request(b"POST", url.encode(), call(1, "ask"))
    (req,) = h.take(RequestReceived)
    assert h.server.notify(sid, "notifications/progress", {"progressToken": 1, "progress": 1},
                           related=req.handle, now=h.now)
    rid = h.server.send_request(sid, "elicitation/create", {"message": "name?"}, related=req.handle, now=h.now)
    h.pump()
    msgs = h.messages(stream)
    assert msgs[0]["method"] == "notifications/progress"
    assert msgs[1] == {"jsonrpc": "2.0", "id": rid, "method": "elicitation/create", "params": {"message": "name?"}}
    a = h.request(b"POST", url.encode(), {"jsonrpc": "2.0", "id": rid, "result": {"action": "accept"}})
    assert a.status == 202
    (resp,) = h.take(ResponseReceived)
    assert resp.known and resp.session_id == sid and resp.message.result == {"action": "accept"}
    h.respond(req.handle, {"content": []})
    assert h.messages(stream)[-1] == {"jsonrpc": "2.0", "id": 1, "result": {"content": []}}
    # a notification unrelated to any request goes on the session's one stream too
    h.server.notify(sid, "notifications/tools/list_changed", now=h.now)
    h.pump()
    assert h.messages(stream)[-1]["method"] == "notifications/tools/list_changed"


def test_raw_json_with_newlines_stays_one_event() -> None:
    """SSE-framing: a result spliced in as RawJson with line breaks is still one `message` event."""
    from streamcore.jsonrpc import RawJson

    h = L0()
    stream, url = h.open()
    h.request(b"POST", url.encode(), call(3))
    (req,) = h.take(RequestReceived)
    h.respond(req.handle, RawJson(b'{\n  "content": []\n}'))
    assert h.messages(stream) == [{"jsonrpc": "2.0", "id": 3, "result": {"content": []}}]


def test_client_cancellation() -> None:
    """CANCEL-02, CANCEL-05: notifications/cancelled POSTed to the endpoint cancels the request;
    its late answer is dropped."""
    h = L0()
    stream, url = h.open()
    h.request(b"POST", url.encode(), call(5))
    (req,) = h.take(RequestReceived)
    h.request(b"POST", url.encode(), {"jsonrpc": "2.0", "method": "notifications/cancelled",
                                      "params": {"requestId": 5, "reason": "user"}})
    (c,) = h.take(RequestCancelled)
    assert c.rid == req.rid and c.reason == "user"
    h.respond(req.handle, {"late": True})
    assert h.messages(stream) == []


def test_session_id_missing_unknown_or_of_the_other_transport() -> None:
    """SRV-SESS-05, SEC-10: no session_id is 400; an unknown one 404; a Streamable HTTP session id is
    unknown on the L0 endpoint, and an L0 session id unknown on the MCP endpoint (404 both ways)."""
    h = L0()
    _, url = h.open()
    assert h.request(b"POST", b"/messages/", call()).status == 400
    assert h.request(b"POST", b"/messages/?session_id=", call()).status == 404
    r = h.request(b"POST", b"/messages/?session_id=nope", call())
    assert r.status == 404 and r.json()["error"]["code"] == -32001
    sid = h.initialize()  # a Streamable HTTP session on /mcp
    assert h.request(b"POST", b"/messages/?session_id=" + sid.encode(), call()).status == 404
    r = h.post(call(), session=sid_of(url), version="2025-11-25")
    assert r.status == 404
    g = h.send(b"GET", accept=b"text/event-stream", session=sid_of(url), version="2025-11-25")
    assert g.status == 404
    # the TypeScript SDK's parameter name is understood too
    assert h.request(b"POST", b"/messages/?sessionId=" + sid_of(url).encode(), call(9)).status == 202
    assert h.take(RequestReceived)


def test_garbage_posts() -> None:
    """SRV-POST-02/03, AMB-02: not JSON is 400 -32700; not JSON-RPC 400 -32600; not application/json 415;
    nothing reaches the application and the stream carries nothing."""
    h = L0()
    stream, url = h.open()
    u = url.encode()
    r = h.request(b"POST", u, b"{not json")
    assert r.status == 400 and r.json()["error"]["code"] == -32700
    r = h.request(b"POST", u, {"hello": "world"})
    assert r.status == 400 and r.json()["error"]["code"] == -32600
    r = h.request(b"POST", u, b"\xff\xfe\x00")
    assert r.status == 400
    r = h.request(b"POST", u, b"", content_type=None)
    assert r.status == 415
    r = h.request(b"POST", u, call(), content_type=b"text/plain")
    assert r.status == 415
    r = h.request(b"POST", u, b"")
    assert r.status == 400
    assert h.requests() == [] and h.messages(stream) == [] and not stream.ended


def test_batch_with_an_invalid_member() -> None:
    """JR-05: in a batch, the valid request is served and the invalid member's error goes on the stream."""
    h = L0()
    stream, url = h.open()
    r = h.request(b"POST", url.encode(), [call(1), {"jsonrpc": "2.0", "id": 2, "method": 3}])
    assert r.status == 202
    assert len(h.take(RequestReceived)) == 1
    (err,) = h.messages(stream)
    assert err["id"] == 2 and err["error"]["code"] == -32600


def test_wrong_methods_and_accept() -> None:
    """HTTP-01, CLI-COMPAT-02: POST on the SSE path is 405 with Allow: GET (so a Streamable HTTP client
    probing it falls back to GET); GET on the messages path 405 with Allow: POST; a GET whose Accept
    excludes text/event-stream 406; a GET with no Accept is served (EventSource always sends one)."""
    h = L0()
    r = h.request(b"POST", b"/sse", init_msg())
    assert r.status == 405 and r.headers[b"allow"] == b"GET"
    r = h.request(b"DELETE", b"/sse")
    assert r.status == 405
    r = h.request(b"GET", b"/messages/", accept=b"text/event-stream")
    assert r.status == 405 and r.headers[b"allow"] == b"POST"
    assert h.request(b"GET", b"/sse", accept=b"application/json").status == 406
    assert h.request(b"GET", b"/sse").status == 200
    assert h.server.sessions == 1


def test_not_served_unless_configured_and_paths_configurable() -> None:
    """SRV-COMPAT-01: off by default (404 at /sse); other paths when configured; the MCP endpoint unchanged."""
    h = Harness()
    assert h.send(b"GET", accept=b"text/event-stream").status == 400  # /mcp GET without a session, as before
    x = h.server.receive_request(b"GET", b"/sse", [(b"host", HOST), (b"accept", b"text/event-stream")], now=0)
    h.replies[x] = Reply(x)
    h.server.receive_end(x, now=0)
    h.pump()
    assert h.replies[x].status == 404
    h2 = L0(sse_path="/legacy/events", sse_messages_path="/legacy/post")
    r = h2.request(b"GET", b"/legacy/events")
    assert r.status == 200 and r.sse()[0].data.startswith("/legacy/post?session_id=")
    assert h2.request(b"GET", b"/sse").status == 404
    assert h2.initialize()  # /mcp still works beside it


@pytest.mark.parametrize("bad", [
    {"sse_path": "sse"}, {"sse_path": "/sse?x=1"}, {"sse_path": "/sse", "sse_messages_path": "/sse"},
    {"sse_path": "/s\u00e9"}, {"sse_path": "/sse", "sse_messages_path": "messages"},
    {"sse_path": "/mcp"}, {"sse_path": "/sse", "sse_messages_path": "/mcp"},
])
def test_bad_paths_are_refused(bad: dict[str, str]) -> None:
    """A path that could never match is a configuration error, said at once."""
    with pytest.raises(LocalProtocolError):
        ServerConfig(**bad)


def test_host_and_origin_checks() -> None:
    """SEC-01, SEC-02, SEC-06, AMB-18: a foreign Host or Origin is 403 on both L0 paths, before anything else."""
    h = L0()
    _, url = h.open()
    evil = [(b"origin", b"http://evil.example")]
    assert h.request(b"GET", b"/sse", headers=evil).status == 403
    assert h.request(b"GET", b"/sse", headers=[(b"origin", b"null")]).status == 403
    assert h.request(b"GET", b"/sse", host=b"evil.example").status == 403
    assert h.request(b"POST", url.encode(), call(), headers=evil).status == 403
    assert h.request(b"POST", url.encode(), call(), host=b"evil.example").status == 403
    assert h.request(b"GET", b"/sse", headers=[(b"origin", b"http://localhost:3000")]).status == 200
    assert h.requests() == [] and h.server.sessions == 2


def test_session_binding_to_identity() -> None:
    """SEC-10: with authentication on, a stream needs a token (401), and its session does not exist
    for another identity (404), as in the Python SDK."""
    def authenticate(headers: list[tuple[bytes, bytes]]) -> Any:
        for n, v in headers:
            if n == b"authorization" and v.startswith(b"Bearer "):
                return v[7:].decode()
        return None

    h = L0(authenticate=authenticate)
    alice = [(b"authorization", b"Bearer alice")]
    assert h.request(b"GET", b"/sse").status == 401
    _, url = h.open(headers=alice)
    assert h.request(b"POST", url.encode(), call()).status == 401
    assert h.request(b"POST", url.encode(), call(), headers=[(b"authorization", b"Bearer mallory")]).status == 404
    assert h.requests() == []
    assert h.request(b"POST", url.encode(), call(), headers=alice).status == 202
    (req,) = h.take(RequestReceived)
    assert req.identity == "alice"


def test_max_sessions_boundary() -> None:
    """Limits: max_sessions counts L0 sessions; the stream at the limit is served, the next gets 503."""
    h = L0(max_sessions=2)
    h.open()
    h.open()
    r = h.request(b"GET", b"/sse")
    assert r.status == 503 and r.headers[b"retry-after"] == b"1"
    assert h.server.sessions == 2


def test_max_sessions_per_client_boundary() -> None:
    """Limits: max_sessions_per_client applies to L0 streams (per address here): 429 past it."""
    h = L0(max_sessions_per_client=1)
    h.open(client="10.0.0.1")
    assert h.request(b"GET", b"/sse", client="10.0.0.1").status == 429
    h.open(client="10.0.0.2")


def test_body_size_boundary() -> None:
    """Limits: max_body_size on the L0 endpoint: exactly at it accepted, one byte more 413, by
    Content-Length before the body is read and by the bytes themselves."""
    msg = json.dumps(call(1)).encode()
    h = L0(max_body_size=len(msg))
    _, url = h.open()
    assert h.request(b"POST", url.encode(), msg).status == 202
    big = msg + b" "
    r = h.request(b"POST", url.encode(), big, headers=[(b"content-length", b"%d" % len(big))])
    assert r.status == 413 and r.close
    r = h.request(b"POST", url.encode(), big)
    assert r.status == 413
    r = h.request(b"POST", url.encode(), b"", headers=[(b"content-length", b"9" * 30)], end=False)
    assert r.status == 413
    assert len(h.take(RequestReceived)) == 1


def test_heartbeats_on_the_stream() -> None:
    """SRV-SSE-12: a quiet L0 stream gets a comment keep-alive every heartbeat_interval."""
    h = L0(heartbeat_interval=5.0)
    stream, _ = h.open()
    t = h.server.get_timer()
    assert t is not None and t <= h.now + 5.0
    h.server.handle_timer(now=h.now + 5.0)
    h.pump()
    assert bytes(stream.body).endswith(b":\n")


def test_no_event_ids_and_nothing_stored() -> None:
    """L0 has no resumption: with an event store configured for /mcp, L0 events carry no id and
    the store keeps none of them."""
    store = MemoryEventStore()
    h = L0(event_store=store)
    stream, url = h.open()
    h.request(b"POST", url.encode(), call(1))
    (req,) = h.take(RequestReceived)
    h.respond(req.handle, {})
    assert [e.event for e in stream.sse()] == ["endpoint", "message"]
    assert b"\nid:" not in bytes(stream.body) and not bytes(stream.body).startswith(b"id:")
    assert store.size == (0, 0)


def test_client_closes_the_stream() -> None:
    """The stream is the session: when the client goes away, requests in flight are cancelled
    (RequestCancelled, disconnected), the session closes, later POSTs get 404 and a late answer
    is dropped."""
    h = L0()
    stream, url = h.open()
    sid = sid_of(url)
    h.request(b"POST", url.encode(), call(1))
    (req,) = h.take(RequestReceived)
    h.server.connection_lost(stream.xid, now=h.now)
    h.pump()
    (c,) = h.take(RequestCancelled)
    assert c.rid == req.rid and c.reason == "disconnected"
    (closed,) = h.take(SessionClosed)
    assert closed.session_id == sid
    assert h.server.sessions == 0 and h.server.in_flight == 0
    h.respond(req.handle, {})  # late: dropped (CANCEL-05)
    assert h.request(b"POST", url.encode(), call(2)).status == 404
    with pytest.raises(LocalProtocolError):
        h.server.notify(sid, "notifications/message", {}, now=h.now)


def test_server_ends_the_session() -> None:
    """SRV-SESS-05: close_session ends the L0 stream (the response ends) and the session;
    disconnect_session does the same (an L0 stream cannot be resumed)."""
    h = L0()
    stream, url = h.open()
    assert h.server.close_session(sid_of(url), now=h.now)
    h.pump()
    assert stream.ended and h.server.sessions == 0
    stream2, url2 = h.open()
    h.request(b"POST", url2.encode(), call(1))
    (req,) = h.take(RequestReceived)
    assert h.server.disconnect_session(sid_of(url2), now=h.now)
    h.pump()
    assert stream2.ended and h.server.sessions == 0
    assert [c.rid for c in h.take(RequestCancelled)] == [req.rid]
