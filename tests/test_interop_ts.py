"""Interop with the official MCP TypeScript SDK (``@modelcontextprotocol/sdk``).

The SDK's own client (``tests/interop/ts_client.mjs``) drives our demo server
through a whole session: initialize, tools/list, a tool call with progress,
one with an elicitation round trip, and DELETE. Needs ``node`` and
``npm ci`` run in ``tests/interop``; otherwise the tests skip (and CI, which
sets ``STREAMCORE_REQUIRE_INTEGRATION=1``, turns the skip into a failure).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from _procs import streamcore_server

INTEROP = Path(__file__).resolve().parent / "interop"

pytestmark = pytest.mark.integration


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the TypeScript SDK interop tests need Node.js >= 18)")
    if not (INTEROP / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        pytest.skip("tests/interop/node_modules is missing: run `npm ci --prefix tests/interop`")
    return node


def _run_client(url: str) -> dict:
    node = _node()
    proc = subprocess.run(
        [node, str(INTEROP / "ts_client.mjs"), url],
        cwd=INTEROP, capture_output=True, text=True, timeout=60,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no summary from the TS client (rc={proc.returncode}): {proc.stdout!r} {proc.stderr!r}"
    summary = json.loads(lines[-1])
    assert "error" not in summary, summary["error"]
    assert proc.returncode == 0, proc.stderr
    return summary


@pytest.mark.parametrize("mode", [(), ("--json",), ("--no-store",)], ids=["sse", "json", "no-store"])
def test_ts_sdk_client_full_session(mode: tuple[str, ...]) -> None:
    """The TS SDK client completes a whole session against our server, in SSE, JSON and store-less modes."""
    _node()
    with streamcore_server(*mode) as url:
        s = _run_client(url)
    assert s["steps"] == ["initialize", "tools/list", "countdown", "ask_name", "terminateSession"]
    assert s["sessionId"]
    assert s["protocolVersion"] == "2025-11-25"
    assert s["serverInfo"]["name"] == "streamcore-demo"
    assert {"echo", "add", "countdown", "ask_name", "blob"} <= set(s["tools"])
    assert s["countdown"] == "liftoff"
    # progress the SDK received in time, plus what it read with the response and dropped
    # as "unknown token" (the SDK's ordering, see ts_client.mjs): together, what we sent
    seen = [p["progress"] for p in s["progress"]] + s["lateProgress"]
    if mode == ("--json",):
        # a JSON response carries no notifications: progress is dropped, not misrouted
        assert seen == [] or seen == [1, 2, 3]
    else:
        assert seen == [1, 2, 3]
        assert all(p["total"] == 3 for p in s["progress"])
    assert s["elicitations"] == ["What is your name?"]
    assert s["greeting"] == "Hello, Ada!"
    assert s["terminated"] is True


def test_ts_sdk_client_session_is_gone_after_delete() -> None:
    """After the TS client's DELETE, the session id it held is rejected with 404."""
    import httpx

    _node()
    with streamcore_server() as url:
        s = _run_client(url)
        r = httpx.post(
            url,
            json={"jsonrpc": "2.0", "id": 9, "method": "ping"},
            headers={"Accept": "application/json, text/event-stream",
                     "Mcp-Session-Id": s["sessionId"], "MCP-Protocol-Version": "2025-11-25"},
            timeout=10,
        )
    assert r.status_code == 404


def test_ts_sdk_server_echo() -> None:
    """The TS SDK peer server (``ts_server.mjs``, used by the e2e benchmark) runs a session: initialize, echo, DELETE."""
    import re
    import signal

    import httpx

    node = _node()
    proc = subprocess.Popen([node, str(INTEROP / "ts_server.mjs"), "0"], cwd=INTEROP,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        m = re.search(r"(http://\S+/mcp)", proc.stdout.readline())
        assert m, proc.stderr.read() if proc.stderr else ""
        url = m.group(1)
        accept = "application/json, text/event-stream"
        with httpx.Client(timeout=10) as c:
            r = c.post(url, headers={"Accept": accept}, json={
                "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                           "clientInfo": {"name": "t", "version": "1"}}})
            assert r.status_code == 200
            h = {"Accept": accept, "Mcp-Session-Id": r.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"}
            assert c.post(url, headers=h, json={"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202
            r = c.post(url, headers=h, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                             "params": {"name": "echo", "arguments": {"text": "hi"}}})
            assert r.status_code == 200 and '"text":"hi"' in r.text
            assert c.delete(url, headers=h).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        for s in (proc.stdout, proc.stderr):
            if s:
                s.close()
