"""The demo MCP server behind ``python -m streamcore serve``.

A deliberately small application on the :class:`streamcore.aio.App` seam: it
answers ``initialize`` and ``ping``, lists and calls a handful of tools that
exercise the transport (progress notifications on the POST stream, an
elicitation round trip, a large result), and keeps nothing but what the
transport itself keeps.

It is also meant as an example of a safe tool: every call's arguments are
checked against the tool's own ``inputSchema`` before it runs (-32602 with a
message that says what is wrong), every loop yields to the event loop between
steps, every wait is bounded, and a cancelled request (``notifications/cancelled``,
or a dropped connection in the per-request era) stops the tool at its next
``await``.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from . import __version__
from ._server import SUPPORTED_VERSIONS
from ._results import discover_result
from .aio.server import McpError, RequestContext

__all__ = ["DemoApp", "TOOLS", "validate", "MAX_COUNTDOWN_SECONDS"]

#: The longest a countdown may take (n x delay), so no call holds a request for long.
MAX_COUNTDOWN_SECONDS = 60.0

TOOLS: list[dict[str, Any]] = [
    {
        "name": "echo",
        "description": "Return the text you send (empty without one).",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string", "maxLength": 65536}},
                        "additionalProperties": False},
    },
    {
        "name": "add",
        "description": "Add two numbers.",
        "inputSchema": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
            "additionalProperties": False,
        },
    },
    {
        "name": "countdown",
        "description": "Count down from n, sending a progress notification per step, "
                       "delay seconds apart (n x delay at most 60 s).",
        "inputSchema": {
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 1000},
                           "delay": {"type": "number", "minimum": 0, "maximum": 5}},
            "required": ["n"],
            "additionalProperties": False,
        },
    },
    {
        "name": "ask_name",
        "description": "Ask the user for their name (elicitation) and greet them.",
        "inputSchema": {"type": "object", "properties": {}, "additionalProperties": False},
    },
    {
        "name": "route",
        "description": "Say which region the request names; 2026-07-28 mirrors it in the Mcp-Param-Region header.",
        "inputSchema": {"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}},
                        "required": ["region"], "additionalProperties": False},
    },
    {
        "name": "blob",
        "description": "Return `size` bytes of text (for throughput tests).",
        "inputSchema": {
            "type": "object",
            "properties": {"size": {"type": "integer", "minimum": 0, "maximum": 4194304}},
            "required": ["size"],
            "additionalProperties": False,
        },
    },
    {
        "name": "announce",
        "description": "Send notifications/tools/list_changed to the listening streams: this session's GET "
                       "stream, or in 2026-07-28 every subscriptions/listen that asked for toolsListChanged.",
        "inputSchema": {"type": "object", "properties": {}, "additionalProperties": False},
    },
]


_BY_NAME = {t["name"]: t for t in TOOLS}
_TYPES = {"object": "an object", "string": "a string", "number": "a number", "integer": "an integer",
          "boolean": "a boolean", "array": "an array"}


def _is(kind: str, value: Any) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if isinstance(value, bool):  # JSON true is not a number
        return False
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
    return True


def validate(schema: dict[str, Any], value: Any, where: str = "arguments") -> str | None:
    """Check ``value`` against the JSON Schema subset the demo's tools use (type,
    properties, required, additionalProperties false, minimum, maximum,
    maxLength); the first problem as a sentence, or None when it conforms."""
    kind = schema.get("type")
    if kind is not None and not _is(kind, value):
        return f"{where} must be {_TYPES.get(kind, kind)}, not {type(value).__name__}"
    if isinstance(value, dict):
        props: dict[str, Any] = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                return f"{where}.{name} is required"
        if schema.get("additionalProperties") is False:
            extra = sorted(k for k in value if k not in props)
            if extra:
                return f"{where} has unknown field(s): {', '.join(map(str, extra))}"
        for name, sub in props.items():
            if name in value:
                problem = validate(sub, value[name], f"{where}.{name}")
                if problem is not None:
                    return problem
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{where} must be at least {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{where} must be at most {schema['maximum']}"
    if isinstance(value, str) and "maxLength" in schema and len(value) > schema["maxLength"]:
        return f"{where} must be at most {schema['maxLength']} characters"
    return None


def _text(s: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": s}], "isError": False}


class DemoApp:
    """Tools that exercise the transport; no state beyond the sessions the core keeps."""

    #: Its handlers need no current task before they first suspend (see :class:`streamcore.aio.App`).
    run_first_step_inline = True

    async def handle_request(self, ctx: RequestContext) -> Any:
        m = ctx.method
        p = ctx.params if isinstance(ctx.params, dict) else {}
        if m == "initialize":
            requested = p.get("protocolVersion")
            version = requested if requested in SUPPORTED_VERSIONS else SUPPORTED_VERSIONS[-1]
            return {
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": True}, "logging": {}},
                "serverInfo": {"name": "streamcore-demo", "version": __version__},
            }
        if m == "server/discover":  # the per-request era's entry point (SRV-VER-10)
            return discover_result(
                ("2026-07-28",) + tuple(reversed(SUPPORTED_VERSIONS)),
                {"tools": {"listChanged": True}, "logging": {}},
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
            name = p.get("name")
            tool = _BY_NAME.get(name) if isinstance(name, str) else None
            if tool is None:
                raise McpError(-32602, f"Unknown tool: {name!r} (tools/list names them)")
            args = p.get("arguments")
            if args is None:
                args = {}
            problem = validate(tool["inputSchema"], args)
            if problem is not None:
                raise McpError(-32602, f"Invalid arguments for {name}: {problem}")
            return await self._call(ctx, tool["name"], args)
        raise McpError(-32601, f"Method not found: {m}")

    async def handle_notification(self, session_id: str | None, method: str, params: Any) -> None:
        return None

    async def _call(self, ctx: RequestContext, name: str, args: dict[str, Any]) -> Any:
        # The arguments conform to the tool's inputSchema (checked by the caller).
        if name == "echo":
            return _text(args.get("text", ""))
        if name == "add":
            return _text(str(args["a"] + args["b"]))
        if name == "countdown":
            n = int(args["n"])
            delay = float(args.get("delay", 0.05))
            if n * delay > MAX_COUNTDOWN_SECONDS:
                raise McpError(-32602, f"Invalid arguments for countdown: n x delay must be at most "
                                       f"{MAX_COUNTDOWN_SECONDS:g} s, not {n * delay:g}")
            for i in range(n):
                await ctx.progress(i + 1, n, f"{n - i - 1} to go")
                # Always yield, even with delay 0: a loop that never awaits
                # something that suspends freezes the event loop, and its
                # output piles up unsent. A cancellation lands here too.
                await asyncio.sleep(delay)
            return _text("liftoff")
        if name == "ask_name":
            answer = await ctx.request(
                "elicitation/create",
                {"message": "What is your name?",
                 "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}},
                timeout=300,
            )
            if isinstance(answer, dict) and answer.get("action") == "accept":
                content = answer.get("content")
                who = content.get("name") if isinstance(content, dict) else None
                return _text(f"Hello, {who if isinstance(who, str) else 'stranger'}!")
            return _text("Maybe next time.")
        if name == "route":
            return _text(f"routed by region {args['region']!r}")
        if name == "announce":
            # Unrelated to this request (SRV-SSE-02 is about related ones): a listening stream carries it.
            if ctx.per_request:
                ctx.server.publish("notifications/tools/list_changed")
                return _text("announced to every listening stream")
            if ctx.session_id is not None:
                ctx.server.notify(ctx.session_id, "notifications/tools/list_changed")
            return _text("announced on this session's listening stream")
        assert name == "blob"
        return _text("x" * int(args["size"]))
