"""streamcore behind a real nginx, with the configuration ``docs/deployment.md`` shows.

``tests/_nginx.py`` loads ``examples/deploy/nginx.conf`` (the page's block;
``tests/test_docs.py`` checks they are equal) and replaces only the addresses.
Here: the config's promises (no buffering, HTTP/1.1 upstream, timeouts longer
than the heartbeat), then whole sessions through nginx in front of one
instance on the memory stores, by a raw client that counts events by id and
by the official Python and TypeScript SDK clients: initialize, progress, an
elicitation round trip, a resumed stream (GET + Last-Event-ID), DELETE. Each
twice: nginx in front of one instance on the memory stores, and in front of
three ``serve --redis`` instances on one real redis-server, where consecutive
requests of a session land on different instances.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from _nginx import PAGE, Instance, Nginx, doc_config, nginx_missing, redis_instance_argv, render
from _redis_server import REDIS_SERVER, RedisServer
from _sse_http import countdown, initialize, request
from streamcore.server import DEFAULT_HEARTBEAT_INTERVAL

INTEROP = Path(__file__).resolve().parent / "interop"


def _seconds(text: str, directive: str) -> float:
    m = re.search(rf"^\s*{directive}\s+(\d+)(s|m)?;", text, re.M)
    assert m is not None, f"{directive} is not set"
    return float(m.group(1)) * (60 if m.group(2) == "m" else 1)


def test_config_is_the_one_the_page_shows() -> None:
    """The tested config is the page's: marked as that file, three upstreams, no affinity,
    no buffering, HTTP/1.1 to the instances, timeouts longer than the heartbeat (COMPAT: proxies)."""
    page = PAGE.read_text(encoding="utf-8")
    assert "<!-- file: examples/deploy/nginx.conf -->" in page
    text = doc_config()
    assert len(re.findall(r"^\s*server 127\.0\.0\.1:\d+", text, re.M)) == 3
    for directive in ("ip_hash", "hash ", "sticky", "least_conn"):
        assert directive not in text  # round-robin, no session affinity
    assert re.search(r"^\s*proxy_buffering off;", text, re.M)
    assert re.search(r"^\s*proxy_http_version 1\.1;", text, re.M)
    assert re.search(r'^\s*proxy_set_header Connection "";', text, re.M)
    assert _seconds(text, "proxy_read_timeout") > 2 * DEFAULT_HEARTBEAT_INTERVAL
    assert _seconds(text, "proxy_send_timeout") > 2 * DEFAULT_HEARTBEAT_INTERVAL
    out = render([1111, 2222], 3333)
    assert re.findall(r"server 127\.0\.0\.1:(\d+) max_fails=1 fail_timeout=5s;", out) == ["1111", "2222"]
    assert "listen 127.0.0.1:3333;" in out and out.count("listen") == 1


@pytest.fixture(scope="module", params=["one", "three"])
def single(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Nginx]]:
    """nginx in front of ``one`` demo instance on the memory stores, or ``three`` ``serve --redis``
    instances on one real redis-server (round-robin, no affinity)."""
    reason = nginx_missing() or (None if request.param == "one" or REDIS_SERVER else "redis-server is not installed")
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp(request.param)
    insts: list[Instance] = []
    redis = None
    try:
        if request.param == "one":
            insts.append(Instance(tmp, "--retry-ms", "200"))
        else:
            redis = RedisServer()
            redis.start()
            insts += [Instance(tmp, argv=redis_instance_argv(redis.url)) for _ in range(3)]
        with Nginx([i.port for i in insts]) as ng:
            yield insts, ng
            if request.param == "three":  # every instance served some of it
                assert sorted(ng.served_by()) == sorted(i.port for i in insts), ng.served_by()
    finally:
        for i in insts:
            i.stop()
        if redis is not None:
            redis.close()


@pytest.mark.integration
def test_raw_session_through_nginx(single: tuple[Any, Nginx]) -> None:
    """Through nginx: progress streams as it happens (not buffered), a dropped POST stream resumes
    with GET + Last-Event-ID with every event once (SRV-RESUME-01, -03), DELETE ends the session
    (SRV-SESS-05), and a later request gets 404."""
    inst, ng = single
    sid = initialize(ng.port)
    r = request(ng.port, "POST", countdown(2, 8, 0.15), sid=sid)
    assert r.status == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert "x-accel-buffering" not in r.headers or r.headers["x-accel-buffering"] == "no"
    t0 = time.monotonic()
    got: list[Any] = []
    ids: list[str] = []
    first_at = -1.0
    for ev in r.sse():
        if ev.id:
            ids.append(ev.id)
        msg = ev.message()
        if msg is None:
            continue  # the priming event
        got.append(msg)
        if first_at < 0:
            first_at = time.monotonic() - t0
        if len(got) == 3:
            break  # the client drops the stream mid-call
    r.close()
    assert first_at < 0.5, first_at  # the first progress was not held back until the end (1.2 s)
    time.sleep(0.3)
    g = request(ng.port, "GET", sid=sid, last_event_id=ids[-1])
    assert g.status == 200
    for ev in g.sse():
        if ev.id:
            ids.append(ev.id)
        msg = ev.message()
        if msg is not None:
            got.append(msg)
            if "result" in msg:
                break
    g.close()
    progress = [m["params"]["progress"] for m in got if m.get("method") == "notifications/progress"]
    assert progress == [1, 2, 3, 4, 5, 6, 7, 8]
    assert got[-1]["id"] == 2 and got[-1]["result"]["content"][0]["text"] == "liftoff"
    assert len(ids) == len(set(ids))
    d = request(ng.port, "DELETE", sid=sid)
    d.resp.read()
    d.close()
    assert d.status in (200, 204)
    after = request(ng.port, "POST", {"jsonrpc": "2.0", "id": 3, "method": "ping"}, sid=sid)
    after.resp.read()
    after.close()
    assert after.status == 404


def _python_sdk_session(url: str) -> dict[str, Any]:
    """The official Python SDK client: initialize, progress, elicitation, a resumed stream, DELETE."""
    from mcp import types
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.message import ClientMessageMetadata

    out: dict[str, Any] = {"progress": [], "tokens": []}

    async def elicit(ctx: Any, params: Any) -> Any:
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def on_progress(p: float, total: float | None, msg: str | None) -> None:
        out["progress"].append(p)

    async def on_token(token: str) -> None:
        out["tokens"].append(token)

    async def run() -> None:
        async with streamable_http_client(url) as (r, w):
            async with ClientSession(r, w, elicitation_callback=elicit) as s:
                await s.initialize()
                cd = await s.send_request(
                    types.CallToolRequest(params=types.CallToolRequestParams(
                        name="countdown", arguments={"n": 5, "delay": 0.02})),
                    types.CallToolResult, metadata=ClientMessageMetadata(on_resumption_token_update=on_token),
                    progress_callback=on_progress)
                out["countdown"] = cd.content[0].text  # type: ignore[union-attr]
                out["hello"] = (await s.call_tool("ask_name", {})).content[0].text  # type: ignore[union-attr]
                # Resume the countdown's stream after its second event: GET + Last-Event-ID
                # replays the rest, the stored result included.
                again = await s.send_request(
                    types.CallToolRequest(params=types.CallToolRequestParams(
                        name="countdown", arguments={"n": 5, "delay": 0.02})),
                    types.CallToolResult, metadata=ClientMessageMetadata(resumption_token=out["tokens"][1]))
                out["resumed"] = again.content[0].text  # type: ignore[union-attr]
        # Leaving streamable_http_client sends DELETE (terminate_on_close).

    asyncio.run(asyncio.wait_for(run(), 60))
    return out


@pytest.mark.integration
def test_python_sdk_client_through_nginx(single: tuple[Any, Nginx]) -> None:
    """The official Python SDK client completes a full session through nginx (COMPAT-SDK-PY)."""
    inst, ng = single
    before = ng.access_log().count('"DELETE /mcp')
    out = _python_sdk_session(ng.url)
    assert out["countdown"] == "liftoff" and out["progress"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert out["hello"] == "Hello, Ada!"
    assert out["resumed"] == "liftoff" and len(set(out["tokens"])) == len(out["tokens"]) >= 6
    time.sleep(0.2)
    log = ng.access_log()
    assert log.count('"DELETE /mcp') == before + 1, log[-2000:]
    assert re.search(r'"GET /mcp HTTP/1\.1" 200', log)  # the resumed stream went through nginx


def _ts_session(url: str) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the TypeScript SDK client needs Node.js >= 18)")
    if not (INTEROP / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        pytest.skip("tests/interop/node_modules is missing: run `npm ci --prefix tests/interop`")
    proc = subprocess.run([node, str(INTEROP / "ts_cluster_client.mjs"), url], cwd=INTEROP,
                          capture_output=True, text=True, timeout=60)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no summary from the TS client (rc={proc.returncode}): {proc.stdout!r} {proc.stderr!r}"
    summary: dict[str, Any] = json.loads(lines[-1])
    assert "error" not in summary, summary["error"]
    assert proc.returncode == 0, proc.stderr
    return summary


def _check_ts(s: dict[str, Any]) -> None:
    assert s["steps"] == ["initialize", "countdown", "ask_name", "resume", "terminateSession"], s
    assert [p["progress"] for p in s["progress"]] == [1, 2, 3, 4, 5]
    assert s["countdown"] == "liftoff" and s["greeting"] == "Hello, Ada!"
    # The resumed stream: the events after the second one, each once, the result last.
    assert s["replayed"] == [3, 4, 5, "liftoff"], s
    assert s["afterDelete"] == 404


@pytest.mark.integration
def test_ts_sdk_client_through_nginx(single: tuple[Any, Nginx]) -> None:
    """The official TypeScript SDK client completes a full session through nginx (COMPAT-SDK-TS)."""
    _check_ts(_ts_session(single[1].url))
