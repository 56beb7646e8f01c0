"""An SDK (``mcp``) high-level server with the demo's ``countdown`` and ``ask_name`` tools, on streamcore.

    python tests/sdk_interop_server.py --transport asgi|aio

``asgi``: ``streamcore.mcp_sdk.streamable_http_app`` under uvicorn;
``aio``: ``streamcore.mcp_sdk.serve``. Prints the bound port as the first
stdout line (the endpoint is ``/mcp``); runs until SIGTERM/SIGINT. The tools
answer as ``streamcore.demo`` does, so ``tests/interop/ts_client.mjs`` can
drive it unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import warnings

try:
    import streamcore  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mcp.server import MCPServer  # noqa: E402
from mcp.server.mcpserver import Context  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from streamcore import mcp_sdk  # noqa: E402

warnings.filterwarnings("ignore")


class Name(BaseModel):
    name: str


def build() -> MCPServer:
    server = MCPServer("sdk-on-streamcore")

    @server.tool(structured_output=False)
    async def countdown(n: int, ctx: Context, delay: float = 0.05) -> str:
        """Count down from n, one progress notification per step."""
        for i in range(n):
            await ctx.report_progress(i + 1, n, f"{n - i - 1} to go")
            await asyncio.sleep(delay)
        return "liftoff"

    @server.tool(structured_output=False)
    async def ask_name(ctx: Context) -> str:
        """Ask the user for their name (elicitation)."""
        answer = await ctx.elicit("What is your name?", Name)
        if answer.action == "accept" and answer.data is not None:
            return f"Hello, {answer.data.name}!"
        return "Maybe next time."

    return server


async def main(transport: str) -> None:
    server = build()
    if transport == "aio":
        task = asyncio.ensure_future(mcp_sdk.serve(server, "127.0.0.1", 0, ready=lambda p: print(p, flush=True)))
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass
        return
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    await uvicorn.Server(uvicorn.Config(mcp_sdk.streamable_http_app(server), log_level="warning")).serve(
        sockets=[sock])


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--transport", choices=("asgi", "aio"), required=True)
    asyncio.run(main(ap.parse_args().transport))
