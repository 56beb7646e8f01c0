"""The tiny MCP application that every embedding example serves.

It is written against the public sans-IO core only: it turns one
:class:`streamcore.events.RequestReceived` into the keyword arguments of the
core's answer (``result=...`` or ``error=(code, message)``), so that each
example's glue answers a request in one line::

    server.respond(ev.handle, **reply(ev), now=now)

It serves both protocol eras: ``initialize`` for the session era,
``server/discover`` for the per-request era (2026-07-28), whose list results
must also say how long they may be cached (``ttlMs``, ``cacheScope``).
"""

from __future__ import annotations

from typing import Any

from streamcore.events import RequestReceived
from streamcore.server import SUPPORTED_VERSIONS, discover_result

MODERN = "2026-07-28"
INFO = {"name": "streamcore-example", "version": "1"}
CAPABILITIES: dict[str, Any] = {"tools": {"listChanged": False}}
TOOLS: list[dict[str, Any]] = [{
    "name": "echo",
    "description": "Return the text you send.",
    "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
}]


def answer(method: str, params: dict[str, Any], version: str) -> Any:
    """The result of one request, or ``None`` for a method this app does not have."""
    if method == "initialize":
        asked = params.get("protocolVersion")
        return {"protocolVersion": asked if asked in SUPPORTED_VERSIONS else SUPPORTED_VERSIONS[-1],
                "capabilities": CAPABILITIES, "serverInfo": INFO}
    if method == "server/discover":
        return discover_result((MODERN, *reversed(SUPPORTED_VERSIONS)), CAPABILITIES, server_info=INFO)
    if method == "ping":
        return {}
    if method == "tools/list":
        cache = {"ttlMs": 0, "cacheScope": "public"} if version >= MODERN else {}
        return {"tools": TOOLS, **cache}
    if method == "tools/call" and params.get("name") == "echo":
        text = str((params.get("arguments") or {}).get("text", ""))
        return {"content": [{"type": "text", "text": text}], "isError": False}
    return None


def reply(ev: RequestReceived) -> dict[str, Any]:
    """Keyword arguments for ``Server.respond``: ``result=...``, or ``error=`` -32601."""
    m = ev.message
    result = answer(m.method, m.params if isinstance(m.params, dict) else {}, ev.protocol_version)
    if result is None:
        return {"error": (-32601, f"Method not found: {m.method}")}
    return {"result": result}
