"""The per-request era (2026-07-28), driven sans-IO through the public endpoint.

A small harness plays the adapter for a modern-only :class:`streamcore.server.Server`
(``legacy=False``): each POST goes through the head checks and the era classifier,
then the per-request core. Replies and application events are collected as in
``tests/_server_harness.py``. Tests cite the requirement IDs.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamcore import jsonrpc as jr
from streamcore.era import encode_header_value
from streamcore import LocalProtocolError
from streamcore.events import (
    AppEvent,
    NotificationReceived,
    RequestCancelled,
    RequestReceived,
    ResponseData,
    ResponseEnd,
    ResponseHead,
    SubscriptionClosed,
    SubscriptionOpened,
)
from streamcore.client import SUBSCRIPTION_ID
from streamcore.server import (
    ListenSupport,
    ModernConfig,
    Server,
    ServerConfig,
    discover_result,
    http_status_for_error,
)
from streamcore.sse import SseDecoder

from _server_harness import Reply  # noqa: E402  (the same reply recorder as the session-era tests)

V = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": V, "io.modelcontextprotocol/clientCapabilities": {}}
_COMMON = {f.name for f in fields(ServerConfig)}
_BASE = [(b"host", b"127.0.0.1:8000"), (b"accept", b"application/json, text/event-stream"),
         (b"content-type", b"application/json")]


class Harness:
    """A modern-only endpoint; its output collected per exchange."""

    def __init__(self, **config: Any) -> None:
        common = {k: v for k, v in config.items() if k in _COMMON}
        modern = {k: v for k, v in config.items() if k not in _COMMON}
        self.ep = Server(ServerConfig(legacy=False, modern=ModernConfig(**modern), authenticate=lambda h: "alice",
                                      **common))
        self.now = 1000.0
        self.replies: dict[int, Reply] = {}
        self.app: list[AppEvent] = []

    def pump(self) -> None:
        while (ev := self.ep.next_event()) is not None:
            if isinstance(ev, ResponseHead):
                r = self.replies[ev.xid]
                assert r.status is None, "two heads for one exchange"
                r.status, r.streaming, r.headers = ev.status, ev.streaming, dict(ev.headers)
            elif isinstance(ev, ResponseData):
                r = self.replies[ev.xid]
                assert r.status is not None and not r.ended, "data outside a response"
                r.body += ev.data
            elif isinstance(ev, ResponseEnd):
                r = self.replies[ev.xid]
                assert r.status is not None and not r.ended
                r.ended, r.close = True, ev.close
            else:
                self.app.append(ev)

    def raw(self, method: bytes, headers: list[tuple[bytes, bytes]], body: bytes | None) -> Reply:
        xid = self.ep.receive_request(method, b"/mcp", _BASE + headers, now=self.now)
        self.replies[xid] = Reply(xid)
        if body:
            self.ep.receive_body(xid, body)
        self.ep.receive_end(xid, now=self.now)
        self.pump()
        return self.replies[xid]

    def request(self, method: str, params: dict | None = None, *, id: Any = 1,
                extra: list[tuple[bytes, bytes]] | None = None) -> Reply:
        p = {"_meta": META, **(params or {})}
        body = json.dumps({"jsonrpc": "2.0", "id": id, "method": method, "params": p}).encode()
        h = [(b"mcp-protocol-version", V.encode()), (b"mcp-method", method.encode())]
        src = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}.get(method)
        if src:
            h.append((b"mcp-name", encode_header_value(p[src]).encode()))
        return self.raw(b"POST", h + (extra or []), body)

    def take(self, kind: type) -> list:
        got = [e for e in self.app if isinstance(e, kind)]
        self.app = [e for e in self.app if not isinstance(e, kind)]
        return got

    def respond(self, handle: int, result: Any = None, **kw: Any) -> None:
        self.ep.respond(handle, result, now=self.now, **kw)
        self.pump()

    def notify(self, handle: int, method: str, params: Any = None) -> bool:
        ok = self.ep.notify(None, method, params, related=handle, now=self.now)
        self.pump()
        return ok

    def publish(self, method: str, params: Any = None, **kw: Any) -> int:
        n = self.ep.publish(method, params, now=self.now, **kw)
        self.pump()
        return n

    def lose(self, xid: int) -> None:
        self.ep.connection_lost(xid, now=self.now)
        self.pump()

    def listen(self, filt: dict, id: Any = "L1") -> tuple[Reply, SubscriptionOpened]:
        r = self.request("subscriptions/listen", {"notifications": filt}, id=id)
        (opened,) = self.take(SubscriptionOpened)
        return r, opened


def one_request(h: Harness) -> RequestReceived:
    (ev,) = h.take(RequestReceived)
    return ev


# --- plain requests ------------------------------------------------------------------------


def test_json_reply_no_session_and_result_type():
    """SRV-POST-04, SRV-COMPAT-06, spec 5.2: a request answered first gets one JSON body, no Mcp-Session-Id, resultType added."""
    h = Harness()
    r = h.request("tools/call", {"name": "get_weather", "arguments": {}}, id=7)
    ev = one_request(h)
    assert ev.session_id is None and ev.protocol_version == V and ev.identity == "alice"
    assert ev.message.method == "tools/call" and r.status is None  # nothing written yet
    h.respond(ev.handle, {"content": []})
    assert r.status == 200 and r.ended and r.headers[b"content-type"] == b"application/json"
    assert b"mcp-session-id" not in r.headers
    assert r.json() == {"jsonrpc": "2.0", "id": 7, "result": {"resultType": "complete", "content": []}}


def test_result_type_kept_and_not_mutated():
    """Spec 5.2: an app-supplied resultType is kept; the app's dict is not modified."""
    h = Harness()
    h.request("tools/call", {"name": "t"})
    ev = one_request(h)
    res = {"resultType": "input_required", "inputRequests": {}}
    h.respond(ev.handle, res)
    assert h.replies[1].json()["result"] == res
    h.request("tools/list", id=2)
    ev = one_request(h)
    mine = {"tools": []}
    h.respond(ev.handle, mine)
    assert mine == {"tools": []} and h.replies[2].json()["result"]["resultType"] == "complete"


