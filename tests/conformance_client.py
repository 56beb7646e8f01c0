"""MCP conformance-suite client driver built on ``streamcore.aio.client``.

The suite runs ``<command> <server URL>`` with ``MCP_CONFORMANCE_SCENARIO`` (the
scenario), ``MCP_CONFORMANCE_PROTOCOL_VERSION`` (the revision to speak; 0.1.16
does not set it: 2025-11-25) and, for some scenarios, ``MCP_CONFORMANCE_CONTEXT``
(JSON, e.g. the ``toolCalls`` to make). This script connects in that revision's
era (2026-07-28: ``era="auto"``, the library default; older: the session era at
that version), runs the scenario's action and exits 0 when it went through.

Actions: a few scenarios need specific calls (``tools_call``, ``sse-retry``,
``json-schema-2020-12-preservation``); every other one gets the generic
*exercise*: list the tools and call each (with the context's arguments, or
arguments built from its input schema), then list and read the resources and
list and get the prompts when the server offers them. Elicitation, sampling
and roots handlers are always installed, so both the session era's
server-to-client requests and 2026-07-28 MRTR input requests are answered.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamcore.aio.client import ClientError, ClientSession, connect, elicitation_defaults  # noqa: E402

MODERN = "2026-07-28"


def _value(schema: Any) -> Any:
    """A value that satisfies a simple JSON schema (for required tool and prompt arguments)."""
    if not isinstance(schema, dict):
        return "x"
    if "default" in schema:
        return schema["default"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "string")
    return {"integer": 1, "number": 1, "boolean": True, "object": {}, "array": [], "null": None}.get(t, "x")


def _arguments(tool: dict) -> dict:
    schema = tool.get("inputSchema") or {}
    props = schema.get("properties") or {}
    return {k: _value(props.get(k)) for k in schema.get("required") or [] if isinstance(k, str)}


async def _elicit(params: Any) -> dict:
    schema = (params or {}).get("requestedSchema") or {}
    content = elicitation_defaults(schema)
    for name, spec in (schema.get("properties") or {}).items():
        content.setdefault(name, _value(spec))
    return {"action": "accept", "content": content}


async def _sample(params: Any) -> dict:
    return {"role": "assistant", "content": {"type": "text", "text": "streamcore conformance client"},
            "model": "none", "stopReason": "endTurn"}


async def _roots(params: Any) -> dict:
    return {"roots": [{"uri": "file:///tmp", "name": "tmp"}]}


HANDLERS = {"elicitation/create": _elicit, "sampling/createMessage": _sample, "roots/list": _roots}


async def _quietly(aw: Any) -> Any:
    """A call whose failure the scenario judges (an unknown tool, a refused header, ...)."""
    try:
        return await aw
    except ClientError as exc:
        print(f"note: {exc}", file=sys.stderr)
        return None


async def _exercise(s: ClientSession, context: dict) -> None:
    caps = (s.initialize_result or {}).get("capabilities") or {}
    tools = await s.list_tools()
    calls = context.get("toolCalls")
    if isinstance(calls, list):
        for c in calls:
            await _quietly(s.call_tool(c["name"], c.get("arguments") or {}))
    else:
        for t in tools:
            await _quietly(s.call_tool(t["name"], _arguments(t)))
    if "resources" in caps:
        res = await _quietly(s.request("resources/list", {}))
        for r in (res or {}).get("resources") or []:
            await _quietly(s.request("resources/read", {"uri": r["uri"]}))
    if "prompts" in caps:
        res = await _quietly(s.request("prompts/list", {}))
        for p in (res or {}).get("prompts") or []:
            args = {a["name"]: "x" for a in p.get("arguments") or [] if a.get("required")}
            await _quietly(s.request("prompts/get", {"name": p["name"], "arguments": args}))


async def run(url: str, scenario: str, version: str, context: dict) -> int:
    if version == MODERN:
        opts: dict[str, Any] = {"era": "auto"}
    else:
        opts = {"era": "legacy", "protocol_version": version}
    opts.update(timeout=10, handlers=HANDLERS)
    if scenario == "sse-retry":
        opts["listen"] = False  # the tool's POST stream closes after priming (retry 500): resume by GET
    async with connect(url, **opts) as s:
        if scenario == "tools_call":
            await s.list_tools()
            await s.call_tool("add_numbers", {"a": 5, "b": 3})
        elif scenario == "sse-retry":
            await s.list_tools()
            await s.call_tool("test_reconnection", {})
        elif scenario == "json-schema-2020-12-preservation":
            tools = {t["name"]: t for t in await s.list_tools()}
            focal = tools["json_schema_2020_12_tool"]["inputSchema"]
            await s.call_tool("json_schema_echo", {"schema": focal})
        elif scenario in ("initialize", "json-schema-ref-no-deref"):
            await s.list_tools()  # listing is the whole part (and we never fetch a $ref)
        else:
            await _exercise(s, context)
    return 0


def main() -> int:
    url = sys.argv[-1]
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    version = os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION", "2025-11-25")
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    return asyncio.run(asyncio.wait_for(run(url, scenario, version, context), 25))


if __name__ == "__main__":
    sys.exit(main())
