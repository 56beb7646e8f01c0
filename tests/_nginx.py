"""A real nginx in front of streamcore instances, with the configuration ``docs/deployment.md`` shows.

The one source of that configuration is ``examples/deploy/nginx.conf``: the
page shows it in a ``<!-- file: examples/deploy/nginx.conf -->`` block, which
``tests/test_docs.py`` checks is the file exactly, and this harness loads the
same file, replacing only the addresses: the ``server ...;`` lines of the
``upstream`` block by the instances under test (the rest of each line, such
as ``max_fails``, kept) and the ``listen`` address by a free port on
127.0.0.1. nginx runs in the foreground (``daemon off``) with its own prefix,
pid file, logs and temp dirs in a temporary folder, and is stopped by its pid.
With ``expose_upstream=True`` the harness also adds, at ``http`` level outside
the page's block, an ``X-Upstream`` response header naming the instance that
served the response (so a failover test knows which instance to kill).

Also here: :class:`Instance`, one ``python -m streamcore serve`` process
(killable with SIGKILL by pid), :func:`free_port`, and :func:`redis_instance_argv`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "examples" / "deploy" / "nginx.conf"
PAGE = ROOT / "docs" / "deployment.md"

_UPSTREAM_SERVER = re.compile(r"^(?P<indent>\s*)server\s+127\.0\.0\.1:\d+(?P<rest>[^;]*);\s*$", re.M)
_LISTEN = re.compile(r"^(?P<indent>\s*)listen\s+127\.0\.0\.1:\d+;\s*$", re.M)


def nginx_missing() -> str | None:
    """Why nginx cannot run here, or None."""
    if shutil.which("nginx") is None:
        return "nginx is not installed (Debian package nginx-light)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def doc_config() -> str:
    """The configuration as the page shows it (the file the page's block must equal)."""
    return CONFIG.read_text(encoding="utf-8")


def render(upstreams: Sequence[int], port: int, text: str | None = None) -> str:
    """The page's config with its upstream servers replaced by ``upstreams`` (ports on 127.0.0.1)."""
    text = doc_config() if text is None else text
    servers = list(_UPSTREAM_SERVER.finditer(text))
    if not servers or len(_LISTEN.findall(text)) != 1:
        raise ValueError("the config has no 127.0.0.1 upstream servers or not exactly one 127.0.0.1 listen")
    indent, rest = servers[0].group("indent"), servers[0].group("rest")
    block = "\n".join(f"{indent}server 127.0.0.1:{p}{rest};" for p in upstreams)
    start, end = servers[0].start(), servers[-1].end()
    text = text[:start] + block + text[end:]
    return _LISTEN.sub(lambda m: f"{m.group('indent')}listen 127.0.0.1:{port};", text)


class Nginx:
    """nginx in the foreground in its own temporary prefix; :meth:`stop` by pid."""

    def __init__(self, upstreams: Sequence[int], *, worker_connections: int = 1024,
                 expose_upstream: bool = False) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="streamcore-nginx-"))
        self.port = free_port()
        d = self.dir
        temps = " ".join(f"{k}_temp_path {d}/{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        main = (f"daemon off; master_process on; worker_processes 1; pid {d}/nginx.pid;\n"
                f"error_log {d}/error.log warn;\n"
                f"worker_rlimit_nofile {max(2 * worker_connections + 64, 1024)};\n"
                f"events {{ worker_connections {worker_connections}; }}\n")
        http = render(upstreams, self.port)
        # Tests only, outside the page's block: which instance served a response
        # (inherited by the page's location, which sets no add_header of its own).
        probe = "  add_header X-Upstream $upstream_addr always;\n" if expose_upstream else ""
        (d / "nginx.conf").write_text(
            main + f"http {{\n  log_format upstream '$upstream_addr \"$request\" $status';\n"
            f"  access_log {d}/access.log upstream;\n  {temps}\n{probe}{http}\n}}\n", encoding="utf-8")
        self.proc = subprocess.Popen(["nginx", "-c", str(d / "nginx.conf"), "-p", str(d), "-e", str(d / "error.log")],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise RuntimeError(f"nginx exited with {self.proc.returncode}: {err}{self.error_log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"nginx did not listen on {self.port}: {self.error_log()}")
                time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}/mcp"

    def error_log(self) -> str:
        try:
            return (self.dir / "error.log").read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return ""

    def served_by(self) -> dict[int, int]:
        """Upstream port -> requests it answered, from the access log (one line per finished request)."""
        counts: dict[int, int] = {}
        for m in re.finditer(r"^127\.0\.0\.1:(\d+) ", self.access_log(), re.M):
            counts[int(m.group(1))] = counts.get(int(m.group(1)), 0) + 1
        return counts

    def access_log(self) -> str:
        try:
            return (self.dir / "access.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish, then exit (open SSE streams are cut)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.terminate()  # fast shutdown
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Nginx":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}


class Instance:
    """One server process (``python -m streamcore serve --port 0 ARGS`` by default), stderr in a file.

    ``argv`` replaces the command (it must print ``...:PORT/mcp`` or the port alone
    as its first stdout line and take no ``--port``).
    """

    def __init__(self, log_dir: Path, *args: str, argv: Sequence[str] | None = None, port: int = 0) -> None:
        self.log = log_dir / f"instance-{time.monotonic_ns()}.log"
        cmd = list(argv) if argv is not None else [sys.executable, "-m", "streamcore", "serve", "--port", str(port),
                                                   *args]
        with open(self.log, "w", encoding="utf-8") as err:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=err,
                                         stdin=subprocess.DEVNULL, text=True, env=_env())
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = re.fullmatch(r"(\d+)|.*:(\d+)/mcp.*", line.strip())
        if m is None:
            self.kill()
            raise RuntimeError(f"server did not start: {line!r}\n{self.text()}")
        self.port = int(m.group(1) or m.group(2))
        self.pid = self.proc.pid

    def text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: the instance dies at once, nothing flushed, no goodbye."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def serve_has_redis() -> bool:
    """Whether this checkout's ``python -m streamcore serve`` has ``--redis`` (an option line of its own)."""
    out = subprocess.run([sys.executable, "-m", "streamcore", "serve", "--help"], cwd=ROOT, capture_output=True,
                         text=True, env=_env(), timeout=30).stdout
    return re.search(r"^\s+--redis\b", out, re.M) is not None


def redis_instance_argv(url: str, *, lease_ttl: float | None = None, retry_ms: int | None = 200,
                        grace: float = 1.0) -> list[str]:
    """The command of one demo instance on Redis: ``python -m streamcore serve --redis URL``."""
    extra = [] if retry_ms is None else ["--retry-ms", str(retry_ms)]
    if lease_ttl is not None:
        extra += ["--redis-lease", str(lease_ttl)]
    return [sys.executable, "-m", "streamcore", "serve", "--port", "0", "--redis", url, "--grace", str(grace), *extra]
