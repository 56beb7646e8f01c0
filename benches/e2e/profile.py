"""Where a server's CPU goes under load, by shared object and by function: ``perf`` sampling.

    python benches/e2e/profile.py                       # streamcore (uvloop) and the bare server, SSE
    python benches/e2e/profile.py --servers streamcore-uvloop --json --duration 5

For each server: start it (the specs of ``run.py``), open a session, run
``wrk -t1 -c16`` with the same ``tools/call`` echo as ``run.py`` while
``perf record -e cpu-clock`` samples that server process (user and kernel
stacks' leaf frames), then print the share of samples per shared object
(``perf report --sort dso``) and the top functions (``--sort dso,sym``),
and the samples per request, so that two servers in one run compare.

The software ``cpu-clock`` event is used because this machine gives no
hardware counters (``perf stat -e instructions`` says "not supported").
Python frames show as the interpreter's C functions
(``_PyEval_EvalFrameDefault`` ...): the split that matters here is
interpreter vs. compiled code vs. kernel. Every process is stopped by its
pid; the run is bounded in time.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import LUA, LUA_MODERN, PROTOCOL, Running, check_modern, open_session, server_specs  # noqa: E402

HZ = 4999  # samples per second (perf's -F)


def report(data: Path, sort: str, limit: int) -> tuple[int, list[tuple[float, str]]]:
    """The sample count (from the report's header) and the top ``limit`` rows."""
    out = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", sort, "--percent-limit", "0.5"],
        capture_output=True, text=True, timeout=120,
    ).stdout
    rows: list[tuple[float, str]] = []
    for line in out.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(.*\S)", line)
        if m:
            rows.append((float(m.group(1)), re.sub(r"\s+", " ", m.group(2))))
    n = re.search(r"# Samples: (\d+)(K?)", out)
    total = (int(n.group(1)) * (1000 if n.group(2) else 1)) if n else 0
    return total, rows[:limit]


def profile(name: str, json_mode: bool, modern: bool, duration: int, tmp: Path) -> None:
    spec = server_specs()[name]
    srv = Running(spec, json_mode)
    try:
        if modern:
            check_modern(srv.url)
            script = LUA_MODERN
        else:
            script = LUA % {"sid": open_session(srv.url), "protocol": PROTOCOL}
        lua = tmp / "echo.lua"
        lua.write_text(script)
        data = tmp / f"{name}.data"
        rec = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(HZ), "-p", str(srv.pid),
                                "-o", str(data)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        out = subprocess.run(["wrk", "-t1", "-c16", f"-d{duration}s", "--timeout", "5s", "-s", str(lua), srv.url],
                             capture_output=True, text=True, timeout=duration + 30).stdout
        rec.send_signal(2)  # SIGINT: perf writes its file and exits
        rec.wait(60)
    finally:
        srv.stop()
    m = re.search(r"(\d+) requests in", out)
    requests = int(m.group(1)) if m else 0
    total, dsos = report(data, "dso", 12)
    _, syms = report(data, "dso,sym", 25)
    mode = "2026-07-28" if modern else ("JSON" if json_mode else "SSE")
    print(f"\n## {name}, {mode}: {requests} requests, {total} samples at {HZ} Hz"
          f" = {total / HZ / max(requests, 1) * 1e6:.1f} us of CPU per request\n")
    print("| share | shared object |\n|---:|---|")
    for pct, what in dsos:
        print(f"| {pct:.1f} % | {what} |")
    print("\n| share | shared object, function |\n|---:|---|")
    for pct, what in syms:
        print(f"| {pct:.1f} % | {what} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default="streamcore-uvloop,bare", help="comma-separated names from run.py")
    ap.add_argument("--json", action="store_true", help="JSON-response mode")
    ap.add_argument("--modern", action="store_true", help="2026-07-28 (stateless) calls")
    ap.add_argument("--duration", type=int, default=5)
    args = ap.parse_args()
    for tool in ("perf", "wrk"):
        if shutil.which(tool) is None:
            print(f"{tool} is needed (Debian: linux-perf, wrk)", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory() as d:
        for name in args.servers.split(","):
            profile(name, args.json, args.modern, args.duration, Path(d))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
