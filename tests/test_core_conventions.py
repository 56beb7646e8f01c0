"""Issue 9's conventions of the server core, through the public API: one config for the common
knobs in both eras, misuse raising LocalProtocolError, validated events, two output queues,
``now`` a required keyword."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

from _server_harness import Harness
from streamcore import LocalProtocolError
from streamcore import jsonrpc as jr
from streamcore.events import (
    HttpOutput,
    NotificationReceived,
    RequestCancelled,
    RequestReceived,
    ResponseData,
    ResponseEnd,
    ResponseHead,
    ResponseReceived,
    SessionClosed,
    SubscriptionClosed,
    SubscriptionOpened,
)
from streamcore.server import Server, ServerConfig

MODERN = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}


def modern_post(h: Harness, method: str, id_: Any = 1, params: dict[str, Any] | None = None) -> Any:
    body = {"jsonrpc": "2.0", "id": id_, "method": method, "params": {"_meta": META, **(params or {})}}
    hdrs = [(b"mcp-method", method.encode())]
    if method == "tools/call":
        hdrs.append((b"mcp-name", body["params"]["name"].encode()))
    return h.post(body, version=MODERN, headers=hdrs)


# --- one config for the common knobs -------------------------------------------------------


def test_omit_null_id_acts_in_both_eras() -> None:
    """AMB-03: omit_null_id=True drops "id":null from error bodies of both eras (issue 9: the
    per-request era used to keep it)."""
    h = Harness(omit_null_id=True)
    legacy = h.post(b"not json")  # session era parse error
    modern = h.post(b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{}}}', version=MODERN,
                    headers=[(b"mcp-method", b"tools/list")])
    for r in (legacy, modern):
        assert r.status == 400
    assert "id" not in legacy.json()
    assert modern.json()["id"] == 1  # a known id is always echoed
    bad_head = h.post(b"{}", version=MODERN, accept=b"text/plain")
    assert bad_head.status == 406 and "id" not in bad_head.json()
    listen = modern_post(h, "subscriptions/listen", id_=None)  # an invalid request: id null
    assert listen.status == 400 and "id" not in listen.json()


def test_omit_null_id_false_keeps_null_in_both_eras() -> None:
    """The default: "id": null in both eras."""
    h = Harness()
    assert h.post(b"not json").json()["id"] is None
    listen = modern_post(h, "subscriptions/listen", id_=None)
    assert listen.json()["id"] is None


@pytest.mark.parametrize("interval", [None, 5.0])
def test_heartbeat_interval_acts_in_both_eras(interval: float | None) -> None:
    """SRV-SSE-12: heartbeat_interval=None means no keep-alive on either era's streams; a number
    means keep-alives on both, at that interval (issue 9: the per-request era kept 15 s)."""
    h = Harness(heartbeat_interval=interval)
    sid = h.initialize()
    legacy = h.post({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x"}},
                    session=sid, version="2025-11-25")
    listen = modern_post(h, "subscriptions/listen", id_="L", params={"notifications": {"toolsListChanged": True}})
    assert legacy.streaming and listen.streaming
    before = (bytes(legacy.body), bytes(listen.body))
    if interval is None:
        # only session expiry is due (30 min), no keep-alive
        assert h.server.get_timer() == pytest.approx(h.now + ServerConfig().session_idle_timeout)
    else:
        assert h.server.get_timer() == pytest.approx(h.now + interval)
    h.now += 5.0 if interval else 100.0
    h.server.handle_timer(now=h.now)
    h.pump()
    grew = (bytes(legacy.body) != before[0], bytes(listen.body) != before[1])
    assert grew == ((True, True) if interval else (False, False))
    if interval:
        assert legacy.body.endswith(b":\n") and listen.body.endswith(b":\n")


# --- misuse is LocalProtocolError ------------------------------------------------------------


def test_unknown_and_finished_exchanges() -> None:
    """An xid never issued, body after the end, a second end: LocalProtocolError; a hang-up after
    the end is harmless."""
    h = Harness()
    s = h.server
    with pytest.raises(LocalProtocolError):
        s.receive_body(999, b"x")
    with pytest.raises(LocalProtocolError):
        s.receive_end(999, now=h.now)
    with pytest.raises(LocalProtocolError):
        s.connection_lost(999, now=h.now)
    r = h.post(b"not json")
    assert r.ended
    with pytest.raises(LocalProtocolError):
        s.receive_body(r.xid, b"more")
    with pytest.raises(LocalProtocolError):
        s.receive_end(r.xid, now=h.now)
    s.connection_lost(r.xid, now=h.now)  # after the end: nothing happens
    assert s.next_event() is None


def test_second_answer_and_unknown_rid() -> None:
    """A second answer to one request and an rid never issued are LocalProtocolError; the first
    answer's output is not disturbed."""
    h = Harness()
    sid = h.initialize()
    r = h.post({"jsonrpc": "2.0", "id": 1, "method": "ping"}, session=sid, version="2025-11-25")
    (req,) = h.take(RequestReceived)
    h.respond(req.rid, {})
    body = bytes(r.body)
    with pytest.raises(LocalProtocolError, match="answered already"):
        h.server.respond(req.rid, {}, now=h.now)
    with pytest.raises(LocalProtocolError, match="no such request"):
        h.server.respond(4242, {}, now=h.now)
    with pytest.raises(LocalProtocolError):
        h.server.respond("1", {}, now=h.now)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        h.server.respond(req.rid, error=("x", "y"), now=h.now)  # type: ignore[arg-type]
    h.pump()
    assert bytes(r.body) == body


