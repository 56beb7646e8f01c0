"""The reference for the e2e benchmark: a bare uvloop + httptools server.

    python benches/e2e/bare_server.py [PORT] [--json]

It answers the benchmark's requests with the same bytes streamcore's demo
server sends (status line, header fields in the same order, the same chunked
SSE framing or Content-Length JSON body), and does the least work that can
produce them: httptools parses the request, ``json.loads`` the body (the id
and the echo text must come from the request), and the reply is formatted
from a template. It keeps no sessions beyond handing out one id, checks no
policy and runs no handler task: the ceiling an MCP server in Python on this
loop could reach, not a server anyone should deploy.

* ``initialize``: a session id and a fixed initialize result;
* a notification: ``202 Accepted``;
* ``tools/call``: the echo result, over SSE (default) or JSON (``--json``);
  with ``MCP-Protocol-Version: 2026-07-28`` (the per-request era) always JSON
  with ``resultType`` ``complete``, as the demo answers.
"""

from __future__ import annotations

import asyncio
import json
import sys

import httptools
import uvloop

SID = b"bare0000000000000000000000000000"
MODERN = b"2026-07-28"
DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

SSE_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache, no-transform\r\n"
            b"x-accel-buffering: no\r\nmcp-session-id: " + SID + b"\r\ntransfer-encoding: chunked\r\n\r\n")
ACCEPTED = b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"


def _json_reply(body: bytes, session: bool) -> bytes:
    sid = b"mcp-session-id: " + SID + b"\r\n" if session else b""
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s"
            % (len(body), sid, body))


def _sse_reply(body: bytes) -> bytes:
    event = b"data: " + body + b"\n\n"
    return SSE_HEAD + b"%x\r\n%s\r\n0\r\n\r\n" % (len(event), event)


def _answer(msg: dict, modern: bool, json_mode: bool) -> bytes:
    if "id" not in msg:
        return ACCEPTED
    rid = msg["id"]
    method = msg.get("method")
    if method == "initialize":
        result: dict = {"protocolVersion": "2025-11-25",
                        "capabilities": {"tools": {"listChanged": False}, "logging": {}},
                        "serverInfo": {"name": "streamcore-demo", "version": "0.1.0.dev0"}}
    else:
        text = msg["params"]["arguments"]["text"]
        result = {"content": [{"type": "text", "text": text}], "isError": False}
        if modern:
            result = {"resultType": "complete", **result}
    body = DUMPS({"jsonrpc": "2.0", "id": rid, "result": result}).encode()
    if modern or json_mode:
        return _json_reply(body, not modern)
    return _sse_reply(body)


class Bare(asyncio.Protocol):
    json_mode = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t: asyncio.Transport = transport  # type: ignore[assignment]
        self.p = httptools.HttpRequestParser(self)
        self.body: list[bytes] = []
        self.modern = False

    def data_received(self, data: bytes) -> None:
        try:
            self.p.feed_data(data)
        except httptools.HttpParserError:
            self.t.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            self.t.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.body = []
        self.modern = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if value == MODERN and name.lower() == b"mcp-protocol-version":
            self.modern = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.t.write(_answer(json.loads(b"".join(self.body)), self.modern, self.json_mode))


async def main(port: int) -> None:
    srv = await asyncio.get_running_loop().create_server(Bare, "127.0.0.1", port)
    print(f"bare uvloop+httptools server on http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/mcp", flush=True)
    await srv.serve_forever()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    Bare.json_mode = "--json" in sys.argv
    try:
        uvloop.run(main(int(args[0]) if args else 0))
    except KeyboardInterrupt:
        pass