@pytest.mark.parametrize("raw,expect", [
    (b'{"tools":[]}', {"resultType": "complete", "tools": []}),
    (b"{}", {"resultType": "complete"}),
    (b'{ "a" : 1 }', {"resultType": "complete", "a": 1}),
    (b'{"resultType":"input_required"}', {"resultType": "input_required"}),
])
def test_result_type_rawjson(raw, expect):
    """Spec 5.2: a RawJson object result gets resultType spliced in unless it mentions one."""
    h = Harness()
    h.request("completion/complete")
    h.respond(one_request(h).handle, jr.RawJson(raw))
    assert h.replies[1].json()["result"] == expect


def test_none_result_and_opt_out():
    """Spec 5.2: a None result becomes {"resultType":"complete"}; add_result_type=False sends results as given."""
    h = Harness()
    h.request("completion/complete")
    h.respond(one_request(h).handle, None)
    assert h.replies[1].json()["result"] == {"resultType": "complete"}
    h = Harness(add_result_type=False)
    h.request("completion/complete")
    h.respond(one_request(h).handle, {"tools": []})
    assert h.replies[1].json()["result"] == {"tools": []}


def test_srv_ver08_unknown_method_404():
    """SRV-VER-08, T-19: the app answers -32601; as a JSON reply that is HTTP 404 with the JSON-RPC body."""
    h = Harness()
    r = h.request("no/such", id="x")
    h.respond(one_request(h).handle, error=(-32601, "Method not found"))
    assert r.status == 404 and r.json() == {"jsonrpc": "2.0", "id": "x", "error": {"code": -32601, "message": "Method not found"}}


