"""HTTP/2 benchmark: tools/call over h2 against our HTTP/1.1 and hypercorn, one run.

    python benches/bench_h2.py [--requests 20000] [--sessions 1000] [--profile]
    python benches/bench_h2.py --instructions 1000

``--instructions N`` runs only the streamcore rows, each against its own server
under ``valgrind --tool=callgrind`` (instrumentation switched on after a
warm-up, for ``N`` requests), and reports instructions per request: on a
shared machine that figure does not move with the load the way CPU time does.

Needs h2load (Debian nghttp2-client) and hypercorn (pip). Every server runs on
uvloop in its own process on loopback, one at a time; h2load shares the
machine's cores with it. Figures are one run: compare the rows of one run, not
runs of different days.

* streamcore rows: a full MCP exchange, ``tools/call`` of the demo's ``echo``
  tool in an initialized session (2025-11-25), answered as SSE.
* hypercorn rows: an ASGI app that answers every request 200 with an empty
  body, over the same h2load command.
* client rows: our own client (``connect(url, http2=...)``), 16 calls in
  flight on one session.
* RSS: ``--sessions`` sessions, each holding an idle GET listening stream, over
  HTTP/2 (100 streams per connection) and over HTTP/1.1 (a connection each);
  server RSS delta divided by the sessions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ACCEPT = "application/json, text/event-stream"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "b", "version": "1"}}}
CALL = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "hello"}}}

HYPERCORN_APP = '''
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
'''


class Proc:
    def __init__(self, argv: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> None:
        self.p = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  env={**os.environ, **(env or {})})

    def rss(self) -> int:
        for line in Path(f"/proc/{self.p.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def cpu(self) -> float:
        """User + system CPU seconds so far of the process and its children (hypercorn
        serves from a worker process)."""
        stats = {}
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    f = (d / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                stats[int(d.name)] = (int(f[1]), int(f[11]) + int(f[12]))
        total, todo = 0, [self.p.pid]
        while todo:
            pid = todo.pop()
            total += stats.get(pid, (0, 0))[1]
            todo.extend(p for p, (ppid, _) in stats.items() if ppid == pid)
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(5)


def start_streamcore(extra: list[str] | None = None) -> tuple[Proc, str]:
    argv = [sys.executable, "-m", "streamcore", "serve", "--port", "0", "--uvloop", "--no-store", *(extra or [])]
    proc = Proc(argv, env={"PYTHONPATH": str(ROOT)})
    assert proc.p.stdout is not None
    line = proc.p.stdout.readline()
    m = re.search(r"(http://\S+/mcp)", line)
    if not m:
        proc.stop()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, m.group(1)


def start_hypercorn(tmp: Path) -> tuple[Proc, str]:
    import socket

    (tmp / "trivial_app.py").write_text(HYPERCORN_APP)
    # hypercorn closes a connection after 1000 requests by default: lift that
    (tmp / "hypercorn.toml").write_text("keep_alive_max_requests = 1000000000\n")
    with socket.socket() as s:  # an ephemeral port for hypercorn, which wants one named
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = Proc([sys.executable, "-m", "hypercorn", "--worker-class", "uvloop", "-b", f"127.0.0.1:{port}",
                 "-c", str(tmp / "hypercorn.toml"), "trivial_app:app"], cwd=tmp)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return proc, f"http://127.0.0.1:{port}/"
        except OSError:
            time.sleep(0.1)
    proc.stop()
    raise RuntimeError("hypercorn did not start")


def session(url: str) -> str:
    import httpx

    r = httpx.post(url, json=INIT, headers={"accept": ACCEPT})
    sid = r.headers["mcp-session-id"]
    httpx.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"},
               headers={"accept": ACCEPT, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"})
    return sid


def h2load(url: str, body: Path, n: int, c: int, m: int, *, h1: bool = False,
           headers: dict[str, str] | None = None) -> dict[str, Any]:
    argv = ["h2load", "-n", str(n), "-c", str(c), "-m", str(m), "-d", str(body),
            "-H", f"accept: {ACCEPT}", "-H", "content-type: application/json"]
    for k, v in (headers or {}).items():
        argv += ["-H", f"{k}: {v}"]
    if h1:
        argv.append("--h1")
    argv.append(url)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300).stdout
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))  # type: ignore[union-attr]
    ok = re.search(r"(\d+) succeeded, (\d+) failed, (\d+) errored", out)
    codes = re.search(r"status codes: (\d+) 2xx", out)
    assert ok is not None and codes is not None, out
    return {"rps": rps, "succeeded": int(ok.group(1)), "failed": int(ok.group(2)) + int(ok.group(3)),
            "2xx": int(codes.group(1)), "command": " ".join(argv)}


async def client_calls(url: str, n: int, http2: bool) -> float:
    from streamcore.aio.client import connect

    async with connect(url, http2=http2, listen=False) as s:
        sem = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with sem:
                await s.call_tool("echo", {"text": "hello"})
        await asyncio.gather(*[one(i) for i in range(200)])  # warm-up
        t = time.perf_counter()
        await asyncio.gather(*[one(i) for i in range(n)])
        return n / (time.perf_counter() - t)


async def idle_listens(url: str, n: int, http2: bool) -> list[Any]:
    """Open ``n`` sessions, each with a GET stream; return what keeps them open."""
    import h2.config
    import h2.connection
    import h2.events

    host, port = re.match(r"http://([^:/]+):(\d+)", url).groups()  # type: ignore[union-attr]
    keep: list[Any] = []
    if not http2:
        for _ in range(n):
            r, w = await asyncio.open_connection(host, int(port))
            body = json.dumps(INIT).encode()
            w.write(f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: {ACCEPT}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            head = await r.readuntil(b"\r\n\r\n")
            sid = re.search(rb"mcp-session-id: (\S+)", head, re.I).group(1).decode()  # type: ignore[union-attr]
            clen = re.search(rb"content-length: (\d+)", head, re.I)
            if clen:
                await r.readexactly(int(clen.group(1)))
            else:  # chunked SSE: read to the last chunk
                await r.readuntil(b"0\r\n\r\n")
            w.write(f"GET /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\nMcp-Session-Id: {sid}\r\n"
                    "Mcp-Protocol-Version: 2025-11-25\r\n\r\n".encode())
            await r.readuntil(b"\r\n\r\n")
            keep.append((r, w))
        return keep
    per_conn = 100
    for start in range(0, n, per_conn):
        r, w = await asyncio.open_connection(host, int(port))
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        c.initiate_connection()
        w.write(c.data_to_send())
        base = [(b":scheme", b"http"), (b":authority", f"{host}:{port}".encode()), (b":path", b"/mcp")]
        count = min(per_conn, n - start)
        sids: dict[int, bytes] = {}
        inits = []
        for _ in range(count):
            s = c.get_next_available_stream_id()
            c.send_headers(s, [(b":method", b"POST"), *base, (b"accept", ACCEPT.encode()),
                               (b"content-type", b"application/json")])
            c.send_data(s, json.dumps(INIT).encode(), end_stream=True)
            inits.append(s)
        w.write(c.data_to_send())
        done = 0
        while done < count:
            for ev in c.receive_data(await r.read(65536)):
                if isinstance(ev, h2.events.ResponseReceived):
                    sids[ev.stream_id] = dict(ev.headers)[b"mcp-session-id"]
                elif isinstance(ev, h2.events.StreamEnded):
                    done += 1
                elif isinstance(ev, h2.events.DataReceived):
                    c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            w.write(c.data_to_send())
        for s in inits:
            g = c.get_next_available_stream_id()
            c.send_headers(g, [(b":method", b"GET"), *base, (b"accept", b"text/event-stream"),
                               (b"mcp-session-id", sids[s]), (b"mcp-protocol-version", b"2025-11-25")], end_stream=True)
        w.write(c.data_to_send())
        heads = 0
        while heads < count:
            for ev in c.receive_data(await r.read(65536)):
                if isinstance(ev, h2.events.ResponseReceived):
                    heads += 1
            w.write(c.data_to_send())
        keep.append((r, w, c))
    return keep


def rss_per_listen(n: int, http2: bool) -> float:
    proc, url = start_streamcore()
    try:
        async def go() -> float:
            # warm the server up first (code paths, allocator arenas), then measure
            warm = await idle_listens(url, 50, http2)
            await asyncio.sleep(0.5)
            before = proc.rss()
            keep = await idle_listens(url, n, http2)
            await asyncio.sleep(1.0)
            after = proc.rss()
            del warm, keep
            return (after - before) / n
        return asyncio.run(go())
    finally:
        proc.stop()


WORKLOADS = (("h2, 1 conn x 16 streams", 1, 16, False), ("h2, 1 conn x 100 streams", 1, 100, False),
             ("h2, 16 conns x 1 stream", 16, 1, False), ("HTTP/1.1, 16 conns", 16, 1, True),
             ("HTTP/1.1, 100 conns", 100, 1, True))


def instructions(n: int) -> int:
    """Instructions per request of the server process (callgrind), per workload."""
    rows: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        call = tmp / "call.json"
        call.write_text(json.dumps(CALL))
        for label, c, m, h1 in WORKLOADS:
            out = tmp / f"callgrind.{len(rows)}"
            proc = Proc(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--instr-atstart=no",
                         sys.executable, "-m", "streamcore", "serve", "--port", "0", "--uvloop", "--no-store"],
                        env={"PYTHONPATH": str(ROOT)})
            assert proc.p.stdout is not None
            line = proc.p.stdout.readline()
            while "http://" not in line and line:
                line = proc.p.stdout.readline()  # valgrind's banner
            url = re.search(r"(http://\S+/mcp)", line).group(1)  # type: ignore[union-attr]
            try:
                sid = session(url)
                hs = {"mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"}
                h2load(url, call, 300, c, m, h1=h1, headers=hs)  # warm-up, not counted
                subprocess.run(["callgrind_control", "-i", "on", str(proc.p.pid)], capture_output=True, check=True)
                r = h2load(url, call, n, c, m, h1=h1, headers=hs)
                subprocess.run(["callgrind_control", "-i", "off", str(proc.p.pid)], capture_output=True, check=True)
                subprocess.run(["callgrind_control", "-d", str(proc.p.pid)], capture_output=True, check=True)
            finally:
                proc.p.send_signal(signal.SIGINT)
                try:
                    proc.p.wait(60)
                except subprocess.TimeoutExpired:  # the counts are dumped already
                    proc.p.kill()
                    proc.p.wait(5)
            total = max(int(x) for f in tmp.glob(f"{out.name}*")
                        for x in re.findall(r"^(?:summary|totals): (\d+)", f.read_text(errors="replace"), re.M))
            rows[label] = total / n
            print(f"{label}: {rows[label]:,.0f} instructions/request ({r['2xx']} of {n} 2xx)", flush=True)
    h1_16, h1_100 = rows["HTTP/1.1, 16 conns"], rows["HTTP/1.1, 100 conns"]
    print(f"\ncallgrind, {n} requests per row after a 300-request warm-up, server on uvloop:\n")
    print("| workload | instructions/request | our HTTP/1.1 ÷ this |\n|---|---:|---:|")
    for label, v in rows.items():
        peer = h1_100 if "100" in label else h1_16
        print(f"| {label} | {v:,.0f} | {peer / v:.2f} |")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--profile", action="store_true", help="also profile our server under h2 -c1 -m100")
    ap.add_argument("--instructions", type=int, metavar="N",
                    help="only: instructions per request under callgrind, N requests per workload")
    args = ap.parse_args()
    if args.instructions:
        return instructions(args.instructions)
    n = args.requests
    rows: list[tuple[str, str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        call, empty = tmp / "call.json", tmp / "empty.json"
        call.write_text(json.dumps(CALL))
        empty.write_text("{}")
        proc, url = start_streamcore()
        try:
            sid = session(url)
            hs = {"mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"}
            h2load(url, call, 2000, 1, 16, headers=hs)  # warm-up
            for label, c, m, h1 in WORKLOADS:
                c0 = proc.cpu()
                rows.append(("streamcore tools/call", label, h2load(url, call, n, c, m, h1=h1, headers=hs)))
                rows[-1][2]["cpu_us"] = (proc.cpu() - c0) / n * 1e6
                print(rows[-1][0], label, rows[-1][2]["rps"], flush=True)
            crow = {f"client {'h2' if h2_ else 'HTTP/1.1'}": asyncio.run(client_calls(url, n // 4, h2_))
                    for h2_ in (True, False)}
            print(crow, flush=True)
        finally:
            proc.stop()
        hproc, hurl = start_hypercorn(tmp)
        try:
            h2load(hurl, empty, 2000, 1, 16)
            for label, c, m in (("h2, 1 conn x 16 streams", 1, 16), ("h2, 1 conn x 100 streams", 1, 100),
                                ("h2, 16 conns x 1 stream", 16, 1)):
                c0 = hproc.cpu()
                rows.append(("hypercorn empty 200", label, h2load(hurl, empty, n, c, m)))
                rows[-1][2]["cpu_us"] = (hproc.cpu() - c0) / n * 1e6
                print(rows[-1][0], label, rows[-1][2]["rps"], flush=True)
        finally:
            hproc.stop()
        prof = None
        if args.profile:
            prof = asyncio_profile(call, n // 4)
    rss = {"h2": rss_per_listen(args.sessions, True), "HTTP/1.1": rss_per_listen(args.sessions, False)}
    print(rss, flush=True)
    report(rows, crow, rss, prof, n, args.sessions)
    return 0


def asyncio_profile(call: Path, n: int) -> dict[str, float]:
    """Our server in this process (uvloop), cProfile on while h2load runs h2 1 conn x 16 streams."""
    import cProfile
    import pstats

    import uvloop

    from streamcore.aio.server import StreamableHttpServer
    from streamcore.demo import DemoApp
    from streamcore.server import ServerConfig

    async def go() -> pstats.Stats:
        hub = StreamableHttpServer(DemoApp(), ServerConfig())
        srv = await hub.start("127.0.0.1", 0)
        url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/mcp"
        sid = await asyncio.get_running_loop().run_in_executor(None, session, url)
        pr = cProfile.Profile()
        pr.enable()
        p = await asyncio.create_subprocess_exec(
            "h2load", "-n", str(n), "-c", "1", "-m", "16", "-d", str(call), "-H", f"accept: {ACCEPT}",
            "-H", "content-type: application/json", "-H", f"mcp-session-id: {sid}",
            "-H", "mcp-protocol-version: 2025-11-25", url, stdout=asyncio.subprocess.DEVNULL)
        await p.wait()
        pr.disable()
        srv.close()
        return pstats.Stats(pr)

    uvloop.install()
    return profile_summary(asyncio.run(go()))


def profile_summary(st: Any) -> dict[str, float]:
    groups: dict[str, float] = {}
    total = 0.0
    for (file, _line, fn), (_cc, _nc, tt, _ct, _callers) in st.stats.items():
        total += tt
        if "_hpack" in file or "_hpack" in fn:
            key = "streamcore HPACK codec (streamcore.hpack)"
        elif any(f"{os.sep}{lib}{os.sep}" in file and "site-packages" in file for lib in ("h2", "hpack", "hyperframe")):
            key = "h2 + hpack + hyperframe"
        elif "_h2conn" in file:
            key = "streamcore HTTP/2 connection (_h2conn)"
        elif "_h2server" in file:
            key = "streamcore HTTP/2 adapter (_h2server)"
        elif "streamcore/aio/" in file:
            key = "streamcore asyncio adapter"
        elif "streamcore/" in file:
            key = "streamcore core and codecs"
        elif "asyncio" in file or "uvloop" in file or file == "~":
            key = "event loop, builtins (socket writes included)"
        elif "logging" in file:
            key = "logging"
        else:
            key = "other"
        groups[key] = groups.get(key, 0.0) + tt
    return {k: 100 * v / total for k, v in sorted(groups.items(), key=lambda kv: -kv[1])}


def report(rows: list[tuple[str, str, dict[str, Any]]], crow: dict[str, float], rss: dict[str, float],
           prof: dict[str, float] | None, n: int, sessions: int) -> None:
    by = {(a, b): r for a, b, r in rows}
    h1_16 = by[("streamcore tools/call", "HTTP/1.1, 16 conns")]["rps"]
    h1_100 = by[("streamcore tools/call", "HTTP/1.1, 100 conns")]["rps"]
    c1_16 = by[("streamcore tools/call", "HTTP/1.1, 16 conns")]["cpu_us"]
    c1_100 = by[("streamcore tools/call", "HTTP/1.1, 100 conns")]["cpu_us"]
    lines = [f"h2load, {n} requests per row, servers on uvloop, one run (CPU: the server process's "
             "user+system time per request):", "",
             "| server | workload | req/s | × our HTTP/1.1 req/s | CPU µs/req | × our HTTP/1.1 per-request CPU "
             "(HTTP/1.1 µs ÷ this) | 2xx |", "|---|---|---:|---:|---:|---:|---:|"]
    for a, b, r in rows:
        peer, cpeer = (h1_100, c1_100) if "100" in b else (h1_16, c1_16)
        lines.append(f"| {a} | {b} | {r['rps']:,.0f} | {r['rps'] / peer:.2f} | {r['cpu_us']:,.0f} | "
                     f"{cpeer / max(r['cpu_us'], 1e-9):.2f} | {r['2xx']} |")
    lines += ["", "| workload | streamcore tools/call req/s (CPU µs) | hypercorn empty 200 req/s (CPU µs) | "
              "req/s ratio | CPU ratio (hypercorn ÷ ours) |", "|---|---:|---:|---:|---:|"]
    for b in ("h2, 1 conn x 16 streams", "h2, 1 conn x 100 streams", "h2, 16 conns x 1 stream"):
        o, t = by[("streamcore tools/call", b)], by[("hypercorn empty 200", b)]
        lines.append(f"| {b} | {o['rps']:,.0f} ({o['cpu_us']:,.0f}) | {t['rps']:,.0f} ({t['cpu_us']:,.0f}) | "
                     f"{o['rps'] / t['rps']:.2f} | {t['cpu_us'] / max(o['cpu_us'], 1e-9):.2f} |")
    lines += ["", f"Our client, 16 calls in flight on one session: " +
              ", ".join(f"{k} {v:,.0f} calls/s" for k, v in crow.items()) +
              f" (h2/HTTP/1.1 = {crow['client h2'] / crow['client HTTP/1.1']:.2f})", "",
              f"RSS per idle session with a GET listening stream ({sessions} sessions): "
              + ", ".join(f"{k} {v / 1024:.1f} KiB" for k, v in rss.items())]
    if prof:
        lines += ["", "Profile of our server (in-process, uvloop), h2 1 conn x 16 streams, share of tottime:", ""]
        lines += [f"- {k}: {v:.0f} %" for k, v in prof.items()]
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
