"""The sans-IO server core, session era (R1-R3). Each test cites the spec IDs it checks."""

from __future__ import annotations

import json

import pytest

from _server_harness import Harness
from streamcore.events import (
    NotificationReceived,
    RequestCancelled,
    RequestReceived,
    ResponseReceived,
    SessionClosed,
)
from streamcore.server import LocalProtocolError, QueueFull, ServerConfig
from streamcore.store import MemoryEventStore

V3 = "2025-11-25"
V2 = "2025-06-18"
V1 = "2025-03-26"


def call(id_: object = 1, method: str = "tools/call", params: dict | None = None) -> dict:
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params or {"name": "echo"}}


def test_notification_gets_202_empty() -> None:
    """T-01, SRV-POST-01, HTTP-02: a notification POST is 202 with Content-Length: 0."""
    h = Harness()
    sid = h.initialize()
    r = h.post({"jsonrpc": "2.0", "method": "notifications/progress", "params": {}}, session=sid, version=V3)
    assert (r.status, bytes(r.body), r.headers[b"content-length"], r.ended) == (202, b"", b"0", True)
    (n,) = h.take(NotificationReceived)
    assert n.message.method == "notifications/progress" and n.session_id == sid


def test_json_mode_request_response() -> None:
    """T-02, SRV-POST-04: JSON mode answers one request with one application/json response, same id."""
    h = Harness(json_response=True)
    sid = h.initialize()
    r = h.post(call("abc"), session=sid, version=V3)
    assert r.status is None  # nothing is sent before the application answers
    (req,) = h.take(RequestReceived)
    assert req.message.id == "abc" and req.session_id == sid and req.protocol_version == V3
    h.respond(req.handle, {"content": []})
    assert r.status == 200 and r.headers[b"content-type"] == b"application/json"
    assert r.json() == {"jsonrpc": "2.0", "id": "abc", "result": {"content": []}}
    assert r.ended


def test_sse_mode_priming_then_response_then_end() -> None:
    """T-03, SRV-SSE-07, SRV-SSE-08, SRV-SSE-11, HTTP-07: priming first, response last, then the stream ends."""
    h = Harness(event_store=MemoryEventStore(), retry_ms=500)
    sid = h.initialize()
    r = h.post(call(7), session=sid, version=V3)
    assert r.status == 200 and r.streaming and not r.ended
    assert r.headers[b"content-type"] == b"text/event-stream"
    assert r.headers[b"cache-control"] == b"no-cache, no-transform"
    assert r.headers[b"x-accel-buffering"] == b"no"
    (req,) = h.take(RequestReceived)
    h.server.notify(sid, "notifications/progress", {"progress": 1}, related=req.handle, now=h.now)
    h.pump()
    h.respond(req.handle, {"ok": True})
    events = r.sse()
    assert events[0].data == "" and events[0].id != "" and events[0].retry == 500  # priming
    assert [json.loads(e.data).get("method") for e in events[1:2]] == ["notifications/progress"]
    assert json.loads(events[-1].data) == {"jsonrpc": "2.0", "id": 7, "result": {"ok": True}}
    assert r.ended and not r.close


def test_no_priming_for_older_clients() -> None:
    """SRV-SSE-08, spec 2.17: priming only to clients at 2025-11-25 or later."""
    h = Harness(event_store=MemoryEventStore())
    sid = h.initialize(version=V2)
    r = h.post(call(1), session=sid, version=V2)
    (req,) = h.take(RequestReceived)
    h.respond(req.handle, {})
    assert all(e.data for e in r.sse())


@pytest.mark.parametrize(
    "accept",
    [b"application/json", b"text/event-stream", b"text/html", b"application/json, text/event-stream;q=0"],
)
def test_post_accept_must_allow_both(accept: bytes) -> None:
    """T-04, CLI-POST-02, AMB-01, HTTP-08: 406 unless Accept admits JSON and SSE (q=0 refuses)."""
    h = Harness()
    r = h.post(call(), accept=accept)
    assert r.status == 406 and r.json()["error"]["code"] == -32000 and r.json()["id"] is None


@pytest.mark.parametrize("accept", [b"*/*", b"application/*, text/*", b"application/json;q=0.5, text/event-stream"])
def test_post_accept_wildcards(accept: bytes) -> None:
    """AMB-01: */*, application/* and text/* match."""
    h = Harness()
    r = h.post(call(0, "initialize", {"protocolVersion": V3}), accept=accept)
    assert r.status == 200