@pytest.mark.parametrize("code,status", [(-32601, 404), (-32020, 400), (-32021, 400), (-32022, 400), (-32602, 200), (-1, 200)])
def test_error_status_mapping(code, status):
    """SRV-VER-08, SRV-VER-11, spec 5.2: JSON-reply status per error code."""
    assert http_status_for_error(code) == status
    h = Harness()
    r = h.request("tools/list")
    h.respond(one_request(h).handle, error=(code, "e", {"k": 1}))
    assert r.status == status and r.json()["error"] == {"code": code, "message": "e", "data": {"k": 1}}


def test_unknown_method_after_sse_started_stays_200():
    """SRV-VER-08 mechanism: once an SSE stream has begun, -32601 is just the final event."""
    h = Harness()
    r = h.request("x/y")
    ev = one_request(h)
    h.notify(ev.handle, "notifications/progress", {"progressToken": 1, "progress": 0.5})
    h.respond(ev.handle, error=(-32601, "Method not found"))
    assert r.status == 200 and r.streaming and r.ended
    assert r.messages()[-1]["error"]["code"] == -32601


# --- SSE replies (SRV-SSE-03/04/11) -----------------------------------------------------------


def test_sse_related_notifications_then_response():
    """SRV-SSE-03, SRV-SSE-07, SRV-SSE-11: a notification first starts SSE (X-Accel-Buffering: no); the response ends it."""
    h = Harness()
    r = h.request("tools/call", {"name": "slow"}, id=3)
    ev = one_request(h)
    assert h.notify(ev.handle, "notifications/progress", {"progressToken": "p", "progress": 1})
    assert r.status == 200 and r.streaming and not r.ended
    assert r.headers[b"content-type"] == b"text/event-stream" and r.headers[b"x-accel-buffering"] == b"no"
    assert b"mcp-session-id" not in r.headers
    h.notify(ev.handle, "notifications/message", {"level": "info", "data": "hi"})
    h.respond(ev.handle, {"content": []})
    msgs = r.messages()
    assert [m.get("method") for m in msgs] == ["notifications/progress", "notifications/message", None]
    assert msgs[-1] == {"jsonrpc": "2.0", "id": 3, "result": {"resultType": "complete", "content": []}}
    assert r.ended


def test_reply_mode_sse_and_json():
    """SRV-POST-04: reply_mode 'sse' streams at once; 'json' never streams and drops related notifications."""
    h = Harness(reply_mode="sse")
    r = h.request("tools/list")
    assert r.status == 200 and r.streaming
    h.respond(one_request(h).handle, {"tools": []})
    assert r.messages()[0]["result"]["tools"] == [] and r.ended
    h = Harness(reply_mode="json")
    r = h.request("tools/list")
    ev = one_request(h)
    assert not h.notify(ev.handle, "notifications/progress", {"progressToken": 1, "progress": 1})
    h.respond(ev.handle, {"tools": []})
    assert r.status == 200 and r.headers[b"content-type"] == b"application/json"
    with pytest.raises(LocalProtocolError):
        ModernConfig(reply_mode="bogus")


def test_srv_sse04_no_requests_and_no_listen_types_on_request_streams():
    """SRV-SSE-04, SRV-SUB-05: the API has no server request; listen-only types are refused on a request stream."""
    h = Harness()
    h.request("tools/list")
    ev = one_request(h)
    with pytest.raises(LocalProtocolError):
        h.ep.send_request(None, "sampling/createMessage", {}, related=ev.handle, now=h.now)
    for m in ("notifications/tools/list_changed", "notifications/subscriptions/acknowledged",
              "notifications/resources/updated"):
        with pytest.raises(LocalProtocolError):
            h.ep.notify(None, m, related=ev.handle, now=h.now)


def test_notify_unknown_handle():
    """SRV-SSE-03: a notification for a finished request is not sent; for an rid never issued it
    is misuse (LocalProtocolError)."""
    h = Harness()
    h.request("tools/list")
    ev = one_request(h)
    h.respond(ev.handle, {"tools": []})
    assert not h.notify(ev.handle, "notifications/progress", {})
    with pytest.raises(LocalProtocolError):
        h.notify(99, "notifications/progress", {})


