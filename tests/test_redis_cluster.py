"""Several StreamableHttpServer instances sharing one real redis-server are one server (issue 13).

Each test runs two instances (A, B) in this process on ephemeral ports, each
with its own RedisCluster on the same redis-server, and drives them with
real HTTP (httpx). Spec IDs: SRV-SESS-01/05 (a session's requests and its
end), SRV-RESUME-02/03/05/06 and SEC-12 (resumption, only that stream of that
session), SRV-SSE-02 (server requests on the request's stream), CANCEL-01.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator

import httpx
import pytest

from _redis_server import RedisServer, redis_server  # noqa: F401  (fixture)
from streamcore.aio.server import StreamableHttpServer
from streamcore.demo import DemoApp
from streamcore.redis import HANDLER_LOST, RedisCluster
from streamcore.server import ServerConfig

pytestmark = pytest.mark.integration

ACCEPT = "application/json, text/event-stream"
V = "2025-11-25"


class Node:
    def __init__(self, hub: StreamableHttpServer, port: int) -> None:
        self.hub = hub
        self.port = port
        self.url = f"http://127.0.0.1:{port}/mcp"

    @property
    def cluster(self) -> RedisCluster:
        assert self.hub.cluster is not None
        return self.hub.cluster

    def crash(self) -> None:
        """As kill -9 would: no flush, no lease release, connections dropped."""
        self.cluster._crash()
        for srv in self.hub._servers:
            srv.close()
        self.hub._abort_all()


@asynccontextmanager
async def nodes(redis: RedisServer, n: int = 2, **kw: Any) -> AsyncIterator[list[Node]]:
    out: list[Node] = []
    try:
        for i in range(n):
            cluster = RedisCluster(redis.url, name=f"node{i}", lease_ttl=kw.get("lease_ttl", 1.5),
                                   op_timeout=kw.get("op_timeout", 0.5), probe_interval=0.1,
                                   max_stream_events=kw.get("max_stream_events", 10_000))
            hub = StreamableHttpServer(DemoApp(), ServerConfig(retry_ms=kw.get("retry_ms"), json_response=kw.get("json", False),
                                                    session_idle_timeout=kw.get("idle", 1800.0),
                                                    authenticate=kw.get("authenticate")), cluster=cluster,
                                       shutdown_grace=0.2)
            srv = await hub.start("127.0.0.1", 0)
            out.append(Node(hub, srv.sockets[0].getsockname()[1]))
        yield out
    finally:
        for node in out:
            try:
                await asyncio.wait_for(node.hub.aclose(), 5)
            except Exception:
                pass


def parse_sse(text: str) -> list[tuple[str | None, Any]]:
    """(id, message) per SSE event that carries data."""
    out: list[tuple[str | None, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        eid, data = None, []
        for line in block.split("\n"):
            if line.startswith("id:"):
                eid = line[3:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if data and "".join(data):
            out.append((eid, json.loads("\n".join(data))))
    return out


def hdrs(sid: str | None = None, **extra: str) -> dict[str, str]:
    h = {"accept": ACCEPT, "content-type": "application/json", "mcp-protocol-version": V}
    if sid is not None:
        h["mcp-session-id"] = sid
    h.update(extra)
    return h


async def post(c: httpx.AsyncClient, node: Node, body: Any, sid: str | None = None, **extra: str) -> httpx.Response:
    return await c.post(node.url, content=json.dumps(body), headers=hdrs(sid, **extra))


async def initialize(c: httpx.AsyncClient, node: Node, caps: dict[str, Any] | None = None) -> str:
    r = await post(c, node, {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                             "params": {"protocolVersion": V, "capabilities": caps or {},
                                        "clientInfo": {"name": "t", "version": "1"}}})
    assert r.status_code == 200, r.text
    sid = r.headers["mcp-session-id"]
    msgs = parse_sse(r.text) if r.headers["content-type"].startswith("text/event-stream") else [(None, r.json())]
    assert msgs[-1][1]["result"]["protocolVersion"] == V
    return sid


def call(i: int, name: str, arguments: dict[str, Any], progress: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "arguments": arguments}
    if progress is not None:
        params["_meta"] = {"progressToken": progress}
    return {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": params}


@pytest.mark.parametrize("http", ["http/1.1", "h2c"])
def test_a_session_of_a_continues_on_b(redis_server: RedisServer, http: str) -> None:
    """SRV-SESS-01, SRV-SESS-05: initialize on A; POST, GET and DELETE on B; then 404 everywhere
    (over HTTP/1.1, and over HTTP/2 with prior knowledge: forwarding is engine-neutral)."""
    h2 = http == "h2c"

    async def body() -> None:
        async with nodes(redis_server) as (a, b), httpx.AsyncClient(timeout=10, http1=not h2, http2=h2) as c:
            sid = await initialize(c, a)
            r = await post(c, b, {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
            assert r.status_code == 202
            r = await post(c, b, call(1, "add", {"a": 2, "b": 3}), sid)
            assert r.status_code == 200 and r.headers["mcp-session-id"] == sid
            assert r.http_version == ("HTTP/2" if h2 else "HTTP/1.1")
            assert parse_sse(r.text)[-1][1]["result"]["content"][0]["text"] == "5"
            assert b.hub.core.sessions == 0 and a.hub.core.sessions == 1  # served by its home, A
            await a.cluster._barrier()
            # Answered requests leave no bookkeeping behind (only streams still owing answers have it).
            assert await a.cluster._r.keys("streamcore:o:*") == []  # type: ignore[union-attr]
            # A notification from A's application reaches the GET stream the client holds on B.
            async with c.stream("GET", b.url, headers=hdrs(sid)) as g:
                assert g.status_code == 200
                lines = g.aiter_lines()
                await asyncio.sleep(0.2)
                a.hub.notify(sid, "notifications/message", {"level": "info", "data": "from A"})
                got = []
                async for line in lines:
                    if line.startswith("data:") and line[5:].strip():
                        got.append(json.loads(line[5:]))
                        break
                assert got[0]["method"] == "notifications/message" and got[0]["params"]["data"] == "from A"
            r = await c.delete(b.url, headers=hdrs(sid))
            assert r.status_code == 200
            for node in (a, b):
                r = await post(c, node, call(2, "add", {"a": 1, "b": 1}), sid)
                assert r.status_code == 404, (node.url, r.status_code, r.text)
            assert await a.cluster._r.exists(f"streamcore:s:{sid}") == 0  # type: ignore[union-attr]
    asyncio.run(body())


def test_an_elicitation_answer_posted_to_b_reaches_the_handler_on_a(redis_server: RedisServer) -> None:
    """SRV-SSE-02: the server's request rides the tool call's stream (held on A); the answer goes to B."""
    async def body() -> None:
        async with nodes(redis_server) as (a, b), httpx.AsyncClient(timeout=10) as c:
            sid = await initialize(c, a, {"elicitation": {}})
            async with c.stream("POST", a.url, content=json.dumps(call(7, "ask_name", {})),
                                headers=hdrs(sid)) as s:
                buf = ""
                answered = False
                async for chunk in s.aiter_text():
                    buf += chunk
                    for _eid, m in parse_sse(buf):
                        if m.get("method") == "elicitation/create" and not answered:
                            answered = True
                            r = await post(c, b, {"jsonrpc": "2.0", "id": m["id"], "result": {
                                "action": "accept", "content": {"name": "Ada"}}}, sid)
                            assert r.status_code == 202
                    if answered and '"id":7' in buf.replace(" ", ""):
                        break
                final = [m for _e, m in parse_sse(buf) if m.get("id") == 7]
                assert final[0]["result"]["content"][0]["text"] == "Hello, Ada!"
    asyncio.run(body())


def test_resume_on_b_after_a_dies_loses_nothing_and_ends_the_call(redis_server: RedisServer) -> None:
    """SRV-RESUME-05/06, SEC-12, CANCEL-01: a long tool call streams from A; A dies as with kill -9;
    the client resumes on B with Last-Event-ID: every stored event after it, no duplicate, then
    the HANDLER_LOST error for the call, within the lease time."""
    async def body() -> None:
        async with nodes(redis_server, lease_ttl=1.0) as (a, b), httpx.AsyncClient(timeout=10) as c:
            sid = await initialize(c, a)
            seen: list[str] = []
            try:
                async with c.stream("POST", a.url, content=json.dumps(call(9, "countdown", {"n": 200, "delay": 0.02}, "p9")),
                                    headers=hdrs(sid)) as s:
                    buf = ""
                    async for chunk in s.aiter_text():
                        buf += chunk
                        seen = [e for e, m in parse_sse(buf) if e is not None]
                        if len(seen) >= 20:
                            break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)  # let A's writer store what it sent
            a.crash()
            stream = seen[0].split(".")[0]
            stored = await b.cluster.stored(sid, stream)
            stored_ids = [f"{stream}.{n}" for n, d in stored if d]
            assert stored_ids[:len(seen)] == seen  # what the client saw was stored, in order
            last = seen[-1]
            t0 = asyncio.get_running_loop().time()
            r = await c.get(b.url, headers=hdrs(sid, **{"last-event-id": last}))
            waited = asyncio.get_running_loop().time() - t0
            assert r.status_code == 200, r.text
            replay = parse_sse(r.text)
            ids = [e for e, _m in replay]
            assert len(ids) == len(set(ids)) and not set(ids) & set(seen)  # no duplicate
            progress = [e for e, m in replay if m.get("method") == "notifications/progress"]
            assert seen + progress == stored_ids  # nothing lost: every stored event, in order
            err = replay[-1][1]
            assert err["id"] == 9 and err["error"]["code"] == HANDLER_LOST[0]
            assert err["error"]["data"] == {"reason": "instance_lost"}
            assert waited < 1.0 * 2 + 1.0  # within the lease time (plus one Redis round trip)
            # The session lives on at B, its new home.
            r = await post(c, b, call(10, "add", {"a": 1, "b": 2}), sid)
            assert parse_sse(r.text)[-1][1]["result"]["content"][0]["text"] == "3"
            assert b.hub.core.sessions == 1
    asyncio.run(body())


def test_redis_killed_gives_503_with_retry_after_then_recovers(
        redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    """Fail closed: Redis down -> 503 + Retry-After and one log line; back -> served again."""
    async def body() -> None:
        async with nodes(redis_server) as (a, b), httpx.AsyncClient(timeout=10) as c:
            sid = await initialize(c, a)
            redis_server.kill()
            statuses = []
            for node in (a, b, a, b, a):
                r = await post(c, node, call(1, "add", {"a": 1, "b": 1}), sid)
                statuses.append(r.status_code)
                if r.status_code == 503:
                    assert r.headers["retry-after"] == "1"
                    assert r.json()["error"]["code"] == -32000
            assert statuses[-3:] == [503, 503, 503], statuses
            redis_server.start()  # same port, empty
            for _ in range(100):
                await asyncio.sleep(0.05)
                if not a.cluster.down and not b.cluster.down:
                    break
            assert not a.cluster.down and not b.cluster.down
            # The home re-registered its session: it works through B again.
            r = await post(c, b, call(2, "add", {"a": 2, "b": 2}), sid)
            assert r.status_code == 200, r.text
            assert parse_sse(r.text)[-1][1]["result"]["content"][0]["text"] == "4"
            sid2 = await initialize(c, b)
            r = await post(c, a, call(3, "add", {"a": 3, "b": 3}), sid2)
            assert parse_sse(r.text)[-1][1]["result"]["content"][0]["text"] == "6"
        lines = [r for r in caplog.records if r.name == "streamcore.redis" and "unavailable" in r.getMessage()]
        assert len(lines) == 2  # one per instance, not one per request
    caplog.set_level(logging.INFO, logger="streamcore.redis")
    asyncio.run(body())


MODERN = "2026-07-28"


def modern(method: str, params: dict[str, Any], i: int) -> tuple[dict[str, str], str]:
    p = dict(params)
    p["_meta"] = {"io.modelcontextprotocol/protocolVersion": MODERN,
                  "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"},
                  "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}
    h = {"content-type": "application/json", "accept": ACCEPT, "mcp-protocol-version": MODERN, "mcp-method": method}
    if method == "tools/call":
        h["mcp-name"] = p["name"]
    return h, json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": p})


def test_per_request_era_any_instance_continues_and_publish_reaches_every_listen(redis_server: RedisServer) -> None:
    """2026-07-28: a multi-round (MRTR) call started on A completes on B (requestState sealed with the
    key shared through Redis); publish on A reaches a subscriptions/listen stream held on B."""
    async def body() -> None:
        async with nodes(redis_server) as (a, b), httpx.AsyncClient(timeout=10) as c:
            h, d = modern("tools/call", {"name": "ask_name", "arguments": {}}, 1)
            r1 = (await c.post(a.url, headers=h, content=d)).json()["result"]
            assert r1["resultType"] == "input_required"
            (key,) = r1["inputRequests"]
            h, d = modern("tools/call", {"name": "ask_name", "arguments": {},
                                         "inputResponses": {key: {"action": "accept", "content": {"name": "Ada"}}},
                                         "requestState": r1["requestState"]}, 2)
            r2 = (await c.post(b.url, headers=h, content=d)).json()["result"]
            assert r2["content"][0]["text"] == "Hello, Ada!"
            h, d = modern("subscriptions/listen", {"notifications": {"toolsListChanged": True}}, 3)
            async with c.stream("POST", b.url, headers=h, content=d) as s:
                assert s.status_code == 200
                buf = ""
                published = False
                async for chunk in s.aiter_text():
                    buf += chunk
                    msgs = [m for _e, m in parse_sse(buf)]
                    if not published and any(m.get("method") == "notifications/subscriptions/acknowledged"
                                             for m in msgs):
                        published = True
                        a.hub.publish("notifications/tools/list_changed")
                    if any(m.get("method") == "notifications/tools/list_changed" for m in msgs):
                        break
            assert published
    asyncio.run(body())


def test_resume_into_events_trimmed_in_redis_is_refused_with_410(redis_server: RedisServer) -> None:
    """Per-stream bound at its boundary, after a failover: Redis kept the last 5 events of the
    stream; resuming right after the first kept one replays 4 of them, one earlier is 410 (a gap is
    never replayed as if complete); a Last-Event-ID of another session's stream is 400 (SEC-12)."""
    async def body() -> None:
        async with nodes(redis_server, lease_ttl=1.0, max_stream_events=5) as (a, b), \
                httpx.AsyncClient(timeout=10) as c:
            sid = await initialize(c, a)
            other = await initialize(c, a)
            r = await post(c, a, call(3, "countdown", {"n": 9, "delay": 0}, "p3"), sid)
            ids = [e for e, _m in parse_sse(r.text)]
            assert len(ids) == 10  # 9 progress + the result (plus the priming event, no data)
            await asyncio.sleep(0.1)
            a.crash()
            stream = ids[0].split(".")[0]
            kept = [n for n, _d in await b.cluster.stored(sid, stream)]
            assert len(kept) == 5
            first = kept[0]
            r = await c.get(b.url, headers=hdrs(sid, **{"last-event-id": f"{stream}.{first}"}))
            assert r.status_code == 200 and [e for e, _ in parse_sse(r.text)] == [f"{stream}.{n}" for n in kept[1:]]
            r = await c.get(b.url, headers=hdrs(sid, **{"last-event-id": f"{stream}.{first - 1}"}))
            assert r.status_code == 200  # exactly the first kept event and what follows
            r = await c.get(b.url, headers=hdrs(sid, **{"last-event-id": f"{stream}.{first - 2}"}))
            assert r.status_code == 410
            r = await c.get(b.url, headers=hdrs(other, **{"last-event-id": f"{stream}99.1"}))
            assert r.status_code == 400
    asyncio.run(body())


