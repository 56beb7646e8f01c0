"""Sans-IO client core in the per-request era (2026-07-28, "R4").

Scripted abstract HTTP replies drive :class:`streamcore._client.Client`; no
sockets, no clock. IDs refer to ``spec/streamable-http.md`` (sections 2.3,
2.8, 2.11, 2.12, 2.13, 2.15 and 5.2).
"""

from __future__ import annotations

import base64
import json
import logging

import pytest

from streamcore.client import (
    Client,
    ClientConfig,
    ClientState,
    ConnectionLost,
    EraCache,
    HttpAbort,
    HttpRequest,
    InputRequired,
    HttpStatusError,
    Initialized,
    McpError,
    RequestFailed,
    RequestResult,
    ServerNotification,
    ServerRequest,
    StreamProtocolError,
    modern_error,
)
from streamcore._era import classify, decode_header_value, param_headers_from_tools
from streamcore import LocalProtocolError

URL = "http://127.0.0.1:9/mcp"
SSE = [(b"content-type", b"text/event-stream")]
JSON = [(b"content-type", b"application/json")]
PV = "io.modelcontextprotocol/protocolVersion"
DISCOVER = {"resultType": "complete", "supportedVersions": ["2026-07-28", "2025-11-25"], "capabilities": {},
            "ttlMs": 0, "cacheScope": "public"}
TOOLS = [
    {"name": "echo", "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}},
    {"name": "route", "inputSchema": {"type": "object", "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "n": {"type": "integer", "x-mcp-header": "N"},
        "dry": {"type": "boolean", "x-mcp-header": "Dry"},
        "opt": {"type": ["string", "null"], "x-mcp-header": "Opt"},
        "nested": {"type": "object", "properties": {"zone": {"type": "string", "x-mcp-header": "Zone"}}},
    }}},
    {"name": "bad", "inputSchema": {"type": "object", "properties": {
        "x": {"type": "number", "x-mcp-header": "X"}}}},
    {"name": "dup", "inputSchema": {"type": "object", "properties": {
        "a": {"type": "string", "x-mcp-header": "Same"}, "b": {"type": "string", "x-mcp-header": "same"}}}},
]


def hdr(req: HttpRequest, name: str) -> str | None:
    for k, v in req.headers:
        if k == name.lower().encode():
            return v.decode()
    return None


def body(req: HttpRequest) -> dict:
    assert req.body is not None
    return json.loads(req.body)


def result(rid: object, res: object) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "result": res}).encode()


def error(rid: object, code: int, message: str, data: object = None) -> bytes:
    err: dict = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return json.dumps({"jsonrpc": "2.0", "id": rid, "error": err}).encode()


def reply(c: Client, req: HttpRequest, payload: bytes, status: int = 200, headers=JSON) -> None:
    c.receive_response(req.xid, status, list(headers), now=0.0)
    if payload:
        c.receive_data(req.xid, payload, now=0.0)
    c.receive_data(req.xid, b"", now=0.0)


def sse(*messages: bytes) -> bytes:
    return b"".join(b"data: " + m + b"\n\n" for m in messages)


def posts(c: Client) -> list[HttpRequest]:
    return [r for r in c.data_to_send() if isinstance(r, HttpRequest)]


def modern(era: str = "modern", cache: EraCache | None = None, **kw) -> tuple[Client, list]:
    """A client past server/discover; returns it and the events of that step."""
    c = Client(ClientConfig(url=URL, era=era, era_cache=cache if cache is not None else EraCache(), **kw))
    c.initialize(now=0.0)
    (req,) = posts(c)
    assert body(req)["method"] == "server/discover"
    reply(c, req, result(body(req)["id"], DISCOVER))
    return c, c.events()


def call(c: Client, method: str, params: dict | None = None) -> tuple[int, HttpRequest]:
    rid = c.send_request(method, params, now=0.0)
    (req,) = posts(c)
    return rid, req


def server_verdict(req: HttpRequest, tools=TOOLS):
    """What our own era classifier says about a POST the client built (the server's view)."""
    return classify("POST", list(req.headers), req.body,
                    param_headers=param_headers_from_tools(tools))


# -- metadata headers and _meta (CLI-POST-07, CLI-VER-04, CLI-HDR-01/02) --------------------


def test_discover_is_the_first_request_and_carries_modern_meta() -> None:
    """CLI-POST-07 / spec 5.2: server/discover first, with _meta protocolVersion, clientCapabilities,
    clientInfo; MCP-Protocol-Version equals the _meta value; no session id, no initialize."""
    c = Client(ClientConfig(url=URL, era="modern", capabilities={"elicitation": {}},
                            client_info={"name": "t", "version": "1"}))
    c.initialize(now=0.0)
    (req,) = posts(c)
    b = body(req)
    assert req.method == "POST" and b["method"] == "server/discover"
    meta = b["params"]["_meta"]
    assert meta[PV] == "2026-07-28" == hdr(req, "MCP-Protocol-Version")
    assert meta["io.modelcontextprotocol/clientCapabilities"] == {"elicitation": {}}
    assert meta["io.modelcontextprotocol/clientInfo"] == {"name": "t", "version": "1"}
    assert hdr(req, "Mcp-Method") == "server/discover"
    assert hdr(req, "Mcp-Session-Id") is None and hdr(req, "Mcp-Name") is None
    assert server_verdict(req).accepted