def test_heartbeat_on_streams_only():
    """SRV-SSE-12: quiet SSE streams get ':' comments at the interval; an undecided JSON reply gets none."""
    h = Harness(heartbeat_interval=10.0)
    a = h.request("tools/list", id=1)
    b = h.request("tools/list", id=2)
    ea, eb = h.take(RequestReceived)
    assert h.ep.get_timer() is None
    h.notify(ea.handle, "notifications/progress", {"progressToken": 1, "progress": 0})
    assert h.ep.get_timer() == h.now + 10.0
    h.now += 10.0
    h.ep.handle_timer(now=h.now)
    h.pump()
    assert a.body.endswith(b":\n") and b.status is None
    assert Harness(heartbeat_interval=None).ep.get_timer() is None


# --- POST shapes (SRV-POST-01/07) ------------------------------------------------------------


def test_notification_202():
    """SRV-POST-01, HTTP-02: a notification gets 202 with Content-Length: 0 and reaches the app."""
    h = Harness()
    body = json.dumps({"jsonrpc": "2.0", "method": "notifications/x", "params": {"_meta": META}}).encode()
    r = h.raw(b"POST", [(b"mcp-protocol-version", V.encode())], body)
    assert r.status == 202 and r.headers[b"content-length"] == b"0" and r.ended and not r.body
    (n,) = h.take(NotificationReceived)
    assert n.session_id is None and n.protocol_version == V


def test_srv_post07_response_is_400():
    """SRV-POST-07: a POST carrying a JSON-RPC response is 400 (via the classifier and via post())."""
    h = Harness()
    r = h.raw(b"POST", [(b"mcp-protocol-version", V.encode()), (b"mcp-method", b"x")],
              b'{"jsonrpc":"2.0","id":1,"result":{}}')
    assert r.status == 400 and r.json()["error"]["code"] == -32600
    bad = h.raw(b"POST", [(b"mcp-protocol-version", V.encode()), (b"mcp-method", b"x")],
                b'{"jsonrpc":"2.0","id":4,"method":1}')
    assert bad.status == 400 and bad.json()["id"] == 4 and not h.app


def test_t19_modern_only_endpoint():
    """T-19, SRV-COMPAT-06: GET/DELETE 405 Allow: POST; session and Last-Event-ID ignored; -32020; -32022 with supported."""
    h = Harness()
    for m in (b"GET", b"DELETE"):
        r = h.raw(m, [(b"mcp-session-id", b"abc")], None)
        assert r.status == 405 and r.headers[b"allow"] == b"POST"
    r = h.request("tools/list", extra=[(b"mcp-session-id", b"abc"), (b"last-event-id", b"1.9")])
    h.respond(one_request(h).handle, {"tools": []})
    assert r.status == 200 and b"mcp-session-id" not in r.headers
    r = h.raw(b"POST", [(b"mcp-protocol-version", V.encode()), (b"mcp-method", b"tools/list")],
              json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"_meta": META, "name": "a"}}).encode())
    assert r.status == 400 and r.json()["error"]["code"] == -32020
    meta = dict(META, **{"io.modelcontextprotocol/protocolVersion": "1999-01-01"})
    r = h.raw(b"POST", [(b"mcp-protocol-version", b"1999-01-01"), (b"mcp-method", b"tools/list")],
              json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}).encode())
    assert r.status == 400 and r.json()["error"]["data"] == {"supported": ["2026-07-28"], "requested": "1999-01-01"}


# --- cancellation (CANCEL-06, AMB-09) --------------------------------------------------------


def test_cancel06_closing_sse_stream_cancels():
    """CANCEL-06, T-14(b): the client closing the SSE stream cancels the request; nothing more is sent."""
    h = Harness()
    r = h.request("tools/call", {"name": "slow"})
    ev = one_request(h)
    h.notify(ev.handle, "notifications/progress", {"progressToken": 1, "progress": 0})
    before = bytes(r.body)
    h.lose(r.xid)
    (c,) = h.take(RequestCancelled)
    assert c.handle == ev.handle and c.reason == "disconnected"
    assert not h.notify(ev.handle, "notifications/progress", {"progressToken": 1, "progress": 1})
    h.respond(ev.handle, {"content": []})  # CANCEL-05: a late answer is ignored
    assert bytes(r.body) == before and not r.ended and h.ep.in_flight == 0


