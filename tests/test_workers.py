"""``python -m streamcore serve --workers N``: the supervisor and its workers.

Real processes on loopback: the supervisor is started as a user would start
it, its workers are killed with SIGKILL, and it is stopped with SIGTERM. The
multi-worker cases (N > 1 share sessions through Redis) are in
``tests/test_cluster.py``; here N = 1 (memory stores) and the rules that need
no Redis.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from _redis_server import redis_server  # noqa: F401  (fixture)
from streamcore._supervisor import EXIT_CRASHLOOP, listen_modes

ROOT = Path(__file__).resolve().parent.parent
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


class Supervised:
    """``python -m streamcore serve --port 0 --workers ...`` with its stderr in a file."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.log = tmp / f"supervisor-{time.monotonic_ns()}.log"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
        with open(self.log, "w", encoding="utf-8") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "streamcore", "serve", "--port", "0", *args],
                                         cwd=ROOT, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                         text=True, env=env)
        assert self.proc.stdout is not None
        self.line = self.proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/mcp", self.line)
        self.port = int(m.group(1)) if m else 0

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def workers(self) -> dict[int, int]:
        """Slot -> pid of the latest start of each worker (from the supervisor's log)."""
        return {int(s): int(p) for s, p in re.findall(r"worker (\d+) started \(pid (\d+)\)", self.text())}

    def wait_log(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in the supervisor log:\n{self.text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pid in self.workers().values():  # never leave a worker behind, whatever happened
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[Any]:
    made: list[Supervised] = []

    def start(*args: str) -> Supervised:
        s = Supervised(tmp_path, *args)
        made.append(s)
        return s
    yield start
    for s in made:
        s.stop()


def _post(port: int, body: dict[str, Any], sid: str | None = None, timeout: float = 10.0) -> tuple[int, str, str]:
    """One POST; (status, session id header, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = dict(HEADERS)
        if sid:
            h["mcp-session-id"] = sid
            h["mcp-protocol-version"] = "2025-11-25"
        conn.request("POST", "/mcp", json.dumps(body), h)
        r = conn.getresponse()
        return r.status, r.getheader("mcp-session-id") or "", r.read().decode()
    finally:
        conn.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) still answers kill(0).
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_workers_above_one_need_redis() -> None:
    """Without a shared store, sessions would not be shared: refused with exit 2 and the reason."""
    r = subprocess.run([sys.executable, "-m", "streamcore", "serve", "--port", "0", "--workers", "2"],
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "--workers 2 needs --redis" in r.stderr and "Session not found" in r.stderr


@pytest.mark.parametrize("bad", [["--workers", "0"], ["--workers", "1", "--max-restarts", "-1"]])
def test_bad_numbers_are_usage_errors(bad: list[str]) -> None:
    r = subprocess.run([sys.executable, "-m", "streamcore", "serve", "--port", "0", *bad],
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "error:" in r.stderr


@pytest.mark.parametrize("share", listen_modes())
def test_killed_worker_is_replaced(supervised: Any, share: str) -> None:
    """kill -9 the worker: the supervisor logs it, starts a new one, and the port serves again."""
    s = supervised("--workers", "1", "--share-port", share)
    assert s.port, s.line + s.text()
    assert f"(1 workers, {share})" in s.line
    status, sid, _ = _post(s.port, INIT)
    assert status == 200 and sid
    first = s.workers()[0]
    os.kill(first, signal.SIGKILL)
    s.wait_log(rf"worker 0 \(pid {first}\) killed by SIGKILL after [\d.]+ s; restarting in 0\.1 s")
    deadline = time.monotonic() + 15
    while True:
        second = s.workers()[0]
        try:
            if second != first:
                status, sid2, _ = _post(s.port, INIT)
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, s.text()
        time.sleep(0.05)
    assert status == 200 and sid2 and sid2 != sid  # N = 1: memory stores, the new worker is a new server
    assert s.proc.poll() is None


def test_sigterm_stops_everything_within_grace(supervised: Any) -> None:
    """SIGTERM with a tool call in flight: the call is ended after --grace, every process exits, status 0."""
    s = supervised("--workers", "1", "--grace", "1")
    status, sid, _ = _post(s.port, INIT)
    assert status == 200
    worker = s.workers()[0]
    got: list[Any] = []
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "countdown",
                                                                         "arguments": {"n": 30, "delay": 1}}}
    t = threading.Thread(target=lambda: got.append(_post(s.port, call, sid, timeout=30)))
    t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    code = s.proc.wait(15)
    took = time.monotonic() - t0
    t.join(15)
    assert code == 0, s.text()
    assert took < 1 + 3, took  # the grace, plus the workers' close
    assert not _alive(worker)
    assert got, "the in-flight call never ended"


def test_sigint_is_forwarded_once(supervised: Any) -> None:
    """Ctrl-C (SIGINT to the supervisor): the workers get one SIGTERM and exit; status 0."""
    s = supervised("--workers", "1")
    worker = s.workers()[0]
    s.proc.send_signal(signal.SIGINT)
    assert s.proc.wait(15) == 0, s.text()
    assert not _alive(worker)


def test_crash_loop_gives_up_at_the_limit(supervised: Any) -> None:
    """--max-restarts 1: the first death is restarted, the second within 60 s stops it all (exit 3)."""
    s = supervised("--workers", "1", "--max-restarts", "1")
    first = s.workers()[0]
    os.kill(first, signal.SIGKILL)
    s.wait_log(r"restarting in")
    deadline = time.monotonic() + 15
    while s.workers()[0] == first:
        assert time.monotonic() < deadline, s.text()
        time.sleep(0.05)
    second = s.workers()[0]
    time.sleep(0.3)
    assert s.proc.poll() is None  # exactly at the limit: still running
    os.kill(second, signal.SIGKILL)
    assert s.proc.wait(15) == EXIT_CRASHLOOP, s.text()
    assert "1 restarts within 60 s already: giving up" in s.text()


def test_worker_exits_when_supervisor_is_killed(supervised: Any) -> None:
    """kill -9 the supervisor: its workers see their stdin pipe close and shut down (no orphan)."""
    s = supervised("--workers", "1")
    worker = s.workers()[0]
    s.proc.kill()
    s.proc.wait(5)
    assert _wait_dead(worker, 10), "the worker outlived its supervisor"


def test_port_in_use_is_exit_1(supervised: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "streamcore", "serve", "--port", str(port), "--workers", "1"],
                           cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in r.stderr


# -- N > 1: the workers share one Redis ------------------------------------------------------

def _call_ok(port: int, sid: str, rid: int, timeout: float = 10.0) -> str:
    """tools/call add on a new connection (the kernel picks the worker); the result text."""
    body = {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": {"name": "add", "arguments": {"a": rid, "b": 1}}}
    status, _, text = _post(port, body, sid, timeout=timeout)
    assert status == 200, (status, text)
    data = [json.loads(ln[5:]) for ln in text.splitlines() if ln.startswith("data:") and ln[5:].strip()]
    return str(data[-1]["result"]["content"][0]["text"])


@pytest.mark.integration
def test_two_workers_share_sessions_and_survive_a_kill(supervised: Any, redis_server: Any) -> None:
    """--workers 2 --redis: one session served on new connections whichever worker the kernel
    picks; kill -9 a worker: it is replaced, and the session goes on (adopted if that worker was
    its home, within the lease)."""
    s = supervised("--workers", "2", "--redis", redis_server.url, "--redis-lease", "1.5", "--grace", "1")
    assert s.port and "(2 workers" in s.line, s.line + s.text()
    status, sid, _ = _post(s.port, INIT)
    assert status == 200 and sid
    for k in range(10):
        assert _call_ok(s.port, sid, k) == str(k + 1)
    pids = s.workers()
    os.kill(pids[0], signal.SIGKILL)
    s.wait_log(rf"worker 0 \(pid {pids[0]}\) killed by SIGKILL")
    deadline = time.monotonic() + 15
    while s.workers()[0] == pids[0]:
        assert time.monotonic() < deadline, s.text()
        time.sleep(0.05)
    for k in range(10, 20):
        assert _call_ok(s.port, sid, k, timeout=15) == str(k + 1)
    assert _alive(pids[1]) and s.proc.poll() is None


@pytest.mark.integration
def test_two_workers_sigterm_all_exit_within_grace(supervised: Any, redis_server: Any) -> None:
    s = supervised("--workers", "2", "--redis", redis_server.url, "--grace", "1")
    pids = list(s.workers().values())
    assert len(pids) == 2
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(15) == 0, s.text()
    assert time.monotonic() - t0 < 1 + 3
    assert not any(_alive(p) for p in pids)


@pytest.mark.integration
def test_worker_restarted_while_redis_is_down_comes_back_with_redis(supervised: Any, redis_server: Any) -> None:
    """A worker killed while Redis is down cannot start (exit 1: Redis unreachable); the supervisor
    keeps restarting it with back-off instead of giving up, and it serves once Redis is back."""
    s = supervised("--workers", "1", "--redis", redis_server.url, "--grace", "1")
    first = s.workers()[0]
    redis_server.kill()
    os.kill(first, signal.SIGKILL)
    s.wait_log(r"exit status 1 after [\d.]+ s; restarting in", timeout=15)  # the new worker could not start
    assert s.proc.poll() is None
    redis_server.start()  # same port, empty
    deadline = time.monotonic() + 20
    while True:
        try:
            status, sid, _ = _post(s.port, INIT, timeout=3)
            if status == 200 and sid:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline and s.proc.poll() is None, s.text()
        time.sleep(0.1)
