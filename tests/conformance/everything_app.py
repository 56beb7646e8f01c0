"""The "everything" MCP application that the official conformance suite tests.

``@modelcontextprotocol/conformance`` (pinned in ``package.json`` beside this
file) drives a server through scenarios that expect particular tools,
resources and prompts by name, each with a documented shape: ``test_simple_text``
returns one text block, ``test://static-binary`` is a base64 PNG, and so on.
This module provides them on the :class:`streamcore.aio.App` seam, with no SDK
in between, so the suite exercises streamcore's transport and nothing else.

Everything here answers one scenario; the scenario name is next to each item.
It serves both protocol eras on one endpoint: per-session state (the client's
capabilities, the log level, resource subscriptions) is keyed by
``ctx.session_id`` in the session era; in 2026-07-28 each request carries its
own capabilities and log level in ``_meta``, and the seam's era defaults
(``server/discover`` from ``server_info``/``capabilities``, ``ttlMs`` and
``cacheScope`` on list results, 404 for removed methods) do the rest.

Asking the client for input is one call in both eras, ``ctx.request(...)``: a
server-to-client request in the session era, an ``InputRequiredResult`` round
trip (SEP-2322) in 2026-07-28. The ``test_input_required_result_*`` tools use
the keys the suite expects.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import zlib
from typing import Any

from streamcore.aio import McpError, RequestContext
from streamcore.server import SUPPORTED_VERSIONS

__all__ = ["EverythingApp", "TOOLS", "RESOURCES", "RESOURCE_TEMPLATES", "PROMPTS", "CAPABILITIES"]

SERVER_NAME = "streamcore-conformance-everything"



def _png_1x1() -> bytes:
    """A valid 1x1 PNG: one opaque red pixel (8-bit RGBA)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00\xff")  # filter byte 0, then R G B A
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _wav_silence(samples: int = 8, rate: int = 8000) -> bytes:
    """A valid PCM WAV file: mono, 16-bit, ``samples`` samples of silence."""
    data = b"\x00\x00" * samples
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


# The smallest valid payloads for the image and audio scenarios, base64 as MCP carries them.
PNG_1X1 = base64.b64encode(_png_1x1()).decode("ascii")
WAV_TINY = base64.b64encode(_wav_silence()).decode("ascii")

#: What the server declares, in ``initialize`` (session era) and ``server/discover`` (2026-07-28).
CAPABILITIES: dict[str, Any] = {
    "tools": {"listChanged": True},
    "resources": {"subscribe": True, "listChanged": True},
    "prompts": {"listChanged": True},
    "logging": {},
    "completions": {},
}
META_LOG_LEVEL = "io.modelcontextprotocol/logLevel"

# JSON-RPC error codes used below.
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
RESOURCE_NOT_FOUND = -32002

# RFC 5424 severities, the order logging/setLevel filters by.
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")

_NO_ARGS: dict[str, Any] = {"type": "object", "properties": {}}


def _tool(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "description": description, "inputSchema": schema or _NO_ARGS}


