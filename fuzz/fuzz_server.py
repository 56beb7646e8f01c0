"""The server core's exchange path, through streamcore.server: a fuzzed request
(method, target, headers, body) always gets exactly one response head and end,
and never raises; a session initialized first makes the follow-up paths reachable."""

from __future__ import annotations

import json

import _common  # noqa: F401  (sys.path)

with _common.instrumented():
    from streamcore.events import ResponseEnd, ResponseHead
    from streamcore.server import Server, ServerConfig


METHODS = [b"POST", b"GET", b"DELETE", b"PUT", b"OPTIONS", b"HEAD"]
NAMES = [b"host", b"accept", b"content-type", b"mcp-session-id", b"mcp-protocol-version", b"last-event-id",
         b"origin", b"content-length", b"x-other"]
INIT = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                   "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}).encode()
GOOD = [(b"host", b"127.0.0.1"), (b"accept", b"application/json, text/event-stream"),
        (b"content-type", b"application/json")]


def drain(core: Server, xid: int) -> tuple[int, int]:
    heads = ends = 0
    while (ev := core.next_event()) is not None:
        if isinstance(ev, ResponseHead) and ev.xid == xid:
            heads += 1
        elif isinstance(ev, ResponseEnd) and ev.xid == xid:
            ends += 1
    return heads, ends


def target(data: bytes) -> None:
    if len(data) < 3:
        return
    core = Server(ServerConfig(json_response=bool(data[0] & 1), allowed_hosts=frozenset({"127.0.0.1"})))
    now = 1.0
    xid = core.receive_request(b"POST", b"/mcp", [*GOOD, (b"content-length", b"%d" % len(INIT))], now=now)
    core.receive_body(xid, INIT)
    core.receive_end(xid, now=now)
    sid = b""
    while (ev := core.next_event()) is not None:
        if isinstance(ev, ResponseHead):
            sid = dict(ev.headers).get(b"mcp-session-id", b"")
    method = METHODS[data[1] % len(METHODS)]
    rest = data[3:]
    n_headers = data[2] % 8
    parts = rest.split(b"\n", n_headers + 1)
    headers = list(GOOD) if data[0] & 2 else []
    for i, part in enumerate(parts[:n_headers]):
        name = NAMES[i % len(NAMES)]
        value = part.replace(b"{sid}", sid)
        headers.append((name, value))
    if data[0] & 4 and sid:
        headers.append((b"mcp-session-id", sid))
        headers.append((b"mcp-protocol-version", b"2025-11-25"))
    body = parts[n_headers] if len(parts) > n_headers else b""
    target_ = b"/mcp" if data[0] & 8 else (parts[0][:40] or b"/")
    xid = core.receive_request(method, target_, headers, now=now)
    if body:
        core.receive_body(xid, body)
    core.receive_end(xid, now=now)
    heads, ends = drain(core, xid)
    # A request may leave a stream open (SSE, GET) or wait for the application;
    # it never gets two heads or two ends.
    assert heads <= 1 and ends <= 1, (heads, ends)
    core.connection_lost(xid, now=now + 1)
    core.handle_timer(now=now + 10_000)
    drain(core, xid)


if __name__ == "__main__":
    _common.main(target, "server")
