"""End-to-end load benchmark: streamcore's demo server against the official SDKs.

    python benches/e2e/run.py            # full run, about 10 minutes
    python benches/e2e/run.py --quick    # smoke run, about 1-2 minutes

Peers, each serving the same ``echo`` tool over Streamable HTTP on 127.0.0.1
with stateful sessions, in SSE mode and JSON-response mode:

* ``streamcore``       ``python -m streamcore serve --no-store --asyncio [--json]`` (asyncio's own loop)
* ``streamcore-uvloop`` the same with ``--uvloop`` (serve's default when uvloop is installed; full run only, or ``--servers``)
* ``bare``             the reference: uvloop + httptools answering with the same bytes (``bare_server.py``)
* ``py-sdk``           the ``mcp`` Python SDK under uvicorn on uvloop (``py_sdk_server.py``)
* ``ts-sdk``           the ``@modelcontextprotocol/sdk`` TypeScript SDK on node (``tests/interop/ts_server.mjs``)

For each (server, mode) and round a fresh server process is started, one
session is initialized (initialize + notifications/initialized), and
``wrk -t1 -cN -d D --latency`` POSTs ``tools/call`` echo on that session at each
concurrency. Rounds alternate the servers (A B C A B C ...); the table keeps
the best round by req/s (with that round's latency and CPU), and
``results.json`` keeps every round. Server CPU per request is the change in
utime+stime of the server process itself (``/proc/PID/stat``; we start it
directly, not under a wrapper) across the wrk run, divided by the requests
wrk completed.

Then, per server: time to the first SSE event of a ``tools/call`` (blocking
raw socket, keep-alive, p50/p99 over N requests), and resident memory per idle
session holding an open GET SSE stream (open N sessions with raw asyncio
sockets, RSS delta / N).

Standard library and httpx only (matplotlib, if installed, draws the plot).
Every process is stopped by its pid; every run is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
INTEROP = ROOT / "tests" / "interop"
PROTOCOL = "2025-11-25"
ACCEPT = "application/json, text/event-stream"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
INIT = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": PROTOCOL, "capabilities": {},
               "clientInfo": {"name": "streamcore-e2e-bench", "version": "0"}},
}


# -- servers ---------------------------------------------------------------

@dataclass
class ServerSpec:
    name: str
    argv: list[str]          # "{port}" is replaced; "--json" appended in JSON mode
    cwd: Path
    json_flag: str = "--json"
    fixed_port: bool = False  # the script cannot bind port 0 and report it


def server_specs() -> dict[str, ServerSpec]:
    py = sys.executable
    node = shutil.which("node") or "node"
    return {
        "streamcore": ServerSpec(
            "streamcore", [py, "-m", "streamcore", "serve", "--port", "{port}", "--no-store", "--asyncio"], ROOT),
        "streamcore-uvloop": ServerSpec(
            "streamcore-uvloop", [py, "-m", "streamcore", "serve", "--port", "{port}", "--no-store", "--uvloop"], ROOT),
        "py-sdk": ServerSpec(
            "py-sdk", [py, str(HERE / "py_sdk_server.py"), "{port}"], ROOT, fixed_port=True),
        "ts-sdk": ServerSpec(
            "ts-sdk", [node, str(INTEROP / "ts_server.mjs"), "{port}"], INTEROP),
        "bare": ServerSpec(
            "bare", [py, str(HERE / "bare_server.py"), "{port}"], ROOT),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_sigint() -> None:
    # a shell's background job (`run.py &`) starts with SIGINT ignored, and exec
    # keeps that: give the servers back the default, so SIGINT stops them
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Running:
    """One server process, started directly (so its pid is the server's own)."""

    def __init__(self, spec: ServerSpec, json_mode: bool) -> None:
        port = free_port() if spec.fixed_port else 0
        argv = [a.replace("{port}", str(port)) for a in spec.argv]
        if json_mode:
            argv.append(spec.json_flag)
        self.spec = spec
        self.proc = subprocess.Popen(argv, cwd=spec.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True, preexec_fn=_default_sigint)
        self.pid = self.proc.pid
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = re.search(r"(http://\S+/mcp)", line)
        if m is None:
            self.stop()
            raise RuntimeError(f"{spec.name} did not start: {line!r}")
        self.url = m.group(1)
        u = urlsplit(self.url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection((self.host, self.port), 0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"{spec.name} never opened its port")
                time.sleep(0.05)
        with open(f"/proc/{self.pid}/comm") as f:
            comm = f.read().strip()
        # CPU and RSS are read from this pid: it must be the server, not a wrapper
        assert comm.startswith(("python", "node")) or comm == "MainThread", f"pid {self.pid} is {comm!r}"

    def cpu_ticks(self) -> int:
        with open(f"/proc/{self.pid}/stat") as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2:].split()
        return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of proc(5))

    def rss(self) -> int:
        with open(f"/proc/{self.pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def stop(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                print(f"  {self.spec.name} (pid {self.pid}) ignored {sig.name}", flush=True)
        for s in (self.proc.stdout, self.proc.stderr):
            if s:
                s.close()


def session_headers(sid: str) -> dict[str, str]:
    return {"Accept": ACCEPT, "Content-Type": "application/json", "Mcp-Session-Id": sid,
            "MCP-Protocol-Version": PROTOCOL}


def open_session(url: str) -> str:
    """initialize + notifications/initialized; check one echo call; return the session id."""
    with httpx.Client(timeout=10) as c:
        r = c.post(url, json=INIT, headers={"Accept": ACCEPT})
        r.raise_for_status()
        sid = r.headers["mcp-session-id"]
        h = session_headers(sid)
        r = c.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=h)
        assert r.status_code == 202, r.status_code
        r = c.post(url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                              "params": {"name": "echo", "arguments": {"text": "check"}}}, headers=h)
        assert r.status_code == 200 and '"text":"check"' in r.text.replace(" ", ""), r.text
    return sid


