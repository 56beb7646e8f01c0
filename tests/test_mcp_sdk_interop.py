"""Interop: the official TypeScript SDK client against an official-SDK server on streamcore's transport.

``tests/sdk_interop_server.py`` (an ``mcp`` ``MCPServer``) is served through
``streamcore.mcp_sdk`` (ASGI under uvicorn, and ``serve``); the TypeScript
SDK's client (``tests/interop/ts_client.mjs``) runs a whole session against it:
initialize, tools/list, a call with progress, an elicitation round trip, DELETE.
The official Python SDK client is exercised in ``test_mcp_sdk.py``.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
INTEROP = ROOT / "tests" / "interop"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the TypeScript SDK interop tests need Node.js >= 18)")
    if not (INTEROP / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        pytest.skip("tests/interop/node_modules is missing: run `npm ci --prefix tests/interop`")
    return node


@pytest.mark.parametrize("transport", ["asgi", "aio"])
def test_ts_client_against_sdk_server_on_streamcore(transport: str) -> None:
    """The TS SDK client completes a whole session with an SDK server served by streamcore."""
    node = _node()
    pytest.importorskip("mcp", reason="mcp is not installed (pip install -e '.[mcp]')")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "sdk_interop_server.py"), "--transport", transport],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True,
                            env=env)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        port = int(proc.stdout.readline() if ready else "0")
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
                time.sleep(0.05)
        run = subprocess.run([node, str(INTEROP / "ts_client.mjs"), f"http://127.0.0.1:{port}/mcp"], cwd=INTEROP,
                             capture_output=True, text=True, timeout=60)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no summary (rc={run.returncode}): {run.stdout!r} {run.stderr!r}"
    s = json.loads(lines[-1])
    assert "error" not in s, s["error"]
    assert s["steps"] == ["initialize", "tools/list", "countdown", "ask_name", "terminateSession"]
    assert s["serverInfo"]["name"] == "sdk-on-streamcore"
    assert {"countdown", "ask_name"} <= set(s["tools"])
    assert s["countdown"] == "liftoff" and [p["progress"] for p in s["progress"]] == [1, 2, 3]
    assert s["elicitations"] == ["What is your name?"] and s["greeting"] == "Hello, Ada!"
    assert s["terminated"] is True
