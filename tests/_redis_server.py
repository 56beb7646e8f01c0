"""A real ``redis-server`` for tests: loopback, a free port, no persistence.

``RedisServer`` starts ``redis-server`` on 127.0.0.1 on a free ephemeral port
with a private temporary directory, no RDB and no AOF, and can ``stop()``
(SIGTERM), ``kill()`` (SIGKILL, as a crash) and ``restart()`` it on the same
port. It is always stopped by its PID at teardown. The ``redis_server``
fixture (in this module, imported by tests that need it) skips, as an
integration test, when ``redis-server`` is not on PATH.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Iterator

import pytest

REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One redis-server process (module docstring)."""

    def __init__(self, port: int | None = None) -> None:
        if REDIS_SERVER is None:
            raise RuntimeError("redis-server is not on PATH")
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="sc-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        assert REDIS_SERVER is not None and self.proc is None
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
             "--enable-debug-command", "local"],  # DEBUG SLEEP: a slow Redis, in tests
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                self.proc = None
                raise RuntimeError(f"redis-server exited: {err}")
            if self.ping():
                return
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("redis-server did not answer PING")
            time.sleep(0.02)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _end(self, sig: int) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            os.kill(proc.pid, sig)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()

    def stop(self) -> None:
        """SIGTERM by PID (redis-server exits at once with persistence off)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL by PID: a crash; every connection drops."""
        self._end(signal.SIGKILL)

    def restart(self) -> None:
        """Start again on the same port (empty: there is no persistence)."""
        self._end(signal.SIGKILL)
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server for one test, stopped by PID at teardown."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    srv = RedisServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.close()
