"""The demo MCP server behind ``python -m streamcore serve``.

A deliberately small application on the :class:`streamcore.aio.App` seam: it
answers ``initialize`` and ``ping``, lists and calls a handful of tools that
exercise the transport (progress notifications on the POST stream, an
elicitation round trip, a large result), and keeps nothing but what the
transport itself keeps.
"""

from __future__ import annotations

import asyncio
from typing import Any

from . import __version__
from ._server import SUPPORTED_VERSIONS
from ._results import discover_result
from .aio.server import McpError, RequestContext

__all__ = ["DemoApp", "TOOLS"]

TOOLS: list[dict[str, Any]] = [
    {
        "name": "echo",
        "description": "Return the text you send.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    },
    {
        "name": "add",
        "description": "Add two numbers.",
        "inputSchema": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
        },
    },
    {
        "name": "countdown",
        "description": "Count down from n, sending a progress notification per step.",
        "inputSchema": {
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 1000},
                           "delay": {"type": "number", "minimum": 0, "maximum": 5}},
            "required": ["n"],
        },
    },
    {
        "name": "ask_name",
        "description": "Ask the user for their name (elicitation) and greet them.",
        "inputSchema": {"type": "object", "properties": {}},
    },
    {
        "name": "route",
        "description": "Say which region the request names; 2026-07-28 mirrors it in the Mcp-Param-Region header.",
        "inputSchema": {"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}},
                        "required": ["region"]},
    },
    {
        "name": "blob",
        "description": "Return `size` bytes of text (for throughput tests).",
        "inputSchema": {
            "type": "object",
            "properties": {"size": {"type": "integer", "minimum": 0, "maximum": 4194304}},
            "required": ["size"],
        },
    },
]


def _text(s: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": s}], "isError": False}


class DemoApp:
    """Tools that exercise the transport; no state beyond the sessions the core keeps."""

    async def handle_request(self, ctx: RequestContext) -> Any:
        m = ctx.method
        p = ctx.params if isinstance(ctx.params, dict) else {}
        if m == "initialize":
            requested = p.get("protocolVersion")
            version = requested if requested in SUPPORTED_VERSIONS else SUPPORTED_VERSIONS[-1]
            return {
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": False}, "logging": {}},
                "serverInfo": {"name": "streamcore-demo", "version": __version__},
            }
        if m == "server/discover":  # the per-request era's entry point (SRV-VER-10)
            return discover_result(
                ("2026-07-28",) + tuple(reversed(SUPPORTED_VERSIONS)),
                {"tools": {"listChanged": False}, "logging": {}},
                server_info={"name": "streamcore-demo", "version": __version__},
            )
        if m == "ping" or m == "logging/setLevel":  # the demo sends no log messages
            return {}
        if m == "tools/list":
            if ctx.protocol_version >= "2026-07-28":
                # A cacheable result in the per-request era: ttlMs and cacheScope are required.
                return {"tools": TOOLS, "ttlMs": 0, "cacheScope": "public"}
            return {"tools": TOOLS}
        if m == "tools/call":
            return await self._call(ctx, p.get("name"), p.get("arguments") or {})
        raise McpError(-32601, f"Method not found: {m}")

    async def handle_notification(self, session_id: str | None, method: str, params: Any) -> None:
        return None

    async def _call(self, ctx: RequestContext, name: Any, args: dict[str, Any]) -> Any:
        if name == "echo":
            return _text(str(args.get("text", "")))
        if name == "add":
            a, b = args.get("a"), args.get("b")
            if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
                raise McpError(-32602, "add takes two numbers, a and b")
            return _text(str(a + b))
        if name == "countdown":
            n = int(args.get("n", 3))
            delay = float(args.get("delay", 0.05))
            for i in range(n):
                await ctx.progress(i + 1, n, f"{n - i - 1} to go")
                if delay:
                    await asyncio.sleep(delay)
            return _text("liftoff")
        if name == "ask_name":
            answer = await ctx.request(
                "elicitation/create",
                {"message": "What is your name?",
                 "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}},
            )
            if isinstance(answer, dict) and answer.get("action") == "accept":
                return _text(f"Hello, {answer.get('content', {}).get('name', 'stranger')}!")
            return _text("Maybe next time.")
        if name == "route":
            return _text(f"routed by region {args.get('region')!r}")
        if name == "blob":
            size = int(args.get("size", 0))
            return _text("x" * size)
        raise McpError(-32602, f"Unknown tool: {name}")
