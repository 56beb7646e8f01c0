"""``python -m streamcore`` for a person, and its shutdown, on real subprocesses:
Ctrl-C (SIGINT) with an open GET stream stops ``serve`` within the grace
period, after ending the stream with ``retry`` advice; SIGTERM does the same;
--help, --version, a port in use and --uvloop without uvloop end cleanly.

The interpreter is the one running the tests; CI runs this file on 3.10 and
3.13 as well (``.ci/steps.d/40-pythons.sh``), where 3.12+ used to hang.
"""

from __future__ import annotations

import json
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streamcore", *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


class Server:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "streamcore", "serve", "--port", "0", *args],
                                     cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.line = line = self.proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/mcp", line)
        if m is None:
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line!r}")
        self.port = int(m.group(1))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


@pytest.fixture
def server_factory() -> Iterator[list[Server]]:
    made: list[Server] = []
    yield made
    for s in made:
        s.stop()


def raw(port: int, data: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    return s


def req(method: bytes, body: bytes = b"", extra: bytes = b"") -> bytes:
    return (method + b" /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: application/json, text/event-stream\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body) + extra + b"\r\n" + body)


def read_until(s: socket.socket, marker: bytes, limit: float = 10) -> bytes:
    buf = b""
    end = time.monotonic() + limit
    while marker not in buf and time.monotonic() < end:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


def open_get_stream(port: int) -> socket.socket:
    init = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                       "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}).encode()
    s = raw(port, req(b"POST", init))
    head = read_until(s, b"\r\n\r\n")
    s.close()
    sid = re.search(rb"mcp-session-id: (\S+)", head, re.I)
    assert sid is not None, head
    hv = b"mcp-session-id: " + sid.group(1) + b"\r\nmcp-protocol-version: 2025-11-25\r\n"
    g = raw(port, req(b"GET", b"", hv))
    assert read_until(g, b"\r\n\r\n").startswith(b"HTTP/1.1 200")
    return g


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_with_an_open_get_stream_stops_within_grace(sig: int, server_factory: list[Server]) -> None:
    """Issue 10: Ctrl-C with an open GET stream used to leave serve running on 3.12/3.13.
    Now the stream ends with retry advice and the chunked terminator, and the process
    exits 0 within the grace period, with no traceback."""
    srv = Server("--grace", "2", "--retry-ms", "250")
    server_factory.append(srv)
    g = open_get_stream(srv.port)
    t0 = time.monotonic()
    srv.proc.send_signal(sig)
    tail = read_until(g, b"0\r\n\r\n", 5)
    rc = srv.proc.wait(10)
    took = time.monotonic() - t0
    err = srv.proc.stderr.read() if srv.proc.stderr else ""
    assert b"retry: 250" in tail and tail.endswith(b"0\r\n\r\n"), tail
    assert rc == 0, err
    assert took < 3, took
    assert "Traceback" not in err, err


def test_sigint_lets_a_tool_call_finish_within_grace(server_factory: list[Server]) -> None:
    """A tool call in flight at Ctrl-C completes (countdown of 0.6 s, grace 3 s): its
    response arrives before the process exits."""
    srv = Server("--grace", "3", "--json")
    server_factory.append(srv)
    init = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                       "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}).encode()
    s = raw(srv.port, req(b"POST", init))
    head = read_until(s, b"\r\n\r\n")
    sid = re.search(rb"mcp-session-id: (\S+)", head, re.I).group(1)  # type: ignore[union-attr]
    s.close()
    hv = b"mcp-session-id: " + sid + b"\r\nmcp-protocol-version: 2025-11-25\r\n"
    call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "countdown", "arguments": {"n": 3, "delay": 0.2}}}).encode()
    c = raw(srv.port, req(b"POST", call, hv))
    time.sleep(0.2)
    srv.proc.send_signal(signal.SIGINT)
    answer = read_until(c, b"liftoff", 5)
    assert srv.proc.wait(10) == 0
    assert b"liftoff" in answer


