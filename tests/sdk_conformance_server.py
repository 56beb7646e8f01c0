"""An official-SDK (``mcp``) low-level server with the conformance suite's fixtures.

    python tests/sdk_conformance_server.py --transport sdk|asgi|aio [--port 0]

The same ``mcp.server.lowlevel.Server`` (tools, resources and prompts named
as ``tests/conformance/everything_app.py`` names them, written with the SDK's
own handler API: ``ctx.session.send_log_message``, ``report_progress``,
``create_message``, ``elicit``, ``ctx.close_sse_stream``) served three ways:

* ``sdk``: the SDK's own transport (``Server.streamable_http_app()`` under uvicorn);
* ``asgi``: ``streamcore.mcp_sdk.streamable_http_app(server)`` under uvicorn;
* ``aio``: ``streamcore.mcp_sdk.serve(server)``, streamcore's own engine.

The first stdout line is the bound port; the endpoint is ``/mcp``. Runs until
SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import warnings
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "conformance"))
try:
    import streamcore  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.dirname(HERE))

import mcp_types as types  # noqa: E402
from everything_app import PNG_1X1, PROMPTS, RESOURCE_TEMPLATES, RESOURCES, TOOLS, WAV_TINY  # noqa: E402
from mcp.server import Server, ServerRequestContext  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)
HOST = "127.0.0.1"
NAME = "sdk-conformance-everything"


def _text(s: str, *, is_error: bool = False) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": s}], "isError": is_error}


def _user(content: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": content}


async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> dict[str, Any]:
    return {"tools": TOOLS}


async def _elicit(ctx: ServerRequestContext[Any], message: str, schema: dict[str, Any]) -> dict[str, Any]:
    answer = await ctx.session.elicit(message, schema, related_request_id=ctx.request_id)  # type: ignore[arg-type]
    content = json.dumps(answer.content or {}, separators=(",", ":"))
    return _text(f"Elicitation completed: action={answer.action}, content={content}")


def _titled(prefix: str, titles: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"const": f"{prefix}{i}", "title": t} for i, t in enumerate(titles, 1)]


async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> dict[str, Any]:
    name, args = params.name, params.arguments or {}
    session = ctx.session
    if name == "test_simple_text":
        return _text("This is a simple text response for testing.")
    if name == "test_image_content":
        return {"content": [{"type": "image", "data": PNG_1X1, "mimeType": "image/png"}]}
    if name == "test_audio_content":
        return {"content": [{"type": "audio", "data": WAV_TINY, "mimeType": "audio/wav"}]}
    if name == "test_embedded_resource":
        return {"content": [{"type": "resource", "resource": {
            "uri": "test://embedded-resource", "mimeType": "text/plain",
            "text": "This is an embedded resource content."}}]}
    if name == "test_multiple_content_types":
        return {"content": [
            {"type": "text", "text": "Multiple content types test:"},
            {"type": "image", "data": PNG_1X1, "mimeType": "image/png"},
            {"type": "resource", "resource": {
                "uri": "test://mixed-content-resource", "mimeType": "application/json",
                "text": json.dumps({"test": "data", "value": 123}, separators=(",", ":"))}},
        ]}
    if name == "test_tool_with_logging":
        for i, msg in enumerate(("Tool execution started", "Tool processing data", "Tool execution completed")):
            if i:
                await asyncio.sleep(0.05)
            await session.send_log_message("info", msg, NAME, related_request_id=ctx.request_id)
        return _text("Tool with logging executed successfully")
    if name == "test_tool_with_progress":
        for step in (0, 50, 100):
            if step:
                await asyncio.sleep(0.05)
            await session.report_progress(step, 100, f"Completed step {step} of 100")
        return _text("Progress reported")
    if name == "test_error_handling":
        return _text("This tool intentionally returns an error for testing", is_error=True)
    if name == "test_reconnection":
        if ctx.close_sse_stream is not None:
            await ctx.close_sse_stream()
        await asyncio.sleep(0.1)
        return _text("Reconnection test completed: this result reached you after the stream was resumed.")
    if name == "test_sampling":
        answer = await session.create_message(
            [types.SamplingMessage(role="user", content=types.TextContent(type="text", text=str(args.get("prompt"))))],
            max_tokens=100, related_request_id=ctx.request_id)
        text = getattr(answer.content, "text", None)
        return _text(f"LLM response: {text if text is not None else 'No response'}")
    if name == "test_elicitation":
        return await _elicit(ctx, str(args.get("message")), {
            "type": "object",
            "properties": {"username": {"type": "string", "description": "User's response"},
                           "email": {"type": "string", "description": "User's email address"}},
            "required": ["username", "email"]})
    if name == "test_elicitation_sep1034_defaults":
        return await _elicit(ctx, "Please review these fields; each has a default.", {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "User name", "default": "John Doe"},
                "age": {"type": "integer", "description": "User age", "default": 30},
                "score": {"type": "number", "description": "User score", "default": 95.5},
                "status": {"type": "string", "description": "User status",
                           "enum": ["active", "inactive", "pending"], "default": "active"},
                "verified": {"type": "boolean", "description": "Verified user", "default": True}}})
    if name == "test_elicitation_sep1330_enums":
        return await _elicit(ctx, "Please pick from each list.", {
            "type": "object",
            "properties": {
                "untitledSingle": {"type": "string", "description": "Pick one",
                                   "enum": ["option1", "option2", "option3"]},
                "titledSingle": {"type": "string", "description": "Pick one (titled)",
                                 "oneOf": _titled("value", ("First Option", "Second Option", "Third Option"))},
                "legacyEnum": {"type": "string", "description": "Pick one (legacy enumNames)",
                               "enum": ["opt1", "opt2", "opt3"],
                               "enumNames": ["Option One", "Option Two", "Option Three"]},
                "untitledMulti": {"type": "array", "description": "Pick some", "minItems": 1, "maxItems": 3,
                                  "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                "titledMulti": {"type": "array", "description": "Pick some (titled)", "minItems": 1, "maxItems": 3,
                                "items": {"anyOf": _titled("value", ("First Choice", "Second Choice",
                                                                     "Third Choice"))}}},
            "required": []})
    if name == "json_schema_2020_12_tool":
        return _text(f"json_schema_2020_12_tool called with {json.dumps(args, sort_keys=True)}")
    raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown tool: {name!r}")


async def list_resources(ctx: ServerRequestContext[Any], params: Any) -> dict[str, Any]:
    return {"resources": RESOURCES}


async def list_templates(ctx: ServerRequestContext[Any], params: Any) -> dict[str, Any]:
    return {"resourceTemplates": RESOURCE_TEMPLATES}


async def read_resource(ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams) -> dict[str, Any]:
    uri = str(params.uri)
    if uri == "test://static-text":
        return {"contents": [{"uri": uri, "mimeType": "text/plain",
                              "text": "This is the content of the static text resource."}]}
    if uri == "test://static-binary":
        return {"contents": [{"uri": uri, "mimeType": "image/png", "blob": PNG_1X1}]}
    if uri == "test://watched-resource":
        return {"contents": [{"uri": uri, "mimeType": "text/plain", "text": "Watched resource content"}]}
    prefix, suffix = "test://template/", "/data"
    if uri.startswith(prefix) and uri.endswith(suffix) and "/" not in uri[len(prefix):-len(suffix)]:
        rid = uri[len(prefix):-len(suffix)]
        body = {"id": rid, "templateTest": True, "data": f"Data for ID: {rid}"}
        return {"contents": [{"uri": uri, "mimeType": "application/json",
                              "text": json.dumps(body, separators=(",", ":"))}]}
    raise MCPError(code=-32002, message="Resource not found", data={"uri": uri})


async def subscribe(ctx: ServerRequestContext[Any], params: Any) -> dict[str, Any]:
    return {}


async def list_prompts(ctx: ServerRequestContext[Any], params: Any) -> dict[str, Any]:
    return {"prompts": PROMPTS}


async def get_prompt(ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams) -> dict[str, Any]:
    name, args = params.name, params.arguments or {}
    if name == "test_simple_prompt":
        return {"messages": [_user({"type": "text", "text": "This is a simple prompt for testing."})]}
    if name == "test_prompt_with_arguments":
        text = f"Prompt with arguments: arg1='{args.get('arg1')}', arg2='{args.get('arg2')}'"
        return {"messages": [_user({"type": "text", "text": text})]}
    if name == "test_prompt_with_embedded_resource":
        return {"messages": [
            _user({"type": "resource", "resource": {"uri": args.get("resourceUri", ""), "mimeType": "text/plain",
                                                    "text": "Embedded resource content for testing."}}),
            _user({"type": "text", "text": "Please process the embedded resource above."})]}
    if name == "test_prompt_with_image":
        return {"messages": [_user({"type": "image", "data": PNG_1X1, "mimeType": "image/png"}),
                             _user({"type": "text", "text": "Please analyze the image above."})]}
    raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown prompt: {name!r}")


async def complete(ctx: ServerRequestContext[Any], params: types.CompleteRequestParams) -> dict[str, Any]:
    prefix = params.argument.value
    values = [v for v in ("paris", "park", "party") if v.startswith(prefix)]
    return {"completion": {"values": values, "total": len(values), "hasMore": False}}


async def set_level(ctx: ServerRequestContext[Any], params: Any) -> dict[str, Any]:
    return {}


def _era(handler: Any) -> Any:
    """Results are plain dicts here; at 2026-07-28 a result names its ``resultType``."""

    async def wrapped(ctx: ServerRequestContext[Any], params: Any) -> dict[str, Any]:
        result: dict[str, Any] = await handler(ctx, params)
        if ctx.protocol_version >= "2026-07-28":
            result.setdefault("resultType", "complete")
        return result

    return wrapped


def build_server() -> Server[Any]:
    """The SDK low-level server with every fixture the suite's server scenarios call."""
    from mcp.server import CacheHint
    from mcp.server.caching import CACHEABLE_METHODS

    return Server(
        NAME, version="1.0.0",
        # 2026-07-28: cacheable results carry ttlMs/cacheScope (the SDK fills them from these hints).
        cache_hints={m: CacheHint(ttl_ms=0, scope="public") for m in CACHEABLE_METHODS},  # type: ignore[misc]
        on_list_tools=_era(list_tools), on_call_tool=_era(call_tool),  # type: ignore[arg-type]
        on_list_resources=_era(list_resources), on_list_resource_templates=_era(list_templates),  # type: ignore[arg-type]
        on_read_resource=_era(read_resource), on_subscribe_resource=_era(subscribe),  # type: ignore[arg-type]
        on_unsubscribe_resource=_era(subscribe),  # type: ignore[arg-type]
        on_list_prompts=_era(list_prompts), on_get_prompt=_era(get_prompt),  # type: ignore[arg-type]
        on_completion=_era(complete), on_set_logging_level=_era(set_level),  # type: ignore[arg-type]
    )


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    return sock


