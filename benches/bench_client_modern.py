"""Client benchmark, per-request era (2026-07-28): tools/call round trips per second.

    python benches/bench_client_modern.py [--calls 500] [--repeat 3] [--json]

Sequential ``tools/call echo`` against our demo server (``python -m streamcore
serve``, started on 127.0.0.1 in its own process and stopped by pid), in one
run:

* streamcore's asyncio client with ``era="modern"`` (``server/discover``, then
  every call a stateless POST with the R4 metadata headers and ``_meta``);
* the official Python SDK client (``mcp``) in its per-request mode
  (``ClientSession.discover()`` then ``call_tool``);
* for reference, both clients in the session era (``initialize``).

Ratios are against the SDK client in the same era. Best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamcore.aio.client import connect  # noqa: E402


async def rt_streamcore(url: str, calls: int, era: str) -> float:
    async with connect(url, era=era, listen=False) as s:
        assert s.era == era
        await s.call_tool("echo", {"text": "warm"})
        t0 = time.perf_counter()
        for _ in range(calls):
            await s.call_tool("echo", {"text": "hello"})
        return time.perf_counter() - t0


async def rt_mcp(url: str, calls: int, era: str) -> float:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with streamable_http_client(url) as (r, w, *_):
        async with ClientSession(r, w) as s:
            if era == "modern":
                await s.discover()  # the SDK's per-request mode
            else:
                await s.initialize()
            await s.call_tool("echo", {"text": "warm"})
            t0 = time.perf_counter()
            for _ in range(calls):
                await s.call_tool("echo", {"text": "hello"})
            return time.perf_counter() - t0


CLIENTS: dict[str, tuple[Callable, str]] = {
    "streamcore, 2026-07-28": (rt_streamcore, "modern"),
    "mcp (official SDK), 2026-07-28": (rt_mcp, "modern"),
    "streamcore, 2025-11-25 session": (rt_streamcore, "legacy"),
    "mcp (official SDK), 2025-11-25 session": (rt_mcp, "legacy"),
}


def start_demo() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "streamcore", "serve", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    m = re.search(r"(http://\S+/mcp)", proc.stdout.readline())
    if m is None:
        proc.kill()
        raise RuntimeError("demo server did not start")
    return proc, m.group(1)


async def main_async(args: argparse.Namespace) -> dict[str, float]:
    results: dict[str, float] = {}
    proc, url = start_demo()
    try:
        for name, (fn, era) in CLIENTS.items():
            best = min([await asyncio.wait_for(fn(url, args.calls, era), 300) for _ in range(args.repeat)])
            results[name] = args.calls / best
            print(f"  tools/call  {name:<40} {args.calls / best:>10,.0f} calls/s", file=sys.stderr)
    finally:
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=500, help="sequential tools/call round trips per run")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    results = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"python {platform.python_version()} on {platform.machine()}, calls={args.calls}, best of {args.repeat}")
    print("| client | era | tools/call rt/s | vs SDK, same era |")
    print("|---|---|---:|---:|")
    for name, rate in results.items():
        who, era = name.split(", ", 1)
        base = results[f"mcp (official SDK), {era}"]
        print(f"| {who} | {era} | {rate:,.0f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
