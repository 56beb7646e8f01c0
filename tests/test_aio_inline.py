"""``App.run_first_step_inline`` (issue 15): a handler's first step runs without a task,
and one that suspends goes on in a task, with the same results, errors, cancellation
(CANCEL-02) and context isolation as a handler started in a task. On Python 3.12+
every handler starts eagerly in its task and the attribute is not read; the tests
hold there too."""

from __future__ import annotations

import asyncio
import contextvars
import json
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from streamcore.aio import McpError, RequestContext, StreamableHttpServer

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")
ACCEPT = "application/json, text/event-stream"


class App:
    run_first_step_inline = True

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.cancelled = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_request(self, ctx: RequestContext) -> Any:
        if ctx.method == "initialize":
            return {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "t", "version": "0"}}
        name = ctx.params["name"]
        self.seen.append(VAR.get())  # never what an earlier handler set
        VAR.set(name)
        if name == "now":
            return {"content": []}
        if name == "fails":
            raise McpError(-32602, "no such thing")
        if name == "crashes":
            raise RuntimeError("boom")
        if name == "later":
            await asyncio.sleep(0.01)
            await asyncio.sleep(0)
            assert VAR.get() == "later"  # its context goes on with it into the task
            return {"content": [{"type": "text", "text": "later"}]}
        try:  # "waits": until cancelled
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return {}

    async def handle_notification(self, session_id: str | None, method: str, params: Any) -> None:
        pass


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: dict, sid: str | None,
                read: bool = True) -> tuple[bytes, bytes]:
    raw = json.dumps(body).encode()
    extra = f"Mcp-Session-Id: {sid}\r\nMCP-Protocol-Version: 2025-11-25\r\n" if sid else ""
    writer.write((f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {ACCEPT}\r\nContent-Type: application/json\r\n"
                  f"{extra}Content-Length: {len(raw)}\r\n\r\n").encode() + raw)
    if not read:
        return b"", b""
    head = await reader.readuntil(b"\r\n\r\n")
    body_out = b""
    if b"chunked" in head:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            body_out += (await reader.readexactly(size + 2))[:size]
            if size == 0:
                break
    return head, body_out


@asynccontextmanager
async def served() -> AsyncIterator[tuple[App, int]]:
    app = App()
    hub = StreamableHttpServer(app)
    srv = await hub.start("127.0.0.1", 0)
    try:
        yield app, srv.sockets[0].getsockname()[1]
    finally:
        await hub.aclose(0.5)


def _call(i: int, name: str) -> dict:
    return {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": name, "arguments": {}}}


def test_inline_handlers_answer_fail_and_suspend_as_tasks_do() -> None:
    """Synchronous answers, McpError, a crash (-32603, logged), and a handler that
    suspends: each gets the answer a task-started handler gets, and no handler sees
    a context variable another one set."""
    asyncio.run(asyncio.wait_for(_answers(), 20))


async def _answers() -> None:
    async with served() as (app, port):
        await _answers_on(app, port)


async def _answers_on(app: App, port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head, _ = await _post(reader, writer, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}, None)
        sid = head.split(b"mcp-session-id: ")[1].split(b"\r\n")[0].decode()
        out = {}
        for i, name in enumerate(["now", "fails", "crashes", "later", "now"], start=2):
            _, body = await _post(reader, writer, _call(i, name), sid)
            out[i] = json.loads(body.split(b"data: ", 1)[1])
        assert out[2]["result"] == {"content": []} and out[6]["result"] == {"content": []}
        assert out[3]["error"]["code"] == -32602
        assert out[4]["error"] == {"code": -32603, "message": "Internal error"}
        assert out[5]["result"]["content"][0]["text"] == "later"
        assert app.seen == ["unset"] * 5
    finally:
        writer.close()


def test_a_suspended_inline_handler_is_cancelled_by_the_client() -> None:
    """CANCEL-02: notifications/cancelled reaches a handler that suspended in its
    first step (now running in a task) as CancelledError."""
    asyncio.run(asyncio.wait_for(_cancel(), 20))


async def _cancel() -> None:
    async with served() as (app, port):
        await _cancel_on(app, port)


async def _cancel_on(app: App, port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    r2, w2 = await asyncio.open_connection("127.0.0.1", port)
    try:
        head, _ = await _post(reader, writer, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}, None)
        sid = head.split(b"mcp-session-id: ")[1].split(b"\r\n")[0].decode()
        await _post(reader, writer, _call(7, "waits"), sid, read=False)
        await asyncio.sleep(0.05)
        await _post(r2, w2, {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}}, sid)
        await asyncio.wait_for(app.cancelled.wait(), 5)
    finally:
        writer.close()
        w2.close()
