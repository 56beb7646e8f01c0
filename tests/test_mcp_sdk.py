"""streamcore.mcp_sdk with the official Python SDK on both ends: an SDK server on our transport,
the SDK's own client (``mcp.Client``) talking to it, in both eras.

Each test serves the server one of two ways (the ``transport`` parameter):
``serve`` (streamcore's asyncio engine) or ``asgi`` (``streamable_http_app``
under a real uvicorn in this process), on 127.0.0.1 with an ephemeral port.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest

mcp = pytest.importorskip("mcp", reason="mcp is not installed (pip install -e '.[mcp]')")
uvicorn = pytest.importorskip("uvicorn", reason="uvicorn is not installed (pip install -e '.[asgi]')")

import mcp_types as types  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.server import MCPServer  # noqa: E402
from mcp.server.mcpserver import Context  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402

from streamcore import mcp_sdk  # noqa: E402

try:
    import fastmcp
except ImportError:  # the [fastmcp] extra is optional
    fastmcp = None

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def build(events: list[str]) -> MCPServer:
    """A high-level SDK server: a lifespan, and tools using progress, logging, elicitation, sampling."""

    @contextlib.asynccontextmanager
    async def lifespan(server: MCPServer) -> AsyncIterator[dict[str, str]]:
        events.append("enter")
        yield {"db": "connected"}
        events.append("exit")

    app = MCPServer("sdk-test", lifespan=lifespan)

    @app.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @app.tool()
    async def lifespan_state(ctx: Context) -> str:
        """What the lifespan yielded."""
        return str(ctx.request_context.lifespan_context["db"])

    @app.tool()
    async def count(n: int, ctx: Context) -> str:
        """Progress n times."""
        for i in range(n):
            await ctx.report_progress(i + 1, n, f"step {i + 1}")
        return "done"

    @app.tool()
    async def chatty(ctx: Context) -> str:
        """Logs twice."""
        await ctx.info("first")
        await ctx.info("second")
        return "logged"

    @app.tool()
    async def ask(ctx: Context) -> str:
        """Elicits a name."""
        from pydantic import BaseModel

        class Name(BaseModel):
            name: str

        answer = await ctx.elicit("Your name?", Name)
        return f"hello {answer.data.name}" if answer.action == "accept" and answer.data else "nobody"

    @app.tool()
    async def sample(ctx: Context) -> str:
        """Asks the client's LLM."""
        r = await ctx.session.create_message(
            [types.SamplingMessage(role="user", content=types.TextContent(type="text", text="hi"))],
            max_tokens=5, related_request_id=ctx.request_id)
        return f"llm said {getattr(r.content, 'text', '?')}"

    @app.tool()
    async def boom() -> str:
        """Raises."""
        raise ValueError("kaboom")

    return app


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def served(server: Any, transport: str, **kw: Any) -> AsyncIterator[str]:
    """Serve ``server`` on loopback; yield its URL; stop it (by its task, in this process)."""
    if transport == "serve":
        port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(mcp_sdk.serve(server, "127.0.0.1", 0, ready=port.set_result, **kw))
        p = await asyncio.wait_for(port, 10)
        try:
            yield f"http://127.0.0.1:{p}/mcp"
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    else:
        p = _port()
        cfg = uvicorn.Config(mcp_sdk.streamable_http_app(server, **kw), host="127.0.0.1", port=p,
                             log_level="warning", lifespan="on")
        srv = uvicorn.Server(cfg)
        task = asyncio.ensure_future(srv.serve())
        for _ in range(200):
            if srv.started:
                break
            await asyncio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{p}/mcp"
        finally:
            srv.should_exit = True
            await asyncio.wait_for(task, 10)


TRANSPORTS = ["serve", "asgi"]


async def _elicit(context: Any, params: Any) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"name": "Ada"})


async def _sample(context: Any, params: Any) -> types.CreateMessageResult:
    return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="beep"),
                                     model="m")