def test_content_type_must_be_json() -> None:
    """AMB-02: a non-JSON Content-Type is 415."""
    h = Harness()
    assert h.post(call(), content_type=b"text/plain").status == 415
    assert h.post(call(), content_type=None).status == 415


def test_sessions_missing_unknown_deleted() -> None:
    """T-05, SRV-SESS-04, SRV-SESS-05, SESS-09, AMB-08: 400 without id; 404 unknown; DELETE 200 then 404."""
    h = Harness()
    sid = h.initialize()
    assert h.post(call(), version=V3).status == 400
    assert h.post(call(), session="nope", version=V3).status == 404
    d = h.send(b"DELETE", session=sid, version=V3)
    assert d.status == 200 and d.headers[b"content-length"] == b"0"
    assert h.take(SessionClosed)[0].reason == "deleted"
    assert h.post(call(), session=sid, version=V3).status == 404
    assert h.send(b"GET", session=sid, accept=b"text/event-stream").status == 404


def test_session_id_is_visible_ascii_and_unpredictable() -> None:
    """T-07, SRV-SESS-01, SRV-SESS-03, SEC-09: ids only 0x21-0x7E, all different."""
    h = Harness()
    ids = {h.initialize() for _ in range(50)}
    assert len(ids) == 50
    for sid in ids:
        assert len(sid) >= 22 and all(0x21 <= ord(c) <= 0x7E for c in sid)


def test_405_with_allow() -> None:
    """T-08, SRV-GET-01, SRV-SESS-06, HTTP-01, SRV-GET-08: disabled GET/DELETE and other methods get 405 + Allow."""
    h = Harness(enable_get=False, enable_delete=False)
    sid = h.initialize()
    g = h.send(b"GET", session=sid, accept=b"text/event-stream")
    d = h.send(b"DELETE", session=sid)
    p = h.send(b"PUT", session=sid)
    for r in (g, d, p):
        assert r.status == 405 and r.headers[b"allow"] == b"POST"
    h2 = Harness()
    assert h2.send(b"PATCH").headers[b"allow"] == b"GET, POST, DELETE"


def test_server_request_goes_on_exactly_one_stream() -> None:
    """T-09, SRV-MULTI-01, SRV-GET-04: a server request reaches one stream; responses never go on GET."""
    h = Harness()
    sid = h.initialize()
    g = h.send(b"GET", session=sid, accept=b"text/event-stream", version=V3)
    p1 = h.post(call(1), session=sid, version=V3)
    p2 = h.post(call(2), session=sid, version=V3)
    r1, r2 = h.take(RequestReceived)
    rid = h.server.send_request(sid, "sampling/createMessage", {"x": 1}, now=h.now)
    h.pump()
    h.respond(r1.handle, {})
    h.respond(r2.handle, {})
    seen = [m for r in (g, p1, p2) for m in r.messages() if m.get("method") == "sampling/createMessage"]
    assert len(seen) == 1 and seen[0]["id"] == rid
    assert all("result" not in m for m in g.messages())
    # The client's answer comes by POST and gets 202.
    a = h.post({"jsonrpc": "2.0", "id": rid, "result": {"ok": 1}}, session=sid, version=V3)
    assert a.status == 202
    (resp,) = h.take(ResponseReceived)
    assert resp.known and resp.message.result == {"ok": 1}


def test_protocol_version_header() -> None:
    """T-10, SRV-VER-01, SRV-VER-02, AMB-11: unsupported header 400; absent is accepted as 2025-03-26."""
    h = Harness()
    sid = h.initialize()
    assert h.post(call(), session=sid, version="1999-01-01").status == 400
    r = h.post(call(3), session=sid)  # no header
    assert r.status == 200
    assert h.post(call(0, "initialize", {"protocolVersion": V3}), version="1999-01-01").status == 400


@pytest.mark.parametrize(
    "origin,status",
    [(b"http://evil.example", 403), (b"null", 403), (None, 200), (b"http://localhost:3000", 200),
     (b"http://127.0.0.1:8000", 200), (b"http://[::1]:9", 200), (b"https://localhost.evil.com", 403)],
)
def test_origin(origin: bytes | None, status: int) -> None:
    """T-11, SEC-01, SEC-02, AMB-18: a present, non-allowed Origin (or "null") is 403; absent is fine."""
    h = Harness()
    extra = [(b"origin", origin)] if origin is not None else []
    r = h.post(call(0, "initialize", {"protocolVersion": V3}), headers=extra)
    assert r.status == status


