"""The tiny MCP application that every embedding example serves.

It is written against the public sans-IO core only: it turns one
:class:`streamcore.events.RequestReceived` into the keyword arguments of the
core's answer (``result=...`` or ``error=(code, message)``), so that each
example's glue answers a request in one line::

    server.respond(ev.rid, **reply(ev), now=now)

It serves both protocol eras: ``initialize`` for the session era,
``server/discover`` for the per-request era (2026-07-28), whose results
``complete_result_for_era`` completes (``resultType``, and ``ttlMs`` and
``cacheScope`` on list results).
"""

from __future__ import annotations

from typing import Any

from streamcore.events import RequestReceived
from streamcore.server import SUPPORTED_VERSIONS, McpError, complete_result_for_era, discover_result

INFO = {"name": "streamcore-example", "version": "1"}
CAPABILITIES: dict[str, Any] = {"tools": {"listChanged": False}}
TOOLS: list[dict[str, Any]] = [{
    "name": "echo",
    "description": "Return the text you send.",
    "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
}]


def answer(method: str, params: dict[str, Any]) -> Any:
    """The result of one request; :class:`McpError` for a method this app does not have."""
    if method == "initialize":
        asked = params.get("protocolVersion")
        return {"protocolVersion": asked if asked in SUPPORTED_VERSIONS else SUPPORTED_VERSIONS[-1],
                "capabilities": CAPABILITIES, "serverInfo": INFO}
    if method == "server/discover":
        return discover_result(capabilities=CAPABILITIES, server_info=INFO)
    if method == "ping":
        return {}
    if method == "tools/list":
        return {"tools": TOOLS}
    if method == "tools/call" and params.get("name") == "echo":
        text = str((params.get("arguments") or {}).get("text", ""))
        return {"content": [{"type": "text", "text": text}], "isError": False}
    raise McpError(-32601, f"Method not found: {method}")


def reply(ev: RequestReceived) -> dict[str, Any]:
    """Keyword arguments for ``Server.respond``: ``result=...`` or ``error=(code, message, data)``."""
    m = ev.message
    try:
        result = answer(m.method, m.params if isinstance(m.params, dict) else {})
    except McpError as exc:
        return {"error": (exc.code, exc.message, exc.data)}
    return {"result": complete_result_for_era(m.method, result, ev.protocol_version)}