def test_modern_session_reports_initialized_with_era() -> None:
    """SRV-VER-10 / CLI-COMPAT-03: a discover result makes the client MODERN; Initialized says so."""
    c, ev = modern()
    (init,) = [e for e in ev if isinstance(e, Initialized)]
    assert init.era == "modern" and init.session_id is None and init.protocol_version == "2026-07-28"
    assert c.state is ClientState.MODERN and c.era == "modern" and c.session_id is None


def test_every_post_carries_the_metadata_headers() -> None:
    """CLI-POST-07, CLI-HDR-01: Mcp-Method always; Mcp-Name from params.name or params.uri."""
    c, _ = modern()
    for method, params, name in [("tools/list", {}, None), ("tools/call", {"name": "echo", "arguments": {}}, "echo"),
                                 ("prompts/get", {"name": "p1"}, "p1"),
                                 ("resources/read", {"uri": "file:///a.txt"}, "file:///a.txt")]:
        _, req = call(c, method, params)
        b = body(req)
        assert hdr(req, "Mcp-Method") == method == b["method"]
        assert hdr(req, "Mcp-Name") == name
        assert hdr(req, "MCP-Protocol-Version") == b["params"]["_meta"][PV]
        assert hdr(req, "Accept") == "application/json, text/event-stream"
        assert hdr(req, "Mcp-Session-Id") is None
        assert server_verdict(req).accepted, server_verdict(req)


@pytest.mark.parametrize("name", ["héllo", " lead", "trail ", "tab\there", "=?base64?SGk=?=", "line\nbreak", ""])
def test_mcp_name_uses_the_base64_sentinel_when_needed(name: str) -> None:
    """CLI-HDR-02: non-ASCII, controls, edge whitespace and sentinel look-alikes go Base64-encoded."""
    c, _ = modern()
    _, req = call(c, "tools/call", {"name": name, "arguments": {}})
    v = hdr(req, "Mcp-Name")
    assert v is not None and v.startswith("=?base64?") and v.endswith("?=")
    assert base64.b64decode(v[9:-2]).decode() == name == decode_header_value(v)
    assert server_verdict(req).accepted


def test_plain_name_goes_as_is() -> None:
    """CLI-HDR-02: a safe ASCII value is not encoded."""
    c, _ = modern()
    _, req = call(c, "tools/call", {"name": "get_weather-v2", "arguments": {}})
    assert hdr(req, "Mcp-Name") == "get_weather-v2"


def test_caller_progress_meta_is_kept_beside_modern_meta() -> None:
    """Spec 5.2: the client adds its _meta keys without dropping the caller's (progressToken)."""
    c, _ = modern()
    _, req = call(c, "tools/call", {"name": "echo", "arguments": {}, "_meta": {"progressToken": "p1"}})
    meta = body(req)["params"]["_meta"]
    assert meta["progressToken"] == "p1" and meta[PV] == "2026-07-28"


def test_no_get_no_delete_on_close() -> None:
    """SRV-COMPAT-06's mirror: a modern client never opens a GET stream or sends DELETE."""
    c, _ = modern(listen=True)
    assert posts(c) == []
    c.close(now=0.0)
    assert [r for r in c.data_to_send() if isinstance(r, HttpRequest)] == []
    assert c.state is ClientState.CLOSED


def test_respond_is_refused_in_the_modern_era() -> None:
    """CLI-POST-05: a modern client MUST NOT send responses."""
    c, _ = modern()
    with pytest.raises(LocalProtocolError):
        c.respond(1, {}, now=0.0)


def test_modern_notification_carries_headers() -> None:
    """CLI-POST-07: a notification POST carries MCP-Protocol-Version and Mcp-Method too."""
    c, _ = modern()
    c.send_notification("notifications/roots/list_changed", {}, now=0.0)
    (req,) = posts(c)
    assert hdr(req, "Mcp-Method") == "notifications/roots/list_changed"
    assert body(req)["params"]["_meta"][PV] == hdr(req, "MCP-Protocol-Version")


def test_server_request_on_a_modern_stream_is_ignored() -> None:
    """Spec 1.2 (R4): servers MUST NOT send requests on SSE; the client drops one."""
    c, _ = modern()
    rid, req = call(c, "tools/call", {"name": "echo", "arguments": {}})
    wid = body(req)["id"]
    c.receive_response(req.xid, 200, SSE, now=0.0)
    c.receive_data(req.xid, sse(b'{"jsonrpc":"2.0","id":"s1","method":"elicitation/create","params":{}}',
                                   result(wid, {"content": []})), now=0.0)
    ev = c.events()
    assert not any(isinstance(e, ServerRequest) for e in ev)
    assert any(isinstance(e, RequestResult) and e.rid == rid for e in ev)


# -- x-mcp-header (CLI-HDR-03/04) -----------------------------------------------------------


def listed(c: Client, tools=TOOLS) -> dict:
    rid, req = call(c, "tools/list", {})
    reply(c, req, result(body(req)["id"], {"tools": tools, "resultType": "complete", "ttlMs": 0}))
    (ev,) = [e for e in c.events() if isinstance(e, RequestResult)]
    assert ev.rid == rid
    return ev.result


def test_invalid_annotations_are_excluded_with_a_warning(caplog) -> None:
    """CLI-HDR-04: tools with invalid x-mcp-header (number type, duplicate) are left out, logged."""
    c, _ = modern()
    with caplog.at_level(logging.WARNING, logger="streamcore.client"):
        res = listed(c)
    assert [t["name"] for t in res["tools"]] == ["echo", "route"]
    assert set(c.excluded_tools) == {"bad", "dup"}
    assert "bad" in caplog.text and "dup" in caplog.text


