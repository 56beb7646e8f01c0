"""Sans-IO client core: every request it builds and every reply it handles.

Tests drive :class:`streamcore._client.Client` with scripted abstract HTTP
responses; no sockets, no clock (time is an argument). IDs refer to
``spec/streamable-http.md``.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from streamcore.client import (
    Client,
    ClientClosed,
    ClientConfig,
    ClientState,
    Closed,
    ConnectionLost,
    HttpAbort,
    HttpRequest,
    HttpStatusError,
    Initialized,
    McpError,
    RequestFailed,
    RequestResult,
    RequestTimeout,
    ServerNotification,
    ServerRequest,
    SessionExpired,
    StreamProtocolError,
)
from streamcore import LocalProtocolError

URL = "http://127.0.0.1:9/mcp"
SSE = [(b"content-type", b"text/event-stream")]
JSON = [(b"content-type", b"application/json")]


def hdr(req: HttpRequest, name: str) -> str | None:
    for k, v in req.headers:
        if k == name.lower().encode():
            return v.decode()
    return None


def body(req: HttpRequest) -> dict:
    assert req.body is not None
    return json.loads(req.body)


def result(rid: int, res: object) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "result": res}).encode()


def reply_json(c: Client, req: HttpRequest, payload: bytes, status: int = 200, headers=JSON) -> None:
    c.receive_response(req.xid, status, list(headers), now=0.0)
    if payload:
        c.receive_data(req.xid, payload, now=0.0)
    c.receive_data(req.xid, b"", now=0.0)


def init(c: Client, now: float = 0.0, sid: str | None = "S1", version: str = "2025-11-25") -> None:
    """Run the handshake; leave only the initialized notification answered."""
    if c.state is ClientState.IDLE:
        c.initialize(now=now)
    reqs = [r for r in c.data_to_send() if isinstance(r, HttpRequest)]
    req = reqs[-1]
    assert body(req)["method"] == "initialize"
    h = JSON + ([(b"mcp-session-id", sid.encode())] if sid else [])
    reply_json(c, req, result(body(req)["id"], {"protocolVersion": version, "capabilities": {}}), headers=h)
    ev = c.events()
    assert any(isinstance(e, Initialized) for e in ev), ev


def take(c: Client) -> list[HttpRequest]:
    """Send the pending HTTP requests; answer the notifications with 202; return the rest."""
    rest = []
    for r in c.data_to_send():
        if isinstance(r, HttpRequest) and r.body is not None and "id" not in body(r):
            reply_json(c, r, b"", status=202, headers=[])
        elif isinstance(r, HttpRequest):
            rest.append(r)
    return rest


def new(**kw: object) -> Client:
    """A session-era client (these tests are about the session era; the default is ``auto``)."""
    kw.setdefault("era", "legacy")
    return Client(ClientConfig(url=URL, **kw))


def test_post_headers_before_and_after_initialize() -> None:
    """CLI-POST-02/09 on every POST; session id and version only after init (CLI-SESS-01, CLI-VER-01)."""
    c = new(headers={"Authorization": "Bearer t"})
    c.initialize(now=0)
    (req,) = c.data_to_send()
    assert req.method == "POST" and req.url == URL
    assert hdr(req, "Accept") == "application/json, text/event-stream"
    assert hdr(req, "Content-Type") == "application/json"
    assert hdr(req, "Mcp-Session-Id") is None and hdr(req, "MCP-Protocol-Version") is None
    assert hdr(req, "Authorization") == "Bearer t"
    p = body(req)["params"]
    assert p["protocolVersion"] == "2025-11-25" and "clientInfo" in p
    reply_json(c, req, result(body(req)["id"], {"protocolVersion": "2025-06-18", "capabilities": {}}),
               headers=JSON + [(b"mcp-session-id", b"abc")])
    (note,) = c.data_to_send()
    assert body(note) == {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert hdr(note, "Mcp-Session-Id") == "abc"
    assert hdr(note, "MCP-Protocol-Version") == "2025-06-18"
    assert hdr(note, "Authorization") == "Bearer t"


def test_auth_header_on_get_and_delete() -> None:
    """AUTH-01: caller headers ride on GET and DELETE too, with the session id (CLI-SESS-01/03)."""
    c = new(headers={"Authorization": "Bearer t"}, listen=True)
    init(c)
    reqs = c.data_to_send()
    get = [r for r in reqs if r.method == "GET"][0]
    assert hdr(get, "Accept") == "text/event-stream"  # CLI-GET-02
    assert hdr(get, "Authorization") == "Bearer t" and hdr(get, "Mcp-Session-Id") == "S1"
    c.close(now=1.0)
    delete = [r for r in c.data_to_send() if isinstance(r, HttpRequest)][0]
    assert delete.method == "DELETE"
    assert hdr(delete, "Authorization") == "Bearer t" and hdr(delete, "Mcp-Session-Id") == "S1"
    assert hdr(delete, "MCP-Protocol-Version") == "2025-11-25"


def test_requests_wait_for_initialization() -> None:
    """A request sent before the handshake starts it and goes out after notifications/initialized."""
    c = new()
    rid = c.send_request("tools/list", {}, now=0.0)
    (req,) = c.data_to_send()
    assert body(req)["method"] == "initialize"
    reply_json(c, req, result(body(req)["id"], {"protocolVersion": "2025-11-25"}))
    reqs = c.data_to_send()
    assert [body(r).get("method") for r in reqs] == ["notifications/initialized", "tools/list"]
    assert body(reqs[1])["id"] == rid


def test_json_reply() -> None:
    """CLI-POST-06: an application/json reply completes the request."""
    c = new()
    init(c)
    rid = c.send_request("ping", None, now=0)
    (req,) = take(c)
    reply_json(c, req, result(rid, {}))
    assert c.events() == [RequestResult(rid=rid, result={})]


def test_sse_reply_routes_by_id_skipping_priming_comments_and_other_types() -> None:
    """CLI-SSE-03/04/06, AMB-13: priming, comments and non-message events never reach JSON parsing."""
    c = new()
    init(c)
    rid = c.send_request("tools/call", {"name": "x"}, now=0)
    (req,) = take(c)
    c.receive_response(req.xid, 200, SSE, now=0.0)
    c.receive_data(req.xid, b": a comment\n\nid: 1\nretry: 10\ndata: \n\n", now=0.0)
    c.receive_data(req.xid, b"event: ping\ndata: not json\n\n", now=0.0)
    c.receive_data(req.xid, b'data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}\n\n', now=0.0)
    c.receive_data(req.xid, b'data: {"jsonrpc":"2.0","id":"s1","method":"elicitation/create","params":{}}\n\n', now=0.0)
    c.receive_data(req.xid, b"id: 2\ndata: " + result(rid, {"ok": True}) + b"\n\n", now=0.0)
    c.receive_data(req.xid, b"", now=0.0)
    assert c.events() == [
        ServerNotification(method="notifications/progress", params={"progress": 1}),
        ServerRequest(id="s1", method="elicitation/create", params={}),
        RequestResult(rid=rid, result={"ok": True}),
    ]
    assert c.data_to_send() == []  # nothing to resume: the response arrived


def test_error_response_raises_mcp_error() -> None:
    """A JSON-RPC error response fails the request with McpError carrying code and message."""
    c = new()
    init(c)
    rid = c.send_request("nope", None, now=0)
    (req,) = take(c)
    reply_json(c, req, json.dumps({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "no"}}).encode())
    (ev,) = c.events()
    assert isinstance(ev, RequestFailed) and isinstance(ev.error, McpError) and ev.error.code == -32601


def test_202_to_a_request_fails_it() -> None:
    """202 is for notifications and responses; to a request it can never bring a reply."""
    c = new()
    init(c)
    rid = c.send_request("ping", None, now=0)
    (req,) = take(c)
    reply_json(c, req, b"", status=202, headers=[])
    (ev,) = c.events()
    assert isinstance(ev, RequestFailed) and ev.rid == rid and isinstance(ev.error, StreamProtocolError)


@pytest.mark.parametrize("status", [400, 401, 403, 500, 503])
def test_http_errors_reach_the_request(status: int) -> None:
    """Every HTTP error status fails the waiting request with HttpStatusError (nothing hangs)."""
    c = new()
    init(c)
    rid = c.send_request("ping", None, now=0)
    (req,) = take(c)
    reply_json(c, req, b"boom", status=status, headers=[(b"content-type", b"text/plain")])
    (ev,) = c.events()
    assert isinstance(ev.error, HttpStatusError) and ev.error.status == status and "boom" in str(ev.error)


def test_connection_error_reaches_the_request() -> None:
    """A connection failure on a POST fails its request with ConnectionLost."""
    c = new()
    init(c)
    rid = c.send_request("ping", None, now=0)
    (req,) = take(c)
    c.receive_error(req.xid, ConnectionRefusedError("refused"), now=0.0)
    (ev,) = c.events()
    assert ev.rid == rid and isinstance(ev.error, ConnectionLost)


def test_post_stream_ends_without_event_id_fails() -> None:
    """CLI-SSE-05: a POST stream that ends before the response and showed no id fails the request."""
    c = new()
    init(c)
    rid = c.send_request("tools/call", {}, now=0)
    (req,) = take(c)
    c.receive_response(req.xid, 200, SSE, now=0.0)
    c.receive_data(req.xid, b'data: {"jsonrpc":"2.0","method":"notifications/message","params":{}}\n\n', now=0.0)
    c.receive_data(req.xid, b"", now=0.0)
    ev = c.events()
    assert isinstance(ev[-1], RequestFailed) and "CLI-SSE-05" in str(ev[-1].error)
    assert c.data_to_send() == [] and c.get_timer() is None or c.get_timer() == 60.0


def test_resume_after_server_retry() -> None:
    """CLI-SSE-01/02, CLI-RESUME-01/02: GET with Last-Event-ID, no earlier than `retry` ms."""
    c = new()
    init(c)
    rid = c.send_request("tools/call", {}, now=0)
    (req,) = take(c)
    c.receive_response(req.xid, 200, SSE, now=0.0)
    c.receive_data(req.xid, b"id: s-1\nretry: 500\ndata: \n\n", now=0.0)
    c.receive_data(req.xid, b"", now=10.0)
    assert c.data_to_send() == []
    assert c.get_timer() == pytest.approx(10.5)
    c.handle_timer(now=10.4)
    assert c.data_to_send() == []
    c.handle_timer(now=10.5)
    (get,) = c.data_to_send()
    assert get.method == "GET" and hdr(get, "Last-Event-ID") == "s-1" and hdr(get, "Mcp-Session-Id") == "S1"
    c.receive_response(get.xid, 200, SSE, now=0.0)
    c.receive_data(get.xid, b"id: s-2\ndata: " + result(rid, {"n": 7}) + b"\n\n", now=0.0)
    assert c.events() == [RequestResult(rid=rid, result={"n": 7})]
    assert c.data_to_send() == [HttpAbort(xid=get.xid)]  # the resumed stream has no further use


def test_resume_backoff_with_jitter_and_bounded_attempts() -> None:
    """Without `retry`, exponential backoff scaled by the injected jitter; then a clear failure."""
    c = new(jitter=lambda: 1.0, backoff_initial=1.0, backoff_factor=2.0, max_reconnect_attempts=3)
    init(c)
    rid = c.send_request("tools/call", {}, now=0)
    (req,) = take(c)
    c.receive_response(req.xid, 200, SSE, now=0.0)
    c.receive_data(req.xid, b"id: a\ndata: \n\n", now=0.0)
    c.receive_error(req.xid, ConnectionResetError("reset"), now=0.0)
    now = 0.0
    delays = []
    for _ in range(3):
        t = c.get_timer()
        delays.append(t - now)
        now = t
        c.handle_timer(now=now)
        (get,) = c.data_to_send()
        assert hdr(get, "Last-Event-ID") == "a"
        c.receive_error(get.xid, ConnectionRefusedError("refused"), now=now)
    assert delays == [1.0, 2.0, 4.0]
    (ev,) = c.events()
    assert ev.rid == rid and isinstance(ev.error, ConnectionLost) and "gave up" in str(ev.error)


def test_jitter_scales_delay() -> None:
    """jitter() == 0 halves the backoff (full range 0.5x-1x)."""
    c = new(jitter=lambda: 0.0, backoff_initial=1.0)
    init(c)
    c.send_request("x", None, now=0)
    (req,) = take(c)
    c.receive_response(req.xid, 200, SSE, now=0.0)
    c.receive_data(req.xid, b"id: a\ndata: \n\n", now=0.0)
    c.receive_data(req.xid, b"", now=0.0)
    assert c.get_timer() == pytest.approx(0.5)


def test_polling_resumes_repeatedly_while_progress_is_made() -> None:
    """R3 polling (T-18): each connection that brings a new id resets the attempt count."""
    c = new(max_reconnect_attempts=1)
    init(c)
    rid = c.send_request("tools/call", {}, now=0)
    (req,) = take(c)
    h = req.xid
    now = 0.0
    for i in range(5):
        c.receive_response(h, 200, SSE, now=0.0)
        c.receive_data(h, f"id: e{i}\nretry: 100\ndata: \n\n".encode(), now=0.0)
        c.receive_data(h, b"", now=now)
        now = c.get_timer()
        c.handle_timer(now=now)
        (get,) = c.data_to_send()
        assert hdr(get, "Last-Event-ID") == f"e{i}"
        h = get.xid
    c.receive_response(h, 200, SSE, now=0.0)
    c.receive_data(h, b"id: z\ndata: " + result(rid, {"done": 1}) + b"\n\n", now=0.0)
    assert c.events() == [RequestResult(rid=rid, result={"done": 1})]


def test_session_404_reinitializes_and_retries_once() -> None:
    """CLI-SESS-02 / T-06: 404 with a session id -> new initialize without it -> the request again."""
    c = new()
    init(c, sid="old")
    rid = c.send_request("tools/list", {}, now=0)
    (req,) = take(c)
    reply_json(c, req, b"", status=404, headers=[])
    ev = c.events()
    assert ev == [SessionExpired(session_id="old")]
    (abort, ini) = c.data_to_send()
    assert abort == HttpAbort(xid=req.xid)  # the core gave the exchange up: report nothing more
    assert body(ini)["method"] == "initialize" and hdr(ini, "Mcp-Session-Id") is None
    reply_json(c, ini, result(body(ini)["id"], {"protocolVersion": "2025-11-25"}), headers=JSON + [(b"mcp-session-id", "new".encode())])
    assert isinstance(c.events()[0], Initialized)
    reqs = take(c)
    assert [body(r)["id"] for r in reqs] == [rid] and hdr(reqs[0], "Mcp-Session-Id") == "new"
    reply_json(c, reqs[0], b"", status=404, headers=[])  # expired again: no endless loop
    ev = c.events()
    assert any(isinstance(e, RequestFailed) and e.rid == rid and isinstance(e.error, HttpStatusError) for e in ev)


def test_404_without_session_is_an_error() -> None:
    """A 404 to a request without session id is a plain HTTP error."""
    c = new(legacy_fallback=False)
    c.initialize(now=0)
    (req,) = c.data_to_send()
    reply_json(c, req, b"", status=404, headers=[])
    (ev,) = c.events()
    assert isinstance(ev.error, HttpStatusError) and ev.error.status == 404
    assert c.state is ClientState.FAILED
    rid = c.send_request("ping", None, now=0)
    assert c.events()[0].rid == rid  # later requests fail fast


def test_listen_405_means_no_listening_stream() -> None:
    """405 on GET: the server offers no listening stream; nothing retries (CLI-GET-01)."""
    c = new(listen=True)
    init(c)
    get = [r for r in c.data_to_send() if r.method == "GET"][0]
    reply_json(c, get, b"", status=405, headers=[])
    assert not c.listening_supported and c.get_timer() is None and c.data_to_send() == []


def test_listen_404_does_not_reinitialize() -> None:
    """A 404 to the listening GET alone stops listening; it never loops through re-initialization."""
    c = new(listen=True)
    init(c)
    get = [r for r in c.data_to_send() if r.method == "GET"][0]
    reply_json(c, get, b"", status=404, headers=[])
    assert c.state is ClientState.READY and c.events() == [] and c.data_to_send() == []
    assert c.get_timer() is None


def test_listen_stream_reconnects_with_last_event_id() -> None:
    """AMB-12: a GET stream is never done; reconnect after retry with Last-Event-ID."""
    c = new(listen=True)
    init(c)
    get = [r for r in c.data_to_send() if r.method == "GET"][0]
    c.receive_response(get.xid, 200, SSE, now=0.0)
    c.receive_data(get.xid, b'id: g1\nretry: 200\ndata: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}\n\n', now=0.0)
    c.receive_data(get.xid, b"", now=5.0)
    assert c.events() == [ServerNotification(method="notifications/tools/list_changed", params=None)]
    assert c.get_timer() == pytest.approx(5.2)
    c.handle_timer(now=5.2)
    (again,) = c.data_to_send()
    assert again.method == "GET" and hdr(again, "Last-Event-ID") == "g1"


def test_timeout_fails_request_and_cancels() -> None:
    """Requests have deadlines: RequestTimeout, then notifications/cancelled to the server."""
    c = new(request_timeout=5.0)
    init(c)
    rid = c.send_request("slow", None, now=100.0)
    (req,) = take(c)
    assert c.get_timer() == pytest.approx(105.0)
    c.handle_timer(now=104.0)
    assert c.events() == []
    c.handle_timer(now=105.0)
    (ev,) = c.events()
    assert isinstance(ev.error, RequestTimeout)
    out = c.data_to_send()
    assert HttpAbort(xid=req.xid) in out
    note = [r for r in out if isinstance(r, HttpRequest)][0]
    assert body(note) == {"jsonrpc": "2.0", "method": "notifications/cancelled",
                          "params": {"requestId": rid, "reason": "timeout"}}


def test_per_request_timeout_none() -> None:
    """timeout=None disables the deadline for one request."""
    c = new(request_timeout=1.0)
    init(c)
    c.send_request("slow", None, timeout=None, now=0.0)
    take(c)
    assert c.get_timer() is None


def test_cancel_sends_notification_and_aborts() -> None:
    """cancel(): the stream is abandoned and the server told (notifications/cancelled)."""
    c = new()
    init(c)
    rid = c.send_request("slow", None, now=0)
    (req,) = take(c)
    c.cancel(rid, "user", now=1.0)
    out = c.data_to_send()
    assert HttpAbort(xid=req.xid) in out
    note = [r for r in out if isinstance(r, HttpRequest)][0]
    assert body(note)["params"] == {"requestId": rid, "reason": "user"}
    assert c.events() == []


def test_server_request_answered() -> None:
    """Server-to-client requests surface; respond() POSTs the result (expects 202)."""
    c = new()
    init(c)
    take(c)
    c.send_request("tools/call", {}, now=0.0)
    (req,) = take(c)
    c.receive_response(req.xid, 200, SSE, now=0.0)
    c.receive_data(req.xid, b'data: {"jsonrpc":"2.0","id":"s1","method":"elicitation/create","params":{}}\n\n'
                   b'data: {"jsonrpc":"2.0","id":7,"method":"roots/list"}\n\n', now=0.0)
    assert [e.id for e in c.events() if isinstance(e, ServerRequest)] == ["s1", 7]
    c.respond("s1", {"action": "accept", "content": {}}, now=0.0)
    c.respond_error(7, -32601, "no", now=0.0)
    a, b = c.data_to_send()
    assert body(a) == {"jsonrpc": "2.0", "id": "s1", "result": {"action": "accept", "content": {}}}
    assert body(b)["error"]["code"] == -32601 and hdr(b, "Mcp-Session-Id") == "S1"
    reply_json(c, a, b"", status=202, headers=[])
    reply_json(c, b, b"", status=202, headers=[])
    assert c.events() == []


@pytest.mark.parametrize("status", [200, 204, 404, 405])
def test_close_sends_delete_and_accepts_any_answer(status: int) -> None:
    """CLI-SESS-03: DELETE on close; 405 (and anything else) still ends in Closed."""
    c = new()
    init(c)
    rid = c.send_request("slow", None, now=0)
    take(c)
    c.close(now=1.0)
    ev = c.events()
    assert isinstance(ev[0], RequestFailed) and isinstance(ev[0].error, ClientClosed)
    delete = [r for r in c.data_to_send() if isinstance(r, HttpRequest)][0]
    reply_json(c, delete, b"", status=status, headers=[])
    assert c.events() == [Closed()] and c.state is ClientState.CLOSED


def test_close_without_session_needs_no_delete() -> None:
    """A stateless server (no session id) gets no DELETE."""
    c = new()
    init(c, sid=None)
    take(c)
    c.close(now=0.0)
    assert c.data_to_send() == [] and c.events() == [Closed()]


def test_garbage_json_fails_request() -> None:
    """Unreadable JSON in a reply is a StreamProtocolError for the request (never a hang)."""
    c = new()
    init(c)
    rid = c.send_request("x", None, now=0)
    (req,) = take(c)
    c.receive_response(req.xid, 200, SSE, now=0.0)
    c.receive_data(req.xid, b"id: 1\ndata: {not json\n\n", now=0.0)
    (ev,) = c.events()
    assert ev.rid == rid and isinstance(ev.error, StreamProtocolError)


def test_oversized_event_fails_request() -> None:
    """An event beyond max_event_size fails the request; memory stays bounded."""
    c = new(max_event_size=1024)
    init(c)
    rid = c.send_request("x", None, now=0)
    (req,) = take(c)
    c.receive_response(req.xid, 200, SSE, now=0.0)
    c.receive_data(req.xid, b"id: 1\n", now=0.0)
    for _ in range(10):
        c.receive_data(req.xid, b"data: " + b"x" * 500 + b"\n", now=0.0)
    ev = c.events()
    assert ev and ev[0].rid == rid and isinstance(ev[0].error, StreamProtocolError)


def test_oversized_json_body_fails_request() -> None:
    """A JSON body beyond max_body_size fails the request."""
    c = new(max_body_size=100)
    init(c)
    rid = c.send_request("x", None, now=0)
    (req,) = take(c)
    c.receive_response(req.xid, 200, JSON, now=0.0)
    c.receive_data(req.xid, b"[" * 101, now=0.0)
    (ev,) = c.events()
    assert isinstance(ev.error, StreamProtocolError)


def test_unsupported_version_fails_initialize() -> None:
    """CLI-VER-02: a version we do not speak fails the handshake."""
    c = new()
    c.initialize(now=0)
    (req,) = c.data_to_send()
    reply_json(c, req, result(body(req)["id"], {"protocolVersion": "1999-01-01"}))
    (ev,) = c.events()
    assert isinstance(ev, RequestFailed) and "unsupported" in str(ev.error)


def test_config_validation() -> None:
    """Bad settings are LocalProtocolError; initialize() is refused twice."""
    with pytest.raises(LocalProtocolError):
        new(protocol_version="1.0")
    with pytest.raises(LocalProtocolError):
        new(max_reconnect_attempts=-1)
    c = new()
    c.initialize(now=0)
    with pytest.raises(LocalProtocolError):
        c.initialize(now=0)
    with pytest.raises(LocalProtocolError):
        c.send_request("initialize", now=0.0)


def _legacy(c: Client, status: int = 405) -> HttpRequest:
    c.initialize(now=0)
    (req,) = c.data_to_send()
    reply_json(c, req, b"", status=status, headers=[])
    (get,) = c.data_to_send()
    return get


def test_legacy_fallback_flow() -> None:
    """CLI-COMPAT-01/02, L0-02/03/04, T-20: 405 -> GET -> endpoint -> POSTs there, replies on the stream."""
    c = new()
    get = _legacy(c, 405)
    assert get.method == "GET" and hdr(get, "Accept") == "text/event-stream" and c.state is ClientState.PROBING_LEGACY
    c.receive_response(get.xid, 200, SSE, now=0.0)
    c.receive_data(get.xid, b"event: endpoint\ndata: /messages?session_id=abc\n\n", now=0.0)
    (post,) = c.data_to_send()
    assert post.url == "http://127.0.0.1:9/messages?session_id=abc" and body(post)["method"] == "initialize"
    reply_json(c, post, b"Accepted", status=202, headers=[])
    assert c.events() == []
    c.receive_data(get.xid, b"data: " + result(body(post)["id"], {"protocolVersion": "2024-11-05"}) + b"\n\n", now=0.0)
    (ev,) = c.events()
    assert isinstance(ev, Initialized) and ev.legacy and c.state is ClientState.LEGACY
    (note,) = c.data_to_send()
    assert note.url == post.url and hdr(note, "Mcp-Session-Id") is None
    reply_json(c, note, b"", status=202, headers=[])
    rid = c.send_request("tools/list", {}, now=0)
    (req,) = c.data_to_send()
    reply_json(c, req, b"", status=202, headers=[])
    c.receive_data(get.xid, b"data: " + result(rid, {"tools": []}) + b"\n\n", now=0.0)
    assert c.events() == [RequestResult(rid=rid, result={"tools": []})]
    c.receive_data(get.xid, b"", now=0.0)  # the legacy stream ends: everything fails, nothing hangs
    rid2 = c.send_request("ping", None, now=0)
    assert c.events()[0].rid == rid2


@pytest.mark.parametrize("version,status,falls_back", [
    ("2025-11-25", 400, True), ("2025-11-25", 404, True), ("2025-11-25", 405, True),
    ("2025-11-25", 401, False), ("2025-11-25", 500, False),
    ("2025-06-18", 401, True), ("2025-03-26", 415, True), ("2025-06-18", 500, False),
])
def test_legacy_fallback_statuses(version: str, status: int, falls_back: bool) -> None:
    """CLI-COMPAT-02: any 4xx up to 2025-06-18, only 400/404/405 for 2025-11-25."""
    c = new(protocol_version=version)
    c.initialize(now=0)
    (req,) = c.data_to_send()
    reply_json(c, req, b"", status=status, headers=[])
    out = c.data_to_send()
    assert (len(out) == 1 and out[0].method == "GET") is falls_back


def test_legacy_probe_without_endpoint_reports_the_first_error() -> None:
    """A GET that is no HTTP+SSE stream either: initialize fails with the original status."""
    c = new()
    get = _legacy(c, 404)
    reply_json(c, get, b"", status=400, headers=[])
    ev = [e for e in c.events() if isinstance(e, RequestFailed)]
    assert ev and isinstance(ev[0].error, HttpStatusError) and ev[0].error.status == 404


def test_legacy_first_event_must_be_endpoint() -> None:
    """L0-02: a stream whose first event is not `endpoint` is not an HTTP+SSE server."""
    c = new()
    get = _legacy(c, 405)
    c.receive_response(get.xid, 200, SSE, now=0.0)
    c.receive_data(get.xid, b"data: {}\n\n", now=0.0)
    assert any(isinstance(e, RequestFailed) for e in c.events()) and c.state is ClientState.FAILED


SCRIPT = (
    b": hello\r\n\r\nid: p0\r\nretry: 300\r\ndata: \r\n\r\n"
    b'data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1}}\n\n'
    b"event: other\ndata: ignored\n\n"
    b'id: p1\ndata: {"jsonrpc":"2.0",\ndata: "id":2,"result":{"text":"\xc3\xa9\xe2\x82\xac"}}\n\n'
)


def _run_script(cuts: list[int]) -> list:
    c = new()
    init(c)
    rid = c.send_request("tools/call", {}, now=0)
    assert rid == 2  # 1 was initialize
    (req,) = take(c)
    c.receive_response(req.xid, 200, SSE, now=0.0)
    prev = 0
    for cut in sorted(set(cuts)) + [len(SCRIPT)]:
        if cut > prev:
            c.receive_data(req.xid, SCRIPT[prev:cut], now=0.0)
            prev = cut
    c.receive_data(req.xid, b"", now=0.0)
    return c.events()


def test_script_whole_and_byte_by_byte() -> None:
    """The scripted SSE reply gives the notification and the result, whole or byte by byte."""
    whole = _run_script([])
    assert whole == [
        ServerNotification(method="notifications/progress", params={"progressToken": "t", "progress": 1}),
        RequestResult(rid=2, result={"text": "é€"}),
    ]
    assert _run_script(list(range(len(SCRIPT)))) == whole


@given(st.lists(st.integers(0, len(SCRIPT)), max_size=20))
def test_any_split_gives_the_same_events(cuts: list[int]) -> None:
    """Any split of a scripted SSE response into reads gives the same events."""
    assert _run_script(cuts) == _run_script([])


@given(st.lists(st.sampled_from(["resp", "data", "end", "error", "timer", "send", "close"]), max_size=25))
def test_random_inputs_never_hang_or_crash(ops: list[str]) -> None:
    """Totality: any sequence of adapter inputs leaves every request answered once deadlines pass."""
    c = new(request_timeout=10.0, max_reconnect_attempts=2)
    init(c)
    live: list[HttpRequest] = []
    asked: set[int] = set()
    now = 0.0
    answered: set[int] = set()
    for op in ops:
        for r in c.data_to_send():
            if isinstance(r, HttpRequest):
                live.append(r)
            else:
                live = [x for x in live if x.xid != r.xid]
        if not live and op in ("resp", "data", "end", "error"):
            with pytest.raises(LocalProtocolError):  # no such exchange: misuse, not ignored
                c.receive_data(999, b"x", now=now)
            continue
        h = live[0].xid if live else 0
        if op == "send":
            asked.add(c.send_request("x", None, now=now))
        elif op == "resp":
            c.receive_response(h, 200, SSE, now=now)
        elif op == "data":
            c.receive_data(h, b"id: q\ndata: \n\n", now=now)
        elif op == "end":
            c.receive_data(h, b"", now=now)
            live = live[1:]
        elif op == "error":
            c.receive_error(h, "x", now=now)
            live = live[1:]
        elif op == "timer":
            now += 3.0
            c.handle_timer(now=now)
        elif op == "close":
            c.close(now=now)
        for e in c.events():
            if isinstance(e, (RequestFailed, RequestResult)):
                assert e.rid not in answered
                answered.add(e.rid)
    for _ in range(100):
        t = c.get_timer()
        if t is None:
            break
        now = max(now, t)
        c.handle_timer(now=now)
        batch = c.data_to_send()
        aborted = {r.xid for r in batch if isinstance(r, HttpAbort)}
        for r in batch:
            if isinstance(r, HttpRequest) and r.xid not in aborted:
                c.receive_error(r.xid, "down", now=now)
        for e in c.events():
            if isinstance(e, (RequestFailed, RequestResult)):
                answered.add(e.rid)
    assert asked <= answered


def test_concurrent_404s_share_one_reinitialization() -> None:
    """CLI-SESS-02: two requests that both meet 404 cause one new initialize, and both are retried."""
    c = new(listen=True)
    init(c, sid="old")
    take(c)
    a = c.send_request("a", None, now=0)
    b = c.send_request("b", None, now=0)
    ra, rb = take(c)
    reply_json(c, ra, b"", status=404, headers=[])
    reply_json(c, rb, b"", status=404, headers=[])
    assert c.events() == [SessionExpired(session_id="old")]
    inits = [r for r in c.data_to_send() if isinstance(r, HttpRequest)]
    assert [body(r)["method"] for r in inits] == ["initialize"]
    reply_json(c, inits[0], result(body(inits[0])["id"], {"protocolVersion": "2025-11-25"}),
               headers=JSON + [(b"mcp-session-id", "new".encode())])
    c.events()
    out = take(c)
    assert sorted(body(r).get("id", 0) for r in out if r.method == "POST") == [a, b]
    assert [hdr(r, "Mcp-Session-Id") for r in out if r.method == "GET"] == ["new"]  # listening again
    assert c.stats["reinitializations"] == 1
