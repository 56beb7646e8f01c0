"""The Redis event store's bounds, at their boundaries, on a real redis-server (issue 13).

Per stream (``max_stream_events``), in total (``max_events``) and by age
(``ttl``): exactly at a bound everything is kept, one more evicts the oldest,
and the bookkeeping that makes a resume into a gap refused (410, never a
partial replay; SRV-RESUME-05) moves with it. Also: the bus survives idle
periods longer than the command socket timeout (the redis-py #3138 pitfall).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator
from contextlib import asynccontextmanager

import pytest

from _redis_server import RedisServer, redis_server  # noqa: F401  (fixture)
from streamcore.redis import RedisCluster

pytestmark = pytest.mark.integration


@asynccontextmanager
async def cluster(redis: RedisServer, **kw: Any) -> AsyncIterator[RedisCluster]:
    c = RedisCluster(redis.url, name=kw.pop("name", "n1"), op_timeout=kw.pop("op_timeout", 0.5), **kw)
    await c._start()
    try:
        yield c
    finally:
        await c._aclose()


async def first_kept(c: RedisCluster, sid: str, st: str) -> int:
    assert c._r is not None
    return int(await c._r.hget(f"streamcore:f:{sid}", st) or 0)


def test_per_stream_count_bound(redis_server: RedisServer) -> None:
    async def body() -> None:
        async with cluster(redis_server, max_stream_events=3) as c:
            for n in (1, 2, 3):
                c.store.append("s1", "1", n, b"e%d" % n, 0.0)
            assert [n for n, _ in await c.stored("s1", "1")] == [1, 2, 3]  # exactly at the bound
            assert await first_kept(c, "s1", "1") == 1
            c.store.append("s1", "1", 4, b"e4", 0.0)
            assert [n for n, _ in await c.stored("s1", "1")] == [2, 3, 4]  # one more: the oldest goes
            assert await first_kept(c, "s1", "1") == 2
            assert await c.total_events() == 3
            c.store.append("s1", "2", 1, b"x", 0.0)  # another stream has its own bound
            assert [n for n, _ in await c.stored("s1", "1")] == [2, 3, 4]
            assert await c.total_events() == 4
    asyncio.run(body())


def test_total_bound_evicts_the_oldest_stream_first(redis_server: RedisServer) -> None:
    async def body() -> None:
        async with cluster(redis_server, max_events=4) as c:
            c.store.append("a", "1", 1, b"a1", 0.0)
            await c.total_events()
            await asyncio.sleep(0.01)
            c.store.append("b", "1", 1, b"b1", 0.0)
            c.store.append("b", "1", 2, b"b2", 0.0)
            c.store.append("a", "1", 2, b"a2", 0.0)
            assert await c.total_events() == 4  # exactly at the bound
            c.store.append("b", "1", 3, b"b3", 0.0)
            assert await c.total_events() == 4
            assert [n for n, _ in await c.stored("a", "1")] == [2]  # a's oldest event was the oldest
            assert await first_kept(c, "a", "1") == 2
            assert [n for n, _ in await c.stored("b", "1")] == [1, 2, 3]
    asyncio.run(body())


def test_age_bound(redis_server: RedisServer) -> None:
    async def body() -> None:
        async with cluster(redis_server, ttl=0.6) as c:
            c.store.append("s", "1", 1, b"old", 0.0)
            await c.total_events()
            await asyncio.sleep(0.35)
            c.store.append("s", "1", 2, b"young", 0.0)
            assert [n for n, _ in await c.stored("s", "1")] == [1, 2]  # 0.35 s < ttl: kept
            await asyncio.sleep(0.35)
            c.store.append("s", "1", 3, b"new", 0.0)  # now the first is 0.7 s old: gone
            assert [n for n, _ in await c.stored("s", "1")] == [2, 3]
            assert await first_kept(c, "s", "1") == 2
    asyncio.run(body())


def test_drop_session_forgets_everything_of_that_session_only(redis_server: RedisServer) -> None:
    async def body() -> None:
        async with cluster(redis_server) as c:
            for sid in ("x", "y"):
                for n in (1, 2):
                    c.store.append(sid, "1", n, b"d", 0.0)
            c.store.drop_session("x")
            assert await c.stored("x", "1") == [] and len(await c.stored("y", "1")) == 2
            assert await c.total_events() == 2
            assert c.store.replay_after("x", "1", 0, 0.0) is None
            assert c.store.replay_after("y", "1", 0, 0.0) == [(1, b"d"), (2, b"d")]
    asyncio.run(body())


def test_bus_survives_idle_longer_than_the_socket_timeout(redis_server: RedisServer,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """redis-py #3138: a read that blocks longer than socket_timeout fails; the bus has none,
    so after an idle period of 3x op_timeout a message still arrives, and Redis never went 'down'."""
    async def body() -> None:
        async with cluster(redis_server, op_timeout=0.2, lease_ttl=3.0) as c:
            got: list[bytes] = []
            c._on_message = lambda raw, drain=True: got.append(raw)  # type: ignore[method-assign]
            await asyncio.sleep(0.7)
            c._send(c.name, {"t": "z"}, b"ping")
            for _ in range(50):
                if got:
                    break
                await asyncio.sleep(0.02)
            stamp, _, rest = got[0].partition(b"\n")
            assert stamp.startswith(b"n1.") and stamp.endswith(b" d 1") and rest == b'[{"t": "z", "n": 4}]\nping'
            assert not c.down
    caplog.set_level(logging.WARNING, logger="streamcore.redis")
    asyncio.run(body())
    assert not [r for r in caplog.records if r.name == "streamcore.redis"]


def test_limits_are_checked() -> None:
    for bad in ({"lease_ttl": 0}, {"op_timeout": -1}, {"max_stream_events": -1}, {"max_events": 1.5},
                {"prefix": "a b"}, {"name": "x:y"}, {"retry_after": True}):
        with pytest.raises(ValueError):
            RedisCluster("redis://127.0.0.1:1/0", **bad)  # type: ignore[arg-type]


def test_writes_queued_while_redis_is_away_are_bounded(redis_server: RedisServer,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """max_pending_writes at its boundary: while Redis is away, exactly that many writes are
    kept; one more drops the oldest (one log line); when Redis is back, what was kept is written."""
    async def body() -> None:
        async with cluster(redis_server, max_pending_writes=3, probe_interval=0.05) as c:
            redis_server.kill()
            c.store.append("s", "1", 1, b"lost-to-the-outage?", 0.0)
            for _ in range(100):  # the writer finds Redis gone and keeps the write queued
                if c.down:
                    break
                await asyncio.sleep(0.02)
            assert c.down and len(c._ops) == 1
            c.store.append("s", "1", 2, b"two", 0.0)
            c.store.append("s", "1", 3, b"three", 0.0)
            assert len(c._ops) == 3  # exactly at the bound
            c.store.append("s", "1", 4, b"four", 0.0)
            assert len(c._ops) == 3 and [op[3] for op in c._ops] == [2, 3, 4]  # the oldest went
            redis_server.start()
            for _ in range(100):
                if not c.down and not c._ops:
                    break
                await asyncio.sleep(0.05)
            assert [n for n, _ in await c.stored("s", "1")] == [2, 3, 4]
    caplog.set_level(logging.WARNING, logger="streamcore.redis")
    asyncio.run(body())
    full = [r for r in caplog.records if "write queue full" in r.getMessage()]
    assert len(full) == 1


def test_serve_redis_refuses_clearly_when_redis_cannot_be_reached() -> None:
    """``serve --redis URL`` with nothing listening there: one error line and exit 1 (no traceback);
    with ``--no-store``, a usage error (exit 2)."""
    import subprocess
    import sys

    from _redis_server import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    p = subprocess.run([sys.executable, "-m", "streamcore", "serve", "--port", "0", "--redis", url],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert f"error: cannot reach redis at {url}" in p.stderr and "Traceback" not in p.stderr
    p = subprocess.run([sys.executable, "-m", "streamcore", "serve", "--port", "0", "--redis", url, "--no-store"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "--no-store" in p.stderr