def test_annotated_arguments_are_mirrored() -> None:
    """CLI-HDR-03: strings as-is, integers decimal, booleans true/false, nested via properties."""
    c, _ = modern()
    listed(c)
    _, req = call(c, "tools/call", {"name": "route", "arguments": {
        "region": "us-west1", "n": 42, "dry": False, "nested": {"zone": "b"}}})
    assert hdr(req, "Mcp-Param-Region") == "us-west1"
    assert hdr(req, "Mcp-Param-N") == "42"
    assert hdr(req, "Mcp-Param-Dry") == "false"
    assert hdr(req, "Mcp-Param-Zone") == "b"
    assert hdr(req, "Mcp-Param-Opt") is None
    assert server_verdict(req).accepted, server_verdict(req)


def test_null_and_absent_arguments_get_no_header() -> None:
    """CLI-HDR-03: omit the header when the value is null or absent."""
    c, _ = modern()
    listed(c)
    _, req = call(c, "tools/call", {"name": "route", "arguments": {"opt": None, "dry": True}})
    assert hdr(req, "Mcp-Param-Opt") is None and hdr(req, "Mcp-Param-Region") is None
    assert hdr(req, "Mcp-Param-Dry") == "true"
    assert server_verdict(req).accepted


def test_param_value_uses_the_sentinel_when_needed() -> None:
    """CLI-HDR-02 applies to Mcp-Param-* values: non-ASCII goes Base64."""
    c, _ = modern()
    listed(c)
    _, req = call(c, "tools/call", {"name": "route", "arguments": {"region": "Zürich", "n": 1.0}})
    assert decode_header_value(hdr(req, "Mcp-Param-Region")) == "Zürich"
    assert hdr(req, "Mcp-Param-Region").startswith("=?base64?")
    assert hdr(req, "Mcp-Param-N") == "1"
    assert server_verdict(req).accepted


def test_tools_list_without_invalid_tools_is_returned_unchanged() -> None:
    """CLI-HDR-04: nothing to exclude, the result object is passed through."""
    c, _ = modern()
    res = listed(c, TOOLS[:2])
    assert [t["name"] for t in res["tools"]] == ["echo", "route"] and c.excluded_tools == {}


# -- re-issue under a new id (CLI-RESUME-09) ------------------------------------------------


def test_broken_stream_reissues_under_a_new_id() -> None:
    """CLI-RESUME-09: a response stream that breaks is re-issued as a new request, never resumed by GET."""
    c, _ = modern()
    rid, req = call(c, "tools/call", {"name": "echo", "arguments": {}})
    first = body(req)["id"]
    c.receive_response(req.xid, 200, SSE, now=0.0)
    c.receive_data(req.xid, b"id: 7\ndata: " + json.dumps({"jsonrpc": "2.0", "method": "notifications/progress",
                                                               "params": {"progressToken": 1, "progress": 1}}).encode()
                   + b"\n\n", now=0.0)
    c.receive_error(req.xid, "reset", now=0.0)
    (again,) = posts(c)
    assert again.method == "POST" and hdr(again, "Last-Event-ID") is None
    second = body(again)["id"]
    assert second != first and body(again)["method"] == "tools/call"
    reply(c, again, result(second, {"content": []}))
    ev = [e for e in c.events() if isinstance(e, (RequestResult, RequestFailed))]
    assert ev == [RequestResult(rid=rid, result={"content": []})]
    assert c.stats["reissues"] == 1 and c.stats["resumptions"] == 0


def test_stream_ending_without_response_is_reissued() -> None:
    """CLI-RESUME-09: an SSE stream that ends cleanly before the response counts as broken."""
    c, _ = modern()
    rid, req = call(c, "tools/list", {})
    c.receive_response(req.xid, 200, SSE, now=0.0)
    c.receive_data(req.xid, b"", now=0.0)
    (again,) = posts(c)
    assert body(again)["id"] != body(req)["id"]


def test_reissue_attempts_are_bounded() -> None:
    """CLI-RESUME-09: bounded attempts; then the request fails with ConnectionLost."""
    c, _ = modern(max_reissue_attempts=2)
    rid, req = call(c, "tools/list", {})
    ids = {body(req)["id"]}
    now = 0.0
    for _ in range(2):
        c.receive_error(req.xid, "reset", now=now)
        out = posts(c)
        if not out:  # the second re-issue waits for its backoff
            now = c.get_timer()
            c.handle_timer(now=now)
            out = posts(c)
        (req,) = out
        ids.add(body(req)["id"])
    c.receive_error(req.xid, "reset", now=now)
    assert posts(c) == [] and len(ids) == 3
    (ev,) = [e for e in c.events() if isinstance(e, RequestFailed)]
    assert ev.rid == rid and isinstance(ev.error, ConnectionLost)


def test_late_reply_to_the_old_id_is_ignored() -> None:
    """CLI-RESUME-09 / CANCEL-05: only the re-issued id completes the request."""
    c, _ = modern()
    rid, req = call(c, "tools/list", {})
    c.receive_error(req.xid, "reset", now=0.0)
    (again,) = posts(c)
    reply(c, again, result(body(again)["id"], {"tools": []}))
    assert [e.rid for e in c.events() if isinstance(e, RequestResult)] == [rid]
    assert c._alias == {}  # the wire-id alias is dropped with the request


