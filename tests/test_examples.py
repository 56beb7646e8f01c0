"""The embedding examples under ``examples/`` serve real clients.

Each server example runs as a subprocess on an ephemeral loopback port and is
driven by the official Python SDK client (``mcp`` 2.3.0) and by ours
(``streamcore.aio.client.connect``), in both protocol eras, and by raw HTTP/1.1
for what the clients do not exercise: a hang-up on an open stream, a
malformed request, pipelining. The synchronous client example runs against
one of them. ``test_glue_lines`` counts each server's glue.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))
# One glue counter for the pages (docs/sync_files.py writes the counts) and this test.
glue_lines: Callable[[Path], int] = importlib.import_module("sync_files").glue_lines

EXAMPLES = ROOT / "examples"
SERVERS = ["asyncio_server", "trio_server", "threads_server"]
#: Issue 9 targets about 30 lines of glue; with today's public API the examples
#: need more (docs/index.md says which API would shorten them). This bound only
#: stops them from growing.
GLUE_LIMIT = 90
MODERN = "2026-07-28"

pytestmark = pytest.mark.integration


class Running:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc, self.url = proc, url
        m = re.match(r"http://([\d.]+):(\d+)/mcp$", url)
        assert m is not None, url
        self.host, self.port = m.group(1), int(m.group(2))


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _start(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(EXAMPLES / script), *args], cwd=ROOT, env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _stop(proc: subprocess.Popen[str]) -> str:
    """Stop by pid (SIGTERM, then kill); return what it wrote on stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    assert proc.stderr is not None
    return proc.stderr.read()


@pytest.fixture(scope="module", params=SERVERS)
def server(request: pytest.FixtureRequest) -> Iterator[Running]:
    if request.param == "trio_server":
        pytest.importorskip("trio", reason="the trio example needs trio (in the [test] extra)")
    proc = _start(f"{request.param}.py", "0")
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("http://"):
        err = _stop(proc)
        pytest.fail(f"{request.param} did not start: {line!r} {err}")
    running = Running(proc, line)
    yield running
    err = _stop(proc)
    # Nothing a client did may have left a traceback behind.
    assert "Traceback" not in err, err


# -- raw HTTP/1.1 ---------------------------------------------------------------


def _post(body: dict[str, Any], *, session: str | None = None, version: str | None = None) -> bytes:
    data = json.dumps(body).encode()
    head = [b"POST /mcp HTTP/1.1", b"host: 127.0.0.1", b"accept: application/json, text/event-stream",
            b"content-type: application/json", b"content-length: %d" % len(data)]
    if session:
        head.append(b"mcp-session-id: " + session.encode())
    if version:
        head.append(b"mcp-protocol-version: " + version.encode())
    if version == MODERN:
        head.append(b"mcp-method: " + body["method"].encode())
    return b"\r\n".join(head) + b"\r\n\r\n" + data


def _read_response(sock: socket.socket, buf: bytearray) -> tuple[int, dict[bytes, bytes], bytes]:
    """One Content-Length response (what these tests ask for) off ``sock``; leftovers stay in ``buf``."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a response head"
        buf += chunk
    end = buf.index(b"\r\n\r\n")
    lines = bytes(buf[:end]).split(b"\r\n")
    del buf[: end + 4]
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(b":") for ln in lines[1:])}
    n = int(headers.get(b"content-length", b"0"))
    while len(buf) < n:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a body"
        buf += chunk
    body = bytes(buf[:n])
    del buf[:n]
    return status, headers, body


def _connect(s: Running) -> socket.socket:
    sock = socket.create_connection((s.host, s.port), timeout=10)
    return sock


def _initialize(s: Running) -> str:
    with _connect(s) as sock:
        sock.sendall(_post({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                                       "clientInfo": {"name": "t", "version": "1"}}}))
        buf = bytearray()
        # The answer is an SSE stream (the default reply mode); read to its end.
        while b"0\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            assert chunk
            buf += chunk
        m = re.search(rb"mcp-session-id: (\S+)", bytes(buf), re.I)
        assert m is not None and b'"protocolVersion":"2025-11-25"' in buf
        return m.group(1).decode()


def _open_get(s: Running, session: str) -> tuple[socket.socket, bytes]:
    sock = _connect(s)
    sock.sendall(b"GET /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n"
                 b"mcp-protocol-version: 2025-11-25\r\nmcp-session-id: " + session.encode() + b"\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(65536)
        assert chunk
        head += chunk
    return sock, head


def test_stream_hang_up_is_reported(server: Running) -> None:
    """A client closing its open GET stream is reported to the core (connection_lost): the
    session's stream can then be opened again at once, where a live one would get 409."""
    session = _initialize(server)
    first, head = _open_get(server, session)
    assert head.startswith(b"HTTP/1.1 200"), head
    second, head = _open_get(server, session)
    assert head.startswith(b"HTTP/1.1 409"), head  # the first stream is still attached
    second.close()
    first.close()
    deadline = time.monotonic() + 5
    while True:
        again, head = _open_get(server, session)
        again.close()
        if head.startswith(b"HTTP/1.1 200") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert head.startswith(b"HTTP/1.1 200"), head