TOOLS: list[dict[str, Any]] = [
    _tool("test_simple_text", "Returns one text block (tools-call-simple-text)."),
    _tool("test_image_content", "Returns a PNG image block (tools-call-image)."),
    _tool("test_audio_content", "Returns a WAV audio block (tools-call-audio)."),
    _tool("test_embedded_resource", "Returns an embedded text resource (tools-call-embedded-resource)."),
    _tool("test_multiple_content_types", "Returns text, image and resource blocks (tools-call-mixed-content)."),
    _tool("test_tool_with_logging", "Sends three log messages while it runs (tools-call-with-logging)."),
    _tool("test_tool_with_progress", "Reports progress 0, 50, 100 of 100 (tools-call-with-progress)."),
    _tool("test_error_handling", "Always fails with isError: true (tools-call-error)."),
    _tool(
        "test_reconnection",
        "Closes its SSE connection mid-call; the result arrives after the client resumes with "
        "GET + Last-Event-ID (server-sse-polling, SEP-1699).",
    ),
    _tool(
        "test_sampling",
        "Asks the client to sample an LLM completion (tools-call-sampling).",
        {"type": "object", "properties": {"prompt": {"type": "string", "description": "The prompt to send to the LLM"}},
         "required": ["prompt"]},
    ),
    _tool(
        "test_elicitation",
        "Asks the user for input through the client (tools-call-elicitation).",
        {"type": "object",
         "properties": {"message": {"type": "string", "description": "The message to show the user"}},
         "required": ["message"]},
    ),
    _tool("test_elicitation_sep1034_defaults", "Elicitation with a default for every primitive type (SEP-1034)."),
    _tool("test_elicitation_sep1330_enums", "Elicitation with the five enum schema forms (SEP-1330)."),
    _tool(
        "json_schema_2020_12_tool",
        "An input schema using JSON Schema 2020-12 keywords (json-schema-2020-12, SEP-1613, SEP-2106).",
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {
                "address": {
                    "$anchor": "addressDef",
                    "type": "object",
                    "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
                }
            },
            "properties": {
                "name": {"type": "string"},
                "address": {"$ref": "#/$defs/address"},
                "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                "phone": {"type": "string"},
                "email": {"type": "string"},
            },
            "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
            "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
            "then": {"required": ["phone"]},
            "else": {"required": ["email"]},
            "additionalProperties": False,
        },
    ),
    # -- 2026-07-28 (conformance 0.2.0) ------------------------------------------
    _tool("test_input_required_result_elicitation", "Asks for the user's name (input-required-result-basic-elicitation)."),
    _tool("test_input_required_result_sampling", "Asks the client to sample (input-required-result-basic-sampling)."),
    _tool("test_input_required_result_list_roots", "Asks for the client's roots (input-required-result-basic-list-roots)."),
    _tool("test_input_required_result_request_state", "Checks its requestState round trip (input-required-result-request-state)."),
    _tool("test_input_required_result_multiple_inputs", "Three inputs at once (input-required-result-multiple-input-requests)."),
    _tool("test_input_required_result_multi_round", "Two rounds of input (input-required-result-multi-round)."),
    _tool("test_input_required_result_tampered_state", "Integrity-protected requestState (input-required-result-tampered-state)."),
    _tool("test_input_required_result_capabilities", "Asks only for what the client declared (input-required-result-capability-check)."),
    _tool("test_missing_capability", "Needs the sampling capability (server-stateless, -32021)."),
    _tool("test_streaming_elicitation", "Elicits while streaming: never a request on the stream (server-stateless)."),
    _tool("test_logging_tool", "Logs only when the request set a log level (server-stateless)."),
    _tool("test_trigger_tool_change", "Announces a tool list change to listen streams (server-stateless)."),
    _tool("test_trigger_prompt_change", "Announces a prompt list change to listen streams (server-stateless)."),
    _tool(
        "test_custom_headers",
        "Arguments mirrored into Mcp-Param-* headers (http-custom-header-server-validation, SEP-2243).",
        {"type": "object",
         "properties": {
             "region": {"type": "string", "description": "Mirrored as Mcp-Param-Region", "x-mcp-header": "Region"},
             "priority": {"type": "integer", "description": "Mirrored as Mcp-Param-Priority", "x-mcp-header": "Priority"},
             "query": {"type": "string", "description": "Not mirrored"},
         },
         "required": ["region"]},
    ),
]

_STATIC_TEXT = "This is the content of the static text resource."
_WATCHED_TEXT = "Watched resource content"

RESOURCES: list[dict[str, Any]] = [
    {"uri": "test://static-text", "name": "static-text", "title": "Static text",
     "description": "A fixed text resource (resources-read-text).", "mimeType": "text/plain"},
    {"uri": "test://static-binary", "name": "static-binary", "title": "Static binary",
     "description": "A fixed PNG resource (resources-read-binary).", "mimeType": "image/png"},
    {"uri": "test://watched-resource", "name": "watched-resource", "title": "Watched resource",
     "description": "A resource clients may subscribe to (resources-subscribe).", "mimeType": "text/plain"},
]

_TEMPLATE_PREFIX, _TEMPLATE_SUFFIX = "test://template/", "/data"
RESOURCE_TEMPLATES: list[dict[str, Any]] = [
    {"uriTemplate": "test://template/{id}/data", "name": "template", "title": "Templated resource",
     "description": "JSON data for any id (resources-templates-read).", "mimeType": "application/json"},
]