def test_cancel_closes_the_stream_without_a_notification() -> None:
    """CANCEL-06: in the modern era closing the stream is the cancellation; no notifications/cancelled."""
    c, _ = modern()
    rid, req = call(c, "tools/call", {"name": "echo", "arguments": {}})
    c.receive_response(req.xid, 200, SSE, now=0.0)
    c.cancel(rid, "bye", now=0.0)
    out = c.data_to_send()
    assert out == [HttpAbort(xid=req.xid)]


# -- HeaderMismatch about parameters (CLI-HDR-05) ------------------------------------------


def test_param_header_mismatch_refreshes_tools_and_retries_once() -> None:
    """CLI-HDR-05: -32020 about Mcp-Param -> tools/list, then the call again with the new headers."""
    c, _ = modern()
    rid, req = call(c, "tools/call", {"name": "route", "arguments": {"region": "eu"}})
    assert hdr(req, "Mcp-Param-Region") is None  # the tool list was never fetched
    reply(c, req, error(body(req)["id"], -32020, "Header mismatch: Mcp-Param-Region header is required"), 400)
    (lst,) = posts(c)
    assert body(lst)["method"] == "tools/list"
    reply(c, lst, result(body(lst)["id"], {"tools": TOOLS}))
    (again,) = posts(c)
    assert body(again)["method"] == "tools/call" and hdr(again, "Mcp-Param-Region") == "eu"
    assert body(again)["id"] not in (body(req)["id"], body(lst)["id"])
    reply(c, again, result(body(again)["id"], {"content": []}))
    ev = [e for e in c.events() if isinstance(e, (RequestResult, RequestFailed))]
    assert ev == [RequestResult(rid=rid, result={"content": []})]
    assert c.stats["tool_refreshes"] == 1


def test_unspecific_header_mismatch_on_a_call_is_treated_as_params() -> None:
    """CLI-HDR-05: a -32020 on tools/call that names no standard header is taken as being about
    Mcp-Param-* (the client derives the standard ones from the body), so it refreshes and retries."""
    c, _ = modern()
    rid, req = call(c, "tools/call", {"name": "route", "arguments": {"region": "eu"}})
    reply(c, req, error(body(req)["id"], -32020, "Header mismatch"), 400)
    (lst,) = posts(c)
    assert body(lst)["method"] == "tools/list"


def test_param_header_mismatch_twice_fails() -> None:
    """CLI-HDR-05: the retry happens once; a second -32020 reaches the caller as McpError."""
    c, _ = modern()
    rid, req = call(c, "tools/call", {"name": "route", "arguments": {"region": "eu"}})
    reply(c, req, error(body(req)["id"], -32020, "Mcp-Param-Region mismatch"), 400)
    (lst,) = posts(c)
    reply(c, lst, result(body(lst)["id"], {"tools": TOOLS}))
    (again,) = posts(c)
    reply(c, again, error(body(again)["id"], -32020, "Mcp-Param-Region mismatch"), 400)
    assert posts(c) == []
    (ev,) = [e for e in c.events() if isinstance(e, RequestFailed)]
    assert ev.rid == rid and isinstance(ev.error, McpError) and ev.error.code == -32020


def test_other_header_mismatch_is_not_retried() -> None:
    """CLI-HDR-05 is about Mcp-Param-*: a -32020 about Mcp-Name fails directly."""
    c, _ = modern()
    rid, req = call(c, "tools/call", {"name": "echo", "arguments": {}})
    reply(c, req, error(body(req)["id"], -32020, "Header mismatch: Mcp-Name header value 'x'"), 400)
    assert posts(c) == []
    (ev,) = [e for e in c.events() if isinstance(e, RequestFailed)]
    assert ev.error.code == -32020 and ev.error.http_status == 400


def test_refresh_failure_fails_the_call() -> None:
    """CLI-HDR-05: when the refreshing tools/list fails, the call fails with that error."""
    c, _ = modern()
    rid, req = call(c, "tools/call", {"name": "route", "arguments": {"region": "eu"}})
    reply(c, req, error(body(req)["id"], -32020, "Mcp-Param-Region"), 400)
    (lst,) = posts(c)
    reply(c, lst, b"oops", 500, [(b"content-type", b"text/plain")])
    (ev,) = [e for e in c.events() if isinstance(e, RequestFailed)]
    assert ev.rid == rid and isinstance(ev.error, HttpStatusError) and ev.error.status == 500


# -- resultType (JR-30, spec 5.2) ------------------------------------------------------------


@pytest.mark.parametrize("res, ok", [
    ({"content": []}, True),  # absent -> "complete"
    ({"resultType": "complete"}, True),
    ({"resultType": "bogus"}, False),
    ({"resultType": 3}, False),
])
def test_result_type_handling(res: dict, ok: bool) -> None:
    """JR-30: absent resultType is "complete"; an unknown one is a protocol error."""
    c, _ = modern()
    rid, req = call(c, "tools/call", {"name": "echo", "arguments": {}})
    reply(c, req, result(body(req)["id"], res))
    (ev,) = c.events()
    if ok:
        assert ev == RequestResult(rid=rid, result=res)
    else:
        assert isinstance(ev, RequestFailed) and isinstance(ev.error, StreamProtocolError)
        assert "resultType" in str(ev.error)


def test_discover_with_unknown_result_type_fails_initialization() -> None:
    """JR-30 applies to server/discover too."""
    c = Client(ClientConfig(url=URL, era="modern"))
    rid = c.initialize(now=0.0)
    (req,) = posts(c)
    reply(c, req, result(body(req)["id"], {"resultType": "later", "supportedVersions": ["2026-07-28"]}))
    (ev,) = c.events()
    assert isinstance(ev, RequestFailed) and ev.rid == rid and c.state is ClientState.FAILED


