"""The demo application as an example of safe tools (issue 10): arguments are
checked against each tool's own inputSchema (-32602 with a useful message, no
traceback), countdown yields between steps even with delay 0, its total time
is bounded, and a dropped per-request-era connection cancels it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from _logwatch import no_tracebacks  # noqa: F401  (fixture)
from streamcore.aio.server import StreamableHttpServer
from streamcore.demo import TOOLS, DemoApp, validate
from streamcore.server import ServerConfig

ACCEPT = b"application/json, text/event-stream"


async def post(port: int, body: dict[str, Any], hv: list[tuple[bytes, bytes]]) -> tuple[bytes, Any]:
    data = json.dumps(body).encode()
    h = [(b"host", b"127.0.0.1"), (b"accept", ACCEPT), (b"content-type", b"application/json"),
         (b"content-length", b"%d" % len(data))] + hv
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"POST /mcp HTTP/1.1\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in h) + b"\r\n" + data)
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
    n = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    payload = await asyncio.wait_for(r.readexactly(n), 10)
    w.close()
    return head, json.loads(payload) if payload else None


async def demo(app: DemoApp | None = None) -> tuple[StreamableHttpServer, Any, int, list[tuple[bytes, bytes]]]:
    hub = StreamableHttpServer(app if app is not None else DemoApp(), ServerConfig(json_response=True))
    srv = await hub.start("127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    head, _ = await post(port, {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                                "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}, [])
    i = head.lower().index(b"mcp-session-id: ") + len(b"mcp-session-id: ")
    sid = head[i:head.index(b"\r\n", i)]
    return hub, srv, port, [(b"mcp-session-id", sid), (b"mcp-protocol-version", b"2025-11-25")]


def call(name: Any, arguments: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}


BAD = [
    ("countdown", {"n": 10**9, "delay": 0}, "arguments.n must be at most 1000"),
    ("countdown", {"n": 10, "delay": 1e9}, "arguments.delay must be at most 5"),
    ("countdown", {"n": 1000, "delay": 5}, "n x delay must be at most 60 s"),
    ("countdown", {"n": "3"}, "arguments.n must be an integer, not str"),
    ("countdown", {"n": True}, "arguments.n must be an integer, not bool"),
    ("countdown", {}, "arguments.n is required"),
    ("blob", {"size": 4194305}, "arguments.size must be at most 4194304"),
    ("blob", {"size": -1}, "arguments.size must be at least 0"),
    ("add", {"a": "1", "b": 2}, "arguments.a must be a number, not str"),
    ("add", {"a": 1, "b": 2, "c": 3}, "unknown field(s): c"),
    ("echo", {"text": 5}, "arguments.text must be a string, not int"),
    ("echo", [1], "arguments must be an object, not list"),
    ("nope", {}, "Unknown tool: 'nope'"),
    (7, {}, "Unknown tool: 7"),
]


@pytest.mark.parametrize("name,arguments,message", BAD)
def test_bad_arguments_get_32602_with_a_message(name: Any, arguments: Any, message: str, no_tracebacks: Any) -> None:
    """Issue 10: out-of-schema arguments (the 10^9 countdown, the endless delay, the
    oversized blob, wrong types) get -32602 saying what is wrong, at once."""
    async def body() -> Any:
        hub, srv, port, hv = await demo()
        try:
            _, msg = await post(port, call(name, arguments), hv)
            return msg
        finally:
            srv.close()
            await hub.aclose(0)
    msg = asyncio.run(asyncio.wait_for(body(), 10))
    assert msg["error"]["code"] == -32602, msg
    assert message in msg["error"]["message"], msg


def test_good_arguments_still_work(no_tracebacks: Any) -> None:
    """Conforming arguments run: add, echo, blob at its maximum, countdown with delay 0."""
    async def body() -> list[Any]:
        hub, srv, port, hv = await demo()
        try:
            out = []
            for name, args in (("add", {"a": 2, "b": 40.5}), ("echo", {"text": "hi"}),
                               ("blob", {"size": 4194304}), ("countdown", {"n": 1000, "delay": 0})):
                _, msg = await post(port, call(name, args), hv)
                out.append(msg["result"]["content"][0]["text"])
            return out
        finally:
            srv.close()
            await hub.aclose(0)
    out = asyncio.run(asyncio.wait_for(body(), 20))
    assert out[0] == "42.5" and out[1] == "hi" and len(out[2]) == 4194304 and out[3] == "liftoff"


def test_countdown_yields_to_other_requests(no_tracebacks: Any) -> None:
    """A 1,000-step countdown with delay 0 does not freeze the loop: a ping sent
    once the countdown has started is answered before the countdown ends.

    The ping waits for the countdown's handler to start (not for a fixed time:
    on a fast path the whole countdown can end within a few milliseconds), and
    then needs a handful of loop iterations against the countdown's 1,000."""
    class Watched(DemoApp):
        def __init__(self) -> None:
            self.started = asyncio.Event()

        async def handle_request(self, ctx: Any) -> Any:
            if ctx.method == "tools/call":
                self.started.set()
            return await super().handle_request(ctx)

    async def body() -> list[str]:
        app = Watched()
        hub, srv, port, hv = await demo(app)
        order: list[str] = []
        try:
            async def countdown() -> None:
                await post(port, {**call("countdown", {"n": 1000, "delay": 0}),
                                  "params": {"name": "countdown", "arguments": {"n": 1000, "delay": 0},
                                             "_meta": {"progressToken": 1}}}, hv)
                order.append("countdown")

            async def ping() -> None:
                await asyncio.wait_for(app.started.wait(), 10)
                await post(port, {"jsonrpc": "2.0", "id": 9, "method": "ping"}, hv)
                order.append("ping")
            await asyncio.gather(countdown(), ping())
            return order
        finally:
            srv.close()
            await hub.aclose(0)
    assert asyncio.run(asyncio.wait_for(body(), 20)) == ["ping", "countdown"]


def test_validate_matches_every_tool_schema() -> None:
    """Every tool's schema is one validate() understands: each accepts a minimal
    valid call and refuses an unknown field."""
    minimal = {"echo": {"text": ""}, "add": {"a": 0, "b": 0}, "countdown": {"n": 0}, "ask_name": {}, "blob": {"size": 0},
               "route": {"region": "eu"}, "announce": {}}
    for tool in TOOLS:
        assert validate(tool["inputSchema"], minimal[tool["name"]]) is None
        assert validate(tool["inputSchema"], {**minimal[tool["name"]], "zz": 1}) is not None