def test_amb09_json_reply_disconnect_cancels():
    """AMB-09: with no stream (JSON reply pending), a closed connection is cancellation too."""
    h = Harness()
    r = h.request("tools/list")
    ev = one_request(h)
    h.lose(r.xid)
    assert [c.handle for c in h.take(RequestCancelled)] == [ev.handle]
    h.respond(ev.handle, {"tools": []})
    assert r.status is None and not h.app


def test_connection_lost_after_answer_is_noop():
    """CANCEL-06: a close after the response cancels nothing; an xid never issued is misuse."""
    h = Harness()
    r = h.request("tools/list")
    h.respond(one_request(h).handle, {"tools": []})
    h.lose(r.xid)
    assert not h.app
    with pytest.raises(LocalProtocolError):
        h.lose(12345)


# --- server/discover (SRV-VER-10) --------------------------------------------------------------


def test_discover_result_helper():
    """SRV-VER-10: discover_result builds a DiscoverResult (resultType, supportedVersions, capabilities, ttlMs, cacheScope)."""
    d = discover_result(["2026-07-28", "2025-11-25"], {"tools": {"listChanged": True}},
                        server_info={"name": "s", "version": "1"}, instructions="hi", ttl_ms=3600000)
    assert d == {
        "resultType": "complete", "supportedVersions": ["2026-07-28", "2025-11-25"],
        "capabilities": {"tools": {"listChanged": True}}, "ttlMs": 3600000, "cacheScope": "public",
        "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "s", "version": "1"}}, "instructions": "hi",
    }
    assert discover_result()["supportedVersions"] == ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"]
    with pytest.raises(LocalProtocolError):
        discover_result(ttl_ms=-1)
    with pytest.raises(LocalProtocolError):
        discover_result(cache_scope="shared")


def test_discover_answered_by_app():
    """SRV-VER-10: server/discover reaches the app like any request; the helper's result goes out as JSON."""
    h = Harness()
    r = h.request("server/discover", id="discover-1")
    ev = one_request(h)
    assert ev.message.method == "server/discover"
    h.respond(ev.handle, discover_result([V], {"tools": {}}))
    assert r.json()["result"]["supportedVersions"] == [V]


# --- subscriptions/listen (SRV-SUB-01..04, MULTI-03) ------------------------------------------


def test_sub02_acknowledged_first():
    """SRV-SUB-02, SRV-SSE-11: the listen stream's first message is the acknowledgment with subscriptionId = request id."""
    h = Harness()
    r, opened = h.listen({"toolsListChanged": True, "resourceSubscriptions": ["file:///a"]}, id="listen-1")
    assert r.status == 200 and r.streaming and r.headers[b"x-accel-buffering"] == b"no"
    assert b"mcp-session-id" not in r.headers
    (ack,) = r.messages()
    assert ack == {"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
                   "params": {"_meta": {SUBSCRIPTION_ID: "listen-1"},
                              "notifications": {"toolsListChanged": True, "resourceSubscriptions": ["file:///a"]}}}
    assert opened.subscription_id == "listen-1" and opened.identity == "alice" and not h.take(RequestReceived)


def test_sub_ack_reflects_supported_subset():
    """sub Acknowledgment: unsupported or malformed filter fields are left out of the acknowledged set."""
    h = Harness(listen_support=ListenSupport(prompts_list_changed=False))
    r, opened = h.listen({"promptsListChanged": True, "toolsListChanged": "yes", "resourcesListChanged": True,
                          "resourceSubscriptions": [1, "file:///b"]})
    assert opened.filter == {"resourcesListChanged": True, "resourceSubscriptions": ["file:///b"]}
    assert h.publish("notifications/prompts/list_changed") == 0