# -- negotiation (CLI-COMPAT-03..05, CLI-VER-09) ----------------------------------------------


def start_auto(cache: EraCache) -> tuple[Client, int, HttpRequest]:
    c = Client(ClientConfig(url=URL, era="auto", era_cache=cache))
    rid = c.initialize(now=0.0)
    (req,) = posts(c)
    return c, rid, req


@pytest.mark.parametrize("status, payload, era", [
    (400, b"", "legacy"),  # empty body
    (400, b"Bad Request: missing session", "legacy"),  # not JSON
    (400, error(None, -32000, "Bad Request: No valid session ID provided"), "legacy"),  # unrecognised code
    (400, b'{"error": {"code": -32020}}', "legacy"),  # not JSON-RPC
    (404, b"", "legacy"),
    (405, b"", "legacy"),
    (404, error(None, -32601, "Method not found"), "legacy"),
    (400, error(None, -32020, "Header mismatch"), "modern"),  # a modern server that refuses the request
    (400, error(None, -32021, "Missing capability"), "modern"),
    (500, b"", "failed"),
])
def test_negotiation_decision_table(status: int, payload: bytes, era: str) -> None:
    """CLI-COMPAT-03/04: on 400 inspect the body; a recognised modern error means a modern server
    (surfaced, no fallback); an empty or unrecognised body, 404 or 405 means initialize."""
    cache = EraCache()
    c, rid, req = start_auto(cache)
    assert body(req)["method"] == "server/discover"
    reply(c, req, payload, status)
    out = posts(c)
    if era == "legacy":
        (init,) = out
        b = body(init)
        assert b["method"] == "initialize" and b["id"] == rid
        assert hdr(init, "Mcp-Method") is None  # the legacy request carries no R4 headers
        assert cache.get(URL) == "legacy" and c.stats["fallbacks"] == 1
    else:
        assert out == []
        (ev,) = c.events()
        assert isinstance(ev, RequestFailed) and ev.rid == rid
        assert c.state is ClientState.FAILED and cache.get(URL) is None
        if era == "modern":
            assert isinstance(ev.error, McpError) and ev.error.code in (-32020, -32021)


def test_modern_error_recogniser() -> None:
    """CLI-COMPAT-03: only a JSON-RPC error with -32020/-32021/-32022 is a recognised modern error."""
    assert modern_error(error(1, -32022, "x", {"supported": []}))[0] == -32022
    assert modern_error(error(None, -32020, "x")) is not None
    for b in (b"", b"{", b"[]", error(1, -32000, "x"), error(1, -32601, "x"), b'{"jsonrpc":"2.0","error":{"code":"-32020"}}'):
        assert modern_error(b) is None


def test_fallback_completes_legacy_handshake_under_the_same_id() -> None:
    """CLI-COMPAT-03: after the fallback the legacy session works; Initialized says legacy."""
    cache = EraCache()
    c, rid, req = start_auto(cache)
    reply(c, req, b"", 400)
    (init,) = posts(c)
    reply(c, init, result(rid, {"protocolVersion": "2025-11-25", "capabilities": {}}),
          headers=JSON + [(b"mcp-session-id", "S9".encode())])
    (ev,) = [e for e in c.events() if isinstance(e, Initialized)]
    assert ev.era == "legacy" and ev.session_id == "S9" and c.state is ClientState.READY
    rid2 = c.send_request("tools/list", {}, now=0.0)
    req2 = [r for r in posts(c) if body(r).get("id") == rid2][0]
    assert hdr(req2, "Mcp-Session-Id") == "S9" and "_meta" not in (body(req2).get("params") or {})


def test_unsupported_version_picks_a_mutual_legacy_version() -> None:
    """CLI-VER-09: -32022 with data.supported: no mutual modern version, so the newest mutual legacy one."""
    cache = EraCache()
    c, rid, req = start_auto(cache)
    reply(c, req, error(body(req)["id"], -32022, "Unsupported protocol version",
                        {"supported": ["2025-06-18", "2025-03-26"], "requested": "2026-07-28"}), 400)
    (init,) = posts(c)
    assert body(init)["method"] == "initialize" and body(init)["params"]["protocolVersion"] == "2025-06-18"


def test_unsupported_version_without_mutual_version_fails() -> None:
    """CLI-VER-09: no mutual version: surface the error."""
    c, rid, req = start_auto(EraCache())
    reply(c, req, error(None, -32022, "Unsupported", {"supported": ["2099-01-01"]}), 400)
    assert posts(c) == []
    (ev,) = c.events()
    assert isinstance(ev, RequestFailed) and ev.error.code == -32022


def test_modern_only_client_never_falls_back() -> None:
    """era="modern": an unrecognised 400 is an error, not a fallback."""
    c = Client(ClientConfig(url=URL, era="modern"))
    rid = c.initialize(now=0.0)
    (req,) = posts(c)
    reply(c, req, b"", 400)
    assert posts(c) == []
    (ev,) = c.events()
    assert isinstance(ev.error, HttpStatusError) and ev.error.status == 400


def test_era_cache_skips_the_probe_for_a_known_legacy_origin() -> None:
    """CLI-COMPAT-05: the era is remembered per origin; a cached legacy origin gets initialize directly."""
    cache = EraCache()
    c, rid, req = start_auto(cache)
    reply(c, req, b"", 404)
    assert cache.get("http://127.0.0.1:9/other") == "legacy"  # per origin, not per path
    c2, rid2, req2 = start_auto(cache)
    assert body(req2)["method"] == "initialize"