@pytest.mark.parametrize(
    "host,status", [(b"evil.example.com", 403), (b"localhost:8000", 200), (b"[::1]:8000", 200), (b"127.0.0.1", 200)]
)
def test_host_allow_list(host: bytes, status: int) -> None:
    """T-11, SEC-06: a loopback server rejects a foreign Host (DNS rebinding) and accepts its own."""
    h = Harness()
    assert h.post(call(0, "initialize", {"protocolVersion": V3}), host=host).status == status


def test_host_check_can_be_configured() -> None:
    """SEC-06 behind a proxy: allowed_hosts lists public names, or None switches the check off."""
    assert Harness(allowed_hosts={"mcp.example.com"}).post(
        call(0, "initialize", {"protocolVersion": V3}), host=b"mcp.example.com").status == 200
    assert Harness(allowed_hosts=None).post(
        call(0, "initialize", {"protocolVersion": V3}), host=b"anything").status == 200


def test_disconnect_then_resume_only_that_stream() -> None:
    """T-12, SRV-RESUME-05, SRV-RESUME-06, RESUME-07, CANCEL-01: work continues after a
    disconnect; GET + Last-Event-ID replays only that stream, including the response."""
    h = Harness(event_store=MemoryEventStore())
    sid = h.initialize()
    a = h.post(call(1), session=sid, version=V3)
    b = h.post(call(2), session=sid, version=V3)
    ra, rb = h.take(RequestReceived)
    last_seen = a.sse()[-1].id  # the priming event's id
    h.server.connection_lost(a.xid, now=h.now)
    h.server.notify(sid, "notifications/progress", {"n": 1}, related=ra.handle, now=h.now)
    h.server.notify(sid, "notifications/progress", {"n": 2}, related=rb.handle, now=h.now)
    h.respond(ra.handle, {"a": 1})
    assert not h.take(RequestCancelled)
    g = h.send(b"GET", session=sid, accept=b"text/event-stream", version=V3,
               headers=[(b"last-event-id", last_seen.encode())])
    msgs = g.messages()
    assert msgs == [
        {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"n": 1}},
        {"jsonrpc": "2.0", "id": 1, "result": {"a": 1}},
    ]
    assert g.ended  # the stream was complete
    h.respond(rb.handle, {"b": 2})
    assert b.messages()[-1]["result"] == {"b": 2}


def test_foreign_last_event_id() -> None:
    """T-13, SEC-12, SRV-RESUME-06: a Last-Event-ID of another session yields no events."""
    h = Harness(event_store=MemoryEventStore())
    s1 = h.initialize()
    s2 = h.initialize()
    a = h.post(call(1), session=s1, version=V3)
    (ra,) = h.take(RequestReceived)
    h.server.connection_lost(a.xid, now=h.now)
    h.respond(ra.handle, {"secret": 1})
    eid = a.sse()[0].id
    g = h.send(b"GET", session=s2, accept=b"text/event-stream", version=V3, headers=[(b"last-event-id", eid.encode())])
    assert b"secret" not in bytes(g.body)
    assert g.status in (400, 404)  # s2 has no such stream
    bad = h.send(b"GET", session=s1, accept=b"text/event-stream", version=V3, headers=[(b"last-event-id", b"junk")])
    assert bad.status == 400


def test_purged_events_are_gone_not_silently_skipped() -> None:
    """SRV-RESUME-05 with a bounded store: a gap is answered 410, never replayed as complete."""
    h = Harness(event_store=MemoryEventStore(max_events=2))
    sid = h.initialize()
    a = h.post(call(1), session=sid, version=V3)
    (ra,) = h.take(RequestReceived)
    first = a.sse()[0].id
    h.server.connection_lost(a.xid, now=h.now)
    for i in range(5):
        h.server.notify(sid, "notifications/progress", {"n": i}, related=ra.handle, now=h.now)
    g = h.send(b"GET", session=sid, accept=b"text/event-stream", version=V3, headers=[(b"last-event-id", first.encode())])
    assert g.status == 410


def test_cancelled_request_never_answered() -> None:
    """T-15, CANCEL-02, CANCEL-05: notifications/cancelled is 202, the response is never sent, a late one is tolerated."""
    h = Harness()
    sid = h.initialize()
    p = h.post(call(9), session=sid, version=V3)
    (req,) = h.take(RequestReceived)
    c = h.post({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9, "reason": "bored"}},
               session=sid, version=V3)
    assert c.status == 202
    (cancel,) = h.take(RequestCancelled)
    assert cancel.handle == req.handle and cancel.reason == "bored"
    assert p.ended and p.messages() == []
    h.respond(req.handle, {"late": True})  # tolerated, nothing sent
    assert p.messages() == []
    late = h.post({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}},
                  session=sid, version=V3)
    assert late.status == 202