def test_pipelined_requests_are_answered_in_order(server: Running) -> None:
    """Two per-request-era POSTs sent in one write get two JSON answers on one connection, in order."""
    listing = {"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}}}
    nope = {**listing, "id": 8, "method": "no/such"}
    with _connect(server) as sock:
        sock.sendall(_post(listing, version=MODERN) + _post(nope, version=MODERN))
        buf = bytearray()
        s1, _, b1 = _read_response(sock, buf)
        s2, _, b2 = _read_response(sock, buf)
    r1 = json.loads(b1)
    assert (s1, r1["id"], r1["result"]["resultType"]) == (200, 7, "complete")
    assert r1["result"]["ttlMs"] >= 0 and r1["result"]["cacheScope"] in ("public", "private")  # cacheable (2026-07-28)
    assert (s2, json.loads(b2)["id"], json.loads(b2)["error"]["code"]) == (404, 8, -32601)  # SRV-VER-08


def test_malformed_request_gets_400_and_close(server: Running) -> None:
    """Bad HTTP/1.1 (a bare LF in the head) gets one 400 and the connection is closed; the server lives on."""
    with _connect(server) as sock:
        sock.sendall(b"POST /mcp HTTP/1.1\nhost: x\r\n\r\n")
        buf = bytearray()
        while chunk := sock.recv(65536):
            buf += chunk
    assert buf.startswith(b"HTTP/1.1 400"), bytes(buf)
    _initialize(server)  # still serving


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads CPU time from Linux /proc")
def test_timers_send_heartbeats_without_spinning() -> None:
    """The examples' timer glue works: a quiet GET stream gets its SSE keep-alive comment after the
    core's heartbeat interval (15 s by default), and waiting for it costs next to no CPU (no busy loop).
    All three servers wait at once, so the test takes one interval."""
    procs = [_start(f"{name}.py", "0") for name in SERVERS]
    try:
        streams = []
        for proc in procs:
            assert proc.stdout is not None
            running = Running(proc, proc.stdout.readline().strip())
            sock, head = _open_get(running, _initialize(running))
            assert head.startswith(b"HTTP/1.1 200"), head
            streams.append((running, sock, bytearray(head.split(b"\r\n\r\n", 1)[1]), time.monotonic()))
        cpu0 = [_cpu_seconds(p.pid) for p in procs]
        deadline = time.monotonic() + 25
        for running, sock, buf, opened in streams:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            while b":\n" not in buf:  # an SSE comment line, in a chunk
                chunk = sock.recv(65536)
                assert chunk, "stream closed before a heartbeat"
                buf += chunk
            assert time.monotonic() - opened > 10, "a comment came before the heartbeat interval"
            sock.close()
        used = [_cpu_seconds(p.pid) - c for p, c in zip(procs, cpu0)]
        assert all(u < 2.0 for u in used), dict(zip(SERVERS, used))
    finally:
        errs = [_stop(p) for p in procs]
    assert not any("Traceback" in e for e in errs), errs


def test_garbage_pipelined_behind_a_stream_stays_with_its_connection(server: Running) -> None:
    """Bytes that follow a GET stream's request are parsed only when that stream ends, which here
    happens on another connection's DELETE: the 400 for them goes to the stream's own connection,
    and the DELETE still gets its 200."""
    session = _initialize(server)
    stream, head = _open_get(server, session)
    assert head.startswith(b"HTTP/1.1 200"), head
    stream.sendall(b"BAD REQUEST LINE\r\n\r\n")  # buffered: the engine is paused on the stream
    with _connect(server) as sock:
        sock.sendall(b"DELETE /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\nmcp-protocol-version: 2025-11-25\r\n"
                     b"mcp-session-id: " + session.encode() + b"\r\n\r\n")
        status, _, _ = _read_response(sock, bytearray())
    assert status == 200
    rest = bytearray()
    while chunk := stream.recv(65536):
        rest += chunk
    stream.close()
    assert b"0\r\n\r\nHTTP/1.1 400" in rest, bytes(rest)  # the stream's last chunk, then the 400


# -- real clients -----------------------------------------------------------------


def test_official_sdk_client_both_eras(server: Running) -> None:
    """The official Python SDK client (mcp 2.3.0): server/discover in the per-request era,
    initialize in the session era (with its GET stream and DELETE); list and call in each."""
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def run() -> tuple[Any, ...]:
        async with streamable_http_client(server.url) as (r, w):
            async with ClientSession(r, w) as s:
                d = await s.discover()
                modern_tools = [t.name for t in (await s.list_tools()).tools]
                modern_echo = (await s.call_tool("echo", {"text": "modern"})).content[0]
        async with streamable_http_client(server.url) as (r, w):
            async with ClientSession(r, w) as s:
                init = await s.initialize()
                legacy_tools = [t.name for t in (await s.list_tools()).tools]
                legacy_echo = (await s.call_tool("echo", {"text": "legacy"})).content[0]
        return d.supported_versions, modern_tools, modern_echo, init.protocol_version, legacy_tools, legacy_echo

    versions, modern_tools, modern_echo, legacy_version, legacy_tools, legacy_echo = asyncio.run(
        asyncio.wait_for(run(), 30))
    assert MODERN in versions and modern_tools == legacy_tools == ["echo"]
    assert getattr(modern_echo, "text", None) == "modern" and getattr(legacy_echo, "text", None) == "legacy"
    assert legacy_version == "2025-11-25"


@pytest.mark.parametrize("era", ["modern", "legacy", "auto"])
def test_streamcore_client(server: Running, era: str) -> None:
    """Our asyncio client (``streamcore.aio.client.connect``) in each era, and negotiating."""
    from streamcore.aio.client import connect

    async def run() -> tuple[str | None, list[str], Any]:
        async with connect(server.url, era=era) as s:
            tools = [t["name"] for t in await s.list_tools()]
            result = await s.call_tool("echo", {"text": era})
            return s.era, tools, result

    got_era, tools, result = asyncio.run(asyncio.wait_for(run(), 30))
    assert got_era == ("modern" if era == "auto" else era)
    assert tools == ["echo"] and result["content"][0]["text"] == era


def test_sync_client_example(server: Running) -> None:
    """``examples/sync_client.py`` (plain sockets, ``streamcore.client``) lists and calls, in both eras."""
    for era in ("modern", "legacy"):
        proc = subprocess.run([sys.executable, str(EXAMPLES / "sync_client.py"), server.url, era],
                              cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines() == ["tools: echo", "echo: hello from the sync client"], proc.stdout


# -- the glue count -----------------------------------------------------------------


def test_glue_line_counter(tmp_path: Path) -> None:
    """The counter skips docstrings, comments, imports and blank lines, and counts the rest."""
    src = '"""doc\nstring"""\nimport os\nfrom a import (\n  b)\n\n# c\nx = 1  # d\ndef f():\n    """f."""\n    return 2\n'
    p = tmp_path / "sample.py"
    p.write_text(src, encoding="utf-8")
    assert glue_lines(p) == 3


@pytest.mark.parametrize("name", SERVERS)
def test_glue_lines(name: str) -> None:
    """Each server example stays within :data:`GLUE_LIMIT` lines of glue (printed for the record)."""
    n = glue_lines(EXAMPLES / f"{name}.py")
    print(f"{name}: {n} lines of glue")
    assert n <= GLUE_LIMIT


PAGES = {"asyncio_server": "embedding-asyncio.md", "trio_server": "embedding-trio.md",
         "threads_server": "embedding-threads.md"}


@pytest.mark.parametrize("name", SERVERS)
def test_page_states_the_glue_count(name: str) -> None:
    """Each embedding page states its example's current glue count."""
    page = (ROOT / "docs" / PAGES[name]).read_text(encoding="utf-8")
    m = re.search(r"docstrings or imports: \*\*(\d+)\*\*", page)  # written by docs/sync_files.py
    assert m is not None, f"{PAGES[name]} does not state the glue count"
    assert int(m.group(1)) == glue_lines(EXAMPLES / f"{name}.py"), f"run python docs/sync_files.py ({PAGES[name]})"