# -- wrk -------------------------------------------------------------------

LUA = """-- generated by benches/e2e/run.py: tools/call echo on one MCP session
wrk.method = "POST"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Mcp-Session-Id"] = "%(sid)s"
wrk.headers["MCP-Protocol-Version"] = "%(protocol)s"
local n = 1000
-- a fresh JSON-RPC id per request: ids must be unique among a session's in-flight requests
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil,
    '{"jsonrpc":"2.0","id":' .. n .. ',"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello, world"}}}')
end
"""

# The per-request era (2026-07-28): no session; every POST carries the
# metadata headers and the _meta the era requires.
LUA_MODERN = """-- generated by benches/e2e/run.py: tools/call echo, protocol 2026-07-28 (no session)
wrk.method = "POST"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "echo"
local n = 1000
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil,
    '{"jsonrpc":"2.0","id":' .. n .. ',"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello, world"},'
    .. '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}')
end
"""
#: servers that speak 2026-07-28 (TS SDK 1.32.2 does not)
MODERN_SERVERS = {"streamcore", "streamcore-uvloop", "py-sdk", "bare"}


def check_modern(url: str) -> None:
    """One modern echo call must succeed before the load run."""
    body = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "check"},
                       "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                 "io.modelcontextprotocol/clientCapabilities": {}}}}
    with httpx.Client(timeout=10) as c:
        r = c.post(url, json=body, headers={"Accept": ACCEPT, "MCP-Protocol-Version": "2026-07-28",
                                            "Mcp-Method": "tools/call", "Mcp-Name": "echo"})
        assert r.status_code == 200 and '"text":"check"' in r.text.replace(" ", ""), (r.status_code, r.text)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if m is None:
        raise ValueError(text)
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass
class Run:
    server: str
    mode: str
    conc: int
    round: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_us_per_req: float


