"""The official Python SDK (``mcp`` 2.3.0) as uvicorn ``--workers N`` would run it, for bench_cluster.py.

    uvicorn sdk_multiworker_app:stateless --app-dir benches --workers 2 --port PORT
    uvicorn sdk_multiworker_app:stateful --app-dir benches --workers 2 --port PORT

``stateless``: ``stateless_http=True`` (no session; each POST stands alone),
the SDK's documented way to run several workers. ``stateful``: the default
sessions, which live in one worker's memory, so a request that reaches
another worker gets an error (the "Session not found" problem). Tool:
``echo``.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer


def _server() -> MCPServer:
    server = MCPServer("sdk-multiworker", log_level="WARNING")

    @server.tool(description="Return the text you send.", structured_output=False)
    def echo(text: str = "") -> str:
        return text

    return server


stateless: Any = _server().streamable_http_app(stateless_http=True)
stateful: Any = _server().streamable_http_app(stateless_http=False)
