"""Issue 10's core items: peer numbers, request targets, Host syntax, per-client session quota.

Each boundary is tested on both sides: the last accepted value and the first refused one.
"""

from __future__ import annotations

import pytest

from _server_harness import ACCEPT_BOTH, Harness
from streamcore.events import RequestReceived, ResponseData, ResponseEnd, ResponseHead
from streamcore.server import Server, ServerConfig
from streamcore.store import MemoryEventStore

PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}


def raw(server: Server, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b"",
        **kw: object) -> tuple[int | None, bytes]:
    """One exchange straight through the public core; returns (status, body)."""
    xid = server.receive_request(method, target, headers, now=1.0, **kw)  # type: ignore[arg-type]
    if body:
        server.receive_body(xid, body)
    server.receive_end(xid, now=1.0)
    status, out = None, b""
    while (ev := server.next_event()) is not None:
        if isinstance(ev, ResponseHead) and ev.xid == xid:
            status = ev.status
        elif isinstance(ev, ResponseData) and ev.xid == xid:
            out += ev.data
        elif isinstance(ev, (ResponseEnd, RequestReceived)):
            pass
    return status, out


def post_headers(host: bytes = b"127.0.0.1:8000") -> list[tuple[bytes, bytes]]:
    return [(b"host", host), (b"accept", ACCEPT_BOTH), (b"content-type", b"application/json")]


# --- Last-Event-ID: ASCII digits, bounded --------------------------------------------


@pytest.mark.parametrize("value", [b"0.\xb2", b"0.\xc2\xb2", b"\xd9\xa1.1", b"0.+1", b"0. 1", b"0.1_0", b"0.",
                                   b".1", b"0.1" + b"0" * 19, b"1" * 5000 + b".1", b"0." + b"1" * 5000, b"0.-1"])
def test_last_event_id_not_ascii_digits_is_400(value: bytes) -> None:
    """Issue 10: a Last-Event-ID that is not <digits>.<digits> of at most 19 digits each gets 400,
    never an exception (int() takes Unicode digits, signs, underscores; thousands of digits raise)."""
    h = Harness(event_store=MemoryEventStore())
    sid = h.initialize()
    h.send(b"GET", session=sid, version="2025-11-25", accept=b"text/event-stream")  # stream "0" exists
    r = h.send(b"GET", session=sid, version="2025-11-25", accept=b"text/event-stream",
               headers=[(b"last-event-id", value)])
    assert r.status == 400 and r.ended


def test_last_event_id_at_the_digit_bound_is_read() -> None:
    """19 digits is still a number (a resume past everything we sent: nothing to replay, 200)."""
    h = Harness(event_store=MemoryEventStore())
    sid = h.initialize()
    h.send(b"GET", session=sid, version="2025-11-25", accept=b"text/event-stream")  # stream "0" exists
    r = h.send(b"GET", session=sid, version="2025-11-25", accept=b"text/event-stream",
               headers=[(b"last-event-id", b"0." + b"9" * 19)])
    assert r.status == 200


@pytest.mark.parametrize("length,status", [(b"9" * 19, 413), (b"9" * 20, 413), (b"1" * 5000, 413)])
def test_huge_content_length_is_413_not_a_crash(length: bytes, status: int) -> None:
    """Issue 10: a 5,000-digit Content-Length is over any limit: 413 at the head, no exception."""
    s = Server(ServerConfig())
    xid = s.receive_request(b"POST", b"/mcp", post_headers() + [(b"content-length", length)], now=1.0)
    ev = s.next_event()
    assert isinstance(ev, ResponseHead) and ev.xid == xid and ev.status == status


def test_content_length_at_the_body_limit_passes_the_head() -> None:
    """Exactly max_body_size in Content-Length is accepted at the head; one more is 413."""
    s = Server(ServerConfig(max_body_size=100))
    s.receive_request(b"POST", b"/mcp", post_headers() + [(b"content-length", b"100")], now=1.0)
    assert s.next_event() is None
    s.receive_request(b"POST", b"/mcp", post_headers() + [(b"content-length", b"101")], now=1.0)
    ev = s.next_event()
    assert isinstance(ev, ResponseHead) and ev.status == 413


# --- request targets ---------------------------------------------------------------------


def test_only_the_configured_path_is_served() -> None:
    """Issue 10: POST /anything gets 404; the query string is not part of the path."""
    s = Server(ServerConfig())
    assert raw(s, b"POST", b"/anything", post_headers(), b'{"jsonrpc":"2.0","method":"x"}')[0] == 404
    assert raw(s, b"POST", b"/mcp/", post_headers(), b'{"jsonrpc":"2.0","method":"x"}')[0] == 404
    assert raw(s, b"POST", b"/mcp?x=1", post_headers(), b'{"jsonrpc":"2.0","method":"x"}')[0] != 404


def test_endpoint_paths_setting() -> None:
    """ServerConfig.endpoint_paths lists the paths; None serves any path."""
    s = Server(ServerConfig(endpoint_paths=("/a", "/b")))
    assert raw(s, b"POST", b"/b", post_headers(), b'{"jsonrpc":"2.0","method":"x"}')[0] != 404
    assert raw(s, b"POST", b"/mcp", post_headers(), b'{"jsonrpc":"2.0","method":"x"}')[0] == 404
    s = Server(ServerConfig(endpoint_paths=None))
    assert raw(s, b"POST", b"/whatever", post_headers(), b'{"jsonrpc":"2.0","method":"x"}')[0] != 404