def test_sub01_only_requested_types():
    """SRV-SUB-01, SRV-SUB-03: publish reaches only listens that asked; each message carries its subscriptionId."""
    h = Harness()
    tools, _ = h.listen({"toolsListChanged": True}, id=1)
    res, _ = h.listen({"resourceSubscriptions": ["file:///a"]}, id=2)
    both, _ = h.listen({"toolsListChanged": True, "resourceSubscriptions": ["file:///b"]}, id="three")
    assert h.publish("notifications/tools/list_changed") == 2
    assert h.publish("notifications/resources/updated", {"uri": "file:///a"}) == 1
    assert h.publish("notifications/resources/updated", {"uri": "file:///zzz"}) == 0
    assert h.publish("notifications/resources/list_changed") == 0
    assert [m["method"] for m in tools.messages()[1:]] == ["notifications/tools/list_changed"]
    assert res.messages()[1] == {"jsonrpc": "2.0", "method": "notifications/resources/updated",
                                 "params": {"_meta": {SUBSCRIPTION_ID: 2}, "uri": "file:///a"}}
    for r, sid in ((tools, 1), (res, 2), (both, "three")):
        assert all(m["params"]["_meta"][SUBSCRIPTION_ID] == sid for m in r.messages())


def test_sub03_params_with_own_meta():
    """SRV-SUB-03: a notification with its own _meta keeps it and gains the subscriptionId."""
    h = Harness()
    r, _ = h.listen({"toolsListChanged": True}, id=5)
    h.publish("notifications/tools/list_changed", {"_meta": {"x.example/k": 1}})
    assert r.messages()[1]["params"]["_meta"] == {"x.example/k": 1, SUBSCRIPTION_ID: 5}


def test_sub01_publish_refuses_other_types():
    """SRV-SUB-01, SRV-SUB-05: progress and log messages never go on a listen stream."""
    h = Harness()
    for m in ("notifications/progress", "notifications/message"):
        with pytest.raises(LocalProtocolError):
            h.ep.publish(m, {}, now=h.now)
    with pytest.raises(LocalProtocolError):
        h.ep.publish("notifications/tools/list_changed", [1], now=h.now)


def test_publish_audience_filter():
    """EP-07/SEC: publish(to=...) narrows the audience by the identity of each listen."""
    h = Harness()
    r, _ = h.listen({"toolsListChanged": True})
    assert h.publish("notifications/tools/list_changed", to=lambda ident: ident == "bob") == 0
    assert h.publish("notifications/tools/list_changed", to=lambda ident: ident == "alice") == 1


def test_sub04_graceful_close():
    """SRV-SUB-04, AMB-10: close_listen sends the completion result with the subscriptionId, then ends the stream."""
    h = Harness()
    r, opened = h.listen({"toolsListChanged": True}, id=9)
    assert h.ep.close_listen(opened.handle, now=h.now)
    h.pump()
    assert r.messages()[-1] == {"jsonrpc": "2.0", "id": 9,
                                "result": {"resultType": "complete", "_meta": {SUBSCRIPTION_ID: 9}}}
    assert r.ended and not r.close
    (c,) = h.take(SubscriptionClosed)
    assert (c.handle, c.subscription_id, c.reason) == (opened.handle, 9, "closed")
    assert not h.ep.close_listen(opened.handle, now=h.now)
    _, other = h.listen({"toolsListChanged": True}, id=10)
    with pytest.raises(LocalProtocolError):
        h.ep.respond(other.handle, {}, now=h.now)  # a listen is ended with close_listen()


def test_multi03_several_listens_and_close_all():
    """MULTI-03: several listens at once, each with its id; close_all_listens ends them all gracefully."""
    h = Harness()
    rs = [h.listen({"toolsListChanged": True}, id=i)[0] for i in range(3)]
    assert h.ep.listens == 3
    assert h.ep.close_all_listens(now=h.now) == 3
    h.pump()
    for i, r in enumerate(rs):
        assert r.ended and r.messages()[-1]["result"]["_meta"][SUBSCRIPTION_ID] == i
    assert h.ep.listens == 0


