"""Start and stop helper processes (servers) for integration tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def streamcore_server(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``python -m streamcore serve --port 0 ARGS`` on loopback; yield its MCP URL.

    The server is stopped by its pid on the way out, whatever happened.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamcore", "serve", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"(http://\S+/mcp)", line)
        if m is None:
            proc.kill()
            raise RuntimeError(f"server did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
        yield m.group(1)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), 0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
