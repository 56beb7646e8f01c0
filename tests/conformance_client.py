"""MCP conformance-suite client driver built on ``streamcore.aio.client``.

The suite runs ``<command> <server URL>`` with ``MCP_CONFORMANCE_SCENARIO``
set; this script acts per scenario and exits 0 when its part went through.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamcore.aio.client import connect, elicitation_defaults  # noqa: E402


async def run(url: str, scenario: str) -> int:
    if scenario == "initialize":
        async with connect(url, timeout=10) as s:
            await s.list_tools()
        return 0
    if scenario == "tools_call":
        async with connect(url, timeout=10) as s:
            tools = await s.list_tools()
            names = [t["name"] for t in tools]
            if "add_numbers" in names:
                await s.call_tool("add_numbers", {"a": 5, "b": 3})
        return 0
    if scenario == "sse-retry":
        # the tool's POST stream closes after priming (retry 500): resume by GET
        async with connect(url, timeout=10, listen=False) as s:
            await s.list_tools()
            await s.call_tool("test_reconnection", {})
        return 0
    if scenario.startswith("elicitation"):
        async def elicit(params: dict) -> dict:
            return {"action": "accept", "content": elicitation_defaults(params.get("requestedSchema") or {})}

        async with connect(url, timeout=10, handlers={"elicitation/create": elicit}) as s:
            for t in await s.list_tools():
                await s.call_tool(t["name"], {})
        return 0
    async with connect(url, timeout=10) as s:  # any other scenario: a plain session
        await s.list_tools()
    return 0


def main() -> int:
    url = sys.argv[-1]
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    return asyncio.run(asyncio.wait_for(run(url, scenario), 25))


if __name__ == "__main__":
    sys.exit(main())
