"""The public sans-IO client API's conventions: ``now=`` required, misuse raises
:class:`streamcore.LocalProtocolError`, events are frozen keyword-only nouns that
validate their fields when a user builds them, headers are lower-case bytes."""

from __future__ import annotations

import dataclasses
import inspect
import json

import pytest

import streamcore.client as client_module
from streamcore import LocalProtocolError
from streamcore.client import (
    Client,
    ClientConfig,
    Closed,
    HttpAbort,
    HttpRequest,
    Initialized,
    InputRequired,
    McpError,
    RequestFailed,
    RequestResult,
    ServerNotification,
    ServerRequest,
    SessionExpired,
    StreamProtocolError,
)

URL = "http://127.0.0.1:9/mcp"
JSON = [(b"content-type", b"application/json")]
SSE = [(b"content-type", b"text/event-stream")]


def ready() -> tuple[Client, HttpRequest]:
    """A session-era client past initialize, with one tools/call POST outstanding."""
    c = Client(ClientConfig(url=URL, era="legacy"))
    c.initialize(now=0.0)
    (init,) = c.data_to_send()
    rid = json.loads(init.body or b"")["id"]
    c.receive_response(init.xid, 200, JSON + [(b"mcp-session-id", b"S")], now=0.0)
    c.receive_data(init.xid, json.dumps({"jsonrpc": "2.0", "id": rid, "result": {
        "protocolVersion": "2025-11-25", "capabilities": {}}}).encode(), now=0.0)
    c.receive_data(init.xid, b"", now=0.0)
    (note,) = c.data_to_send()
    c.receive_response(note.xid, 202, [], now=0.0)
    c.receive_data(note.xid, b"", now=0.0)
    c.send_request("tools/call", {"name": "t"}, now=0.0)
    (req,) = c.data_to_send()
    c.events()
    return c, req


def test_now_is_a_required_keyword_everywhere() -> None:
    """Every Client method that can depend on time takes ``now`` as a required keyword-only
    argument (no default: a forgotten clock fails loudly, not with RequestTimeout later)."""
    timed = ["initialize", "send_request", "send_notification", "respond", "respond_error", "answer_input",
             "cancel", "close", "handle_timer", "receive_response", "receive_data", "receive_error"]
    for name in timed:
        p = inspect.signature(getattr(Client, name)).parameters["now"]
        assert p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty, name
    c = Client(ClientConfig(url=URL))
    with pytest.raises(TypeError):
        c.send_request("tools/list", {})  # type: ignore[call-arg]


def test_headers_are_lower_case_bytes() -> None:
    """HttpRequest headers are list[tuple[bytes, bytes]] with lower-case names, caller headers too."""
    c = Client(ClientConfig(url=URL, era="legacy", headers={"X-Trace": "1"}))
    c.initialize(now=0.0)
    (req,) = c.data_to_send()
    assert all(type(k) is bytes and type(v) is bytes and k == k.lower() for k, v in req.headers)
    assert (b"x-trace", b"1") in req.headers


def test_unknown_exchange_is_misuse() -> None:
    """Reports for an xid never issued, or for one the adapter already ended, raise."""
    c, req = ready()
    with pytest.raises(LocalProtocolError):
        c.receive_response(12345, 200, JSON, now=0.0)
    with pytest.raises(LocalProtocolError):
        c.receive_data("1", b"x", now=0.0)  # type: ignore[arg-type]
    c.receive_response(req.xid, 202, [], now=0.0)
    c.receive_data(req.xid, b"", now=0.0)
    with pytest.raises(LocalProtocolError):
        c.receive_data(req.xid, b"late", now=0.0)
    with pytest.raises(LocalProtocolError):
        c.receive_error(req.xid, "late", now=0.0)


def test_reports_after_an_abort_not_yet_taken_are_moot_then_misuse() -> None:
    """An exchange the core gave up (its HttpAbort still queued) ignores reports; once the
    adapter took the HttpAbort from data_to_send, reports are misuse."""
    c, req = ready()
    c.receive_response(req.xid, 200, SSE, now=0.0)
    c.receive_data(req.xid, b"data: {not json}\n\n", now=0.0)  # fatal: the core aborts the exchange
    c.receive_data(req.xid, b"more", now=0.0)  # moot
    assert HttpAbort(xid=req.xid) in c.data_to_send()
    with pytest.raises(LocalProtocolError):
        c.receive_data(req.xid, b"", now=0.0)


