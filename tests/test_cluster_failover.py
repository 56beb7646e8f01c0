"""Failover behind nginx: three demo instances on one real redis-server, real processes, kill -9.

nginx runs the ``docs/deployment.md`` config round-robin over three instances
(``tests/_nginx.py``, plus a test-only ``X-Upstream`` header naming the
instance that answered). Each instance is ``serve --redis URL --redis-lease 1.5``.

* A client holds a GET stream and streams a long tool call; the session's
  home (the instance that runs the call) is killed with SIGKILL; the client
  resumes through nginx, lands on another instance, and gets every event it
  had not seen, none twice (counted by id), then the call's JSON-RPC error
  (the handler died), within the lease time; the session lives on.
* Redis is killed mid-run: requests through nginx get 503 with Retry-After;
  Redis comes back (empty) and the same session is served again.

The reconnect storm (1,000 clients resuming at once) is in
``tests/test_cluster_storm.py``.

Spec IDs: SRV-RESUME-02/03/05/06, RESUME-07, SEC-12 (only that stream),
SRV-SESS-01/05, CLI-SSE-05 (a stream without its response is resumed).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from _nginx import Instance, Nginx, nginx_missing, redis_instance_argv
from _redis_server import RedisServer, redis_server  # noqa: F401  (fixture)
from _sse_http import Reply, countdown, initialize, request

pytestmark = pytest.mark.integration

#: Short, so that a dead instance's sessions are adopted soon; the tests wait at most about twice this.
LEASE = 1.5
HANDLER_LOST_CODE = -32603


class Cluster:
    def __init__(self, redis: RedisServer, tmp: Path, n: int = 3, *, redis_query: str = "", **nginx: Any) -> None:
        self.redis = redis
        self.instances: list[Instance] = []
        try:
            for _ in range(n):
                argv = redis_instance_argv(redis.url + redis_query, lease_ttl=LEASE)
                self.instances.append(Instance(tmp, argv=argv))
            self.nginx = Nginx([i.port for i in self.instances], expose_upstream=True, **nginx)
        except BaseException:
            self.stop()
            raise

    def by_upstream(self, reply: Reply) -> Instance:
        addr = reply.headers.get("x-upstream", "")
        port = int(addr.rsplit(":", 1)[1]) if ":" in addr else -1
        for inst in self.instances:
            if inst.port == port:
                return inst
        raise AssertionError(f"X-Upstream {addr!r} names no instance")

    def stop(self) -> None:
        if getattr(self, "nginx", None) is not None:
            self.nginx.stop()
        for inst in self.instances:
            inst.stop()


@pytest.fixture
def cluster(redis_server: RedisServer, tmp_path: Path) -> Iterator[Cluster]:  # noqa: F811
    reason = nginx_missing()
    if reason:
        pytest.skip(reason)
    c = Cluster(redis_server, tmp_path)
    try:
        yield c
    finally:
        c.stop()


def _initialize_home(c: Cluster) -> tuple[str, Instance]:
    """A session through nginx, and its home (the instance that answered initialize)."""
    r = request(c.nginx.port, "POST", {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "failover", "version": "1"}}})
    assert r.status == 200, r.resp.read()
    sid, home = r.headers["mcp-session-id"], c.by_upstream(r)
    list(r.sse())
    r.close()
    n = request(c.nginx.port, "POST", {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid=sid)
    n.resp.read()
    n.close()
    assert n.status == 202
    return sid, home


def _drain(reply: Reply, into: list[Any], stop_after: int | None = None) -> None:
    """Read SSE events into ``into`` as (id, message) until the body ends, breaks, or ``stop_after``."""
    try:
        for ev in reply.sse():
            into.append((ev.id, ev.message()))
            if stop_after is not None and len(into) >= stop_after:
                return
    except (OSError, ValueError, Exception):  # the connection was cut (IncompleteRead, reset): the stream broke
        return


def test_kill_9_the_home_mid_call_resume_through_nginx(cluster: Cluster) -> None:
    """0 lost, 0 duplicated (by id), the in-flight call ends with the JSON-RPC error, no hang;
    the GET stream resumes elsewhere; the session goes on at its new home."""
    c = cluster
    sid, home = _initialize_home(c)
    g = request(c.nginx.port, "GET", sid=sid, timeout=15)  # the standalone stream, on any instance
    assert g.status == 200, g.resp.read()
    get_events: list[Any] = []
    get_reader = threading.Thread(target=_drain, args=(g, get_events), daemon=True)
    get_reader.start()

    p = request(c.nginx.port, "POST", countdown(7, 200, 0.03), sid=sid, timeout=15)  # 6 s of progress
    assert p.status == 200
    seen: list[Any] = []
    _drain(p, seen, stop_after=25)  # the priming event and 24 progress notifications
    t_kill = time.monotonic()
    home.kill()
    _drain(p, seen)  # the rest of what was on the way, until the stream breaks
    p.close()
    assert time.monotonic() - t_kill < 10, "the broken POST stream did not end"
    assert not any(m and "id" in m and m.get("id") == 7 for _, m in seen)  # no response yet: the call was cut
    ids = [i for i, _ in seen if i]
    last = ids[-1]

    t0 = time.monotonic()
    r = request(c.nginx.port, "GET", sid=sid, last_event_id=last, timeout=15)
    assert r.status == 200, r.resp.read()
    replay: list[Any] = []
    _drain(r, replay)
    r.close()
    waited = time.monotonic() - t0
    assert c.by_upstream(r) is not home
    rids = [i for i, _ in replay if i]
    assert len(rids) == len(set(rids)) and not set(rids) & set(ids), "an event was delivered twice"
    got = [m for _, m in seen + replay if m]
    progress = [m["params"]["progress"] for m in got if m.get("method") == "notifications/progress"]
    assert progress == list(range(1, len(progress) + 1)), "an event was lost"  # contiguous: none lost
    assert len(progress) >= 24
    err = got[-1]
    assert err.get("id") == 7 and err["error"]["code"] == HANDLER_LOST_CODE, err
    assert waited < 2 * LEASE + 2, waited  # within the lease time, not a hang

    # The GET stream broke too (if it was on the home) or goes on; either way it resumes.
    if home.port == int(g.headers["x-upstream"].rsplit(":", 1)[1]):
        get_reader.join(10)
        assert not get_reader.is_alive(), "the GET stream held by the dead instance did not end"
    g.close()
    gid = next((i for i, _ in get_events if i), None)
    g2 = request(c.nginx.port, "GET", sid=sid, last_event_id=gid, timeout=10)
    assert g2.status == 200
    g2.close()

    # The session lives on (adopted): a new call through nginx, wherever it lands.
    for k in range(3):
        q = request(c.nginx.port, "POST", {"jsonrpc": "2.0", "id": 20 + k, "method": "tools/call",
                                           "params": {"name": "add", "arguments": {"a": k, "b": 1}}}, sid=sid)
        assert q.status == 200
        msgs = [e.message() for e in q.sse() if e.data]
        q.close()
        assert msgs[-1]["result"]["content"][0]["text"] == str(k + 1)


def test_redis_restarted_mid_run_503_then_recovery(cluster: Cluster) -> None:
    """Redis killed: through nginx, 503 with Retry-After (never a hang, never another session's
    data); Redis back, empty: the same session is served again, and new sessions work."""
    c = cluster
    sid, _home = _initialize_home(c)
    c.redis.kill()
    statuses = []
    for k in range(6):
        q = request(c.nginx.port, "POST", {"jsonrpc": "2.0", "id": 30 + k, "method": "tools/call",
                                           "params": {"name": "add", "arguments": {"a": 1, "b": 1}}}, sid=sid)
        body = q.resp.read()
        q.close()
        statuses.append(q.status)
        if q.status == 503:
            assert q.headers.get("retry-after", "").isdigit(), q.headers
            assert json.loads(body)["error"]["code"] == -32000
    assert statuses[-3:] == [503, 503, 503], statuses
    c.redis.start()  # same port, empty
    deadline = time.monotonic() + 10
    while True:
        q = request(c.nginx.port, "POST", {"jsonrpc": "2.0", "id": 40, "method": "tools/call",
                                           "params": {"name": "add", "arguments": {"a": 2, "b": 2}}}, sid=sid)
        if q.status == 200:
            msgs = [e.message() for e in q.sse() if e.data]
            q.close()
            break
        q.resp.read()
        q.close()
        assert q.status == 503 and time.monotonic() < deadline, q.status
        time.sleep(float(q.headers.get("retry-after", "1")) / 4)
    assert msgs[-1]["result"]["content"][0]["text"] == "4"
    # Every instance serves again: a few new sessions, round-robin over all three.
    homes = {_initialize_home(c)[1].port for _ in range(3)}
    assert len(homes) == 3