def test_second_answer_in_the_per_request_era() -> None:
    """The same rule in 2026-07-28."""
    h = Harness()
    modern_post(h, "tools/list")
    (req,) = h.take(RequestReceived)
    h.respond(req.rid, {"tools": []})
    with pytest.raises(LocalProtocolError):
        h.server.respond(req.rid, {"tools": []}, now=h.now)


def test_late_answer_to_a_cancelled_request_is_ignored_once() -> None:
    """CANCEL-05: the application's (one) late answer to a cancelled request is dropped silently;
    answering it again is a second answer."""
    h = Harness()
    sid = h.initialize()
    r = h.post({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "x"}},
               session=sid, version="2025-11-25")
    (req,) = h.take(RequestReceived)
    h.post({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}},
           session=sid, version="2025-11-25")
    (c,) = h.take(RequestCancelled)
    assert c.rid == req.rid
    h.respond(req.rid, {"late": True})
    assert b"late" not in bytes(r.body)
    with pytest.raises(LocalProtocolError):
        h.server.respond(req.rid, {}, now=h.now)


def test_cancelled_memory_is_bounded() -> None:
    """max_cancelled bounds what is remembered of cancelled requests: past it the oldest one's late
    answer is refused like a second answer (memory stays bounded)."""
    h = Harness(max_cancelled=2)
    rids = []
    for i in range(3):
        r = modern_post(h, "tools/call", id_=i, params={"name": "x"})
        (req,) = h.take(RequestReceived)
        rids.append(req.rid)
        h.server.connection_lost(r.xid, now=h.now)
    h.take(RequestCancelled)
    with pytest.raises(LocalProtocolError):
        h.server.respond(rids[0], {}, now=h.now)
    h.server.respond(rids[1], {}, now=h.now)
    h.server.respond(rids[2], {}, now=h.now)


