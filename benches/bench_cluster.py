"""Several instances: tools/call throughput and resume latency, 1 vs 2 workers behind nginx, memory vs Redis.

    python benches/bench_cluster.py             # about 2 minutes
    python benches/bench_cluster.py --quick     # about 1 minute

Every server runs on uvloop (uvicorn picks uvloop by itself for the SDK) and
is reached through nginx with the ``docs/deployment.md`` config
(``tests/_nginx.py``), one upstream address (the workers share the port),
except the ``direct`` rows. Configurations:

* ``mem``        ``serve`` on the memory stores, one process;
* ``redis``      ``serve --redis URL``, one process (a real redis-server);
* ``redis-w2``   ``serve --redis URL --workers 2``;
* ``mem direct``, ``redis direct``: one process, no nginx (the Redis cost alone);
* ``sdk-stateless-w1``/``-w2``: the official Python SDK, ``stateless_http=True``
  under ``uvicorn --workers 1``/``2`` (the SDK's multi-worker configuration);
* ``sdk-stateful-w2``: the SDK's default sessions under ``uvicorn --workers 2``:
  counts the share of requests refused because the session is in the other worker.

Throughput: ``wrk -t8 -c8`` POSTs ``tools/call echo``, each connection on its
own session (8 clients; a fresh JSON-RPC id per request; SSE replies) for
``--seconds``. A session's requests are served by its home (the instance or
worker that answered its ``initialize``); one reaching another worker is
forwarded to the home over Redis, so with 2 workers about half the requests
take that detour (nginx reuses its upstream connections for any client, and
the kernel spreads connections over workers by their addresses). Resume latency: a
countdown (10 events) is run once, then a raw keep-alive socket sends GET +
``Last-Event-ID`` (the first event's id) ``--resumes`` times and times the
replay to the result, p50/p99. Rounds alternate the configurations; the table
keeps each one's best round by req/s, and prints req/s ratios against ``mem``
measured in the same run. The machine has 2 cores shared with the load
generator, nginx and Redis: read the ratios, not the absolute figures.

Configurations that need ``serve --redis`` are reported "n/a" when this
checkout's ``serve`` has no ``--redis`` (the streamcore.redis work not merged).
Every process is stopped by its pid.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _nginx import Instance, Nginx, free_port  # noqa: E402
from _sse_http import countdown, initialize, request  # noqa: E402

ACCEPT = "application/json, text/event-stream"
PROTOCOL = "2025-11-25"
#: wrk connections (one thread each), each on its own session: 8 clients.
CONNECTIONS = 8

_LUA = """-- tools/call echo; each wrk thread (one connection each) on its own session
wrk.method = "POST"
wrk.headers["Accept"] = "%(accept)s"
wrk.headers["Content-Type"] = "application/json"
local sids = {%(sids)s}
local made = 0
setup = function(thread)
  made = made + 1
  thread:set("sid", sids[made])
end
init = function(args)
  if sid ~= nil and sid ~= "" then
    wrk.headers["Mcp-Session-Id"] = sid
    wrk.headers["MCP-Protocol-Version"] = "%(protocol)s"
  end
end
local n = 100
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil,
    '{"jsonrpc":"2.0","id":' .. n .. ',"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}')
