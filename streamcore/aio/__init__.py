"""asyncio (and uvloop) adapters: the only part of streamcore that awaits."""

from __future__ import annotations

from .server import App, McpError, RequestContext, StreamableHttpServer, serve

__all__ = ["App", "McpError", "RequestContext", "StreamableHttpServer", "serve"]