def test_initialize_cannot_be_cancelled() -> None:
    """CANCEL-04: the client MUST NOT cancel initialize; the server ignores such a cancellation."""
    h = Harness()
    r = h.post(call(0, "initialize", {"protocolVersion": V3}))
    (req,) = h.take(RequestReceived)
    sid = r.session_id
    h.post({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 0}}, session=sid, version=V3)
    assert not h.take(RequestCancelled)
    h.respond(req.handle, {"protocolVersion": V3})
    assert r.messages()[-1]["result"]["protocolVersion"] == V3


def test_arrays_refused_after_2025_03_26() -> None:
    """T-16, SRV-POST-06: R2+ answers an array with 400."""
    h = Harness()
    sid = h.initialize(version=V2)
    r = h.post([call(1), call(2)], session=sid, version=V2)
    assert r.status == 400


def test_batch_in_2025_03_26() -> None:
    """T-17, SRV-POST-04, AMB-04: R1 batches of two requests, as SSE and as a JSON array."""
    for json_mode in (False, True):
        h = Harness(json_response=json_mode)
        sid = h.initialize(version=V1)
        r = h.post([call(1), call(2), {"jsonrpc": "2.0", "method": "notifications/x"}], session=sid, version=V1)
        reqs = h.take(RequestReceived)
        assert len(reqs) == 2
        h.respond(reqs[1].handle, {"n": 2})
        h.respond(reqs[0].handle, {"n": 1})
        got = r.json() if json_mode else r.messages()
        assert sorted(m["id"] for m in got) == [1, 2] and r.ended


def test_initialize_must_not_be_batched() -> None:
    """CLI-POST-08: initialize inside a batch is refused."""
    h = Harness()
    r = h.post([call(0, "initialize", {"protocolVersion": V1})], version=V1)
    assert r.status == 400


def test_polling_close_after_priming() -> None:
    """T-18, SRV-SSE-09, SRV-SSE-10: the server closes after priming (with retry); the client's
    GET + Last-Event-ID then receives what followed."""
    h = Harness(event_store=MemoryEventStore(), retry_ms=500, close_after_priming=True)
    sid = h.initialize()
    p = h.post(call(5), session=sid, version=V3)
    (req,) = h.take(RequestReceived)
    (priming,) = p.sse()
    assert priming.retry == 500 and priming.data == "" and p.ended and not p.close
    h.respond(req.handle, {"done": 1})
    g = h.send(b"GET", session=sid, accept=b"text/event-stream", version=V3,
               headers=[(b"last-event-id", priming.id.encode())])
    assert g.messages() == [{"jsonrpc": "2.0", "id": 5, "result": {"done": 1}}]


def test_unrelated_messages_wait_for_get_stream() -> None:
    """AMB-14, SRV-GET-02: with no stream open, server messages queue (bounded) until a GET opens."""
    h = Harness(max_queued_bytes=200)
    sid = h.initialize()
    h.server.notify(sid, "notifications/tools/list_changed", now=h.now)
    with pytest.raises(QueueFull):
        for _ in range(10):
            h.server.notify(sid, "notifications/tools/list_changed", now=h.now)
    g = h.send(b"GET", session=sid, accept=b"text/event-stream", version=V3)
    assert g.status == 200 and len(g.messages()) >= 1
    assert all(m["method"] == "notifications/tools/list_changed" for m in g.messages())


def test_second_get_is_409() -> None:
    """AMB-07: a second concurrent GET stream in one session gets 409."""
    h = Harness()
    sid = h.initialize()
    assert h.send(b"GET", session=sid, accept=b"text/event-stream", version=V3).status == 200
    assert h.send(b"GET", session=sid, accept=b"text/event-stream", version=V3).status == 409


def test_get_needs_sse_accept() -> None:
    """CLI-GET-02: a GET whose Accept lacks text/event-stream gets 406."""
    h = Harness()
    sid = h.initialize()
    assert h.send(b"GET", session=sid, accept=b"application/json", version=V3).status == 406


def test_body_limit() -> None:
    """SRV-POST body limit: exactly max_body_size passes, one byte more is 413 (and closes)."""
    h = Harness(max_body_size=200)
    body = json.dumps(call(0, "initialize", {"protocolVersion": V3})).encode()
    body = body[:-1] + b" " * (200 - len(body)) + b"}"
    assert len(body) == 200 and h.post(body).status == 200
    r = h.post(body + b" ")
    assert r.status == 413 and r.close
    r2 = h.post(body + b" ", headers=[(b"content-length", b"201")], end=False)
    assert r2.status == 413  # refused from the head alone