def test_era_cache_reprobes_when_the_assumption_fails() -> None:
    """CLI-COMPAT-05: a cached legacy origin whose initialize meets a modern error is probed again."""
    cache = EraCache()
    cache.set(URL, "legacy")
    c, rid, req = start_auto(cache)
    assert body(req)["method"] == "initialize"
    reply(c, req, error(None, -32022, "Unsupported", {"supported": ["2026-07-28"]}), 400)
    (disc,) = posts(c)
    assert body(disc)["method"] == "server/discover" and cache.get(URL) is None
    reply(c, disc, result(body(disc)["id"], DISCOVER))
    (ev,) = [e for e in c.events() if isinstance(e, Initialized)]
    assert ev.era == "modern" and cache.get(URL) == "modern"


def test_modern_assumption_failing_later_is_forgotten() -> None:
    """CLI-COMPAT-05: a modern origin answering a request with a non-modern 404 is re-probed next time."""
    cache = EraCache()
    c, _ = modern("auto", cache)
    assert cache.get(URL) == "modern"
    rid, req = call(c, "tools/list", {})
    reply(c, req, b"Not Found", 404, [(b"content-type", b"text/plain")])
    assert cache.get(URL) is None
    (ev,) = c.events()
    assert isinstance(ev.error, HttpStatusError) and ev.error.status == 404


def test_method_not_found_is_an_mcp_error() -> None:
    """SRV-VER-08's mirror: 404 with -32601 reaches the caller as McpError (not a fallback)."""
    c, _ = modern("auto")
    rid, req = call(c, "nope/nothing", {})
    reply(c, req, error(body(req)["id"], -32601, "Method not found"), 404)
    (ev,) = c.events()
    assert isinstance(ev.error, McpError) and ev.error.code == -32601 and ev.error.http_status == 404


def test_requests_before_discover_are_queued() -> None:
    """Requests sent while server/discover runs go out, in the modern form, once it succeeds."""
    c = Client(ClientConfig(url=URL, era="modern", era_cache=EraCache()))
    rid = c.send_request("tools/list", {}, now=0.0)
    c.send_notification("notifications/roots/list_changed", {}, now=0.0)
    (disc,) = posts(c)
    assert c.state is ClientState.DISCOVERING
    reply(c, disc, result(body(disc)["id"], DISCOVER))
    out = posts(c)
    assert [body(r)["method"] for r in out] == ["tools/list", "notifications/roots/list_changed"]
    assert all(hdr(r, "MCP-Protocol-Version") == "2026-07-28" for r in out)
    assert body(out[0])["id"] == rid


def test_discover_without_our_version_falls_back_to_legacy() -> None:
    """CLI-VER-09 from a discover result: supportedVersions without ours but with a legacy one."""
    cache = EraCache()
    c, rid, req = start_auto(cache)
    reply(c, req, result(body(req)["id"], dict(DISCOVER, supportedVersions=["2025-06-18"])))
    (init,) = posts(c)
    assert body(init)["method"] == "initialize" and body(init)["params"]["protocolVersion"] == "2025-06-18"


def test_config_validation() -> None:
    """ClientConfig refuses an unknown era, modern version or negative re-issue bound."""
    for kw in ({"era": "future"}, {"modern_version": "2025-11-25"}, {"max_reissue_attempts": -1}):
        with pytest.raises(LocalProtocolError):
            ClientConfig(url=URL, **kw)
    with pytest.raises(LocalProtocolError):
        EraCache().set(URL, "r5")


# -- subscriptions/listen (SUB) ------------------------------------------------------------------


def ack(sub_id: object) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
                       "params": {"_meta": {"io.modelcontextprotocol/subscriptionId": sub_id},
                                  "notifications": {"toolsListChanged": True}}}).encode()


def changed(sub_id: object) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "method": "notifications/tools/list_changed",
                       "params": {"_meta": {"io.modelcontextprotocol/subscriptionId": sub_id}}}).encode()


def test_listen_stream_ack_notifications_and_graceful_end() -> None:
    """SRV-SUB-02/03/04 from the client: ack first, notifications tagged with the listen request,
    completion result ends it."""
    c, _ = modern()
    rid = c.send_request("subscriptions/listen", {"notifications": {"toolsListChanged": True}}, timeout=None, now=0.0)
    (req,) = posts(c)
    wid = body(req)["id"]
    assert hdr(req, "Mcp-Method") == "subscriptions/listen"
    c.receive_response(req.xid, 200, SSE, now=0.0)
    c.receive_data(req.xid, sse(ack(wid), changed(wid)), now=0.0)
    ev = c.events()
    assert [e.method for e in ev] == ["notifications/subscriptions/acknowledged", "notifications/tools/list_changed"]
    assert all(isinstance(e, ServerNotification) and e.rid == rid for e in ev)
    done = {"resultType": "complete", "_meta": {"io.modelcontextprotocol/subscriptionId": wid}}
    c.receive_data(req.xid, sse(result(wid, done)), now=0.0)
    c.receive_data(req.xid, b"", now=0.0)
    assert c.events() == [RequestResult(rid=rid, result=done)]
    assert posts(c) == []


