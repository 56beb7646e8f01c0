"""The official MCP Python SDK (``mcp`` 2.x) as a peer server for client interop tests.

    python tests/py_sdk_peer_server.py PORT [--json]

``MCPServer`` under uvicorn on 127.0.0.1 with stateful sessions, a small
in-memory event store (so streams are resumable) and ``retry_interval`` 100 ms.
Tools: ``echo``, ``add``, ``countdown`` (progress), ``ask_name`` (elicitation)
and ``drop_stream`` (closes its own SSE stream mid-call, so the client must
resume with GET + Last-Event-ID). Prints its URL as the first stdout line.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http import EventMessage, EventStore
from pydantic import BaseModel


class MemoryStore(EventStore):
    """Every event kept in order; ids are global sequence numbers."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, object]] = []  # (event id, stream id, message)
        self.seq = itertools.count(1)

    async def store_event(self, stream_id, message):  # type: ignore[no-untyped-def]
        eid = str(next(self.seq))
        self.events.append((eid, stream_id, message))
        return eid

    async def replay_events_after(self, last_event_id, send_callback):  # type: ignore[no-untyped-def]
        stream = None
        found = False
        for eid, sid, message in self.events:
            if eid == last_event_id:
                stream, found = sid, True
                continue
            if found and sid == stream and message is not None:
                await send_callback(EventMessage(message, eid))
        return stream


class Name(BaseModel):
    name: str


def build_app(json_response: bool):
    server = MCPServer("py-sdk-peer", log_level="WARNING")

    @server.tool(description="Return the text you send.", structured_output=False)
    def echo(text: str) -> str:
        return text

    @server.tool(description="Add two numbers.", structured_output=False)
    def add(a: float, b: float) -> str:
        return str(a + b)

    @server.tool(description="Count down with progress.", structured_output=False)
    async def countdown(n: int, ctx: Context, delay: float = 0.01) -> str:
        for i in range(n):
            await ctx.report_progress(i + 1, n, f"{n - i - 1} to go")
            await asyncio.sleep(delay)
        return "liftoff"

    @server.tool(description="Ask the user for a name.", structured_output=False)
    async def ask_name(ctx: Context) -> str:
        res = await ctx.elicit("What is your name?", Name)
        if res.action == "accept":
            return f"Hello, {res.data.name}!"
        return "Maybe next time."

    @server.tool(description="Close this call's SSE stream mid-call, then finish.", structured_output=False)
    async def drop_stream(ctx: Context, n: int = 3) -> str:
        await ctx.report_progress(1, n)
        await ctx.close_sse_stream()
        for i in range(2, n + 1):
            await asyncio.sleep(0.05)
            await ctx.report_progress(i, n)
        return "resumed"

    return server.streamable_http_app(json_response=json_response, stateless_http=False,
                                      event_store=MemoryStore(), retry_interval=100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("port", type=int)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    app = build_app(args.json)
    print(f"py-sdk MCP server on http://127.0.0.1:{args.port}/mcp", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, workers=1)


if __name__ == "__main__":
    main()
