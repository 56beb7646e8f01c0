"""The official MCP Python SDK (``mcp`` 2.x) as a peer server for the e2e benchmark.

    python benches/e2e/py_sdk_server.py PORT [--json]

``MCPServer`` with one ``echo`` tool of the same shape as streamcore's demo
server, served by ``streamable_http_app()`` with stateful sessions (SSE
responses, or ``application/json`` with ``--json``) under uvicorn on uvloop,
one worker, on 127.0.0.1. Prints its URL as the first stdout line, before
uvicorn binds; callers wait for the port.
"""

from __future__ import annotations

import argparse

import uvicorn
from mcp.server.mcpserver import MCPServer


def build_app(json_response: bool):
    server = MCPServer("py-sdk-echo", log_level="WARNING")

    @server.tool(description="Return the text you send.", structured_output=False)
    def echo(text: str) -> str:
        return text

    return server.streamable_http_app(json_response=json_response, stateless_http=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("port", type=int)
    ap.add_argument("--json", action="store_true", help="answer POSTs with application/json")
    ap.add_argument("--loop", default="uvloop", choices=["uvloop", "asyncio"])
    args = ap.parse_args()
    app = build_app(args.json)
    print(f"py-sdk MCP server on http://127.0.0.1:{args.port}/mcp", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, loop=args.loop, log_level="warning",
                access_log=False, workers=1)


if __name__ == "__main__":
    main()