def wrk(url: str, sid: str, conc: int, duration: float, lua_dir: Path) -> tuple[float, float, float, int, int]:
    script = lua_dir / "echo.lua"
    script.write_text(LUA_MODERN if sid == "" else LUA % {"sid": sid, "protocol": PROTOCOL})
    proc = subprocess.run(
        ["wrk", "-t1", f"-c{conc}", f"-d{max(1, round(duration))}s", "--timeout", "5s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, timeout=duration + 30,
    )
    out = proc.stdout
    if "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed: {out!r} {proc.stderr!r}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)", out, re.M))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(x) for x in m.groups())
    return rps, _ms(lat["50"]), _ms(lat["99"]), requests, errors


# -- time to first SSE event -------------------------------------------------

def _has_event(body: bytes | bytearray) -> bool:
    # an event ends at a blank line; SSE lines may end in \n, \r\n or \r (sse-starlette uses \r\n)
    return b"\n\n" in body or b"\r\n\r\n" in body or b"\r\r" in body


def _read_response(sock: socket.socket, buf: bytearray, t0: float) -> float | None:
    """Read one HTTP/1.1 response (Content-Length or chunked) off ``sock``.

    Returns the seconds from ``t0`` until the body held its first complete SSE
    event (a blank line), or None if it never did. Leftover bytes stay in ``buf``.
    """
    first = None
    while (end := buf.find(b"\r\n\r\n")) < 0:
        buf += sock.recv(65536)
    head = bytes(buf[:end]).lower()
    del buf[:end + 4]
    status = int(head.split(b" ", 2)[1])
    if status != 200:
        raise RuntimeError(f"HTTP {status}")
    body = bytearray()
    if m := re.search(rb"\r\ncontent-length:\s*(\d+)", head):
        n = int(m.group(1))
        while len(buf) < n:
            if first is None and _has_event(buf):
                first = time.perf_counter() - t0
            buf += sock.recv(65536)
        body += buf[:n]
        del buf[:n]
    else:  # chunked
        while True:
            while (eol := buf.find(b"\r\n")) < 0:
                buf += sock.recv(65536)
            size = int(bytes(buf[:eol]).split(b";")[0], 16)
            while len(buf) < eol + 2 + size + 2:
                buf += sock.recv(65536)
            body += buf[eol + 2:eol + 2 + size]
            del buf[:eol + 2 + size + 2]
            if first is None and _has_event(body):
                first = time.perf_counter() - t0
            if size == 0:
                break
    if first is None and _has_event(body):
        first = time.perf_counter() - t0
    return first


def time_to_first_event(host: str, port: int, sid: str, n: int) -> dict[str, float]:
    """p50/p99 (ms) from sending a tools/call POST to holding its first whole SSE event.

    A blocking socket with TCP_NODELAY on one keep-alive connection keeps the
    client's own overhead (a few µs) out of the figure as far as Python can.
    """
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(10)
    buf = bytearray()
    samples = []
    try:
        for i in range(n + 20):
            body = json.dumps({"jsonrpc": "2.0", "id": 100 + i, "method": "tools/call",
                               "params": {"name": "echo", "arguments": {"text": "hello, world"}}},
                              separators=(",", ":")).encode()
            req = (f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: {ACCEPT}\r\n"
                   f"Content-Type: application/json\r\nMcp-Session-Id: {sid}\r\n"
                   f"MCP-Protocol-Version: {PROTOCOL}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
            t0 = time.perf_counter()
            sock.sendall(req)
            first = _read_response(sock, buf, t0)
            if first is None:
                raise RuntimeError("no SSE event in the response (is the server in JSON mode?)")
            if i >= 20:  # the first 20 warm up
                samples.append(first * 1e3)
    finally:
        sock.close()
    samples.sort()
    return {"p50_ms": statistics.median(samples), "p99_ms": samples[int(len(samples) * 0.99) - 1], "n": len(samples)}


def floor_server() -> None:
    """``run.py --floor-server``: answer every POST with a canned one-event SSE response.

    Measured in the same harness as the real servers, it shows how much of the
    time to first event is the client's and the loopback's own.
    """
    event = b'data: {"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello, world"}]}}\n\n'
    canned = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
              + b"%x\r\n" % len(event) + event + b"\r\n0\r\n\r\n")

    class Canned(asyncio.Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self.t, self.buf = transport, bytearray()

        def data_received(self, data: bytes) -> None:
            self.buf += data
            while (end := self.buf.find(b"\r\n\r\n")) >= 0:
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", self.buf[:end])
                n = end + 4 + (int(m.group(1)) if m else 0)
                if len(self.buf) < n:
                    return
                del self.buf[:n]
                self.t.write(canned)

    async def main() -> None:
        srv = await asyncio.get_running_loop().create_server(Canned, "127.0.0.1", 0)
        print(f"floor server on http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/mcp", flush=True)
        await srv.serve_forever()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


# -- RSS per idle session with an open GET stream ------------------------------

async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: bytes) -> tuple[int, bytes, bytes]:
    writer.write(req)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    low = head.lower()
    body = b""
    if m := re.search(rb"\r\ncontent-length:\s*(\d+)", low):
        body = await reader.readexactly(int(m.group(1)))
    elif b"transfer-encoding: chunked" in low:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            body += (await reader.readexactly(size + 2))[:size]
            if size == 0:
                break
    return status, head, body


