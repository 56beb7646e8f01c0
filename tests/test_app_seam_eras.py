"""The asyncio app seam in both eras: era defaults and MRTR (SEP-2322) through ``ctx.request``.

The simplest app (``SimpleApp``: declared info, ``tools/list``, one tool that
asks for the user's name) runs unchanged in both eras. It is driven by the
official Python SDK client (``mcp`` 2.3.0) pinned to the session era
(``mode="legacy"``), negotiating (``mode="auto"``, which picks 2026-07-28
from ``server/discover``) and pinned to 2026-07-28; and by raw HTTP for the
rules of the per-request era (sealed state across instances, tampering,
expiry, size, capabilities, removed methods).
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import httpx
import pytest

from streamcore.aio import McpError, RequestContext, StreamableHttpServer
from streamcore.mrtr import StateSealer

MODERN = "2026-07-28"
KEY = b"s" * 32
NAME_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
TOOLS = [
    {"name": "greet", "description": "Asks for your name, then greets you.",
     "inputSchema": {"type": "object", "properties": {"lang": {"type": "string"}}}},
    {"name": "survey", "description": "Two rounds of questions.", "inputSchema": {"type": "object"}},
    {"name": "needs_sampling", "description": "Asks the client's model.", "inputSchema": {"type": "object"}},
    {"name": "hoard", "description": "Keeps a large state across rounds.", "inputSchema": {"type": "object"}},
]


class SimpleApp:
    """The simplest app: declared info, tools/list, tools/call; no initialize, no discover."""

    server_info = {"name": "simple", "version": "1.0"}
    capabilities = {"tools": {}}

    def __init__(self) -> None:
        self.calls = 0

    async def handle_request(self, ctx: RequestContext) -> Any:
        if ctx.method == "tools/list":
            return {"tools": TOOLS}
        if ctx.method == "tools/call":
            self.calls += 1
            name = ctx.params["name"]
            if name == "greet":
                answer = await ctx.request("elicitation/create", {"message": "Your name?", "requestedSchema": NAME_SCHEMA},
                                           key="user_name")
                return {"content": [{"type": "text", "text": f"Hello, {answer['content']['name']}!"}]}
            if name == "survey":
                first = await ctx.request("elicitation/create", {"message": "Name?", "requestedSchema": NAME_SCHEMA})
                second = await ctx.request("elicitation/create", {"message": "Colour?", "requestedSchema": NAME_SCHEMA})
                return {"content": [{"type": "text", "text": f"{first['content']['name']}/{second['content']['name']}"}]}
            if name == "needs_sampling":
                await ctx.request("sampling/createMessage", {"messages": [], "maxTokens": 5})
                return {"content": []}
            if name == "hoard":
                ctx.state["blob"] = "x" * 5000
                await ctx.request("elicitation/create", {"message": "Name?", "requestedSchema": NAME_SCHEMA})
                return {"content": []}
        raise McpError(-32601, f"Method not found: {ctx.method}")

    async def handle_notification(self, session_id: str | None, method: str, params: Any) -> None:
        return None


@asynccontextmanager
async def serving(app: Any, **kw: Any) -> AsyncIterator[str]:
    hub = StreamableHttpServer(app, **kw)
    srv = await hub.start("127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/mcp"
    finally:
        await hub.aclose()


def run(coro: Any, timeout: float = 30.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


# -- the official Python SDK client -------------------------------------------------


def _sdk_client(url: str, mode: str) -> Any:
    mcp = pytest.importorskip("mcp")
    from mcp import types

    async def elicit(context: Any, params: Any) -> Any:
        return types.ElicitResult(action="accept", content={"name": "Alice" if "name" in params.message.lower() else "blue"})

    return mcp.Client(url, mode=mode, elicitation_callback=elicit)  # type: ignore[arg-type]


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["legacy", "auto", MODERN])
def test_simplest_app_with_the_python_sdk_client(mode: str) -> None:
    async def main() -> tuple[str, list[str], str, str]:
        async with serving(SimpleApp()) as url:
            async with _sdk_client(url, mode) as client:
                tools = await client.list_tools()
                greet = await client.call_tool("greet", {"lang": "en"})
                survey = await client.call_tool("survey", {})
                return (client.protocol_version, [t.name for t in tools.tools],
                        greet.content[0].text, survey.content[0].text)

    version, names, greeting, survey = run(main())
    assert version == ("2025-11-25" if mode == "legacy" else MODERN)
    assert names == [t["name"] for t in TOOLS]
    assert greeting == "Hello, Alice!"
    assert survey == "Alice/blue"  # two rounds in 2026-07-28, two server-to-client requests before


@pytest.mark.integration
def test_server_info_reaches_the_sdk_client_in_both_eras() -> None:
    async def main() -> list[Any]:
        out = []
        async with serving(SimpleApp()) as url:
            for mode in ("legacy", "auto"):
                async with _sdk_client(url, mode) as client:
                    out.append((client.server_info.name if client.server_info else None,
                                client.server_capabilities.tools is not None))
        return out

    assert run(main()) == [("simple", True), ("simple", True)]


# -- raw 2026-07-28 requests ----------------------------------------------------------


def _meta(caps: dict | None = None) -> dict:
    return {"io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"},
            "io.modelcontextprotocol/clientCapabilities": caps if caps is not None else {"elicitation": {}}}


_ids = iter(range(1, 10_000))
#: The HTTP status of a -32602 on a 2026-07-28 request is the core's mapping
#: (``streamcore.server.http_status_for_error``); the seam only picks the code.
_INVALID_PARAMS_STATUS = (200, 400)


async def post(http: httpx.AsyncClient, url: str, method: str, params: dict | None = None,
               caps: dict | None = None) -> tuple[int, dict]:
    body_params = dict(params or {})
    body_params["_meta"] = {**_meta(caps), **body_params.get("_meta", {})}
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": MODERN, "mcp-method": method}
    name = body_params.get("name") if method in ("tools/call", "prompts/get") else None
    if isinstance(name, str):
        headers["mcp-name"] = name
    r = await http.post(url, headers=headers,
                        content=json.dumps({"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": body_params}))
    return r.status_code, r.json()


async def call(http: httpx.AsyncClient, url: str, tool: str, *, arguments: dict | None = None,
               caps: dict | None = None, **extra: Any) -> tuple[int, dict]:
    return await post(http, url, "tools/call", {"name": tool, "arguments": arguments or {}, **extra}, caps=caps)


def test_input_required_then_complete_over_http() -> None:
    async def main() -> None:
        app = SimpleApp()
        async with serving(app) as url, httpx.AsyncClient() as http:
            status, r1 = await call(http, url, "greet", arguments={"lang": "en"})
            assert status == 200
            res = r1["result"]
            assert res["resultType"] == "input_required"
            assert res["inputRequests"] == {"user_name": {"method": "elicitation/create",
                                                          "params": {"message": "Your name?", "requestedSchema": NAME_SCHEMA}}}
            state = res["requestState"]
            answers = {"user_name": {"action": "accept", "content": {"name": "Bob"}}}
            status, r2 = await call(http, url, "greet", arguments={"lang": "en"}, inputResponses=answers, requestState=state)
            assert status == 200 and r2["result"]["content"][0]["text"] == "Hello, Bob!"
            assert r2["result"]["resultType"] == "complete"
            # The same state with other arguments belongs to another request.
            status, r3 = await call(http, url, "greet", arguments={"lang": "fr"}, inputResponses=answers, requestState=state)
            assert status in _INVALID_PARAMS_STATUS and r3["error"]["code"] == -32602 and r3["error"]["data"] == {"reason": "foreign"}
            assert app.calls == 2  # the rejected retry never reached the handler

    run(main())


def test_multi_round_over_http() -> None:
    async def main() -> None:
        async with serving(SimpleApp()) as url, httpx.AsyncClient() as http:
            _, r1 = await call(http, url, "survey")
            assert list(r1["result"]["inputRequests"]) == ["input-1"]
            _, r2 = await call(http, url, "survey", inputResponses={"input-1": {"action": "accept", "content": {"name": "A"}}},
                               requestState=r1["result"]["requestState"])
            assert r2["result"]["resultType"] == "input_required"
            assert list(r2["result"]["inputRequests"]) == ["input-2"]
            assert r2["result"]["requestState"] != r1["result"]["requestState"]
            # The last round answers only input-2: input-1 comes back from the sealed state.
            _, r3 = await call(http, url, "survey", inputResponses={"input-2": {"action": "accept", "content": {"name": "B"}}},
                               requestState=r2["result"]["requestState"])
            assert r3["result"]["content"][0]["text"] == "A/B"

    run(main())


def test_any_instance_with_the_key_continues_the_request() -> None:
    async def main() -> None:
        answers = {"user_name": {"action": "accept", "content": {"name": "Eve"}}}
        async with serving(SimpleApp(), request_state=StateSealer(KEY)) as a, \
                serving(SimpleApp(), request_state=StateSealer(KEY)) as b, \
                serving(SimpleApp(), request_state=StateSealer(b"t" * 32)) as c, \
                httpx.AsyncClient() as http:
            _, r1 = await call(http, a, "greet")
            state = r1["result"]["requestState"]
            _, r2 = await call(http, b, "greet", inputResponses=answers, requestState=state)
            assert r2["result"]["content"][0]["text"] == "Hello, Eve!"
            status, r3 = await call(http, c, "greet", inputResponses=answers, requestState=state)
            assert status in _INVALID_PARAMS_STATUS and r3["error"]["data"] == {"reason": "tampered"}

    run(main())


def test_tampered_state_is_rejected_over_http() -> None:
    async def main() -> None:
        app = SimpleApp()
        async with serving(app) as url, httpx.AsyncClient() as http:
            _, r1 = await call(http, url, "greet")
            status, r2 = await call(http, url, "greet", inputResponses={"user_name": {"action": "accept", "content": {"name": "x"}}},
                                    requestState=r1["result"]["requestState"] + "-TAMPERED")
            assert status in _INVALID_PARAMS_STATUS
            assert r2["error"]["code"] == -32602 and r2["error"]["data"] == {"reason": "tampered"}
            assert app.calls == 1

    run(main())


def test_expired_state_is_rejected_over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        async with serving(SimpleApp(), request_state=StateSealer(KEY, ttl=30)) as url, httpx.AsyncClient() as http:
            _, r1 = await call(http, url, "greet")
            real = time.time
            monkeypatch.setattr(time, "time", lambda: real() + 60)
            status, r2 = await call(http, url, "greet", inputResponses={"user_name": {"action": "accept", "content": {"name": "x"}}},
                                    requestState=r1["result"]["requestState"])
            assert status in _INVALID_PARAMS_STATUS and r2["error"]["data"] == {"reason": "expired"}

    run(main())


def test_oversize_state_fails_the_request_not_the_server() -> None:
    async def main() -> None:
        async with serving(SimpleApp(), request_state=StateSealer(KEY, max_state_bytes=1024)) as url, \
                httpx.AsyncClient() as http:
            status, r1 = await call(http, url, "hoard")
            assert r1["error"]["code"] == -32603 and "too large" in r1["error"]["message"]
            status, r2 = await call(http, url, "greet")  # the server goes on
            assert r2["result"]["resultType"] == "input_required"
            # A client-sent state over the bound is refused before it is decoded.
            status, r3 = await call(http, url, "greet", requestState="v1." + "A" * 2000 + ".x")
            assert status in _INVALID_PARAMS_STATUS and r3["error"]["data"] == {"reason": "oversize"}

    run(main())


def test_bad_input_responses_are_rejected() -> None:
    async def main() -> None:
        async with serving(SimpleApp()) as url, httpx.AsyncClient() as http:
            for bad in (None, 5, {"user_name": 12345}):
                status, r = await call(http, url, "greet", inputResponses=bad)
                assert status in _INVALID_PARAMS_STATUS and r["error"]["code"] == -32602, bad
            # Unknown keys are ignored, a missing answer is asked for again.
            _, r = await call(http, url, "greet", inputResponses={"other": {"action": "accept"}})
            assert r["result"]["resultType"] == "input_required"

    run(main())


def test_undeclared_capability_is_32021() -> None:
    async def main() -> None:
        async with serving(SimpleApp()) as url, httpx.AsyncClient() as http:
            status, r = await post(http, url, "tools/call", {"name": "needs_sampling", "arguments": {}},
                                   caps={"elicitation": {}})
            assert status == 400
            assert r["error"]["code"] == -32021
            assert r["error"]["data"] == {"requiredCapabilities": {"sampling": {}}}
            status, r = await post(http, url, "tools/call", {"name": "needs_sampling", "arguments": {}},
                                   caps={"sampling": {}})
            assert status == 200 and r["result"]["resultType"] == "input_required"

    run(main())


def test_era_defaults_discover_caching_removed_methods() -> None:
    async def main() -> None:
        async with serving(SimpleApp()) as url, httpx.AsyncClient() as http:
            status, d = await post(http, url, "server/discover")
            assert status == 200
            res = d["result"]
            assert res["supportedVersions"][0] == MODERN and "2025-11-25" in res["supportedVersions"]
            assert res["capabilities"] == {"tools": {}}
            assert res["_meta"]["io.modelcontextprotocol/serverInfo"] == {"name": "simple", "version": "1.0"}
            _, t = await post(http, url, "tools/list")
            assert t["result"]["ttlMs"] == 0 and t["result"]["cacheScope"] == "private"
            for method in ("initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"):
                status, r = await post(http, url, method)
                assert status == 404 and r["error"]["code"] == -32601, method

    run(main())


def test_input_required_outside_mrtr_methods_is_an_internal_error() -> None:
    class Lister(SimpleApp):
        async def handle_request(self, ctx: RequestContext) -> Any:
            if ctx.method == "tools/list":
                await ctx.request("roots/list", {})
            return await super().handle_request(ctx)

    async def main() -> None:
        async with serving(Lister()) as url, httpx.AsyncClient() as http:
            _, r = await post(http, url, "tools/list", caps={"roots": {}})
            assert r["error"]["code"] == -32603

    run(main())


def test_handler_catching_exception_does_not_swallow_input_required() -> None:
    class Careless(SimpleApp):
        async def handle_request(self, ctx: RequestContext) -> Any:
            try:
                return await super().handle_request(ctx)
            except Exception:  # noqa: BLE001 - the point of the test
                return {"content": [{"type": "text", "text": "swallowed"}]}

    async def main() -> None:
        async with serving(Careless()) as url, httpx.AsyncClient() as http:
            _, r = await call(http, url, "greet")
            assert r["result"]["resultType"] == "input_required"

    run(main())
