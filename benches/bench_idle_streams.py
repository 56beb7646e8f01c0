"""Load: N idle sessions, each holding a GET stream, against the demo server.

Reports the server's RSS growth per held stream (session included) and its
open file descriptors, at half and full load, so flatness shows. Not a timed
test; run it on purpose:

    python benches/bench_idle_streams.py --streams 2000 [--http1 h11] [--uvloop]
    python -m pytest benches/bench_idle_streams.py -q -s    # the same at 2,000, asserting the bound

The server is a real ``python -m streamcore serve`` subprocess on loopback;
RSS and descriptors are read from /proc (Linux only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INIT = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                   "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}).encode()
#: The bound of issue 10 (the figure measured before the hardening work).
MAX_RSS_PER_STREAM = 5.3 * 1024


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def req(method: bytes, body: bytes, extra: bytes = b"") -> bytes:
    return (method + b" /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: application/json, text/event-stream\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body) + extra + b"\r\n" + body)


async def sessions(port: int, n: int, sem: asyncio.Semaphore) -> list[bytes]:
    async def one() -> bytes:
        async with sem:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(req(b"POST", INIT))
            head = await r.readuntil(b"\r\n\r\n")
            m = re.search(rb"mcp-session-id: (\S+)", head, re.I)
            assert m is not None, head
            w.close()
            return m.group(1)
    return list(await asyncio.gather(*(one() for _ in range(n))))


async def hold(port: int, sids: list[bytes], held: list[Any], sem: asyncio.Semaphore) -> None:
    async def one(sid: bytes) -> None:
        async with sem:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(req(b"GET", b"", b"mcp-session-id: " + sid + b"\r\nmcp-protocol-version: 2025-11-25\r\n"))
            head = await r.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            held.append((r, w))
    await asyncio.gather(*(one(s) for s in sids))


async def measure(port: int, pid: int, streams: int) -> list[dict[str, float]]:
    """Rows: the idle server; N sessions (initialize only); GET streams on half
    and on all of them (RSS per stream = growth over the sessions-only row, and,
    in the last column, over the idle server: session and stream together);
    after the clients left."""
    held: list[Any] = []
    sem = asyncio.Semaphore(64)
    await asyncio.sleep(0.3)
    base_rss, base_fds = rss(pid), fds(pid)
    rows = [{"streams": 0, "rss": base_rss, "fds": base_fds, "per_stream": 0.0, "per_both": 0.0}]
    sids = await sessions(port, streams, sem)
    await asyncio.sleep(1.0)
    s_rss = rss(pid)
    rows.append({"streams": 0, "rss": s_rss, "fds": fds(pid), "per_stream": 0.0,
                 "per_both": (s_rss - base_rss) / streams})
    for upto in (streams // 2, streams):
        await hold(port, sids[len(held):upto], held, sem)
        await asyncio.sleep(1.0)  # let the server settle (no request in flight)
        r = rss(pid)
        rows.append({"streams": len(held), "rss": r, "fds": fds(pid), "per_stream": (r - s_rss) / len(held),
                     "per_both": 0.0})
    for _, w in held:
        w.close()
    for _ in range(50):  # until the server has seen every close (bounded: 5 s)
        await asyncio.sleep(0.1)
        if fds(pid) <= base_fds + 16:
            break
    rows.append({"streams": 0, "rss": rss(pid), "fds": fds(pid), "per_stream": 0.0, "per_both": 0.0})
    return rows


def run(streams: int, extra: list[str], tree: Path = ROOT) -> list[dict[str, float]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < streams * 2 + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, streams * 2 + 100), hard))
    proc = subprocess.Popen([sys.executable, "-m", "streamcore", "serve", "--port", "0", *extra], cwd=tree, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(tree)})
    try:
        assert proc.stdout is not None
        m = re.search(r":(\d+)/mcp", proc.stdout.readline())
        assert m is not None
        return asyncio.run(asyncio.wait_for(measure(int(m.group(1)), proc.pid, streams), 300))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def report(rows: list[dict[str, float]]) -> None:
    print(f"{'':>10} {'streams':>8} {'RSS MiB':>9} {'fds':>6} {'RSS/stream':>11} {'RSS/session':>12}")
    labels = ["idle", "sessions", "half", "all", "after"]
    for label, r in zip(labels, rows):
        per = f"{r['per_stream'] / 1024:.2f} KiB" if r["per_stream"] else "-"
        both = f"{r['per_both'] / 1024:.2f} KiB" if r["per_both"] else "-"
        print(f"{label:>10} {int(r['streams']):>8} {r['rss'] / 2**20:>9.1f} {int(r['fds']):>6} {per:>11} {both:>12}")


def test_2000_idle_get_streams() -> None:
    """RSS per held stream at or under 5.3 KiB, descriptors one per stream plus a constant."""
    rows = run(2000, [])
    report(rows)
    full = rows[3]
    assert full["per_stream"] <= MAX_RSS_PER_STREAM, full
    assert full["fds"] <= rows[0]["fds"] + 2000 + 16, full
    assert rows[-1]["fds"] <= rows[0]["fds"] + 16, rows[-1]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--http1", default="fast")
    ap.add_argument("--uvloop", action="store_true")
    ap.add_argument("--tree", type=Path, default=ROOT, help="the source tree to serve from (e.g. an older checkout)")
    a = ap.parse_args()
    t0 = time.monotonic()
    report(run(a.streams, ["--http1", a.http1] + (["--uvloop"] if a.uvloop else []), a.tree.resolve()))
    print(f"({time.monotonic() - t0:.1f} s)")