def test_disconnect_is_two_calls() -> None:
    """disconnect(handle_or_session) became disconnect_request(rid) and disconnect_session(sid):
    each closes the connection of one stream, not the stream (SRV-SSE-09, SRV-GET-06)."""
    h = Harness()
    sid = h.initialize()
    g = h.send(b"GET", session=sid, version="2025-11-25", accept=b"text/event-stream")
    p = h.post({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x"}},
               session=sid, version="2025-11-25")
    (req,) = h.take(RequestReceived)
    assert h.server.disconnect_request(req.rid, now=h.now)
    h.pump()
    assert p.ended and not g.ended
    assert h.server.disconnect_session(sid, now=h.now)
    h.pump()
    assert g.ended
    assert not h.server.disconnect_session(sid, now=h.now)  # nothing attached any more
    assert not hasattr(h.server, "disconnect")


# --- events --------------------------------------------------------------------------------


REQ = jr.Request(1, "ping", None)


@pytest.mark.parametrize("build", [
    lambda: ResponseHead(xid="1", status=200, headers=[]),
    lambda: ResponseHead(xid=1, status=99, headers=[]),
    lambda: ResponseHead(xid=1, status=200, headers=[("a", "b")]),
    lambda: ResponseHead(xid=1, status=200, headers=[], streaming=1),
    lambda: ResponseData(xid=1, data="text"),
    lambda: ResponseData(xid=True, data=b""),
    lambda: ResponseEnd(xid=1, close="yes"),
    lambda: RequestReceived(rid=1, message={"method": "ping"}, session_id=None, protocol_version=MODERN),
    lambda: RequestReceived(rid=1, message=REQ, session_id=5, protocol_version=MODERN),
    lambda: NotificationReceived(message=REQ, session_id=None, protocol_version=MODERN),
    lambda: ResponseReceived(message=REQ, session_id=None, known=True),
    lambda: RequestCancelled(rid=1.0, reason=None),
    lambda: SessionClosed(session_id="s", reason="because"),
    lambda: SubscriptionOpened(rid=1, subscription_id=1, filter=[], protocol_version=MODERN),
    lambda: SubscriptionClosed(rid=1, subscription_id=1, reason="bored"),
])
def test_user_built_events_are_validated(build: Any) -> None:
    """A hand-built event with a wrong field type or value is a LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        build()


def test_events_are_frozen_slotted_keyword_only() -> None:
    """Events are frozen, slotted and keyword-only; good ones build; handle is rid's old name."""
    ev = RequestReceived(rid=3, message=REQ, session_id="s", protocol_version="2025-11-25")
    assert ev.handle == 3 and not hasattr(ev, "__dict__")
    with pytest.raises(Exception):
        ev.rid = 4  # type: ignore[misc]
    with pytest.raises(TypeError):
        ResponseEnd(1)  # type: ignore[misc]
    assert ResponseHead(xid=1, status=200, headers=[(b"a", b"b")], streaming=True).streaming
    assert SessionClosed(session_id="s", reason="expired").reason == "expired"


# --- two queues, and now ----------------------------------------------------------------------


def test_output_and_app_events_drain_separately() -> None:
    """next_output() gives only HTTP output, next_app_event() only application events; an
    embedder can write bytes without running the application."""
    s = Server(ServerConfig())
    xid = s.receive_request(b"POST", b"/mcp", [(b"host", b"127.0.0.1"), (b"accept", b"application/json, text/event-stream"),
                                               (b"content-type", b"application/json")], now=1.0)
    s.receive_body(xid, json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                                    "params": {"protocolVersion": "2025-11-25"}}).encode())
    s.receive_end(xid, now=1.0)
    head = s.next_output()  # the SSE head of the POST stream, before the application ran
    assert isinstance(head, ResponseHead) and head.streaming and s.next_output() is None
    app = s.next_app_event()
    assert isinstance(app, RequestReceived) and s.next_app_event() is None
    s.respond(app.rid, {"protocolVersion": "2025-11-25"}, now=1.0)
    outs = []
    while (o := s.next_output()) is not None:
        assert isinstance(o, HttpOutput)
        outs.append(type(o).__name__)
    assert outs == ["ResponseData", "ResponseEnd"]
    assert s.next_app_event() is None and s.next_event() is None


def test_now_is_a_required_keyword_everywhere() -> None:
    """Every Server call that can depend on time takes ``now`` as a required keyword-only
    argument (no defaults, no hidden clock)."""
    timed = ["receive_request", "receive_end", "connection_lost", "resume_writing", "respond", "notify",
             "send_request", "publish", "close_listen", "close_all_listens", "close_session",
             "disconnect_request", "disconnect_session", "handle_timer"]
    for name in timed:
        p = inspect.signature(getattr(Server, name)).parameters["now"]
        assert p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty, name