def test_listen_client_close_is_cancel():
    """CANCEL-06, sub Cancellation: the client closing a listen stream ends the subscription; nothing more is sent."""
    h = Harness()
    r, opened = h.listen({"toolsListChanged": True})
    h.lose(r.xid)
    (c,) = h.take(SubscriptionClosed)
    assert c.reason == "disconnected"
    before = bytes(r.body)
    assert h.publish("notifications/tools/list_changed") == 0
    assert bytes(r.body) == before


def test_listen_needs_filter():
    """Schema SubscriptionsListenRequestParams: 'notifications' is required; without it, -32602."""
    h = Harness()
    r = h.request("subscriptions/listen", {}, id=4)
    assert r.json()["error"]["code"] == -32602 and r.json()["id"] == 4 and h.ep.listens == 0


def test_listen_limit():
    """Bounded resources: past max_listens a listen gets 503."""
    h = Harness(max_listens=1)
    h.listen({"toolsListChanged": True}, id=1)
    r = h.request("subscriptions/listen", {"notifications": {}}, id=2)
    assert r.status == 503 and r.headers[b"retry-after"] == b"1"


def test_listen_backpressure_queue_and_coalesce():
    """Bounded per-stream queues: while paused, notifications queue (duplicates coalesced), then flush in order."""
    h = Harness()
    r, opened = h.listen({"toolsListChanged": True, "resourceSubscriptions": ["u:1"]})
    h.ep.pause_writing(r.xid)
    h.publish("notifications/tools/list_changed")
    h.publish("notifications/tools/list_changed")
    h.publish("notifications/resources/updated", {"uri": "u:1"})
    assert len(r.messages()) == 1
    h.ep.resume_writing(r.xid, now=h.now)
    h.pump()
    assert [m["method"] for m in r.messages()[1:]] == ["notifications/tools/list_changed",
                                                      "notifications/resources/updated"]


def test_listen_backpressure_overflow_closes_abruptly():
    """CLI-SUB-06: on queue overflow the stream ends without a result (an unexpected disconnect) and the app is told."""
    h = Harness(max_listen_queue_bytes=200)
    r, opened = h.listen({"resourceSubscriptions": [f"u:{i}" for i in range(10)]})
    h.ep.pause_writing(r.xid)
    sent = [h.publish("notifications/resources/updated", {"uri": f"u:{i}"}) for i in range(10)]
    assert 0 in sent and r.ended and r.close
    assert all("result" not in m for m in r.messages())
    (c,) = h.take(SubscriptionClosed)
    assert c.reason == "overflow" and h.ep.listens == 0


def test_close_listen_flushes_queue_first():
    """SRV-SUB-04: a graceful close delivers what was queued, then the completion result."""
    h = Harness()
    r, opened = h.listen({"toolsListChanged": True}, id=1)
    h.ep.pause_writing(r.xid)
    h.publish("notifications/tools/list_changed")
    h.ep.close_listen(opened.handle, now=h.now)
    h.pump()
    assert [m.get("method", "result") for m in r.messages()] == [
        "notifications/subscriptions/acknowledged", "notifications/tools/list_changed", "result"]


def test_listen_heartbeat_and_paused():
    """SRV-SSE-12: listen streams get keep-alives; a paused one is skipped."""
    h = Harness(heartbeat_interval=5.0)
    r, _ = h.listen({"toolsListChanged": True})
    r2, _ = h.listen({"toolsListChanged": True}, id=2)
    h.ep.pause_writing(r2.xid)
    assert h.ep.get_timer() == h.now + 5.0
    h.now += 5.0
    h.ep.handle_timer(now=h.now)
    h.pump()
    assert r.body.endswith(b":\n") and not r2.body.endswith(b":\n")