async def _open_idle_sessions(host: str, port: int, n: int, parallel: int = 32) -> list[asyncio.StreamWriter]:
    sem = asyncio.Semaphore(parallel)
    writers: list[asyncio.StreamWriter] = []
    hosthdr = f"Host: {host}:{port}\r\n"

    def post(body: dict, sid: str | None) -> bytes:
        raw = json.dumps(body, separators=(",", ":")).encode()
        extra = f"Mcp-Session-Id: {sid}\r\nMCP-Protocol-Version: {PROTOCOL}\r\n" if sid else ""
        return (f"POST /mcp HTTP/1.1\r\n{hosthdr}Accept: {ACCEPT}\r\nContent-Type: application/json\r\n{extra}"
                f"Content-Length: {len(raw)}\r\n\r\n").encode() + raw

    async def one() -> None:
        async with sem:
            reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
            status, head, _ = await _exchange(reader, writer, post(INIT, None))
            assert status == 200, head
            # header names are case-insensitive, values are not: find the name lowercased, read the original
            start = head.lower().index(b"\r\nmcp-session-id:") + len(b"\r\nmcp-session-id:")
            sid_s = head[start:head.index(b"\r\n", start)].strip().decode()
            status, head, _ = await _exchange(reader, writer, post({"jsonrpc": "2.0", "method": "notifications/initialized"}, sid_s))
            assert status == 202, head
            writer.write((f"GET /mcp HTTP/1.1\r\n{hosthdr}Accept: text/event-stream\r\n"
                          f"Mcp-Session-Id: {sid_s}\r\nMCP-Protocol-Version: {PROTOCOL}\r\n\r\n").encode())
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            writers.append(writer)

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(n))), timeout=120)
    return writers


def rss_per_session(srv: Running, n: int) -> dict[str, float]:
    """Open ``n`` sessions, each with an open GET stream; RSS delta per session (bytes)."""
    async def run() -> dict[str, float]:
        warm = await _open_idle_sessions(srv.host, srv.port, 20)  # first-use allocations, imports
        await asyncio.sleep(0.5)
        before = srv.rss()
        writers = await _open_idle_sessions(srv.host, srv.port, n)
        await asyncio.sleep(1.0)
        after = srv.rss()
        for w in warm + writers:
            w.close()
        return {"sessions": n, "rss_before": before, "rss_after": after, "bytes_per_session": (after - before) / n}

    return asyncio.run(run())


# -- orchestration -------------------------------------------------------------

@dataclass
class Results:
    runs: list[Run] = field(default_factory=list)
    ttfe: dict[str, dict] = field(default_factory=dict)
    rss: dict[str, dict] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


