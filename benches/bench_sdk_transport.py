"""The same official-SDK server on three transports: how much of its cost is the transport?

    python benches/bench_sdk_transport.py            # about 3 minutes
    python benches/bench_sdk_transport.py --quick    # about 1 minute

The server is ``tests/sdk_conformance_server.py`` (an ``mcp`` 2.3.0 low-level
server), without an event store, on uvloop, served as

* ``sdk``   the SDK's own Streamable HTTP transport under uvicorn;
* ``asgi``  ``streamcore.mcp_sdk.streamable_http_app`` under uvicorn;
* ``aio``   ``streamcore.mcp_sdk.serve`` (streamcore's own HTTP/1.1 engine, no ASGI server).

Per round and transport, a fresh server process is started, one session is
initialized, and ``wrk -t1`` POSTs ``tools/call test_simple_text`` on it
(``-c`` connections for ``-d`` seconds, a fresh JSON-RPC id per request; SSE replies). Rounds alternate the
transports; the table keeps the best round by req/s. Server CPU per request is
the change of the server process's utime+stime (``/proc/PID/stat``) over the
run divided by the requests completed. Time to first event: a raw keep-alive
socket POSTs ``tools/call test_tool_with_progress`` (its first progress
notification is sent at once; the tool then runs 0.1 s more) and times the first
``data:`` line, p50/p99; each response is read to its end before the next.

Kernel cost: the SDK's own per-request work with no transport at all,
``ServerRunner.on_request(tools/call)`` called in-process with a no-op dispatch
context, CPU per call. ``transport share`` = (server CPU per request - kernel
CPU per call) / server CPU per request.

Needs ``wrk`` (Debian ``wrk``). Every process is stopped by pid;
every run is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "tests" / "sdk_conformance_server.py"
ACCEPT = "application/json, text/event-stream"
PROTOCOL = "2025-11-25"
CLK_TCK = os.sysconf("SC_CLK_TCK")
TRANSPORTS = ("sdk", "asgi", "aio")
CALL = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "test_simple_text", "arguments": {}}}


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _start(transport: str) -> tuple[subprocess.Popen[str], int]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen([sys.executable, str(SERVER), "--transport", transport, "--port", "0", "--no-store",
                             "--uvloop"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                            cwd=ROOT / "tests" / "conformance")
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline() if ready else ""
    if not line.strip().isdigit():
        _stop(proc)
        raise RuntimeError(f"{transport} did not start")
    port = int(line)
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return proc, port
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _session(port: int) -> str:
    url = f"http://127.0.0.1:{port}/mcp"
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "b", "version": "1"}}}
    with httpx.Client(timeout=10) as c:
        r = c.post(url, json=init, headers={"accept": ACCEPT})
        sid = r.headers["mcp-session-id"]
        c.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"},
               headers={"accept": ACCEPT, "mcp-session-id": sid, "mcp-protocol-version": PROTOCOL})
    return sid


_LUA = """-- tools/call test_simple_text on one session, a fresh JSON-RPC id per request
wrk.method = "POST"
wrk.headers["Accept"] = "%(accept)s"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Mcp-Session-Id"] = "%(sid)s"
wrk.headers["MCP-Protocol-Version"] = "%(protocol)s"
local n = 100
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil,
    '{"jsonrpc":"2.0","id":' .. n .. ',"method":"tools/call","params":{"name":"test_simple_text","arguments":{}}}')
