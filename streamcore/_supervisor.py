"""``serve --workers N``: N worker processes on one port, and the supervisor that keeps them.

The supervisor is a plain (non-asyncio) process. It reserves the port, starts
N workers, each ``python -m streamcore serve`` with the same options and a
hidden ``--worker-listen`` option that says how to listen:

* ``reuseport`` (where ``SO_REUSEPORT`` exists: Linux, the BSDs, macOS): every
  worker binds its own listening socket to the port with ``SO_REUSEPORT`` and
  the kernel spreads new connections over them (on Linux by a hash of the
  4-tuple). The supervisor keeps a bound, never listening, socket on the port
  so that no other program can take it while a worker is being restarted.
  Connections still waiting in a dying worker's accept queue are reset (the
  client retries: an SSE client resumes with ``Last-Event-ID``).
* ``fd:N`` (POSIX without ``SO_REUSEPORT``): the supervisor listens once and the
  workers inherit that socket; they compete to accept from one queue, which
  survives a worker's death, but the spread over workers is the scheduler's.

Where neither exists (Windows), ``--workers`` is refused (exit 2); run one process per port there.

Each worker's stdin is a pipe from the supervisor: when the supervisor goes
away, even by ``kill -9``, the worker sees end-of-file and shuts down
gracefully, so no orphan keeps serving. Workers run in their own session, so
a terminal's Ctrl-C reaches the supervisor only, which forwards SIGTERM once.

A worker that dies (any exit other than by the supervisor's SIGTERM) is
restarted after a back-off (:data:`BACKOFF_FIRST` doubling to
:data:`BACKOFF_MAX` while restarts keep failing quickly); more than
``max_restarts`` restarts within :data:`RESTART_WINDOW` seconds means the
workers cannot run, and the supervisor stops everything. A worker that
exits 2 (usage error) is never restarted: that would fail again. One that
exits 1 is fatal while the workers first start (the port, or Redis, is not
usable); later it is restarted like any other death (a worker restarted while
Redis is down exits 1 until Redis is back).

Exit status of the supervisor (see :data:`EXIT_CRASHLOOP`, :data:`EXIT_UNCLEAN`):
0 after SIGTERM/SIGINT with every worker stopped gracefully; 1 when it or a
worker cannot listen; 2 on a usage error; 3 when workers died too often;
4 when, after SIGTERM/SIGINT, a worker had to be killed (not stopped within
the grace time plus :data:`STOP_MARGIN`) or exited with an error.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import IO, Sequence

log = logging.getLogger("streamcore.supervisor")

EXIT_OK, EXIT_LISTEN, EXIT_USAGE = 0, 1, 2
#: Workers died more than ``max_restarts`` times within :data:`RESTART_WINDOW`.
EXIT_CRASHLOOP = 3
#: Shutdown was not clean: a worker was killed after the grace time, or exited with an error.
EXIT_UNCLEAN = 4

#: Default of ``--max-restarts``: restarts allowed within :data:`RESTART_WINDOW` seconds.
DEFAULT_MAX_RESTARTS = 10
#: Seconds over which restarts are counted against ``max_restarts``.
RESTART_WINDOW = 60.0
#: First restart delay, seconds; doubled for each quick death in a row of the same worker.
BACKOFF_FIRST = 0.1
#: Longest restart delay, seconds.
BACKOFF_MAX = 10.0
#: A worker that lived this long before dying is restarted with the first delay again.
STABLE_AFTER = 10.0
#: Seconds a worker may take to print its ready line.
START_TIMEOUT = 30.0
#: Seconds beyond ``--grace`` that a worker may take to exit after SIGTERM before SIGKILL.
STOP_MARGIN = 5.0


def listen_modes() -> tuple[str, ...]:
    """How workers can share a port here: ``("reuseport", "inherit")``, ``("inherit",)`` or ``()``."""
    modes: list[str] = []
    if hasattr(socket, "SO_REUSEPORT"):
        try:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            modes.append("reuseport")
        except OSError:  # pragma: no cover - defined but refused by this kernel
            pass
    if os.name == "posix":
        modes.append("inherit")
    return tuple(modes)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


@dataclass
class _Worker:
    slot: int
    proc: subprocess.Popen[str] | None = None
    started: float = 0.0
    quick_deaths: int = 0
    due: float = 0.0  # when to (re)start, monotonic
    ready: threading.Event = field(default_factory=threading.Event)


class Supervisor:
    """Start and keep ``workers`` copies of ``worker_argv`` (a ``serve`` command line
    without ``--port``/``--workers``) on ``host``:``port``; :meth:`run` returns the exit status."""

    def __init__(self, worker_argv: Sequence[str], host: str, port: int, workers: int, *,
                 grace: float = 5.0, max_restarts: int = DEFAULT_MAX_RESTARTS, mode: str | None = None,
                 scheme: str = "http", out: IO[str] | None = None) -> None:
        self.worker_argv = list(worker_argv)
        self.host, self.port, self.workers = host, port, workers
        self.grace, self.max_restarts = grace, max_restarts
        modes = listen_modes()
        self.mode = mode or (modes[0] if modes else "")
        self.scheme = scheme
        self.out = out or sys.stdout
        self._wake = threading.Event()
        self._signals = 0
        self._restarts: deque[float] = deque()
        self._sock: socket.socket | None = None
        self._pool = [_Worker(i) for i in range(workers)]
        self._out_lock = threading.Lock()

    # -- the port -------------------------------------------------------------------------

    def _reserve(self) -> None:
        s = socket.socket(_family(self.host), socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.mode == "reuseport":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind((self.host, self.port))
            if self.mode == "inherit":
                s.listen(1024)
                s.set_inheritable(True)
        except BaseException:
            s.close()
            raise
        self._sock = s
        self.port = int(s.getsockname()[1])

    def _listen_arg(self) -> str:
        assert self._sock is not None
        return "reuseport" if self.mode == "reuseport" else f"fd:{self._sock.fileno()}"

    # -- workers --------------------------------------------------------------------------

    def _spawn(self, w: _Worker) -> None:
        argv = [sys.executable, "-m", "streamcore", "serve", *self.worker_argv,
                "--port", str(self.port), "--worker-listen", self._listen_arg()]
        fds = () if self._sock is None or self.mode != "inherit" else (self._sock.fileno(),)
        w.ready.clear()
        w.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  pass_fds=fds, start_new_session=True)
        w.started = time.monotonic()
        threading.Thread(target=self._relay, args=(w, w.proc), daemon=True,
                         name=f"streamcore-worker-{w.slot}").start()
        log.info("worker %d started (pid %d)", w.slot, w.proc.pid)

    def _relay(self, w: _Worker, proc: subprocess.Popen[str]) -> None:
        """The worker's first stdout line is its ready line; later lines are passed on."""
        assert proc.stdout is not None
        first = True
        for line in proc.stdout:
            if first:
                first = False
                w.ready.set()
                self._wake.set()
                continue
            with self._out_lock:
                self.out.write(line)
                self.out.flush()
        proc.stdout.close()
        self._wake.set()  # EOF: the worker exited

    @staticmethod
    def _describe(code: int) -> str:
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:  # pragma: no cover
                return f"killed by signal {-code}"
        return f"exit status {code}"

    def _signal(self, signum: int, frame: object) -> None:
        self._signals += 1
        self._wake.set()

    def _live(self) -> list[subprocess.Popen[str]]:
        return [w.proc for w in self._pool if w.proc is not None and w.proc.poll() is None]

    def _stop_all(self, sig: int = signal.SIGTERM) -> None:
        for p in self._live():
            try:
                p.send_signal(sig)
            except ProcessLookupError:  # pragma: no cover - exited meanwhile
                pass

    def _reap_all(self, deadline: float) -> bool:
        """Wait for every worker until ``deadline``; SIGKILL the rest. True if all exited 0."""
        clean = True
        for w in self._pool:
            p = w.proc
            if p is None:
                continue
            try:
                code = p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker %d (pid %d) did not stop in time: killed", w.slot, p.pid)
                p.kill()
                p.wait()
                clean = False
                continue
            finally:
                if p.stdin is not None:
                    p.stdin.close()
            if code != 0:
                clean = False
        return clean

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        if self.mode not in ("reuseport", "inherit"):
            print("error: --workers needs SO_REUSEPORT or inheritable listening sockets (POSIX)", file=sys.stderr)
            return EXIT_USAGE
        try:
            self._reserve()
        except OSError as exc:
            why = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            print(f"error: cannot listen on {self.host}:{self.port}: {why}", file=sys.stderr)
            return EXIT_LISTEN
        old = {s: signal.signal(s, self._signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            return self._run()
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            if self._sock is not None:
                self._sock.close()

    def _run(self) -> int:
        for w in self._pool:
            self._spawn(w)
        # Start: every worker prints its ready line, or the start fails.
        deadline = time.monotonic() + START_TIMEOUT
        while not all(w.ready.is_set() for w in self._pool):
            for w in self._pool:
                assert w.proc is not None
                code = w.proc.poll()
                if code is not None and not w.ready.is_set():
                    log.error("worker %d (pid %d) failed to start: %s", w.slot, w.proc.pid, self._describe(code))
                    self._stop_all()
                    self._reap_all(time.monotonic() + self.grace + STOP_MARGIN)
                    return code if code in (EXIT_LISTEN, EXIT_USAGE) else EXIT_CRASHLOOP
            if self._signals or time.monotonic() > deadline:
                if not self._signals:
                    log.error("workers did not start within %.0f s", START_TIMEOUT)
                self._stop_all()
                self._reap_all(time.monotonic() + self.grace + STOP_MARGIN)
                return EXIT_OK if self._signals else EXIT_CRASHLOOP
            self._wake.wait(0.05)
            self._wake.clear()
        with self._out_lock:
            self.out.write(f"streamcore demo MCP server on {self.scheme}://{self.host}:{self.port}/mcp "
                           f"({self.workers} workers, {self.mode})\n")
            if "--no-page" not in self.worker_argv:
                self.out.write(f"browser client page on {self.scheme}://{self.host}:{self.port}/\n")
            self.out.flush()
        while not self._signals:
            now = time.monotonic()
            for w in self._pool:
                assert w.proc is not None
                code = w.proc.poll()
                if code is None:
                    continue
                if w.due:  # dead, restart scheduled
                    if w.due <= now:
                        w.due = 0.0
                        self._spawn(w)
                    continue
                # Just died.
                lived = now - w.started
                if code == EXIT_USAGE:
                    log.error("worker %d (pid %d) exited with %s: not restarted; stopping",
                              w.slot, w.proc.pid, self._describe(code))
                    self._stop_all()
                    self._reap_all(time.monotonic() + self.grace + STOP_MARGIN)
                    return code
                while self._restarts and self._restarts[0] < now - RESTART_WINDOW:
                    self._restarts.popleft()
                if len(self._restarts) >= self.max_restarts:
                    log.error("worker %d (pid %d) %s; %d restarts within %.0f s already: giving up",
                              w.slot, w.proc.pid, self._describe(code), len(self._restarts), RESTART_WINDOW)
                    self._stop_all()
                    self._reap_all(time.monotonic() + self.grace + STOP_MARGIN)
                    return EXIT_CRASHLOOP
                self._restarts.append(now)
                w.quick_deaths = 0 if lived >= STABLE_AFTER else w.quick_deaths + 1
                delay = min(BACKOFF_MAX, BACKOFF_FIRST * (2 ** max(0, w.quick_deaths - 1)))
                log.warning("worker %d (pid %d) %s after %.1f s; restarting in %.1f s",
                            w.slot, w.proc.pid, self._describe(code), lived, delay)
                if w.proc.stdin is not None:
                    w.proc.stdin.close()
                w.due = now + delay
            pending = [w.due for w in self._pool if w.due]
            timeout = 0.5 if not pending else max(0.0, min(0.5, min(pending) - time.monotonic()))
            self._wake.wait(timeout)
            self._wake.clear()
        # SIGTERM or SIGINT: forward SIGTERM once; a second signal kills at once.
        log.info("stopping %d workers (grace %.1f s)", len(self._live()), self.grace)
        self._stop_all()
        deadline = time.monotonic() + self.grace + STOP_MARGIN
        seen = self._signals
        while self._live() and time.monotonic() < deadline:
            if self._signals > seen:
                log.warning("second signal: killing the workers")
                self._stop_all(signal.SIGKILL)
                break
            self._wake.wait(0.05)
            self._wake.clear()
        return EXIT_OK if self._reap_all(deadline) else EXIT_UNCLEAN


def watch_parent(stdin: IO[str] | None = None) -> None:
    """In a worker: SIGTERM ourselves when the supervisor's pipe on stdin reaches end-of-file."""
    stream = stdin if stdin is not None else sys.stdin

    def wait() -> None:
        try:
            while stream.read(4096):
                pass
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait, daemon=True, name="streamcore-parent-watch").start()


def worker_socket(spec: str, host: str, port: int) -> tuple[socket.socket | None, bool]:
    """The ``--worker-listen`` value -> (an inherited listening socket, or None; reuse_port)."""
    if spec == "reuseport":
        return None, True
    if spec.startswith("fd:"):
        fd = int(spec[3:])
        return socket.socket(fileno=fd), False
    raise ValueError(f"bad --worker-listen {spec!r}")