def load_runs(args: argparse.Namespace, specs: dict[str, ServerSpec], res: Results) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(args.rounds):
            for mode in args.modes:
                for name in args.servers:  # alternate servers within each round
                    if mode == "modern" and name not in MODERN_SERVERS:
                        continue
                    srv = Running(specs[name], mode == "json")
                    try:
                        if mode == "modern":
                            check_modern(srv.url)
                            sid = ""  # no session in the per-request era
                        else:
                            sid = open_session(srv.url)
                        wrk(srv.url, sid, 16, args.warmup, Path(tmp))
                        for conc in args.conc:
                            t0 = srv.cpu_ticks()
                            rps, p50, p99, reqs, errs = wrk(srv.url, sid, conc, args.duration, Path(tmp))
                            cpu = (srv.cpu_ticks() - t0) / CLK_TCK * 1e6 / max(reqs, 1)
                            run = Run(name, mode, conc, rnd, rps, p50, p99, reqs, errs, cpu)
                            res.runs.append(run)
                            print(f"  round {rnd} {name:<18} {mode:<4} c={conc:<3} {rps:>9.0f} req/s "
                                  f"p50 {p50:.3f} ms p99 {p99:.3f} ms cpu {cpu:.0f} µs/req"
                                  + (f" ERRORS {errs}" if errs else ""), flush=True)
                    finally:
                        srv.stop()


def extra_metrics(args: argparse.Namespace, specs: dict[str, ServerSpec], res: Results) -> None:
    srv = Running(ServerSpec("floor", [sys.executable, str(HERE / "run.py"), "--floor-server"], ROOT), False)
    try:
        res.ttfe["floor"] = time_to_first_event(srv.host, srv.port, "floor", args.ttfe_n)
        print(f"  {'floor (canned)':<18} first SSE event p50 {res.ttfe['floor']['p50_ms']:.3f} ms "
              f"p99 {res.ttfe['floor']['p99_ms']:.3f} ms", flush=True)
    finally:
        srv.stop()
    for name in args.servers:
        srv = Running(specs[name], False)
        try:
            sid = open_session(srv.url)
            res.ttfe[name] = time_to_first_event(srv.host, srv.port, sid, args.ttfe_n)
            print(f"  {name:<18} first SSE event p50 {res.ttfe[name]['p50_ms']:.3f} ms "
                  f"p99 {res.ttfe[name]['p99_ms']:.3f} ms", flush=True)
        except Exception as e:  # report, keep going
            res.ttfe[name] = {"error": repr(e)}
            print(f"  {name:<18} first SSE event: {e!r}", flush=True)
        finally:
            srv.stop()
        if name == "bare":
            continue  # it keeps no sessions and serves no GET: no RSS per session to measure
        srv = Running(specs[name], False)
        try:
            res.rss[name] = rss_per_session(srv, args.sessions)
            print(f"  {name:<18} {res.rss[name]['bytes_per_session'] / 1024:.1f} KiB RSS per idle session "
                  f"with an open GET stream ({args.sessions} sessions)", flush=True)
        except Exception as e:
            res.rss[name] = {"error": repr(e)}
            print(f"  {name:<18} RSS per session: {e!r}", flush=True)
        finally:
            srv.stop()


def best(runs: list[Run]) -> dict[tuple[str, str, int], Run]:
    out: dict[tuple[str, str, int], Run] = {}
    for r in runs:
        k = (r.server, r.mode, r.conc)
        if k not in out or r.rps > out[k].rps:
            out[k] = r
    return out


