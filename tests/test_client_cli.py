"""The command-line client: ``tools URL`` and ``call URL TOOL key=value ...``.

Exit codes and messages for the common failures (connection refused, 401,
404, protocol error) come from tiny threaded HTTP servers on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from streamcore._cli_client import (
    EXIT_AUTH,
    EXIT_CONNECT,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_PROTOCOL,
    EXIT_TOOL_ERROR,
    call_main,
    parse_value,
    tools_main,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _procs import streamcore_server  # noqa: E402


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    with streamcore_server() as url:
        yield url


def test_tools_lists_demo_tools(demo_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`tools URL` prints each tool with its parameters."""
    assert tools_main([demo_url]) == EXIT_OK
    out = capsys.readouterr().out
    assert "countdown  Count down" in out and "n: integer (required)" in out


def test_tools_json(demo_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`tools --json` prints the tool list as JSON."""
    assert tools_main([demo_url, "--json"]) == EXIT_OK
    assert [t["name"] for t in json.loads(capsys.readouterr().out)][:2] == ["echo", "add"]


def test_call_with_progress_bar(demo_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`call URL countdown n=3` prints the result and draws progress on stderr."""
    assert call_main([demo_url, "countdown", "n=3", "delay=0", "--progress", "always"]) == EXIT_OK
    cap = capsys.readouterr()
    assert cap.out.strip() == "liftoff"
    assert "3/3" in cap.err and "#" in cap.err


def test_call_json_values(demo_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Values parse as JSON when they can (numbers here); --json prints the raw result."""
    assert call_main([demo_url, "add", "a=1", "b=2.5", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["content"][0]["text"] == "3.5"


def test_call_unknown_tool(demo_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A JSON-RPC error from the server: message on stderr, exit 1."""
    assert call_main([demo_url, "nope"]) == EXIT_TOOL_ERROR
    assert "Unknown tool" in capsys.readouterr().err


def test_parse_value() -> None:
    """JSON when it parses, else the string itself."""
    assert parse_value("3") == 3 and parse_value("true") is True and parse_value("[1]") == [1]
    assert parse_value("hello") == "hello" and parse_value('"q"') == "q" and parse_value("") == ""


def test_bad_argument_is_usage_error() -> None:
    """`key=value` is required; anything else is a usage error (exit 2)."""
    with pytest.raises(SystemExit) as ei:
        call_main(["http://127.0.0.1:1/mcp", "t", "novalue"])
    assert ei.value.code == 2


def test_connection_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing listening: a clear message and exit 3."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert tools_main([f"http://127.0.0.1:{port}/mcp", "--timeout", "5"]) == EXIT_CONNECT
    assert "cannot reach" in capsys.readouterr().err


@contextmanager
def http_server(status: int, body: bytes = b"", ctype: str = "text/plain") -> Iterator[str]:
    class H(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(n)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Bearer resource_metadata="x"')
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET = do_DELETE = _answer

        def log_message(self, *a: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/mcp"
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(5)


@pytest.mark.parametrize("status,code,text", [
    (401, EXIT_AUTH, "Authorization"),
    (404, EXIT_NOT_FOUND, "no MCP endpoint"),
    (500, EXIT_PROTOCOL, "HTTP 500"),
])
def test_http_failures(status: int, code: int, text: str, capsys: pytest.CaptureFixture[str]) -> None:
    """401 -> exit 4 with an authorization hint; 404 -> exit 5; other statuses -> exit 6."""
    with http_server(status, b"denied") as url:
        assert call_main([url, "echo", "text=x", "--timeout", "5"]) == code
    assert text in capsys.readouterr().err


def test_protocol_error(capsys: pytest.CaptureFixture[str]) -> None:
    """A 200 whose body is not JSON-RPC: protocol error, exit 6."""
    with http_server(200, b"<html>hello</html>", "application/json") as url:
        assert tools_main([url, "--timeout", "5"]) == EXIT_PROTOCOL
    assert "protocol error" in capsys.readouterr().err


def test_header_option_is_sent() -> None:
    """-H 'Authorization: Bearer t' reaches the server on every request (AUTH-01)."""
    seen: list[str] = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.headers.get("Authorization") or "")
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/mcp"
        assert tools_main([url, "-H", "Authorization: Bearer t", "--timeout", "5"]) == EXIT_AUTH
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(5)
    assert seen == ["Bearer t"]


@pytest.mark.parametrize("argv", [["tools", "--json"], ["tools"], ["call", "echo", "text=hi", "--json"]])
def test_stdout_closed_by_reader_is_quiet(demo_url: str, argv: list[str]) -> None:
    """`tools URL --json | head` with the reader gone: no "cannot reach ...: Broken pipe",
    no traceback, exit code 141 (as a process ended by SIGPIPE)."""
    import os
    import subprocess

    cmd, *rest = argv
    r, w = os.pipe()
    os.close(r)  # the reader is gone before anything is written
    try:
        proc = subprocess.run([sys.executable, "-m", "streamcore", cmd, demo_url, *rest], stdout=w,
                              stderr=subprocess.PIPE, text=True, timeout=60,
                              cwd=Path(__file__).resolve().parent.parent, env={**os.environ})
    finally:
        os.close(w)
    assert proc.stderr == "", proc.stderr
    assert proc.returncode == 141