def test_listen_unexpected_close_is_reissued_and_acks_reset_the_count() -> None:
    """CLI-SUB-06: closing without the completion result re-issues listen (new id); each ack restarts
    the bounded count, so a long-lived subscription survives many closes."""
    c, _ = modern(max_reissue_attempts=1)
    rid = c.send_request("subscriptions/listen", {"notifications": {"toolsListChanged": True}}, timeout=None, now=0.0)
    (req,) = posts(c)
    seen = {body(req)["id"]}
    for _ in range(3):
        c.receive_response(req.xid, 200, SSE, now=0.0)
        c.receive_data(req.xid, sse(ack(body(req)["id"])), now=0.0)
        c.receive_data(req.xid, b"", now=0.0)  # closed without a result
        (req,) = posts(c)
        assert body(req)["method"] == "subscriptions/listen"
        seen.add(body(req)["id"])
    assert len(seen) == 4
    c.receive_error(req.xid, "reset", now=0.0)  # no ack on this one: a second close in a row exceeds the bound
    assert posts(c) == []
    (ev,) = [e for e in c.events() if isinstance(e, RequestFailed)]
    assert ev.rid == rid and isinstance(ev.error, ConnectionLost)


def test_discover_answered_with_a_non_modern_jsonrpc_error_falls_back() -> None:
    """CLI-COMPAT-04: a 200 JSON-RPC error that is not a modern code (e.g. -32601 from a server that
    routes the POST into its legacy code) means legacy."""
    c, rid, req = start_auto(EraCache())
    reply(c, req, error(body(req)["id"], -32601, "Method not found"))
    (init,) = posts(c)
    assert body(init)["method"] == "initialize" and body(init)["id"] == rid


def test_discover_error_in_modern_only_mode_fails() -> None:
    """era="modern": a JSON-RPC error to server/discover fails initialization (no fallback)."""
    c = Client(ClientConfig(url=URL, era="modern"))
    rid = c.initialize(now=0.0)
    (req,) = posts(c)
    reply(c, req, error(body(req)["id"], -32603, "boom"))
    (ev,) = c.events()
    assert isinstance(ev.error, McpError) and c.state is ClientState.FAILED
    later = c.send_request("tools/list", {}, now=0.0)
    (ev,) = c.events()
    assert isinstance(ev, RequestFailed) and ev.rid == later


def test_discover_listing_no_mutual_version_fails() -> None:
    """CLI-VER-09: a DiscoverResult whose supportedVersions share nothing with ours is an error."""
    c, rid, req = start_auto(EraCache())
    reply(c, req, result(body(req)["id"], dict(DISCOVER, supportedVersions=["2099-01-01"])))
    (ev,) = c.events()
    assert isinstance(ev, RequestFailed) and isinstance(ev.error, StreamProtocolError)