def table(args: argparse.Namespace, res: Results) -> str:
    b = best(res.runs)
    peers = [s for s in args.servers if not s.startswith("streamcore")]
    lines = [
        "| server | mode | conc | req/s | p50 ms | p99 ms | CPU µs/req | "
        + " | ".join(f"req/s × {p}" for p in peers) + " | "
        + " | ".join(f"CPU/req ÷ {p}" for p in peers) + " | errors |",
        "|---|---|---:|---:|---:|---:|---:|" + "---:|" * (2 * len(peers)) + "---:|",
    ]
    for mode in args.modes:
        for conc in args.conc:
            for name in args.servers:
                r = b.get((name, mode, conc))
                if r is None:
                    continue
                ratios, cpus = [], []
                for p in peers:
                    pr = b.get((p, mode, conc))
                    ratios.append(f"{r.rps / pr.rps:.2f}" if pr and pr.rps else "—")
                    cpus.append(f"{r.cpu_us_per_req / pr.cpu_us_per_req:.2f}" if pr and pr.cpu_us_per_req else "—")
                lines.append(f"| {name} | {mode} | {conc} | {r.rps:,.0f} | {r.p50_ms:.3f} | {r.p99_ms:.3f} | "
                             f"{r.cpu_us_per_req:,.0f} | " + " | ".join(ratios) + " | " + " | ".join(cpus) + f" | {r.errors} |")
    lines += ["", "| server | first SSE event p50 ms | p99 ms | RSS per idle session with open GET |",
              "|---|---:|---:|---:|"]
    for name in [*args.servers, "floor"]:
        if name == "floor" and "floor" not in res.ttfe:
            continue
        t, m = res.ttfe.get(name, {}), res.rss.get(name, {})
        ts = (f"{t['p50_ms']:.3f} | {t['p99_ms']:.3f}" if "p50_ms" in t else f"{t.get('error', '—')} | —")
        ms = (f"{m['bytes_per_session'] / 1024:.1f} KiB" if "bytes_per_session" in m else m.get("error", "—"))
        lines.append(f"| {name} | {ts} | {ms} |")
    return "\n".join(lines)