def _text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_session_era_sdk_semantics(transport: str) -> None:
    """Session era (initialize): tools, lifespan state, progress, logging, elicitation, sampling, errors,
    all through the SDK's own handlers; the lifespan is entered once and left at shutdown."""
    events: list[str] = []
    progress: list[float] = []
    logs: list[Any] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append(p)

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params.data)

    async with served(build(events), transport) as url:
        async with Client(url, mode="legacy", elicitation_callback=_elicit, sampling_callback=_sample,
                          logging_callback=on_log) as client:
            assert _text(await client.call_tool("add", {"a": 2, "b": 3})) == "5"
            assert _text(await client.call_tool("lifespan_state", {})) == "connected"
            assert _text(await client.call_tool("count", {"n": 3}, progress_callback=on_progress)) == "done"
            assert progress == [1, 2, 3]
            assert _text(await client.call_tool("chatty", {})) == "logged"
            assert logs == ["first", "second"]
            assert _text(await client.call_tool("ask", {})) == "hello Ada"
            assert _text(await client.call_tool("sample", {})) == "llm said beep"
            bad = await client.call_tool("boom", {})
            assert bad.is_error and "Error executing tool boom" in _text(bad)  # the SDK hides the exception text
            tools = await client.list_tools()
            assert {t.name for t in tools.tools} >= {"add", "count", "ask"}
        assert events == ["enter"]
    assert events == ["enter", "exit"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_per_request_era(transport: str) -> None:
    """2026-07-28 (no initialize, no session): tools and progress through the SDK's serve_one."""
    progress: list[float] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append(p)

    async with served(build([]), transport) as url:
        async with Client(url, mode="2026-07-28") as client:
            assert _text(await client.call_tool("add", {"a": 20, "b": 22})) == "42"
            assert _text(await client.call_tool("count", {"n": 2}, progress_callback=on_progress)) == "done"
            assert progress == [1, 2]
            assert _text(await client.call_tool("lifespan_state", {})) == "connected"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_auto_mode_negotiates(transport: str) -> None:
    """The SDK client's default (discover, fall back to initialize) works against our transport."""
    async with served(build([]), transport) as url:
        async with Client(url) as client:
            assert _text(await client.call_tool("add", {"a": 1, "b": 1})) == "2"


async def test_json_response_mapping() -> None:
    """json_response=True answers with application/json (and the SDK's tools still run)."""
    async with served(build([]), "serve", json_response=True) as url:
        async with Client(url, mode="legacy") as client:
            assert _text(await client.call_tool("add", {"a": 1, "b": 2})) == "3"


async def test_stateless_mapping() -> None:
    """stateless=True: each request gets a born-ready SDK connection; tools work, server requests do not."""
    async with served(build([]), "serve", stateless=True) as url:
        async with Client(url, mode="legacy", elicitation_callback=_elicit) as client:
            assert _text(await client.call_tool("add", {"a": 4, "b": 4})) == "8"
            with pytest.raises(MCPError, match="no back-channel"):  # as on the SDK's own stateless transport
                await client.call_tool("ask", {})


async def test_session_close_unwinds_the_sdk_connection() -> None:
    """DELETE (the client leaving) ends the session and unwinds the SDK Connection's exit stack."""
    closed = asyncio.Event()
    server = MCPServer("unwind")

    @server.tool()
    async def hold(ctx: Context) -> str:
        """Registers a per-connection cleanup."""

        async def cleanup() -> None:
            closed.set()

        ctx.request_context.session._connection.exit_stack.push_async_callback(cleanup)  # noqa: SLF001
        return "ok"

    async with served(server, "serve") as url:
        async with Client(url, mode="legacy") as client:
            assert _text(await client.call_tool("hold", {})) == "ok"
        await asyncio.wait_for(closed.wait(), 5)


def test_rejects_other_objects() -> None:
    """Only SDK servers (and FastMCP) are accepted."""
    with pytest.raises(TypeError):
        mcp_sdk.streamable_http_app(object())


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_fastmcp(transport: str) -> None:
    """The standalone fastmcp package (4.x): a FastMCP server on our transport, both eras."""
    if fastmcp is None:
        pytest.skip("fastmcp is not installed (pip install -e '.[fastmcp]')")
    server = fastmcp.FastMCP("fm")
    progress: list[float] = []

    @server.tool
    async def mul(a: int, b: int, ctx: fastmcp.Context) -> int:
        """Multiply."""
        await ctx.report_progress(1, 1)
        return a * b

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append(p)

    async with served(server, transport) as url:
        async with Client(url, mode="legacy") as client:
            assert _text(await client.call_tool("mul", {"a": 6, "b": 7}, progress_callback=on_progress)) == "42"
        async with Client(url, mode="2026-07-28") as client:
            assert _text(await client.call_tool("mul", {"a": 3, "b": 3})) == "9"
    assert progress == [1]


async def test_concurrent_first_requests_enter_the_lifespan_once() -> None:
    """Without an ASGI lifespan, two first requests at once enter the SDK lifespan once and both see its state."""
    entered: list[int] = []

    @contextlib.asynccontextmanager
    async def lifespan(server: Any) -> AsyncIterator[dict[str, int]]:
        entered.append(1)
        await asyncio.sleep(0.05)
        yield {"n": len(entered)}

    app = mcp_sdk.SdkApp(MCPServer("once", lifespan=lifespan))
    await asyncio.gather(app.startup(), app.startup(), app.startup())
    assert entered == [1]
    assert app.lifespan_state == {"n": 1}
    await app.shutdown()