@pytest.mark.parametrize("method", [b"POST", b"GET", b"DELETE"])
def test_asterisk_form_outside_options_is_400(method: bytes) -> None:
    """RFC 9112 3.2.4: asterisk-form is only for OPTIONS."""
    s = Server(ServerConfig())
    status, body = raw(s, method, b"*", post_headers())
    assert status == 400 and b"asterisk" in body


@pytest.mark.parametrize("target", [b"mcp", b"127.0.0.1:8000", b"ftp://127.0.0.1/mcp", b"http://u@127.0.0.1/mcp"])
def test_malformed_targets_are_400(target: bytes) -> None:
    """Neither origin-, absolute- nor asterisk-form (or userinfo in the authority): 400."""
    s = Server(ServerConfig())
    status, body = raw(s, b"POST", target, post_headers())
    assert status == 400 and b"target" in body


def test_absolute_form_authority_replaces_host() -> None:
    """RFC 9112 3.2.2: the authority of an absolute-form target replaces Host, and goes through
    the Host check: an allowed authority with a foreign Host passes, a foreign authority is 403."""
    s = Server(ServerConfig())
    body = b'{"jsonrpc":"2.0","method":"notifications/x"}'
    assert raw(s, b"POST", b"http://127.0.0.1:8000/mcp", post_headers(b"evil.example"), body)[0] == 400  # no session
    assert raw(s, b"POST", b"http://evil.example/mcp", post_headers(), body)[0] == 403
    assert raw(s, b"POST", b"http://127.0.0.1:8000/other", post_headers(), body)[0] == 404


# --- Host syntax -------------------------------------------------------------------------------


@pytest.mark.parametrize("host", [b"[::1]evil.example", b"[::1", b"[evil]", b"a b", b"127.0.0.1:80:80",
                                  b"127.0.0.1:123456", b"127.0.0.1:99999", b"h\xc3\xa9"])
def test_malformed_host_is_400(host: bytes) -> None:
    """Issue 10, RFC 9112 3.2: a malformed Host is 400, checked even with the Host allow-list off."""
    for cfg in (ServerConfig(), ServerConfig(allowed_hosts=None)):
        s = Server(cfg)
        status, body = raw(s, b"POST", b"/mcp", post_headers(host), b'{"jsonrpc":"2.0","method":"x"}')
        assert status == 400 and b"malformed Host" in body


@pytest.mark.parametrize("host", [b"[::1]:8000", b"[::1]", b"localhost", b"127.0.0.1:65535", b"localhost:"])
def test_wellformed_loopback_hosts_pass(host: bytes) -> None:
    """The boundary on the other side: valid loopback Host values are not refused at the head."""
    s = Server(ServerConfig())
    status, body = raw(s, b"POST", b"/mcp", post_headers(host), b'{"jsonrpc":"2.0","method":"notifications/x"}')
    assert status == 400 and b"Mcp-Session-Id" in body  # past the Host checks: refused for the missing session


# --- per-client session quota ------------------------------------------------------------


def _init(s: Server, client: object) -> tuple[int | None, str | None]:
    import json

    xid = s.receive_request(b"POST", b"/mcp", post_headers(), now=1.0, client=client)
    s.receive_body(xid, json.dumps(INIT).encode())
    s.receive_end(xid, now=1.0)
    status, sid = None, None
    while (ev := s.next_event()) is not None:
        if isinstance(ev, ResponseHead) and ev.xid == xid:
            status = ev.status
            sid = dict(ev.headers).get(b"mcp-session-id", b"").decode() or None
        elif isinstance(ev, RequestReceived):
            s.respond(ev.handle, {"protocolVersion": "2025-11-25", "capabilities": {},
                                  "serverInfo": {"name": "s", "version": "0"}}, now=1.0)
    return status, sid


def test_session_quota_is_off_by_default() -> None:
    """Default: no per-client quota, one address may open many sessions."""
    s = Server(ServerConfig())
    assert [_init(s, "10.0.0.1")[0] for _ in range(5)] == [200] * 5


def test_session_quota_per_address_at_the_boundary() -> None:
    """max_sessions_per_client=2: the second session of an address is served, the third gets 429;
    another address is unaffected; closing a session frees a slot."""
    s = Server(ServerConfig(max_sessions_per_client=2))
    got = [_init(s, "10.0.0.1") for _ in range(3)]
    assert [g[0] for g in got] == [200, 200, 429]
    assert _init(s, "10.0.0.2")[0] == 200
    assert _init(s, None)[0] == 200  # no address given: no quota applies
    sid = got[0][1]
    assert sid is not None
    s.close_session(sid, now=1.0)
    while s.next_event() is not None:
        pass
    assert _init(s, "10.0.0.1")[0] == 200
    assert _init(s, "10.0.0.1")[0] == 429


def test_session_quota_per_identity() -> None:
    """With authenticate, the quota counts per identity, whatever the address."""
    s = Server(ServerConfig(max_sessions_per_client=1, authenticate=lambda h: dict(h).get(b"authorization")))
    import json

    def init(token: bytes, client: str) -> int | None:
        xid = s.receive_request(b"POST", b"/mcp", post_headers() + [(b"authorization", token)], now=1.0, client=client)
        s.receive_body(xid, json.dumps(INIT).encode())
        s.receive_end(xid, now=1.0)
        status = None
        while (ev := s.next_event()) is not None:
            if isinstance(ev, ResponseHead) and ev.xid == xid:
                status = ev.status
            elif isinstance(ev, RequestReceived):
                s.respond(ev.handle, {"protocolVersion": "2025-11-25"}, now=1.0)
        return status

    assert init(b"alice", "1.1.1.1") == 200
    assert init(b"alice", "2.2.2.2") == 429
    assert init(b"bob", "1.1.1.1") == 200