def targets(args: argparse.Namespace, res: Results) -> str:
    """Issue 15's targets, per streamcore row (asyncio, uvloop) and mode, all at c=16 unless said."""
    b = best(res.runs)
    ours = [n for n in args.servers if n.startswith("streamcore")]
    lines = ["| server | mode | × bare (≥ 0.5) | × TS SDK (≥ 10) | × Python SDK (≥ 30) | CPU µs/req (≤ 30) "
             "| p99/p50 c=16 (≤ 5) | p99/p50 c=64 (≤ 5) |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]

    def cell(value: float | None, ok: bool | None, fmt: str = "{:.2f}") -> str:
        if value is None:
            return "—"
        return fmt.format(value) + (" ✓" if ok else " ✗")

    for name in ours:
        for mode in args.modes:
            s = b.get((name, mode, 16))
            if s is None:
                continue
            row = [name, mode]
            for peer, goal in (("bare", 0.5), ("ts-sdk", 10.0), ("py-sdk", 30.0)):
                p = b.get((peer, mode, 16))
                r = s.rps / p.rps if p is not None and p.rps else None
                row.append(cell(r, r is not None and r >= goal))
            row.append(cell(s.cpu_us_per_req, s.cpu_us_per_req <= 30, "{:.0f}"))
            for conc in (16, 64):
                r16 = b.get((name, mode, conc))
                tail = r16.p99_ms / r16.p50_ms if r16 is not None and r16.p50_ms else None
                row.append(cell(tail, tail is not None and tail <= 5))
            lines.append("| " + " | ".join(row) + " |")
    bare = res.ttfe.get("bare", {}).get("p50_ms")
    lines.append("")
    for name in ours:
        t = res.ttfe.get(name, {})
        if "p50_ms" in t and bare is not None:
            d = t["p50_ms"] - bare
            lines.append(f"- {name}: time to first SSE event p50 {t['p50_ms']:.3f} ms, the bare server's "
                         f"{bare:.3f} ms: {d * 1e3:+.0f} µs (target within 100 µs): {'met' if d <= 0.1 else 'NOT met'}")
    return "\n".join(lines)


def plot(args: argparse.Namespace, res: Results, path: Path) -> str:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no plot"
    b = best(res.runs)
    fig, axes = plt.subplots(1, len(args.modes), figsize=(5.5 * len(args.modes), 4), squeeze=False)
    width = 0.8 / len(args.servers)
    for ax, mode in zip(axes[0], args.modes):
        for i, name in enumerate(args.servers):
            ys = [b[(name, mode, c)].rps if (name, mode, c) in b else 0 for c in args.conc]
            xs = [j + (i - (len(args.servers) - 1) / 2) * width for j in range(len(args.conc))]
            ax.bar(xs, ys, width, label=name)
        ax.set_xticks(range(len(args.conc)), [f"c={c}" for c in args.conc])
        ax.set_title("tools/call echo, 2026-07-28 (per-request)" if mode == "modern" else f"tools/call echo, {mode.upper()} responses")
        ax.set_ylabel("requests/s (best of rounds)")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return f"plot written to {path}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: short runs, 2 rounds, fewer samples")
    ap.add_argument("--servers", help="comma-separated subset of: " + ", ".join(server_specs()))
    ap.add_argument("--modes", default="sse,json,modern",
                    help="sse and json: session era, that response mode; modern: protocol 2026-07-28")
    ap.add_argument("--conc", default="1,16,64")
    ap.add_argument("--duration", type=int, help="whole seconds per wrk run (default 5, quick 1)")
    ap.add_argument("--rounds", type=int, help="rounds, servers alternating (default 3, quick 2)")
    ap.add_argument("--ttfe-n", type=int, help="requests for time to first SSE event (default 500, quick 200)")
    ap.add_argument("--sessions", type=int, help="idle sessions for the RSS figure (default 1000, quick 200)")
    ap.add_argument("--no-extra", action="store_true", help="skip time-to-first-event and RSS")
    ap.add_argument("--out", default=str(HERE / "results.md"))
    ap.add_argument("--floor-server", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--plot", default=str(ROOT / "docs" / "img" / "e2e_rps.png"))
    args = ap.parse_args(argv)
    if args.floor_server:
        floor_server()
        return 0
    args.duration = args.duration or (1 if args.quick else 5)
    args.warmup = 1.0  # wrk takes whole seconds
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.ttfe_n = args.ttfe_n or (200 if args.quick else 500)
    args.sessions = args.sessions or (200 if args.quick else 1000)
    args.modes = args.modes.split(",")
    args.conc = [int(c) for c in args.conc.split(",")]
    specs = server_specs()
    default = (["streamcore", "bare", "py-sdk", "ts-sdk"] if args.quick
               else ["streamcore", "streamcore-uvloop", "bare", "py-sdk", "ts-sdk"])
    args.servers = args.servers.split(",") if args.servers else default
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    if "ts-sdk" in args.servers and not (INTEROP / "node_modules").is_dir():
        sys.exit("tests/interop/node_modules is missing: run `npm ci --prefix tests/interop`")

    res = Results()
    res.meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "command": "python benches/e2e/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "duration_s": args.duration, "rounds": args.rounds,
    }
    try:
        res.meta["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    print(f"load: {args.servers} x {args.modes} x c={args.conc}, {args.duration:g} s each, {args.rounds} rounds", flush=True)
    load_runs(args, specs, res)
    if not args.no_extra:
        print("time to first SSE event and RSS per idle session:", flush=True)
        extra_metrics(args, specs, res)

    md = "\n".join([
        "# streamcore end-to-end load benchmark",
        "",
        f"`{res.meta['command']}` on {res.meta['date']}: Python {res.meta['python']}, "
        f"node {res.meta.get('node', '?')}, {res.meta['cpus']} CPUs shared by wrk (1 thread) and the server. "
        f"wrk `-t1 -cN -d{args.duration:g}s --latency`, POST `tools/call` echo on one session; "
        f"best of {args.rounds} alternating rounds by req/s (that round's latency and CPU). "
        "`req/s × peer` is this row's req/s divided by the peer's, `CPU/req ÷ peer` this row's server CPU "
        "per request divided by the peer's (below 1 is cheaper), both in the same mode and concurrency. "
        "CPU µs/req is the server process's utime+stime over the run divided by requests.",
        "",
        table(args, res),
        "",
        "Targets:",
        "",
        targets(args, res),
        "",
    ])
    print()
    print(md)
    Path(args.out).write_text(md)
    Path(args.out).with_suffix(".json").write_text(json.dumps(
        {"meta": res.meta, "runs": [asdict(r) for r in res.runs], "ttfe": res.ttfe, "rss": res.rss}, indent=1))
    print(plot(args, res, Path(args.plot)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