def test_extra_listen_filters():
    """SRV-SUB-01: an extension's notification type is delivered only to listens whose filter has its field."""
    h = Harness(extra_listen_filters={"notifications/x.example/changed": "xChanged"},
                listen_support=ListenSupport())
    r, _ = h.listen({"toolsListChanged": True})
    assert h.publish("notifications/x.example/changed") == 0


@given(st.lists(st.sampled_from(["req", "notify", "respond", "error", "lose", "listen", "publish", "close",
                                 "pause", "resume", "timer"]), max_size=40), st.randoms(use_true_random=False))
def test_prop_no_output_after_end_or_cancel(ops, rnd):
    """CANCEL-06 and framing invariants under random call orders: one head per exchange, nothing after the end
    or after a cancel, every finished exchange ended exactly once."""
    h = Harness(heartbeat_interval=1.0)
    handles: list[int] = []
    answered: set[int] = set()
    listens: list[int] = []
    xids: list[int] = []
    for op in ops:
        if op == "req":
            r = h.request("tools/list", id=len(h.replies))
            xids.append(r.xid)
            handles += [e.handle for e in h.take(RequestReceived)]
        elif op == "listen":
            r = h.request("subscriptions/listen", {"notifications": {"toolsListChanged": True}}, id=len(h.replies))
            xids.append(r.xid)
            listens += [e.handle for e in h.take(SubscriptionOpened)]
        elif op in ("notify", "respond", "error") and handles:
            hd = rnd.choice(handles)
            if op == "notify":
                h.notify(hd, "notifications/progress", {"progressToken": 1, "progress": 1})
            elif hd in answered:  # a second answer is misuse, refused without any output
                with pytest.raises(LocalProtocolError):
                    h.respond(hd, {})
            else:
                answered.add(hd)
                h.respond(hd, {} if op == "respond" else None, **({"error": (-32601, "no")} if op == "error" else {}))
        elif op == "lose" and xids:
            x = rnd.choice(xids)
            ended = h.replies[x].ended
            before = bytes(h.replies[x].body)
            h.lose(x)
            h.replies[x].ended = True  # the harness asserts nothing more arrives for it
            assert ended or bytes(h.replies[x].body) == before
        elif op == "publish":
            h.publish("notifications/tools/list_changed")
        elif op == "close" and listens:
            h.ep.close_listen(rnd.choice(listens), now=h.now)
            h.pump()
        elif op in ("pause", "resume") and xids:
            x = rnd.choice(xids)
            h.ep.pause_writing(x) if op == "pause" else h.ep.resume_writing(x, now=h.now)
            h.pump()
        elif op == "timer":
            h.now += 1.0
            h.ep.handle_timer(now=h.now)
            h.pump()
    cancelled = {e.handle for e in h.app if isinstance(e, RequestCancelled)}
    assert cancelled <= set(handles)


def test_rawjson_non_object_result_untouched():
    """Spec 5.2: a RawJson that is not an object cannot take resultType; it is sent as given."""
    h = Harness()
    h.request("tools/list")
    h.respond(one_request(h).handle, jr.RawJson(b"[1]"))
    assert h.replies[1].json()["result"] == [1]


def test_config_limits_validated():
    """API: negative limits are a caller error."""
    with pytest.raises(LocalProtocolError):
        ModernConfig(max_listens=-1)


def test_resume_with_empty_queue_and_unknown_xid():
    """Backpressure API: resume with nothing queued writes nothing; pause/resume of unknown xids is ignored."""
    h = Harness()
    r, _ = h.listen({"toolsListChanged": True})
    n = len(r.body)
    h.ep.pause_writing(r.xid)
    h.ep.resume_writing(r.xid, now=h.now)
    h.ep.pause_writing(999)
    h.ep.resume_writing(999, now=h.now)
    h.pump()
    assert len(r.body) == n


def test_empty_resource_subscriptions_not_granted():
    """sub Acknowledgment: an empty (or all-invalid) resourceSubscriptions list is left out of the ack."""
    h = Harness()
    _, opened = h.listen({"resourceSubscriptions": [1, 2]})
    assert opened.filter == {}