def test_unsupported_version_on_a_request_is_retried_once_then_surfaced() -> None:
    """CLI-VER-09 / sep-2575-client-retry-supported-version: -32022 whose data.supported lists a
    version we speak (even the one sent) is retried once with it, under a new id; a second
    -32022 is an McpError."""
    c, _ = modern()
    rid, req = call(c, "tools/list", {})
    reply(c, req, error(body(req)["id"], -32022, "Unsupported", {"supported": ["2026-07-28"]}), 400)
    (again,) = posts(c)
    assert body(again)["id"] != body(req)["id"] and hdr(again, "MCP-Protocol-Version") == "2026-07-28"
    assert body(again)["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] == "2026-07-28"
    reply(c, again, error(body(again)["id"], -32022, "Unsupported", {"supported": ["2026-07-28"]}), 400)
    (ev,) = c.events()
    assert isinstance(ev.error, McpError) and ev.error.code == -32022 and posts(c) == []


def test_discover_rejected_with_our_version_listed_is_retried_once() -> None:
    """sep-2575-client-retry-supported-version: the first server/discover gets -32022 listing the
    very version we sent: retried once with it, then the session is modern."""
    c = Client(ClientConfig(url=URL, era="modern"))
    c.initialize(now=0.0)
    (req,) = posts(c)
    reply(c, req, error(body(req)["id"], -32022, "Unsupported", {"supported": ["2026-07-28"], "requested": "x"}), 400)
    (again,) = posts(c)
    assert body(again)["method"] == "server/discover" and body(again)["id"] != body(req)["id"]
    reply(c, again, result(body(again)["id"], DISCOVER))
    (ev,) = c.events()
    assert isinstance(ev, Initialized) and ev.era == "modern"


def test_deadline_of_a_modern_request_closes_its_stream() -> None:
    """CANCEL-06 with a deadline: the stream is aborted, no notifications/cancelled is POSTed."""
    c, _ = modern(request_timeout=5.0)
    rid, req = call(c, "tools/list", {})
    c.receive_response(req.xid, 200, SSE, now=0.0)
    c.handle_timer(now=c.get_timer())
    assert c.data_to_send() == [HttpAbort(xid=req.xid)]
    (ev,) = c.events()
    assert ev.rid == rid and type(ev.error).__name__ == "RequestTimeout"


# -- MRTR: InputRequiredResult (SEP-2322) ----------------------------------------------------

ASK = {"confirm": {"method": "elicitation/create", "params": {"message": "ok?", "requestedSchema": {}}}}


def _input_required(state: str | None = "opaque-\u00e9-state", requests: dict | None = ASK) -> dict:
    r: dict = {"resultType": "input_required"}
    if requests is not None:
        r["inputRequests"] = requests
    if state is not None:
        r["requestState"] = state
    return r


def test_mrtr_round_trip_echoes_state_under_a_new_id() -> None:
    """SEP-2322: an InputRequiredResult becomes an InputRequired event; answer_input retries with
    inputResponses and the byte-exact requestState under a new JSON-RPC id, keeping the caller's
    params; the final result arrives under the caller's request id."""
    c, _ = modern()
    rid, req = call(c, "tools/call", {"name": "t", "arguments": {"x": 1}})
    reply(c, req, result(body(req)["id"], _input_required()))
    (ev,) = c.events()
    assert isinstance(ev, InputRequired) and ev.rid == rid and ev.requests == ASK
    assert posts(c) == []
    c.answer_input(rid, {"confirm": {"action": "accept", "content": {}}}, now=0.0)
    (again,) = posts(c)
    b = body(again)
    assert b["id"] != body(req)["id"] and b["params"]["arguments"] == {"x": 1}
    assert b["params"]["inputResponses"] == {"confirm": {"action": "accept", "content": {}}}
    assert b["params"]["requestState"] == "opaque-\u00e9-state"
    reply(c, again, result(b["id"], {"resultType": "complete", "content": []}))
    (done,) = c.events()
    assert done == RequestResult(rid=rid, result={"resultType": "complete", "content": []})


def test_mrtr_without_state_omits_it_and_multi_round() -> None:
    """No requestState in the result: none in the retry; a second round works the same way."""
    c, _ = modern()
    rid, req = call(c, "tools/call", {"name": "t", "arguments": {}})
    reply(c, req, result(body(req)["id"], _input_required(state=None)))
    c.events()
    c.answer_input(rid, {"confirm": {"action": "decline"}}, now=0.0)
    (r2,) = posts(c)
    assert "requestState" not in body(r2)["params"]
    reply(c, r2, result(body(r2)["id"], _input_required(state="s2")))
    (ev,) = c.events()
    assert isinstance(ev, InputRequired)
    c.answer_input(rid, {"confirm": {"action": "accept", "content": {}}}, now=0.0)
    (r3,) = posts(c)
    assert body(r3)["params"]["requestState"] == "s2" and len({body(x)["id"] for x in (req, r2, r3)}) == 3


def test_mrtr_state_only_retries_after_a_delay() -> None:
    """requestState without inputRequests: retried (without inputResponses) once the timer fires."""
    c, _ = modern()
    rid, req = call(c, "tools/call", {"name": "t"})
    reply(c, req, result(body(req)["id"], _input_required(requests=None)))
    assert c.events() == [] and posts(c) == []
    when = c.get_timer()
    assert when is not None and 0 < when <= 0.25
    c.handle_timer(now=when)
    (again,) = posts(c)
    assert body(again)["params"]["requestState"] == "opaque-\u00e9-state"
    assert "inputResponses" not in body(again)["params"]


def test_mrtr_rounds_are_bounded() -> None:
    """A server that never stops asking fails the request after max_input_rounds."""
    c, _ = modern(max_input_rounds=2)
    rid, req = call(c, "tools/call", {"name": "t"})
    for _ in range(2):
        reply(c, req, result(body(req)["id"], _input_required()))
        assert isinstance(c.events()[0], InputRequired)
        c.answer_input(rid, {"confirm": {}}, now=0.0)
        (req,) = posts(c)
    reply(c, req, result(body(req)["id"], _input_required()))
    (ev,) = c.events()
    assert isinstance(ev, RequestFailed) and "max_input_rounds" in str(ev.error)


@pytest.mark.parametrize("res", [
    {"resultType": "input_required"},
    {"resultType": "input_required", "inputRequests": {"a": 1}},
    {"resultType": "input_required", "inputRequests": ASK, "requestState": 7},
])
def test_mrtr_malformed_input_required_fails(res: dict) -> None:
    """An input_required result that cannot be answered fails the request with StreamProtocolError."""
    c, _ = modern()
    rid, req = call(c, "tools/call", {"name": "t"})
    reply(c, req, result(body(req)["id"], res))
    (ev,) = c.events()
    assert isinstance(ev, RequestFailed) and isinstance(ev.error, StreamProtocolError)


def test_mrtr_answer_misuse_raises() -> None:
    """answer_input for a request not waiting for input, or with other keys: LocalProtocolError."""
    c, _ = modern()
    rid, req = call(c, "tools/call", {"name": "t"})
    with pytest.raises(LocalProtocolError):
        c.answer_input(rid, {}, now=0.0)
    reply(c, req, result(body(req)["id"], _input_required()))
    c.events()
    with pytest.raises(LocalProtocolError):
        c.answer_input(rid, {"other": {}}, now=0.0)
    with pytest.raises(LocalProtocolError):
        c.answer_input(999, {"confirm": {}}, now=0.0)
    c.answer_input(rid, {"confirm": {}}, now=0.0)
    with pytest.raises(LocalProtocolError):
        c.answer_input(rid, {"confirm": {}}, now=0.0)  # a second answer


def test_auto_falls_back_on_a_2xx_discover_result_without_versions() -> None:
    """era="auto" (the default): a 2xx result to server/discover that lists no supportedVersions
    is not a DiscoverResult (a session-era server answering anything): initialize under the
    same request id."""
    c = Client(ClientConfig(url=URL, era_cache=EraCache()))
    assert c.config.era == "auto"
    rid = c.initialize(now=0.0)
    (req,) = posts(c)
    assert body(req)["method"] == "server/discover"
    reply(c, req, result(body(req)["id"], {}))
    (init,) = posts(c)
    assert body(init)["method"] == "initialize" and body(init)["id"] == rid