def test_a_malformed_bus_message_is_dropped_with_a_line(redis_server: RedisServer,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """Whoever can publish on Redis is trusted, but garbage there must not crash an instance."""
    async def body() -> None:
        async with nodes(redis_server, n=1) as (a,), httpx.AsyncClient(timeout=10) as c:
            for junk in (b"not json", b'{"t": "q"}\n', b'{"t": "h", "x": "y"}\n', b"\xff\xfe"):
                await a.cluster._r.publish(f"streamcore:bus:{a.cluster.name}", junk)  # type: ignore[union-attr]
            await asyncio.sleep(0.2)
            sid = await initialize(c, a)  # still serving
            assert sid
    caplog.set_level(logging.INFO, logger="streamcore.redis")
    asyncio.run(body())
    lines = [r for r in caplog.records if r.name == "streamcore.redis" and "malformed" in r.getMessage()]
    assert len(lines) == 4 and all(r.exc_info is None for r in lines)  # one line each, no traceback


def test_two_serve_redis_processes_are_one_server_and_survive_kill_9(redis_server: RedisServer) -> None:
    """``python -m streamcore serve --redis URL`` twice: a session of P1 used through P2; P1 is
    killed with SIGKILL mid tool call; the client resumes on P2: 0 lost, 0 duplicated (by id)
    against what Redis stored, and the call ends with HANDLER_LOST within the lease time
    (SRV-RESUME-05/06, CANCEL-01)."""
    import os
    import re
    import signal
    import subprocess
    import sys

    import redis as redis_py

    def spawn() -> tuple[subprocess.Popen[str], str]:
        p = subprocess.Popen([sys.executable, "-m", "streamcore", "serve", "--port", "0", "--redis", redis_server.url,
                              "--redis-lease", "1", "--log-level", "warning"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert p.stdout is not None
        m = re.search(r"(http://\S+/mcp)", p.stdout.readline())
        assert m is not None, p.stderr.read() if p.stderr else ""
        return p, m.group(1)

    procs: list[subprocess.Popen[str]] = []
    try:
        p1, url1 = spawn()
        procs.append(p1)
        p2, url2 = spawn()
        procs.append(p2)

        async def body() -> None:
            async with httpx.AsyncClient(timeout=10) as c:
                n1, n2 = Node.__new__(Node), Node.__new__(Node)
                n1.url, n2.url = url1, url2
                sid = await initialize(c, n1)
                r = await post(c, n2, call(1, "echo", {"text": "via P2"}), sid)
                assert parse_sse(r.text)[-1][1]["result"]["content"][0]["text"] == "via P2"
                seen: list[str] = []
                async with c.stream("POST", url1, content=json.dumps(call(2, "countdown", {"n": 100, "delay": 0.02},
                                                                         "p2")), headers=hdrs(sid)) as s:
                    buf = ""
                    async for chunk in s.aiter_text():
                        buf += chunk
                        seen = [e for e, _m in parse_sse(buf) if e is not None]
                        if len(seen) >= 10:
                            break
                os.kill(p1.pid, signal.SIGKILL)
                p1.wait(5)
                t0 = asyncio.get_running_loop().time()
                r = await c.get(url2, headers=hdrs(sid, **{"last-event-id": seen[-1]}))
                waited = asyncio.get_running_loop().time() - t0
                assert r.status_code == 200, r.text
                replay = parse_sse(r.text)
                stream = seen[0].split(".")[0]
                ids = [e for e, _m in replay]
                rc = redis_py.Redis.from_url(redis_server.url)
                for _ in range(40):  # P2 stores the HANDLER_LOST event with its next pipeline
                    stored = rc.xrange(f"streamcore:e:{sid}:{stream}")
                    stored_ids = [f"{stream}.{eid.split(b'-')[0].decode()}" for eid, f in stored if f[b"d"]]
                    if len(stored_ids) >= len(seen) + len(ids):
                        break
                    await asyncio.sleep(0.05)
                rc.close()
                assert len(ids) == len(set(ids)) and not set(ids) & set(seen)  # 0 duplicated
                assert set(ids) <= set(stored_ids)  # replayed: only what was stored
                got = seen + ids
                # 0 lost: every stored event reached the client exactly once. (The last
                # events P1 sent may not be stored yet when it died: the client has them,
                # and they are not replayed twice.)
                assert [e for e in got if e in set(stored_ids)] == stored_ids
                assert replay[-1][1]["id"] == 2 and replay[-1][1]["error"]["code"] == HANDLER_LOST[0]
                assert waited < 3.0
        asyncio.run(body())
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait(5)


def test_slow_redis_fails_closed_within_op_timeout_then_recovers(redis_server: RedisServer) -> None:
    """Redis slow (DEBUG SLEEP blocks it 2 s): a request that needs it gets 503 + Retry-After
    within about op_timeout, not a hang; once Redis answers again, the same request is served."""
    import redis as redis_py

    async def body() -> None:
        async with nodes(redis_server, op_timeout=0.3) as (a, b), httpx.AsyncClient(timeout=10) as c:
            sid = await initialize(c, a)
            blocker = redis_py.asyncio.Redis.from_url(redis_server.url)
            sleeper = asyncio.ensure_future(blocker.execute_command("DEBUG", "SLEEP", "2"))
            await asyncio.sleep(0.3)  # Redis is asleep now (even on a loaded machine)
            t0 = asyncio.get_running_loop().time()
            r = await post(c, b, call(1, "add", {"a": 1, "b": 1}), sid)  # B must ask the registry
            waited = asyncio.get_running_loop().time() - t0
            assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
            assert waited < 1.5  # op_timeout (0.3 s) and scheduling, far from the 1.7 s Redis still sleeps
            await sleeper
            await blocker.aclose()
            for _ in range(100):
                if not a.cluster.down and not b.cluster.down:
                    break
                await asyncio.sleep(0.05)
            r = await post(c, b, call(2, "add", {"a": 1, "b": 1}), sid)
            assert r.status_code == 200 and parse_sse(r.text)[-1][1]["result"]["content"][0]["text"] == "2"
    asyncio.run(body())


def test_a_cancellation_posted_to_b_stops_the_call_running_on_a(redis_server: RedisServer) -> None:
    """CANCEL-02: notifications/cancelled for a call streaming from A, POSTed to B, reaches A's
    core: the handler stops, and the stream ends without a result."""
    async def body() -> None:
        async with nodes(redis_server) as (a, b), httpx.AsyncClient(timeout=10) as c:
            sid = await initialize(c, a)
            async with c.stream("POST", a.url, content=json.dumps(call(4, "countdown", {"n": 100, "delay": 0.02},
                                                                     "p4")), headers=hdrs(sid)) as s:
                buf = ""
                cancelled = False
                t0 = asyncio.get_running_loop().time()
                async for chunk in s.aiter_text():
                    buf += chunk
                    if not cancelled and len(parse_sse(buf)) >= 3:
                        cancelled = True
                        r = await post(c, b, {"jsonrpc": "2.0", "method": "notifications/cancelled",
                                              "params": {"requestId": 4, "reason": "test"}}, sid)
                        assert r.status_code == 202
                took = asyncio.get_running_loop().time() - t0
            msgs = [m for _e, m in parse_sse(buf)]
            assert cancelled and not any(m.get("id") == 4 for m in msgs)  # no result after cancel
            assert len(msgs) < 50 and took < 1.5  # 100 x 0.02 s would be 2 s
            assert a.hub.core.in_flight == 0
    asyncio.run(body())


def test_an_instance_whose_lease_lapsed_gives_up_sessions_adopted_meanwhile(redis_server: RedisServer) -> None:
    """Never two homes: A's lease lapses (deleted here, as a long pause or a partition would let
    it expire), B adopts A's session; A notices at its next renewal and forgets the session, so
    a request reaching A is forwarded to B rather than served from A's stale copy."""
    async def body() -> None:
        async with nodes(redis_server) as (a, b), httpx.AsyncClient(timeout=10) as c:
            sid = await initialize(c, a)
            r = await post(c, a, call(1, "echo", {"text": "one"}), sid)
            assert r.status_code == 200
            await a.cluster._r.delete(f"streamcore:inst:{a.cluster.name}")  # type: ignore[union-attr]
            r = await post(c, b, call(2, "echo", {"text": "two"}), sid)  # B claims and adopts
            assert r.status_code == 200 and b.hub.core.sessions == 1
            for _ in range(60):
                if a.hub.core.sessions == 0:
                    break
                await asyncio.sleep(0.05)
            assert a.hub.core.sessions == 0
            r = await post(c, a, call(3, "echo", {"text": "three"}), sid)
            assert r.status_code == 200 and parse_sse(r.text)[-1][1]["result"]["content"][0]["text"] == "three"
            assert a.hub.core.sessions == 0 and b.hub.core.sessions == 1  # served by B, through A
            assert await a.cluster._r.hget(f"streamcore:s:{sid}", "home") == b"node1"  # type: ignore[union-attr]
            # B still has the session's events: A's forgetting did not drop them in Redis.
            assert await b.cluster.stored(sid, "1")
    asyncio.run(body())


def test_a_json_call_forwarded_to_a_home_that_dies_ends_with_an_error_not_a_hang(redis_server: RedisServer) -> None:
    """JSON responses (no stream to resume): a call POSTed to B runs on A, its home; A dies; B
    answers 503 + Retry-After with HANDLER_LOST within the lease time, and does not run it again."""
    async def body() -> None:
        async with nodes(redis_server, lease_ttl=1.0, json=True) as (a, b), httpx.AsyncClient(timeout=10) as c:
            sid = await initialize(c, a)
            t0 = asyncio.get_running_loop().time()
            pending = asyncio.ensure_future(post(c, b, call(5, "countdown", {"n": 100, "delay": 0.05}), sid))
            await asyncio.sleep(0.3)
            assert a.hub.core.in_flight == 1 and b.hub.core.in_flight == 0  # running at the home
            a.crash()
            r = await pending
            took = asyncio.get_running_loop().time() - t0
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
            assert r.json()["error"]["code"] == HANDLER_LOST[0]
            assert took < 0.3 + 1.0 * 2 and b.hub.core.in_flight == 0
    asyncio.run(body())


def test_when_the_instance_holding_a_get_stream_dies_the_client_opens_it_again_elsewhere(
        redis_server: RedisServer) -> None:
    """The client's GET stream of a session homed on A runs through B; B dies; A sees it as a
    hang-up (the stream detaches, CANCEL-01), so the client's new GET through A is not refused
    as a second stream (409), and a notification reaches it."""
    async def body() -> None:
        async with nodes(redis_server, lease_ttl=1.0) as (a, b), httpx.AsyncClient(timeout=10) as c:
            sid = await initialize(c, a)
            async with c.stream("GET", b.url, headers=hdrs(sid)) as g:
                assert g.status_code == 200
                await asyncio.sleep(0.2)
                b.crash()
            for _ in range(60):
                if not a.cluster._origins:
                    break
                await asyncio.sleep(0.05)
            assert not a.cluster._origins and not a.hub.core._legacy.sessions[sid].get_stream.x  # detached
            async with c.stream("GET", a.url, headers=hdrs(sid)) as g:
                assert g.status_code == 200
                a.hub.notify(sid, "notifications/message", {"level": "info", "data": "again"})
                async for line in g.aiter_lines():
                    if line.startswith("data:") and line[5:].strip():
                        assert json.loads(line[5:])["params"]["data"] == "again"
                        break
    asyncio.run(body())


def test_expiry_at_the_home_takes_effect_everywhere(redis_server: RedisServer) -> None:
    """SRV-SESS-05: the home expires an idle session (0.5 s here): at once its record and events
    leave Redis, and every instance answers 404 for it."""
    async def body() -> None:
        async with nodes(redis_server, idle=0.5) as (a, b), httpx.AsyncClient(timeout=10) as c:
            sid = await initialize(c, a)
            r = await post(c, b, call(1, "add", {"a": 1, "b": 1}), sid)
            assert r.status_code == 200
            assert await a.cluster._r.exists(f"streamcore:s:{sid}") == 1  # type: ignore[union-attr]
            await asyncio.sleep(0.8)
            await a.cluster._barrier()
            assert a.hub.core.sessions == 0
            assert await a.cluster._r.exists(f"streamcore:s:{sid}", f"streamcore:k:{sid}") == 0  # type: ignore[union-attr]
            for node in (a, b):
                r = await post(c, node, call(2, "add", {"a": 1, "b": 1}), sid)
                assert r.status_code == 404
    asyncio.run(body())


def test_a_home_shutting_down_hands_its_get_streams_over(redis_server: RedisServer) -> None:
    """Graceful shutdown of the home (SIGTERM -> aclose): the client's GET stream held through B
    ends within the lease time; the client resumes it on B with Last-Event-ID (B adopts the
    session) and B's notifications reach it."""
    async def body() -> None:
        async with nodes(redis_server, lease_ttl=1.0) as (a, b), httpx.AsyncClient(timeout=10) as c:
            sid = await initialize(c, a)
            last = None
            async with c.stream("GET", b.url, headers=hdrs(sid)) as g:
                await asyncio.sleep(0.2)
                a.hub.notify(sid, "notifications/message", {"level": "info", "data": "before"})
                t0 = asyncio.get_running_loop().time()
                closer = None
                async for line in g.aiter_lines():
                    if line.startswith("id:"):
                        last = line[3:].strip()
                    if line.startswith("data:") and "before" in line and closer is None:
                        closer = asyncio.ensure_future(a.hub.aclose())
                ended = asyncio.get_running_loop().time() - t0
            assert closer is not None
            await closer
            assert last is not None and ended < 1.0 * 2 + 1.0
            async with c.stream("GET", b.url, headers=hdrs(sid, **{"last-event-id": last})) as g:
                assert g.status_code == 200
                await asyncio.sleep(0.1)
                b.hub.notify(sid, "notifications/message", {"level": "info", "data": "after"})
                async for line in g.aiter_lines():
                    if line.startswith("data:") and line[5:].strip():
                        assert json.loads(line[5:])["params"]["data"] == "after"
                        break
            assert b.hub.core.sessions == 1
    asyncio.run(body())


@dataclass(frozen=True)
class Who:
    """An identity that is not a JSON value (as an OAuth AccessToken is not)."""

    sub: str


def _token_identity(headers: list[tuple[bytes, bytes]]) -> Any:
    for k, v in headers:
        if k == b"authorization" and v.startswith(b"Bearer "):
            return {"sub": v[7:].decode()}
    return None


def _token_object(headers: list[tuple[bytes, bytes]]) -> Any:
    ident = _token_identity(headers)
    return Who(ident["sub"]) if ident is not None else None


@pytest.mark.parametrize("authenticate", [_token_identity, _token_object], ids=["json", "object"])
def test_a_session_belongs_to_its_identity_on_every_instance(redis_server: RedisServer, authenticate: Any) -> None:
    """SEC-10 across instances: a session alice created on A is 404 to bob through B, before and
    after B adopts it, and 200 to alice. A JSON identity travels as JSON; another object by its
    repr, matched against the identity of the request that adopts the session."""
    async def body() -> None:
        async with nodes(redis_server, lease_ttl=1.0, authenticate=authenticate) as (a, b), \
                httpx.AsyncClient(timeout=10) as c:
            alice, bob = {"authorization": "Bearer alice"}, {"authorization": "Bearer bob"}
            r = await c.post(a.url, headers=hdrs(**alice), content=json.dumps(
                {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                 "params": {"protocolVersion": V, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
            sid = r.headers["mcp-session-id"]
            assert (await post(c, b, call(1, "echo", {"text": "x"}), sid, **bob)).status_code == 404
            assert (await post(c, b, call(2, "echo", {"text": "x"}), sid)).status_code == 401
            assert (await post(c, b, call(3, "echo", {"text": "x"}), sid, **alice)).status_code == 200
            a.crash()
            await asyncio.sleep(1.2)  # A's lease expires
            assert (await post(c, b, call(4, "echo", {"text": "x"}), sid, **bob)).status_code == 404
            assert b.hub.core.sessions == 1  # adopted by that request, and still not bob's
            r = await post(c, b, call(5, "echo", {"text": "ok"}), sid, **alice)
            assert r.status_code == 200 and parse_sse(r.text)[-1][1]["result"]["content"][0]["text"] == "ok"
    asyncio.run(body())


def test_a_reconnect_storm_after_the_home_dies_is_served_in_bounded_time(redis_server: RedisServer) -> None:
    """100 sessions of A resume at once on B after A dies: every one is adopted and replayed
    (a lookup that waits too long for a connection gets 503 + Retry-After, and the client's
    retry is served), Redis is never declared down, and it all ends in bounded time."""
    n = 100

    async def body() -> None:
        async with nodes(redis_server, lease_ttl=1.0) as (a, b):
            limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
            async with httpx.AsyncClient(timeout=30, limits=limits) as c:
                sids: list[str] = []
                for _ in range(n // 20):
                    sids += await asyncio.gather(*(initialize(c, a) for _ in range(20)))
                lasts = []
                for sid in sids:  # one stored event each, then the result
                    r = await post(c, a, call(1, "echo", {"text": sid}), sid)
                    lasts.append(r.text.split("id:", 1)[1].split("\n", 1)[0].strip())  # the priming event's id
                await asyncio.sleep(0.2)
                a.crash()
                await asyncio.sleep(1.1)  # A's lease is gone
                t0 = asyncio.get_running_loop().time()
                statuses: list[int] = []

                async def resume(sid: str, last: str) -> str:
                    for _ in range(30):
                        g = await c.get(b.url, headers=hdrs(sid, **{"last-event-id": last}))
                        statuses.append(g.status_code)
                        if g.status_code == 200:
                            return str(parse_sse(g.text)[-1][1]["result"]["content"][0]["text"])
                        assert g.status_code == 503 and g.headers["retry-after"] == "1"
                        await asyncio.sleep(1.0)
                    raise AssertionError("not served")
                texts = await asyncio.gather(*(resume(s, last) for s, last in zip(sids, lasts)))
                took = asyncio.get_running_loop().time() - t0
            assert texts == sids  # each session got its own replay, none mixed
            assert b.hub.core.sessions == n and not b.cluster.down
            assert took < 20.0, (took, statuses.count(503))
    asyncio.run(body())


def test_a_bus_message_delivered_twice_is_acted_on_once(redis_server: RedisServer) -> None:
    """Bus messages carry <sender> <channel> <seq>: one delivered again (a write pipeline retried
    after a timeout may have reached Redis the first time) is dropped, so a client never gets an
    SSE event twice; the next sequence number is delivered."""
    async def body() -> None:
        async with nodes(redis_server, n=1) as (a,), httpx.AsyncClient(timeout=10) as c:
            h, d = modern("subscriptions/listen", {"notifications": {"toolsListChanged": True}}, 1)
            chan = f"streamcore:bus:{a.cluster.name}"

            def msg(seq: int) -> bytes:
                return (b"other b %d\n" % seq + json.dumps({"t": "p", "o": "other",
                        "m": "notifications/tools/list_changed"}).encode() + b"\nnull")
            async with c.stream("POST", a.url, headers=h, content=d) as s:
                buf = ""
                sent = False
                async for chunk in s.aiter_text():
                    buf += chunk
                    msgs = [m for _e, m in parse_sse(buf)]
                    if not sent and msgs:
                        sent = True
                        for seq in (1, 1, 1, 2):
                            await a.cluster._r.publish(chan, msg(seq))  # type: ignore[union-attr]
                        await asyncio.sleep(0.3)
                        a.hub.close_listen(next(iter(a.hub.core._modern.listens)))  # type: ignore[union-attr]
            changed = [m for _e, m in parse_sse(buf) if m.get("method") == "notifications/tools/list_changed"]
            assert len(changed) == 2
    asyncio.run(body())


def test_redis_back_empty_a_live_session_gets_503_not_404(redis_server: RedisServer) -> None:
    """Redis loses every key while the instances run (here FLUSHALL, as a restart without
    persistence would): a live session's request on B, before its home A has written its
    record again, gets 503 with Retry-After, never a 404 that would end the session for the
    client; once A has (within its lease period) the session is served on B again. A session
    id nobody knows gets 503 only within the rebuild window, then 404 (SRV-SESS-05)."""
    async def body() -> None:
        async with nodes(redis_server, lease_ttl=1.5) as (a, b), httpx.AsyncClient(timeout=10) as c:
            sid = await initialize(c, a)
            assert (await post(c, b, call(1, "add", {"a": 1, "b": 1}), sid)).status_code == 200
            b.cluster._core_._routes.clear()  # B asks the registry again, as an instance that never saw the session
            assert a.cluster._r is not None
            await a.cluster._r.flushall()
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            r = await post(c, b, call(2, "add", {"a": 2, "b": 2}), sid)
            assert r.status_code == 503, r.text  # A renews its lease every 0.5 s: not yet rebuilt
            assert r.headers["retry-after"].isdigit()
            statuses = [503]
            while True:
                b.cluster._core_._routes.clear()
                r = await post(c, b, call(3, "add", {"a": 2, "b": 2}), sid)
                statuses.append(r.status_code)
                if r.status_code == 200:
                    break
                assert r.status_code == 503 and loop.time() - t0 < 2 * 1.5, statuses
                await asyncio.sleep(0.1)
            assert parse_sse(r.text)[-1][1]["result"]["content"][0]["text"] == "4"
            unknown = "nobody-knows-this-session-id"
            window = b.cluster._rebuild_ms() / 1000
            assert loop.time() - t0 < window - 0.5  # still inside the window (2 x lease + probe + timeout)
            r = await post(c, b, call(4, "add", {"a": 1, "b": 1}), unknown)
            assert r.status_code == 503, r.text
            await asyncio.sleep(max(0.0, window - (loop.time() - t0)) + 0.1)
            r = await post(c, b, call(5, "add", {"a": 1, "b": 1}), unknown)
            assert r.status_code == 404, r.text
    asyncio.run(body())