async def _uvicorn(app: Any, port: int) -> None:
    import uvicorn

    sock = _listen(port)
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    await server.serve(sockets=[sock])


async def run(transport: str, port: int, json_response: bool = False, store: bool = True) -> None:
    server = build_server()
    retry = 500 if store else None
    if transport == "sdk":
        from sdk_event_store import MemoryStore  # noqa: PLC0415

        app = server.streamable_http_app(event_store=MemoryStore() if store else None, retry_interval=retry,
                                         json_response=json_response)
        await _uvicorn(app, port)
    elif transport == "asgi":
        from streamcore import mcp_sdk
        from streamcore.store import MemoryEventStore

        await _uvicorn(mcp_sdk.streamable_http_app(server, event_store=MemoryEventStore() if store else None,
                                                   retry_interval=retry, json_response=json_response), port)
    elif transport == "aio":
        from streamcore import mcp_sdk
        from streamcore.store import MemoryEventStore

        task = asyncio.ensure_future(mcp_sdk.serve(server, HOST, port, event_store=MemoryEventStore() if store else None,
                                                   retry_interval=retry, json_response=json_response,
                                                   ready=lambda p: print(p, flush=True)))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass
    else:
        raise SystemExit(f"unknown transport {transport!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transport", choices=("sdk", "asgi", "aio"), required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="JSON responses instead of SSE")
    parser.add_argument("--no-store", action="store_true", help="no event store (benchmarks)")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (uvicorn picks it by itself)")
    args = parser.parse_args(argv)
    if args.uvloop:
        import uvloop

        uvloop.install()
    asyncio.run(run(args.transport, args.port, args.json, not args.no_store))
    return 0


if __name__ == "__main__":
    sys.exit(main())