end
"""


def has_redis_flag() -> bool:
    out = subprocess.run([sys.executable, "-m", "streamcore", "serve", "--help"], cwd=ROOT, capture_output=True,
                         text=True, env=_env()).stdout
    return re.search(r"^\s+--redis\b", out, re.M) is not None  # an option of its own, not a mention


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}


class RedisServer:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(tmp)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Uvicorn:
    """uvicorn --workers N (its own supervisor) on one port."""

    def __init__(self, app: str, workers: int) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "uvicorn", f"sdk_multiworker_app:{app}",
                                      "--app-dir", str(ROOT / "benches"), "--workers", str(workers),
                                      "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
                                      "--no-access-log"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=_env(), cwd=ROOT)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("uvicorn did not start")
                time.sleep(0.1)
        time.sleep(1.0 if workers > 1 else 0.2)  # every worker up

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def wrk(port: int, sids: list[str] | None, seconds: int, c: int = 8) -> dict[str, float]:
    """``c`` connections, one wrk thread each, each on its own session (``sids``) or on none."""
    listed = ", ".join(f'"{s}"' for s in (sids or [""] * c))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_LUA % {"accept": ACCEPT, "sids": listed, "protocol": PROTOCOL})
        script = f.name
    try:
        out = subprocess.run(["wrk", f"-t{c}", f"-c{c}", f"-d{seconds}s", "--timeout", "5s", "-s", script,
                              f"http://127.0.0.1:{port}/mcp"], capture_output=True, text=True,
                             timeout=seconds + 30).stdout
    finally:
        os.unlink(script)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    if m is None or n is None:
        raise RuntimeError(f"wrk said:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    done = int(n.group(1))
    return {"rps": float(m.group(1)), "requests": done, "refused": int(bad.group(1)) if bad else 0}


def resume_latency(port: int, sid: str, count: int) -> dict[str, float]:
    """GET + Last-Event-ID after a finished countdown's first event, timed to the replayed result."""
    r = request(port, "POST", countdown(7, 10, 0.0), sid=sid)
    if r.status != 200:
        raise RuntimeError(f"countdown: HTTP {r.status} {r.resp.read()[:300]!r}")
    ids = [ev.id for ev in r.sse() if ev.id]
    r.close()
    if not ids:
        raise RuntimeError(f"countdown: no event ids in {[e.data[:100] for e in r.events]}")
    times = []
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = (f"GET /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\naccept: text/event-stream\r\n"
                f"mcp-session-id: {sid}\r\nmcp-protocol-version: {PROTOCOL}\r\nlast-event-id: {ids[0]}\r\n\r\n"
                ).encode()
        for _ in range(count):
            t0 = time.perf_counter()
            s.sendall(head)
            buf = b""
            while b"liftoff" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise RuntimeError("connection closed mid-replay")
                buf += chunk
            times.append(time.perf_counter() - t0)
            # The replayed stream ends after the response (RESUME-07): read its last chunk.
            while not buf.endswith(b"0\r\n\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
    times.sort()
    return {"resume_p50_ms": statistics.median(times) * 1e3,
            "resume_p99_ms": times[max(0, int(len(times) * 0.99) - 1)] * 1e3}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one round, 3 s runs")
    ap.add_argument("--seconds", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--resumes", type=int, default=200)
    ap.add_argument("--json", type=Path, default=None, help="write the table here as JSON")
    ap.add_argument("--only", action="append", default=None, metavar="NAME",
                    help="run only this configuration (repeatable; mem always runs, as the baseline)")
    args = ap.parse_args()
    seconds = args.seconds or (3 if args.quick else 5)
    rounds = args.rounds or (1 if args.quick else 2)
    for tool in ("wrk", "nginx", "redis-server"):
        if shutil.which(tool) is None:
            print(f"needs {tool}", file=sys.stderr)
            return 2
    redis_ok = has_redis_flag()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    redis = RedisServer(tmp) if redis_ok else None
    uv = ["--uvloop"]

    def ours(*extra: str, direct: bool = False) -> Callable[[], tuple[Any, int, str | None, bool]]:
        def start() -> tuple[Any, int, str | None, bool]:
            inst = Instance(tmp, *uv, *extra)
            return inst, inst.port, "session", direct
        return start

    def sdk(app: str, workers: int) -> Callable[[], tuple[Any, int, str | None, bool]]:
        def start() -> tuple[Any, int, str | None, bool]:
            u = Uvicorn(app, workers)
            return u, u.port, "session" if app == "stateful" else None, False
        return start

    configs: dict[str, Callable[[], tuple[Any, int, str | None, bool]] | None] = {
        "mem": ours(),
        "mem direct": ours(direct=True),
        "redis": ours("--redis", redis.url) if redis else None,
        "redis direct": ours("--redis", redis.url, direct=True) if redis else None,
        "redis-w2": ours("--redis", redis.url, "--workers", "2") if redis else None,
        "sdk-stateless-w1": sdk("stateless", 1),
        "sdk-stateless-w2": sdk("stateless", 2),
        "sdk-stateful-w2": sdk("stateful", 2),
    }
    best: dict[str, dict[str, float]] = {}
    try:
        for _ in range(rounds):
            for name, start in configs.items():
                if start is None or (args.only and name != "mem" and name not in args.only):
                    continue
                server, port, session, direct = start()
                try:
                    ng = None if direct else Nginx([port])
                    try:
                        target = port if ng is None else ng.port
                        sids = [initialize(target) for _ in range(CONNECTIONS)] if session else None
                        wrk(target, sids, 1)  # warm-up
                        row = wrk(target, sids, seconds)
                        if sids and not name.startswith("sdk"):
                            row.update(resume_latency(target, sids[0], args.resumes))
                    finally:
                        if ng is not None:
                            ng.stop()
                finally:
                    server.stop()
                if name not in best or row["rps"] > best[name]["rps"]:
                    best[name] = row
    finally:
        if redis is not None:
            redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    base = best["mem"]["rps"]
    print(f"{'configuration':<18} {'req/s':>8} {'x mem':>6} {'refused':>8} {'resume p50':>11} {'resume p99':>11}")
    for name in configs:
        row = best.get(name)
        if row is None:
            why = "not run (--only)" if configs[name] is not None else "n/a (serve has no --redis)"
            print(f"{name:<18} {why:>30}")
            continue
        refused = f"{100 * row['refused'] / max(row['requests'], 1):.0f}%"
        p50 = f"{row['resume_p50_ms']:.2f} ms" if "resume_p50_ms" in row else "-"
        p99 = f"{row['resume_p99_ms']:.2f} ms" if "resume_p99_ms" in row else "-"
        print(f"{name:<18} {row['rps']:>8.0f} {row['rps'] / base:>6.2f} {refused:>8} {p50:>11} {p99:>11}")
    if args.json:
        args.json.write_text(json.dumps(best, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
