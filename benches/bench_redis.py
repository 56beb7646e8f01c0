"""The memory stores versus the Redis store on one instance, in the same run (issue 13).

Run: ``python benches/bench_redis.py [--seconds 3] [--clients 8] [--rounds 10]``
(needs ``redis-server`` on PATH; it starts its own on a free loopback port).

Measured in this one process, the cases interleaved in ``--rounds`` short
rounds and their medians taken, on the same machine (report the ratios, not
the absolute numbers):

* ``tools/call`` throughput: ``--clients`` keep-alive connections each
  sending a session-era ``tools/call`` (echo) and reading its SSE response
  (priming event + result, both stored), for ``--seconds``; for the memory
  store, for a RedisCluster of one instance, and for a request that reaches
  an instance other than its session's home (forwarded over the bus);
* resume latency: a GET with ``Last-Event-ID`` replaying 10 events, median
  of 20 per round, memory vs Redis (the home replays from its local window);
* Redis round trips and commands per request: round trips counted by the
  cluster (``RedisCluster.round_trips``: pipelines and single calls), commands
  from ``INFO commandstats`` deltas, both over the throughput run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _redis_server import RedisServer  # noqa: E402

from streamcore.aio.server import StreamableHttpServer  # noqa: E402
from streamcore.demo import DemoApp  # noqa: E402
from streamcore.redis import RedisCluster  # noqa: E402
from streamcore.server import ServerConfig  # noqa: E402
from streamcore.store import MemoryEventStore  # noqa: E402

V = b"2025-11-25"


def request(method: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> bytes:
    h = [(b"host", b"127.0.0.1"), (b"accept", b"application/json, text/event-stream")] + headers
    if method == b"POST":
        h += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    return method + b" /mcp HTTP/1.1\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in h) + b"\r\n" + body


async def read_response(r: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await r.readuntil(b"\r\n\r\n")
    low = head.lower()
    if b"content-length:" in low:
        n = int(low.split(b"content-length:")[1].split(b"\r\n")[0])
        return head, await r.readexactly(n)
    body = b""
    while True:  # chunked
        size = int((await r.readuntil(b"\r\n")).strip(), 16)
        chunk = await r.readexactly(size + 2)
        if size == 0:
            return head, body
        body += chunk[:-2]


async def initialize(port: int) -> bytes:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": V.decode(), "capabilities": {}, "clientInfo": {"name": "b", "version": "1"}}}).encode()
    w.write(request(b"POST", [], body))
    head, _ = await read_response(r)
    w.close()
    i = head.lower().index(b"mcp-session-id: ") + len(b"mcp-session-id: ")
    return head[i:head.index(b"\r\n", i)]


async def throughput(port: int, sid: bytes, seconds: float, clients: int) -> int:
    done = 0
    stop = time.perf_counter() + seconds
    call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "echo", "arguments": {"text": "hi"}}}).encode()
    req = request(b"POST", [(b"mcp-session-id", sid), (b"mcp-protocol-version", V)], call)

    async def one() -> None:
        nonlocal done
        r, w = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < stop:
            w.write(req)
            _, body = await read_response(r)
            assert b'"result"' in body, body
            done += 1
        w.close()
    await asyncio.gather(*(one() for _ in range(clients)))
    return done


async def resume_latency(port: int, sid: bytes, n: int = 200) -> float:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
        "name": "countdown", "arguments": {"n": 9, "delay": 0}, "_meta": {"progressToken": "t"}}}).encode()
    w.write(request(b"POST", [(b"mcp-session-id", sid), (b"mcp-protocol-version", V)], body))
    _, sse = await read_response(r)
    first = [line for line in sse.split(b"\n") if line.startswith(b"id: ")][0][4:]
    req = request(b"GET", [(b"mcp-session-id", sid), (b"mcp-protocol-version", V), (b"last-event-id", first)])
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        w.write(req)
        _, replay = await read_response(r)
        times.append(time.perf_counter() - t0)
        assert replay.count(b"\nid: ") + replay.startswith(b"id: ") == 10, replay
    w.close()
    return statistics.median(times)


async def commandstats(c: RedisCluster) -> int:
    assert c._r is not None
    info = await c._r.info("commandstats")
    return sum(int(v["calls"]) for k, v in info.items() if isinstance(v, dict) and k != "cmdstat_info")


async def main(seconds: float, clients: int, rounds: int) -> dict[str, Any]:
    """Every case runs ``rounds`` times, interleaved (memory, redis, forwarded, memory, ...), for
    ``seconds / rounds`` each; medians are reported, so that load drifting on a shared machine
    hits every case alike."""
    out: dict[str, Any] = {}
    redis = RedisServer()
    redis.start()
    hubs: list[StreamableHttpServer] = []
    try:
        mem = StreamableHttpServer(DemoApp(), ServerConfig(event_store=MemoryEventStore()))
        a = StreamableHttpServer(DemoApp(), ServerConfig(), cluster=RedisCluster(redis.url, name="bench-a"))
        b = StreamableHttpServer(DemoApp(), ServerConfig(), cluster=RedisCluster(redis.url, name="bench-b"))
        hubs = [mem, a, b]
        pm, pa, pb = [(await h.start("127.0.0.1", 0)).sockets[0].getsockname()[1] for h in hubs]
        assert a.cluster is not None and b.cluster is not None
        sid_m, sid_a = await initialize(pm), await initialize(pa)
        await asyncio.sleep(0.1)
        per = seconds / rounds
        runs: dict[str, list[float]] = {"memory": [], "redis": [], "forwarded": []}
        lat: dict[str, list[float]] = {"memory": [], "redis": []}
        calls = trips = cmds = 0
        for _ in range(rounds):
            runs["memory"].append(await throughput(pm, sid_m, per, clients) / per)
            rt0, c0 = a.cluster.round_trips, await commandstats(a.cluster)
            n = await throughput(pa, sid_a, per, clients)
            await asyncio.sleep(0.05)
            rt1, c1 = a.cluster.round_trips, await commandstats(a.cluster)
            calls, trips, cmds = calls + n, trips + rt1 - rt0, cmds + c1 - c0 - 1  # minus our INFO
            runs["redis"].append(n / per)
            runs["forwarded"].append(await throughput(pb, sid_a, per, clients) / per)  # B forwards to A
            lat["memory"].append(await resume_latency(pm, sid_m, 20))
            lat["redis"].append(await resume_latency(pa, sid_a, 20))
        for k, v in runs.items():
            out[f"{k}_calls_per_s"] = statistics.median(v)
        out["redis_round_trips_per_call"] = trips / calls
        out["redis_commands_per_call"] = cmds / calls
        out["memory_resume_ms"] = statistics.median(lat["memory"]) * 1000
        out["redis_resume_ms"] = statistics.median(lat["redis"]) * 1000
    finally:
        for h in hubs:
            await h.aclose()
        redis.close()
    out["ratio_redis_vs_memory_throughput"] = out["redis_calls_per_s"] / out["memory_calls_per_s"]
    out["ratio_forwarded_vs_memory_throughput"] = out["forwarded_calls_per_s"] / out["memory_calls_per_s"]
    out["ratio_redis_vs_memory_resume_latency"] = out["redis_resume_ms"] / out["memory_resume_ms"]
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    res = asyncio.run(main(args.seconds, args.clients, args.rounds))
    for k, v in res.items():
        print(f"{k:40s} {v:10.3f}")