def test_sigint_cancels_a_tool_call_past_grace(server_factory: list[Server]) -> None:
    """A tool call longer than the grace period is cancelled: exit within grace + 2 s."""
    srv = Server("--grace", "0.5", "--json")
    server_factory.append(srv)
    init = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                       "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}).encode()
    s = raw(srv.port, req(b"POST", init))
    head = read_until(s, b"\r\n\r\n")
    sid = re.search(rb"mcp-session-id: (\S+)", head, re.I).group(1)  # type: ignore[union-attr]
    s.close()
    hv = b"mcp-session-id: " + sid + b"\r\nmcp-protocol-version: 2025-11-25\r\n"
    call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "countdown", "arguments": {"n": 60, "delay": 1}}}).encode()
    c = raw(srv.port, req(b"POST", call, hv))
    time.sleep(0.3)
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGINT)
    assert srv.proc.wait(10) == 0
    assert time.monotonic() - t0 < 2.5
    c.close()
    err = srv.proc.stderr.read() if srv.proc.stderr else ""
    assert "Traceback" not in err, err


def test_help_lists_every_command_and_no_rst_markup() -> None:
    """--help names info, serve, tools and call, with no raw double backticks."""
    out = cli("--help").stdout
    for name in ("info", "serve", "tools", "call"):
        assert re.search(rf"^\s+{name}\s", out, re.M), out
    assert "``" not in out
    serve_help = cli("serve", "--help").stdout
    assert "``" not in serve_help and "--log-level" in serve_help and "--access-log" in serve_help


def test_version() -> None:
    from streamcore import __version__

    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"streamcore {__version__}"


def test_port_in_use_is_a_clean_error() -> None:
    """A port already in use: one line on stderr and exit 1, no traceback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = cli("serve", "--port", str(port))
    assert r.returncode == 1
    assert r.stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: address already in use"


def test_uvloop_missing_is_a_clean_error(tmp_path: Path) -> None:
    """--uvloop without uvloop importable: a hint and exit 2, no traceback."""
    (tmp_path / "uvloop.py").write_text("raise ImportError('no uvloop here')\n")
    env = {**ENV, "PYTHONPATH": str(tmp_path) + os.pathsep + ENV["PYTHONPATH"]}
    r = subprocess.run([sys.executable, "-m", "streamcore", "serve", "--port", "0", "--uvloop"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2
    assert "pip install 'streamcore[uvloop]'" in r.stderr and "Traceback" not in r.stderr


def test_serve_defaults_to_uvloop_when_installed(tmp_path: Path) -> None:
    """``serve`` runs on uvloop when it is importable, on asyncio with --asyncio or
    without uvloop (the ready line names the loop before the URL); --uvloop with --asyncio is a usage error."""
    have = importlib.util.find_spec("uvloop") is not None
    for args, env, want in (((), ENV, "uvloop" if have else "asyncio"), (("--asyncio",), ENV, "asyncio")):
        srv = Server(*args)
        try:
            assert f"server ({want}) on http://" in srv.line, srv.line
        finally:
            srv.stop()
    (tmp_path / "uvloop.py").write_text("raise ImportError('no uvloop here')\n")
    env = {**ENV, "PYTHONPATH": str(tmp_path) + os.pathsep + ENV["PYTHONPATH"]}
    proc = subprocess.Popen([sys.executable, "-m", "streamcore", "serve", "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "server (asyncio) on http://" in proc.stdout.readline()  # no uvloop: asyncio, no error
    finally:
        proc.kill()
        proc.wait(5)
    r = cli("serve", "--port", "0", "--uvloop", "--asyncio")
    assert r.returncode == 2 and "exclude each other" in r.stderr


def test_access_log_and_log_level(server_factory: list[Server]) -> None:
    """--access-log writes one line per request; --log-level warning silences it."""
    for level, expect in (("info", True), ("warning", False)):
        srv = Server("--access-log", "--log-level", level)
        server_factory.append(srv)
        s = raw(srv.port, b"DELETE /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 0\r\n\r\n")
        read_until(s, b"\r\n\r\n")
        s.close()
        srv.proc.send_signal(signal.SIGTERM)
        srv.proc.wait(10)
        err = srv.proc.stderr.read() if srv.proc.stderr else ""
        lines = [ln for ln in err.splitlines() if "streamcore.access" in ln]
        if expect:
            assert len(lines) == 1 and '"DELETE /mcp" 400' in lines[0], err
        else:
            assert lines == [], err
