"""The official MCP Python SDK (``mcp`` 2.x) as a 2026-07-28 peer with ``x-mcp-header`` tools.

    python tests/py_sdk_xheader_server.py PORT

``MCPServer`` under uvicorn on 127.0.0.1. Tool ``route(region, shard, dry)``
annotates its arguments with ``x-mcp-header`` (``Region``, ``Shard``, ``Dry``), so the SDK checks every ``Mcp-Param-*`` header against the body
(SRV-HDR-01/02) and answers 400 + -32020 on a mismatch. Prints its URL first.
"""

from __future__ import annotations

import argparse
from typing import Annotated

import uvicorn
from mcp.server.mcpserver import MCPServer
from pydantic import Field


def build_app():  # noqa: ANN201
    server = MCPServer("py-sdk-xheader")

    @server.tool(description="Echo the routing arguments.", structured_output=False)
    def route(
        region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})],
        shard: Annotated[int, Field(json_schema_extra={"x-mcp-header": "Shard"})] = 0,
        dry: Annotated[bool, Field(json_schema_extra={"x-mcp-header": "Dry"})] = False,
    ) -> str:
        return f"{region}/{shard}/{dry}"

    return server.streamable_http_app(stateless_http=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("port", type=int)
    args = ap.parse_args()
    app = build_app()
    print(f"py-sdk MCP server on http://127.0.0.1:{args.port}/mcp", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, workers=1)


if __name__ == "__main__":
    main()