def test_second_answer_to_a_server_request_is_misuse() -> None:
    """A server request is answered once; an id the server never sent cannot be answered."""
    c, req = ready()
    c.receive_response(req.xid, 200, SSE, now=0.0)
    c.receive_data(req.xid, b'data: {"jsonrpc":"2.0","id":"q","method":"roots/list"}\n\n', now=0.0)
    (ev,) = c.events()
    assert isinstance(ev, ServerRequest) and ev.id == "q"
    assert c.respond("q", {"roots": []}, now=0.0) is not None
    with pytest.raises(LocalProtocolError):
        c.respond("q", {"roots": []}, now=0.0)
    with pytest.raises(LocalProtocolError):
        c.respond_error("q", -32603, "again", now=0.0)
    with pytest.raises(LocalProtocolError):
        c.respond("never", {}, now=0.0)


def test_unknown_rid_is_misuse() -> None:
    """cancel() of an rid never issued raises; of one that already ended does nothing."""
    c, req = ready()
    with pytest.raises(LocalProtocolError):
        c.cancel(999, now=0.0)
    with pytest.raises(LocalProtocolError):
        c.cancel("2", now=0.0)  # type: ignore[arg-type]
    rid = json.loads(req.body or b"")["id"]
    c.receive_response(req.xid, 200, JSON, now=0.0)
    c.receive_data(req.xid, json.dumps({"jsonrpc": "2.0", "id": rid, "result": {}}).encode(), now=0.0)
    c.receive_data(req.xid, b"", now=0.0)
    assert c.events() == [RequestResult(rid=rid, result={})]
    c.cancel(rid, now=0.0)  # ended: nothing to do, nothing sent
    assert c.data_to_send() == []


@pytest.mark.parametrize("make", [
    lambda: RequestResult(rid="1", result={}),
    lambda: RequestResult(rid=True, result={}),
    lambda: RequestFailed(rid=1, error="boom"),
    lambda: ServerRequest(id=1.5, method="ping", params=None),
    lambda: ServerRequest(id=1, method=None, params=None),
    lambda: ServerNotification(method=b"x", params=None),
    lambda: ServerNotification(method="x", params=None, rid="3"),
    lambda: InputRequired(rid=1, requests=[]),
    lambda: Initialized(session_id=1, protocol_version="2025-11-25", result={}),
    lambda: Initialized(session_id=None, protocol_version="2025-11-25", result={}, era="other"),
    lambda: SessionExpired(session_id=b"s"),
    lambda: HttpRequest(xid="1", method="GET", url=URL, headers=[]),
    lambda: HttpRequest(xid=1, method="GET", url=URL, headers=(), body="x"),
    lambda: HttpAbort(xid=None),
])
def test_user_built_events_validate_their_fields(make: object) -> None:
    """A user-built event with a wrong field type raises LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        make()  # type: ignore[operator]


def test_events_are_frozen_slotted_keyword_only() -> None:
    """Every event class is a frozen, slotted, keyword-only dataclass."""
    for cls in (Initialized, SessionExpired, RequestResult, RequestFailed, ServerRequest, ServerNotification,
                InputRequired, Closed, HttpRequest, HttpAbort):
        params = dataclasses.fields(cls)
        assert cls.__dataclass_params__.frozen, cls  # type: ignore[attr-defined]
        assert "__slots__" in cls.__dict__, cls
        assert all(f.kw_only for f in params), cls
    ev = RequestResult(rid=1, result={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.rid = 2  # type: ignore[misc]
    assert RequestFailed(rid=1, error=McpError(-1, "x")).rid == 1
    assert RequestFailed(rid=1, error=StreamProtocolError("x")).rid == 1


def test_public_face_exports_exactly_its_names() -> None:
    """streamcore.client exports what __all__ says, all of it defined, nothing private."""
    names = set(client_module.__all__)
    assert all(hasattr(client_module, n) for n in names)
    assert not any(n.startswith("_") for n in names)
    public = {n for n in vars(client_module) if not n.startswith("_") and n != "annotations"}
    assert public == names