PROMPTS: list[dict[str, Any]] = [
    {"name": "test_simple_prompt", "title": "Simple prompt",
     "description": "One user message, no arguments (prompts-get-simple)."},
    {"name": "test_prompt_with_arguments", "title": "Prompt with arguments",
     "description": "Substitutes two arguments (prompts-get-with-args).",
     "arguments": [{"name": "arg1", "description": "First test argument", "required": True},
                   {"name": "arg2", "description": "Second test argument", "required": True}]},
    {"name": "test_prompt_with_embedded_resource", "title": "Prompt with an embedded resource",
     "description": "Embeds the resource named by resourceUri (prompts-get-embedded-resource).",
     "arguments": [{"name": "resourceUri", "description": "URI of the resource to embed", "required": True}]},
    {"name": "test_prompt_with_image", "title": "Prompt with an image",
     "description": "An image message and a text message (prompts-get-with-image)."},
    {"name": "test_input_required_result_prompt", "title": "Prompt that asks for context",
     "description": "Elicits its context first (input-required-result-non-tool-request)."},
]


def _text(s: str, *, is_error: bool = False) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": s}], "isError": is_error}


def _user(content: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": content}


def _field(answer: Any, name: str) -> str:
    """A string field of an accepted elicitation's content, or a placeholder."""
    content = answer.get("content") if isinstance(answer, dict) else None
    value = content.get(name) if isinstance(content, dict) else None
    return value if isinstance(value, str) else f"(no {name})"


class _SessionState:
    __slots__ = ("capabilities", "log_level", "subscriptions")

    def __init__(self, capabilities: dict[str, Any]) -> None:
        self.capabilities = capabilities
        self.log_level = "info"
        self.subscriptions: set[str] = set()


class EverythingApp:
    """Every tool, resource and prompt the conformance server scenarios call."""

    # Read by the seam for 2026-07-28's server/discover.
    server_info = {"name": SERVER_NAME, "version": "1.0.0"}
    capabilities = CAPABILITIES

    def __init__(self) -> None:
        self.sessions: dict[str | None, _SessionState] = {}

    # -- the App seam ----------------------------------------------------------

    async def handle_request(self, ctx: RequestContext) -> Any:
        m = ctx.method
        p = ctx.params if isinstance(ctx.params, dict) else {}
        if m == "initialize":
            return self._initialize(ctx, p)
        if m == "ping":
            return {}
        handler = self._METHODS.get(m)
        if handler is None:
            raise McpError(METHOD_NOT_FOUND, f"Method not found: {m}")
        return await handler(self, ctx, p)

    async def handle_notification(self, session_id: str | None, method: str, params: Any) -> None:
        return None

    async def handle_session_closed(self, session_id: str, reason: str) -> None:
        """The seam's optional hook: forget the session's state (no memory kept per ended session)."""
        self.sessions.pop(session_id, None)

    # -- lifecycle and utilities ---------------------------------------------------

    def _initialize(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        caps = p.get("capabilities")
        self.sessions[ctx.session_id] = _SessionState(caps if isinstance(caps, dict) else {})
        requested = p.get("protocolVersion")
        return {
            "protocolVersion": requested if requested in SUPPORTED_VERSIONS else SUPPORTED_VERSIONS[-1],
            "capabilities": CAPABILITIES,
            "serverInfo": dict(self.server_info),
        }

    def _state(self, ctx: RequestContext) -> _SessionState:
        st = self.sessions.get(ctx.session_id)
        if st is None:  # a session this app never saw initialized (cannot happen via the core)
            st = self.sessions[ctx.session_id] = _SessionState({})
        return st

    async def _set_level(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        # logging-set-level
        level = p.get("level")
        if level not in LOG_LEVELS:
            raise McpError(INVALID_PARAMS, f"Unknown log level: {level!r}")
        self._state(ctx).log_level = level
        return {}

    async def _log(self, ctx: RequestContext, level: str, data: Any) -> None:
        """``notifications/message`` on the request's stream, if the level lets it through: the
        session's (logging/setLevel), or in 2026-07-28 the request's ``_meta`` logLevel, and no
        message at all when the request set none."""
        if ctx.per_request:
            floor = ctx._meta.get(META_LOG_LEVEL)
            if floor not in LOG_LEVELS:
                return
        else:
            floor = self._state(ctx).log_level
        if LOG_LEVELS.index(level) < LOG_LEVELS.index(floor):
            return
        await ctx.notify("notifications/message", {"level": level, "logger": SERVER_NAME, "data": data})

    async def _complete(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        # completion-complete: a minimal completer over the prompt arguments' known values.
        arg = p.get("argument") if isinstance(p.get("argument"), dict) else {}
        prefix = str(arg.get("value", ""))
        known = ["paris", "park", "party"]
        values = [v for v in known if v.startswith(prefix)]
        return {"completion": {"values": values, "total": len(values), "hasMore": False}}

    # -- tools -----------------------------------------------------------------

    async def _tools_list(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return {"tools": TOOLS}

    async def _tools_call(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        name = p.get("name")
        args = p.get("arguments") if isinstance(p.get("arguments"), dict) else {}
        tool = self._TOOL_IMPLS.get(name) if isinstance(name, str) else None
        if tool is None:
            raise McpError(INVALID_PARAMS, f"Unknown tool: {name!r}")
        return await tool(self, ctx, args)

    async def _t_simple_text(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        return _text("This is a simple text response for testing.")

    async def _t_image(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        return {"content": [{"type": "image", "data": PNG_1X1, "mimeType": "image/png"}]}

    async def _t_audio(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        return {"content": [{"type": "audio", "data": WAV_TINY, "mimeType": "audio/wav"}]}

    async def _t_embedded_resource(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        return {"content": [{"type": "resource", "resource": {
            "uri": "test://embedded-resource", "mimeType": "text/plain",
            "text": "This is an embedded resource content."}}]}

    async def _t_mixed(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        return {"content": [
            {"type": "text", "text": "Multiple content types test:"},
            {"type": "image", "data": PNG_1X1, "mimeType": "image/png"},
            {"type": "resource", "resource": {
                "uri": "test://mixed-content-resource", "mimeType": "application/json",
                "text": json.dumps({"test": "data", "value": 123}, separators=(",", ":"))}},
        ]}

    async def _t_logging(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        # The pauses make the three messages separate SSE events that arrive
        # while the call is still running.
        await self._log(ctx, "info", "Tool execution started")
        await asyncio.sleep(0.05)
        await self._log(ctx, "info", "Tool processing data")
        await asyncio.sleep(0.05)
        await self._log(ctx, "info", "Tool execution completed")
        return _text("Tool with logging executed successfully")

    async def _t_progress(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        for step in (0, 50, 100):
            if step:
                await asyncio.sleep(0.05)
            await ctx.progress(step, 100, f"Completed step {step} of 100")
        token = ctx._meta.get("progressToken") if isinstance(ctx._meta, dict) else None
        return _text(f"Progress reported (token {token!r})")

    async def _t_error(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        # A tool failure is a result with isError, not a JSON-RPC error.
        return _text("This tool intentionally returns an error for testing", is_error=True)

    async def _t_reconnection(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        # SRV-SSE-09/10: close the connection (not the stream) after the
        # priming event; the result below is stored, and replayed when the
        # client comes back with GET + Last-Event-ID (SRV-RESUME-05, RESUME-07).
        await ctx.disconnect()
        await asyncio.sleep(0.1)
        return _text("Reconnection test completed: this result reached you after the stream was resumed.")

    def _capabilities(self, ctx: RequestContext) -> dict[str, Any]:
        caps = ctx.client_capabilities  # 2026-07-28: this request's; session era: None
        return caps if caps is not None else self._state(ctx).capabilities

    def _require_capability(self, ctx: RequestContext, name: str) -> None:
        if ctx.per_request:
            return  # ctx.request answers -32021 itself when the request did not declare it
        if name not in self._state(ctx).capabilities:
            raise McpError(INVALID_PARAMS, f"The client did not declare the {name!r} capability")

    async def _t_sampling(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        self._require_capability(ctx, "sampling")
        prompt = args.get("prompt")
        if not isinstance(prompt, str):
            raise McpError(INVALID_PARAMS, "test_sampling needs a string 'prompt'")
        answer = await ctx.request("sampling/createMessage", {
            "messages": [_user({"type": "text", "text": prompt})],
            "maxTokens": 100,
        })
        content = answer.get("content") if isinstance(answer, dict) else None
        text = content.get("text") if isinstance(content, dict) else None
        return _text(f"LLM response: {text if text is not None else 'No response'}")

    async def _elicit(self, ctx: RequestContext, message: str, schema: dict[str, Any]) -> dict[str, Any]:
        self._require_capability(ctx, "elicitation")
        answer = await ctx.request("elicitation/create", {"message": message, "requestedSchema": schema})
        if not isinstance(answer, dict):
            answer = {}
        content = json.dumps(answer.get("content") or {}, separators=(",", ":"))
        return _text(f"Elicitation completed: action={answer.get('action')}, content={content}")

    async def _t_elicitation(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        message = args.get("message")
        if not isinstance(message, str):
            raise McpError(INVALID_PARAMS, "test_elicitation needs a string 'message'")
        return await self._elicit(ctx, message, {
            "type": "object",
            "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"},
            },
            "required": ["username", "email"],
        })

    async def _t_sep1034(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        return await self._elicit(ctx, "Please review these fields; each has a default.", {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "User name", "default": "John Doe"},
                "age": {"type": "integer", "description": "User age", "default": 30},
                "score": {"type": "number", "description": "User score", "default": 95.5},
                "status": {"type": "string", "description": "User status",
                           "enum": ["active", "inactive", "pending"], "default": "active"},
                "verified": {"type": "boolean", "description": "Verified user", "default": True},
            },
        })

    async def _t_sep1330(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        def titled(prefix: str, titles: tuple[str, ...]) -> list[dict[str, str]]:
            return [{"const": f"{prefix}{i}", "title": t} for i, t in enumerate(titles, 1)]

        return await self._elicit(ctx, "Please pick from each list.", {
            "type": "object",
            "properties": {
                "untitledSingle": {"type": "string", "description": "Pick one",
                                   "enum": ["option1", "option2", "option3"]},
                "titledSingle": {"type": "string", "description": "Pick one (titled)",
                                 "oneOf": titled("value", ("First Option", "Second Option", "Third Option"))},
                "legacyEnum": {"type": "string", "description": "Pick one (legacy enumNames)",
                               "enum": ["opt1", "opt2", "opt3"],
                               "enumNames": ["Option One", "Option Two", "Option Three"]},
                "untitledMulti": {"type": "array", "description": "Pick some", "minItems": 1, "maxItems": 3,
                                  "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                "titledMulti": {"type": "array", "description": "Pick some (titled)", "minItems": 1, "maxItems": 3,
                                "items": {"anyOf": titled("value", ("First Choice", "Second Choice", "Third Choice"))}},
            },
            "required": [],
        })

    async def _t_json_schema(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        return _text(f"json_schema_2020_12_tool called with {json.dumps(args, sort_keys=True)}")

    # -- 2026-07-28 fixtures (they work in the session era too: ctx.request is one call) --

    async def _ask_name(self, ctx: RequestContext, key: str, message: str = "What is your name?") -> str:
        answer = await ctx.request("elicitation/create", {
            "message": message,
            "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        }, key=key)
        return _field(answer, "name")

    async def _t_irr_elicitation(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        return _text(f"Hello, {await self._ask_name(ctx, 'user_name')}!")

    async def _t_irr_sampling(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        answer = await ctx.request("sampling/createMessage", {
            "messages": [_user({"type": "text", "text": "What is the capital of France?"})], "maxTokens": 100,
        }, key="capital_question")
        content = answer.get("content") if isinstance(answer, dict) else None
        text = content.get("text") if isinstance(content, dict) else None
        return _text(f"The model said: {text if isinstance(text, str) else '(no text)'}")

    async def _t_irr_roots(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        answer = await ctx.request("roots/list", {}, key="client_roots")
        roots = answer.get("roots") if isinstance(answer, dict) else None
        uris = [r.get("uri") for r in roots if isinstance(r, dict)] if isinstance(roots, list) else []
        return _text(f"Client roots: {', '.join(str(u) for u in uris) or '(none)'}")

    async def _t_irr_request_state(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        # ctx.state travels sealed in requestState: seeing round 1's mark proves the round trip.
        came_back = ctx.state.get("round") == 1
        ctx.state["round"] = 1
        name = await self._ask_name(ctx, "user_name")
        if ctx.per_request and not came_back:
            raise McpError(INVALID_PARAMS, "the retry did not carry this request's requestState")
        return _text(f"state-ok: the requestState came back intact; hello, {name}")

    async def _t_irr_multiple(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        answers = await ctx.request_many({
            "user_name": ("elicitation/create", {
                "message": "What is your name?",
                "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}},
                                    "required": ["name"]}}),
            "greeting": ("sampling/createMessage", {
                "messages": [_user({"type": "text", "text": "Generate a greeting"})], "maxTokens": 50}),
            "client_roots": ("roots/list", {}),
        })
        return _text(f"Got all three inputs: {', '.join(sorted(answers))}")

    async def _t_irr_multi_round(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        name = await self._ask_name(ctx, "step1", "Step 1: What is your name?")
        answer = await ctx.request("elicitation/create", {
            "message": "Step 2: What is your favorite color?",
            "requestedSchema": {"type": "object", "properties": {"color": {"type": "string"}},
                                "required": ["color"]},
        }, key="step2")
        return _text(f"{name} likes {_field(answer, 'color')}")

    async def _t_irr_tampered(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        # A tampered requestState never reaches this handler: the seam rejects it (-32602).
        return _text(f"Hello, {await self._ask_name(ctx, 'user_name')}; your requestState was intact.")

    async def _t_irr_capabilities(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        caps = self._capabilities(ctx)
        wanted: dict[str, tuple[str, Any]] = {}
        if "sampling" in caps:
            wanted["question"] = ("sampling/createMessage", {
                "messages": [_user({"type": "text", "text": "Say hello"})], "maxTokens": 20})
        if "elicitation" in caps:
            wanted["user_name"] = ("elicitation/create", {
                "message": "What is your name?",
                "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}}})
        if not wanted:
            return _text("The client declared neither sampling nor elicitation: nothing to ask.")
        answers = await ctx.request_many(wanted)
        return _text(f"Asked only for what the client declared: {', '.join(sorted(answers))}")

    async def _t_missing_capability(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        # Without the sampling capability ctx.request answers -32021 (2026-07-28).
        self._require_capability(ctx, "sampling")
        await ctx.request("sampling/createMessage", {
            "messages": [_user({"type": "text", "text": "ping"})], "maxTokens": 10}, key="sample")
        return _text("Success")

    async def _t_streaming_elicitation(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        await ctx.progress(50, 100, "about to ask")
        self._require_capability(ctx, "elicitation")
        name = await self._ask_name(ctx, "user_name")
        return _text(f"Streaming complete for {name}")

    async def _t_logging_tool(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        await self._log(ctx, "info", "Diagnostic trace logging activated")
        return _text("Logging evaluated")

    async def _announce(self, ctx: RequestContext, method: str) -> dict[str, Any]:
        if ctx.per_request:
            ctx.server.publish(method)  # to the listen streams whose filter asked for it
        elif ctx.session_id is not None:
            ctx.server.notify(ctx.session_id, method)
        return _text("Mutation triggered")

    async def _t_trigger_tool_change(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        return await self._announce(ctx, "notifications/tools/list_changed")

    async def _t_trigger_prompt_change(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        return await self._announce(ctx, "notifications/prompts/list_changed")

    async def _t_custom_headers(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        # The Mcp-Param-* headers were checked against these arguments before this runs.
        return _text(f"Custom headers test completed: region={args.get('region')!r}")

    # -- resources -----------------------------------------------------------------

    async def _resources_list(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return {"resources": RESOURCES}

    async def _templates_list(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return {"resourceTemplates": RESOURCE_TEMPLATES}

    async def _resources_read(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        uri = p.get("uri")
        if uri == "test://static-text":
            return {"contents": [{"uri": uri, "mimeType": "text/plain", "text": _STATIC_TEXT}]}
        if uri == "test://static-binary":
            return {"contents": [{"uri": uri, "mimeType": "image/png", "blob": PNG_1X1}]}
        if uri == "test://watched-resource":
            return {"contents": [{"uri": uri, "mimeType": "text/plain", "text": _WATCHED_TEXT}]}
        if isinstance(uri, str) and uri.startswith(_TEMPLATE_PREFIX) and uri.endswith(_TEMPLATE_SUFFIX):
            rid = uri[len(_TEMPLATE_PREFIX):-len(_TEMPLATE_SUFFIX)]
            if rid and "/" not in rid:
                body = {"id": rid, "templateTest": True, "data": f"Data for ID: {rid}"}
                return {"contents": [{"uri": uri, "mimeType": "application/json",
                                      "text": json.dumps(body, separators=(",", ":"))}]}
        # SEP-2164: -32602 from 2026-07-28 on; -32002 before.
        raise McpError(INVALID_PARAMS if ctx.per_request else RESOURCE_NOT_FOUND, "Resource not found", {"uri": uri})

    async def _subscribe(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        uri = p.get("uri")
        if not isinstance(uri, str):
            raise McpError(INVALID_PARAMS, "resources/subscribe needs a string 'uri'")
        self._state(ctx).subscriptions.add(uri)
        return {}

    async def _unsubscribe(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        uri = p.get("uri")
        if not isinstance(uri, str):
            raise McpError(INVALID_PARAMS, "resources/unsubscribe needs a string 'uri'")
        self._state(ctx).subscriptions.discard(uri)
        return {}

    # -- prompts -----------------------------------------------------------------

    async def _prompts_list(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return {"prompts": PROMPTS}

    async def _prompts_get(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        name = p.get("name")
        args = p.get("arguments") if isinstance(p.get("arguments"), dict) else {}
        if name == "test_simple_prompt":
            return {"messages": [_user({"type": "text", "text": "This is a simple prompt for testing."})]}
        if name == "test_prompt_with_arguments":
            missing = [a for a in ("arg1", "arg2") if not isinstance(args.get(a), str)]
            if missing:
                raise McpError(INVALID_PARAMS, f"Missing arguments: {', '.join(missing)}")
            text = f"Prompt with arguments: arg1='{args['arg1']}', arg2='{args['arg2']}'"
            return {"messages": [_user({"type": "text", "text": text})]}
        if name == "test_prompt_with_embedded_resource":
            uri = args.get("resourceUri")
            if not isinstance(uri, str):
                raise McpError(INVALID_PARAMS, "Missing argument: resourceUri")
            return {"messages": [
                _user({"type": "resource", "resource": {
                    "uri": uri, "mimeType": "text/plain", "text": "Embedded resource content for testing."}}),
                _user({"type": "text", "text": "Please process the embedded resource above."}),
            ]}
        if name == "test_input_required_result_prompt":
            answer = await ctx.request("elicitation/create", {
                "message": "What context should the prompt use?",
                "requestedSchema": {"type": "object", "properties": {"context": {"type": "string"}},
                                    "required": ["context"]},
            }, key="user_context")
            context = _field(answer, "context")
            return {"messages": [_user({"type": "text", "text": f"Answer with this context: {context}"})]}
        if name == "test_prompt_with_image":
            return {"messages": [
                _user({"type": "image", "data": PNG_1X1, "mimeType": "image/png"}),
                _user({"type": "text", "text": "Please analyze the image above."}),
            ]}
        raise McpError(INVALID_PARAMS, f"Unknown prompt: {name!r}")

    # -- dispatch tables ----------------------------------------------------------------

    _METHODS = {
        "logging/setLevel": _set_level,
        "completion/complete": _complete,
        "tools/list": _tools_list,
        "tools/call": _tools_call,
        "resources/list": _resources_list,
        "resources/templates/list": _templates_list,
        "resources/read": _resources_read,
        "resources/subscribe": _subscribe,
        "resources/unsubscribe": _unsubscribe,
        "prompts/list": _prompts_list,
        "prompts/get": _prompts_get,
    }

    _TOOL_IMPLS = {
        "test_simple_text": _t_simple_text,
        "test_image_content": _t_image,
        "test_audio_content": _t_audio,
        "test_embedded_resource": _t_embedded_resource,
        "test_multiple_content_types": _t_mixed,
        "test_tool_with_logging": _t_logging,
        "test_tool_with_progress": _t_progress,
        "test_error_handling": _t_error,
        "test_reconnection": _t_reconnection,
        "test_sampling": _t_sampling,
        "test_elicitation": _t_elicitation,
        "test_elicitation_sep1034_defaults": _t_sep1034,
        "test_elicitation_sep1330_enums": _t_sep1330,
        "json_schema_2020_12_tool": _t_json_schema,
        "test_input_required_result_elicitation": _t_irr_elicitation,
        "test_input_required_result_sampling": _t_irr_sampling,
        "test_input_required_result_list_roots": _t_irr_roots,
        "test_input_required_result_request_state": _t_irr_request_state,
        "test_input_required_result_multiple_inputs": _t_irr_multiple,
        "test_input_required_result_multi_round": _t_irr_multi_round,
        "test_input_required_result_tampered_state": _t_irr_tampered,
        "test_input_required_result_capabilities": _t_irr_capabilities,
        "test_missing_capability": _t_missing_capability,
        "test_streaming_elicitation": _t_streaming_elicitation,
        "test_logging_tool": _t_logging_tool,
        "test_trigger_tool_change": _t_trigger_tool_change,
        "test_trigger_prompt_change": _t_trigger_prompt_change,
        "test_custom_headers": _t_custom_headers,
    }