def test_malformed_json() -> None:
    """JR-05, SRV-POST-02: malformed JSON is 400 with -32700, id null."""
    h = Harness()
    r = h.post(b'{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]')
    assert r.status == 400 and r.json() == {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": r.json()["error"]["message"]}}


def test_invalid_single_message_is_400() -> None:
    """JR-06, SRV-POST-02: an invalid request object is refused with its error."""
    h = Harness()
    sid = h.initialize()
    r = h.post({"jsonrpc": "2.0", "method": 1, "params": "bar"}, session=sid, version=V3)
    assert r.status == 400 and r.json()["error"]["code"] == -32600


def test_session_cap() -> None:
    """max_sessions: the next initialize past the cap gets 503; a freed slot is reusable."""
    h = Harness(max_sessions=2)
    s1 = h.initialize()
    h.initialize()
    r = h.post(call(0, "initialize", {"protocolVersion": V3}))
    assert r.status == 503
    h.send(b"DELETE", session=s1, version=V3)
    h.initialize()


def test_idle_sessions_expire() -> None:
    """Session idle expiry: a session untouched for session_idle_timeout is closed and then 404."""
    h = Harness(session_idle_timeout=60)
    sid = h.initialize()
    start = h.now
    # get_timer may be early (the initialize stream's heartbeat), never late.
    assert h.server.get_timer() <= start + 60
    h.now = h.server.get_timer()
    h.server.handle_timer(now=h.now)
    h.pump()
    assert not h.take(SessionClosed)
    assert h.server.get_timer() == pytest.approx(start + 60)  # recomputed exactly
    h.now = start + 61
    h.server.handle_timer(now=h.now)
    h.pump()
    assert h.take(SessionClosed)[0].reason == "expired"
    assert h.post(call(), session=sid, version=V3).status == 404


def test_heartbeats_on_idle_streams() -> None:
    """SRV-SSE-12: an SSE comment after heartbeat_interval of silence; traffic resets the clock."""
    h = Harness(heartbeat_interval=15)
    sid = h.initialize()
    g = h.send(b"GET", session=sid, accept=b"text/event-stream", version=V3)
    assert h.server.get_timer() == pytest.approx(h.now + 15)
    h.now += 10
    h.server.notify(sid, "notifications/x", now=h.now)
    h.pump()
    h.now += 10
    h.server.handle_timer(now=h.now)
    h.pump()
    assert not bytes(g.body).endswith(b":\n")  # traffic at +10 reset the clock
    h.now += 5
    h.server.handle_timer(now=h.now)
    h.pump()
    assert bytes(g.body).endswith(b"\n\n:\n")  # a comment line after the last event
    assert h.server.get_timer() == pytest.approx(h.now + 15)


def test_session_bound_to_identity() -> None:
    """SEC-10, AUTH-03: sessions belong to the identity that made them; no token is 401 with WWW-Authenticate."""
    def auth(headers: list) -> object:
        tok = dict(headers).get(b"authorization")
        return {b"Bearer alice": "alice", b"Bearer bob": "bob"}.get(tok)

    h = Harness(authenticate=auth, www_authenticate=b'Bearer resource_metadata="x"')
    r = h.post(call(0, "initialize", {"protocolVersion": V3}))
    assert r.status == 401 and r.headers[b"www-authenticate"] == b'Bearer resource_metadata="x"'
    sid = h.initialize(headers=[(b"authorization", b"Bearer alice")])
    stolen = h.post(call(), session=sid, version=V3, headers=[(b"authorization", b"Bearer bob")])
    assert stolen.status == 404
    ok = h.post(call(), session=sid, version=V3, headers=[(b"authorization", b"Bearer alice")])
    assert ok.status == 200
    assert h.take(RequestReceived)[0].identity == "alice"


def test_rejected_body_is_discarded() -> None:
    """An early rejection ignores the rest of the body and releases the exchange at its end."""
    h = Harness()
    r = h.post(b"", accept=b"text/html", end=False)
    assert r.status == 406
    h.server.receive_body(r.xid, b"x" * 100)
    h.server.receive_end(r.xid, now=h.now)
    h.pump()
    with pytest.raises(LocalProtocolError):  # released: no more input is expected for it
        h.server.receive_body(r.xid, b"x")


def test_close_after_priming_needs_a_store() -> None:
    """Config: polling without an event store cannot be resumed, so it is refused."""
    with pytest.raises(LocalProtocolError):
        ServerConfig(close_after_priming=True)