end
"""


def _load(port: int, sid: str, seconds: int, c: int, pid: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_LUA % {"accept": ACCEPT, "sid": sid, "protocol": PROTOCOL})
        script = f.name
    try:
        cpu0 = _cpu(pid)
        out = subprocess.run(["wrk", "-t1", f"-c{c}", f"-d{seconds}s", "--timeout", "5s", "-s", script,
                              f"http://127.0.0.1:{port}/mcp"], capture_output=True, text=True,
                             timeout=seconds + 30).stdout
        cpu = _cpu(pid) - cpu0
    finally:
        os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*timeout (\d+)", out)
    if bad or (errors and int(errors.group(1))):
        raise RuntimeError(f"failed requests:\n{out}")
    return {"rps": rps, "cpu_us": cpu / max(done, 1) * 1e6, "requests": done}


def _first_event(port: int, sid: str, count: int) -> dict[str, float]:
    """Time from sending a tools/call to its first SSE event; each response is read to its end
    before the next request (fresh JSON-RPC ids: ids must be unique among in-flight requests)."""
    times = []
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(count):
            body = json.dumps({"jsonrpc": "2.0", "id": 1000 + i, "method": "tools/call", "params": {
                "name": "test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": i}}}).encode()
            head = (f"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\naccept: {ACCEPT}\r\n"
                    f"content-type: application/json\r\nmcp-session-id: {sid}\r\n"
                    f"mcp-protocol-version: {PROTOCOL}\r\ncontent-length: {len(body)}\r\n\r\n").encode()
            t0 = time.perf_counter()
            s.sendall(head + body)
            buf = b""
            first = None
            while not buf.endswith(b"\r\n0\r\n\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    raise RuntimeError("connection closed mid-response")
                buf += chunk
                if first is None and b"data:" in buf:
                    first = time.perf_counter() - t0
            times.append(first if first is not None else float("nan"))
    times.sort()
    return {"ttfe_p50_ms": statistics.median(times) * 1e3, "ttfe_p99_ms": times[max(0, int(len(times) * 0.99) - 1)] * 1e3}


def _kernel_cpu_us(calls: int) -> float:
    """CPU per tools/call of the SDK's kernel alone (ServerRunner, no transport)."""
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "conformance")]
    import warnings

    warnings.filterwarnings("ignore")
    import anyio
    from mcp.server.connection import Connection
    from mcp.server.runner import ServerRunner
    from mcp.shared.message import ServerMessageMetadata
    from mcp.shared.transport_context import TransportContext
    from sdk_conformance_server import build_server

    class Nop:
        transport = TransportContext(kind="bench", can_send_request=False)
        can_send_request = False
        request_id = 2
        message_metadata = ServerMessageMetadata()
        cancel_requested = anyio.Event()

        async def notify(self, *a: Any, **k: Any) -> None: ...

        async def progress(self, *a: Any, **k: Any) -> None: ...

        async def send_raw_request(self, *a: Any, **k: Any) -> dict[str, Any]:
            return {}

    async def go() -> float:
        conn = Connection.for_loop(Nop(), session_id="s")  # type: ignore[arg-type]
        conn.initialized.set()
        runner = ServerRunner(build_server(), conn, {})
        params = CALL["params"]
        for _ in range(200):  # warm-up
            await runner.on_request(Nop(), "tools/call", params)  # type: ignore[arg-type]
        t0 = time.process_time()
        for _ in range(calls):
            await runner.on_request(Nop(), "tools/call", params)  # type: ignore[arg-type]
        return (time.process_time() - t0) / calls * 1e6

    import uvloop

    return uvloop.run(go())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("-d", "--seconds", type=int, help="wrk duration per round")
    ap.add_argument("-c", type=int, default=16)
    ap.add_argument("--json", type=Path, help="write every round here")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is needed (apt-get install wrk)", file=sys.stderr)
        return 2
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.seconds or (3 if args.quick else 8)
    every: dict[str, list[dict[str, float]]] = {t: [] for t in TRANSPORTS}
    for r in range(rounds):
        for t in TRANSPORTS:
            proc, port = _start(t)
            try:
                ttfe = _first_event(port, _session(port), 50 if args.quick else 200)
                sid = _session(port)
                _load(port, sid, 1, args.c, proc.pid)  # warm-up
                res = _load(port, sid, seconds, args.c, proc.pid)
                res.update(ttfe)
                every[t].append(res)
                print(f"round {r + 1} {t}: {res}", file=sys.stderr, flush=True)
            finally:
                _stop(proc)
    kernel = _kernel_cpu_us(2000 if args.quick else 10000)
    best = {t: max(v, key=lambda x: x["rps"]) for t, v in every.items()}
    base = best["sdk"]
    print(f"\n`tools/call` over one session, wrk -t1 -c{args.c} -d{seconds}s, best of {rounds} rounds; "
          f"SDK kernel alone: {kernel:.0f} µs CPU per call\n")
    print("| transport | req/s | vs SDK | server CPU µs/req | transport share of CPU | first event p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|")
    names = {"sdk": "SDK's own (uvicorn)", "asgi": "streamcore.asgi (uvicorn)", "aio": "streamcore.mcp_sdk.serve"}
    for t in TRANSPORTS:
        b = best[t]
        share = max(0.0, (b["cpu_us"] - kernel) / b["cpu_us"])
        print(f"| {names[t]} | {b['rps']:.0f} | {b['rps'] / base['rps']:.2f}x | {b['cpu_us']:.0f} | {share:.0%} | "
              f"{b['ttfe_p50_ms']:.2f} | {b['ttfe_p99_ms']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"rounds": every, "kernel_cpu_us": kernel, "seconds": seconds, "c": args.c}, indent=1))
    return 0


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    sys.exit(main())
